//! InfluxDB 1.x for anyone's data (docs/epts.md, "Your own databases"): the official Python
//! client and the `influx` CLI used as their documentation shows, with their own databases, tags
//! and typed fields; type conflicts; databases per organization.

use std::process::Command;

use fieldline_domain::{ConduitServices, ConduitTier, Subscription, Timestamp};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::{client, workspace, Start, TestHost};
use serde_json::Value;

fn start() -> TestHost {
    let h = Start::app().start().expect("host starts");
    let r = client().get(h.url("/ping")).send().expect("ping");
    assert_eq!(r.status().as_u16(), 204);
    h
}

/// An organization with an administrator, and one of their API tokens (the password InfluxDB
/// clients send beside the e-mail address). Its subscription keeps ten years of raw data, so
/// that the 2021 points of the recorded examples are within every retention policy.
fn org_with_token(h: &TestHost, email: &str) -> (Tenant, String) {
    org_keeping(h, email, 3650)
}

/// [`org_with_token`], raw data kept for `days`.
pub(crate) fn org_keeping(h: &TestHost, email: &str, days: u32) -> (Tenant, String) {
    let db = h.storage().expect("the host's database");
    let (tenant, user) = fieldline_tests::sign_up(&db, "Plant Ops", email);
    let subscription = Subscription {
        detailed_retention_days: days,
        aggregated_retention_days: days,
        ..Subscription::default()
    };
    storage::update_subscription(&db, &tenant, &subscription).expect("subscription");
    let (_, secret) = storage::create_token(
        &db,
        &tenant,
        &NewToken::conduit(user, ConduitTier::Enterprise, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    (tenant, secret.expose().to_owned())
}

/// The `== name` sections a client script printed, each a JSON document.
fn sections(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .split("== ")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let (name, json) = s.split_once('\n').expect("a section's name line");
            let v = serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {json}"));
            (name.to_owned(), v)
        })
        .collect()
}

fn query(h: &TestHost, email: &str, token: &str, db: &str, q: &str) -> (u16, Value) {
    let r = client()
        .post(h.url("/query"))
        .basic_auth(email, Some(token))
        .form(&[("db", db), ("q", q)])
        .send()
        .expect("query");
    let status = r.status().as_u16();
    (status, r.json().expect("JSON"))
}

fn write(h: &TestHost, email: &str, token: &str, db: &str, body: &str) -> (u16, String) {
    let r = client()
        .post(h.url(&format!("/write?db={db}")))
        .basic_auth(email, Some(token))
        .body(body.to_owned())
        .send()
        .expect("write");
    (r.status().as_u16(), r.text().expect("body"))
}

/// The program prints what InfluxDB 1.6 printed for it (recorded in
/// `tests/clients/influxdb_python.influxdb-1.6.out`), but for the database lists, where
/// Fieldline also lists the model's own database.
#[test]
fn influxdb_the_official_python_client_runs_unchanged_on_its_own_database() {
    let h = start();
    let email = "python@example.com";
    let (_, token) = org_with_token(&h, email);
    let port = h.base.rsplit(':').next().expect("port").to_owned();
    let out = Command::new("python3")
        .arg(workspace().join("tests/clients/influxdb_python.py"))
        .env("INFLUX_HOST", "127.0.0.1")
        .env("INFLUX_PORT", &port)
        .env("INFLUX_USER", email)
        .env("INFLUX_PASSWORD", &token)
        .output()
        .expect("python3 runs (scripts/test installs the influxdb package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = sections(&stdout);
    let recorded =
        std::fs::read_to_string(workspace().join("tests/clients/influxdb_python.influxdb-1.6.out"))
            .expect("the recording");
    let want = sections(&recorded);
    assert_eq!(
        got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        want.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        match name.as_str() {
            "databases" => assert_eq!(
                *g,
                serde_json::json!([{"name": "fieldline"}, {"name": "plant"}])
            ),
            "after_drop" => assert_eq!(*g, serde_json::json!([{"name": "fieldline"}])),
            _ => assert_eq!(g, w, "section {name}"),
        }
    }
}

#[test]
fn influxdb_databases_belong_to_their_organization() {
    let h = start();
    let (a, b) = ("a@example.com", "b@example.com");
    let (_, ta) = org_with_token(&h, a);
    let (_, tb) = org_with_token(&h, b);
    assert_eq!(
        query(&h, a, &ta, "", "CREATE DATABASE plant").1["results"][0],
        serde_json::json!({"statement_id": 0})
    );
    assert_eq!(
        write(&h, a, &ta, "plant", "m,site=a f=1 1614556800000000000\n"),
        (204, String::new())
    );
    // Organization B does not see A's database, cannot write to it, and makes its own.
    let (_, dbs) = query(&h, b, &tb, "", "SHOW DATABASES");
    assert_eq!(
        dbs["results"][0]["series"][0]["values"],
        serde_json::json!([["fieldline"]])
    );
    let (status, body) = write(&h, b, &tb, "plant", "m f=2 1614556800000000000\n");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("database not found: \\\"plant\\\""), "{body}");
    let (_, r) = query(&h, b, &tb, "plant", "SELECT * FROM m");
    assert_eq!(r["results"][0]["error"], "database not found: plant");
    assert_eq!(
        query(&h, b, &tb, "", "CREATE DATABASE plant").1["results"][0],
        serde_json::json!({"statement_id": 0})
    );
    let (_, r) = query(&h, b, &tb, "plant", "SELECT * FROM m");
    assert_eq!(r["results"][0], serde_json::json!({"statement_id": 0}));
    // B deleting from its own leaves A's.
    assert_eq!(
        write(&h, b, &tb, "plant", "m,site=a f=2 1614556800000000000\n"),
        (204, String::new())
    );
    let (_, r) = query(
        &h,
        b,
        &tb,
        "plant",
        "DELETE FROM m WHERE time < now(); DROP SERIES WHERE site = 'a'; DROP MEASUREMENT m",
    );
    assert_eq!(
        r["results"],
        serde_json::json!([{"statement_id": 0}, {"statement_id": 1}, {"statement_id": 2}])
    );
    let (_, r) = query(&h, b, &tb, "plant", "SHOW SERIES");
    assert_eq!(r["results"][0], serde_json::json!({"statement_id": 0}));
    // B dropping its own leaves A's.
    assert_eq!(
        query(&h, b, &tb, "", "DROP DATABASE plant").1["results"][0],
        serde_json::json!({"statement_id": 0})
    );
    let (_, r) = query(&h, a, &ta, "plant", "SELECT f FROM m");
    assert_eq!(
        r["results"][0]["series"][0]["values"],
        serde_json::json!([["2021-03-01T00:00:00Z", 1]])
    );
    // The model's own database cannot be dropped.
    let (_, r) = query(&h, a, &ta, "", "DROP DATABASE fieldline");
    assert!(
        r["results"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("fieldline")),
        "{r}"
    );
}

#[test]
fn influxdb_a_field_keeps_its_first_type_and_conflicts_are_partial_writes() {
    let h = start();
    let email = "types@example.com";
    let (_, token) = org_with_token(&h, email);
    assert_eq!(
        query(&h, email, &token, "", "CREATE DATABASE lab").1["results"][0],
        serde_json::json!({"statement_id": 0})
    );
    let t = |n: u8| format!("16145568000000000{n:02}");
    assert_eq!(
        write(&h, email, &token, "lab", &format!("t i=1i {}\n", t(1))).0,
        204
    );
    // The good lines are stored, the conflicting one is dropped and named (InfluxDB 1.6's
    // answer to this very body).
    let body = format!(
        "t i=2i {}\nt i=2.5 {}\nt i=4i,s=\"x\" {}\n",
        t(2),
        t(3),
        t(4)
    );
    let (status, body) = write(&h, email, &token, "lab", &body);
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        v["error"],
        "partial write: field type conflict: input field \"i\" on measurement \"t\" is type \
         float, already exists as type integer dropped=1"
    );
    let (_, r) = query(&h, email, &token, "lab", "SELECT * FROM t");
    assert_eq!(
        r["results"][0]["series"][0]["values"],
        serde_json::json!([
            ["2021-03-01T00:00:00.000000001Z", 1, null],
            ["2021-03-01T00:00:00.000000002Z", 2, null],
            ["2021-03-01T00:00:00.000000004Z", 4, "x"]
        ])
    );
    // A field's type holds in later bodies too.
    let (status, body) = write(&h, email, &token, "lab", &format!("t s=5i {}\n", t(5)));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("is type integer, already exists as type string dropped=1"),
        "{body}"
    );
}

/// A body of 3,000 bad lines and a good one: InfluxDB 1.6 answers 400 with every error in the
/// body and `X-Influxdb-Error` cut at 1,024 bytes (a header of the whole list, 150 KB, was more
/// than the component could send: a 500 with an empty body, the good line stored, which a
/// client that retries 5xx sent again and again).
#[test]
fn influxdb_a_long_error_list_is_cut_in_the_header_and_whole_in_the_body() {
    let h = start();
    let email = "long@example.com";
    let (_, token) = org_with_token(&h, email);
    query(&h, email, &token, "", "CREATE DATABASE lab");
    let mut body: String = (0..3000).map(|i| format!("bad{i} x\n")).collect();
    body.push_str("good v=1 1614556800000000000\n");
    let r = client()
        .post(h.url("/write?db=lab"))
        .basic_auth(email, Some(&token))
        .body(body)
        .send()
        .expect("write");
    assert_eq!(r.status().as_u16(), 400);
    let header = r.headers()["x-influxdb-error"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let v: Value = r.json().expect("JSON");
    let message = v["error"].as_str().expect("error");
    assert!(message.starts_with("partial write: unable to parse 'bad0 x': invalid field format\n"));
    assert!(message.ends_with("unable to parse 'bad2999 x': invalid field format dropped=0"));
    assert_eq!(header.len(), 1024);
    assert_eq!(header, message[..1024].replace('\n', " "));
    let (_, r) = query(&h, email, &token, "lab", "SELECT count(v) FROM good");
    assert_eq!(r["results"][0]["series"][0]["values"][0][1], 1);
}

#[test]
fn influxdb_the_cli_imports_a_line_protocol_file() {
    let h = start();
    let email = "cli@example.com";
    let (_, token) = org_with_token(&h, email);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plant.txt");
    std::fs::write(
        &file,
        "# DDL\nCREATE DATABASE plant\n\n# DML\n# CONTEXT-DATABASE: plant\n\
         plant,line=A temp=71.5,rpm=1200i,running=true 1614556800\n\
         plant,line=B temp=69,rpm=1180i,running=false 1614556800\n\
         plant,line=A temp=72.5,rpm=1210i,running=true 1614556860\n",
    )
    .expect("file");
    let port = h.base.rsplit(':').next().expect("port").to_owned();
    let influx = |args: &[&str]| {
        let out = Command::new("influx")
            .args(["-host", "127.0.0.1", "-port", &port])
            .args(["-username", email, "-password", &token])
            .args(args)
            .output()
            .expect("the influx CLI runs (scripts/test installs Debian's influxdb-client)");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let path = file.to_str().expect("path");
    let (ok, out) = influx(&["-import", "-path", path, "-precision", "s"]);
    assert!(ok, "{out}");
    assert!(out.contains("Processed 3 inserts"), "{out}");
    assert!(out.contains("Failed 0 inserts"), "{out}");
    let (ok, out) = influx(&[
        "-database",
        "plant",
        "-format",
        "csv",
        "-execute",
        "SELECT mean(temp), sum(rpm) FROM plant GROUP BY line",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("plant,line=A,0,72,2410"), "{out}");
    assert!(out.contains("plant,line=B,0,69,1180"), "{out}");
}

/// A series written through `/write` in the model's shape is a device's channel (Conduit,
/// EPTS and Sensorbis read it) and reads back through InfluxQL with exactly its writer's tags;
/// a channel made through another API keeps the model's tags.
#[test]
fn influxdb_a_channel_registered_by_write_keeps_the_tags_as_written() {
    let h = start();
    let email = "tags@example.com";
    let (tenant, token) = org_with_token(&h, email);
    let db = h.storage().expect("the host's database");
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let uuid = "8b1c6ab2-5a4c-4a53-9d43-7b0f4a2c9e11";
    let (status, body) = write(
        &h,
        email,
        &token,
        "fieldline",
        &format!("auto~watt,uuid={uuid} value=5 1614556800000000000\n"),
    );
    assert_eq!(status, 204, "{body}");
    let (_, r) = query(
        &h,
        email,
        &token,
        "fieldline",
        "SELECT * FROM \"auto~watt\"; SHOW TAG KEYS; SHOW SERIES",
    );
    assert_eq!(
        r["results"][0]["series"][0]["columns"],
        serde_json::json!(["time", "uuid", "value"])
    );
    assert_eq!(
        r["results"][0]["series"][0]["values"],
        serde_json::json!([["2021-03-01T00:00:00Z", uuid, 5]])
    );
    assert_eq!(
        r["results"][1]["series"][0]["values"],
        serde_json::json!([["uuid"]])
    );
    assert_eq!(
        r["results"][2]["series"][0]["values"],
        serde_json::json!([[format!("auto~watt,uuid={uuid}")]])
    );
    // The device and its channel exist for the other APIs.
    let device = storage::device_by_uuid(
        &db,
        &tenant,
        fieldline_domain::Uuid::parse(uuid).expect("uuid"),
    )
    .expect("the device registered by the write");
    let channels = storage::list_device_channels(&db, &tenant, device.id).expect("channels");
    assert_eq!(channels.len(), 1);
}

#[test]
fn influxdb_the_fields_of_a_line_naming_a_device_are_its_channels() {
    let h = start();
    let email = "fields@example.com";
    let (tenant, token) = org_with_token(&h, email);
    let db = h.storage().expect("the host's database");
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let uuid = "0d3c3a52-3f0e-4a7e-9b1a-2f6c8d9e4b10";
    let (status, body) = write(
        &h,
        email,
        &token,
        "fieldline",
        &format!(
            "plant,uuid={uuid} temp=71.5,rpm=1200i 1614556800000000000\n\
             plant,uuid={uuid} temp=72 1614556860000000000\n"
        ),
    );
    assert_eq!(status, 204, "{body}");
    // The device's channels, for Conduit, EPTS and Sensorbis.
    let device = storage::device_by_uuid(
        &db,
        &tenant,
        fieldline_domain::Uuid::parse(uuid).expect("uuid"),
    )
    .expect("the device registered by the write");
    let mut channels: Vec<String> = storage::list_device_channels(&db, &tenant, device.id)
        .expect("channels")
        .into_iter()
        .map(|c| c.communication_id.as_str().to_owned())
        .collect();
    channels.sort();
    assert_eq!(channels, ["plant.rpm", "plant.temp"]);
    // InfluxQL reads them back as the one series written, its fields aligned by time.
    let (_, r) = query(
        &h,
        email,
        &token,
        "fieldline",
        "SELECT * FROM plant; SHOW FIELD KEYS FROM plant; SHOW SERIES FROM plant",
    );
    assert_eq!(
        r["results"][0]["series"][0]["columns"],
        serde_json::json!(["time", "rpm", "temp", "uuid"]),
        "{r}"
    );
    assert_eq!(
        r["results"][0]["series"][0]["values"],
        serde_json::json!([
            ["2021-03-01T00:00:00Z", 1200, 71.5, uuid],
            ["2021-03-01T00:01:00Z", null, 72, uuid]
        ])
    );
    assert_eq!(
        r["results"][1]["series"][0]["values"],
        serde_json::json!([["rpm", "float"], ["temp", "float"]])
    );
    assert_eq!(
        r["results"][2]["series"][0]["values"],
        serde_json::json!([[format!("plant,uuid={uuid}")]])
    );
    // A series without a device in the same measurement keeps the channels' float type.
    let (status, body) = write(
        &h,
        email,
        &token,
        "fieldline",
        "plant,line=A temp=\"hot\" 1614556800000000000\nplant,line=A temp=70 1614556800000000000\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("field type conflict") && body.contains("dropped=1"),
        "{body}"
    );
    let (_, r) = query(
        &h,
        email,
        &token,
        "fieldline",
        "SELECT max(temp) FROM plant GROUP BY *",
    );
    assert_eq!(
        r["results"][0]["series"].as_array().map(Vec::len),
        Some(2),
        "{r}"
    );
    // InfluxQL deletes the series without a device, never a device's channels.
    let (_, r) = query(
        &h,
        email,
        &token,
        "fieldline",
        "DELETE FROM plant WHERE time < now(); DROP MEASUREMENT plant; \
         DROP SERIES FROM plant WHERE line = 'A'; SELECT max(temp) FROM plant GROUP BY *",
    );
    for i in 0..2 {
        assert!(
            r["results"][i]["error"]
                .as_str()
                .is_some_and(|e| e.contains("channels") && e.contains("not supported")),
            "{r}"
        );
    }
    assert_eq!(r["results"][2], serde_json::json!({"statement_id": 2}));
    assert_eq!(
        r["results"][3]["series"],
        serde_json::json!([{
            "name": "plant",
            "tags": {"uuid": uuid},
            "columns": ["time", "max"],
            "values": [["2021-03-01T00:01:00Z", 72]]
        }]),
        "{r}"
    );
}
