//! [`Db`] over Spin's PostgreSQL interface (`spin:postgres/postgres@4.0.0`, spin-sdk's `pg4`),
//! in components. One `Connection` is one server session, so `BEGIN` ... `COMMIT` over several
//! calls is one transaction.

use spin_sdk::pg4::{self, Connection, DbValue, ParameterValue, PgError, QueryError};

use crate::db::{Db, Dialect, Rows, Value};
use crate::error::{BackendFailure, Error, Result};

/// Spin's PostgreSQL error: a database error by its SQLSTATE ([`crate::pg::backend_error`]),
/// a failed connection as [`BackendFailure::Unavailable`].
pub fn backend_error(e: PgError) -> Error {
    match e {
        PgError::ConnectionFailed(msg) => Error::backend(
            BackendFailure::Unavailable,
            format!(
                "connecting to PostgreSQL: {msg} (is the server reachable, and its \
                 postgres://host:port in the component's allowed_outbound_hosts?)"
            ),
        ),
        PgError::QueryFailed(QueryError::DbError(db)) => {
            let mut message = format!("{}: {}", db.severity, db.message);
            if let Some(detail) = db.detail {
                message.push_str(": ");
                message.push_str(&detail);
            }
            crate::pg::backend_error(Some(&db.code), message)
        }
        PgError::QueryFailed(QueryError::Text(msg))
        | PgError::BadParameter(msg)
        | PgError::ValueConversionFailed(msg)
        | PgError::Other(msg) => Error::backend(BackendFailure::Other, msg),
    }
}

fn parameter(v: &Value) -> ParameterValue {
    match v {
        Value::Null => ParameterValue::DbNull,
        Value::Integer(i) => ParameterValue::Int64(*i),
        Value::Real(f) => ParameterValue::Floating64(*f),
        Value::Text(t) => ParameterValue::Str(t.clone()),
        Value::Blob(b) => ParameterValue::Binary(b.clone()),
    }
}

fn value(v: DbValue) -> Result<Value> {
    Ok(match v {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(b) => Value::Integer(i64::from(b)),
        DbValue::Int8(i) => Value::Integer(i64::from(i)),
        DbValue::Int16(i) => Value::Integer(i64::from(i)),
        DbValue::Int32(i) => Value::Integer(i64::from(i)),
        DbValue::Int64(i) => Value::Integer(i),
        DbValue::Floating32(f) => Value::Real(f64::from(f)),
        DbValue::Floating64(f) => Value::Real(f),
        DbValue::Str(s) | DbValue::Uuid(s) => Value::Text(s),
        DbValue::Binary(b) => Value::Blob(b),
        // NUMERIC (sum of BIGINT): a whole number that fits is an Integer, others a Real.
        DbValue::Decimal(s) => match s.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Real(
                s.parse()
                    .map_err(|_| Error::Corrupt(format!("numeric {s:?}")))?,
            ),
        },
        other => {
            return Err(Error::Corrupt(format!(
                "unexpected PostgreSQL value {other:?}"
            )))
        }
    })
}

impl Db for Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        let (sql, params) = crate::pg::translate(sql, params);
        let params: Vec<ParameterValue> = params.iter().map(parameter).collect();
        let set = self.query(&sql, &params).map_err(backend_error)?;
        Ok(Rows {
            columns: set.columns.into_iter().map(|c| c.name).collect(),
            rows: set
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(value).collect::<Result<Vec<_>>>())
                .collect::<Result<_>>()?,
        })
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

/// Connects to the server at `url` (`postgres://user:password@host:port/database`) and brings
/// its schema up to date (one cheap version read when it already is). Call once per request.
pub fn open(url: &str) -> Result<Connection> {
    let conn = pg4::Connection::open(url).map_err(backend_error)?;
    crate::schema::migrate(&conn)?;
    Ok(conn)
}
