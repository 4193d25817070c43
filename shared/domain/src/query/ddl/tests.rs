#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use serde_json::Value;

use super::*;
use crate::influxql::parse_query;
use crate::line_protocol::{parse, Precision};
use crate::query::format::{encode, encode_error, Epoch, Format};
use crate::query::result::{QueryResults, StatementResult};
use crate::query::write_plan::tests::{answer_of, case_names};
use crate::query::write_plan::{plan, FieldType};

const H: i64 = MIN_RETENTION_NS;

fn run(catalog: &mut Catalog, q: &str, max: i64) -> Result<(), String> {
    let statements = parse_query(q).unwrap();
    apply(&statements[0], catalog, max)
}

fn general() -> Catalog {
    let mut c = Catalog::default();
    run(&mut c, "CREATE DATABASE general", 0).unwrap();
    c
}

#[test]
fn shard_group_durations_follow_the_policy_duration() {
    for (d, sgd) in [
        (0, 7 * DAY),
        (180 * DAY, 7 * DAY),
        (179 * DAY, DAY),
        (2 * DAY, DAY),
        (2 * DAY - 1, H),
        (H, H),
    ] {
        assert_eq!(shard_group_duration(d), sgd, "{d}");
    }
    let mut c = general();
    run(
        &mut c,
        "CREATE RETENTION POLICY a ON general DURATION 2h REPLICATION 1 SHARD DURATION 1m",
        0,
    )
    .unwrap();
    assert_eq!(
        c.databases[0]
            .retention_policy("a")
            .unwrap()
            .shard_group_duration_ns,
        H
    );
}

#[test]
fn a_failed_create_database_with_leaves_no_database() {
    let mut c = general();
    assert_eq!(
        run(
            &mut c,
            "CREATE DATABASE x WITH DURATION 1d SHARD DURATION 1w",
            0
        ),
        Err(INCOMPATIBLE.into())
    );
    assert_eq!(c, general());
    assert_eq!(
        run(&mut c, "CREATE DATABASE \"a/b\"", 0),
        Err(INVALID_NAME.into())
    );
    assert_eq!(
        run(&mut c, "CREATE DATABASE x WITH NAME \"..\"", 0),
        Err(INVALID_NAME.into())
    );
    assert_eq!(
        run(&mut c, "SHOW DATABASES", 0),
        Err("not a database or retention policy statement: SHOW DATABASES".into())
    );
}

#[test]
fn alter_checks_durations_as_influxdb_does() {
    let mut c = general();
    run(
        &mut c,
        "CREATE RETENTION POLICY r ON general DURATION 3d REPLICATION 1",
        0,
    )
    .unwrap();
    // A day's shard groups: the duration cannot go below it, the shard duration above 3d.
    assert_eq!(
        run(&mut c, "ALTER RETENTION POLICY r ON general DURATION 2h", 0),
        Err(INCOMPATIBLE.into())
    );
    assert_eq!(
        run(
            &mut c,
            "ALTER RETENTION POLICY r ON general SHARD DURATION 4d",
            0
        ),
        Err(INCOMPATIBLE.into())
    );
    assert_eq!(
        run(
            &mut c,
            "ALTER RETENTION POLICY r ON general DURATION 30m",
            0
        ),
        Err("retention policy duration must be at least 1h0m0s".into())
    );
    assert_eq!(
        run(&mut c, "ALTER RETENTION POLICY x ON general DEFAULT", 0),
        Err("retention policy not found: x".into())
    );
    assert_eq!(
        run(&mut c, "ALTER RETENTION POLICY r ON nodb DEFAULT", 0),
        Err("database not found: nodb".into())
    );
    run(
        &mut c,
        "ALTER RETENTION POLICY r ON general DURATION 2h SHARD DURATION 0s REPLICATION 2",
        0,
    )
    .unwrap();
    let r = c.databases[0].retention_policy("r").unwrap();
    assert_eq!(
        (r.duration_ns, r.shard_group_duration_ns, r.replication),
        (2 * H, H, 2)
    );
}

#[test]
fn the_subscriptions_retention_bounds_every_policy() {
    let max = 30 * DAY;
    let mut c = Catalog::default();
    run(&mut c, "CREATE DATABASE a", max).unwrap();
    let autogen = &c.databases[0].retention_policies[0];
    assert_eq!(
        (autogen.duration_ns, autogen.shard_group_duration_ns),
        (max, DAY)
    );
    let refused = Err(
        "retention policy duration must be at most 720h0m0s: the subscription keeps data that long"
            .to_string(),
    );
    for q in [
        "CREATE RETENTION POLICY r ON a DURATION INF REPLICATION 1",
        "CREATE RETENTION POLICY r ON a DURATION 31d REPLICATION 1",
        "ALTER RETENTION POLICY autogen ON a DURATION INF",
        "CREATE DATABASE b WITH DURATION 5w",
    ] {
        assert_eq!(run(&mut c, q, max), refused, "{q}");
    }
    run(
        &mut c,
        "CREATE RETENTION POLICY r ON a DURATION 30d REPLICATION 1",
        max,
    )
    .unwrap();
    run(&mut c, "CREATE DATABASE b WITH NAME x", max).unwrap();
    assert_eq!(
        c.database("b").unwrap().retention_policies[0].duration_ns,
        max
    );
    // Within the limit, writes before the policy's retention are beyond it.
    let now = 100 * DAY;
    assert_eq!(
        write_destination(&c, Some("a"), Some("r"), now),
        Destination::Found {
            earliest_ns: Some(70 * DAY)
        }
    );
}

#[test]
fn writes_go_to_the_default_policy_which_may_be_gone() {
    let mut c = general();
    assert_eq!(
        write_destination(&c, None, None, 0),
        Destination::NoDatabase
    );
    assert_eq!(
        write_destination(&c, Some(""), None, 0),
        Destination::NoDatabase
    );
    assert_eq!(
        write_destination(&c, Some("x"), None, 0),
        Destination::MissingDatabase("x")
    );
    assert_eq!(
        write_destination(&c, Some("general"), Some(""), 0),
        Destination::Found { earliest_ns: None }
    );
    run(&mut c, "DROP RETENTION POLICY autogen ON general", 0).unwrap();
    assert_eq!(
        write_destination(&c, Some("general"), None, 0),
        Destination::MissingRetentionPolicy("autogen")
    );
}

// ---- The golden DDL and SHOW cases

/// Cases of queries.toml's `ddl_` section (and the `show_` cases of databases and policies)
/// that read data: the engine's, not the catalog's.
const READS: &[&str] = &[
    "ddl_read_default_rp",
    "ddl_read_qualified_rp",
    "ddl_read_field_keys",
    "ddl_read_from_general_with_org_db",
    "ddl_read_after_default_change",
    "ddl_read_after_default_dropped",
    "ddl_read_dropped_database",
    "ddl_general_intact",
];

fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_nanos()).unwrap()
}

/// One `/query` case over the catalog: the body InfluxDB's would be.
pub(crate) fn query(case: &Value, catalog: &mut Catalog) -> (u64, String) {
    let request = &case["request"];
    let params = &request["params"];
    let q = params["q"].as_str().unwrap();
    let statements = match crate::query::http::parse(q) {
        Ok(s) => s,
        Err(e) => return (400, encode_error(&e, false)),
    };
    let mut results = Vec::new();
    for (id, statement) in statements.iter().enumerate() {
        let mut r = StatementResult::new(id);
        let outcome = match statement {
            Statement::ShowDatabases => Ok(vec![show_databases(catalog)]),
            Statement::ShowRetentionPolicies(s) => {
                let db = s.database.as_deref().or(params["db"].as_str());
                show_retention_policies(catalog, db).map(|s| vec![s])
            }
            ddl => {
                if request["method"] == "GET" {
                    r.messages.extend(read_only_warning(ddl));
                }
                apply(ddl, catalog, 0).map(|()| Vec::new())
            }
        };
        match outcome {
            Ok(series) => r.series = series,
            Err(e) => r.error = Some(e),
        }
        results.push(r);
    }
    let format = Format {
        epoch: Epoch::Rfc3339,
        pretty: false,
    };
    (200, encode(&QueryResults(results), &format))
}

/// Replays the `show_` cases of databases and retention policies over the data set's catalog,
/// then the `ddl_` section in order (its writes through the write plan), and compares the
/// answers with InfluxDB's.
#[test]
fn the_ddl_cases_get_influxdbs_answers() {
    let mut catalog = general();
    let mut stored: HashMap<(String, String, String), FieldType> = HashMap::new();
    let (mut judged, mut failures, mut skipped) = (0, Vec::new(), Vec::new());
    let names = case_names("queries.toml");
    for name in names.iter().filter(|n| {
        n.starts_with("ddl_") || n.starts_with("show_databases") || n.starts_with("show_retention")
    }) {
        if READS.contains(&name.as_str()) {
            skipped.push(name);
            continue;
        }
        let case = answer_of(name);
        let request = &case["request"];
        let got = if request["path"] == "/write" {
            let params = &request["params"];
            let db = params["db"].as_str();
            let destination = write_destination(&catalog, db, params["rp"].as_str(), now_ns());
            let (l, e) = parse(request["body"].as_str().unwrap(), Precision::Nanoseconds, 0);
            let db = db.unwrap_or_default();
            let p = plan(&l, &e, destination, &|m, f| {
                stored.get(&(db.into(), m.into(), f.into())).copied()
            });
            for f in p.new_fields {
                stored.insert((db.into(), f.measurement, f.field), f.field_type);
            }
            (u64::from(p.answer.status), p.answer.body())
        } else {
            query(&case, &mut catalog)
        };
        let want = (
            case["status"].as_u64().unwrap(),
            case["body_raw"].as_str().unwrap_or("").to_owned(),
        );
        judged += 1;
        if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The 6 show_ cases and 41 of the 49 ddl_ ones (3 of them writes).
    assert_eq!((judged, skipped.len()), (47, READS.len()), "{skipped:?}");
    assert_eq!(catalog, general(), "the corpus leaves general alone");
}
