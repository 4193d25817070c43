//! The host's `spin:postgres/postgres@4.0.0` against the local PostgreSQL (127.0.0.1:5432, user
//! postgres, trust authentication), through the pg-probe component: every value type both ways,
//! transactions on one connection, the server's errors with their SQLSTATE, Spin's permission
//! check, and a transaction a guest leaves open. Each test has a database of its own, created
//! and dropped by [`Db`].

use fieldline_tests::{client, workspace, Start, TestHost};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVER: &str = "host=127.0.0.1 port=5432 user=postgres";

/// A fresh database `fl_test_<random>` on the local server, dropped (with any connection the
/// host still holds to it) when the test ends.
struct Db {
    name: String,
}

impl Db {
    fn new() -> Db {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("fl_test_{}_{nanos}", std::process::id());
        let mut admin = postgres::Client::connect(SERVER, postgres::NoTls).expect(
            "the machine's PostgreSQL on 127.0.0.1:5432 (trust authentication, user postgres)",
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        Db { name }
    }

    /// The address a component opens, as a libpq key=value string.
    fn address(&self) -> String {
        format!("{SERVER} dbname={}", self.name)
    }

    /// The same database as a URL.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.address(), postgres::NoTls).expect("connect")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(SERVER, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn host(args: &[&str]) -> TestHost {
    let mut s = Start::new(workspace().join("tests/fixtures/postgres.toml"));
    for a in args {
        s = s.arg(a);
    }
    s.start().expect("host starts")
}

fn exec(sql: &str, params: Value) -> Value {
    json!({"op": "execute", "sql": sql, "params": params})
}

fn query(sql: &str, params: Value) -> Value {
    json!({"op": "query", "sql": sql, "params": params})
}

/// On the probe's second connection.
fn on_second(mut statement: Value) -> Value {
    statement["conn"] = json!(1);
    statement
}

/// Runs `statements` in one request of the component on `route`; the probe's answer.
fn run_on(h: &TestHost, route: &str, address: &str, statements: Vec<Value>) -> Value {
    let r = client()
        .post(h.url(route))
        .body(json!({"address": address, "statements": statements}).to_string())
        .send()
        .expect("request");
    let status = r.status().as_u16();
    let body = r.text().expect("body");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

/// The results of `statements` on the probe that may reach the server.
fn run(h: &TestHost, address: &str, statements: Vec<Value>) -> Vec<Value> {
    let v = run_on(h, "/pg", address, statements);
    assert!(v.get("open_error").is_none(), "{v}");
    v["results"].as_array().expect("results").clone()
}

fn ok(r: &Value) -> &Value {
    r.get("ok").unwrap_or_else(|| panic!("failed: {r}"))
}

fn rows(r: &Value) -> Vec<Value> {
    ok(r)["rows"].as_array().expect("rows").clone()
}

fn db_error(r: &Value) -> &Value {
    r.get("error")
        .and_then(|e| e.get("query-failed"))
        .and_then(|e| e.get("db-error"))
        .unwrap_or_else(|| panic!("not a db-error: {r}"))
}

fn open_error(v: &Value) -> String {
    v["open_error"]["connection-failed"]
        .as_str()
        .unwrap_or_else(|| panic!("not connection-failed: {v}"))
        .to_string()
}

const CREATE_TYPES: &str = "CREATE TABLE types(id int4 PRIMARY KEY, b bool, i16 int2, i32 int4, \
    i64 int8, f32 float4, f64 float8, s text, v varchar(10), bin bytea, d date, t time, \
    dt timestamp, ts timestamptz, u uuid, j jsonb, n numeric, r4 int4range, r8 int8range, \
    rn numrange, a4 int4[], a8 int8[], an numeric[], ats text[], iv interval)";

const COLUMNS: &str = "id, b, i16, i32, i64, f32, f64, s, v, bin, d, t, dt, \
    ts AT TIME ZONE 'UTC' AS ts, u, j, n, r4, r8, rn, a4, a8, an, ats, iv";

#[test]
fn every_type_goes_in_as_a_parameter_and_comes_back_as_its_value() {
    let db = Db::new();
    let h = host(&[]);
    let insert = "INSERT INTO types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
        $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)";
    let every = json!([
        {"int32": 1},
        {"boolean": true},
        {"int16": -16},
        {"int32": -32},
        {"int64": 9_007_199_254_740_993_i64},
        {"floating32": 1.5},
        {"floating64": -2.25},
        {"str": "text é ✓"},
        {"str": "varchar"},
        {"binary": [0, 1, 254, 255]},
        {"date": [2026, 12, 4]},
        {"time": [13, 14, 15, 123_456_000]},
        {"datetime": [2026, 12, 4, 13, 14, 15, 250_000_000]},
        {"timestamp": 1_764_854_055},
        {"uuid": "67e55044-10b1-426f-9247-bb680e5fe0c8"},
        {"jsonb": {"a": [1, 2], "b": null}},
        {"decimal": "12345678901234567890.0123"},
        {"range-int32": [[1, "inclusive"], [10, "exclusive"]]},
        {"range-int64": [[-5, "inclusive"], null]},
        {"range-decimal": [[ "1.5", "exclusive"], ["2.5", "inclusive"]]},
        {"array-int32": [1, null, 3]},
        {"array-int64": [4_000_000_000_i64]},
        {"array-decimal": ["0.1", null]},
        {"array-str": ["a", null, "c"]},
        {"interval": [3_600_000_001_i64, 2, 14]},
    ]);
    let mut nulls = vec![json!({"int32": 2})];
    nulls.extend((0..24).map(|_| json!({"db-null": null})));
    let r = run(
        &h,
        &db.address(),
        vec![
            exec(CREATE_TYPES, json!([])),
            exec(insert, every),
            exec(insert, Value::Array(nulls)),
            query(
                &format!("SELECT {COLUMNS} FROM types ORDER BY id"),
                json!([]),
            ),
        ],
    );
    assert_eq!(ok(&r[0]), &json!(0));
    assert_eq!(ok(&r[1]), &json!(1));
    assert_eq!(ok(&r[2]), &json!(1));
    let columns: Vec<String> = ok(&r[3])["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c[0].as_str().unwrap_or(""),
                c[1].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            "id:int32",
            "b:boolean",
            "i16:int16",
            "i32:int32",
            "i64:int64",
            "f32:floating32",
            "f64:floating64",
            "s:str",
            "v:str",
            "bin:binary",
            "d:date",
            "t:time",
            "dt:datetime",
            "ts:datetime",
            "u:uuid",
            "j:jsonb",
            "n:decimal",
            "r4:range-int32",
            "r8:range-int64",
            "rn:range-decimal",
            "a4:array-int32",
            "a8:array-int64",
            "an:array-decimal",
            "ats:array-str",
            "iv:interval"
        ]
    );
    let rows = rows(&r[3]);
    assert_eq!(
        rows[0],
        json!([
            {"int32": 1},
            {"boolean": true},
            {"int16": -16},
            {"int32": -32},
            {"int64": 9_007_199_254_740_993_i64},
            {"floating32": 1.5},
            {"floating64": -2.25},
            {"str": "text é ✓"},
            {"str": "varchar"},
            {"binary": [0, 1, 254, 255]},
            {"date": [2026, 12, 4]},
            {"time": [13, 14, 15, 123_456_000]},
            {"datetime": [2026, 12, 4, 13, 14, 15, 250_000_000]},
            // 1_764_854_055 s after the epoch, as UTC.
            {"datetime": [2025, 12, 4, 13, 14, 15, 0]},
            {"uuid": "67e55044-10b1-426f-9247-bb680e5fe0c8"},
            {"jsonb": {"a": [1, 2], "b": null}},
            {"decimal": "12345678901234567890.0123"},
            {"range-int32": [[1, "inclusive"], [10, "exclusive"]]},
            {"range-int64": [[-5, "inclusive"], null]},
            {"range-decimal": [["1.5", "exclusive"], ["2.5", "inclusive"]]},
            {"array-int32": [1, null, 3]},
            {"array-int64": [4_000_000_000_i64]},
            {"array-decimal": ["0.1", null]},
            {"array-str": ["a", null, "c"]},
            {"interval": [3_600_000_001_i64, 2, 14]},
        ])
    );
    let mut expected_nulls = vec![json!({"int32": 2})];
    expected_nulls.extend((0..24).map(|_| json!({"db-null": null})));
    assert_eq!(rows[1], Value::Array(expected_nulls));

    // What the server stored, seen from outside the host.
    let mut c = db.client();
    let row = c
        .query_one(
            "SELECT i64, n::text, j::text, iv::text, ts = to_timestamp(1764854055) FROM types WHERE id = 1",
            &[],
        )
        .expect("row");
    assert_eq!(row.get::<_, i64>(0), 9_007_199_254_740_993);
    assert_eq!(row.get::<_, String>(1), "12345678901234567890.0123");
    assert_eq!(row.get::<_, String>(2), r#"{"a": [1, 2], "b": null}"#);
    assert_eq!(
        row.get::<_, String>(3),
        "1 year 2 mons 2 days 01:00:00.000001"
    );
    assert!(row.get::<_, bool>(4));
}

#[test]
fn values_and_types_the_interface_cannot_carry_are_refused_as_spin_refuses_them() {
    let db = Db::new();
    let h = host(&[]);
    let r = run(
        &h,
        &db.address(),
        vec![
            // A type with no WIT case: its binary form, its column type by name.
            query("SELECT '10.0.0.1'::inet AS a, 7 AS b", json!([])),
            // Bad values never reach the server.
            query("SELECT $1::uuid", json!([{"uuid": "not-a-uuid"}])),
            query("SELECT $1::date", json!([{"date": [2026, 2, 30]}])),
            query("SELECT $1::jsonb", json!([{"jsonb": "{not json"}])),
            query("SELECT $1::numeric", json!([{"decimal": "1.2.3"}])),
            // An int32 for a bigint placeholder: tokio-postgres checks the type, as under Spin.
            query("SELECT $1::int8", json!([{"int32": 5}])),
            // timestamptz is read as a timestamp without zone, which the client refuses (Spin
            // too): the query fails, the instance goes on.
            query("SELECT now() AS t", json!([])),
            query("SELECT 1 AS still_here", json!([])),
            // As Spin: the columns are the first row's; no row, no columns.
            query("SELECT 1 AS a WHERE false", json!([])),
        ],
    );
    assert_eq!(
        ok(&r[0]),
        &json!({"columns": [["a", "other(inet)"], ["b", "int32"]],
                "rows": [[{"unsupported": [2, 32, 0, 4, 10, 0, 0, 1]}, {"int32": 7}]]})
    );
    for (i, needle) in [
        (1, "invalid UUID"),
        (2, "invalid date"),
        (3, "invalid JSON"),
        (4, "invalid decimal"),
    ] {
        let m = r[i]["error"]["bad-parameter"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: not bad-parameter", r[i]));
        assert!(m.contains(needle), "{m}");
    }
    for i in [5, 6] {
        assert!(
            r[i]["error"]["query-failed"]["text"].is_string(),
            "{}",
            r[i]
        );
    }
    assert_eq!(rows(&r[7]), vec![json!([{"int32": 1}])]);
    assert_eq!(ok(&r[8]), &json!({"columns": [], "rows": []}));
}

#[test]
fn a_connection_is_one_session_so_begin_commit_and_rollback_hold() {
    let db = Db::new();
    let h = host(&[]);
    let count = || query("SELECT count(*)::int4 FROM t", json!([]));
    let r = run(
        &h,
        &db.url(),
        vec![
            exec("CREATE TABLE t(id int4 PRIMARY KEY)", json!([])),
            exec("BEGIN", json!([])),
            exec("INSERT INTO t VALUES ($1)", json!([{"int32": 1}])),
            exec(
                "INSERT INTO t VALUES ($1), ($2)",
                json!([{"int32": 2}, {"int32": 3}]),
            ),
            count(),
            // Another session does not see the rows before COMMIT ...
            on_second(count()),
            exec("COMMIT", json!([])),
            // ... and does after.
            on_second(count()),
            exec("BEGIN", json!([])),
            exec("DELETE FROM t", json!([])),
            count(),
            exec("ROLLBACK", json!([])),
            on_second(count()),
            // A failed statement aborts the transaction; ROLLBACK ends it.
            exec("BEGIN", json!([])),
            exec("INSERT INTO t VALUES (4)", json!([])),
            exec("INSERT INTO t VALUES (1)", json!([])),
            exec("INSERT INTO t VALUES (5)", json!([])),
            exec("ROLLBACK", json!([])),
            count(),
        ],
    );
    let n = |i: usize| rows(&r[i])[0][0]["int32"].as_i64().expect("count");
    assert_eq!(ok(&r[2]), &json!(1));
    assert_eq!(ok(&r[3]), &json!(2));
    assert_eq!((n(4), n(5)), (3, 0));
    assert_eq!(n(7), 3);
    assert_eq!(ok(&r[9]), &json!(3));
    assert_eq!((n(10), n(12)), (0, 3));
    assert_eq!(db_error(&r[15])["code"], "23505");
    assert_eq!(db_error(&r[16])["code"], "25P02", "in a failed transaction");
    assert_eq!(n(18), 3);
}

#[test]
fn server_errors_carry_sqlstate_and_fields() {
    let db = Db::new();
    let h = host(&["--metrics-listen", "127.0.0.1:0"]);
    let r = run(
        &h,
        &db.address(),
        vec![
            exec(
                "CREATE TABLE devices(id int8 CONSTRAINT devices_pk PRIMARY KEY)",
                json!([]),
            ),
            exec("INSERT INTO devices VALUES ($1)", json!([{"int64": 42}])),
            exec("INSERT INTO devices VALUES ($1)", json!([{"int64": 42}])),
            query("SELECT nope FROM devices", json!([])),
            exec("SELEC 1", json!([])),
        ],
    );
    let e = db_error(&r[2]);
    assert_eq!(e["code"], "23505");
    assert_eq!(e["severity"], "ERROR");
    assert_eq!(
        e["message"],
        "duplicate key value violates unique constraint \"devices_pk\""
    );
    assert_eq!(e["detail"], "Key (id)=(42) already exists.");
    assert_eq!(e["extras"]["constraint"], "devices_pk");
    assert_eq!(e["extras"]["table"], "devices");
    assert_eq!(e["extras"]["schema"], "public");
    assert!(
        e["as-text"].as_str().is_some_and(|t| t.contains("23505")),
        "{e}"
    );
    assert_eq!(db_error(&r[3])["code"], "42703");
    assert_eq!(db_error(&r[4])["code"], "42601");
    assert!(db_error(&r[4])["detail"].is_null());

    // The host times each statement by component, kind and outcome.
    let out = h.output_containing("Metrics at http://");
    let target = out
        .lines()
        .find_map(|l| l.strip_prefix("Metrics at http://"))
        .expect("metrics address")
        .to_string();
    let metrics = client()
        .get(format!("http://{target}"))
        .send()
        .expect("scrape");
    let metrics = metrics.text().expect("metrics");
    let count = |labels: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "fieldline_postgres_statement_duration_seconds_count{{{labels}}} "
                ))
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no count for {labels}:\n{metrics}"))
    };
    assert_eq!(
        count(r#"component="pg-probe",kind="execute",outcome="ok""#),
        2
    );
    assert_eq!(
        count(r#"component="pg-probe",kind="execute",outcome="error""#),
        2
    );
    assert_eq!(
        count(r#"component="pg-probe",kind="query",outcome="error""#),
        1
    );
}

#[test]
fn addresses_outside_allowed_outbound_hosts_and_bad_addresses_are_refused() {
    let db = Db::new();
    let h = host(&[]);
    let select = || vec![query("SELECT 1", json!([]))];
    let refused = |route: &str, address: &str| open_error(&run_on(&h, route, address, select()));
    assert_eq!(
        refused(
            "/pg",
            &format!("host=localhost user=postgres dbname={}", db.name)
        ),
        "address postgres://localhost is not permitted",
        "named as Spin names it: the host and the port the address gives"
    );
    assert_eq!(
        refused("/pg", "postgres://postgres@127.0.0.1:5433/x"),
        "address postgres://127.0.0.1:5433 is not permitted"
    );
    assert_eq!(
        refused("/pg-bare", &db.address()),
        "address postgres://127.0.0.1:5432 is not permitted"
    );
    assert!(refused("/pg", "this is not an address").contains("invalid"));
    assert!(refused("/pg", "host=/var/run/postgresql user=postgres").contains("Unix sockets"));
    assert!(refused("/pg", &format!("{}?sslmode=require", db.url())).contains("TLS"));
    // Allowed, but no such database: the server's refusal, as connection-failed.
    let missing = refused(
        "/pg",
        "host=127.0.0.1 user=postgres dbname=fl_test_does_not_exist",
    );
    assert!(missing.contains("does not exist"), "{missing}");
    // The allowed address still works after all that.
    assert_eq!(
        rows(&run(&h, &db.address(), select())[0]),
        vec![json!([{"int32": 1}])]
    );
}

#[test]
fn a_transaction_a_guest_leaves_open_ends_when_its_instance_does() {
    let db = Db::new();
    // One pooled connection: the next request gets the one the last left.
    let h = host(&["--postgres-pool-size", "1"]);
    run(
        &h,
        &db.address(),
        vec![exec("CREATE TABLE t(id int4 PRIMARY KEY)", json!([]))],
    );
    let r = run(
        &h,
        &db.address(),
        vec![
            exec("BEGIN", json!([])),
            exec("INSERT INTO t VALUES (1)", json!([])),
            query("SELECT id FROM t FOR UPDATE", json!([])),
        ],
    );
    assert_eq!(rows(&r[2]).len(), 1);
    // The pooled connection is not left idle in a transaction holding its locks.
    let mut c = db.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let idle: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state LIKE 'idle in transaction%'",
                &[],
            )
            .expect("pg_stat_activity")
            .get(0);
        if idle == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still idle in transaction");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = run(
        &h,
        &db.address(),
        vec![
            query("SELECT count(*)::int4 FROM t", json!([])),
            exec("INSERT INTO t VALUES (1)", json!([])),
            exec("ROLLBACK", json!([])),
        ],
    );
    assert_eq!(rows(&r[0]), vec![json!([{"int32": 0}])]);
    // Autocommit: the row is there whatever the ROLLBACK (outside a transaction) says.
    assert_eq!(ok(&r[1]), &json!(1));
    let n: i64 = c
        .query_one("SELECT count(*) FROM t", &[])
        .expect("count")
        .get(0);
    assert_eq!(n, 1);
}
