//! The general corpus recorded from the real InfluxDB 1.6 (`tests/golden/influxdb-general/`),
//! answered over SQLite (or PostgreSQL) through [`fieldline_storage::QuerySource`]: the recorded
//! data set is written as a `/write` stores it (the write plan's field types, the general series
//! with their tags as written, typed values in nanoseconds) into database `general` of one
//! organization, so this checks the general series' storage under the same engine the native
//! replay runs.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/golden/influxdb-general/harness.rs"]
mod harness;

use fieldline_domain::line_protocol::{self, Line, Precision};
use fieldline_domain::query::{ddl, write_plan, Source};
use fieldline_domain::{
    Email, OrgFields, OrgName, Password, PasswordHasher, Permissions, Principal, Subscription,
    Timestamp,
};
use fieldline_service::auth::Caller;
use fieldline_service::influx::{self, CallerSource};
use fieldline_service::ports::{LinesWritten, StoredFieldType};
use fieldline_storage::{self as storage, Db, SqlStore, Tenant};

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

/// The model's database of the organization: the corpus' databases are all general ones.
const MODEL: &str = "fieldline";

/// An organization whose database `general` holds the data set, as `/write` stores it; its
/// administrator.
fn organization(db: &dyn Db) -> (Tenant, Caller) {
    storage::migrate(db).unwrap();
    let now = Timestamp::now();
    let hash = PasswordHasher::insecure_fast_for_tests()
        .hash(&Password::parse("correct horse battery").unwrap())
        .unwrap();
    let (tenant, _, user) = storage::sign_up(
        db,
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
    storage::store_database(db, &tenant, &database, now).unwrap();
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
    let written =
        storage::write_lines(db, &tenant, harness::DATABASE, &accepted, &new_fields, None).unwrap();
    assert!(
        matches!(written, LinesWritten::Written(n) if n > 2193),
        "{written:?}"
    );
    let caller = Caller {
        tenant,
        principal: Principal::Member {
            user: user.id,
            org: tenant.id(),
            permissions: Permissions::ADMINISTRATOR,
        },
    };
    (tenant, caller)
}

/// The organization's store as `/write` and `/query` use it: the service's write use case and
/// the caller's source (statements that change databases, SELECT INTO).
struct Sql<'a> {
    store: &'a SqlStore<&'a dyn Db>,
    caller: &'a Caller,
    source: CallerSource<'a, SqlStore<&'a dyn Db>>,
}

impl harness::Store for Sql<'_> {
    fn catalog(&mut self) -> ddl::Catalog {
        influx::query_context(self.store, self.caller, MODEL, Timestamp::now())
            .unwrap()
            .catalog
    }

    fn write(
        &mut self,
        db: Option<&str>,
        rp: Option<&str>,
        precision: &str,
        body: &str,
    ) -> (u16, String) {
        let now = Timestamp::now();
        let precision = Precision::parse(precision).unwrap_or_default();
        let (lines, errors) = line_protocol::parse(body, precision, influx::ns(now));
        let db = db.unwrap_or("");
        let scope = influx::scope(self.store, self.caller, MODEL).unwrap();
        if !db.is_empty() && !influx::database_exists(&scope, MODEL, db) {
            // The HTTP layer's answer, before the body is read.
            let a = write_plan::plan(
                &[],
                &[],
                write_plan::Destination::MissingDatabase(db),
                &|_, _| None,
            );
            return (a.answer.status, a.answer.body());
        }
        let r = influx::write(
            self.store,
            self.caller,
            &scope,
            MODEL,
            db,
            rp,
            &lines,
            &errors,
            now,
        )
        .unwrap();
        (r.answer.status, r.answer.body())
    }

    fn source(&mut self) -> &mut dyn Source {
        &mut self.source
    }
}

/// Replays, in order, the cases of `file` starting with `prefix` over a fresh organization.
fn replay_over_storage(
    file: &str,
    prefix: &str,
    counts: (usize, usize),
    different: &[(&str, &str)],
) {
    let db = database();
    let (_, caller) = organization(&*db);
    let store = SqlStore(&*db);
    let mut sql = Sql {
        store: &store,
        caller: &caller,
        // Lists the model database's general series whatever the organization holds: the
        // corpus writes some there after the source is made.
        source: influx::for_caller(&store, &caller, MODEL, true, Timestamp::now()),
    };
    harness::replay_in_order(&mut sql, file, prefix, counts, different);
}

/// Why `SHOW DATABASES` differs over storage: the organization always has the model's own.
const MODEL_LISTED: &str = "the organization's model database (fieldline) is listed first";

/// Why a read through another retention policy differs over storage: a database's policies
/// share its data in Fieldline (docs/epts.md); InfluxDB keeps each policy's points apart.
const POLICIES_SHARE: &str = "a database's retention policies share its points in Fieldline";

/// writes.toml in order over storage: the native replay's answers
/// (`shared/domain/tests/general_golden.rs`) and its differences by design, and the database
/// lists naming the model's database.
#[test]
fn the_write_cases_get_influxdbs_answers_over_storage() {
    let mut different = harness::WRITES_DIFFERENT.to_vec();
    different.extend([
        ("write_missing_db_check", MODEL_LISTED),
        ("write_teardown_check", MODEL_LISTED),
    ]);
    replay_over_storage("writes.toml", "write_", (182, 1), &different);
}

#[test]
fn the_into_cases_get_influxdbs_answers_over_storage() {
    replay_over_storage("queries.toml", "into_", (27, 0), &[]);
}

#[test]
fn the_ddl_cases_get_influxdbs_answers_over_storage() {
    let different = [
        ("ddl_show_databases_before", MODEL_LISTED),
        ("ddl_show_databases", MODEL_LISTED),
        ("ddl_show_databases_after", MODEL_LISTED),
        ("ddl_read_qualified_rp", POLICIES_SHARE),
        ("ddl_read_field_keys", POLICIES_SHARE),
        ("ddl_read_after_default_change", POLICIES_SHARE),
    ];
    replay_over_storage("queries.toml", "ddl_", (43, 0), &different);
}

#[test]
fn storage_gives_influxdbs_answers_over_general_series() {
    let db = database();
    let (tenant, _) = organization(&*db);
    let mut source = storage::QuerySource::new(&*db, &tenant, MODEL);
    harness::replay(&mut source, 517, &[]);
}
