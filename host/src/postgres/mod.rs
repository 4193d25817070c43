//! `spin:postgres/postgres@4.0.0` (spin-sdk 5.x's `pg4`): PostgreSQL connections by connection
//! string, open only to the servers the component's `allowed_outbound_hosts` lists
//! (`postgres://host:port`), as Spin's `spin-factor-outbound-pg` checks them.
//!
//! The address is anything tokio-postgres parses: a libpq key=value string (`host=127.0.0.1
//! port=5432 user=postgres dbname=x`) or a URL (`postgres://user:pass@host:port/db`). One pool
//! (deadpool-postgres) per distinct address, shared by every instance of every component; a
//! guest `connection` holds one pooled client for its whole life, so `BEGIN` ... `COMMIT` on one
//! connection is one transaction. A client goes back to the pool when the guest drops the
//! connection or its instance ends, after a `ROLLBACK` (a transaction the guest left open ends
//! then, with its locks); before it is handed out again its session state is reset.
//!
//! No TLS: `sslmode=require` (or `verify-*`) in an address is refused with `connection-failed`.
//! The host reaches PostgreSQL on loopback or a private network; Spin itself negotiates TLS.

// The WIT's `error` (its `db-error` record is large) is what every function here hands the guest;
// boxing it would only be undone at the boundary, once a statement.
#![allow(clippy::result_large_err)]

mod convert;

use crate::allowed_hosts::AllowList;
use crate::bindings::pg::{self, Column, DbError, Error, ParameterValue, QueryError, RowSet};
use crate::bindings::View;
use crate::metrics::{recording, PostgresLabels};
use crate::telemetry::DbClock;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use wasmtime::component::Resource;

/// Connections per address when the host is not told otherwise (`--postgres-pool-size`).
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Distinct addresses (pools) the host keeps at once.
const MAX_POOLS: usize = 64;
/// The most one query's rows may hold in the host, as Spin's limit (128 MiB).
const MAX_RESULT_BYTES: usize = 128 << 20;
/// A guest waits this long for a pooled connection, then gets `connection-failed`.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting (and authenticating) to the server may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// What a client runs before it is handed out again: end whatever transaction the last guest
/// left (`ROLLBACK` outside one is only a warning), then deadpool's `Clean` reset of the
/// session (cursors, `SET`s, `LISTEN`s, advisory locks, temporary tables).
const RESET_SQL: &str = "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
    UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// The guest's open connection: one client of the address's pool, for the connection's life.
pub struct ConnectionHandle {
    client: Option<deadpool_postgres::Object>,
    /// Whether the guest ran a statement: it may have left a transaction open.
    used: bool,
}

impl ConnectionHandle {
    fn client(&self) -> Result<&deadpool_postgres::Object, Error> {
        self.client
            .as_ref()
            .ok_or_else(|| Error::ConnectionFailed("the connection is closed".into()))
    }
}

/// A client the guest used goes back to the pool only after `ROLLBACK`, run at once (not when
/// the pool hands it out again): a transaction the guest left open would otherwise keep its
/// locks while the client sits idle in the pool. A client whose `ROLLBACK` fails is closed.
impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.used {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = client.batch_execute("ROLLBACK").await {
                        tracing::warn!(
                            "postgres: closing a connection that could not roll back: {e}"
                        );
                        drop(deadpool_postgres::Object::take(client));
                    }
                });
            }
            // Outside the runtime (shutdown): the pool's reset rolls back before any reuse.
            Err(_) => drop(client),
        }
    }
}

/// Every pool, one per address, made on first use.
pub struct Pools {
    size: usize,
    pools: Mutex<HashMap<String, Pool>>,
}

impl Pools {
    pub fn new(size: usize) -> Self {
        Pools {
            size: size.max(1),
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn pool(&self, address: &str, config: tokio_postgres::Config) -> Result<Pool, String> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pools.get(address) {
            return Ok(p.clone());
        }
        // Addresses come from guests: pools that hold no connection (an address that never
        // connected, or one whose connections all closed) make room for new ones.
        if pools.len() >= MAX_POOLS {
            pools.retain(|_, p| p.status().size > 0);
            if pools.len() >= MAX_POOLS {
                return Err(format!(
                    "more than {MAX_POOLS} PostgreSQL addresses are in use by this host"
                ));
            }
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Custom(RESET_SQL.into()),
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| e.to_string())?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

impl Default for Pools {
    fn default() -> Self {
        Pools::new(DEFAULT_POOL_SIZE)
    }
}

/// Per-instance PostgreSQL state.
#[derive(Clone)]
pub struct PgState {
    pub component: Arc<str>,
    pub allowed: Arc<AllowList>,
    pub pools: Arc<Pools>,
    /// The instance's time in database calls, for its trace span (shared with SQLite and
    /// key-value; empty and free when traces are off).
    pub clock: DbClock,
}

/// Parses `address` and checks every host in it against the allow-list, as Spin does: a TCP
/// host is allowed when an entry admits `postgres://host:port` (the port at the same index, the
/// only port, or PostgreSQL's default); a Unix socket never is.
pub fn check_address(allowed: &AllowList, address: &str) -> Result<tokio_postgres::Config, Error> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e: tokio_postgres::Error| Error::ConnectionFailed(e.to_string()))?;
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        let host = match host {
            Host::Tcp(h) => h,
            #[cfg(unix)]
            Host::Unix(_) => {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported on WebAssembly".into(),
                ))
            }
        };
        let port = ports.get(i).or(if ports.len() == 1 {
            ports.first()
        } else {
            None
        });
        let shown = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        if !allowed.allows_url(&format!("postgres://{shown}")) {
            return Err(Error::ConnectionFailed(format!(
                "address postgres://{shown} is not permitted"
            )));
        }
    }
    if config.get_hosts().is_empty() {
        return Err(Error::ConnectionFailed(
            "the address names no host (add host=... or postgres://host)".into(),
        ));
    }
    if !matches!(config.get_ssl_mode(), SslMode::Disable | SslMode::Prefer) {
        return Err(Error::ConnectionFailed(
            "TLS to PostgreSQL is not supported by this host: leave sslmode out (or `disable`, `prefer`) and reach the server over loopback or a private network".into(),
        ));
    }
    Ok(config)
}

/// A PostgreSQL error as the WIT's `query-failed`: the server's error with its SQLSTATE and
/// fields when it sent one, else the client's message.
fn query_failed(e: &tokio_postgres::Error) -> Error {
    let as_text = format!("{e:?}");
    Error::QueryFailed(match e.as_db_error() {
        None => QueryError::Text(as_text),
        Some(d) => {
            let mut extras = Vec::new();
            let mut extra = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    extras.push((k.to_owned(), v));
                }
            };
            extra("column", d.column().map(str::to_owned));
            extra("constraint", d.constraint().map(str::to_owned));
            extra("routine", d.routine().map(str::to_owned));
            extra("hint", d.hint().map(str::to_owned));
            extra("table", d.table().map(str::to_owned));
            extra("datatype", d.datatype().map(str::to_owned));
            extra("schema", d.schema().map(str::to_owned));
            extra("file", d.file().map(str::to_owned));
            extra("line", d.line().map(|l| l.to_string()));
            extra("where_", d.where_().map(str::to_owned));
            QueryError::DbError(DbError {
                as_text,
                severity: d.severity().to_owned(),
                code: d.code().code().to_owned(),
                message: d.message().to_owned(),
                detail: d.detail().map(str::to_owned),
                extras,
            })
        }
    })
}

fn params(ps: &[ParameterValue]) -> Result<Vec<convert::SqlParam>, Error> {
    ps.iter()
        .map(convert::param)
        .collect::<Result<_, _>>()
        .map_err(Error::BadParameter)
}

fn refs(ps: &[convert::SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    ps.iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl ConnectionHandle {
    async fn execute(&mut self, sql: &str, ps: &[ParameterValue]) -> Result<u64, Error> {
        let ps = params(ps)?;
        self.used = true;
        self.client()?
            .execute(sql, &refs(&ps))
            .await
            .map_err(|e| query_failed(&e))
    }

    async fn query(&mut self, sql: &str, ps: &[ParameterValue]) -> Result<RowSet, Error> {
        let ps = params(ps)?;
        self.used = true;
        let client = self.client()?;
        let rows = client
            .query(sql, &refs(&ps))
            .await
            .map_err(|e| query_failed(&e))?;
        // As Spin: the columns are the first row's, so a query that returns no row has none.
        let columns = rows.first().map_or_else(Vec::new, |row| {
            row.columns()
                .iter()
                .map(|c| Column {
                    name: c.name().to_owned(),
                    data_type: convert::data_type(c.type_()),
                })
                .collect()
        });
        let mut bytes = 0usize;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let values = (0..row.len())
                .map(|i| convert::value(row, i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::QueryFailed(QueryError::Text(e.to_string())))?;
            bytes += values.iter().map(convert::size).sum::<usize>();
            if bytes > MAX_RESULT_BYTES {
                return Err(Error::QueryFailed(QueryError::Text(format!(
                    "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
                ))));
            }
            out.push(values);
        }
        Ok(RowSet { columns, rows: out })
    }
}

impl View<'_, PgState> {
    fn record<T>(&self, kind: &'static str, started: Instant, r: &Result<T, Error>) {
        let Some(m) = recording() else { return };
        m.postgres_statements
            .get_or_create(&PostgresLabels {
                component: self.state.component.clone(),
                kind,
                outcome: if r.is_ok() { "ok" } else { "error" },
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

impl pg::Host for View<'_, PgState> {}

impl pg::HostConnection for View<'_, PgState> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        let config = match check_address(&self.state.allowed, &address) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let pool = match self.state.pools.pool(&address, config) {
            Ok(p) => p,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e))),
        };
        match self.state.clock.time(pool.get()).await {
            Ok(client) => Ok(Ok(self.table.push(ConnectionHandle {
                client: Some(client),
                used: false,
            })?)),
            Err(e) => Ok(Err(Error::ConnectionFailed(match e {
                deadpool_postgres::PoolError::Backend(e) => format!("{e:?}"),
                e => e.to_string(),
            }))),
        }
    }

    async fn query(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let started = Instant::now();
        let handle = self.table.get_mut(&conn)?;
        let r = self
            .state
            .clock
            .time(handle.query(&statement, &params))
            .await;
        self.record("query", started, &r);
        Ok(r)
    }

    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let started = Instant::now();
        let handle = self.table.get_mut(&conn)?;
        let r = self
            .state
            .clock
            .time(handle.execute(&statement, &params))
            .await;
        self.record("execute", started, &r);
        Ok(r)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    fn denied(r: Result<tokio_postgres::Config, Error>) -> String {
        match r {
            Err(Error::ConnectionFailed(m)) => m,
            Err(e) => panic!("not connection-failed: {e:?}"),
            Ok(_) => panic!("allowed"),
        }
    }

    #[test]
    fn addresses_are_checked_against_postgres_entries() {
        let l = allow(&["postgres://127.0.0.1:5432"]);
        for ok in [
            "host=127.0.0.1 port=5432 user=postgres dbname=x",
            "host=127.0.0.1 user=postgres",
            "postgres://postgres@127.0.0.1:5432/x",
            "postgres://postgres@127.0.0.1/x",
            "postgresql://127.0.0.1/x?sslmode=disable",
        ] {
            assert!(check_address(&l, ok).is_ok(), "{ok}");
        }
        assert_eq!(
            denied(check_address(&l, "postgres://postgres@localhost:5432/x")),
            "address postgres://localhost:5432 is not permitted"
        );
        assert_eq!(
            denied(check_address(&l, "host=127.0.0.1 port=5433")),
            "address postgres://127.0.0.1:5433 is not permitted"
        );
        // Every host of a multi-host address must be allowed.
        denied(check_address(&l, "host=127.0.0.1,10.0.0.1 port=5432"));
        denied(check_address(&l, "host=/var/run/postgresql"));
        denied(check_address(
            &allow(&["mqtt://127.0.0.1:5432"]),
            "host=127.0.0.1",
        ));
        denied(check_address(&AllowList::default(), "host=127.0.0.1"));
        assert!(check_address(&allow(&["postgres://*:*"]), "host=db.example port=6000").is_ok());
    }

    #[test]
    fn bad_addresses_and_tls_are_connection_failures() {
        let l = allow(&["postgres://*:*"]);
        denied(check_address(&l, "not a connection string"));
        denied(check_address(&l, "postgres://127.0.0.1:notaport/x"));
        denied(check_address(&l, "user=postgres"));
        let tls = denied(check_address(&l, "postgres://127.0.0.1/x?sslmode=require"));
        assert!(tls.contains("TLS"), "{tls}");
    }
}
