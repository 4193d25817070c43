//! Upgrades from every earlier schema version, with data in it: one fixture per version in
//! `tests/fixtures/schema/vN.sql` (a dump: the schema as that version left it, a row in every
//! table, and its `user_version`), migrated forward to [`SCHEMA_VERSION`] here.
//!
//! The fixtures are kept in the repository so that they stay what each version wrote even if a
//! migration were edited afterwards (migrations are append-only; a changed one shows as a changed
//! fixture in review). After appending a migration, write the fixture of the version before it:
//! `FIELDLINE_WRITE_SCHEMA_FIXTURES=1 cargo test -p fieldline-storage upgrades` (existing
//! fixtures are left as they are).

use crate::schema::{migrate, statements_up_to, version, SCHEMA_VERSION};
use rusqlite::Connection;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema")
}

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A value of a column's declared type: SQLite's affinity rules.
fn value_for(declared: &str, n: usize) -> String {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        format!("{}", 1000 + n)
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        format!("'v{n}'")
    } else if t.contains("BLOB") {
        "x'00ff'".into()
    } else {
        format!("{}.5", n)
    }
}

/// The dump of schema version `v` with one row in every table.
fn dump(v: i64) -> String {
    let conn = Connection::open_in_memory().unwrap();
    for sql in statements_up_to(v) {
        conn.execute_batch(sql).unwrap();
    }
    let mut inserts = Vec::new();
    for table in tables(&conn) {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT name, type FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let cols: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        let mut values: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, (_, t))| value_for(t, i))
            .collect();
        let mut sql;
        loop {
            sql = format!(
                "INSERT INTO {table} ({}) VALUES ({});",
                names.join(", "),
                values.join(", ")
            );
            let Err(e) = conn.execute_batch(&sql) else {
                break;
            };
            // `CHECK (col IN ('a', 'b'))`: take the first value allowed.
            let fixed = e
                .to_string()
                .strip_prefix("CHECK constraint failed: ")
                .and_then(|check| {
                    let col = check
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()?;
                    let i = names.iter().position(|n| *n == col)?;
                    let start = check.find('\'')?;
                    let end = check[start + 1..].find('\'')? + start + 1;
                    let allowed = check[start..=end].to_string();
                    (values[i] != allowed).then(|| values[i] = allowed)
                });
            if fixed.is_none() {
                panic!("version {v}: {sql}: {e}");
            }
        }
        inserts.push(sql);
    }
    let mut out = format!(
        "-- Fieldline schema version {v} with a row in every table (shared/storage/src/upgrades.rs).\n"
    );
    let mut stmt = conn
        .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid")
        .unwrap();
    for sql in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        out.push_str(&sql.unwrap());
        out.push_str(";\n");
    }
    for sql in inserts {
        out.push_str(&sql);
        out.push('\n');
    }
    out.push_str(&format!("PRAGMA user_version = {v};\n"));
    out
}

#[test]
fn every_earlier_schema_version_with_data_migrates_forward_and_keeps_it() {
    let dir = fixtures();
    if std::env::var_os("FIELDLINE_WRITE_SCHEMA_FIXTURES").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for v in 2..SCHEMA_VERSION {
            let path = dir.join(format!("v{v}.sql"));
            if !path.exists() {
                std::fs::write(&path, dump(v)).unwrap();
            }
        }
    }
    for v in 2..SCHEMA_VERSION {
        let path = dir.join(format!("v{v}.sql"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "no upgrade fixture for schema version {v} ({}): write it with \
                 FIELDLINE_WRITE_SCHEMA_FIXTURES=1 cargo test -p fieldline-storage upgrades",
                path.display()
            )
        });
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("db.sqlite");
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch(&text).unwrap();
        let before: Vec<(String, i64)> = tables(&conn)
            .into_iter()
            .map(|t| {
                let n = conn
                    .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                    .unwrap();
                (t, n)
            })
            .collect();
        assert!(
            before.iter().all(|(_, n)| *n >= 1),
            "version {v}: {before:?}"
        );
        assert_eq!(version(&conn).unwrap(), v);
        assert_eq!(
            migrate(&conn).unwrap_or_else(|e| panic!("version {v}: {e}")),
            v
        );
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        // Every row is still there, in every table that still exists.
        let now = tables(&conn);
        for (t, n) in before {
            if now.contains(&t) {
                let after: i64 = conn
                    .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                    .unwrap();
                assert!(
                    after >= n,
                    "version {v}: table {t} lost rows ({n} -> {after})"
                );
            }
        }
    }
}

#[test]
fn the_dump_of_each_version_is_what_its_migrations_make() {
    // A fixture that differs from a fresh dump means a migration already released was changed.
    for v in 2..SCHEMA_VERSION {
        let path = fixtures().join(format!("v{v}.sql"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            assert_eq!(
                text,
                dump(v),
                "{} no longer matches MIGRATIONS[..{}]",
                path.display(),
                v - 1
            );
        }
    }
}
