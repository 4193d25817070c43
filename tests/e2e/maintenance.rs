//! The `maintenance` component (`functions/maintenance`) on the cron trigger of spin.toml: run
//! once with `fieldline trigger cron maintenance` against a running application's state, it
//! deletes the rate-limit counters whose window has ended and keeps the others, rolls up the
//! hours written since its last run, and applies each organization's retention.

use fieldline_domain::Timestamp;
use fieldline_storage as storage;
use fieldline_tests::{trigger_cron, workspace, Start, TestHost};

const SECRET: &str = "e2e-maintenance-jwt-secret-0123456789abcdef";

/// One tick of the maintenance cron, run by hand (`fieldline trigger cron maintenance`) on the
/// host's state directory; what it printed.
fn maintenance_tick(h: &TestHost) -> String {
    let (ok, out) = trigger_cron(
        &workspace().join("spin.toml"),
        "maintenance",
        h.state.path(),
        None,
        &[("SPIN_VARIABLE_JWT_SECRET", SECRET)],
    )
    .expect("runs");
    assert!(ok, "{out}");
    out
}

#[test]
fn maintenance_purges_expired_counters_on_its_cron_trigger() {
    // The application starts with its cron trigger (the host schedules every [[trigger.cron]]
    // at start-up and refuses an expression it cannot parse).
    let h = Start::new(workspace().join("spin.toml"))
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .start()
        .expect("host starts");
    let db = storage::native::open(&h.state.path().join("sqlite_db.db")).expect("db");
    storage::migrate(&db).expect("migrate");

    // Counters of windows that ended, as one-second Conduit write windows leave them behind,
    // and one of a window still running. (Clear of the minute, at which the host's own tick
    // would purge them before this test's run counts them.)
    fieldline_tests::settle(60, 10);
    let now = Timestamp::now();
    for i in 0..250 {
        let key = format!("conduit-write|token:t{i}|1");
        storage::increment_counter(&db, &key, 1, now.add_secs(-5)).expect("counter");
    }
    let live = "conduit-write|token:live|2";
    storage::increment_counter(&db, live, 7, now.add_secs(3600)).expect("counter");

    let out = maintenance_tick(&h);
    assert!(
        out.contains("maintenance: rolled up 0 channel-hours, purged 250 expired counters"),
        "{out}"
    );
    let left: Vec<(String, i64)> = db
        .prepare("SELECT key, n FROM counters")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("counters");
    assert_eq!(left, vec![(live.to_owned(), 7)], "the live counter is kept");
    // ... and it goes on counting where it was.
    let n = storage::increment_counter(&db, live, 1, now.add_secs(3600)).expect("counter");
    assert_eq!(n, 8);

    // Hours written meanwhile are rolled up by the next run.
    let hash = fieldline_domain::PasswordHasher::insecure_fast_for_tests()
        .hash(&fieldline_domain::Password::parse("correct horse battery").expect("pw"))
        .expect("hash");
    let (tenant, _, _) = storage::sign_up(
        &db,
        &fieldline_domain::OrgFields::named(
            fieldline_domain::OrgName::parse("Acme").expect("name"),
        ),
        // Retention long enough for points of 1970.
        &fieldline_tests::fixture_subscription(),
        &fieldline_domain::Email::parse("ops@example.com").expect("email"),
        &hash,
        now,
    )
    .expect("sign up");
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let line = "auto~watt,uuid=355f6856-e9a4-469f-8f22-3f8b037d064a value";
    let body = format!("{line}=1 0\n{line}=2 1000\n{line}=4 3600000\n");
    let (lines, _) = fieldline_domain::line_protocol::parse(
        &body,
        fieldline_domain::line_protocol::Precision::Milliseconds,
        0,
    );
    let caller = fieldline_service::auth::Caller {
        tenant,
        principal: fieldline_domain::Principal::Federation {
            token: fieldline_domain::TokenId::generate().expect("id"),
            org: tenant.id(),
        },
    };
    let store = storage::SqlStore(&db);
    fieldline_tests::settle(60, 10);
    let scope = fieldline_service::influx::scope(&store, &caller, "fieldline").expect("scope");
    let report = fieldline_service::influx::write(
        &store,
        &caller,
        &scope,
        "fieldline",
        "fieldline",
        None,
        &lines,
        &[],
        now,
    )
    .expect("write");
    assert_eq!(report.answer.status, 204, "{:?}", report.answer);
    let out = maintenance_tick(&h);
    assert!(
        out.contains("maintenance: rolled up 2 channel-hours"),
        "{out}"
    );
    let rollups: Vec<(i64, i64, f64)> = db
        .prepare("SELECT hour, count, sum FROM rollups ORDER BY hour")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("rollups");
    assert_eq!(rollups, vec![(0, 2, 3.0), (3_600_000, 1, 4.0)]);

    // Scheduled every minute, not only run on demand.
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(workspace().join("spin.toml")).expect("spin.toml"))
            .expect("toml");
    let crons = manifest["trigger"]["cron"]
        .as_array()
        .expect("[[trigger.cron]]");
    assert!(
        crons
            .iter()
            .any(|t| t["component"].as_str() == Some("maintenance")
                && t["cron_expression"].as_str() == Some("0 * * * * *")),
        "{crons:?}"
    );
}

#[test]
fn maintenance_applies_each_organizations_retention_and_rollups_answer_beyond_it() {
    use fieldline_domain::{ChannelFields, CommunicationId, DeviceFields, Name, Point, Uuid};

    let h = Start::new(workspace().join("spin.toml"))
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .start()
        .expect("host starts");
    let db = storage::native::open(&h.state.path().join("sqlite_db.db")).expect("db");
    storage::migrate(&db).expect("migrate");
    let (tenant, _) = fieldline_tests::sign_up(&db, "Short", "ops@example.com");
    // 1 day of raw points, 3 days of rollups.
    let short = fieldline_domain::Subscription {
        detailed_retention_days: 1,
        aggregated_retention_days: 3,
        ..fieldline_domain::Subscription::default()
    };
    storage::update_subscription(&db, &tenant, &short).expect("subscription");
    // Another organization, with the fixtures' long retention, keeps everything.
    let (other, _) = fieldline_tests::sign_up(&db, "Long", "long@example.com");
    let now = Timestamp::now();
    let uuid = Uuid::parse("355f6856-e9a4-469f-8f22-3f8b037d064a").expect("uuid");
    let mut refs = Vec::new();
    for t in [&tenant, &other] {
        let d = storage::create_device(
            &db,
            t,
            &DeviceFields::named(Name::parse("Meter").expect("name")),
            Some(uuid),
            now,
        )
        .expect("device");
        let s = storage::create_sensor(
            &db,
            t,
            d.id,
            &fieldline_domain::SensorFields::named(Name::parse("S").expect("name")),
            now,
        )
        .expect("sensor");
        storage::create_channel(
            &db,
            t,
            s.id,
            Some(CommunicationId::parse("auto~watt").expect("id")),
            &ChannelFields::named(Name::parse("Power").expect("name")),
            now,
        )
        .expect("channel");
        refs.push(storage::channel_refs(&db, t, d.id).expect("refs")["auto~watt"]);
    }
    // 5 days ago (beyond both retentions): 6,000 points, more than a batch; 2 days ago (beyond
    // the detailed retention only): 3 points; an hour ago: 1 point.
    let hour = |days_ago: i64| now.add_secs(-days_ago * 86_400).hour_start().as_millis();
    for (t, r) in [(&tenant, refs[0]), (&other, refs[1])] {
        let mut points = Vec::new();
        for k in 0..6_000 {
            points.push((hour(5) + k * 500, 1.0));
        }
        points.extend([(hour(2), 1.0), (hour(2) + 1, 2.0), (hour(2) + 2, 6.0)]);
        points.push((now.add_secs(-3600).as_millis(), 7.0));
        let points: Vec<_> = points
            .into_iter()
            .map(|(ms, v)| {
                let ts = Timestamp::from_millis(ms).expect("ts");
                (r, Point::new(ts, v).expect("point"))
            })
            .collect();
        storage::write_points(&db, t, &points).expect("write");
    }

    let out = maintenance_tick(&h);
    // Rolled up first, then deleted: 6,003 points and 1 rollup of the short organization (the
    // host's own cron, every minute, may have done it first: the state below is what counts).
    assert!(out.contains("retention deleted"), "{out}");
    let count =
        |sql: &str, key: i64| -> i64 { db.query_row(sql, [key], |r| r.get(0)).expect("count") };
    let points_of = "SELECT count(*) FROM points WHERE channel_key = ?";
    let rollups_of = "SELECT count(*) FROM rollups WHERE channel_key = ?";
    assert_eq!(
        count(points_of, refs[0].key),
        1,
        "only the last hour's point"
    );
    assert_eq!(
        count(rollups_of, refs[0].key),
        2,
        "2 days ago and the last hour"
    );
    assert_eq!(
        count(points_of, refs[1].key),
        6_004,
        "the other keeps everything"
    );
    assert_eq!(count(rollups_of, refs[1].key), 3);

    // The hour of 2 days ago is still answered exactly, from its rollup, by InfluxQL over
    // whole hours (the account's password as InfluxDB credentials).
    let from = hour(2);
    let q = format!(
        "SELECT count(value), sum(value), mean(value) FROM \"auto~watt\" \
         WHERE time >= {from}ms AND time < {}ms GROUP BY time(1h)",
        from + 3_600_000
    );
    let resp = fieldline_tests::client()
        .get(h.url("/query"))
        .basic_auth("ops@example.com", Some(fieldline_tests::PASSWORD))
        .query(&[("db", "fieldline"), ("epoch", "ms"), ("q", &q)])
        .send()
        .expect("query");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().expect("json");
    let row = &body["results"][0]["series"][0]["values"][0];
    let got: Vec<f64> = (0..4).filter_map(|i| row[i].as_f64()).collect();
    assert_eq!(got, vec![from as f64, 3.0, 9.0, 3.0], "{body}");
    // ... while the raw points of that hour are gone.
    let q = format!(
        "SELECT value FROM \"auto~watt\" WHERE time >= {from}ms AND time < {}ms",
        from + 3_600_000
    );
    let resp = fieldline_tests::client()
        .get(h.url("/query"))
        .basic_auth("ops@example.com", Some(fieldline_tests::PASSWORD))
        .query(&[("db", "fieldline"), ("q", &q)])
        .send()
        .expect("query");
    let body: serde_json::Value = resp.json().expect("json");
    assert!(body["results"][0]["series"].is_null(), "{body}");

    // A late point for that hour is dropped as InfluxDB drops points beyond the retention
    // policy: written, it would make the next roll-up recompute the hour from it alone.
    let resp = fieldline_tests::client()
        .post(h.url("/write?db=fieldline&precision=ms"))
        .basic_auth("ops@example.com", Some(fieldline_tests::PASSWORD))
        .body(format!(
            "auto~watt,uuid={uuid} value=100 {}\nauto~watt,uuid={uuid} value=8 {}\n",
            from + 5,
            now.as_millis()
        ))
        .send()
        .expect("write");
    assert_eq!(resp.status().as_u16(), 400);
    let e: serde_json::Value = resp.json().expect("json");
    let e = e["error"].as_str().unwrap_or_default();
    assert!(
        e.starts_with("partial write: points beyond retention policy") && e.ends_with("dropped=1"),
        "{e}"
    );
    assert_eq!(
        count(points_of, refs[0].key),
        2,
        "the recent point was written"
    );
}

/// Platforms without a cron trigger (Akamai Functions, SpinKube) run the same tick through
/// `POST /maintenance/run` with the operator credential, from their own scheduler.
#[test]
fn maintenance_runs_over_http_with_the_operator_credential_only() {
    const OPERATOR: &str = "e2e-maintenance-operator-credential";
    // As those platforms run it: no cron trigger (which would also purge the counters below at
    // the minute, before the run counts them).
    let h = Start::new(workspace().join("spin.toml"))
        .arg("--no-cron")
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .env("SPIN_VARIABLE_OPERATOR_TOKEN", OPERATOR)
        .start()
        .expect("host starts");
    let db = storage::native::open(&h.state.path().join("sqlite_db.db")).expect("db");
    storage::migrate(&db).expect("migrate");
    let now = Timestamp::now();
    for i in 0..3 {
        let key = format!("conduit-write|token:http{i}|1");
        storage::increment_counter(&db, &key, 1, now.add_secs(-5)).expect("counter");
    }
    let client = fieldline_tests::client();
    let url = h.url("/maintenance/run");
    // No credential, a wrong one, another method: refused, and nothing runs.
    let r = client.post(&url).send().expect("run");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = client
        .post(&url)
        .bearer_auth("not-the-operator-credential")
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(body["code"], "unauthorized", "{body}");
    let r = client.get(&url).bearer_auth(OPERATOR).send().expect("run");
    assert_eq!(r.status().as_u16(), 405);
    let expired: i64 = db
        .query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
        .expect("count");
    assert_eq!(expired, 3, "refused requests ran nothing");

    let r = client.post(&url).bearer_auth(OPERATOR).send().expect("run");
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(body["purgedCounters"], 3, "{body}");
    assert_eq!(body["rolledUpChannelHours"], 0, "{body}");
    let left: i64 = db
        .query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
        .expect("count");
    assert_eq!(left, 0);

    // Without an operator credential configured, the route is off.
    let off = Start::new(workspace().join("spin.toml"))
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .start()
        .expect("host starts");
    let r = client
        .post(off.url("/maintenance/run"))
        .bearer_auth(OPERATOR)
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 404);
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(body["code"], "not_enabled", "{body}");
}
