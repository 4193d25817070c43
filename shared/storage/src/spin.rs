//! [`Db`] over Spin's SQLite interface (`fermyon:spin/sqlite@2.0.0`), in components.

use spin_sdk::sqlite::{self, Connection};

use crate::db::{Db, Rows, Value};
use crate::error::{BackendFailure, Error, Result};

/// Spin's SQLite error, classified by its variant.
pub fn backend_error(e: sqlite::Error) -> Error {
    let kind = match &e {
        sqlite::Error::DatabaseFull => BackendFailure::Full,
        sqlite::Error::NoSuchDatabase
        | sqlite::Error::AccessDenied
        | sqlite::Error::InvalidConnection => BackendFailure::Unavailable,
        sqlite::Error::Io(_) => BackendFailure::Other,
    };
    Error::backend(
        kind,
        match e {
            sqlite::Error::NoSuchDatabase => {
                "no such database: add it to `sqlite_databases` of the component in spin.toml \
                 (and to the runtime configuration if it is not \"default\")"
                    .into()
            }
            sqlite::Error::AccessDenied => {
                "access denied: add the database to `sqlite_databases` of the component in \
                 spin.toml"
                    .into()
            }
            sqlite::Error::InvalidConnection => "invalid connection".into(),
            sqlite::Error::DatabaseFull => "the database is full".into(),
            sqlite::Error::Io(msg) => msg,
        },
    )
}

fn to_spin(v: &Value) -> sqlite::Value {
    match v {
        Value::Null => sqlite::Value::Null,
        Value::Integer(i) => sqlite::Value::Integer(*i),
        Value::Real(f) => sqlite::Value::Real(*f),
        Value::Text(t) => sqlite::Value::Text(t.clone()),
        Value::Blob(b) => sqlite::Value::Blob(b.clone()),
    }
}

fn from_spin(v: sqlite::Value) -> Value {
    match v {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(i) => Value::Integer(i),
        sqlite::Value::Real(f) => Value::Real(f),
        sqlite::Value::Text(t) => Value::Text(t),
        sqlite::Value::Blob(b) => Value::Blob(b),
    }
}

impl Db for Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        let params: Vec<sqlite::Value> = params.iter().map(to_spin).collect();
        let result = Connection::execute(self, sql, &params).map_err(backend_error)?;
        Ok(Rows {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|r| r.values.into_iter().map(from_spin).collect())
                .collect(),
        })
    }
}

/// Opens the component's `default` database and brings its schema up to date (one cheap
/// version read when it already is). Call once per request.
pub fn open_default() -> Result<Connection> {
    open("default")
}

/// The `default` database as the use cases' ports ([`crate::SqlStore`]).
pub fn open_store() -> Result<crate::SqlStore<Connection>> {
    open_default().map(crate::SqlStore)
}

/// Opens the database labelled `label` in spin.toml and brings its schema up to date.
pub fn open(label: &str) -> Result<Connection> {
    let conn = Connection::open(label).map_err(backend_error)?;
    crate::schema::migrate(&conn)?;
    Ok(conn)
}
