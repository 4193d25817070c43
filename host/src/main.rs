//! `fieldline`: run a Spin application (`fieldline up`) or one cron tick of it (`fieldline trigger
//! cron`); back its state up and restore it (`fieldline backup`, `fieldline restore`).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fieldline_host::runtime_config::RuntimeConfig;
use fieldline_host::{backup, cron_trigger, http_trigger, mqtt_trigger, App, Options};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// mimalloc rather than glibc's malloc, whose `malloc`, `free` and `malloc_consolidate` were 8% of
/// the host's samples on `scripts/bench host` insert32. It cut the host's CPU a request there by
/// 8% (docs/benchmarks.md, 2026-12-02).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "fieldline",
    version,
    about = "Runs a Spin application (spin.toml) on wasmtime"
)]
struct Cli {
    /// Log lines as text, or as one JSON object a line (for a log collector). Levels per module
    /// come from FIELDLINE_LOG, in RUST_LOG's syntax (e.g. `info,fieldline::request=warn`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FIELDLINE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr, filtered by FIELDLINE_LOG. What the host logs never holds a secret: request
/// lines carry the path without its query (where InfluxDB clients put `p=`), MQTT lines the
/// subscription rather than the topic, variables are never logged.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIELDLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wasmtime_wasi_http=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

#[derive(clap::Args, Clone)]
struct AppArgs {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Where the default SQLite database and key-value store live [default: the runtime config's
    /// `state_dir`, else .spin beside the manifest].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// A runtime configuration file in Spin's format (key_value_store, sqlite_database).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Stop a component that takes this long to answer (500), or to send the next chunk of
    /// its body (broken off) (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Where compiled components are cached between runs [default: ~/.cache/fieldline].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// PostgreSQL connections kept open per connection string that components use
    /// (spin:postgres); a component's open connection holds one, more wait up to 30 s.
    #[arg(long, default_value_t = fieldline_host::postgres::DEFAULT_POOL_SIZE, env = "FIELDLINE_POSTGRES_POOL_SIZE", value_parser = clap::value_parser!(usize))]
    postgres_pool_size: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application's HTTP routes and run its cron and MQTT triggers.
    Up {
        #[command(flatten)]
        app: AppArgs,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000", env = "SPIN_HTTP_LISTEN_ADDR")]
        listen: SocketAddr,
        /// Requests handled at once, and MQTT messages handled at once; more wait.
        #[arg(long, default_value_t = 256)]
        max_concurrent: usize,
        /// Largest request body, in bytes.
        #[arg(long, default_value_t = 16 << 20)]
        max_body_bytes: usize,
        /// Request bodies held in memory at once, in bytes (read whole before a request is
        /// handled, so a slow client never holds one of the --max-concurrent slots).
        #[arg(long, default_value_t = 256 << 20)]
        max_buffered_bytes: usize,
        /// Connections open at once; more wait in the listen backlog.
        #[arg(long, default_value_t = 4096)]
        max_connections: usize,
        /// How long a request's headers may take to arrive, and an idle connection may stay open.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        header_timeout: Duration,
        /// How long a request's body may take to arrive once its headers have (then 408).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        body_timeout: Duration,
        /// Serve Prometheus metrics at http://ADDR/metrics, on this address only (not on
        /// --listen): keep it on loopback or an operators' network. Off when not given, and
        /// then requests, statements and instantiations are not measured at all.
        #[arg(long, env = "FIELDLINE_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// Run no cron trigger: the scheduled jobs then run only when their HTTP routes are
        /// called (`/maintenance/run`, `/notifier/run`), as on platforms without a cron trigger
        /// (SpinKube, Akamai Functions) or under an outside scheduler.
        #[arg(long)]
        no_cron: bool,
    },
    /// Copy every store of a state directory into one file, while the host runs.
    Backup {
        /// The state directory `fieldline up` uses.
        #[arg(long)]
        state_dir: PathBuf,
        /// The backup file to write (a tar archive).
        #[arg(long)]
        to: PathBuf,
    },
    /// Bring a backup back into an empty state directory.
    Restore {
        /// The backup file `fieldline backup` wrote.
        #[arg(long)]
        from: PathBuf,
        /// The state directory to fill: empty or not there yet.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Run triggers by hand.
    Trigger {
        #[command(subcommand)]
        trigger: TriggerCommand,
    },
}

#[derive(Subcommand)]
enum TriggerCommand {
    /// Run one tick of a cron component now, against the same state as `up`.
    Cron {
        /// The component to run.
        component: String,
        /// The tick's scheduled time, in seconds since 1970, as a cron trigger passes it: of
        /// several replicas given the same tick, one does its work. Without it the component
        /// gets 0, a run on demand, which always runs.
        #[arg(long)]
        timestamp: Option<u64>,
        #[command(flatten)]
        app: AppArgs,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 30s or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{s}` is not a duration such as 30s or 500ms")),
    }
}

fn options(args: &AppArgs) -> Result<Options> {
    let manifest_dir = args
        .from
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let runtime = match &args.runtime_config_file {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    let state_dir = runtime.state_dir(args.state_dir.as_deref(), &manifest_dir.join(".spin"))?;
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let mut options = Options::new(std::fs::canonicalize(&state_dir)?);
    options.runtime_config = args.runtime_config_file.clone();
    options.request_timeout = args.request_timeout;
    options.postgres_pool_size = args.postgres_pool_size;
    if let Some(c) = &args.cache_dir {
        options.cache_dir = Some(c.clone());
    }
    Ok(options)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Up {
            app,
            listen,
            max_concurrent,
            max_body_bytes,
            max_buffered_bytes,
            max_connections,
            header_timeout,
            body_timeout,
            metrics_listen,
            no_cron,
        } => {
            let started = std::time::Instant::now();
            fieldline_host::telemetry::init()?;
            if metrics_listen.is_some() {
                fieldline_host::metrics::record();
            }
            let app = Arc::new(App::load(&app.from, options(&app)?).await?);
            for (id, t) in &app.load_times {
                tracing::info!("component {id} ready in {t:.2?}");
            }
            if let Some((dir, reused, compiled)) = app.cache_use() {
                tracing::info!(
                    "compiled-code cache {}: {reused} reused, {compiled} compiled",
                    dir.display()
                );
            }
            app.start_epoch_ticker();
            let listener = http_trigger::bind(listen).await?;
            let local = listener.local_addr()?;
            if let Some(addr) = metrics_listen {
                let listener = http_trigger::bind(addr).await?;
                println!("Metrics at http://{}/metrics", listener.local_addr()?);
                tokio::spawn(fieldline_host::metrics::serve(listener, app.clone()));
            }
            let crons = if no_cron {
                Vec::new()
            } else {
                cron_trigger::spawn_all(app.clone())?
            };
            let mqtt = mqtt_trigger::spawn_all(app.clone(), max_concurrent).await?;
            println!("Serving http://{local}");
            for r in app.router.routes() {
                println!("  {}: http://{local}{}", r.component, r.raw);
            }
            tracing::info!("ready in {:.2?}", started.elapsed());
            let limits = http_trigger::Limits {
                max_concurrent,
                max_body_bytes,
                max_buffered_bytes,
                max_connections,
                header_timeout,
                body_timeout,
            };
            http_trigger::serve(app.clone(), listener, limits, shutdown_signal()).await?;
            for c in crons {
                c.abort();
            }
            mqtt.shutdown(Duration::from_secs(10)).await;
            app.shutdown();
            fieldline_host::telemetry::flush(Duration::from_secs(5)).await;
            Ok(())
        }
        Command::Backup { state_dir, to } => {
            let s = backup::backup(&state_dir, &to)?;
            println!(
                "backed up {} stores ({} bytes) of {} to {} in {:.1}s",
                s.stores,
                s.bytes,
                state_dir.display(),
                to.display(),
                s.seconds
            );
            Ok(())
        }
        Command::Restore { from, state_dir } => {
            let s = backup::restore(&from, &state_dir)?;
            println!(
                "restored {} stores ({} bytes) from {} into {} in {:.1}s",
                s.stores,
                s.bytes,
                from.display(),
                state_dir.display(),
                s.seconds
            );
            Ok(())
        }
        Command::Trigger {
            trigger:
                TriggerCommand::Cron {
                    component,
                    timestamp,
                    app,
                },
        } => {
            fieldline_host::telemetry::init()?;
            let app = App::load(&app.from, options(&app)?).await?;
            app.start_epoch_ticker();
            let result = cron_trigger::handle_event(&app, &component, timestamp.unwrap_or(0)).await;
            app.shutdown();
            fieldline_host::telemetry::flush(Duration::from_secs(5)).await;
            result.with_context(|| format!("cron component `{component}` failed"))?;
            println!("cron component `{component}` ran once");
            Ok(())
        }
    }
}
