//! The unit tests' database: SQLite in memory, or with `FIELDLINE_TEST_DB=postgres` a fresh
//! PostgreSQL database per test (`fl_test_<random>`, dropped at the end of the test) on the
//! server at `FIELDLINE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`). Run the
//! suite once per backend:
//!
//! ```text
//! cargo test -p fieldline-storage
//! FIELDLINE_TEST_DB=postgres cargo test -p fieldline-storage
//! ```

use std::path::Path;

use crate::db::{Db, Dialect, Rows, Value};
use crate::error::Result;
use crate::native_pg::{PgDb, TempDatabase};

/// The server the PostgreSQL runs use.
fn server() -> String {
    std::env::var("FIELDLINE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Whether this run is on PostgreSQL.
pub(crate) fn postgres() -> bool {
    std::env::var("FIELDLINE_TEST_DB").is_ok_and(|v| v == "postgres")
}

/// One test's database: the first connection, and the means to open more to the same
/// database (the concurrency tests).
#[derive(Debug)]
pub(crate) enum TestDb {
    Sqlite(rusqlite::Connection, Option<tempfile::TempDir>),
    Postgres(TempDatabase),
}

impl std::fmt::Debug for TempDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

impl TestDb {
    /// An empty database (no schema).
    pub(crate) fn empty() -> TestDb {
        if postgres() {
            TestDb::Postgres(TempDatabase::create(&server()).expect("a PostgreSQL server"))
        } else {
            TestDb::Sqlite(crate::native::open_in_memory().unwrap(), None)
        }
    }

    /// An empty database that other connections can open as well ([`TestDb::connect`]):
    /// a file for SQLite.
    pub(crate) fn shared() -> TestDb {
        if postgres() {
            return TestDb::empty();
        }
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::native::open(&dir.path().join("db.sqlite")).unwrap();
        TestDb::Sqlite(conn, Some(dir))
    }

    /// Another connection to the same database (only of [`TestDb::shared`] ones).
    pub(crate) fn connect(&self) -> Other {
        match self {
            TestDb::Sqlite(_, Some(dir)) => {
                Other::Sqlite(crate::native::open(&dir.path().join("db.sqlite")).unwrap())
            }
            TestDb::Sqlite(_, None) => panic!("an in-memory database has one connection"),
            TestDb::Postgres(t) => Other::Postgres(t.connect().unwrap()),
        }
    }

    /// The one integer `sql` answers.
    pub(crate) fn query_i64(&self, sql: &str) -> i64 {
        Db::execute(self, sql, &[])
            .unwrap()
            .first()
            .unwrap()
            .i64(0)
            .unwrap()
    }

    /// The file of a shared SQLite database.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            TestDb::Sqlite(_, Some(dir)) => Some(dir.path()),
            _ => None,
        }
    }
}

/// A database with the current schema.
pub(crate) fn db() -> TestDb {
    let db = TestDb::empty();
    crate::migrate(&db).unwrap();
    db
}

impl Db for TestDb {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        match self {
            TestDb::Sqlite(c, _) => Db::execute(c, sql, params),
            TestDb::Postgres(p) => p.execute(sql, params),
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            TestDb::Sqlite(..) => Dialect::Sqlite,
            TestDb::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A further connection of a [`TestDb`].
pub(crate) enum Other {
    Sqlite(rusqlite::Connection),
    Postgres(PgDb),
}

impl Db for Other {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        match self {
            Other::Sqlite(c) => Db::execute(c, sql, params),
            Other::Postgres(p) => p.execute(sql, params),
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            Other::Sqlite(_) => Dialect::Sqlite,
            Other::Postgres(_) => Dialect::Postgres,
        }
    }
}
