//! [`Db`] over rusqlite: native tests, benchmarks and tools.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::db::{Db, Rows, Value};
use crate::error::{BackendFailure, Error, Result};

/// rusqlite's error, classified by SQLite's result code (not its message).
pub fn backend_error(e: rusqlite::Error) -> Error {
    let kind = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => BackendFailure::Full,
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::NotADatabase) => {
            BackendFailure::Unavailable
        }
        _ => BackendFailure::Other,
    };
    Error::backend(kind, e.to_string())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Db for Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        run(self, sql, params).map_err(backend_error)
    }
}

/// One statement over rusqlite, with rusqlite's own errors.
fn run(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Rows> {
    {
        // prepare refuses a string holding more than one statement, as the Spin interface does.
        let mut stmt = conn.prepare_cached(sql)?;
        let expected = stmt.parameter_count();
        if expected != params.len() {
            return Err(rusqlite::Error::InvalidParameterCount(
                params.len(),
                expected,
            ));
        }
        for (i, p) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, p)?;
        }
        let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let n = columns.len();
        let mut out = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(value(row.get_ref(i)?));
            }
            out.push(values);
        }
        Ok(Rows { columns, rows: out })
    }
}

/// Opens (creating if needed) a database file as Spin and the host do: 5 s busy timeout, a
/// statement cache large enough for every query of this crate.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(backend_error)?;
    configure(&conn)?;
    Ok(conn)
}

/// A private in-memory database, for tests.
pub fn open_in_memory() -> Result<Connection> {
    let conn = Connection::open_in_memory().map_err(backend_error)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(backend_error)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}
