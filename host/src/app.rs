//! A loaded application: the manifest, its compiled components ready to instantiate, and the
//! stores they share.

use crate::allowed_hosts::AllowList;
use crate::bindings::{self, WithTable};
use crate::db::Database;
use crate::files::stage_files;
use crate::kv::{KvState, KvStores};
use crate::manifest::{Manifest, RouteSpec};
use crate::mqtt::MqttState;
use crate::outbound_http::OutboundHttp;
use crate::postgres::{PgState, Pools};
use crate::routes::{Route, Router};
use crate::runtime_config::RuntimeConfig;
use crate::sqlite::{SqliteDatabases, SqliteState};
use crate::state::Ctx;
use crate::stdio::Stdio;
use crate::variables::{ComponentVariables, Resolver, Variables};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimitsBuilder};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpCtx;

/// How often the epoch ticks; deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Memory, table and stack bytes kept mapped between instances in the pool.
const KEEP_RESIDENT: usize = 8 << 20;

/// Host settings that are not in the manifest.
#[derive(Debug, Clone)]
pub struct Options {
    pub state_dir: PathBuf,
    pub runtime_config: Option<PathBuf>,
    /// Where compiled components are cached between runs (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// A component that takes longer than this to set its response, or to send the next chunk
    /// of its body, is stopped: answered with a 500, or its body broken off.
    pub request_timeout: Duration,
    /// Largest linear memory one instance may grow to.
    pub max_instance_memory: usize,
    /// PostgreSQL connections kept per connection string (`spin:postgres`), shared by every
    /// instance; a guest connection holds one until it is dropped.
    pub postgres_pool_size: usize,
}

impl Options {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Options {
            state_dir: state_dir.into(),
            runtime_config: None,
            cache_dir: default_cache_dir(),
            request_timeout: Duration::from_secs(30),
            max_instance_memory: 256 << 20,
            postgres_pool_size: crate::postgres::DEFAULT_POOL_SIZE,
        }
    }
}

/// `$XDG_CACHE_HOME/fieldline` or `~/.cache/fieldline`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("fieldline"))
}

/// What one component needs for every instance.
pub struct Prepared {
    pub id: String,
    pre: InstancePre<Ctx>,
    proxy: Option<ProxyPre<Ctx>>,
    env: Vec<(String, String)>,
    files: Option<PathBuf>,
    kv: KvState,
    sqlite: SqliteState,
    mqtt: MqttState,
    postgres: PgState,
    outbound: OutboundHttp,
    variables: Arc<ComponentVariables>,
}

pub struct App {
    pub manifest: Manifest,
    pub options: Options,
    pub engine: Engine,
    pub router: Router,
    components: HashMap<String, Prepared>,
    databases: Vec<Database>,
    /// The application variables, for trigger settings that hold templates.
    pub resolver: Resolver,
    /// Compile and instantiate-pre time per component, for the start-up log.
    pub load_times: Vec<(String, Duration)>,
    cache: Option<wasmtime::Cache>,
}

/// Fieldline's own database: a schema newer than this release's components know was written by a
/// newer release, and every request would fail on it (`SchemaTooNew`); refusing to start says so
/// once, plainly. Other applications' databases are theirs to version.
fn refuse_newer_schema(path: &Path) -> Result<()> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", path.display()))?;
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("cannot read the schema version of {}", path.display()))?;
    let known = fieldline_storage::SCHEMA_VERSION;
    if found > known {
        bail!(
            "{}: its schema version is {found}, newer than this release of Fieldline knows ({known}): a newer release has upgraded it. Run that release, or restore the backup taken before the upgrade into a new state directory (docs/operations.md, Upgrade)",
            path.display()
        );
    }
    Ok(())
}

/// wasmtime serve's test: can this machine reserve the address space pooling needs?
fn pooling_fits() -> bool {
    let mut config = wasmtime::Config::new();
    config.memory_reservation(1 << 32);
    let Ok(engine) = Engine::new(&config) else {
        return false;
    };
    let mut store = Store::new(&engine, ());
    let ty = wasmtime::MemoryType::new(0, Some(1));
    (0..8).all(|_| wasmtime::Memory::new(&mut store, ty.clone()).is_ok())
}

/// The engine, and its compiled-code cache if it has one (for the hit and miss counts).
pub fn engine(options: &Options) -> Result<(Engine, Option<wasmtime::Cache>)> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pooling_fits() {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(1000);
        pool.total_memories(1000);
        pool.total_tables(2000);
        pool.total_stacks(1000);
        pool.max_memory_size(options.max_instance_memory);
        // Reset the pages an instance used with memset rather than handing them back to the
        // kernel: madvise on every request costs TLB shootdowns on all cores, which profiling
        // showed to be most of the time per request.
        pool.linear_memory_keep_resident(KEEP_RESIDENT);
        // Reset only the pages an instance wrote, found with the PAGEMAP_SCAN ioctl (Linux 6.7+;
        // `Auto` falls back to the memset above where the kernel lacks it). In a profile of
        // `scripts/bench host` insert32 this removed the mprotect calls and TLB-shootdown IPIs
        // of slot reuse (10% of the host's samples); see docs/benchmarks.md.
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        pool.table_keep_resident(KEEP_RESIDENT);
        pool.async_stack_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    } else {
        tracing::warn!(
            "the address space is too small for the pooling allocator; using on-demand allocation"
        );
    }
    let mut cache = None;
    if let Some(dir) = &options.cache_dir {
        let mut settings = wasmtime::CacheConfig::new();
        settings.with_directory(dir.join("wasmtime"));
        match wasmtime::Cache::new(settings) {
            Ok(c) => {
                config.cache(Some(c.clone()));
                cache = Some(c);
            }
            Err(e) => tracing::warn!("compiled-code cache disabled: {e:#}"),
        }
    }
    let engine =
        Engine::new(&config).map_err(|e| anyhow!("cannot create the wasmtime engine: {e:#}"))?;
    Ok((engine, cache))
}

fn linker(engine: &Engine) -> Result<Linker<Ctx>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::key_value::add_to_linker::<Ctx, WithTable<KvState>>(&mut linker, Ctx::kv_view)?;
    bindings::sqlite::add_to_linker::<Ctx, WithTable<SqliteState>>(&mut linker, Ctx::sqlite_view)?;
    bindings::mqtt::add_to_linker::<Ctx, WithTable<MqttState>>(&mut linker, Ctx::mqtt_view)?;
    bindings::pg::add_to_linker::<Ctx, WithTable<PgState>>(&mut linker, Ctx::postgres_view)?;
    bindings::variables::add_to_linker::<Ctx, Variables>(&mut linker, Ctx::variables_view)?;
    Ok(linker)
}

/// A component's `allowed_outbound_hosts` with their `{{ variable }}` templates expanded, as Spin
/// (2.4 and later) does when the application starts: `postgres://{{ postgres_host }}` admits the
/// server the deployment names. A template whose variable has no value stops the start.
fn expand_allowed_hosts(resolver: &Resolver, entries: &[String], ctx: &str) -> Result<Vec<String>> {
    entries
        .iter()
        .map(|entry| {
            if !entry.contains("{{") {
                return Ok(entry.clone());
            }
            resolver.expand_template(entry).map_err(|e| {
                anyhow!(
                    "{ctx}: allowed_outbound_hosts entry `{entry}`: {}",
                    e.message()
                )
            })
        })
        .collect()
}

impl App {
    /// Loads the manifest at `path`, compiles its components and opens their stores.
    pub async fn load(path: &Path, options: Options) -> Result<Self> {
        let manifest = Manifest::load(path)?;
        Self::from_manifest(manifest, options).await
    }

    pub async fn from_manifest(manifest: Manifest, options: Options) -> Result<Self> {
        let file = manifest.file.display().to_string();
        let runtime = match &options.runtime_config {
            Some(p) => RuntimeConfig::load(p)?,
            None => RuntimeConfig::default(),
        }
        .with_defaults(&options.state_dir);

        let kv_stores = KvStores::open(&manifest, &runtime).await?;
        let sqlite_dbs = SqliteDatabases::open(&manifest, &runtime)?;
        if manifest.application.name == "fieldline" {
            if let Some(path) = sqlite_dbs.path("default") {
                refuse_newer_schema(path)?;
            }
        }
        let resolver = Resolver::from_process_env(&manifest);

        let (engine, cache) = engine(&options)?;
        let linker = linker(&engine)?;
        let pg_pools = Arc::new(Pools::new(options.postgres_pool_size));
        let mut components = HashMap::new();
        let mut load_times = Vec::new();
        for (id, decl) in &manifest.components {
            let started = Instant::now();
            let ctx = format!("{file}: component `{id}`");
            if !decl.source.exists() {
                bail!("{ctx}: source {} does not exist (build it first: scripts/up builds every component)", decl.source.display());
            }
            let component = Component::from_file(&engine, &decl.source)
                .map_err(|e| anyhow!("{ctx}: cannot compile {}: {e:#}", decl.source.display()))?;
            let pre = linker.instantiate_pre(&component).map_err(|e| {
                anyhow!("{ctx}: imports something this host does not provide: {e:#}")
            })?;
            let proxy = ProxyPre::new(pre.clone()).ok();
            let allowed = Arc::new(
                AllowList::parse(&expand_allowed_hosts(
                    &resolver,
                    &decl.allowed_outbound_hosts,
                    &ctx,
                )?)
                .map_err(|e| anyhow!("{ctx}: allowed_outbound_hosts: {e}"))?,
            );
            let files = stage_files(
                &manifest.dir,
                &options.state_dir,
                id,
                &decl.files,
                &decl.exclude_files,
            )
            .with_context(|| format!("{ctx}: key `files`"))?;
            let prepared = Prepared {
                id: id.clone(),
                pre,
                proxy,
                env: decl
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                files,
                kv: kv_stores.state_for(&decl.key_value_stores),
                sqlite: sqlite_dbs.state_for(&decl.sqlite_databases),
                mqtt: MqttState {
                    allowed: allowed.clone(),
                },
                postgres: PgState {
                    component: Arc::from(id.as_str()),
                    allowed: allowed.clone(),
                    pools: pg_pools.clone(),
                    clock: crate::telemetry::DbClock::default(),
                },
                outbound: OutboundHttp::new(id, allowed),
                variables: Arc::new(resolver.component_values(id, &decl.variables)),
            };
            load_times.push((id.clone(), started.elapsed()));
            components.insert(id.clone(), prepared);
        }

        let mut routes = Vec::new();
        for t in &manifest.http_triggers {
            let RouteSpec::Public(r) = &t.route else {
                continue;
            };
            let c = &components[&t.component];
            if c.proxy.is_none() {
                bail!("{file}: component `{}` is on route `{r}` but does not export wasi:http/incoming-handler (is it an HTTP component built with spin-sdk's #[http_component]?)", t.component);
            }
            routes.push(
                Route::new(r, &t.component).map_err(|e| anyhow!("{file}: route `{r}`: {e}"))?,
            );
        }
        let (router, replaced) = Router::new(routes);
        for (old, winner) in replaced {
            tracing::warn!("{file}: route `{}` of component `{}` is a duplicate and will never be used (`{winner}` has it)", old.raw, old.component);
        }
        let mut databases: Vec<Database> = sqlite_dbs.into_databases().collect();
        databases.extend(kv_stores.into_databases());
        Ok(App {
            manifest,
            options,
            engine,
            router,
            components,
            databases,
            resolver,
            load_times,
            cache,
        })
    }

    /// The compiled-code cache's directory, and how many compilations it answered (reused) and
    /// how many it did not (compiled, then stored), so far.
    pub fn cache_use(&self) -> Option<(&Path, usize, usize)> {
        self.cache
            .as_ref()
            .map(|c| (c.directory().as_path(), c.cache_hits(), c.cache_misses()))
    }

    pub fn component(&self, id: &str) -> Result<&Prepared> {
        self.components
            .get(id)
            .ok_or_else(|| anyhow!("no component `{id}` in {}", self.manifest.file.display()))
    }

    /// A fresh store for one instance of `c`, with its deadline set.
    pub fn store(&self, c: &Prepared) -> Store<Ctx> {
        self.store_with_stderr(c, Stdio::Stderr)
    }

    /// [`App::store`] with the guest's stderr going to `stderr` (the MQTT trigger reads the
    /// points a component reports there: [`crate::stdio::Reported`]).
    pub fn store_with_stderr(
        &self,
        c: &Prepared,
        stderr: impl wasmtime_wasi::cli::StdoutStream + 'static,
    ) -> Store<Ctx> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(Stdio::Stdout).stderr(stderr).envs(&c.env);
        if let Some(dir) = &c.files {
            if let Err(e) = wasi.preopened_dir(dir, "/", FsPerms::ReadOnly) {
                tracing::error!("component {}: cannot mount its files: {e:#}", c.id);
            }
        }
        // wasi:sockets as Spin allows them: each remote address checked against the
        // component's allowed_outbound_hosts (`tcp://ip:port`, `udp://ip:port`); listening,
        // accepting and explicit binds never (wasmtime asks about the implicit bind of a
        // connect with the wildcard address and port 0, which is allowed); name lookups only
        // for a component that may open sockets at all. Without such an entry every socket is
        // denied (wasmtime's default check).
        let allowed = c.mqtt.allowed.clone();
        let (tcp, udp) = (allowed.admits_scheme("tcp"), allowed.admits_scheme("udp"));
        if tcp || udp {
            wasi.allow_tcp(tcp)
                .allow_udp(udp)
                .allow_ip_name_lookup(true)
                .socket_addr_check(move |addr, usage| {
                    let implicit_bind = addr.ip().is_unspecified() && addr.port() == 0;
                    let ok = match usage {
                        SocketAddrUse::TcpBind => tcp && implicit_bind,
                        SocketAddrUse::UdpBind => udp && implicit_bind,
                        SocketAddrUse::TcpConnect => allowed.allows_socket(addr, true),
                        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                            allowed.allows_socket(addr, false)
                        }
                        SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
                    };
                    Box::pin(async move { ok })
                });
        }
        // The instance's time in database calls, for its trace span (nothing when traces are off).
        let clock = crate::telemetry::DbClock::new();
        let ctx = Ctx {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: c.outbound.clone(),
            kv: KvState {
                clock: clock.clone(),
                ..c.kv.clone()
            },
            sqlite: SqliteState {
                clock: clock.clone(),
                ..c.sqlite.clone()
            },
            mqtt: c.mqtt.clone(),
            postgres: PgState {
                clock,
                ..c.postgres.clone()
            },
            variables: c.variables.clone(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.options.max_instance_memory)
                .instances(100)
                .build(),
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|c| &mut c.limits);
        let ticks = (self.options.request_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        store
    }

    /// The component pre-instantiated with every import linked.
    pub fn pre<'a>(&self, c: &'a Prepared) -> &'a InstancePre<Ctx> {
        &c.pre
    }

    pub fn proxy<'a>(&self, c: &'a Prepared) -> Option<&'a ProxyPre<Ctx>> {
        c.proxy.as_ref()
    }

    /// Every database file the application's stores use (SQLite databases and key-value stores).
    pub fn databases(&self) -> &[Database] {
        &self.databases
    }

    /// Lets every database writer finish what it has queued.
    pub fn shutdown(&self) {
        for db in &self.databases {
            db.shutdown();
        }
    }

    /// Starts the thread that advances the epoch, which is what makes deadlines fire.
    pub fn start_epoch_ticker(&self) {
        let engine = self.engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            })
            .ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
postgres_host = { required = true }
[component.c]
source = "c.wasm"
allowed_outbound_hosts = ["postgres://{{ postgres_host }}", "https://example.com"]
"#,
            Path::new("spin.toml"),
        )
        .expect("valid manifest")
    }

    #[test]
    fn allowed_host_templates_expand_from_the_variables() {
        let m = manifest();
        let entries = &m.components["c"].allowed_outbound_hosts;
        let set = Resolver::new(&m, |k| {
            (k == "SPIN_VARIABLE_POSTGRES_HOST").then(|| "db.internal:6432".to_string())
        });
        let expanded = expand_allowed_hosts(&set, entries, "spin.toml: component `c`").unwrap();
        assert_eq!(
            expanded,
            ["postgres://db.internal:6432", "https://example.com"]
        );
        let list = AllowList::parse(&expanded).unwrap();
        assert!(list.allows("postgres", "db.internal", 6432));
        assert!(!list.allows("postgres", "db.internal", 5432));

        let unset = Resolver::new(&m, |_| None);
        let e = expand_allowed_hosts(&unset, entries, "spin.toml: component `c`")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("component `c`") && e.contains("postgres_host"),
            "{e}"
        );
    }
}
