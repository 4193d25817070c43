//! Proficloud's time-series API and the InfluxDB 1.x API (`functions/epts`) through the host:
//! the document's Python client run unchanged but for its base URL, the recorded InfluxDB 1.6
//! corpus replayed over HTTP against data written through `/write`, the `influx` CLI, and the
//! errors, credentials and tenant boundaries of each endpoint.

#[allow(dead_code)]
#[path = "../golden/influxql/harness.rs"]
mod harness;

use std::process::Command;

use fieldline_domain::{
    ChannelFields, CommunicationId, ConduitServices, ConduitTier, DeviceFields, Email, Name,
    Password, PasswordHasher, Permissions, Point, SensorFields, Timestamp, Uuid,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Query as _;
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, workspace, Start, TestHost};
use reqwest::blocking::RequestBuilder;
use serde_json::Value;

/// The document's demo device.
const UUID: &str = "355f6856-e9a4-469f-8f22-3f8b037d064a";
use fieldline_tests::PASSWORD;

fn start() -> TestHost {
    let h = Start::app().start().expect("host starts");
    // The first request migrates the database through a component, as in production.
    let r = client().get(h.url("/ping")).send().expect("ping");
    assert_eq!(r.status().as_u16(), 204);
    let r = client()
        .get(h.url("/query?q=SHOW+DATABASES"))
        .send()
        .expect("query");
    assert_eq!(r.status().as_u16(), 401);
    h
}

fn open(h: &TestHost) -> Connection {
    h.storage().expect("the host's database")
}

struct Org {
    tenant: Tenant,
    user: fieldline_domain::UserId,
    email: String,
}

/// An organization whose administrator logs in with `email` and [`PASSWORD`].
fn org(db: &Connection, email: &str) -> Org {
    let (tenant, user) = fieldline_tests::sign_up(db, "Phoenix Demo", email);
    Org {
        tenant,
        user,
        email: email.into(),
    }
}

/// A Fieldline API token (a Conduit token with HTTP) of the organization's administrator.
fn api_token(db: &Connection, o: &Org) -> String {
    let (_, secret) = storage::create_token(
        db,
        &o.tenant,
        &NewToken::conduit(o.user, ConduitTier::Enterprise, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    secret.expose().to_owned()
}

/// A device with the document's metrics, holding `points` per metric ending at `last`, one
/// per second; values 1000 + i (pressure), 60 + i (temperature), 5000 + i (watt).
fn demo_device(db: &Connection, o: &Org, uuid: &str, last: Timestamp, points: i64) {
    let now = Timestamp::now();
    let device = storage::create_device(
        db,
        &o.tenant,
        &DeviceFields::named(Name::parse("EMMA demo").expect("name")),
        Some(Uuid::parse(uuid).expect("uuid")),
        now,
    )
    .expect("device");
    let sensor = storage::create_sensor(
        db,
        &o.tenant,
        device.id,
        &SensorFields::named(Name::parse("Meter").expect("name")),
        now,
    )
    .expect("sensor");
    let mut batch = Vec::new();
    for (metric, base) in [
        ("auto~pressure", 1000.0),
        ("auto~temperature", 60.0),
        ("auto~watt", 5000.0),
    ] {
        let c = storage::create_channel(
            db,
            &o.tenant,
            sensor.id,
            Some(CommunicationId::parse(metric).expect("metric")),
            &ChannelFields::named(Name::parse(metric).expect("name")),
            now,
        )
        .expect("channel");
        let r = storage::channel_ref(db, &o.tenant, c.id).expect("ref");
        for i in 0..points {
            let ts = last.add_secs(i - points + 1);
            #[allow(clippy::cast_precision_loss)]
            batch.push((r, Point::new(ts, base + i as f64).expect("point")));
        }
    }
    storage::write_points(db, &o.tenant, &batch).expect("points");
}

fn json_of(r: RequestBuilder) -> (u16, Value) {
    let resp = r.send().expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, v)
}

fn login(h: &TestHost, email: &str) -> (String, String) {
    let (s, t) = json_of(
        client()
            .post(h.url("/epts/token"))
            .json(&serde_json::json!({"username": email, "password": PASSWORD})),
    );
    assert_eq!(s, 200, "{t}");
    (
        t["access_token"].as_str().expect("access").to_owned(),
        t["refresh_token"].as_str().expect("refresh").to_owned(),
    )
}

#[test]
fn epts_the_documents_python_client_runs_unchanged() {
    let h = start();
    let db = open(&h);
    let o = org(&db, "demohmi2020@phoenixcontact-sb.io");
    // Data up to now, so that the document's `now() - 30s` query finds some.
    let now = Timestamp::from_secs(Timestamp::now().as_secs()).expect("now");
    demo_device(&db, &o, UUID, now, 20);
    let from = now.add_secs(-5);
    let out = Command::new("python3")
        .arg(workspace().join("tests/clients/proficloud_tsd.py"))
        .env("TSD_BASE", &h.base)
        .env("TSD_USERNAME", &o.email)
        .env("TSD_PASSWORD", PASSWORD)
        .env("TSD_UUID", UUID)
        .env("TSD_FROM", from.to_rfc3339())
        .env("TSD_TO", now.to_rfc3339())
        .output()
        .expect("python3 runs (scripts/test installs requests)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let section = |name: &str| -> Value {
        let start = stdout
            .find(&format!("== {name}\n"))
            .unwrap_or_else(|| panic!("no {name} section in:\n{stdout}"));
        let rest = &stdout[start + name.len() + 4..];
        let end = rest.find("\n== ").unwrap_or(rest.len());
        serde_json::from_str(&rest[..end]).expect("JSON section")
    };
    assert!(stdout.contains("expires in 900s"), "{stdout}");
    // /epts/last: the newest point of each metric, as in the document's shape.
    let last = section("last");
    let t = now.to_rfc3339();
    assert_eq!(
        last,
        serde_json::json!({ UUID: {
            "auto~pressure": [{"timestamp": t, "values": {"value": 1019}}],
            "auto~temperature": [{"timestamp": t, "values": {"value": 79}}],
            "auto~watt": [{"timestamp": t, "values": {"value": 5019}}],
        }})
    );
    // /epts/data: one element per metric, both ends of the range included.
    let data = section("data");
    let data = data.as_array().expect("array");
    assert_eq!(data.len(), 3);
    let watt = &data[2][UUID]["auto~watt"];
    assert_eq!(watt.as_array().expect("points").len(), 6);
    assert_eq!(watt[0]["timestamp"], from.to_rfc3339());
    assert_eq!(watt[0]["values"]["value"], 5014);
    assert_eq!(watt[5]["values"]["value"], 5019);
    // /query: InfluxQL with 10 s buckets over the last 30 s, without a database parameter.
    let q = section("query");
    let series = &q["results"][0]["series"][0];
    assert_eq!(series["name"], "auto~watt");
    assert_eq!(series["columns"], serde_json::json!(["time", "mean"]));
    let rows = series["values"].as_array().expect("rows");
    assert!(!rows.is_empty() && rows.len() <= 4, "{q}");
    let n: f64 = rows
        .iter()
        .map(|r| r[1].as_f64().expect("mean"))
        .sum::<f64>();
    assert!(n > 5000.0 * rows.len() as f64, "{q}");
}

#[test]
fn epts_token_grants_errors_and_rotation() {
    let h = start();
    let db = open(&h);
    let o = org(&db, "tsd@example.com");
    let c = client();
    let url = h.url("/epts/token");
    // wrong password and unknown account: the same OAuth 2.0 error
    for body in [
        serde_json::json!({"username": o.email, "password": "wrong password!"}),
        serde_json::json!({"username": "nobody@example.com", "password": PASSWORD}),
    ] {
        let (s, e) = json_of(c.post(&url).json(&body));
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("invalid_grant")),
            "{e}"
        );
    }
    let (s, e) = json_of(c.post(&url).json(&serde_json::json!({"username": o.email})));
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_request")),
        "{e}"
    );
    let (s, e) = json_of(c.post(&url).body("not json"));
    assert_eq!(s, 400, "{e}");
    let (s, _) = json_of(c.get(&url));
    assert_eq!(s, 405);
    // OAuth 2.0 form bodies work too
    let (s, t) = json_of(c.post(&url).form(&[
        ("grant_type", "password"),
        ("username", o.email.as_str()),
        ("password", PASSWORD),
    ]));
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["expires_in"], 900);
    assert_eq!(t["refresh_expires_in"], 30 * 24 * 3600);
    // a refresh token works once: the second use revokes the session
    let (_, refresh) = login(&h, &o.email);
    let (s, next) = json_of(
        c.post(&url)
            .json(&serde_json::json!({"refresh_token": refresh})),
    );
    assert_eq!(s, 200, "{next}");
    assert_ne!(next["refresh_token"], Value::String(refresh.clone()));
    let (s, e) = json_of(
        c.post(&url)
            .json(&serde_json::json!({"refresh_token": refresh})),
    );
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("invalid_grant")),
        "{e}"
    );
    let (s, _) = json_of(
        c.post(&url)
            .json(&serde_json::json!({"refresh_token": next["refresh_token"]})),
    );
    assert_eq!(s, 401, "the whole session is revoked after a replay");
}

#[test]
fn epts_last_and_data_errors_and_tenants() {
    let h = start();
    let db = open(&h);
    let a = org(&db, "a@example.com");
    let b = org(&db, "b@example.com");
    let now = Timestamp::from_secs(1_595_331_785).expect("time");
    demo_device(&db, &a, UUID, now, 10);
    let (access_a, _) = login(&h, &a.email);
    let (access_b, _) = login(&h, &b.email);
    let c = client();
    let last = format!("/epts/last?uuid={UUID}&timeSeriesName=auto~watt");
    // 401 without or with a bad token, in the service's error format
    let (s, e) = json_of(c.get(h.url(&last)));
    assert_eq!((s, e["status"].as_u64()), (401, Some(401)), "{e}");
    assert_eq!(e["path"], "/epts/last");
    let (s, _) = json_of(c.get(h.url(&last)).bearer_auth("eyJhbGciOiJub25lIn0.e30."));
    assert_eq!(s, 401);
    let (s, v) = json_of(c.get(h.url(&last)).bearer_auth(&access_a));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[UUID]["auto~watt"][0]["values"]["value"], 5009);
    // another organization does not see the device: an empty answer, not an error
    let (s, v) = json_of(c.get(h.url(&last)).bearer_auth(&access_b));
    assert_eq!((s, v), (200, serde_json::json!({})));
    // wrong parameters: 500 with the message in the body, as the document says
    for (q, what) in [
        ("/epts/last?timeSeriesName=auto~watt", "uuid"),
        ("/epts/last?uuid=355f6856&timeSeriesName=auto~watt", "uuid"),
        (&format!("/epts/data?uuid={UUID}&timeSeriesName=auto~watt&fromDate=2020-07-21T10:00:00Z") as &str, "toDate"),
        (&format!("/epts/data?uuid={UUID}&timeSeriesName=auto~watt&fromDate=yesterday&toDate=2020-07-21T10:00:00Z"), "fromDate"),
    ] {
        let (s, e) = json_of(c.get(h.url(q)).bearer_auth(&access_a));
        assert_eq!(s, 500, "{q}: {e}");
        assert!(e["message"].as_str().expect("message").contains(what), "{q}: {e}");
    }
    // a range: both ends included, oldest first, whole and fractional values as numbers
    let from = now.add_secs(-3).to_rfc3339();
    let to = now.to_rfc3339();
    let (s, v) = json_of(
        c.get(h.url(&format!(
            "/epts/data?uuid={UUID}&timeSeriesName=auto~temperature,auto~watt&fromDate={from}&toDate={to}"
        )))
        .bearer_auth(&access_a),
    );
    assert_eq!(s, 200, "{v}");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    let temp = arr[0][UUID]["auto~temperature"].as_array().expect("points");
    assert_eq!(temp.len(), 4);
    assert_eq!(temp[0]["timestamp"], from);
    assert_eq!(temp[3]["values"]["value"], 69);
    assert_eq!(arr[1][UUID]["auto~watt"][3]["values"]["value"], 5009);
}

#[test]
fn influx_answers_the_recorded_corpus_over_http_after_writing_the_data_set() {
    let h = start();
    let db = open(&h);
    let o = org(&db, "golden@example.com");
    storage::set_auto_registration(&db, &o.tenant, true).expect("auto registration");
    let token = api_token(&db, &o);
    // The data set, through /write in pieces of 1000 lines (devices, sensors and channels are
    // registered from the tags on first sight).
    let text = std::fs::read_to_string(harness::golden_dir().join("dataset.lp")).expect("dataset");
    let lines: Vec<&str> = text.lines().collect();
    for chunk in lines.chunks(1000) {
        let r = client()
            .post(h.url("/write?db=fieldline&precision=ms"))
            .basic_auth(&o.email, Some(&token))
            .body(chunk.join("\n"))
            .send()
            .expect("write");
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    }
    let mut failures = Vec::new();
    let mut passed = 0;
    for (name, case) in harness::cases() {
        if !harness::reads_the_data_set(&name, &case)
            || harness::DIFFERENT.iter().any(|(n, _)| *n == name)
        {
            continue;
        }
        let (status, body, headers) =
            fieldline_tests::replay_request(&h, &case["request"], "golden@example.com", &token);
        if name.starts_with("show_retention_policies") && !body.contains("error") {
            // The retention policy lasts the subscription's detailed retention (the fixtures'
            // century; 90 days by default), where InfluxDB's autogen keeps data forever ("0s").
            assert!(
                body.contains(r#"["autogen","876000h0m0s","168h0m0s",1,true]"#),
                "{name}: {body}"
            );
            passed += 1;
            continue;
        }
        match harness::compare(&case, status, &body) {
            None => passed += 1,
            Some(m) => failures.push(format!("{name}: {m}")),
        }
        if let Some(ct) = case["headers"]["Content-Type"].as_str() {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some(ct),
                "{name}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(passed > 300, "only {passed} cases ran");
}

#[test]
fn influx_write_answers_as_influxdb_and_keeps_what_it_accepts() {
    let h = start();
    let db = open(&h);
    let o = org(&db, "writer@example.com");
    let token = api_token(&db, &o);
    let c = client();
    let write = |query: &str, body: &str| -> (u16, Value) {
        json_of(
            c.post(h.url(&format!("/write?{query}")))
                .basic_auth(&o.email, Some(&token))
                .body(body.to_owned()),
        )
    };
    let u = "uuid=11111111-2222-4333-8444-555555555555";
    let line = |v: f64, ms: i64| {
        format!(r"auto~watt,device=Press\ 9,sensor=Meter,unit=W,{u} value={v} {ms}")
    };
    // Without automatic registration a line naming an unknown device is kept, as InfluxDB
    // keeps every line: a series of the database with its tags as written, no device made.
    let unknown = "99999999-2222-4333-8444-555555555555";
    let (s, e) = write(
        "db=fieldline&precision=ms",
        &format!("early,uuid={unknown} value=1,count=2i 1595325600000"),
    );
    assert_eq!(s, 204, "{e}");
    let (_, q) = json_of(
        c.get(h.url("/query"))
            .basic_auth(&o.email, Some(&token))
            .query(&[("db", "fieldline"), ("q", "SELECT * FROM early")]),
    );
    assert_eq!(
        q["results"][0]["series"][0]["values"],
        serde_json::json!([["2020-07-21T10:00:00Z", 2, unknown, 1]]),
        "{q}"
    );
    assert!(storage::device_by_uuid(
        &db,
        &o.tenant,
        fieldline_domain::Uuid::parse(unknown).expect("uuid")
    )
    .is_err());
    storage::set_auto_registration(&db, &o.tenant, true).expect("auto registration");
    // a good line and a bad one: the good one lands, the answer is InfluxDB's partial write
    let body = format!(
        "{}\nauto~watt,{u} value= 1595325610000\n",
        line(5000.0, 1_595_325_600_000)
    );
    let (s, e) = write("db=fieldline&precision=ms", &body);
    assert_eq!(s, 400);
    assert_eq!(
        e["error"],
        format!("partial write: unable to parse 'auto~watt,{u} value= 1595325610000': missing field value dropped=0")
    );
    // precision, gzip, integers, a rewrite of the same time (last write wins)
    let (s, _) = write(
        "db=fieldline&precision=s",
        &format!("auto~watt,{u} value=7i 1595325601"),
    );
    assert_eq!(s, 204);
    let gz = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(line(5001.5, 1_595_325_600_000).as_bytes())
            .expect("gzip");
        enc.finish().expect("gzip")
    };
    let r = c
        .post(h.url("/write?db=fieldline&precision=ms"))
        .basic_auth(&o.email, Some(&token))
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .expect("write");
    assert_eq!(r.status().as_u16(), 204);
    let (s, q) = json_of(
        c.get(h.url("/query"))
            .basic_auth(&o.email, Some(&token))
            .query(&[
                ("db", "fieldline"),
                ("epoch", "ms"),
                ("q", "SELECT value, device, unit FROM \"auto~watt\""),
            ]),
    );
    assert_eq!(s, 200, "{q}");
    assert_eq!(
        q["results"][0]["series"][0]["values"],
        serde_json::json!([
            [1_595_325_600_000_i64, 5001.5, "Press 9", "W"],
            [1_595_325_601_000_i64, 7, "Press 9", "W"]
        ])
    );
    // What is not of the model's shape is a series of the database with its tags as written
    // (no device needed); a string where the channels' `value` is a float is a type conflict.
    let t = Timestamp::now().as_millis();
    for body in [
        format!("cpu,host=a,{u} value=1 {t}"),
        format!("cpu,host=b load=0.5,procs=3i {t}"),
        format!("auto~watt value=2 {t}"),
    ] {
        let (s, e) = write("db=fieldline&precision=ms", &body);
        assert_eq!(s, 204, "{body}: {e}");
    }
    let (s, e) = write(
        "db=fieldline&precision=ms",
        &format!("auto~watt,{u} value=\"x\" {t}"),
    );
    assert_eq!(s, 400);
    assert_eq!(
        e["error"],
        "partial write: field type conflict: input field \"value\" on measurement \
         \"auto~watt\" is type string, already exists as type float dropped=1"
    );
    let (s, q) = json_of(
        c.get(h.url("/query"))
            .basic_auth(&o.email, Some(&token))
            .query(&[
                ("db", "fieldline"),
                ("epoch", "ms"),
                ("q", "SELECT * FROM cpu; SHOW TAG KEYS FROM cpu"),
            ]),
    );
    assert_eq!(s, 200, "{q}");
    assert_eq!(
        q["results"][0]["series"][0]["columns"],
        serde_json::json!(["time", "host", "load", "procs", "uuid", "value"])
    );
    assert_eq!(
        q["results"][0]["series"][0]["values"],
        serde_json::json!([
            [
                t,
                "a",
                null,
                null,
                "11111111-2222-4333-8444-555555555555",
                1
            ],
            [t, "b", 0.5, 3, null, null]
        ])
    );
    assert_eq!(
        q["results"][1]["series"][0]["values"],
        serde_json::json!([["host"], ["uuid"]])
    );
    // InfluxDB's answers for the database, retention policy, method and an empty body
    assert_eq!(
        write("precision=ms", &line(1.0, 1)).1["error"],
        "database is required"
    );
    let (s, e) = write("db=nope", &line(1.0, 1));
    assert_eq!(
        (s, e["error"].as_str()),
        (404, Some("database not found: \"nope\""))
    );
    let (s, e) = write("db=fieldline&rp=nope", &line(1.0, 1));
    assert_eq!(
        (s, e["error"].as_str()),
        (500, Some("retention policy not found: nope"))
    );
    assert_eq!(write("db=fieldline&rp=autogen", "").0, 204);
    let r = c.get(h.url("/write?db=fieldline")).send().expect("get");
    assert_eq!(r.status().as_u16(), 405);
}

/// Issue 18: a body of more lines than one `/write` may carry is refused with 413 as soon as
/// the line past the limit is read, instead of after parsing it all (a 25 MB body of one-field
/// lines took 1.46 GB parsed whole, and the instance trapped: a 500). Nothing is written, and
/// the host keeps serving.
#[test]
fn influx_write_refuses_too_many_lines_before_reading_them_all() {
    let h = start();
    let db = open(&h);
    let o = org(&db, "many@example.com");
    let token = api_token(&db, &o);
    storage::set_auto_registration(&db, &o.tenant, true).expect("auto registration");
    let c = client();
    let write = |body: String| -> (u16, Value) {
        json_of(
            c.post(h.url("/write?db=fieldline&precision=ms"))
                .basic_auth(&o.email, Some(&token))
                .body(body),
        )
    };
    let u = "uuid=11111111-2222-4333-8444-555555555555";
    let points = |db: &Connection| -> i64 { db.query_i64("SELECT count(*) FROM points", &[]) };
    let refused = "more than 100000 points in one request; send at most 100000";
    // 200,000 lines that would all be written.
    let body: String = (0..200_000i64)
        .map(|i| format!("auto~watt,{u} value={i} {}\n", 1_595_325_600_000 + i))
        .collect();
    let (s, e) = write(body);
    assert_eq!((s, e["error"].as_str()), (413, Some(refused)));
    // 25 MB of the shortest lines, 4.2 million of them, gzipped (the host takes 16 MiB on the
    // wire; the component up to 25 MB after gzip).
    let gz = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all("m v=1\n".repeat(25_000_000 / 6).as_bytes())
            .expect("gzip");
        enc.finish().expect("gzip")
    };
    let (s, e) = json_of(
        c.post(h.url("/write?db=fieldline&precision=ms"))
            .basic_auth(&o.email, Some(&token))
            .header("content-encoding", "gzip")
            .body(gz),
    );
    assert_eq!((s, e["error"].as_str()), (413, Some(refused)));
    assert_eq!(points(&db), 0, "nothing was written");
    // 100,000 lines are still taken, and the host serves on.
    let body: String = (0..100_000i64)
        .map(|i| format!("auto~watt,{u} value={i} {}\n", 1_595_325_600_000 + i))
        .collect();
    let (s, e) = write(body);
    assert_eq!(s, 204, "{e}");
    assert_eq!(points(&db), 100_000);
}

#[test]
fn influx_credentials_permissions_and_tenants() {
    let h = start();
    let db = open(&h);
    let a = org(&db, "owner@example.com");
    let b = org(&db, "other@example.com");
    demo_device(
        &db,
        &a,
        UUID,
        Timestamp::from_secs(1_595_331_785).expect("t"),
        5,
    );
    let token = api_token(&db, &a);
    let c = client();
    let q = |r: RequestBuilder| {
        json_of(r.query(&[
            ("db", "fieldline"),
            ("q", "SELECT count(value) FROM \"auto~watt\""),
        ]))
    };
    let url = h.url("/query");
    // InfluxDB's answers without and with wrong credentials
    let (s, e) = q(c.get(&url));
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("unable to parse authentication credentials"))
    );
    let (s, e) = q(c.get(&url).basic_auth(&a.email, Some("wrong password!")));
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("authorization failed"))
    );
    let (s, e) = q(c.get(&url).bearer_auth("not.a.jwt"));
    assert_eq!(s, 401, "{e}");
    // password, API token (Basic and u/p) and Bearer all read the same data
    let (access, _) = login(&h, &a.email);
    let count = |v: &Value| v["results"][0]["series"][0]["values"][0][1].clone();
    for r in [
        c.get(&url).basic_auth(&a.email, Some(PASSWORD)),
        c.get(&url).basic_auth(&a.email, Some(&token)),
        c.get(&url)
            .query(&[("u", a.email.as_str()), ("p", token.as_str())]),
        c.get(&url).bearer_auth(&access),
    ] {
        let (s, v) = q(r);
        assert_eq!((s, count(&v)), (200, serde_json::json!(5)), "{v}");
    }
    // another organization sees none of it
    let (s, v) = q(c.get(&url).basic_auth(&b.email, Some(PASSWORD)));
    assert_eq!(
        (s, v),
        (200, serde_json::json!({"results": [{"statement_id": 0}]}))
    );
    // a member who may view reads but does not write
    let hash = PasswordHasher::insecure_fast_for_tests()
        .hash(&Password::parse(PASSWORD).expect("password"))
        .expect("hash");
    let (_, inv) = storage::create_invitation(
        &db,
        &a.tenant,
        &Email::parse("viewer@example.com").expect("email"),
        Permissions::default(),
        Some(a.user),
        Timestamp::now(),
    )
    .expect("invitation");
    storage::accept_invitation(&db, &inv, storage::Accept::NewUser(&hash), Timestamp::now())
        .expect("accept");
    let (s, _) = q(c.get(&url).basic_auth("viewer@example.com", Some(PASSWORD)));
    assert_eq!(s, 200);
    let r = c
        .post(h.url("/write?db=fieldline"))
        .basic_auth("viewer@example.com", Some(PASSWORD))
        .body(format!("auto~watt,uuid={UUID} value=1"))
        .send()
        .expect("write");
    assert_eq!(r.status().as_u16(), 403);
    // /ping needs nothing
    let r = c.head(h.url("/ping")).send().expect("ping");
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.headers()["x-influxdb-version"]
        .to_str()
        .expect("version")
        .starts_with("1."));
}

#[test]
fn influx_cli_queries_fieldline() {
    let h = start();
    let db = open(&h);
    let o = org(&db, "cli@example.com");
    demo_device(
        &db,
        &o,
        UUID,
        Timestamp::from_secs(1_595_331_785).expect("t"),
        3,
    );
    let token = api_token(&db, &o);
    let port = h.base.rsplit(':').next().expect("port").to_owned();
    let influx = |args: &[&str]| {
        let out = Command::new("influx")
            .args([
                "-host",
                "127.0.0.1",
                "-port",
                &port,
                "-username",
                &o.email,
                "-password",
                &token,
            ])
            .args(args)
            .output()
            .expect("the influx CLI runs (scripts/test installs Debian's influxdb-client)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = influx(&[
        "-database",
        "fieldline",
        "-format",
        "csv",
        "-precision",
        "rfc3339",
        "-execute",
        "SELECT value FROM \"auto~watt\"; SHOW TAG VALUES WITH KEY = \"uuid\"",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("name,time,value"), "{out}");
    assert!(out.contains("auto~watt,2020-07-21T11:43:05Z,5002"), "{out}");
    assert!(out.contains(UUID), "{out}");
    let (ok, out, err) = influx(&["-execute", "SHOW DATABASES"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("fieldline"), "{out}");
    // a statement error is the CLI's ERR line and exit status 1
    let (ok, out, err) = influx(&[
        "-database",
        "fieldline",
        "-execute",
        "SELECT foo(value) FROM \"auto~watt\"",
    ]);
    assert!(!ok);
    assert!(
        format!("{out}{err}").contains("undefined function foo()"),
        "{out}{err}"
    );
}
