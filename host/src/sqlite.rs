//! `fermyon:spin/sqlite@2.0.0`: databases by label over [`crate::db::Database`], open only to the
//! components that list the label in `sqlite_databases`.

use crate::bindings::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::bindings::View;
use crate::db::{Database, Session, SqlError, SqlValue};
use crate::manifest::Manifest;
use crate::runtime_config::RuntimeConfig;
use crate::telemetry::DbClock;
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::Resource;

/// The guest's open connection.
pub struct ConnectionHandle(Session);

/// Per-instance SQLite state: the databases this component may open.
#[derive(Clone, Default)]
pub struct SqliteState {
    pub allowed: Arc<HashMap<String, Database>>,
    /// The instance's database time, for its trace span.
    pub clock: DbClock,
}

/// Every database some component uses, opened once at start-up and shared by all instances.
pub struct SqliteDatabases(HashMap<String, Database>);

impl SqliteDatabases {
    /// Opens only the databases some component lists, and refuses labels the runtime config does
    /// not define (all of them in one error), as Spin does.
    pub fn open(manifest: &Manifest, runtime: &RuntimeConfig) -> Result<Self> {
        let mut dbs = HashMap::new();
        let mut undefined = Vec::new();
        for c in manifest.components.values() {
            for label in &c.sqlite_databases {
                if dbs.contains_key(label) {
                    continue;
                }
                match runtime.sqlite_databases.get(label) {
                    Some(cfg) => {
                        dbs.insert(label.clone(), Database::open(&cfg.path)?);
                    }
                    None => undefined.push(format!("- Component {} uses database '{label}'", c.id)),
                }
            }
        }
        if !undefined.is_empty() {
            bail!(
                "{}: one or more components use SQLite databases which are not defined.\nCheck the spelling, or pass a runtime configuration file that defines these databases ([sqlite_database.<label>]).\nDetails:\n{}",
                manifest.file.display(),
                undefined.join("\n")
            );
        }
        Ok(SqliteDatabases(dbs))
    }

    /// The file of the database labelled `label`, if some component uses it.
    pub fn path(&self, label: &str) -> Option<&std::path::Path> {
        self.0.get(label).map(Database::path)
    }

    /// The state of a component that lists `labels` in `sqlite_databases`.
    pub fn state_for(&self, labels: &[String]) -> SqliteState {
        SqliteState {
            allowed: Arc::new(
                labels
                    .iter()
                    .filter_map(|l| self.0.get(l).map(|d| (l.clone(), d.clone())))
                    .collect(),
            ),
            clock: DbClock::default(),
        }
    }

    /// The databases, for shutdown.
    pub fn into_databases(self) -> impl Iterator<Item = Database> {
        self.0.into_values()
    }
}

fn to_sql(v: Value) -> SqlValue {
    match v {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(t) => SqlValue::Text(t),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    }
}

fn from_sql(v: SqlValue) -> Value {
    match v {
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(t) => Value::Text(t),
        SqlValue::Blob(b) => Value::Blob(b),
        SqlValue::Null => Value::Null,
    }
}

impl sqlite::Host for View<'_, SqliteState> {}

impl sqlite::HostConnection for View<'_, SqliteState> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        let Some(db) = self.state.allowed.get(&database) else {
            return Ok(Err(Error::AccessDenied));
        };
        let handle = ConnectionHandle(db.session());
        Ok(Ok(self.table.push(handle)?))
    }

    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let clock = &self.state.clock;
        let session = &mut self.table.get_mut(&conn)?.0;
        let params = parameters.into_iter().map(to_sql).collect();
        Ok(match clock.time(session.execute(statement, params)).await {
            Ok(r) => Ok(QueryResult {
                columns: r.columns,
                rows: r
                    .rows
                    .into_iter()
                    .map(|row| RowResult {
                        values: row.into_iter().map(from_sql).collect(),
                    })
                    .collect(),
            }),
            Err(SqlError::DatabaseFull) => Err(Error::DatabaseFull),
            Err(SqlError::Io(m)) => Err(Error::Io(m)),
        })
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
