//! The database seam: one trait, one statement per call, implemented by Spin's SQLite and
//! PostgreSQL connections (in components) and by rusqlite and the `postgres` crate (native tests
//! and benchmarks), so the same SQL runs on all of them; [`Db::dialect`] names the few places
//! where SQLite and PostgreSQL need different statements.

use fieldline_domain::{ParseError, Timestamp};

use crate::error::{corrupt, Error, Result};

/// A SQLite value, as both Spin's interface and rusqlite carry it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl Value {
    /// A count as an integer column holds it: `i64::MAX` for a count beyond it (a limit
    /// "without limit", a reservation's units).
    pub fn saturating(n: u64) -> Self {
        Value::Integer(saturating(n))
    }
}

/// A count as an integer column holds it ([`Value::saturating`]).
pub(crate) fn saturating(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Self {
        Value::Integer(v.as_millis())
    }
}

/// The string-like domain types are stored as their text.
macro_rules! text_value {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::Text(v.as_str().to_owned())
            }
        }
        impl From<&$ty> for Value {
            fn from(v: &$ty) -> Self {
                Value::Text(v.as_str().to_owned())
            }
        }
    )*};
}

text_value!(
    fieldline_domain::OrgId,
    fieldline_domain::UserId,
    fieldline_domain::DeviceId,
    fieldline_domain::SensorId,
    fieldline_domain::ChannelId,
    fieldline_domain::TokenId,
    fieldline_domain::InvitationId,
    fieldline_domain::ViewId,
    fieldline_domain::Email,
    fieldline_domain::Name,
    fieldline_domain::OrgName,
    fieldline_domain::Description,
    fieldline_domain::Unit,
    fieldline_domain::Purpose,
    fieldline_domain::ShortText,
    fieldline_domain::TimeZoneName,
    fieldline_domain::CommunicationId,
    fieldline_domain::NetworkId
);

impl From<fieldline_domain::Uuid> for Value {
    fn from(v: fieldline_domain::Uuid) -> Self {
        Value::Text(v.to_string())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The result of one statement: column names and rows (empty for most writes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|r| Row(r))
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.rows.first().map(|r| Row(r))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Typed access to one row's columns by position; a type mismatch is [`Error::Corrupt`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a>(&'a [Value]);

impl<'a> Row<'a> {
    fn get(&self, i: usize) -> Result<&'a Value> {
        self.0
            .get(i)
            .ok_or_else(|| Error::Corrupt(format!("column {i} missing")))
    }

    fn mismatch(&self, i: usize, want: &str) -> Error {
        Error::Corrupt(format!(
            "column {i}: expected {want}, found {:?}",
            self.0.get(i)
        ))
    }

    pub fn i64(&self, i: usize) -> Result<i64> {
        match self.get(i)? {
            Value::Integer(v) => Ok(*v),
            _ => Err(self.mismatch(i, "an integer")),
        }
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.i64(i).map(Some),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool> {
        self.i64(i).map(|v| v != 0)
    }

    /// A REAL column; an INTEGER (SQLite may return one for a whole-number expression) converts.
    pub fn f64(&self, i: usize) -> Result<f64> {
        match self.get(i)? {
            Value::Real(v) => Ok(*v),
            Value::Integer(v) => Ok(*v as f64),
            _ => Err(self.mismatch(i, "a number")),
        }
    }

    pub fn opt_f64(&self, i: usize) -> Result<Option<f64>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.f64(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<&'a str> {
        match self.get(i)? {
            Value::Text(v) => Ok(v),
            _ => Err(self.mismatch(i, "text")),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<&'a str>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn u32(&self, i: usize) -> Result<u32> {
        let v = self.i64(i)?;
        u32::try_from(v).map_err(|_| Error::Corrupt(format!("column {i}: {v} is not a u32")))
    }

    pub fn u64(&self, i: usize) -> Result<u64> {
        let v = self.i64(i)?;
        u64::try_from(v).map_err(|_| Error::Corrupt(format!("column {i}: {v} is negative")))
    }

    pub fn ts(&self, i: usize) -> Result<Timestamp> {
        Timestamp::from_millis(self.i64(i)?).map_err(corrupt)
    }

    pub fn opt_ts(&self, i: usize) -> Result<Option<Timestamp>> {
        self.opt_i64(i)?
            .map(|v| Timestamp::from_millis(v).map_err(corrupt))
            .transpose()
    }

    /// A text column parsed by a domain parser (`DeviceId::parse`, `Name::parse`).
    pub fn parse<T>(
        &self,
        i: usize,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T> {
        parse(self.text(i)?).map_err(corrupt)
    }

    pub fn opt_parse<T>(
        &self,
        i: usize,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>> {
        self.opt_text(i)?
            .map(|s| parse(s).map_err(corrupt))
            .transpose()
    }

    pub fn blob(&self, i: usize) -> Result<&'a [u8]> {
        match self.get(i)? {
            Value::Blob(v) => Ok(v),
            _ => Err(self.mismatch(i, "a blob")),
        }
    }
}

/// A SQLite connection that runs one statement per call.
///
/// Several calls on the same connection may form one explicit transaction (`BEGIN` ...
/// `COMMIT`): the Spin host gives that connection the writer until it ends. Outside a
/// transaction each write autocommits (the host commits concurrent ones as a group).
pub trait Db {
    /// Runs exactly one SQL statement with positional (`?`, `?N`) parameters.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows>;

    /// The SQL dialect the statements must be written in. The statements are SQLite's and,
    /// nearly all, PostgreSQL's as well; the few that differ choose by this, in the repository
    /// function that owns them.
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

/// Which database a [`Db`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    /// PostgreSQL 15 or later; its `Db` translates `?` placeholders ([`crate::pg::translate`]).
    Postgres,
}

impl<T: Db + ?Sized> Db for &T {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        (**self).execute(sql, params)
    }

    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
}

impl<T: Db + ?Sized> Db for Box<T> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        (**self).execute(sql, params)
    }

    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
}

/// The advisory lock every PostgreSQL [`transaction`] takes: the database's one writer of
/// explicit transactions, as SQLite's `BEGIN IMMEDIATE` is (key: "fieldlin" in ASCII).
pub(crate) const WRITER_LOCK: i64 = 0x6669_656c_646c_696e;

/// Runs `f` inside `BEGIN IMMEDIATE` ... `COMMIT`, rolling back if it fails. Not nestable: the
/// repository functions that use it must not be called inside another transaction.
///
/// On PostgreSQL: `BEGIN` (READ COMMITTED) and at once the transaction-scoped advisory lock
/// [`WRITER_LOCK`], so that explicit transactions take turns across every connection and
/// replica exactly as SQLite's writers do; statements outside a transaction run concurrently
/// and are each atomic (their conflicts are decided by the row locks their upserts take).
pub fn transaction<T>(db: &dyn Db, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
    match db.dialect() {
        // IMMEDIATE takes the write lock at once, so a read-then-write inside cannot fail with
        // SQLITE_BUSY halfway through when another writer got there first.
        Dialect::Sqlite => {
            db.execute("BEGIN IMMEDIATE", &[])?;
        }
        Dialect::Postgres => {
            db.execute("BEGIN", &[])?;
            if let Err(e) = db.execute(
                // (a row of one integer: Spin's interface has no value for `void`)
                "SELECT 1 FROM pg_advisory_xact_lock(?)",
                &[Value::Integer(WRITER_LOCK)],
            ) {
                let _ = db.execute("ROLLBACK", &[]);
                return Err(e);
            }
        }
    }
    match f(db) {
        Ok(v) => match db.execute("COMMIT", &[]) {
            Ok(_) => Ok(v),
            Err(e) => {
                let _ = db.execute("ROLLBACK", &[]);
                Err(e)
            }
        },
        Err(e) => {
            let _ = db.execute("ROLLBACK", &[]);
            Err(e)
        }
    }
}

/// `?,?,?` for `n` parameters.
pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

/// `?3, ?4` for `n` parameters numbered from `first`: a statement that names each more than once.
pub(crate) fn numbered_placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_access() {
        let rows = Rows {
            columns: vec!["a".into(), "b".into(), "c".into()],
            rows: vec![vec![
                Value::Integer(3),
                Value::Null,
                Value::Text("x".into()),
            ]],
        };
        let r = rows.first().unwrap();
        assert_eq!(r.i64(0).unwrap(), 3);
        assert_eq!(r.f64(0).unwrap(), 3.0);
        assert_eq!(r.opt_i64(1).unwrap(), None);
        assert_eq!(r.text(2).unwrap(), "x");
        assert!(matches!(r.i64(2), Err(Error::Corrupt(_))));
        assert!(r.i64(9).is_err());
        assert_eq!(placeholders(3), "?,?,?");
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(true), Value::Integer(1));
    }
}
