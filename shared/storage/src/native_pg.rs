//! [`Db`] over the `postgres` crate (its synchronous client): tests on PostgreSQL, tools.
//!
//! Each statement is translated ([`crate::pg::translate`]) and sent with its parameters' types
//! in one round trip (`query_typed`: no separate prepare). One client is one server session, so
//! `BEGIN` ... `COMMIT` over several calls is one transaction, as over Spin's `pg4` interface.

use std::error::Error as StdError;
use std::sync::{Mutex, PoisonError};

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use crate::db::{Db, Dialect, Rows, Value};
use crate::error::{Error, Result};

/// The `postgres` crate's error, classified by its SQLSTATE ([`crate::pg::backend_error`]).
pub fn backend_error(e: postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let mut message = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                message.push_str(": ");
                message.push_str(detail);
            }
            crate::pg::backend_error(Some(db.code().code()), message)
        }
        None => crate::pg::backend_error(e.code().map(|c| c.code()), e.to_string()),
    }
}

/// A PostgreSQL connection as a [`Db`].
pub struct PgDb {
    client: Mutex<Client>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgDb")
    }
}

/// Connects to `url` (`postgres://user@host:port/database`), without TLS (loopback and
/// private networks; a server elsewhere belongs behind the host's own TLS).
pub fn open(url: &str) -> Result<PgDb> {
    let client = Client::connect(url, NoTls).map_err(backend_error)?;
    Ok(PgDb {
        client: Mutex::new(client),
    })
}

/// A NULL parameter: its type is the one PostgreSQL infers (sent as `unknown`).
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// One result column's value, whatever its PostgreSQL type.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Cell(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::OID => Value::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::VOID => Value::Null,
            // text, varchar, name, json, unknown, regclass (as text): the server's text form.
            _ => Value::Text(String::from_utf8(raw.to_vec())?),
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// NUMERIC's binary form (`sum(bigint)`, `avg`): base-10000 digits. A whole number that fits
/// is an Integer, anything else a Real.
fn numeric(raw: &[u8]) -> std::result::Result<Value, Box<dyn StdError + Sync + Send>> {
    let word = |i: usize| -> std::result::Result<u16, Box<dyn StdError + Sync + Send>> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = word(3)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut whole: Option<i128> = Some(0);
    let mut real = 0f64;
    for i in 0..ndigits {
        let d = word(4 + i)?;
        let power = weight - i as i32;
        real += f64::from(d) * 10000f64.powi(power);
        whole = match (whole, u32::try_from(power)) {
            (Some(w), Ok(p)) => 10000i128
                .checked_pow(p)
                .and_then(|m| m.checked_mul(i128::from(d)))
                .and_then(|v| w.checked_add(v)),
            (Some(w), Err(_)) if d == 0 => Some(w),
            _ => None,
        };
    }
    let negative = sign == 0x4000;
    if dscale == 0 {
        if let Some(v) = whole.and_then(|w| i64::try_from(if negative { -w } else { w }).ok()) {
            return Ok(Value::Integer(v));
        }
    }
    Ok(Value::Real(if negative { -real } else { real }))
}

impl Db for PgDb {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        let (sql, params) = crate::pg::translate(sql, params);
        let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
            .iter()
            .map(|v| -> (&(dyn ToSql + Sync), Type) {
                match v {
                    // translate leaves NULLs out; were one sent, its type would be inferred.
                    Value::Null => (&Null, Type::UNKNOWN),
                    Value::Integer(i) => (i, Type::INT8),
                    Value::Real(f) => (f, Type::FLOAT8),
                    Value::Text(t) => (t, Type::TEXT),
                    Value::Blob(b) => (b, Type::BYTEA),
                }
            })
            .collect();
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = client
            .query_typed(&sql, &typed)
            .map_err(|e| match backend_error(e) {
                // The statement, for whoever reads the error (tests, tools).
                Error::Backend { kind, message } => Error::Backend {
                    kind,
                    message: format!(
                        "{message}, in: {}",
                        sql.chars().take(300).collect::<String>()
                    ),
                },
                other => other,
            })?;
        let columns: Vec<String> = match rows.first() {
            Some(r) => r.columns().iter().map(|c| c.name().to_owned()).collect(),
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                values.push(row.try_get::<_, Cell>(i).map_err(backend_error)?.0);
            }
            out.push(values);
        }
        Ok(Rows { columns, rows: out })
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

/// A database of its own on a server, created on open and dropped (with every session still
/// in it) when this is dropped: one per test.
pub struct TempDatabase {
    server: String,
    name: String,
    db: Option<PgDb>,
}

impl TempDatabase {
    /// Creates `fl_test_<random>` on the server at `server` (a URL without a database name,
    /// e.g. `postgres://postgres@127.0.0.1:5432`) and connects to it.
    pub fn create(server: &str) -> Result<Self> {
        let name = format!("fl_test_{:016x}", random());
        let mut admin =
            Client::connect(&format!("{server}/postgres"), NoTls).map_err(backend_error)?;
        // A test's database need not survive a crash: commits without waiting for the disk.
        for sql in [
            format!("CREATE DATABASE {name}"),
            format!("ALTER DATABASE {name} SET synchronous_commit = off"),
        ] {
            admin.batch_execute(&sql).map_err(backend_error)?;
        }
        let mut temp = TempDatabase {
            server: server.to_owned(),
            name,
            db: None,
        };
        temp.db = Some(temp.connect()?);
        Ok(temp)
    }

    /// Another session on the same database.
    pub fn connect(&self) -> Result<PgDb> {
        open(&self.url())
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    pub fn db(&self) -> &PgDb {
        self.db
            .as_ref()
            .unwrap_or_else(|| unreachable!("set by create"))
    }
}

impl Db for TempDatabase {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        self.db().execute(sql, params)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        self.db = None;
        if let Ok(mut admin) = Client::connect(&format!("{}/postgres", self.server), NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A name nobody else picks: the clock, the process and a counter through std's hasher.
fn random() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    std::process::id().hash(&mut h);
    N.fetch_add(1, Ordering::Relaxed).hash(&mut h);
    std::time::SystemTime::now().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_decode() {
        // 12345678 = 1234 * 10000 + 5678: ndigits 2, weight 1, sign +, dscale 0
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(12_345_678));
        // -1.5 = 1 . 5000: ndigits 2, weight 0, sign -, dscale 1
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(numeric(&raw).unwrap(), Value::Real(-1.5));
        // 0: no digits
        assert_eq!(
            numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Value::Integer(0)
        );
    }
}
