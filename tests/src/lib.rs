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

/// The password of the accounts [`sign_up`] makes.
pub const PASSWORD: &str = "correct horse battery";

/// An organization and its administrator (`email`, [`PASSWORD`]) made directly in the host's
/// database, with a fast password hash (the components verify any Argon2id hash by its own
/// parameters).
pub fn sign_up(
    db: &rusqlite::Connection,
    organization: &str,
    email: &str,
) -> (fieldline_storage::Tenant, fieldline_domain::UserId) {
    use fieldline_domain::{Email, OrgFields, OrgName, Password, PasswordHasher, Subscription};
    let hash = PasswordHasher::insecure_fast_for_tests()
        .hash(&Password::parse(PASSWORD).expect("password"))
        .expect("hash");
    let (tenant, _, user) = fieldline_storage::sign_up(
        db,
        &OrgFields::named(OrgName::parse(organization).expect("organization name")),
        &Subscription::default(),
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

/// A running host.
pub struct TestHost {
    child: Option<Child>,
    pub base: String,
    pub state: tempfile::TempDir,
    output: Arc<Mutex<Vec<String>>>,
}

/// How to start a host.
pub struct Start {
    pub manifest: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Whether to pass `--state-dir` (the temporary directory); see [`Start::no_state_dir_flag`].
    pub state_dir_flag: bool,
}

impl Start {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Start {
            manifest: manifest.into(),
            args: Vec::new(),
            env: Vec::new(),
            state_dir_flag: true,
        }
    }

    /// The application (the repository's `spin.toml`), with [`JWT_SECRET`] as its signing key.
    pub fn app() -> Self {
        Self::new(workspace().join("spin.toml")).env("SPIN_VARIABLE_JWT_SECRET", JWT_SECRET)
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
    pub fn start(s: Start) -> Result<Self> {
        let bin = build()?;
        let _starting = STARTING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = tempfile::tempdir()?;
        let mut cmd = Command::new(bin);
        cmd.arg("up")
            .arg("--from")
            .arg(&s.manifest)
            .arg("--listen")
            .arg("127.0.0.1:0");
        if s.state_dir_flag {
            cmd.arg("--state-dir").arg(state.path());
        }
        cmd.args(&s.args)
            .envs(s.env.iter().map(|(k, v)| (k, v)))
            .env("FIELDLINE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("cannot start the host")?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(out) = child.stdout.take() {
            pump(out, output.clone(), Some(tx));
        }
        if let Some(err) = child.stderr.take() {
            pump(err, output.clone(), None);
        }
        let mut host = TestHost {
            child: Some(child),
            base: String::new(),
            state,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                host.base = format!("http://{addr}");
                return Ok(host);
            }
            if let Some(status) = host
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                std::thread::sleep(Duration::from_millis(200));
                bail!(
                    "the host exited with {status} before serving:\n{}",
                    host.output()
                );
            }
            if Instant::now() > deadline {
                bail!("the host did not start within 300s:\n{}", host.output());
            }
        }
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

    /// The default SQLite database through fieldline-storage (migrated): how the tests set up
    /// organizations, devices and tokens with the same storage layer the components use.
    pub fn storage(&self) -> Result<rusqlite::Connection> {
        let db = fieldline_storage::native::open(&self.state.path().join("sqlite_db.db"))?;
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
