//! Subscriptions, enforced (issue 14, item 3) and hourly aggregates readable (item 4): the
//! points-per-hour limit shared by every ingestion API, reached through Conduit and InfluxDB
//! `/write` at once; expiry refused by every API of the organization, data kept, renewal;
//! extension; the calculator; the member limit on invitations; the operator's credential; the
//! hourly aggregates of the admin API. Organizations are made through fieldline-storage on the
//! host's database; everything else goes through the wire formats.

use std::sync::{Arc, Barrier};

use fieldline_domain::{
    ConduitServices, ConduitTier, DeviceFields, Name, NetworkId, Subscription, Timestamp, Uuid,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Query as _;
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, fixture_subscription, Start, TestHost, OPERATOR_TOKEN, PASSWORD};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";

fn start() -> TestHost {
    let h = Start::app().start().expect("host starts");
    // The first request migrates the database through a component, as in production.
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    h
}

fn call(r: RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = r.send().expect("request");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, body)
}

/// The operator sets the organization's subscription outright.
fn operator_put(h: &TestHost, tenant: &Tenant, s: &Value) -> Value {
    let (st, _, b) = call(
        client()
            .put(h.url(&format!(
                "/api/v1/operator/organizations/{}/subscription",
                tenant.id()
            )))
            .bearer_auth(OPERATOR_TOKEN)
            .json(s),
    );
    assert_eq!(st, 200, "{b}");
    b
}

fn login(h: &TestHost) -> (u16, Value) {
    let (s, _, b) = call(
        client()
            .post(h.url("/api/v1/login"))
            .json(&json!({"email": EMAIL, "password": PASSWORD})),
    );
    (s, b)
}

fn access(h: &TestHost) -> String {
    let (s, b) = login(h);
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().expect("access token").to_owned()
}

fn conduit_token(db: &Connection, tenant: &Tenant, user: fieldline_domain::UserId) -> String {
    let (_, secret) = storage::create_token(
        db,
        tenant,
        &NewToken::conduit(user, ConduitTier::Enterprise, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    secret.expose().to_owned()
}

fn v2(h: &TestHost, token: &str, network_id: &str, values: &[(u32, f64)]) -> RequestBuilder {
    let data: Vec<Value> = values
        .iter()
        .map(|(c, v)| json!({"channelId": c, "value": v}))
        .collect();
    client().post(h.url("/post/v2")).json(&json!({
        "token": token, "networkId": network_id,
        "timestamp": Timestamp::now().as_millis(), "data": data,
    }))
}

fn write(h: &TestHost, lines: &str) -> RequestBuilder {
    client()
        .post(h.url("/write?db=fieldline&precision=ms"))
        .basic_auth(EMAIL, Some(PASSWORD))
        .body(lines.to_owned())
}

/// Waits out the last 90 s of a UTC hour, so that a test's requests share one hourly window.
fn same_hour_ahead() {
    let now = Timestamp::now();
    let left = now.hour_start().add_secs(3600).as_millis() - now.as_millis();
    if left < 90_000 {
        std::thread::sleep(std::time::Duration::from_millis(
            u64::try_from(left + 1000).unwrap_or(0),
        ));
    }
}

#[test]
fn points_per_hour_limit_holds_across_conduit_and_influx_write_at_once() {
    let h = start();
    let db = h.storage().expect("db");
    let (tenant, user) = fieldline_tests::sign_up(&db, "Quota", EMAIL);
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let limit = 300_u64;
    let mut s = serde_json::to_value(fixture_subscription()).expect("json");
    s["pointsPerHour"] = json!(limit);
    s["conduitTier"] = json!("enterprise");
    operator_put(&h, &tenant, &s);
    let token = conduit_token(&db, &tenant, user);
    // Both devices exist, so that every discarded point is counted under its device.
    let mut a = DeviceFields::named(Name::parse("Conduit device").expect("name"));
    a.network_id = Some(NetworkId::parse("QUOTA-A1").expect("id"));
    let a = storage::create_device(&db, &tenant, &a, None, Timestamp::now()).expect("device");
    let uuid = Uuid::parse("355f6856-e9a4-469f-8f22-3f8b037d064a").expect("uuid");
    let b = DeviceFields::named(Name::parse("Influx device").expect("name"));
    let b = storage::create_device(&db, &tenant, &b, Some(uuid), Timestamp::now()).expect("dev");
    let sensor = storage::create_sensor(
        &db,
        &tenant,
        b.id,
        &fieldline_domain::SensorFields::named(Name::parse("Meter").expect("name")),
        Timestamp::now(),
    )
    .expect("sensor");
    for m in ["auto~watt", "auto~volt"] {
        storage::create_channel(
            &db,
            &tenant,
            sensor.id,
            Some(fieldline_domain::CommunicationId::parse(m).expect("id")),
            &fieldline_domain::ChannelFields::named(Name::parse(m).expect("name")),
            Timestamp::now(),
        )
        .expect("channel");
    }

    same_hour_ahead();
    let hour = Timestamp::now().hour_start();
    // Each API offers 400 points, 2 per request, at the same time: 800 for a limit of 300.
    let go = Arc::new(Barrier::new(2));
    let conduit = {
        let (go, base, token) = (go.clone(), h.base.clone(), token.clone());
        std::thread::spawn(move || {
            let c = client();
            go.wait();
            (0..200)
                .map(|i| {
                    let r = c.post(format!("{base}/post/v2")).json(&json!({
                        "token": token, "networkId": "QUOTA-A1",
                        "timestamp": Timestamp::now().as_millis(),
                        "data": [{"channelId": 1, "value": i}, {"channelId": 2, "value": i}],
                    }));
                    (call(r), Timestamp::now())
                })
                .collect::<Vec<_>>()
        })
    };
    let influx = {
        let (go, base) = (go.clone(), h.base.clone());
        std::thread::spawn(move || {
            let c = client();
            go.wait();
            let t0 = Timestamp::now().as_millis();
            (0..200_i64)
                .map(|i| {
                    let lines = format!(
                        "auto~watt,uuid={uuid} value={i} {}\nauto~volt,uuid={uuid} value={i} {}\n",
                        t0 + i,
                        t0 + i
                    );
                    let answer = call(
                        c.post(format!("{base}/write?db=fieldline&precision=ms"))
                            .basic_auth(EMAIL, Some(PASSWORD))
                            .body(lines),
                    );
                    (answer, Timestamp::now())
                })
                .collect::<Vec<_>>()
        })
    };
    let conduit = conduit.join().expect("conduit thread");
    let influx = influx.join().expect("influx thread");
    assert_eq!(
        Timestamp::now().hour_start(),
        hour,
        "the test ran within one hour"
    );

    let mut accepted = 0;
    let mut refused = [0_u64; 2];
    for (api, answers, ok) in [(0, &conduit, 200), (1, &influx, 204)] {
        for ((status, retry, body), arrived) in answers {
            if *status == ok {
                accepted += 2;
                continue;
            }
            assert_eq!(*status, 429, "{body}");
            refused[api] += 2;
            // Retry-After: the start of the next UTC hour, from when the answer arrived; the
            // body names the limit.
            let secs: i64 = retry
                .as_deref()
                .expect("Retry-After")
                .parse()
                .expect("secs");
            let left = (hour.add_secs(3600).as_millis() - arrived.as_millis()) / 1000;
            assert!((left - 5..=left + 5).contains(&secs), "{secs} vs {left}");
            assert!(body.to_string().contains("points-per-hour"), "{body}");
        }
    }
    assert_eq!(
        accepted, limit,
        "exactly the limit is accepted, across both APIs"
    );
    assert!(refused[0] > 0 && refused[1] > 0, "{refused:?}");
    let stored: i64 = db.query_i64("SELECT count(*) FROM points", &[]);
    assert_eq!(stored, limit as i64);

    // The administrators see what was discarded, per device.
    let (st, _, d) = call(
        client()
            .get(h.url("/api/v1/organization/discarded-points"))
            .bearer_auth(access(&h)),
    );
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["total"], 800 - limit, "{d}");
    assert_eq!(d["limit"]["pointsPerHour"], limit);
    let of = |id: &str| -> u64 {
        d["discarded"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["device"] == id)
            .map(|r| r["points"].as_u64().expect("n"))
            .sum()
    };
    assert_eq!(of(a.id.as_str()), refused[0], "{d}");
    assert_eq!(of(b.id.as_str()), refused[1], "{d}");
}

#[test]
fn an_expired_subscription_is_refused_everywhere_keeps_its_data_and_is_renewed() {
    let h = start();
    let db = h.storage().expect("db");
    let (tenant, user) = fieldline_tests::sign_up(&db, "Expiring", EMAIL);
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let token = conduit_token(&db, &tenant, user);
    let (s, _, b) = call(v2(&h, &token, "EXP-1", &[(1, 1.0), (2, 2.0)]));
    assert_eq!(s, 200, "{b}");
    let before_access = access(&h);

    // The operator ends the contract.
    let mut sub = serde_json::to_value(fixture_subscription()).expect("json");
    sub["expiresAt"] = json!(Timestamp::now().as_millis() - 1000);
    let put = operator_put(&h, &tenant, &sub);
    assert_eq!(put["active"], false, "{put}");

    let refused = |what: &str, (s, _, b): (u16, Option<String>, Value)| {
        assert_eq!(s, 403, "{what}: {b}");
        assert!(b.to_string().contains("subscription"), "{what}: {b}");
    };
    refused("conduit upload", call(v2(&h, &token, "EXP-1", &[(1, 3.0)])));
    refused(
        "conduit read",
        call(client().get(h.url(&format!("/conduitv4?token={token}")))),
    );
    refused(
        "influx write",
        call(write(
            &h,
            "auto~watt,uuid=355f6856-e9a4-469f-8f22-3f8b037d064a value=1",
        )),
    );
    refused(
        "influxql",
        call(
            client()
                .get(h.url("/query"))
                .basic_auth(EMAIL, Some(PASSWORD))
                .query(&[("db", "fieldline"), ("q", "SHOW MEASUREMENTS")]),
        ),
    );
    refused(
        "admin with an access token issued before",
        call(
            client()
                .get(h.url("/api/v1/devices"))
                .bearer_auth(&before_access),
        ),
    );
    let (s, b) = login(&h);
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("subscription_expired")),
        "{b}"
    );
    let (s, _, b) = call(
        client()
            .post(h.url("/epts/token"))
            .json(&json!({"username": EMAIL, "password": PASSWORD})),
    );
    assert_ne!(s, 200, "{b}");
    assert!(b.to_string().contains("subscription"), "/epts/token: {b}");
    // An extension needs a subscription in force.
    let path = format!(
        "/api/v1/operator/organizations/{}/subscription",
        tenant.id()
    );
    let (s, _, b) = call(
        client()
            .patch(h.url(&path))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"maxUsers": 20})),
    );
    assert_eq!(s, 400, "{b}");

    // Renewed for 2 months of 31 days, from now: everything works again, data kept.
    let t0 = Timestamp::now();
    let (s, _, r) = call(
        client()
            .post(h.url(&format!("{path}/renewal")))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"months": 2})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["active"], true);
    let end = r["expiresAt"].as_i64().expect("expiresAt");
    let expected = t0.add_secs(2 * 31 * 86_400).as_millis();
    assert!(
        (expected..expected + 60_000).contains(&end),
        "{end} vs {expected}"
    );
    let (s, _, v4) = call(client().get(h.url(&format!("/conduitv4?token={token}"))));
    assert_eq!(s, 200, "{v4}");
    assert!(v4.to_string().contains("EXP-1"), "the data was kept: {v4}");
    let (s, _, b) = call(v2(&h, &token, "EXP-1", &[(1, 3.0)]));
    assert_eq!(s, 200, "{b}");

    // Extension while in force: limits only up (a lower one waits for the renewal), months
    // added to the end.
    let (s, _, b) = call(
        client()
            .patch(h.url(&path))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"pointsPerHour": 10})),
    );
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or("")
            .contains("pointsPerHour"),
        "{b}"
    );
    let (s, _, b) = call(
        client()
            .patch(h.url(&path))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"pointsPerHour": 1_000_000, "months": 1})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["pointsPerHour"], 1_000_000);
    assert_eq!(b["expiresAt"], end + 31 * 86_400_000);

    // The calculator: 10 devices x 4 channels x 60 values an hour.
    let a = access(&h);
    let (s, _, c) = call(
        client()
            .post(h.url("/api/v1/subscription/calculator"))
            .bearer_auth(&a)
            .json(&json!({"devices": 10, "channelsPerDevice": 4, "valuesPerHour": 60})),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (c["pointsPerHour"].as_u64(), c["fits"].as_bool()),
        (Some(2400), Some(true))
    );
    assert_eq!(c["planPointsPerHour"], 1_000_000);
    let (_, _, c) = call(
        client()
            .post(h.url("/api/v1/subscription/calculator"))
            .bearer_auth(&a)
            .json(
                &json!({"devices": 10, "channelsPerDevice": 4, "valuesPerHour": 60,
                          "pointsPerHour": 2000}),
            ),
    );
    assert_eq!(
        (c["fits"].as_bool(), c["headroom"].as_i64()),
        (Some(false), Some(-400))
    );

    // The member limit refuses invitations beyond it (the administrator is the one member).
    let mut one = serde_json::to_value(Subscription {
        max_users: 1,
        ..fixture_subscription()
    })
    .expect("json");
    one["expiresAt"] = b["expiresAt"].clone();
    operator_put(&h, &tenant, &one);
    let (s, _, i) = call(
        client()
            .post(h.url("/api/v1/invitations"))
            .bearer_auth(&a)
            .json(&json!({"email": "second@example.com"})),
    );
    assert_eq!(
        (s, i["code"].as_str()),
        (409, Some("max_users_reached")),
        "{i}"
    );

    // Tenants never reach the operator's endpoints (403); a wrong token is no credential (401).
    for (bearer, status, code) in [
        (a.as_str(), 403, "operator_only"),
        ("not-the-operator-token-at-all", 401, "invalid_token"),
    ] {
        let (s, _, b) = call(
            client()
                .get(h.url("/api/v1/operator/organizations"))
                .bearer_auth(bearer),
        );
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{b}");
    }
    let (s, _, list) = call(
        client()
            .get(h.url("/api/v1/operator/organizations"))
            .bearer_auth(OPERATOR_TOKEN),
    );
    assert_eq!(s, 200, "{list}");
    assert_eq!(list[0]["id"], tenant.id().as_str());
}

#[test]
fn hourly_aggregates_through_the_admin_api_take_late_values() {
    let h = start();
    let db = h.storage().expect("db");
    let (tenant, _) = fieldline_tests::sign_up(&db, "Hourly", EMAIL);
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let uuid = "355f6856-e9a4-469f-8f22-3f8b037d064a";
    // Two values in an hour three days ago, one in the hour after.
    let hour = Timestamp::now()
        .add_secs(-3 * 86_400)
        .hour_start()
        .as_millis();
    let lines = format!(
        "auto~watt,uuid={uuid} value=1 {}\nauto~watt,uuid={uuid} value=3 {}\n\
         auto~watt,uuid={uuid} value=10 {}\n",
        hour + 1,
        hour + 2,
        hour + 3_600_000
    );
    let (s, _, b) = call(write(&h, &lines));
    assert_eq!(s, 204, "{b}");
    let channel: String = db.query_text("SELECT id FROM channels", &[]);
    let a = access(&h);
    let get = || {
        let (s, _, b) = call(
            client()
                .get(h.url(&format!("/api/v1/channels/{channel}/hourly")))
                .query(&[
                    ("from", hour.to_string()),
                    ("to", (hour + 7_200_000).to_string()),
                ])
                .bearer_auth(&a),
        );
        assert_eq!(s, 200, "{b}");
        b["hours"].clone()
    };
    let hours = get();
    assert_eq!(hours[0]["hour"], hour);
    assert_eq!(
        (&hours[0]["count"], &hours[0]["sum"], &hours[0]["average"]),
        (&json!(2), &json!(4.0), &json!(2.0))
    );
    assert_eq!(
        (&hours[0]["min"], &hours[0]["max"]),
        (&json!(1.0), &json!(3.0))
    );
    assert_eq!(hours[1]["count"], 1);
    // A value 72 hours late lands in its hour's aggregate at once.
    let (s, _, b) = call(write(
        &h,
        &format!("auto~watt,uuid={uuid} value=5 {}\n", hour + 3),
    ));
    assert_eq!(s, 204, "{b}");
    let hours = get();
    assert_eq!(
        (&hours[0]["count"], &hours[0]["sum"], &hours[0]["average"]),
        (&json!(3), &json!(9.0), &json!(3.0))
    );
    // A bad range is a 400 in the admin API's format.
    let (s, _, b) = call(
        client()
            .get(h.url(&format!("/api/v1/channels/{channel}/hourly?from=x")))
            .bearer_auth(&a),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );
}

/// A line of `/proc/<pid>/status` in kB (`VmHWM`: peak resident memory; `VmRSS`: now).
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a kB figure")
}

#[test]
fn export_streams_a_million_points_in_bounded_memory_as_csv_and_html() {
    use std::io::{BufRead, BufReader};

    let h = start();
    let db = h.storage().expect("db");
    let (tenant, user) = fieldline_tests::sign_up(&db, "Export", EMAIL);
    let tz = fieldline_domain::TimeZoneName::parse("Europe/Rome").expect("tz");
    let mut fields = storage::organization(&db, &tenant).expect("org").fields;
    fields.time_zone = tz;
    storage::update_organization(&db, &tenant, &fields).expect("org");
    let device = storage::create_device(
        &db,
        &tenant,
        &DeviceFields::named(Name::parse("Tank, north").expect("name")),
        None,
        Timestamp::now(),
    )
    .expect("device");
    let sensor = storage::create_sensor(
        &db,
        &tenant,
        device.id,
        &fieldline_domain::SensorFields::named(Name::parse("Probe").expect("name")),
        Timestamp::now(),
    )
    .expect("sensor");
    let mut sum_fields = fieldline_domain::ChannelFields::named(Name::parse("Flow").expect("n"));
    sum_fields.grouping = fieldline_domain::Grouping::Sum;
    let flow = storage::create_channel(
        &db,
        &tenant,
        sensor.id,
        Some(fieldline_domain::CommunicationId::parse("flow").expect("id")),
        &sum_fields,
        Timestamp::now(),
    )
    .expect("channel");
    let flow_ref = storage::channel_refs(&db, &tenant, device.id).expect("refs")["flow"];
    // 1,000,000 points at 1 Hz from 2024-01-01T00:00:00Z, values 0, 1, 2, ...
    let start_ms = 1_704_067_200_000_i64;
    let n = 1_000_000_i64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100_000) {
        let points: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let ts = Timestamp::from_millis(start_ms + i * 1000).expect("ts");
                (
                    flow_ref,
                    fieldline_domain::Point::new(ts, i as f64).expect("p"),
                )
            })
            .collect();
        storage::write_points(&db, &tenant, &points).expect("write");
    }
    let token = access(&h);
    let url = |q: &str| h.url(&format!("/api/v1/export?channels={}&{q}", flow.id));
    let to = start_ms + n * 1000;

    // Permission: Download. A member without it is refused before any byte, in the admin
    // API's format.
    let (_, secret) = storage::create_invitation(
        &db,
        &tenant,
        &fieldline_domain::Email::parse("viewer@example.com").expect("email"),
        fieldline_domain::Permissions::VIEW,
        Some(user),
        Timestamp::now(),
    )
    .expect("invitation");
    let hash = fieldline_domain::PasswordHasher::insecure_fast_for_tests()
        .hash(&fieldline_domain::Password::parse(PASSWORD).expect("password"))
        .expect("hash");
    storage::accept_invitation(
        &db,
        &secret,
        storage::Accept::NewUser(&hash),
        Timestamp::now(),
    )
    .expect("accept");
    let (s, _, v) = call(
        client()
            .post(h.url("/api/v1/login"))
            .json(&json!({"email": "viewer@example.com", "password": PASSWORD})),
    );
    assert_eq!(s, 200, "{v}");
    let viewer = v["access_token"].as_str().expect("token").to_owned();
    let (s, _, b) = call(
        client()
            .get(url(&format!("from={start_ms}&to={to}")))
            .bearer_auth(&viewer),
    );
    assert_eq!((s, b["code"].as_str()), (403, Some("forbidden")), "{b}");
    assert!(
        b["message"].as_str().unwrap_or("").contains("Download"),
        "{b}"
    );
    let (s, _, b) = call(client().get(url("from=yesterday&to=1")).bearer_auth(&token));
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );

    // Grouped per hour (from the hourly aggregates once rolled up, else the points), and the
    // HTML data file; also warms the component up before memory is measured.
    let (s, _, b) = call(
        client()
            .get(url(&format!(
                "from={start_ms}&to={}&interval=3600&format=html",
                start_ms + 7_200_000
            )))
            .bearer_auth(&token),
    );
    assert_eq!(s, 200, "{b}");
    let html = b.as_str().expect("html").to_owned();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // The first hour: values 0..3599 summed (grouping S), in Rome's time (UTC+1 in January).
    assert!(
        html.contains(
            "<tr><td>2024-01-01T01:00:00.000+01:00</td><td>Tank, north</td><td>Probe</td>\
             <td>Flow</td><td>flow</td><td></td><td>S</td><td>6478200</td><td>3600</td></tr>"
        ),
        "{html}"
    );
    assert_eq!(html.matches("<tr><td>").count(), 2, "two hours");

    let pid = h.pid().expect("host pid");
    let peak_before = proc_kb(pid, "VmHWM:");
    let started = std::time::Instant::now();
    let resp = client()
        .get(url(&format!("from={start_ms}&to={to}&format=csv")))
        .bearer_auth(&token)
        .send()
        .expect("export");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().expect("type"),
        "text/csv; charset=utf-8; header=present"
    );
    let mut lines = 0_i64;
    let mut bytes = 0_usize;
    let mut reader = BufReader::new(resp);
    let mut line = String::new();
    let mut first = String::new();
    let mut last = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).unwrap_or_else(|e| {
            let log = h.output();
            let tail: Vec<_> = log.lines().rev().take(30).collect();
            panic!(
                "the export broke off after {lines} lines: {e}; the host's log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        });
        if read == 0 {
            break;
        }
        assert!(line.ends_with("\r\n"), "RFC 4180 line ends: {line:?}");
        bytes += read;
        if lines == 1 {
            first = line.clone();
        }
        last.clone_from(&line);
        lines += 1;
    }
    let peak_after = proc_kb(pid, "VmHWM:");
    let took = started.elapsed();
    assert_eq!(lines, n + 1, "a header and every point");
    assert_eq!(
        first,
        "2024-01-01T01:00:00.000+01:00,\"Tank, north\",Probe,Flow,flow,,0\r\n"
    );
    assert_eq!(
        last,
        "2024-01-12T14:46:39.000+01:00,\"Tank, north\",Probe,Flow,flow,,999999\r\n"
    );
    let grew_mb = (peak_after.saturating_sub(peak_before)) / 1024;
    println!(
        "export of {n} points, {} MB of CSV in {took:?}: host peak RSS {} MB before, {} MB \
         after (+{grew_mb} MB)",
        bytes >> 20,
        peak_before / 1024,
        peak_after / 1024
    );
    assert!(
        (grew_mb as usize) < (bytes >> 20) / 2,
        "the host's peak memory grew by {grew_mb} MB for a {} MB file: not streamed",
        bytes >> 20
    );
}
