//! The general series (InfluxDB's databases, [`crate::general`]) over both backends: typed
//! values stored exactly, types kept per measurement, databases per organization, retention.

use fieldline_domain::line_protocol::{parse, Line, Precision};
use fieldline_domain::query::write_plan::{self, Destination};
use fieldline_domain::query::{ddl, FieldType, Source, TimeRange, Value as FieldData};
use fieldline_domain::Timestamp;
use fieldline_service::ports::{LinesWritten, Reservation, StoredFieldType};

use crate::general::{self, write_lines};
use crate::tests::{db, now, org};
use crate::{Db, QuerySource};

fn lines(body: &str) -> Vec<Line<'_>> {
    let (lines, errors) = parse(body, Precision::Nanoseconds, 0);
    assert!(errors.is_empty(), "{errors:?}");
    lines
}

/// The fields `lines` create when the stored types are `stored`, as the write plan gives them.
fn new_fields(lines: &[Line], stored: &[StoredFieldType]) -> Vec<StoredFieldType> {
    let lookup = |m: &str, f: &str| {
        stored
            .iter()
            .find(|t| t.measurement == m && t.field == f)
            .map(|t| t.ty)
    };
    let destination = Destination::Found { earliest_ns: None };
    write_plan::plan(lines, &[], destination, &lookup)
        .new_fields
        .into_iter()
        .map(|f| StoredFieldType {
            measurement: f.measurement,
            field: f.field,
            ty: f.field_type,
        })
        .collect()
}

/// Writes a body planned against the types stored now.
fn write(db: &dyn Db, tenant: &crate::Tenant, database: &str, body: &str) -> LinesWritten {
    let parsed = lines(body);
    let ms: Vec<&str> = parsed.iter().map(|l| &*l.measurement).collect();
    let stored = general::field_types(db, tenant, database, &ms).unwrap();
    let refs: Vec<&Line> = parsed.iter().collect();
    write_lines(
        db,
        tenant,
        database,
        &refs,
        &new_fields(&parsed, &stored),
        None,
    )
    .unwrap()
}

/// Creates a database with InfluxDB's default policy.
fn create(db: &dyn Db, tenant: &crate::Tenant, name: &str) {
    let database = ddl::Database {
        name: name.to_owned(),
        retention_policies: vec![ddl::RetentionPolicy {
            name: "autogen".into(),
            duration_ns: 0,
            shard_group_duration_ns: ddl::shard_group_duration(0),
            replication: 1,
        }],
        default_retention_policy: "autogen".into(),
    };
    general::store_database(db, tenant, &database, now()).unwrap();
}

fn names(db: &dyn Db, tenant: &crate::Tenant) -> Vec<String> {
    general::influx_scope(db, tenant, "fieldline")
        .unwrap()
        .databases
        .into_iter()
        .map(|d| d.name)
        .collect()
}

const ALL: TimeRange = TimeRange {
    min: i64::MIN,
    max: i64::MAX,
};

#[test]
fn typed_values_read_back_exactly_with_the_tags_as_written() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    create(&db, &tenant, "plant");
    let body = "plant,line=A,machine=press\\ 2 temp=71.5,rpm=9007199254740993i,running=true,state=\"ok \\\"x\\\"\" 1000\n\
                plant,machine=press\\ 2,line=A temp=72 2000\n\
                plant,line=B rpm=-9223372036854775808i 1000\n";
    assert_eq!(write(&db, &tenant, "plant", body), LinesWritten::Written(6));
    let mut source = QuerySource::new(&db, &tenant, "fieldline");
    let series = source.series("plant", None).unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    let a = &series[0];
    assert_eq!(a.measurement, "plant");
    assert_eq!(
        a.tags,
        [
            ("line".into(), "A".into()),
            ("machine".into(), "press 2".into())
        ]
    );
    let names: Vec<(&str, FieldType)> = a.fields.iter().map(|f| (f.name.as_str(), f.ty)).collect();
    assert_eq!(
        names,
        [
            ("rpm", FieldType::Integer),
            ("running", FieldType::Boolean),
            ("state", FieldType::String),
            ("temp", FieldType::Float)
        ]
    );
    let read = |source: &mut QuerySource<'_>, i: usize| {
        source.values(a.fields[i].key, ALL, false, None).unwrap()
    };
    assert_eq!(
        read(&mut source, 0),
        [(1000, FieldData::Integer(9_007_199_254_740_993))]
    );
    assert_eq!(read(&mut source, 1), [(1000, FieldData::Boolean(true))]);
    assert_eq!(
        read(&mut source, 2),
        [(1000, FieldData::String("ok \"x\"".into()))]
    );
    assert_eq!(
        read(&mut source, 3),
        [
            (1000, FieldData::Float(71.5)),
            (2000, FieldData::Float(72.0))
        ]
    );
    assert_eq!(
        source.points(a.fields[3].key, ALL, true, Some(1)).unwrap(),
        [(2000, 72.0)]
    );
    let b = &series[1];
    assert_eq!(
        source.values(b.fields[0].key, ALL, false, None).unwrap(),
        [(1000, FieldData::Integer(i64::MIN))]
    );
    // The model's database lists its channels and its own general series only.
    assert!(source.series("fieldline", None).unwrap().is_empty());
    assert!(source.series("nosuch", None).unwrap().is_empty());
}

#[test]
fn a_field_keeps_its_first_type_and_a_rewrite_replaces_the_value() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    create(&db, &tenant, "plant");
    assert_eq!(
        write(&db, &tenant, "plant", "m f=1i 1\n"),
        LinesWritten::Written(1)
    );
    // A body planned against older types (none stored) is refused whole: nothing of it is
    // written, not even its new field `g`.
    let stale = lines("m g=1 2\nm f=1.5 2\n");
    let refs: Vec<&Line> = stale.iter().collect();
    assert_eq!(
        write_lines(&db, &tenant, "plant", &refs, &new_fields(&stale, &[]), None).unwrap(),
        LinesWritten::TypesChanged
    );
    let types = general::field_types(&db, &tenant, "plant", &["m"]).unwrap();
    assert_eq!(types.len(), 1, "{types:?}");
    assert_eq!(types[0].ty, FieldType::Integer);
    assert_eq!(
        write(&db, &tenant, "plant", "m f=7i 1\nm f=8i 1\n"),
        LinesWritten::Written(1)
    );
    let mut source = QuerySource::new(&db, &tenant, "fieldline");
    let s = source.series("plant", Some(&["m".to_owned()])).unwrap();
    assert_eq!(
        source.values(s[0].fields[0].key, ALL, false, None).unwrap(),
        [(1, FieldData::Integer(8))]
    );
}

#[test]
fn the_quota_counts_in_the_values_transaction() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    create(&db, &tenant, "plant");
    let parsed = lines("m a=1,b=2,c=3 1\n");
    let refs: Vec<&Line> = parsed.iter().collect();
    let fields = new_fields(&parsed, &[]);
    let reservation = |units| Reservation {
        key: "quota".into(),
        units,
        limit: 4,
        expires_at: Timestamp::from_secs(2_000_000_000).unwrap(),
    };
    assert_eq!(
        write_lines(&db, &tenant, "plant", &refs, &fields, Some(&reservation(3))).unwrap(),
        LinesWritten::Written(3)
    );
    assert_eq!(
        write_lines(&db, &tenant, "plant", &refs, &[], Some(&reservation(3))).unwrap(),
        LinesWritten::OverLimit
    );
    assert_eq!(crate::counter(&db, "quota", now()).unwrap(), 3);
    // Up to the limit exactly: written and counted.
    assert_eq!(
        write_lines(&db, &tenant, "plant", &refs, &[], Some(&reservation(1))).unwrap(),
        LinesWritten::Written(3)
    );
    assert_eq!(crate::counter(&db, "quota", now()).unwrap(), 4);
    // The control rows that checked and counted are not stored.
    let stored = db
        .execute("SELECT count(*) FROM field_values WHERE field_key < 0", &[])
        .unwrap();
    assert_eq!(stored.first().unwrap().i64(0).unwrap(), 0);
}

/// Work run once on the database by [`Interleaved`].
type Hook<'a> = std::cell::RefCell<Option<Box<dyn FnOnce(&dyn Db) + 'a>>>;

/// A [`Db`] that runs `before` on the database once, just before the first statement that
/// starts with `prefix`: another writer's work, between a write's reads and its statement.
struct Interleaved<'a> {
    inner: &'a dyn Db,
    prefix: &'static str,
    before: Hook<'a>,
}

impl Db for Interleaved<'_> {
    fn execute(&self, sql: &str, params: &[crate::db::Value]) -> crate::Result<crate::db::Rows> {
        if sql.starts_with(self.prefix) {
            if let Some(f) = self.before.borrow_mut().take() {
                f(self.inner);
            }
        }
        self.inner.execute(sql, params)
    }

    fn dialect(&self) -> crate::db::Dialect {
        self.inner.dialect()
    }
}

/// The values of the measurement's series whose tags are `tags`, field `f`.
fn values_of(
    db: &dyn Db,
    tenant: &crate::Tenant,
    m: &str,
    tags: &[(&str, &str)],
) -> Vec<(i64, FieldData)> {
    let mut source = QuerySource::new(db, tenant, "fieldline");
    let series = source.series("plant", Some(&[m.to_owned()])).unwrap();
    let Some(s) = series.iter().find(|s| {
        s.tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .eq(tags.iter().copied())
    }) else {
        return Vec::new();
    };
    let f = s.fields.iter().find(|f| f.name == "f").unwrap();
    source.values(f.key, ALL, false, None).unwrap()
}

#[test]
fn a_body_of_known_series_checks_them_where_it_writes() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    create(&db, &tenant, "plant");
    assert_eq!(
        write(&db, &tenant, "plant", "m,t=a f=1 1\n"),
        LinesWritten::Written(1)
    );
    let body = lines("m,t=a f=2 2\n");
    let refs: Vec<&Line> = body.iter().collect();

    // Its field dropped and written again as an integer after the body's keys were read (on
    // SQLite the new series may even take the old keys): refused whole, to be planned again.
    let interleaved = Interleaved {
        inner: &db,
        prefix: "INSERT INTO field_values",
        before: std::cell::RefCell::new(Some(Box::new(|db: &dyn Db| {
            general::drop_measurement(db, &tenant, "plant", "m").unwrap();
            assert_eq!(
                write(db, &tenant, "plant", "m,t=a f=5i 5\n"),
                LinesWritten::Written(1)
            );
        }))),
    };
    assert_eq!(
        write_lines(&interleaved, &tenant, "plant", &refs, &[], None).unwrap(),
        LinesWritten::TypesChanged
    );
    assert_eq!(
        values_of(&db, &tenant, "m", &[("t", "a")]),
        [(5, FieldData::Integer(5))]
    );

    // Its series deleted (its values deleted, so the series left empty) after the read: the
    // body registers it again and is written, not lost.
    assert_eq!(
        write(&db, &tenant, "plant", "m,t=b f=1i 1\n"),
        LinesWritten::Written(1)
    );
    let body = lines("m,t=b f=2i 2\n");
    let refs: Vec<&Line> = body.iter().collect();
    let interleaved = Interleaved {
        inner: &db,
        prefix: "INSERT INTO field_values",
        before: std::cell::RefCell::new(Some(Box::new(|db: &dyn Db| {
            let mut source = QuerySource::new(db, &tenant, "fieldline");
            let series = source.series("plant", Some(&["m".to_owned()])).unwrap();
            // (the source's keys of general fields are the stored keys negated)
            let keys: Vec<i64> = series
                .iter()
                .flat_map(|s| s.fields.iter().map(|f| -f.key))
                .collect();
            general::delete_values(db, &tenant, &keys, ALL).unwrap();
        }))),
    };
    assert_eq!(
        write_lines(&interleaved, &tenant, "plant", &refs, &[], None).unwrap(),
        LinesWritten::Written(1)
    );
    assert_eq!(
        values_of(&db, &tenant, "m", &[("t", "b")]),
        [(2, FieldData::Integer(2))]
    );
    assert!(values_of(&db, &tenant, "m", &[("t", "a")]).is_empty());
}

#[test]
fn many_series_in_one_body_each_keep_the_last_value_of_each_time() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    create(&db, &tenant, "plant");
    // 20 series (past the 16 found by comparing), each twice at time 1 and once at time 2,
    // the lines of the series interleaved; then the same body again (known series, one
    // statement) with other values.
    for round in 0..2 {
        let mut body = String::new();
        for pass in 0..2 {
            for t in 0..20 {
                body.push_str(&format!(
                    "m,t={t} f={}i,g=1i 1\n",
                    round * 1000 + pass * 100 + t
                ));
            }
        }
        for t in 0..20 {
            body.push_str(&format!("m,t={t} f={}i 2\n", round * 1000 + 500 + t));
        }
        assert_eq!(
            write(&db, &tenant, "plant", &body),
            LinesWritten::Written(20 * 3)
        );
        for t in [0, 15, 16, 19] {
            let tag = t.to_string();
            assert_eq!(
                values_of(&db, &tenant, "m", &[("t", tag.as_str())]),
                [
                    (1, FieldData::Integer(round * 1000 + 100 + t)),
                    (2, FieldData::Integer(round * 1000 + 500 + t)),
                ],
                "series t={t}, round {round}"
            );
        }
    }
}

#[test]
fn the_single_statement_shares_the_writer_lock_of_transactions_on_postgresql() {
    let migrations: Vec<&str> = crate::schema_pg::MIGRATIONS.concat();
    let lock = format!("pg_advisory_xact_lock_shared({})", crate::db::WRITER_LOCK);
    assert!(
        migrations.iter().any(|m| m.contains(&lock)),
        "{lock} not found"
    );
}

#[test]
fn databases_belong_to_one_organization_and_drop_with_their_data() {
    let db = db();
    let (a, _) = org(&db, "A", "a@example.com");
    let (b, _) = org(&db, "B", "b@example.com");
    create(&db, &a, "plant");
    create(&db, &a, "plant");
    create(&db, &b, "plant");
    create(&db, &a, "lab");
    assert_eq!(names(&db, &a), ["lab", "plant"]);
    write(&db, &a, "plant", "m,k=a f=1 1\n");
    write(&db, &b, "plant", "m,k=b f=2 1\n");
    let mut source = QuerySource::new(&db, &b, "fieldline");
    let theirs = source.series("plant", None).unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].tags, [("k".into(), "b".into())]);
    // Another organization's field keys answer nothing.
    let mut mine = QuerySource::new(&db, &a, "fieldline");
    let key = mine.series("plant", None).unwrap()[0].fields[0].key;
    assert!(source.values(key, ALL, false, None).unwrap().is_empty());

    assert!(general::drop_database(&db, &a, "plant").unwrap());
    assert!(!general::drop_database(&db, &a, "plant").unwrap());
    assert_eq!(names(&db, &a), ["lab"]);
    assert!(mine.series("plant", None).unwrap().is_empty());
    assert!(mine.values(key, ALL, false, None).unwrap().is_empty());
    // Re-created, it starts empty and takes new types.
    create(&db, &a, "plant");
    assert_eq!(
        write(&db, &a, "plant", "m,k=a f=\"s\" 1\n"),
        LinesWritten::Written(1)
    );
    assert_eq!(source.series("plant", None).unwrap().len(), 1);
}

#[test]
fn the_scope_says_whether_the_model_database_holds_general_series() {
    let db = db();
    let (a, _) = org(&db, "A", "a@example.com");
    let (b, _) = org(&db, "B", "b@example.com");
    let scope = general::influx_scope(&db, &a, "fieldline").unwrap();
    assert_eq!(
        scope.subscription,
        crate::orgs::organization(&db, &a).unwrap().subscription
    );
    assert!(scope.databases.is_empty());
    assert!(!scope.model_general);
    // A database of its own is not general series in the model's database.
    create(&db, &a, "plant");
    write(&db, &a, "plant", "m,k=a f=1 1\n");
    let scope = general::influx_scope(&db, &a, "fieldline").unwrap();
    assert_eq!(scope.databases.len(), 1);
    assert!(!scope.model_general);
    write(&db, &a, "fieldline", "cpu,host=x usage=1.5 1\n");
    assert!(
        general::influx_scope(&db, &a, "fieldline")
            .unwrap()
            .model_general
    );
    assert!(
        !general::influx_scope(&db, &b, "fieldline")
            .unwrap()
            .model_general
    );
    // Told there are none, the source does not list them; told there are, it does.
    let listed = |has: bool| {
        QuerySource::new(&db, &a, "fieldline")
            .model_general(has)
            .series("fieldline", None)
            .unwrap()
            .len()
    };
    assert_eq!((listed(false), listed(true)), (0, 1));
    // Another database's series are listed whatever the model's holds.
    let mut source = QuerySource::new(&db, &a, "fieldline").model_general(false);
    assert_eq!(source.series("plant", None).unwrap().len(), 1);
}

#[test]
fn the_fields_a_line_wrote_a_device_as_read_back_as_one_series() {
    let db = db();
    let (a, _) = org(&db, "A", "a@example.com");
    let (device, _, channels) =
        crate::tests::device_with_channels(&db, &a, &["plant", "plant.temp", "plant.rpm", "other"]);
    let tags = vec![("uuid".to_owned(), device.uuid.to_string())];
    let written = |i: usize, field: Option<(&str, &str)>| {
        let field = field.map(|(m, f)| (m.to_owned(), f.to_owned()));
        crate::series::set_written(&db, &a, &channels[i].id, &tags, field.as_ref()).unwrap();
    };
    written(0, None);
    written(1, Some(("plant", "temp")));
    written(2, Some(("plant", "rpm")));
    let mut source = QuerySource::new(&db, &a, "fieldline").model_general(false);
    let s = source
        .series("fieldline", Some(&["plant".to_owned()]))
        .unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!((s[0].measurement.as_str(), &s[0].tags), ("plant", &tags));
    let fields: Vec<(&str, i64)> = s[0]
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.key))
        .collect();
    assert_eq!(
        fields,
        [
            ("rpm", channels[2].key),
            ("temp", channels[1].key),
            ("value", channels[0].key),
        ]
    );
    // Every measurement: `plant`, and `other` with the model's tags.
    let all = source.series("fieldline", None).unwrap();
    let mut names: Vec<&str> = all.iter().map(|s| s.measurement.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["other", "plant"]);
    // Proficloud names the channels by communicationId.
    let by_id = |names: &[String], influx_names| {
        let filter = crate::SeriesFilter {
            uuids: None,
            measurements: Some(names),
            influx_names,
        };
        crate::series::list_series(&db, &a, filter).unwrap().len()
    };
    assert_eq!(by_id(&["plant.temp".to_owned()], false), 1);
    assert_eq!(by_id(&["plant.temp".to_owned()], true), 0);
    assert_eq!(by_id(&["plant".to_owned()], false), 1);
    assert_eq!(by_id(&["plant".to_owned()], true), 3);
}

#[test]
fn a_uuid_condition_lists_the_devices_series_where_the_others_add_no_field() {
    let db = db();
    let (a, _) = org(&db, "A", "a@example.com");
    let (b, _) = org(&db, "B", "b@example.com");
    let devices: Vec<_> = (0..3)
        .map(|_| crate::tests::device_with_channels(&db, &a, &["plant", "line"]))
        .collect();
    let (other_org, _, _) = crate::tests::device_with_channels(&db, &b, &["plant"]);
    let uuid = |i: usize| devices[i].0.uuid.to_string();
    let hint = fieldline_domain::query::TagValues {
        key: "uuid".into(),
        values: vec![
            uuid(0),
            uuid(1),
            "not a uuid".into(),
            other_org.uuid.to_string(),
        ],
    };
    let listed = |model_general: bool, measurement: &str| -> Vec<String> {
        let mut source = QuerySource::new(&db, &a, "fieldline").model_general(model_general);
        let series = source
            .series_matching(
                "fieldline",
                "autogen",
                Some(&[measurement.to_owned()]),
                std::slice::from_ref(&hint),
            )
            .unwrap();
        let mut uuids: Vec<String> = series
            .iter()
            .map(|s| s.tag("uuid").unwrap_or("-").to_owned())
            .collect();
        uuids.sort();
        uuids
    };
    let mut two = vec![uuid(0), uuid(1)];
    two.sort();
    let mut three = vec![uuid(0), uuid(1), uuid(2)];
    three.sort();
    // The two devices' series of the organization, not the third's, nor another's.
    assert_eq!(listed(false, "plant"), two);
    assert_eq!(listed(true, "plant"), two);
    // A channel of the measurement with another field: the statement's fields would differ
    // without it, so every series is listed.
    let tags = vec![("uuid".to_owned(), uuid(2))];
    let temp = ("line".to_owned(), "temp".to_owned());
    crate::series::set_written(&db, &a, &devices[2].2[1].id, &tags, Some(&temp)).unwrap();
    assert_eq!(listed(false, "line"), three);
    // General series of the measurement in the model's database: every series too.
    write(&db, &a, "fieldline", "plant,host=x load=1i 1");
    assert_eq!(
        listed(true, "plant"),
        [vec!["-".to_owned()], three].concat()
    );
}

#[test]
fn deleting_takes_the_values_in_range_then_the_series_left_empty_of_one_organization() {
    let db = db();
    let (a, _) = org(&db, "A", "a@example.com");
    let (b, _) = org(&db, "B", "b@example.com");
    create(&db, &a, "plant");
    write(
        &db,
        &a,
        "plant",
        "m,k=x f=1 1000\nm,k=x f=2 2000\nm,k=y f=3 1000\n",
    );
    let keys = |tenant| -> Vec<i64> {
        QuerySource::new(&db, tenant, "fieldline")
            .series("plant", None)
            .unwrap()
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| -f.key))
            .collect()
    };
    let all = keys(&a);
    assert_eq!(all.len(), 2);
    // Another organization's keys delete nothing.
    general::delete_values(&db, &b, &all, ALL).unwrap();
    assert_eq!(keys(&a).len(), 2);
    // Points before 1500 ns: `k=y` is left without one and goes; `k=x` keeps its later point.
    let before = TimeRange {
        min: i64::MIN,
        max: 1499,
    };
    general::delete_values(&db, &a, &all, before).unwrap();
    let mut source = QuerySource::new(&db, &a, "fieldline");
    let left = source.series("plant", None).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].tags, [("k".to_owned(), "x".to_owned())]);
    let values = source
        .values(left[0].fields[0].key, ALL, false, None)
        .unwrap();
    assert_eq!(values, [(2000, FieldData::Float(2.0))]);
    // The type stays until the measurement is dropped.
    let types = |tenant| {
        general::field_types(&db, tenant, "plant", &["m"])
            .unwrap()
            .len()
    };
    general::delete_values(&db, &a, &keys(&a), ALL).unwrap();
    assert!(keys(&a).is_empty());
    assert_eq!(types(&a), 1);
    general::drop_measurement(&db, &b, "plant", "m").unwrap();
    assert_eq!(types(&a), 1);
    general::drop_measurement(&db, &a, "plant", "m").unwrap();
    assert_eq!(types(&a), 0);
}

#[test]
fn retention_deletes_old_values_in_batches() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    create(&db, &tenant, "plant");
    write(
        &db,
        &tenant,
        "plant",
        "m f=1 1000\nm f=2 2000\nm f=3 3000\nm g=1i 1000\n",
    );
    assert_eq!(general::delete_expired(&db, &tenant, 2500, 2).unwrap(), 2);
    assert_eq!(general::delete_expired(&db, &tenant, 2500, 2).unwrap(), 1);
    assert_eq!(general::delete_expired(&db, &tenant, 2500, 2).unwrap(), 0);
    let mut source = QuerySource::new(&db, &tenant, "fieldline");
    let s = source.series("plant", None).unwrap();
    let f = s[0].field("f").unwrap().key;
    assert_eq!(
        source.values(f, ALL, false, None).unwrap(),
        [(3000, FieldData::Float(3.0))]
    );
}
