//! The host itself: routing and Spin's headers, each capability and its refusals, traps and
//! timeouts, bounded bodies, SQLite under concurrency, cron, MQTT, start-up errors, shutdown.

use fieldline_tests::{run_host, trigger_cron, workspace, Start, TestHost};
use reqwest::blocking::Client;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn get(h: &TestHost, path: &str) -> (u16, String) {
    let r = client().get(h.url(path)).send().expect("request");
    (r.status().as_u16(), r.text().expect("body"))
}

fn fixtures() -> TestHost {
    Start::fixtures().start().expect("host starts")
}

#[test]
fn health_reports_name_version_and_stores() {
    let h = TestHost::start(Start::new(workspace().join("spin.toml"))).expect("host starts");
    let r = client().get(h.url("/health")).send().expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().expect("json");
    // The component takes its name and version from the build; they must still be the
    // application's, as spin.toml declares them.
    let manifest: toml::Table = std::fs::read_to_string(workspace().join("spin.toml"))
        .expect("spin.toml")
        .parse()
        .expect("spin.toml is TOML");
    let application = |key: &str| {
        manifest
            .get("application")
            .and_then(|a| a.get(key))
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    };
    assert_eq!(
        body["name"].as_str().map(str::to_string),
        application("name"),
        "health's name differs from [application] name in spin.toml"
    );
    assert_eq!(
        body["version"].as_str().map(str::to_string),
        application("version"),
        "health's version differs from [application] version in spin.toml"
    );
    assert_eq!(body["storage"], "sqlite");
    assert_eq!(body["sqlite"], "ok");
    assert_eq!(body["key_value"], "ok");
    assert_eq!(get(&h, "/health/extra").0, 404);
    assert_eq!(
        client()
            .post(h.url("/health"))
            .send()
            .expect("post")
            .status()
            .as_u16(),
        405
    );
}

#[test]
fn health_checks_postgresql_when_the_application_runs_on_it() {
    // On PostgreSQL (a platform without SQLite), health reports that server, not SQLite.
    let h = TestHost::start(Start::new(workspace().join("spin.toml")).on_postgres())
        .expect("host starts");
    let r = client().get(h.url("/health")).send().expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().expect("json");
    assert_eq!(body["storage"], "postgres");
    assert_eq!(body["postgres"], "ok");
    assert!(body.get("sqlite").is_none(), "{body}");

    // A server that does not answer is a 503 that says so, without the URL's password.
    let down = free_port();
    let h = TestHost::start(
        Start::new(workspace().join("spin.toml"))
            .env("SPIN_VARIABLE_STORAGE", "postgres")
            .env("SPIN_VARIABLE_POSTGRES_HOST", &format!("127.0.0.1:{down}"))
            .env(
                "SPIN_VARIABLE_POSTGRES_URL",
                &format!("postgres://postgres:s3cret-pw@127.0.0.1:{down}/fieldline"),
            ),
    )
    .expect("host starts");
    let r = client().get(h.url("/health")).send().expect("request");
    assert_eq!(r.status().as_u16(), 503);
    let text = r.text().expect("body");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["storage"], "postgres");
    assert!(
        body["postgres"]
            .as_str()
            .is_some_and(|e| e.starts_with("error: connection failed")),
        "{body}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port()
}

#[test]
fn unmatched_paths_get_an_empty_404_and_spin_well_known_routes_answer() {
    let h = fixtures();
    assert_eq!(get(&h, "/nowhere"), (404, String::new()));
    assert_eq!(get(&h, "/.well-known/spin/health"), (200, "OK".into()));
    let (s, info) = get(&h, "/.well-known/spin/info");
    assert_eq!(s, 200);
    assert!(info.contains("\"fixtures\""), "{info}");
}

#[test]
fn spin_request_headers_match_spin() {
    let h = fixtures();
    let (s, body) = get(&h, "/probe/headers/a/b?x=1");
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let host = h.base.trim_start_matches("http://");
    assert_eq!(
        v["spin-full-url"],
        format!("http://{host}/probe/headers/a/b?x=1")
    );
    assert_eq!(v["spin-path-info"], "/headers/a/b");
    assert_eq!(v["spin-matched-route"], "/probe/...");
    assert_eq!(v["spin-raw-component-route"], "/probe/...");
    assert_eq!(v["spin-component-route"], "/probe");
    assert_eq!(v["spin-base-path"], "/");
    assert!(
        v["spin-client-addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{v}"
    );
}

#[test]
fn a_trap_is_a_500_and_the_host_keeps_serving() {
    let h = fixtures();
    assert_eq!(get(&h, "/probe/trap"), (500, String::new()));
    assert_eq!(get(&h, "/probe/const"), (200, "ok".into()));
    assert!(
        h.output_containing("probe trap").contains("probe trap"),
        "the guest's panic message is logged"
    );
}

#[test]
fn each_request_starts_with_memory_no_earlier_request_wrote() {
    // The pool reuses memory slots and resets only the pages an instance wrote; a request must
    // never see another's data, whether in static memory or in memory grown for its heap.
    let h = fixtures();
    for i in 0..20 {
        assert_eq!(
            get(&h, "/probe/leftover"),
            (200, "static=0 heap=0".into()),
            "request {i}"
        );
        if i % 5 == 0 {
            // Other work in between, so that slots are reused by different routes as well.
            assert_eq!(get(&h, "/probe/const"), (200, "ok".into()));
        }
    }
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline_and_the_host_keeps_serving() {
    let h = Start::fixtures()
        .arg("--request-timeout")
        .arg("1s")
        .start()
        .expect("host starts");
    let started = Instant::now();
    let (s, _) = get(&h, "/probe/loop");
    assert_eq!(s, 500);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(get(&h, "/probe/const"), (200, "ok".into()));
}

/// A streamed answer: its status, the lines that arrived, and whether the body ended as a
/// whole one does (`Err`: the transfer broke off).
fn streamed(h: &TestHost, path: &str) -> (u16, Vec<String>, Result<(), String>) {
    use std::io::BufRead;
    let r = client().get(h.url(path)).send().expect("request");
    let status = r.status().as_u16();
    let mut reader = std::io::BufReader::new(r);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return (status, lines, Ok(())),
            Ok(_) => lines.push(line),
            Err(e) => return (status, lines, Err(e.to_string())),
        }
    }
}

#[test]
fn a_streamed_body_runs_past_the_timeout_while_it_moves_and_breaks_off_when_it_stops() {
    let h = Start::fixtures()
        .arg("--request-timeout")
        .arg("1s")
        .start()
        .expect("host starts");
    // Eight lines 300 ms apart: 2.1 s in all, never 1 s without one. (An export of a year of
    // data streams for minutes.)
    let (s, lines, end) = streamed(&h, "/stream/x?chunks=8&pause_ms=300&then=end");
    assert_eq!((s, lines.len(), end), (200, 8, Ok(())), "{lines:?}");
    assert_eq!(lines[7], "chunk 7\n");

    // A component that stops sending (waiting on the host, computing, or gone without finishing
    // its body) is stopped a second later, and the client sees the download fail: a body cut
    // short never ends like a whole one.
    for then in ["stall", "spin", "drop"] {
        let started = Instant::now();
        let (s, lines, end) = streamed(&h, &format!("/stream/x?chunks=2&then={then}"));
        assert_eq!(
            (s, lines),
            (200, vec!["chunk 0\n".to_owned(), "chunk 1\n".into()]),
            "{then}"
        );
        assert!(end.is_err(), "{then}: the body ended as a whole one");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{then}: took {:?}",
            started.elapsed()
        );
    }
    assert!(
        h.output_containing("stood still for 1s")
            .contains("stood still for 1s"),
        "{}",
        h.output()
    );
    assert_eq!(get(&h, "/probe/const"), (200, "ok".into()));
}

#[test]
fn stores_are_open_only_to_components_that_declare_them() {
    let h = fixtures();
    assert_eq!(get(&h, "/probe/kv?store=default"), (200, "ok".into()));
    assert_eq!(get(&h, "/probe/sqlite?db=default"), (200, "ok".into()));
    let (s, body) = get(&h, "/probe/kv?store=other");
    assert_eq!(s, 500);
    assert!(body.contains("AccessDenied"), "{body}");
    let (s, body) = get(&h, "/bare/kv?store=default");
    assert_eq!(s, 500);
    assert!(body.contains("AccessDenied"), "{body}");
    let (s, body) = get(&h, "/bare/sqlite?db=default");
    assert_eq!(s, 500);
    assert!(body.contains("AccessDenied"), "{body}");
    // The refusals are values the guest handles, not traps: the host is fine.
    assert_eq!(get(&h, "/probe/const").0, 200);
}

#[test]
fn variables_templates_environment_overrides_and_errors() {
    let h = Start::fixtures()
        .env("SPIN_VARIABLE_GREETING", "hi")
        .start()
        .expect("host starts");
    assert_eq!(
        get(&h, "/probe/var?name=greeting"),
        (200, "hi world".into())
    );
    assert_eq!(get(&h, "/probe/var?name=token"), (200, "t0ken".into()));
    let (s, body) = get(&h, "/probe/var?name=nope");
    assert_eq!(s, 500);
    assert!(body.contains("Undefined"), "{body}");
    let (s, body) = get(&h, "/probe/var?name=Bad-Name");
    assert_eq!(s, 500);
    assert!(body.contains("InvalidName"), "{body}");
    let (s, body) = get(&h, "/bare/var?name=greeting");
    assert_eq!(s, 500);
    assert!(body.contains("Undefined"), "{body}");
}

#[test]
fn a_required_variable_without_value_fails_when_read_as_in_spin() {
    let h = TestHost::start(Start::new(workspace().join("tests/fixtures/spin.toml")))
        .expect("host starts");
    let (s, body) = get(&h, "/probe/var?name=token");
    assert_eq!(s, 500);
    assert!(
        body.contains("Provider") && body.contains("secret_token"),
        "{body}"
    );
    assert_eq!(
        get(&h, "/probe/var?name=greeting"),
        (200, "hello world".into())
    );
}

#[test]
fn environment_and_files_reach_the_guest() {
    let h = fixtures();
    assert_eq!(
        get(&h, "/probe/env?name=PROBE_ENV"),
        (200, "from-manifest".into())
    );
    assert_eq!(
        get(&h, "/probe/env?name=HOME").0,
        404,
        "the host's own environment does not leak in"
    );
    assert_eq!(
        get(&h, "/probe/file?path=/static/hello.txt"),
        (200, "served from the files mount\n".into())
    );
    assert_eq!(get(&h, "/bare/file?path=/static/hello.txt").0, 404);
}

/// A one-shot HTTP server on loopback answering `body` to every request.
fn upstream(body: &'static str) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let t = std::thread::spawn(move || {
        listener.set_nonblocking(false).ok();
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes());
        }
    });
    (port, t)
}

#[test]
fn outbound_http_goes_only_to_allowed_hosts() {
    let h = fixtures();
    let (port, _t) = upstream("upstream says hi");
    let (s, body) = get(
        &h,
        &format!("/probe/outbound?url=http://127.0.0.1:{port}/x"),
    );
    assert_eq!(
        (s, body.as_str()),
        (200, "status=200 body=upstream says hi")
    );
    // Same server, but named by a host the component did not list.
    let (s, body) = get(
        &h,
        &format!("/probe/outbound?url=http://localhost:{port}/x"),
    );
    assert_eq!(s, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let (s, body) = get(&h, &format!("/bare/outbound?url=http://127.0.0.1:{port}/x"));
    assert_eq!(s, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

#[test]
fn request_bodies_are_bounded() {
    let h = Start::fixtures()
        .arg("--max-body-bytes")
        .arg("1024")
        .start()
        .expect("host starts");
    let c = client();
    let r = c
        .post(h.url("/probe/echo"))
        .body(vec![b'x'; 1000])
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().expect("body"), "1000");
    let r = c
        .post(h.url("/probe/echo"))
        .body(vec![b'x'; 5000])
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 413);
    // Without a Content-Length (chunked), the host only learns the size while the guest reads.
    let chunked = |n: usize| {
        c.post(h.url("/probe/echo"))
            .body(reqwest::blocking::Body::new(std::io::Cursor::new(vec![
                b'x';
                n
            ])))
            .send()
            .expect("post")
    };
    let r = chunked(1000);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().expect("body"), "1000");
    let r = chunked(5000);
    assert_eq!(r.status().as_u16(), 413, "{}", h.output());
    assert_eq!(get(&h, "/probe/const").0, 200);
}

#[test]
fn concurrent_inserts_all_land() {
    let h = fixtures();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let url = h.url("/probe/insert32");
            std::thread::spawn(move || {
                let c = client();
                for i in 0..10 {
                    let r = c
                        .post(format!("{url}?ts={}", t * 1000 + i))
                        .send()
                        .expect("post");
                    assert_eq!(r.status().as_u16(), 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(get(&h, "/probe/count"), (200, (16 * 10 * 32).to_string()));
}

#[test]
fn explicit_transactions_commit_or_roll_back() {
    let h = fixtures();
    let c = client();
    let r = c.post(h.url("/probe/tx?ts=1&fail=0")).send().expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let r = c.post(h.url("/probe/tx?ts=2&fail=1")).send().expect("post");
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(
        get(&h, "/probe/count"),
        (200, "2".into()),
        "only the committed pair is there"
    );
}

#[test]
fn cron_runs_on_schedule_and_on_demand() {
    let h = fixtures();
    std::thread::sleep(Duration::from_millis(3500));
    let ticks: i64 = h
        .sqlite()
        .expect("db")
        .query_row("SELECT count(*) FROM cron_ticks", [], |r| r.get(0))
        .expect("ticks");
    assert!(ticks >= 2, "expected at least 2 ticks in 3.5s, got {ticks}");
    let manifest = workspace().join("tests/fixtures/spin.toml");
    let (ok, out) = trigger_cron(&manifest, "cron-probe", h.state.path(), None, &[]).expect("runs");
    assert!(ok, "{out}");
    let (ok, out) = trigger_cron(
        &manifest,
        "cron-probe",
        h.state.path(),
        None,
        &[("CRON_FAIL", "1")],
    )
    .expect("runs");
    // CRON_FAIL is not in the component's environment, so the host's own environment must not leak in.
    assert!(ok, "{out}");
    let (ok, out) = trigger_cron(&manifest, "probe", h.state.path(), None, &[]).expect("runs");
    assert!(!ok && out.contains("handle-cron-event"), "{out}");
}

#[test]
fn with_no_cron_the_schedule_does_not_run_and_runs_on_demand_still_do() {
    let h = Start::fixtures()
        .arg("--no-cron")
        .start()
        .expect("host starts");
    let ticks = |h: &TestHost| -> i64 {
        // The probe creates its table on its first tick.
        h.sqlite()
            .expect("db")
            .query_row("SELECT count(*) FROM cron_ticks", [], |r| r.get(0))
            .unwrap_or(0)
    };
    // The fixture's schedule is every second.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(ticks(&h), 0, "{}", h.output());
    let manifest = workspace().join("tests/fixtures/spin.toml");
    let (ok, out) = trigger_cron(&manifest, "cron-probe", h.state.path(), None, &[]).expect("runs");
    assert!(ok, "{out}");
    assert_eq!(ticks(&h), 1);
}

#[test]
fn outbound_mqtt_publishes_to_allowed_brokers_only() {
    use rumqttc::{Client as Mqtt, Event, MqttOptions, Packet, QoS};
    let h = fixtures();
    let mut opts = MqttOptions::new(
        format!("fieldline-test-{}", std::process::id()),
        "127.0.0.1",
        1883,
    );
    opts.set_keep_alive(Duration::from_secs(5));
    let (sub, mut conn) = Mqtt::new(opts, 10);
    let topic = format!("fieldline/test/{}", std::process::id());
    sub.subscribe(&topic, QoS::AtLeastOnce).expect("subscribe");
    // Wait for SUBACK before publishing.
    for e in conn.iter() {
        if matches!(
            e.expect("broker reachable on 127.0.0.1:1883"),
            Event::Incoming(Packet::SubAck(_))
        ) {
            break;
        }
    }
    let (s, body) = get(
        &h,
        &format!("/probe/mqtt?address=mqtt://127.0.0.1:1883&topic={topic}&payload=hello"),
    );
    assert_eq!((s, body.as_str()), (200, "published"));
    let got = conn
        .recv_timeout(Duration::from_secs(5))
        .into_iter()
        .chain(conn.iter().take(20).filter_map(Result::ok).map(Ok))
        .filter_map(|e| match e {
            Ok(Event::Incoming(Packet::Publish(p))) => Some(p),
            _ => None,
        })
        .next()
        .expect("message arrives");
    assert_eq!(got.topic, topic);
    assert_eq!(&got.payload[..], b"hello");
    let (s, body) = get(
        &h,
        &format!("/bare/mqtt?address=mqtt://127.0.0.1:1883&topic={topic}&payload=x"),
    );
    assert_eq!(s, 502);
    assert!(body.contains("not permitted"), "{body}");
}

#[test]
fn key_value_can_live_in_redis_by_runtime_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rc = dir.path().join("runtime-config.toml");
    std::fs::write(
        &rc,
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n",
    )
    .expect("write");
    let h = Start::fixtures()
        .arg("--runtime-config-file")
        .arg(&rc.to_string_lossy())
        .start()
        .expect("host starts with Redis on 127.0.0.1:6379");
    assert_eq!(get(&h, "/probe/kv?store=default"), (200, "ok".into()));
    assert!(
        !h.state.path().join("sqlite_key_value.db").exists(),
        "the default file store was not used"
    );
}

fn count_points(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("SELECT count(*) FROM points", [], |r| r.get(0)))
        .unwrap_or_else(|e| panic!("{}: {e}", db.display()))
}

#[test]
fn the_runtime_config_state_dir_holds_the_default_stores_unless_state_dir_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from_file = dir.path().join("from-runtime-config");
    let rc = dir.path().join("runtime-config.toml");
    std::fs::write(&rc, format!("state_dir = \"{}\"\n", from_file.display())).expect("write");
    let h = Start::fixtures()
        .no_state_dir_flag()
        .arg("--runtime-config-file")
        .arg(&rc.to_string_lossy())
        .start()
        .expect("host starts");
    let r = client()
        .post(h.url("/probe/insert32?ts=1"))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(count_points(&from_file.join("sqlite_db.db")), 32);
    assert!(from_file.join("sqlite_key_value.db").exists());
    drop(h);

    // --state-dir wins over the file, as in Spin.
    let h = Start::fixtures()
        .arg("--runtime-config-file")
        .arg(&rc.to_string_lossy())
        .start()
        .expect("host starts");
    let r = client()
        .post(h.url("/probe/insert32?ts=2"))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(count_points(&h.state.path().join("sqlite_db.db")), 32);
    assert_eq!(count_points(&from_file.join("sqlite_db.db")), 32);

    // An empty state_dir is Spin's "in memory", which this host refuses by name.
    std::fs::write(&rc, "state_dir = \"\"\n").expect("write");
    let manifest = workspace().join("tests/fixtures/spin.toml");
    let (ok, out) = run_host(
        &[
            "up",
            "--from",
            &manifest.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
            "--runtime-config-file",
            &rc.to_string_lossy(),
        ],
        &[],
    )
    .expect("runs");
    assert!(!ok, "{out}");
    assert!(
        out.contains("runtime-config.toml") && out.contains("state_dir"),
        "{out}"
    );
}

#[test]
fn the_runtime_config_moves_the_default_sqlite_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("elsewhere/app.db");
    let rc = dir.path().join("runtime-config.toml");
    std::fs::write(
        &rc,
        format!(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"{}\"\n",
            db.display()
        ),
    )
    .expect("write");
    let h = Start::fixtures()
        .arg("--runtime-config-file")
        .arg(&rc.to_string_lossy())
        .start()
        .expect("host starts");
    let r = client()
        .post(h.url("/probe/insert32?ts=1"))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get(&h, "/probe/count"), (200, "32".into()));
    assert_eq!(count_points(&db), 32);
    assert!(
        !h.state.path().join("sqlite_db.db").exists(),
        "the state directory's default database was not used"
    );
}

#[test]
fn start_up_errors_name_the_file_component_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("spin.toml");
    let fixture =
        std::fs::read_to_string(workspace().join("tests/fixtures/spin.toml")).expect("fixture");
    let cases = [
        (
            fixture.replace("[component.bare]", "[component.bare]\nfrobnicate = true"),
            "frobnicate",
        ),
        (
            fixture.replace(
                "sqlite_databases = [\"default\"]\nvariables",
                "sqlite_databases = [\"other\"]\nvariables",
            ),
            "'other'",
        ),
        (
            fixture.replace(
                "key_value_stores = [\"default\"]\nsqlite_databases = [\"default\"]\nvariables",
                "key_value_stores = [\"cache\"]\nsqlite_databases = [\"default\"]\nvariables",
            ),
            "\"cache\"",
        ),
        (
            fixture.replace("probe.wasm\"\nallowed", "missing.wasm\"\nallowed"),
            "missing.wasm",
        ),
        // The MQTT plugin reads `qos` as a string.
        (
            fixture.replace("qos = \"1\"", "qos = 1"),
            "[[trigger.mqtt]] #1: key `qos` must be a string",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(
            &bad,
            text.replace(
                "../../target",
                &workspace().join("target").to_string_lossy(),
            ),
        )
        .expect("write");
        let state = dir.path().join("state");
        let (ok, out) = run_host(
            &[
                "up",
                "--from",
                &bad.to_string_lossy(),
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
                &state.to_string_lossy(),
            ],
            &[],
        )
        .expect("runs");
        assert!(!ok, "{needle}: should fail\n{out}");
        assert!(
            out.contains("spin.toml") && out.contains(needle),
            "{needle}:\n{out}"
        );
    }
}

#[test]
fn a_private_route_is_not_reachable_from_outside() {
    let h = fixtures();
    let out = h.output_containing("component private-probe ready");
    assert!(
        out.contains("component private-probe ready"),
        "the private component is loaded:\n{out}"
    );
    // The probe answers any path ending in /const; none of these may reach it.
    for path in [
        "/",
        "/const",
        "/private-probe/const",
        "/private-probe",
        "/.../const",
    ] {
        assert_eq!(get(&h, path), (404, String::new()), "{path}");
    }
    assert_eq!(get(&h, "/probe/const"), (200, "ok".into()));
}

#[test]
fn the_compiled_code_cache_is_filled_then_reused() {
    let cache = tempfile::tempdir().expect("tempdir");
    // One component, so that the first start compiles little.
    let manifest = cache.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"cache\"\n[[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"probe\"\n[component.probe]\nsource = \"{}\"\n",
            workspace()
                .join("target/wasm32-wasip2/release/probe.wasm")
                .display()
        ),
    )
    .expect("write");
    let start = || {
        Start::new(&manifest)
            .arg("--cache-dir")
            .arg(&cache.path().to_string_lossy())
            .start()
            .expect("host starts")
    };
    let counts = |h: &TestHost| -> (usize, usize) {
        let out = h.output_containing("compiled-code cache");
        let line = out
            .lines()
            .find(|l| l.contains("compiled-code cache"))
            .unwrap_or_else(|| panic!("no cache line:\n{out}"))
            .to_string();
        // "... compiled-code cache <dir>: <reused> reused, <compiled> compiled"
        let words: Vec<&str> = line
            .rsplit(": ")
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        match words.as_slice() {
            [reused, "reused,", compiled, "compiled"] => (
                reused.parse().expect("a count"),
                compiled.parse().expect("a count"),
            ),
            _ => panic!("unexpected cache line {line:?}"),
        }
    };
    let first = start();
    let (_, compiled) = counts(&first);
    assert!(compiled >= 1, "{}", first.output());
    drop(first);
    let stored = std::fs::read_dir(cache.path().join("wasmtime"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(stored > 0, "nothing stored under the cache directory");
    let second = start();
    let (reused, compiled) = counts(&second);
    assert_eq!(compiled, 0, "{}", second.output());
    assert!(reused >= 1, "{}", second.output());
    assert_eq!(get(&second, "/probe/const"), (200, "ok".into()));
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    let mut h = fixtures();
    let url = h.url("/probe/sleep?ms=1500");
    let request = std::thread::spawn(move || {
        client()
            .get(url)
            .send()
            .and_then(|r| Ok((r.status().as_u16(), r.text()?)))
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.output().contains("probe: sleeping 1500 ms") {
        assert!(Instant::now() < deadline, "no request:\n{}", h.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.terminate().expect("stops"), "exit status was not success");
    let answer = request.join().expect("thread");
    assert_eq!(
        answer.as_ref().map_err(ToString::to_string),
        Ok(&(200, "slept 1500 ms".to_string())),
        "{}",
        h.output()
    );
}

#[test]
fn sigterm_stops_the_host_gracefully() {
    let mut h = fixtures();
    assert_eq!(get(&h, "/probe/const").0, 200);
    assert!(h.terminate().expect("stops"), "exit status was not success");
}

/// Starts the fixtures with the MQTT trigger on its own topic and waits for the subscription.
fn mqtt_fixtures(topic: &str) -> TestHost {
    let h = Start::fixtures()
        .env("SPIN_VARIABLE_MQTT_TOPIC", topic)
        .start()
        .expect("host starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.output().contains(&format!("subscribed to '{topic}/#'")) {
        assert!(
            Instant::now() < deadline,
            "no subscription:\n{}",
            h.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    h
}

/// Publishes `(subtopic, payload)` pairs under `topic` at QoS 1 and waits for the broker's acks.
fn publish(topic: &str, messages: &[(&str, &str)]) {
    use rumqttc::{Client as Mqtt, Event, MqttOptions, Packet, QoS};
    let mut opts = MqttOptions::new(
        format!("fieldline-pub-{}-{}", std::process::id(), topic.len()),
        "127.0.0.1",
        1883,
    );
    opts.set_keep_alive(Duration::from_secs(5));
    let (publisher, mut conn) = Mqtt::new(opts, 10);
    for (sub, payload) in messages {
        publisher
            .publish(
                format!("{topic}/{sub}"),
                QoS::AtLeastOnce,
                false,
                payload.as_bytes(),
            )
            .expect("publish");
    }
    let mut acks = 0;
    for e in conn.iter() {
        if let Event::Incoming(Packet::PubAck(_)) = e.expect("broker reachable on 127.0.0.1:1883") {
            acks += 1;
            if acks == messages.len() {
                break;
            }
        }
    }
}

/// The rows the MQTT probe recorded, in the order it recorded them, once there are `n`.
fn mqtt_rows(h: &TestHost, n: usize) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = h
            .sqlite()
            .and_then(|db| {
                let mut st =
                    db.prepare("SELECT topic, payload FROM mqtt_messages ORDER BY rowid")?;
                let rows = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .unwrap_or_default();
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_mqtt_trigger_hands_each_message_to_a_fresh_instance_and_survives_bad_ones() {
    let topic = format!("fieldline/e2e-{}", std::process::id());
    let h = mqtt_fixtures(&topic);
    publish(
        &topic,
        &[("a", "one"), ("b/c", "refuse"), ("d", "trap"), ("e", "two")],
    );
    let mut rows = mqtt_rows(&h, 2);
    // Messages are handled concurrently, so they may be recorded in any order.
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (format!("{topic}/a"), b"one".to_vec()),
            (format!("{topic}/e"), b"two".to_vec())
        ],
        "{}",
        h.output()
    );
    // A refusal is final; a trap is tried again after 1 s and 2 s, then dropped (and
    // acknowledged, so that the broker does not hand it back forever).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !h.output().contains("1 dropped so far") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = h.output();
    assert!(out.contains("refused by the probe"), "{out}");
    assert!(out.contains("(1 refused so far)"), "{out}");
    assert!(
        !out.contains("2 refused so far"),
        "a trap is no refusal:\n{out}"
    );
    assert!(out.contains("(attempt 1 of 3)"), "{out}");
    assert!(out.contains("(attempt 2 of 3)"), "{out}");
    assert!(
        out.contains("DROPPED a message on")
            && out.contains("after 3 failed attempts (1 dropped so far)"),
        "the trap is dropped after three attempts:\n{out}"
    );
    assert_eq!(get(&h, "/probe/const").0, 200, "HTTP is unaffected");
}

#[test]
fn a_slow_mqtt_message_does_not_hold_up_the_next() {
    let topic = format!("fieldline/e2e-slow-{}", std::process::id());
    let h = mqtt_fixtures(&topic);
    // `slow` is recorded 1.5 s after it arrives; handled one after the other, it would be first.
    publish(&topic, &[("slow", "slow"), ("fast", "fast")]);
    let rows = mqtt_rows(&h, 2);
    let topics: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        vec![format!("{topic}/fast"), format!("{topic}/slow")],
        "{}",
        h.output()
    );
}

#[test]
fn an_unreachable_broker_is_retried_with_back_off_and_logged_once() {
    // Nothing listens on 127.0.0.2:1883 (the broker is bound to 127.0.0.1).
    let h = Start::fixtures()
        .env("SPIN_VARIABLE_MQTT_HOST", "127.0.0.2")
        .start()
        .expect("the host starts without its broker");
    std::thread::sleep(Duration::from_millis(3500));
    let out = h.output();
    let mqtt_lines: Vec<&str> = out.lines().filter(|l| l.contains("mqtt:")).collect();
    assert_eq!(mqtt_lines.len(), 1, "one line per state change:\n{out}");
    assert!(
        mqtt_lines[0].contains("cannot reach the broker at mqtt://127.0.0.2:1883"),
        "{out}"
    );
    assert_eq!(get(&h, "/probe/const").0, 200, "HTTP is unaffected");
}

/// A raw connection to the host, for clients no HTTP library imitates: slow ones.
fn raw(h: &TestHost) -> std::net::TcpStream {
    let url = h.url("");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    s
}

/// What the host sent back before closing the connection (empty: it closed without answering;
/// a close with bytes of ours still unread reaches us as a reset, which is a close too).
fn answer(mut s: std::net::TcpStream) -> String {
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(e) if !buf.is_empty() => format!("{}{e}", String::from_utf8_lossy(&buf)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => String::new(),
        Err(e) => panic!("the host neither answered nor closed the connection: {e}"),
    }
}

#[test]
fn slow_clients_hold_no_request_slot_and_are_cut_off() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // Two request slots, and eight clients that send a body a byte at a time and never finish.
    let h = Start::fixtures()
        .arg("--max-concurrent")
        .arg("2")
        .arg("--header-timeout")
        .arg("2s")
        .arg("--body-timeout")
        .arg("4s")
        .start()
        .expect("host starts");
    let answered = Arc::new(AtomicBool::new(false));
    let slow_bodies: Vec<_> = (0..8)
        .map(|_| {
            let mut s = raw(&h);
            let answered = answered.clone();
            std::thread::spawn(move || {
                s.write_all(b"POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
                    .expect("headers");
                let reader = s.try_clone().expect("clone");
                let trickle = std::thread::spawn(move || {
                    // A byte every 200 ms for 3 s, well short of the 100 announced, then
                    // silence until the 4 s body deadline: the host has read every byte sent
                    // when it answers and closes, so the 408 is not lost to a reset.
                    for _ in 0..15 {
                        if s.write_all(b"x").is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
                let a = answer(reader);
                answered.store(true, Ordering::SeqCst);
                trickle.join().expect("trickle");
                a
            })
        })
        .collect();
    // A client that sends half its headers, then a byte a second.
    let slow_headers = {
        let mut s = raw(&h);
        std::thread::spawn(move || {
            s.write_all(b"GET /probe/const HTTP/1.1\r\nHo")
                .expect("half the headers");
            let reader = s.try_clone().expect("clone");
            let trickle = std::thread::spawn(move || {
                for _ in 0..8 {
                    if s.write_all(b"x").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            let a = answer(reader);
            trickle.join().expect("trickle");
            a
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    // Others are served while the slow clients are still sending.
    for path in ["/probe/const", "/health"] {
        let (s, _) = get(&h, path);
        assert_eq!(s, 200, "{path}");
    }
    assert!(
        !answered.load(Ordering::SeqCst),
        "a slow client was answered before the others were served"
    );
    // Each slow body is cut off at the body deadline with a 408, the slow headers with a close.
    for t in slow_bodies {
        let a = t.join().expect("slow body");
        assert!(a.starts_with("HTTP/1.1 408"), "{a}");
    }
    let a = slow_headers.join().expect("slow headers");
    assert!(!a.contains(" 200 "), "{a}");
    assert_eq!(get(&h, "/probe/const").0, 200);
}
