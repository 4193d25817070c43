//! The general corpus recorded from the real InfluxDB 1.6 (`tests/golden/influxdb-general/`),
//! answered over SQLite (or PostgreSQL) through [`fieldline_storage::QuerySource`]: the recorded
//! data set is written as a `/write` stores it (the write plan's field types, the general series
//! with their tags as written, typed values in nanoseconds) into database `general` of one
//! organization, so this checks the general series' storage under the same engine the native
//! replay runs.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/golden/influxdb-general/harness.rs"]
mod harness;

use fieldline_domain::line_protocol::Line;
use fieldline_domain::query::{ddl, write_plan};
use fieldline_domain::{
    Email, OrgFields, OrgName, Password, PasswordHasher, Subscription, Timestamp,
};
use fieldline_service::ports::{LinesWritten, StoredFieldType};
use fieldline_storage::{self as storage, Db};

/// SQLite in memory, or with `FIELDLINE_TEST_DB=postgres` (and the feature `native-postgres`)
/// a fresh PostgreSQL database at `FIELDLINE_TEST_PG`, as the unit tests do.
fn database() -> Box<dyn Db> {
    #[cfg(feature = "native-postgres")]
    if std::env::var("FIELDLINE_TEST_DB").is_ok_and(|v| v == "postgres") {
        let server = std::env::var("FIELDLINE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        return Box::new(storage::native_pg::TempDatabase::create(&server).unwrap());
    }
    Box::new(storage::native::open_in_memory().unwrap())
}

#[test]
fn storage_gives_influxdbs_answers_over_general_series() {
    let db = database();
    storage::migrate(&db).unwrap();
    let now = Timestamp::now();
    let hash = PasswordHasher::insecure_fast_for_tests()
        .hash(&Password::parse("correct horse battery").unwrap())
        .unwrap();
    let (tenant, _, _) = storage::sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Golden").unwrap()),
        &Subscription::default(),
        &Email::parse("golden@example.com").unwrap(),
        &hash,
        now,
    )
    .unwrap();
    let database = ddl::Database {
        name: harness::DATABASE.to_owned(),
        retention_policies: vec![ddl::RetentionPolicy {
            name: ddl::DEFAULT_RETENTION_POLICY.to_owned(),
            duration_ns: 0,
            shard_group_duration_ns: ddl::shard_group_duration(0),
            replication: 1,
        }],
        default_retention_policy: ddl::DEFAULT_RETENTION_POLICY.to_owned(),
    };
    storage::store_database(&db, &tenant, &database, now).unwrap();
    // The data set, as one body of `/write` would store it.
    let lines = harness::dataset();
    let found = write_plan::Destination::Found { earliest_ns: None };
    let plan = write_plan::plan(&lines, &[], found, &|_, _| None);
    assert_eq!(plan.answer.status, 204, "{:?}", plan.answer);
    let accepted: Vec<&Line> = plan.points.iter().map(|&i| &lines[i]).collect();
    let new_fields: Vec<StoredFieldType> = plan
        .new_fields
        .into_iter()
        .map(|f| StoredFieldType {
            measurement: f.measurement,
            field: f.field,
            ty: f.field_type,
        })
        .collect();
    let written = storage::write_lines(
        &db,
        &tenant,
        harness::DATABASE,
        &accepted,
        &new_fields,
        None,
    )
    .unwrap();
    assert!(
        matches!(written, LinesWritten::Written(n) if n > 2193),
        "{written:?}"
    );
    let mut source = storage::QuerySource::new(&db, &tenant, "fieldline");
    harness::replay(&mut source, 266, &[]);
}
