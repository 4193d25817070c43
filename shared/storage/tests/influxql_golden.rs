//! The InfluxQL corpus recorded from the real InfluxDB 1.6.7 (`tests/golden/influxql/`),
//! answered over SQLite through [`fieldline_storage::QuerySource`]: the recorded data set is
//! stored as devices, sensors, channels and points of one organization, so this checks the
//! mapping of the model onto InfluxDB's (measurements, tags, nanosecond ranges over
//! millisecond points, per-interval summaries computed by SQLite), before and after the hours
//! are rolled up.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/golden/influxql/harness.rs"]
mod harness;

use std::collections::HashMap;

use fieldline_domain::{
    ChannelFields, CommunicationId, DeviceFields, Email, Name, NetworkId, OrgFields, OrgName,
    Password, PasswordHasher, Point, SensorFields, Subscription, Timestamp, Unit, Uuid,
};
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
fn storage_gives_influxdbs_answers() {
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
    let tag = |line: &harness::Line, k: &str| {
        line.tags
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let mut devices = HashMap::new();
    let mut sensors = HashMap::new();
    let mut channels = HashMap::new();
    let mut points = Vec::new();
    for line in harness::dataset() {
        let uuid = tag(&line, "uuid").unwrap();
        let device = *devices.entry(uuid.clone()).or_insert_with(|| {
            let mut f = DeviceFields::named(Name::parse(&tag(&line, "device").unwrap()).unwrap());
            f.network_id = tag(&line, "network_id").map(|n| NetworkId::parse(&n).unwrap());
            storage::create_device(&db, &tenant, &f, Some(Uuid::parse(&uuid).unwrap()), now)
                .unwrap()
                .id
        });
        let sensor_name = tag(&line, "sensor").unwrap();
        let sensor = *sensors
            .entry((uuid.clone(), sensor_name.clone()))
            .or_insert_with(|| {
                let f = SensorFields::named(Name::parse(&sensor_name).unwrap());
                storage::create_sensor(&db, &tenant, device, &f, now)
                    .unwrap()
                    .id
            });
        let channel = *channels
            .entry((uuid, line.measurement.clone()))
            .or_insert_with(|| {
                let mut f = ChannelFields::named(Name::parse("Golden").unwrap());
                f.unit = Unit::parse(&tag(&line, "unit").unwrap_or_default()).unwrap();
                let comm = CommunicationId::parse(&line.measurement).unwrap();
                let c = storage::create_channel(&db, &tenant, sensor, Some(comm), &f, now).unwrap();
                storage::channel_ref(&db, &tenant, c.id).unwrap()
            });
        let p = Point::new(Timestamp::from_millis(line.ms).unwrap(), line.value).unwrap();
        points.push((channel, p));
    }
    storage::write_points(&db, &tenant, &points).unwrap();
    // Every hour is pending: answered from the points.
    harness::replay(&mut storage::QuerySource::new(&db, &tenant, "fieldline"));
    // Rolled up: whole hours come from the rollups, and the answers must not change.
    while storage::roll_up_pending(&db, 7, fieldline_domain::Timestamp::MAX).unwrap() == 7 {}
    let pending = Db::execute(&db, "SELECT count(*) FROM rollup_pending", &[]).unwrap();
    assert_eq!(pending.first().unwrap().i64(0).unwrap(), 0);
    harness::replay(&mut storage::QuerySource::new(&db, &tenant, "fieldline"));

    // One more point of Press 1's watts, a week later, in the next weekly shard group: InfluxDB's
    // exact series count counts a series once per shard group holding its points.
    let press_1 = (
        "355f6856-e9a4-469f-8f22-3f8b037d064a".to_owned(),
        "auto~watt".to_owned(),
    );
    let week_later = Timestamp::from_millis(1_595_325_600_000 + 7 * 86_400_000).unwrap();
    let p = Point::new(week_later, 1.0).unwrap();
    storage::write_points(&db, &tenant, &[(channels[&press_1], p)]).unwrap();
    let count = |q: &str| {
        let mut ctx = fieldline_domain::query::Context::model(
            "fieldline",
            0,
            now.as_millis() * 1_000_000,
            1000,
        );
        ctx.db = Some("fieldline".into());
        let statements = fieldline_domain::influxql::parse_query(q).unwrap();
        let mut source = storage::QuerySource::new(&db, &tenant, "fieldline");
        let results = fieldline_domain::query::execute(&statements, &ctx, &mut source).unwrap();
        let series = &results.0[0].series;
        series
            .iter()
            .map(|s| format!("{:?}", s.values))
            .collect::<Vec<_>>()
    };
    let q = "SHOW SERIES EXACT CARDINALITY FROM \"auto~watt\"";
    assert_eq!(count(q), ["[[Integer(3)]]"]);
    let q = "SHOW SERIES CARDINALITY";
    assert_eq!(count(q), ["[[Integer(7)]]"]);
    let q = "SHOW SERIES EXACT CARDINALITY FROM \"auto~watt\" WHERE \"device\" = 'Press 2'";
    assert_eq!(count(q), ["[[Integer(1)]]"]);
}
