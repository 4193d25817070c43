//! `TestHost`: the built components served by the `fieldline` host on an ephemeral loopback port
//! with a temporary state directory, stopped on drop (printing the host's output if a test failed).

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(workspace())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

/// Builds the host and every component once per test run; returns the host binary.
pub fn build() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if std::env::var_os("FIELDLINE_SKIP_BUILD").is_none() {
                cargo(&[
                    "build",
                    "--target",
                    "wasm32-wasip2",
                    "--release",
                    "--workspace",
                    "--exclude",
                    "fieldline-host",
                    "--exclude",
                    "fieldline-tests",
                ])
                .map_err(|e| e.to_string())?;
                cargo(&["build", "-p", "fieldline-host", "--bin", "fieldline"])
                    .map_err(|e| e.to_string())?;
            }
            let bin = std::env::var_os("FIELDLINE_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join("target/debug/fieldline"));
            if bin.exists() {
                Ok(bin)
            } else {
                Err(format!("no host binary at {}", bin.display()))
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// The key the application signs access tokens with in the tests ([`Start::app`]), so that
/// tests can mint their own (expired, for another organization).
pub const JWT_SECRET: &str = "e2e-admin-jwt-secret-0123456789abcdef-0123456789";
/// The installation operator's token of the hosts [`Start::app`] starts (`operator_token`).
pub const OPERATOR_TOKEN: &str = "e2e-operator-token-0123456789abcdef";
/// The scheduler's token of the hosts [`Start::app`] starts (`cron_token`).
pub const CRON_TOKEN: &str = "e2e-scheduler-token-0123456789abcdef";

/// The key the application seals Sensorbis device secrets with in the tests ([`Start::app`]).
pub const SENSORBIS_SECRET: &str = "e2e-sensorbis-sealing-secret-0123456789abcdef";
/// The `broker_secret` of the tests' application (seals organizations' broker passwords).
pub const BROKER_SECRET: &str = "e2e-broker-sealing-secret-0123456789abcdef";

/// The password of the accounts [`sign_up`] makes.
pub const PASSWORD: &str = "correct horse battery";

/// An organization and its administrator (`email`, [`PASSWORD`]) made directly in the host's
/// database, with a fast password hash (the components verify any Argon2id hash by its own
/// parameters).
/// The subscription of the organizations [`sign_up`] makes: the default, with a century of
/// retention, because the tests' data sets date from 1970 and 2020 and the maintenance cron the
/// host runs every minute would delete them under the default 90 days.
pub fn fixture_subscription() -> fieldline_domain::Subscription {
    fieldline_domain::Subscription {
        detailed_retention_days: 36_500,
        aggregated_retention_days: 36_500,
        ..fieldline_domain::Subscription::default()
    }
}

pub fn sign_up(
    db: &dyn fieldline_storage::Db,
    organization: &str,
    email: &str,
) -> (fieldline_storage::Tenant, fieldline_domain::UserId) {
    use fieldline_domain::{Email, OrgFields, OrgName, Password, PasswordHasher};
    let hash = PasswordHasher::insecure_fast_for_tests()
        .hash(&Password::parse(PASSWORD).expect("password"))
        .expect("hash");
    let (tenant, _, user) = fieldline_storage::sign_up(
        db,
        &OrgFields::named(OrgName::parse(organization).expect("organization name")),
        &fixture_subscription(),
        &Email::parse(email).expect("email"),
        &hash,
        fieldline_domain::Timestamp::now(),
    )
    .expect("sign up");
    (tenant, user.id)
}

/// An HTTP client for the tests: no automatic gzip (tests look at Content-Encoding
/// themselves), a timeout well above any request's.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// A response's status and its body as JSON (`null` when empty); a body that is not JSON fails
/// the test, showing the body.
pub fn status_and_json(r: reqwest::blocking::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let text = r.text().expect("body");
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, json)
}

/// A running host.
pub struct TestHost {
    child: Option<Child>,
    pub base: String,
    pub state: tempfile::TempDir,
    output: Arc<Mutex<Vec<String>>>,
    /// How it was started, for [`TestHost::restart`].
    start: Start,
}

/// How to start a host.
#[derive(Clone)]
pub struct Start {
    pub manifest: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Whether to pass `--state-dir` (the temporary directory); see [`Start::no_state_dir_flag`].
    pub state_dir_flag: bool,
    /// The application's PostgreSQL database, when the run is on PostgreSQL ([`postgres`]).
    pub postgres: Option<Arc<fieldline_storage::native_pg::TempDatabase>>,
}

/// The store the end-to-end tests set up data in: the host's own database, either backend.
pub type Storage = Box<dyn fieldline_storage::Db>;

/// One-value reads of the tests' checks, on either backend.
pub trait Query {
    fn query_i64(&self, sql: &str, params: &[fieldline_storage::Value]) -> i64;
    fn query_text(&self, sql: &str, params: &[fieldline_storage::Value]) -> String;
    fn query_blob(&self, sql: &str, params: &[fieldline_storage::Value]) -> Vec<u8>;
    /// The first column of every row, as text.
    fn query_texts(&self, sql: &str, params: &[fieldline_storage::Value]) -> Vec<String>;
}

impl<T: fieldline_storage::Db + ?Sized> Query for T {
    fn query_i64(&self, sql: &str, params: &[fieldline_storage::Value]) -> i64 {
        let rows = self.execute(sql, params).expect(sql);
        rows.first().expect(sql).i64(0).expect(sql)
    }

    fn query_text(&self, sql: &str, params: &[fieldline_storage::Value]) -> String {
        let rows = self.execute(sql, params).expect(sql);
        rows.first().expect(sql).text(0).expect(sql).to_owned()
    }

    fn query_blob(&self, sql: &str, params: &[fieldline_storage::Value]) -> Vec<u8> {
        let rows = self.execute(sql, params).expect(sql);
        rows.first().expect(sql).blob(0).expect(sql).to_vec()
    }

    fn query_texts(&self, sql: &str, params: &[fieldline_storage::Value]) -> Vec<String> {
        let rows = self.execute(sql, params).expect(sql);
        rows.iter()
            .map(|r| r.text(0).expect(sql).to_owned())
            .collect()
    }
}

/// Whether this run stores the application's data in PostgreSQL: `FIELDLINE_E2E_STORAGE=postgres`
/// gives each application host a fresh database (`fl_test_<random>`, dropped with the host) on
/// the server at `FIELDLINE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`), through
/// the variables `storage` and `postgres_url`.
pub fn postgres() -> bool {
    std::env::var("FIELDLINE_E2E_STORAGE").is_ok_and(|v| v == "postgres")
}

impl Start {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Start {
            manifest: manifest.into(),
            args: Vec::new(),
            env: Vec::new(),
            state_dir_flag: true,
            postgres: None,
        }
    }

    /// The application (the repository's `spin.toml`), with [`JWT_SECRET`] as its signing key
    /// and [`SENSORBIS_SECRET`] as its Sensorbis sealing key.
    pub fn app() -> Self {
        let start = Self::new(workspace().join("spin.toml"))
            .env("SPIN_VARIABLE_JWT_SECRET", JWT_SECRET)
            .env("SPIN_VARIABLE_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("SPIN_VARIABLE_CRON_TOKEN", CRON_TOKEN)
            .env("SPIN_VARIABLE_SENSORBIS_SECRET", SENSORBIS_SECRET)
            .env("SPIN_VARIABLE_BROKER_SECRET", BROKER_SECRET);
        if postgres() {
            start.on_postgres()
        } else {
            start
        }
    }

    /// The application's data in a fresh PostgreSQL database of its own (dropped when the last
    /// host started from this `Start` or a clone of it ends). Clones share that database: hosts
    /// started from clones are replicas in front of one PostgreSQL, as several `fieldline up`
    /// processes are in production. Where the run is already on PostgreSQL ([`postgres`]), the
    /// database [`Start::app`] made is kept.
    pub fn on_postgres(mut self) -> Self {
        if self.postgres.is_some() {
            return self;
        }
        let server = std::env::var("FIELDLINE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let db = fieldline_storage::native_pg::TempDatabase::create(&server)
            .expect("a PostgreSQL server at FIELDLINE_TEST_PG");
        let url = db.url();
        self.postgres = Some(Arc::new(db));
        self.env("SPIN_VARIABLE_STORAGE", "postgres")
            .env("SPIN_VARIABLE_POSTGRES_URL", &url)
    }

    /// The fixture application in `tests/fixtures/spin.toml`.
    pub fn fixtures() -> Self {
        Self::new(workspace().join("tests/fixtures/spin.toml"))
            .env("SPIN_VARIABLE_SECRET_TOKEN", "t0ken")
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Leaves `--state-dir` out, so the host picks its state directory itself (give it a
    /// runtime config naming one, or it uses `.spin` beside the manifest).
    pub fn no_state_dir_flag(mut self) -> Self {
        self.state_dir_flag = false;
        self
    }

    pub fn start(self) -> Result<TestHost> {
        TestHost::start(self)
    }
}

fn pump(
    stream: impl std::io::Read + Send + 'static,
    output: Arc<Mutex<Vec<String>>>,
    ready: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let (Some(tx), Some(addr)) = (&ready, line.strip_prefix("Serving http://")) {
                let _ = tx.send(addr.trim().to_string());
            }
            if let Ok(mut o) = output.lock() {
                o.push(line);
            }
        }
    });
}

/// Held while a host starts: the first start compiles every component into the shared cache,
/// and hosts started alongside it would each compile them again, all at once.
static STARTING: Mutex<()> = Mutex::new(());

impl TestHost {
    /// The URL of the application's PostgreSQL database, when it runs on one.
    pub fn postgres_url(&self) -> Option<String> {
        self.start.postgres.as_ref().map(|db| db.url())
    }

    pub fn start(s: Start) -> Result<Self> {
        let state = tempfile::tempdir()?;
        let mut host = TestHost {
            child: None,
            base: String::new(),
            state,
            output: Arc::new(Mutex::new(Vec::new())),
            start: s,
        };
        host.spawn()?;
        Ok(host)
    }

    /// Starts the host process on `self.state` and waits until it serves.
    fn spawn(&mut self) -> Result<()> {
        let bin = build()?;
        let _starting = STARTING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = &self.start;
        let mut cmd = Command::new(bin);
        cmd.arg("up")
            .arg("--from")
            .arg(&s.manifest)
            .arg("--listen")
            .arg("127.0.0.1:0");
        if s.state_dir_flag {
            cmd.arg("--state-dir").arg(self.state.path());
        }
        cmd.args(&s.args)
            .envs(s.env.iter().map(|(k, v)| (k, v)))
            .env("FIELDLINE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("cannot start the host")?;
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(out) = child.stdout.take() {
            pump(out, self.output.clone(), Some(tx));
        }
        if let Some(err) = child.stderr.take() {
            pump(err, self.output.clone(), None);
        }
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                self.base = format!("http://{addr}");
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                std::thread::sleep(Duration::from_millis(200));
                bail!(
                    "the host exited with {status} before serving:\n{}",
                    self.output()
                );
            }
            if Instant::now() > deadline {
                bail!("the host did not start within 300s:\n{}", self.output());
            }
        }
    }

    /// Kills the host with SIGKILL, as a crash or `kill -9` would: no shutdown runs. The state
    /// directory stays, for [`TestHost::restart`].
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Starts the host again as it was started, on the same state directory; its output is
    /// appended to what the earlier run printed.
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("still running");
        }
        if let Ok(mut o) = self.output.lock() {
            o.push("---- restarted ----".into());
        }
        self.spawn()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the host and its guests printed so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.join("\n")).unwrap_or_default()
    }

    /// The output once it contains `needle`, waiting up to 10 s: stdout and stderr are read by
    /// separate threads, so a line printed before "Serving" (or by a guest during a request) may
    /// still be on its way when the host answers.
    pub fn output_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.output();
            if out.contains(needle) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM and waits for the host to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> Result<bool> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the host did not stop within 20s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The application's database through fieldline-storage (migrated): how the tests set up
    /// organizations, devices and tokens with the same storage layer the components use. The
    /// default SQLite database, or the host's PostgreSQL database in a PostgreSQL run.
    pub fn storage(&self) -> Result<Storage> {
        let db: Storage = match &self.start.postgres {
            Some(pg) => Box::new(pg.connect()?),
            None => Box::new(fieldline_storage::native::open(
                &self.state.path().join("sqlite_db.db"),
            )?),
        };
        fieldline_storage::migrate(&db)?;
        Ok(db)
    }

    /// The default SQLite database under the state directory, for checking what guests wrote.
    pub fn sqlite(&self) -> Result<rusqlite::Connection> {
        Ok(rusqlite::Connection::open(
            self.state.path().join("sqlite_db.db"),
        )?)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The host's MQTT sessions are persistent: ended here, or the broker would keep each
        // test host's subscriptions and queue every later test's messages for it.
        for (address, id) in mqtt_sessions(&self.output()) {
            end_mqtt_session(&address, &id);
        }
        if std::thread::panicking() {
            eprintln!(
                "---- host output ----\n{}\n---------------------",
                self.output()
            );
        }
    }
}

/// Runs `fieldline` with `args` to completion; returns (success, stdout + stderr).
pub fn run_host(args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String)> {
    let out = Command::new(build()?)
        .args(args)
        .envs(env.iter().copied())
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// Waits until at least `margin` seconds remain in the current window of `window_secs` of the
/// clock (a rate limit's window, or the minute at which a host's cron triggers fire), so that
/// the requests that follow land in one window.
pub fn settle(window_secs: i64, margin: i64) {
    let now = fieldline_domain::Timestamp::now().as_millis();
    let left = window_secs * 1000 - now.rem_euclid(window_secs * 1000);
    if left < margin * 1000 {
        std::thread::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(0) + 50));
    }
}

/// `fieldline trigger cron COMPONENT --from MANIFEST --state-dir STATE_DIR`, with
/// `--timestamp T` when given (a replica's tick; without it a run on demand), run to completion:
/// (success, stdout + stderr).
pub fn trigger_cron(
    manifest: &std::path::Path,
    component: &str,
    state_dir: &std::path::Path,
    timestamp: Option<u64>,
    env: &[(&str, &str)],
) -> Result<(bool, String)> {
    let manifest = manifest.to_string_lossy();
    let state_dir = state_dir.to_string_lossy();
    let timestamp = timestamp.map(|t| t.to_string());
    let mut args = vec![
        "trigger",
        "cron",
        component,
        "--from",
        &manifest,
        "--state-dir",
        &state_dir,
    ];
    if let Some(t) = &timestamp {
        args.extend(["--timestamp", t.as_str()]);
    }
    run_host(&args, env)
}

/// The (broker address, client id) of each MQTT session the host's log says it connected with:
/// `mqtt: {component}: connected to {address} as client '{id}' (...)`.
pub fn mqtt_sessions(output: &str) -> Vec<(String, String)> {
    let mut sessions = Vec::new();
    for line in output.lines() {
        let Some((_, rest)) = line.split_once("connected to ") else {
            continue;
        };
        let Some((address, rest)) = rest.split_once(" as client '") else {
            continue;
        };
        let Some((id, _)) = rest.split_once('\'') else {
            continue;
        };
        let session = (address.to_string(), id.to_string());
        if !sessions.contains(&session) {
            sessions.push(session);
        }
    }
    sessions
}

/// Ends the persistent session `id` on the broker at `address` (`mqtt://host:port`): connects
/// with a clean session under its client id, which discards it, and disconnects. Best effort,
/// a few seconds at most.
pub fn end_mqtt_session(address: &str, id: &str) {
    use rumqttc::{Client, Event, MqttOptions, Outgoing, Packet};
    let hostport = address
        .split_once("://")
        .map_or(address, |(_, rest)| rest)
        .trim_end_matches('/');
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return;
    };
    let Ok(port) = port.parse() else { return };
    let mut opts = MqttOptions::new(id, host, port);
    opts.set_clean_session(true);
    let (client, mut conn) = Client::new(opts, 10);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match conn.recv_timeout(Duration::from_millis(500)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                let _ = client.disconnect();
            }
            Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => return,
        }
    }
}

/// A private Mosquitto broker on an ephemeral loopback port, stopped on drop: for tests that
/// need a broker's limits known (the shared one on 1883 keeps Mosquitto's defaults, which drop
/// a persistent session's messages beyond 1000 queued) and traffic no other host sees.
pub struct Broker {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts `mosquitto` (from PATH or /usr/sbin) with `extra` configuration lines.
    pub fn start(extra: &str) -> Result<Broker> {
        let bin = [
            "mosquitto",
            "/usr/sbin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .context(
            "no mosquitto binary (scripts/test installs Debian's mosquitto): the MQTT \
                 durability tests run a broker of their own",
        )?;
        let dir = tempfile::tempdir()?;
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let conf = dir.path().join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}\n"
                ),
            )?;
            let mut child = Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start mosquitto")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Broker {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                if child.try_wait()?.is_some() {
                    break; // the port was taken meanwhile: another one
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        bail!("mosquitto did not start")
    }

    /// `mqtt://127.0.0.1:{port}`, for `SPIN_VARIABLE_MQTT_ADDRESS`.
    pub fn address(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address `fieldline up --metrics-listen 127.0.0.1:0` printed (`host:port`).
pub fn metrics_address(h: &TestHost) -> String {
    let out = h.output_containing("Metrics at http://");
    out.lines()
        .find_map(|l| l.strip_prefix("Metrics at http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("the host printed no metrics address:\n{out}"))
        .to_string()
}

/// The host's metrics, scraped once (the host must run with `--metrics-listen`).
pub fn scrape(h: &TestHost) -> String {
    let url = format!("http://{}/metrics", metrics_address(h));
    client()
        .get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .expect("the metrics")
}

/// The value of `series` (the metric's name and its labels exactly as the host writes them,
/// `name{a="x",b="y"}`) in a scrape; 0 when the series is absent.
pub fn metric(scraped: &str, series: &str) -> f64 {
    scraped
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{series}: not a number in {v:?}"))
        })
        .unwrap_or(0.0)
}

/// Scrapes until every `(series, value)` holds (a trigger event is counted after its message
/// was handled, a moment after what it stored is visible), at most 20 s; panics with the last
/// scrape otherwise.
pub fn wait_for_metrics(h: &TestHost, want: &[(&str, f64)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(h);
        let wrong: Vec<String> = want
            .iter()
            .filter(|(s, v)| metric(&text, s) != *v)
            .map(|(s, v)| format!("{s} = {} (want {v})", metric(&text, s)))
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "metrics not as expected:\n{}\n--- scrape:\n{text}",
            wrong.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends a recorded request (`tests/golden/*/answers/*.json`'s `request`) to the host with the
/// given credentials: status, body (decompressed) and headers.
pub fn replay_request(
    h: &TestHost,
    request: &serde_json::Value,
    user: &str,
    auth: &str,
) -> (u16, String, reqwest::header::HeaderMap) {
    let method =
        reqwest::Method::from_bytes(request["method"].as_str().expect("method").as_bytes())
            .expect("method");
    let mut r = client()
        .request(method, h.url(request["target"].as_str().expect("target")))
        .basic_auth(user, Some(auth));
    if let Some(headers) = request["headers"].as_object() {
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("authorization") {
                r = r.header(k, v.as_str().expect("header"));
            }
        }
    }
    if let Some(form) = request.get("form").and_then(serde_json::Value::as_object) {
        let pairs: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("form").to_owned()))
            .collect();
        r = r.form(&pairs);
    } else if let Some(body) = request.get("body").and_then(serde_json::Value::as_str) {
        // A body recorded as sent gzip-compressed is kept as its text: compressed again here.
        if request["body_encoding"] == "gzip" {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(body.as_bytes()).expect("gzip");
            r = r.body(enc.finish().expect("gzip"));
        } else {
            r = r.body(body.to_owned());
        }
    }
    let resp = r.send().expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().expect("body").to_vec();
    let text = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .expect("gzip");
        s
    } else {
        String::from_utf8(bytes).expect("utf-8")
    };
    (status, text, headers)
}
