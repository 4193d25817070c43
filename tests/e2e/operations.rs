//! Operating Fieldline (docs/operations.md): a real Prometheus scrapes the host's metrics while
//! points are written through `/write`, and PromQL over what it stored gives the ingestion rate
//! and the error ratio.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldline_domain::{ConduitServices, ConduitTier, Timestamp};
use fieldline_storage::{self as storage, NewToken};
use fieldline_tests::{client, metrics_address, Start, TestHost};
use serde_json::Value;

/// A Prometheus server (Debian's `prometheus`, installed by scripts/lib.sh's
/// `ensure_prometheus`) on loopback, scraping one target every second; stopped on drop.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: fieldline\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("config");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "prometheus runs (scripts/lib.sh: ensure_prometheus installs Debian's package)",
            );
        let p = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        p.wait_for(
            || {
                client()
                    .get(format!("{}/-/ready", p.base))
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            },
            "Prometheus to be ready",
        );
        p
    }

    /// The value of a PromQL expression whose result is one sample, if it has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let r: Value = client()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", promql)])
            .send()
            .ok()?
            .json()
            .ok()?;
        assert_eq!(r["status"], "success", "{promql}: {r}");
        let result = r["data"]["result"].as_array()?;
        let sample = match r["data"]["resultType"].as_str()? {
            "vector" => &result.first()?["value"],
            "scalar" => &r["data"]["result"],
            other => panic!("{promql}: unexpected result type {other}"),
        };
        sample[1].as_str()?.parse().ok()
    }

    /// Polls `done` until it holds (Prometheus stores what it scrapes each second).
    fn wait_for(&self, done: impl Fn() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `promql` has the value `want` in what Prometheus stored.
    fn wait_for_value(&self, promql: &str, want: f64) {
        self.wait_for(
            || self.query(promql) == Some(want),
            &format!("{promql} == {want} (now {:?})", self.query(promql)),
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(h: &TestHost) -> (String, String) {
    let db = h.storage().expect("the host's database");
    let email = "ops@example.com";
    let (tenant, user) = fieldline_tests::sign_up(&db, "Operations", email);
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let (_, secret) = storage::create_token(
        &db,
        &tenant,
        &NewToken::conduit(user, ConduitTier::Enterprise, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    (email.to_string(), secret.expose().to_owned())
}

const SERIES: &str =
    "auto~watt,device=Ops,sensor=Meter,unit=W,uuid=11111111-2222-4333-8444-555555555555";

/// `n` lines of line protocol for one series (milliseconds, from `round`'s own second on),
/// then `bad` unreadable ones.
fn lines(round: usize, n: usize, bad: usize) -> String {
    let base = 1_700_000_000_000u64 + (round * 1000) as u64;
    let mut out: Vec<String> = (0..n)
        .map(|i| format!("{SERIES} value={i} {}", base + i as u64))
        .collect();
    out.extend((0..bad).map(|_| format!("{SERIES} value= {base}")));
    out.join("\n")
}

#[test]
fn prometheus_scrapes_the_ingestion_rate_and_the_error_ratio() {
    let h = Start::app()
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start()
        .expect("host starts");
    let target = metrics_address(&h);
    // Served by the host, in the text format, with the content type Prometheus negotiates.
    let r = client()
        .get(format!("http://{target}/metrics"))
        .send()
        .expect("scrape");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/openmetrics-text")));
    let (user, secret) = token(&h);
    let prometheus = Prometheus::start(&target);
    prometheus.wait_for_value("up{job=\"fieldline\"}", 1.0);

    let write = |body: String| {
        let r = client()
            .post(h.url("/write?db=fieldline&precision=ms"))
            .basic_auth(&user, Some(&secret))
            .body(body)
            .send()
            .expect("write");
        let status = r.status().as_u16();
        assert!(
            r.headers().get("fieldline-points-accepted").is_none(),
            "the host strips the components' metric headers"
        );
        status
    };
    // Two rounds, each seen by Prometheus before the next, so that rate() has samples that rise.
    let (mut accepted, mut refused, mut requests, mut errors) = (0, 0, 0, 0);
    for round in 0..2 {
        for i in 0..20 {
            // Every fifth request carries two unreadable lines: 400, "partial write".
            let bad = if i % 5 == 0 { 2 } else { 0 };
            let status = write(lines(round * 20 + i, 30, bad));
            assert_eq!(status, if bad > 0 { 400 } else { 204 });
            accepted += 30;
            refused += bad;
            requests += 1;
            errors += usize::from(bad > 0);
        }
        // A write without credentials: 401.
        let r = client()
            .post(h.url("/write?db=fieldline"))
            .body(lines(99, 1, 0))
            .send()
            .expect("write");
        assert_eq!(r.status().as_u16(), 401);
        requests += 1;
        errors += 1;
        prometheus.wait_for_value(
            "sum(fieldline_points_accepted_total{component=\"epts\",route=\"/write\"})",
            accepted as f64,
        );
        prometheus.wait_for_value(
            "sum(fieldline_http_request_duration_seconds_count{route=\"/write\"})",
            requests as f64,
        );
    }
    prometheus.wait_for_value(
        "sum(fieldline_points_refused_total{route=\"/write\",reason=\"parse\"})",
        refused as f64,
    );
    // The ingestion rate: points per second over the last minute, as an alert would read it.
    let rate = prometheus
        .query("sum(rate(fieldline_points_accepted_total[1m]))")
        .expect("an ingestion rate");
    assert!(rate > 0.0, "ingestion rate {rate}");
    // The error ratio of /write: answers 4xx and 5xx over all answers.
    let ratio = prometheus
        .query(
            "sum(fieldline_http_request_duration_seconds_count{route=\"/write\",status=~\"4..|5..\"}) \
             / sum(fieldline_http_request_duration_seconds_count{route=\"/write\"})",
        )
        .expect("an error ratio");
    let want = errors as f64 / requests as f64;
    assert!(
        (ratio - want).abs() < 1e-9,
        "error ratio {ratio}, want {want}"
    );
    if fieldline_tests::postgres() {
        // On PostgreSQL the host times every statement it runs for the components.
        assert!(
            prometheus
                .query("sum(fieldline_postgres_statement_duration_seconds_count{outcome=\"ok\"})")
                .is_some_and(|n| n > 0.0),
            "PostgreSQL statements counted"
        );
    } else {
        // The database's own series: group commits, the WAL, and the outbox, which the host
        // reads from the SQLite file when scraped.
        assert!(
            prometheus
                .query("sum(fieldline_sqlite_commit_duration_seconds_count{database=\"sqlite_db.db\"})")
                .is_some_and(|n| n > 0.0),
            "commits counted"
        );
        assert!(
            prometheus
                .query("fieldline_sqlite_wal_bytes{database=\"sqlite_db.db\"}")
                .is_some_and(|n| n > 0.0),
            "the WAL's size"
        );
        assert_eq!(
            prometheus.query("fieldline_outbox_messages{topic=\"email\"}"),
            Some(0.0)
        );
    }
    assert!(
        prometheus
            .query("process_resident_memory_bytes")
            .is_some_and(|n| n > 1e6),
        "resident memory"
    );
}

/// The timestamps (ms) of the series' points, through InfluxQL on `h`.
fn stored(h: &TestHost, user: &str, secret: &str) -> std::collections::HashSet<i64> {
    let r: Value = client()
        .get(h.url("/query"))
        .basic_auth(user, Some(secret))
        .query(&[
            ("db", "fieldline"),
            ("epoch", "ms"),
            ("q", "SELECT value FROM \"auto~watt\""),
        ])
        .send()
        .expect("query")
        .json()
        .expect("json");
    r["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row[0].as_i64()).collect())
        .unwrap_or_default()
}

#[test]
fn a_backup_taken_while_writing_restores_into_a_second_host_with_everything_acknowledged() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let h = Start::app().start().expect("host starts");
    let (user, secret) = token(&h);
    // A writer that never stops until told: 20 points per request, each request's points at
    // times of their own; the rounds the host acknowledged (204) are noted.
    let acked = Arc::new(Mutex::new(Vec::<usize>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, url) = (
            acked.clone(),
            stop.clone(),
            h.url("/write?db=fieldline&precision=ms"),
        );
        let (user, secret) = (user.clone(), secret.clone());
        std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = client()
                    .post(&url)
                    .basic_auth(&user, Some(&secret))
                    .body(lines(round, 20, 0))
                    .send()
                    .expect("write");
                if r.status().as_u16() == 204 {
                    acked.lock().unwrap().push(round);
                }
                round += 1;
            }
        })
    };
    let acked_count = || acked.lock().unwrap().len();
    while acked_count() < 20 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before: Vec<usize> = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().expect("temp dir");
    // On PostgreSQL the backup is the server's own, as docs/operations.md gives it: pg_dump's
    // custom format, online (one snapshot) while the writer goes on, then pg_restore into an
    // empty database that a second host serves.
    let pg_url = h.postgres_url();
    let dump = dir.path().join("fieldline.dump");
    let file = dir.path().join("fieldline.tar");
    let state = h.state.path().to_string_lossy().into_owned();
    if let Some(url) = &pg_url {
        let out = Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--dbname", url, "--file"])
            .arg(&dump)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        let (ok, out) = fieldline_tests::run_host(
            &[
                "backup",
                "--state-dir",
                &state,
                "--to",
                &file.to_string_lossy(),
            ],
            &[],
        )
        .expect("fieldline backup");
        assert!(ok, "{out}");
        assert!(out.contains("backed up 2 stores"), "{out}");
    }
    // Ingestion went on during the backup and after it.
    let after_backup = acked_count();
    while acked_count() < after_backup + 5 {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");

    let restored_db;
    let second = if pg_url.is_some() {
        let server = std::env::var("FIELDLINE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        restored_db = storage::native_pg::TempDatabase::create(&server).expect("a database");
        let out = Command::new("pg_restore")
            .args([
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                &restored_db.url(),
            ])
            .arg(&dump)
            .output()
            .expect("pg_restore runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Start::app()
            .env("SPIN_VARIABLE_POSTGRES_URL", &restored_db.url())
            .start()
            .expect("a second host starts on the restored database")
    } else {
        // Restoring refuses a directory in use, then fills an empty one.
        let (ok, out) = fieldline_tests::run_host(
            &[
                "restore",
                "--from",
                &file.to_string_lossy(),
                "--state-dir",
                &state,
            ],
            &[],
        )
        .expect("fieldline restore");
        assert!(!ok && out.contains("is not empty"), "{out}");
        let restored = dir.path().join("restored");
        let (ok, out) = fieldline_tests::run_host(
            &[
                "restore",
                "--from",
                &file.to_string_lossy(),
                "--state-dir",
                &restored.to_string_lossy(),
            ],
            &[],
        )
        .expect("fieldline restore");
        assert!(ok && out.contains("restored 2 stores"), "{out}");

        Start::app()
            .no_state_dir_flag()
            .arg("--state-dir")
            .arg(&restored.to_string_lossy())
            .start()
            .expect("a second host starts on the restored state")
    };
    let points = stored(&second, &user, &secret);
    let base = |round: usize| 1_700_000_000_000i64 + (round * 1000) as i64;
    let missing: Vec<usize> = before
        .iter()
        .copied()
        .filter(|&round| (0..20).any(|i| !points.contains(&(base(round) + i))))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup but not restored: rounds {missing:?}"
    );
    // And nothing more than the first host had: the restored points are a subset of its own.
    let first = stored(&h, &user, &secret);
    assert!(points.is_subset(&first));
    assert!(points.len() >= before.len() * 20);
}

#[test]
fn logs_are_json_lines_when_asked_and_hold_no_secret() {
    let h = Start::app()
        .env("FIELDLINE_LOG_FORMAT", "json")
        .start()
        .expect("host starts");
    let (user, secret) = token(&h);
    // InfluxDB clients put the password in the query string.
    let r = client()
        .get(h.url("/query"))
        .query(&[
            ("u", user.as_str()),
            ("p", secret.as_str()),
            ("q", "SHOW DATABASES"),
        ])
        .send()
        .expect("query");
    assert_eq!(r.status().as_u16(), 200);
    let r = client()
        .post(h.url("/write?db=fieldline&precision=ms"))
        .basic_auth(&user, Some(&secret))
        .body(lines(0, 3, 0))
        .send()
        .expect("write");
    assert_eq!(r.status().as_u16(), 204);
    let out = h.output_containing("POST /write 204");
    let requests: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &Value| v["target"] == "fieldline::request")
        .collect();
    assert!(
        requests.iter().any(|v| v["level"] == "INFO"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("GET /query 200 "))),
        "{out}"
    );
    assert!(!out.contains(&secret), "a secret in the logs:\n{out}");
}

#[test]
fn a_host_refuses_a_database_a_newer_release_upgraded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let newer = fieldline_storage::SCHEMA_VERSION + 1;
    let db = rusqlite::Connection::open(dir.path().join("sqlite_db.db")).expect("db");
    db.execute_batch(&format!("PRAGMA user_version = {newer}"))
        .expect("version");
    drop(db);
    let Err(e) = Start::app()
        .no_state_dir_flag()
        .arg("--state-dir")
        .arg(&dir.path().to_string_lossy())
        .start()
    else {
        panic!("the host started on a database of schema version {newer}");
    };
    let e = e.to_string();
    assert!(
        e.contains(&format!(
            "its schema version is {newer}, newer than this release of Fieldline knows ({})",
            fieldline_storage::SCHEMA_VERSION
        )),
        "{e}"
    );
}
