//! AlphaX Conduit over HTTP (`functions/conduit`): the document's examples sent as printed (with a
//! real token in place of its placeholder), every row of its status table, gzip both ways, the
//! tiers' rate limits, 1000-record pages, and values posted over v1 and v2 read back through v4
//! and v6. Organizations, devices and tokens are set up through fieldline-storage on the host's
//! own database file (the same storage layer the components use); settings an administrator
//! changes go through the admin API.

use std::io::{Read, Write};
use std::time::Duration;

use fieldline_domain::{
    Calibration, ChannelFields, CommunicationId, ConduitServices, ConduitTier, DeviceFields,
    DeviceMeta, Location, Name, NetworkId, Point, RateLimitPolicy, SensorFields, ShortText,
    Subscription, Timestamp,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Query as _;
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, Start, TestHost};
use fieldline_tests::{settle, status_and_json};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::Value;

const NETWORK_ID: &str = "70B3D32111BD648F7";
/// The document's upload time: 1660962091000 ms.
const DOC_TS_SECS: i64 = 1_660_962_091;

fn start() -> TestHost {
    let h = Start::app().start().expect("host starts");
    // The first request migrates the database through the component, as in production.
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    h
}

fn open(h: &TestHost) -> Connection {
    h.storage().expect("the host's database")
}

struct Org {
    tenant: Tenant,
    user: fieldline_domain::UserId,
}

fn org(db: &Connection) -> Org {
    let (tenant, user) = fieldline_tests::sign_up(db, "Minnovation", "ops@example.com");
    Org { tenant, user }
}

/// Logs in as the administrator `org` made and sets the organization's automatic registration
/// through the admin API, as an administrator would.
fn set_auto_register(h: &TestHost, on: bool) {
    let c = client();
    let login = c.post(h.url("/api/v1/login")).json(
        &serde_json::json!({"email": "ops@example.com", "password": "correct horse battery"}),
    );
    let (s, session) = status_and_json(send(login));
    assert_eq!(s, 200, "{session}");
    let access = session["access_token"].as_str().expect("access token");
    let patch = c
        .patch(h.url("/api/v1/organization"))
        .bearer_auth(access)
        .json(&serde_json::json!({ "autoRegister": on }));
    let (s, org) = status_and_json(send(patch));
    assert_eq!(s, 200, "{org}");
    assert_eq!(org["autoRegister"], on, "{org}");
}

fn token(db: &Connection, o: &Org, tier: ConduitTier, services: ConduitServices) -> String {
    token_with_id(db, o, tier, services).0
}

fn token_with_id(
    db: &Connection,
    o: &Org,
    tier: ConduitTier,
    services: ConduitServices,
) -> (String, fieldline_domain::TokenId) {
    let (tok, secret) = storage::create_token(
        db,
        &o.tenant,
        &NewToken::conduit(o.user, tier, services),
        Timestamp::now(),
    )
    .expect("token");
    (secret.expose().to_owned(), tok.id)
}

fn enterprise(db: &Connection, o: &Org) -> String {
    token(db, o, ConduitTier::Enterprise, ConduitServices::default())
}

/// The device of the document's examples, with the v6 example's metadata.
fn device(db: &Connection, o: &Org, network_id: &str) -> fieldline_domain::Device {
    let st = |s: &str| ShortText::parse(s).expect("text");
    let mut fields = DeviceFields::named(Name::parse("PAX03").expect("name"));
    fields.network_id = Some(NetworkId::parse(network_id).expect("network id"));
    fields.location = Some(Location::new(145.116588, -38.146664).expect("location"));
    fields.meta = DeviceMeta {
        kind: st("device"),
        tag: st("PAX03"),
        site: st("City"),
        label: st("Active"),
        power_source: st("Battery"),
        network: st("LTE CatM1"),
        category: st("Device"),
        supplier: st("Minnovation"),
        manufacturer: st("Minnovation"),
        ..DeviceMeta::default()
    };
    storage::create_device(db, &o.tenant, &fields, None, Timestamp::now()).expect("device")
}

fn send(r: RequestBuilder) -> Response {
    r.send().expect("request")
}

fn post(h: &TestHost, path: &str, body: &str) -> (u16, Value) {
    status_and_json(send(
        client()
            .post(h.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned()),
    ))
}

fn get(h: &TestHost, path_and_query: &str) -> (u16, Value) {
    status_and_json(send(client().get(h.url(path_and_query))))
}

/// The error body's code, checked to be the status as a string, and its message.
fn error_of(status: u16, body: &Value) -> String {
    assert_eq!(body["code"], status.to_string(), "{body}");
    body["error"].as_str().expect("error text").to_owned()
}

fn v2_body(token: &str, network_id: &str, ts_ms: i64, values: &[(u32, f64)]) -> String {
    let data: Vec<Value> = values
        .iter()
        .map(|(c, v)| serde_json::json!({ "channelId": c, "value": v }))
        .collect();
    serde_json::json!({
        "token": token, "networkId": network_id, "timestamp": ts_ms, "data": data,
    })
    .to_string()
}

fn by_channel<'a>(records: &'a Value, key: &str, channel: u64) -> &'a Value {
    records
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r[key] == channel)
        .unwrap_or_else(|| panic!("no record of channel {channel} in {records}"))
}

#[test]
fn conduit_v1_example_as_printed_reads_back_through_v4_and_v6() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    device(&db, &o, NETWORK_ID);

    // The document's v1 example, byte for byte except the token; `data` is unquoted as printed.
    let body = format!(
        r#"{{
  "token": "{t}",
  "networkId": "70B3D32111BD648F7",
  "timestamp": 1660962091000,
  "data": 0A10010001000000A00FA00F0000
}}"#
    );
    let (status, json) = post(&h, "/post/v1", &body);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["code"], "200");
    assert_eq!(json["points"], 6);

    let range = format!("fcdt={DOC_TS_SECS}&tcdt={DOC_TS_SECS}");
    let (status, v6) = get(&h, &format!("/conduitv6?token={t}&{range}"));
    assert_eq!(status, 200, "{v6}");
    assert_eq!(v6.as_array().expect("array").len(), 6);
    // reserved channels as sent, dynamic ones / 1000; the 6 channel bytes A00FA00F0000 are
    // channel 1 = 0x0FA00FA0 / 1000 and the short group 0000 (padded) channel 2 = 0
    for (ch, raw) in [
        (255, 4106.0),
        (254, 1.0),
        (253, 1.0),
        (252, 0.0),
        (1, 262_148.0),
        (2, 0.0),
    ] {
        let r = by_channel(&v6, "dev_chid", ch);
        assert_eq!(r["val_raw"], raw, "channel {ch}: {r}");
        assert_eq!(r["val_calibrated"], raw);
        assert_eq!(r["val_date"], DOC_TS_SECS);
        assert_eq!(r["dev_netid"], NETWORK_ID);
    }
    let r = by_channel(&v6, "dev_chid", 255);
    for (k, v) in [
        ("dev_tag", "PAX03"),
        ("dev_site", "City"),
        ("dev_type", "device"),
        ("dev_label", "Active"),
        ("dev_powersource", "Battery"),
        ("dev_network", "LTE CatM1"),
        ("dev_category", "Device"),
        ("dev_supplier", "Minnovation"),
        ("dev_manufacturer", "Minnovation"),
        ("val_description", "Device voltage"),
        ("val_type", "mV"),
    ] {
        assert_eq!(r[k], v, "{k} in {r}");
    }
    assert_eq!(r["dev_model"], Value::Null);
    assert_eq!(r["loc_lat"], -38.146664);
    assert_eq!(r["loc_lng"], 145.116588);
    assert_eq!(
        (r["val_cal"].as_f64(), r["val_offset"].as_f64()),
        (Some(0.0), Some(0.0))
    );

    let (status, v4) = get(
        &h,
        &format!("/conduitv4?id={NETWORK_ID}&ch=1&token={t}&{range}"),
    );
    assert_eq!(status, 200, "{v4}");
    assert_eq!(
        v4,
        serde_json::json!([{
            "channel": 1, "networkID": NETWORK_ID, "value": 262148.0,
            "timestamp": DOC_TS_SECS.to_string(),
        }])
    );

    // The MQTT section's worked example, as a v1 upload: 4106 1 1 0, then 4000 / 1000 = 4.
    let body = format!(
        r#"{{"token":"{t}","networkId":"{NETWORK_ID}","timestamp":1660962092000,"data":"0A10010001000000A00F0000"}}"#
    );
    assert_eq!(post(&h, "/post/v1", &body).0, 200);
    let (_, v4) = get(
        &h,
        &format!("/conduitv4?id={NETWORK_ID}&token={t}&fcdt=1660962092&tcdt=1660962092"),
    );
    let values: Vec<(u64, f64)> = v4
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["channel"].as_u64().expect("ch"),
                r["value"].as_f64().expect("v"),
            )
        })
        .collect();
    assert_eq!(values.len(), 5);
    for want in [(255, 4106.0), (254, 1.0), (253, 1.0), (252, 0.0), (1, 4.0)] {
        assert!(values.contains(&want), "{want:?} in {values:?}");
    }
}

#[test]
fn conduit_v2_example_as_printed_reads_back_with_calibration() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    let d = device(&db, &o, NETWORK_ID);

    let body = format!(
        r#"{{
 "token": "{t}",
 "networkId": "70B3D32111BD648F7",
 "timestamp": 1660962091000,
 "data": [
  {{
   "channelId": 1,
   "value": 462.467835
   }},
   {{
   "channelId": 255,
   "value": 3.976
   }}
  ]
 }}"#
    );
    let (status, json) = post(&h, "/post/v2", &body);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["points"], 2);

    let range = format!("fcdt={DOC_TS_SECS}&tcdt={DOC_TS_SECS}");
    let (status, v4) = get(&h, &format!("/conduitv4?token={t}&{range}"));
    assert_eq!(status, 200, "{v4}");
    assert_eq!(by_channel(&v4, "channel", 1)["value"], 462.467835);
    assert_eq!(by_channel(&v4, "channel", 255)["value"], 3.976);
    assert_eq!(
        by_channel(&v4, "channel", 1)["timestamp"],
        DOC_TS_SECS.to_string()
    );

    // A calibration set on the channel shows in v6 (and in v4's value).
    let channel = storage::list_device_channels(&db, &o.tenant, d.id)
        .expect("channels")
        .into_iter()
        .find(|c| c.communication_id.as_str() == "1")
        .expect("channel 1 was created on first use");
    let mut fields = channel.fields.clone();
    fields.calibration = Calibration::new(2.0, 10.0).expect("calibration");
    storage::update_channel(
        &db,
        &o.tenant,
        channel.id,
        Some(channel.communication_id.clone()),
        &fields,
    )
    .expect("update");
    let (_, v6) = get(
        &h,
        &format!("/conduitv6?id={NETWORK_ID}&ch=1&token={t}&{range}"),
    );
    let r = by_channel(&v6, "dev_chid", 1);
    assert_eq!(r["val_raw"], 462.467835);
    assert_eq!(r["val_cal"], 2.0);
    assert_eq!(r["val_offset"], 10.0);
    assert_eq!(r["val_calibrated"], 462.467835 * 2.0 + 10.0);
    assert_eq!(r["val_description"], "Channel 1");
    let (_, v4) = get(
        &h,
        &format!("/conduitv4?id={NETWORK_ID}&ch=1&token={t}&{range}"),
    );
    assert_eq!(v4[0]["value"], 462.467835 * 2.0 + 10.0);

    // 16 digits are accepted, 17 are not
    let ok = v2_body(&t, NETWORK_ID, 1_660_962_093_000, &[(2, 1234567890.123456)]);
    assert_eq!(post(&h, "/post/v2", &ok).0, 200);
    let long = format!(
        r#"{{"token":"{t}","networkId":"{NETWORK_ID}","timestamp":1660962093000,"data":[{{"channelId":2,"value":1234567890.1234567}}]}}"#
    );
    let (status, json) = post(&h, "/post/v2", &long);
    assert_eq!(status, 400);
    assert!(error_of(status, &json).contains("16"), "{json}");
}

#[test]
fn conduit_documents_read_examples_default_to_the_last_hour() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    let d = device(&db, &o, "21eea42dd37b");
    device(&db, &o, "21xxx42xx37x");
    let now = Timestamp::now().as_millis();
    for (id, ch, v) in [("21eea42dd37b", 4, 0.278), ("21xxx42xx37x", 1, 14.0)] {
        let (s, j) = post(&h, "/post/v2", &v2_body(&t, id, now - 60_000, &[(ch, v)]));
        assert_eq!(s, 200, "{j}");
        // two hours ago: outside the default window
        let (s, _) = post(
            &h,
            "/post/v2",
            &v2_body(&t, id, now - 7_200_000, &[(ch, 99.0)]),
        );
        assert_eq!(s, 200);
    }

    // https://app.alphax.cloud/conduitv4?token=xxxxxxxxxxxxxxxxxxxxxx : all data of the last hour
    let (s, v4) = get(&h, &format!("/conduitv4?token={t}"));
    assert_eq!(s, 200, "{v4}");
    assert_eq!(v4.as_array().expect("array").len(), 2, "{v4}");
    // conduitv4?id=21eea42dd37b&ch=4&token=...
    let (s, v4) = get(&h, &format!("/conduitv4?id=21eea42dd37b&ch=4&token={t}"));
    assert_eq!(s, 200);
    assert_eq!(v4.as_array().expect("array").len(), 1);
    assert_eq!(v4[0]["channel"], 4);
    assert_eq!(v4[0]["networkID"], "21eea42dd37b");
    assert_eq!(v4[0]["value"], 0.278);
    assert_eq!(v4[0]["timestamp"], ((now - 60_000) / 1000).to_string());
    // conduitv6?id=21xxx42xx37x&ch=1&token=...
    let (s, v6) = get(&h, &format!("/conduitv6?id=21xxx42xx37x&ch=1&token={t}"));
    assert_eq!(s, 200);
    assert_eq!(v6[0]["dev_netid"], "21xxx42xx37x");
    assert_eq!(v6[0]["val_raw"], 14.0);
    // conduitv6?token=... : last hour, every device
    let (_, v6) = get(&h, &format!("/conduitv6?token={t}"));
    assert_eq!(v6.as_array().expect("array").len(), 2);
    // the date-range form: conduitv4?token=...&fcdt=..&tcdt=.. (and v6)
    let (f, to) = ((now - 8_000_000) / 1000, now / 1000);
    for path in ["conduitv4", "conduitv6"] {
        let (s, all) = get(&h, &format!("/{path}?token={t}&fcdt={f}&tcdt={to}"));
        assert_eq!(s, 200);
        assert_eq!(all.as_array().expect("array").len(), 4, "{path}: {all}");
    }
    // a device of the organization registered without a network id answers to its own id
    let plain = storage::create_device(
        &db,
        &o.tenant,
        &DeviceFields::named(Name::parse("plain").expect("name")),
        None,
        Timestamp::now(),
    )
    .expect("device");
    let (s, _) = get(&h, &format!("/conduitv4?id={}&token={t}", plain.id));
    assert_eq!(s, 304, "known device, no data");
    let _ = d;
}

#[test]
fn conduit_answers_every_row_of_the_status_table() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    device(&db, &o, NETWORK_ID);
    let ts = 1_660_962_091_000_i64;
    let v1 = |data: &str| {
        format!(r#"{{"token":"{t}","networkId":"{NETWORK_ID}","timestamp":{ts},"data":"{data}"}}"#)
    };

    // 200 Ok
    let (s, j) = post(&h, "/post/v2", &v2_body(&t, NETWORK_ID, ts, &[(3, 1.5)]));
    assert_eq!((s, error_of(s, &j).as_str()), (200, "Ok"));

    // 304 Not Modified: a read with nothing to return (no body, as HTTP requires)
    let r = send(client().get(h.url(&format!("/conduitv4?token={t}&fcdt=1000000&tcdt=1000001"))));
    assert_eq!(r.status().as_u16(), 304);

    // 400 Bad Request
    for bad in [
        v1("0A1001000100000"),    // odd length
        v1("0A10010001000000ZZ"), // not hex
        v1("0A10"),               // shorter than the 8 device bytes
        format!(r#"{{"token":"{t}","networkId":"{NETWORK_ID}","data":"0000000000000000"}}"#),
        "{not json".to_owned(),
    ] {
        let (s, j) = post(&h, "/post/v1", &bad);
        assert_eq!(s, 400, "{bad}: {j}");
        assert!(error_of(s, &j).starts_with("Bad Request: "), "{j}");
    }
    let (s, j) = post(&h, "/post/v2", &v2_body(&t, NETWORK_ID, ts, &[(33, 1.0)]));
    assert_eq!(s, 400, "{j}");
    let (s, j) = get(&h, &format!("/conduitv4?token={t}&fcdt=1539792000"));
    assert_eq!(s, 400);
    assert!(error_of(s, &j).contains("fcdt needs tcdt"), "{j}");

    // 401 Unauthorised: no token, a malformed one, an unknown one, a revoked one
    let no_token =
        format!(r#"{{"networkId":"{NETWORK_ID}","timestamp":{ts},"data":"0000000000000000"}}"#);
    let (s, j) = post(&h, "/post/v1", &no_token);
    assert_eq!(s, 401, "{j}");
    assert!(error_of(s, &j).starts_with("Unauthorised"));
    let (s, _) = get(&h, "/conduitv4?token=5b131223c23a7abcd81b0617");
    assert_eq!(s, 401);
    let unknown = format!("flc_{}", "A".repeat(43));
    assert_eq!(get(&h, &format!("/conduitv6?token={unknown}")).0, 401);
    // the document's v1 example with its own (placeholder) token
    let printed = r#"{
  "token": "5b131223c23a7abcd81b0617",
  "networkId": "70B3D32111BD648F7",
  "timestamp": 1660962091000,
  "data": 0A10010001000000A00FA00F0000
}"#;
    assert_eq!(post(&h, "/post/v1", printed).0, 401);
    let (revoked, id) = token_with_id(&db, &o, ConduitTier::Enterprise, ConduitServices::default());
    storage::revoke_token(&db, &o.tenant, id, Timestamp::now()).expect("revoke");
    assert_eq!(get(&h, &format!("/conduitv4?token={revoked}")).0, 401);

    // 403 Forbidden: the token's HTTP service is off
    let mqtt_only = token(
        &db,
        &o,
        ConduitTier::Enterprise,
        ConduitServices {
            http: false,
            mqtt: true,
            webhook: false,
        },
    );
    let (s, j) = post(
        &h,
        "/post/v2",
        &v2_body(&mqtt_only, NETWORK_ID, ts, &[(1, 1.0)]),
    );
    assert_eq!(s, 403, "{j}");
    assert!(error_of(s, &j).contains("HTTP service"));

    // 404: an unknown resource, an unknown network id (no automatic registration), unknown `id`
    let (s, j) = get(&h, "/post/v3");
    assert_eq!(s, 404);
    assert!(error_of(s, &j).starts_with("Resource not Found"));
    let (s, j) = post(&h, "/post/v2", &v2_body(&t, "newdevice1", ts, &[(1, 1.0)]));
    assert_eq!(s, 404, "{j}");
    assert!(error_of(s, &j).contains("automatic registration"), "{j}");
    assert_eq!(
        get(&h, &format!("/conduitv4?id=nosuchdevice&token={t}")).0,
        404
    );

    // ... and with automatic registration on (the organization's setting, through the admin
    // API), the device and its channels appear on first sight
    set_auto_register(&h, true);
    let (s, j) = post(
        &h,
        "/post/v2",
        &v2_body(&t, "newdevice1", ts, &[(1, 1.0), (254, -71.0)]),
    );
    assert_eq!(s, 200, "{j}");
    let dev =
        storage::device_by_network_id(&db, &o.tenant, &NetworkId::parse("newdevice1").expect("id"))
            .expect("registered");
    assert_eq!(
        storage::list_device_channels(&db, &o.tenant, dev.id)
            .expect("channels")
            .len(),
        2
    );

    // 405 Method Not Allowed, also through X-HTTP-Method-Override
    let r = send(client().get(h.url("/post/v2")));
    assert_eq!(
        r.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"POST"[..])
    );
    let (s, j) = status_and_json(r);
    assert_eq!(s, 405);
    assert!(error_of(s, &j).starts_with("Method Not Allowed"));
    let r = send(
        client()
            .post(h.url("/post/v2"))
            .header("x-http-method-override", "DELETE")
            .body(v2_body(&t, NETWORK_ID, ts, &[(1, 1.0)])),
    );
    assert_eq!(r.status().as_u16(), 405);
    let r = send(client().put(h.url(&format!("/conduitv4?token={t}"))));
    assert_eq!(r.status().as_u16(), 405);
    // ... and an override to GET turns a POST into a read
    let r = send(
        client()
            .post(h.url(&format!(
                "/conduitv4?token={t}&fcdt=1660962091&tcdt=1660962091"
            )))
            .header("x-http-method-override", "GET"),
    );
    assert_eq!(r.status().as_u16(), 200);

    // 413 Request too large: a small gzip body that inflates past the bound
    let bomb = gzip(&vec![b' '; 2 << 20]);
    assert!(bomb.len() < 10_000);
    let r = send(
        client()
            .post(h.url("/post/v2"))
            .header("content-encoding", "gzip")
            .body(bomb),
    );
    let (s, j) = status_and_json(r);
    assert_eq!(s, 413);
    assert!(error_of(s, &j).starts_with("Request too large"));

    // 429 Too Many Requests: see conduit_rate_limits_follow_the_tiers

    // 500 Internal Server Error: the database fails under the component
    db.execute("DROP TABLE points", &[]).expect("drop");
    let (s, j) = post(&h, "/post/v2", &v2_body(&t, NETWORK_ID, ts, &[(1, 1.0)]));
    assert_eq!(s, 500, "{j}");
    assert!(error_of(s, &j).starts_with("Internal Server Error"));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

#[test]
fn conduit_gzip_in_both_directions() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    device(&db, &o, NETWORK_ID);

    // a gzip request body
    let values: Vec<(u32, f64)> = (1..=32).map(|c| (c, f64::from(c) + 0.5)).collect();
    let body = v2_body(&t, NETWORK_ID, 1_660_962_091_000, &values);
    let r = send(
        client()
            .post(h.url("/post/v2"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(body.as_bytes())),
    );
    let (s, j) = status_and_json(r);
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["points"], 32);
    // garbage claiming to be gzip
    let r = send(
        client()
            .post(h.url("/post/v2"))
            .header("content-encoding", "gzip")
            .body(body.clone()),
    );
    assert_eq!(r.status().as_u16(), 400);

    // a gzip answer: 32 records are well over 1024 bytes
    let q = format!("/conduitv6?token={t}&fcdt={DOC_TS_SECS}&tcdt={DOC_TS_SECS}");
    let r = send(client().get(h.url(&q)).header("accept-encoding", "gzip"));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let zipped = r.bytes().expect("body");
    let records: Value = serde_json::from_slice(&gunzip(&zipped)).expect("json");
    assert_eq!(records.as_array().expect("array").len(), 32);
    // without Accept-Encoding: plain
    let r = send(client().get(h.url(&q)));
    assert!(r.headers().get("content-encoding").is_none());
    let plain = r.bytes().expect("body");
    assert!(plain.len() > 1024 && zipped.len() < plain.len());
    // under 1024 bytes: plain even when gzip is accepted
    let q1 = format!("/conduitv4?token={t}&ch=1&fcdt={DOC_TS_SECS}&tcdt={DOC_TS_SECS}");
    let r = send(client().get(h.url(&q1)).header("accept-encoding", "gzip"));
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(status_and_json(r).1.as_array().expect("array").len(), 1);
}

#[test]
fn conduit_rate_limits_follow_the_tiers() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    device(&db, &o, NETWORK_ID);
    let read = |t: &str| get(&h, &format!("/conduitv4?token={t}")).0;

    // reads: Basic 1 per 15 s, Premium 1 per 5 s
    for (tier, window) in [(ConduitTier::Basic, 15), (ConduitTier::Premium, 5)] {
        let t = token(&db, &o, tier, ConduitServices::default());
        settle(window, 3);
        assert_ne!(read(&t), 429, "{tier:?}: first read");
        let r = send(client().get(h.url(&format!("/conduitv6?token={t}"))));
        assert_eq!(r.status().as_u16(), 429, "{tier:?}: second read");
        let retry: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("retry-after");
        assert!((1..=window as u64).contains(&retry), "{retry}");
        let (s, j) = status_and_json(r);
        assert!(error_of(s, &j).starts_with("Too Many Requests"));
        // writes are limited separately
        let ts = Timestamp::now().as_millis();
        assert_eq!(
            post(&h, "/post/v2", &v2_body(&t, NETWORK_ID, ts, &[(1, 1.0)])).0,
            200
        );
    }
    // Enterprise: no read limit
    let t = enterprise(&db, &o);
    for _ in 0..5 {
        assert_ne!(read(&t), 429);
    }

    // writes: 100 per second for Basic and Premium. The 101st in a second is refused; the
    // counter is filled through storage for this and the next seconds, so the test does not
    // depend on how fast this machine posts.
    for (tier, limited) in [
        (ConduitTier::Basic, true),
        (ConduitTier::Premium, true),
        (ConduitTier::Enterprise, false),
    ] {
        let (t, id) = token_with_id(&db, &o, tier, ConduitServices::default());
        let policy = fieldline_service::limits::conduit_write(tier).unwrap_or(RateLimitPolicy {
            name: "conduit-write",
            limit: 100,
            window_secs: 1,
        });
        let now = Timestamp::now();
        for s in 0..5 {
            let w = policy.window(&format!("token:{id}"), now.add_secs(s));
            storage::increment_counter(&db, &w.key, 100, w.end).expect("counter");
        }
        let ts = Timestamp::now().as_millis();
        let (s, j) = post(&h, "/post/v2", &v2_body(&t, NETWORK_ID, ts, &[(1, 1.0)]));
        assert_eq!(s, if limited { 429 } else { 200 }, "{tier:?}: {j}");
    }

    // the organization's hourly points quota counts points, whatever the tier
    let t = enterprise(&db, &o);
    let small = Subscription {
        points_per_hour: 1,
        ..Subscription::default()
    };
    storage::update_subscription(&db, &o.tenant, &small).expect("subscription");
    let ts = Timestamp::now().as_millis();
    let (s, j) = post(
        &h,
        "/post/v2",
        &v2_body(&t, NETWORK_ID, ts, &[(1, 1.0), (2, 2.0)]),
    );
    assert_eq!(s, 429, "2 points with a quota of 1 per hour: {j}");
    assert!(error_of(s, &j).contains("points-per-hour"), "{j}");
}

#[test]
fn conduit_reads_page_by_1000_records() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    let d = device(&db, &o, NETWORK_ID);
    // create channels 1 and 2 through the API, then 2500 points natively, 2 to 3 per second
    let start_ms = 1_700_000_000_000_i64;
    let (s, _) = post(
        &h,
        "/post/v2",
        &v2_body(&t, NETWORK_ID, start_ms, &[(1, 0.0), (2, 0.0)]),
    );
    assert_eq!(s, 200);
    let refs = storage::channel_refs(&db, &o.tenant, d.id).expect("refs");
    let (c1, c2) = (refs["1"], refs["2"]);
    let points: Vec<_> = (0..1250_i64)
        .flat_map(|i| {
            let ts = Timestamp::from_millis(start_ms + i * 400).expect("ts");
            [
                (c1, Point::new(ts, i as f64).expect("point")),
                (c2, Point::new(ts, -(i as f64)).expect("point")),
            ]
        })
        .collect();
    storage::write_points(&db, &o.tenant, &points).expect("write");

    let (from, to) = (start_ms / 1000, (start_ms + 1250 * 400) / 1000);
    let mut fcdt = from;
    let mut seen: Vec<(i64, u64)> = Vec::new();
    let mut pages = 0;
    loop {
        let r = send(client().get(h.url(&format!(
            "/conduitv6?id={NETWORK_ID}&token={t}&fcdt={fcdt}&tcdt={to}"
        ))));
        let next = r
            .headers()
            .get("x-conduit-next-fcdt")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let (s, page) = status_and_json(r);
        assert_eq!(s, 200);
        let page = page.as_array().expect("array").clone();
        assert!(page.len() <= 1000);
        pages += 1;
        for r in &page {
            seen.push((
                r["val_date"].as_i64().expect("date"),
                r["dev_chid"].as_u64().expect("ch"),
            ));
        }
        match next {
            Some(n) => {
                assert_eq!(
                    n,
                    page.last().expect("record")["val_date"]
                        .as_i64()
                        .expect("d")
                        + 1
                );
                fcdt = n;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 2500, "every record exactly once");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "oldest first");
}

/// One page of a read: status, records, and the `X-Conduit-Cursor` and `X-Conduit-Next-Fcdt`
/// headers.
fn page(h: &TestHost, path_and_query: &str) -> (u16, Vec<Value>, Option<String>, Option<i64>) {
    let r = send(client().get(h.url(path_and_query)));
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (cursor, next) = (header("x-conduit-cursor"), header("x-conduit-next-fcdt"));
    let (s, body) = status_and_json(r);
    let records = body.as_array().cloned().unwrap_or_default();
    (s, records, cursor, next.and_then(|n| n.parse().ok()))
}

#[test]
fn conduit_reads_page_through_more_than_1000_records_of_one_second_with_the_cursor() {
    let h = start();
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    let d = device(&db, &o, NETWORK_ID);
    // 1100 channels (a point per channel and timestamp, so 1100 points of one timestamp need
    // 1100 channels), with points in second S, 10 in S - 1 and 10 in S + 1.
    let now = Timestamp::now();
    storage::transaction(&db, |db| {
        let sensor = storage::create_sensor(
            db,
            &o.tenant,
            d.id,
            &SensorFields::named(Name::parse("Many")?),
            now,
        )?;
        for i in 0..1100 {
            storage::create_channel(
                db,
                &o.tenant,
                sensor.id,
                Some(CommunicationId::parse(&format!("c{i:04}"))?),
                &ChannelFields::named(Name::parse(&format!("C{i}"))?),
                now,
            )?;
        }
        Ok(())
    })
    .expect("channels");
    let refs = storage::channel_refs(&db, &o.tenant, d.id).expect("refs");
    let s_ms = 1_700_000_000_000_i64;
    let at = |ms: i64| Timestamp::from_millis(ms).expect("ts");
    let mut points = Vec::new();
    for i in 0..1100 {
        let c = refs[&format!("c{i:04}")];
        points.push((c, Point::new(at(s_ms + 250), i as f64).expect("point")));
        if i < 10 {
            points.push((c, Point::new(at(s_ms - 1000), i as f64).expect("point")));
            points.push((c, Point::new(at(s_ms + 1000), i as f64).expect("point")));
        }
    }
    storage::write_points(&db, &o.tenant, &points).expect("write");
    let s = s_ms / 1000;
    let (before, after) = (s - 1, s + 1);
    let query = format!("/conduitv4?id={NETWORK_ID}&token={t}&fcdt={before}&tcdt={after}");

    // Following the cursor returns every record exactly once, in (time, channel) order.
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.clone(),
        };
        let (status, records, next_cursor, _) = page(&h, &q);
        assert_eq!(status, 200, "page {pages}");
        let n = records.len();
        assert!(n > 0 && n <= 1000, "page {pages}: {n} records");
        pages += 1;
        for r in &records {
            let ts: i64 = r["timestamp"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("ts");
            seen.push((ts, r["channel"].as_str().expect("channel").to_owned()));
        }
        match next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1120, "{pages} pages");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1120, "every record exactly once");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "oldest first");
    // 10 of S - 1, then 1000 of S, then 100 of S and 10 of S + 1
    assert_eq!(pages, 3);

    // A client paging by fcdt alone: the first page ends on a whole second and says where the
    // next starts; the second is cut inside S, so only the cursor continues it.
    let (_, first, cursor, next) = page(&h, &query);
    assert_eq!(first.len(), 10);
    assert!(cursor.is_some());
    assert_eq!(next, Some(s));
    let (_, second, cursor, next) = page(
        &h,
        &format!("/conduitv4?id={NETWORK_ID}&token={t}&fcdt={s}&tcdt={after}"),
    );
    assert_eq!(second.len(), 1000);
    assert!(cursor.is_some());
    assert_eq!(next, None, "no fcdt continues inside a second");

    // A cursor that this server did not give is a 400.
    let (status, body) = get(&h, &format!("{query}&cursor=not-a-cursor"));
    assert_eq!(status, 400, "{body}");
    assert!(error_of(status, &body).contains("cursor"), "{body}");
}

/// Publishes as the document's users do, with `mosquitto_pub`; with rumqttc where the Mosquitto
/// clients are not installed.
fn mosquitto_pub(topic: &str, payload: &str) {
    let run = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "1883",
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .status();
    match run {
        Ok(status) => assert!(status.success(), "mosquitto_pub {topic}"),
        Err(e) => panic!(
            "mosquitto_pub: {e} (scripts/test installs Debian's mosquitto-clients; the tests \
             publish as the AlphaX document's users do)"
        ),
    }
}

fn rumqttc_pub(topic: &str, payload: &str) {
    use rumqttc::{Client as Mqtt, Event, MqttOptions, Packet, QoS};
    let id = format!(
        "fieldline-conduit-{}-{}",
        std::process::id(),
        Timestamp::now().as_millis()
    );
    let (publisher, mut conn) = Mqtt::new(MqttOptions::new(id, "127.0.0.1", 1883), 10);
    publisher
        .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes())
        .expect("publish");
    for e in conn.iter() {
        if let Event::Incoming(Packet::PubAck(_)) = e.expect("broker reachable on 127.0.0.1:1883") {
            break;
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, h: &TestHost) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            h.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn conduit_mqtt_topics_land_and_read_back_and_bad_messages_are_dropped() {
    let h = start();
    for topic in ["+/+/publish/v4", "+/+/+/data"] {
        wait_for(
            "the subscription",
            || h.output().contains(&format!("subscribed to '{topic}'")),
            &h,
        );
    }
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    // a unique network id, as every running host receives every message on the shared broker
    let id = format!("mydevice{}", std::process::id());
    device(&db, &o, &id);

    // The document's example: Topic: xxxxxxxxxxxxxxxxxx/mydevice1234/publish/v4,
    // Payload: 0A10010001000000A00F0000 -> 4106 1 1 0, and 4000 / 1000.
    mosquitto_pub(&format!("{t}/{id}/publish/v4"), "0A10010001000000A00F0000");
    // bulk update and single-channel updates
    mosquitto_pub(
        &format!("{t}/{id}/0/data"),
        r#"{"timestamp":1660962091000,"data":[{"channelId":2,"value":7.25},{"channelId":253,"value":9}]}"#,
    );
    mosquitto_pub(
        &format!("{t}/{id}/3/data"),
        r#"{"timestamp":1660962091000,"value":-4.5}"#,
    );
    // (one through rumqttc: a client library publishing as a device's firmware would)
    rumqttc_pub(&format!("{t}/{id}/4/data"), "12.5");
    // bad messages: payload, channel, token, and a token without the MQTT service
    let http_only = token(
        &db,
        &o,
        ConduitTier::Enterprise,
        ConduitServices {
            http: true,
            mqtt: false,
            webhook: false,
        },
    );
    mosquitto_pub(&format!("{t}/{id}/publish/v4"), "0A1");
    mosquitto_pub(&format!("{t}/{id}/99/data"), "1");
    mosquitto_pub(&format!("flc_{}/{id}/5/data", "A".repeat(43)), "1");
    mosquitto_pub(&format!("{http_only}/{id}/6/data"), "1");
    // and a good one after them: the subscription goes on
    mosquitto_pub(&format!("{t}/{id}/7/data"), "70");

    let last_hour = |ch: u32| {
        let (s, v) = get(&h, &format!("/conduitv4?id={id}&ch={ch}&token={t}"));
        (s == 200).then(|| v[0]["value"].as_f64()).flatten()
    };
    wait_for("channel 7", || last_hour(7).is_some(), &h);
    assert_eq!(last_hour(1), Some(4.0));
    assert_eq!(last_hour(255), Some(4106.0));
    assert_eq!(last_hour(254), Some(1.0));
    assert_eq!(last_hour(4), Some(12.5));
    assert_eq!(last_hour(7), Some(70.0));
    let (s, v6) = get(
        &h,
        &format!("/conduitv6?id={id}&token={t}&fcdt={DOC_TS_SECS}&tcdt={DOC_TS_SECS}"),
    );
    assert_eq!(s, 200, "{v6}");
    assert_eq!(by_channel(&v6, "dev_chid", 2)["val_raw"], 7.25);
    assert_eq!(by_channel(&v6, "dev_chid", 253)["val_raw"], 9.0);
    assert_eq!(by_channel(&v6, "dev_chid", 3)["val_raw"], -4.5);
    for ch in [5, 6, 99] {
        let (s, _) = get(&h, &format!("/conduitv4?id={id}&ch={ch}&token={t}"));
        assert_eq!(s, 304, "channel {ch} must not have been written");
    }
    // Messages are handled concurrently: the refusals may be logged after channel 7 landed.
    let refusals = |out: &str| {
        out.lines()
            .filter(|l| l.contains(&format!("conduit-mqtt: message on …/{id}/")))
            .count()
    };
    wait_for("the four refusals", || refusals(&h.output()) >= 4, &h);
    let out = h.output();
    assert_eq!(refusals(&out), 4, "{out}");
    assert!(out.contains("the MQTT service is not enabled"), "{out}");
    for secret in [&t, &http_only] {
        assert!(
            !out.contains(secret.as_str()),
            "tokens stay out of logs:\n{out}"
        );
    }
}

#[test]
fn conduit_works_with_an_organization_device_and_token_made_through_the_admin_api() {
    let h = start();
    let c = client();
    let call = |method: reqwest::Method, path: &str, bearer: Option<&str>, body: Value| {
        let mut r = c.request(method, h.url(path)).json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        status_and_json(send(r))
    };
    let (s, signup) = call(
        reqwest::Method::POST,
        "/api/v1/signup",
        None,
        serde_json::json!({"organization": "Minnovation", "email": "ops@example.com",
                           "password": "correct horse battery"}),
    );
    assert_eq!(s, 201, "{signup}");
    let access = signup["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    // The document's upload is from 2020: the operator gives the organization the retention
    // that keeps it (the default 90 days would refuse it as beyond the retention policy).
    let org = signup["organization"].as_str().expect("organization");
    let (s, sub) = call(
        reqwest::Method::PUT,
        &format!("/api/v1/operator/organizations/{org}/subscription"),
        Some(fieldline_tests::OPERATOR_TOKEN),
        serde_json::to_value(fieldline_tests::fixture_subscription()).expect("json"),
    );
    assert_eq!(s, 200, "{sub}");
    let (s, dev) = call(
        reqwest::Method::POST,
        "/api/v1/devices",
        Some(&access),
        serde_json::json!({"name": "PAX03", "networkId": "842D8Y118754",
                           "location": {"lon": 145.116588, "lat": -38.146664},
                           "meta": {"tag": "PAX03", "site": "City", "powerSource": "Battery"}}),
    );
    assert_eq!(s, 201, "{dev}");
    let (s, tok) = call(
        reqwest::Method::POST,
        "/api/v1/tokens",
        Some(&access),
        serde_json::json!({"kind": "conduit", "name": "gateway"}),
    );
    assert_eq!(s, 201, "{tok}");
    let t = tok["secret"].as_str().expect("secret").to_owned();
    assert_eq!(tok["tier"], "basic", "the subscription's tier by default");

    let (s, j) = post(
        &h,
        "/post/v2",
        &v2_body(&t, "842D8Y118754", 1_608_171_093_000, &[(1, 14.0)]),
    );
    assert_eq!(s, 200, "{j}");
    settle(15, 3);
    let (s, v6) = get(
        &h,
        &format!("/conduitv6?id=842D8Y118754&ch=1&token={t}&fcdt=1608171093&tcdt=1608171093"),
    );
    assert_eq!(s, 200, "{v6}");
    let r = &v6[0];
    assert_eq!(r["val_date"], 1_608_171_093);
    assert_eq!(r["dev_netid"], "842D8Y118754");
    assert_eq!(r["dev_chid"], 1);
    assert_eq!(
        (r["val_raw"].as_f64(), r["val_calibrated"].as_f64()),
        (Some(14.0), Some(14.0))
    );
    assert_eq!(r["dev_tag"], "PAX03");
    assert_eq!(r["dev_site"], "City");
    assert_eq!(r["dev_powersource"], "Battery");
    assert_eq!(r["loc_lat"], -38.146664);
    // Basic: one read per 15 s
    assert_eq!(get(&h, &format!("/conduitv4?token={t}")).0, 429);
}

/// Durable MQTT ingestion runs against a private broker ([`fieldline_tests::Broker`]) whose
/// queue holds a whole burst: Mosquitto's default `max_queued_messages` (1000) drops, at the
/// broker, a subscriber's QoS 1 messages beyond 1000 waiting, connected or not, before any host
/// sees them. `FIELDLINE_TEST_BROKER_CONF` replaces these lines (empty: Mosquitto's defaults).
fn durable_broker() -> fieldline_tests::Broker {
    let conf = std::env::var("FIELDLINE_TEST_BROKER_CONF")
        .unwrap_or_else(|_| "max_queued_messages 100000".into());
    fieldline_tests::Broker::start(&conf).expect("a private mosquitto")
}

/// The host, on `broker`, with the database migrated and both subscriptions made (or resumed).
fn start_on(broker: &fieldline_tests::Broker) -> TestHost {
    let h = Start::app()
        .env("SPIN_VARIABLE_MQTT_ADDRESS", &broker.address())
        .start()
        .expect("host starts");
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    wait_subscribed(&h, 1);
    h
}

/// Waits until the log says `times` times that each Conduit subscription is in place.
fn wait_subscribed(h: &TestHost, times: usize) {
    for topic in ["+/+/publish/v4", "+/+/+/data"] {
        let needle = format!("subscribed to '{topic}'");
        wait_for(&needle, || h.output().matches(&needle).count() >= times, h);
    }
}

/// Publishes `payloads` to `topic` at QoS 1 through one rumqttc connection, as fast as the
/// broker takes them; returns how many the broker acknowledged (PUBACK), within 120 s.
fn publish_qos1(port: u16, topic: &str, payloads: Vec<String>) -> usize {
    use rumqttc::{Client as Mqtt, Event, MqttOptions, Packet, QoS};
    let id = format!(
        "fieldline-test-pub-{}-{}",
        std::process::id(),
        Timestamp::now().as_millis()
    );
    let (publisher, mut conn) = Mqtt::new(MqttOptions::new(id, "127.0.0.1", port), 100);
    let n = payloads.len();
    let topic = topic.to_string();
    // Publishing blocks while the request queue is full; this thread's polling empties it.
    let sender = std::thread::spawn(move || {
        for p in payloads {
            publisher
                .publish(topic.as_str(), QoS::AtLeastOnce, false, p.into_bytes())
                .expect("publish");
        }
        publisher
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut acked = 0;
    while acked < n && std::time::Instant::now() < deadline {
        match conn.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => panic!("publishing to 127.0.0.1:{port}: {e}"),
        }
    }
    let publisher = sender.join().expect("the publishing thread");
    let _ = publisher.disconnect();
    for _ in 0..10 {
        if conn.recv_timeout(Duration::from_millis(200)).is_err() {
            break;
        }
    }
    acked
}

/// `n` single-channel updates with timestamps `first_ms`, `first_ms + 1`, ... and values
/// 0, 1, ...: each a point of its own, keyed (channel, time), so a redelivered one rewrites
/// its point instead of adding one.
fn timed_updates(first_ms: i64, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| format!(r#"{{"timestamp":{},"value":{i}}}"#, first_ms + i as i64))
        .collect()
}

/// (points, sum of values) the device `network_id` has on all channels.
fn stored(h: &TestHost, network_id: &str) -> (i64, f64) {
    let rows = h
        .storage()
        .expect("database")
        .execute(
            "SELECT count(*), coalesce(sum(p.value), 0) FROM points p \
             JOIN channels c ON c.key = p.channel_key JOIN devices d ON d.key = c.device_key \
             WHERE d.network_id = ?1",
            &[network_id.into()],
        )
        .expect("count points");
    let r = rows.first().expect("a row");
    (r.i64(0).expect("count"), r.f64(1).expect("sum"))
}

/// Waits up to `secs` until `want` points are stored, then a moment more for any that would be
/// one too many; returns the final count and sum.
fn wait_stored(h: &TestHost, network_id: &str, want: i64, secs: u64) -> (i64, f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while stored(h, network_id).0 < want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    stored(h, network_id)
}

#[test]
fn conduit_mqtt_burst_of_3000_qos1_messages_is_stored_completely() {
    const N: usize = 3000;
    let broker = durable_broker();
    let h = start_on(&broker);
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    let id = format!("burst{}", std::process::id());
    device(&db, &o, &id);

    let first = Timestamp::now().as_millis() - 3_600_000;
    let started = std::time::Instant::now();
    let acked = publish_qos1(
        broker.port,
        &format!("{t}/{id}/1/data"),
        timed_updates(first, 0, N),
    );
    assert_eq!(acked, N, "the broker acknowledged every publication");
    let (count, sum) = wait_stored(&h, &id, N as i64, 120);
    eprintln!(
        "burst: {N} published, {acked} acknowledged by the broker, {count} stored in {:.1?}",
        started.elapsed()
    );
    assert_eq!(count, N as i64, "{}", h.output());
    assert_eq!(sum, (0..N).sum::<usize>() as f64);
}

#[test]
fn conduit_mqtt_messages_survive_kill_9_and_arrive_after_a_restart() {
    const BEFORE: usize = 1000;
    const WHILE_DOWN: usize = 1000;
    let broker = durable_broker();
    let mut h = start_on(&broker);
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    let id = format!("restart{}", std::process::id());
    device(&db, &o, &id);
    drop(db);
    let topic = format!("{t}/{id}/1/data");
    let first = Timestamp::now().as_millis() - 3_600_000;

    // A burst, and kill -9 while it is being ingested: what was handled but not acknowledged
    // comes again, what was not handled comes for the first time.
    let acked = publish_qos1(broker.port, &topic, timed_updates(first, 0, BEFORE));
    assert_eq!(acked, BEFORE);
    h.kill().expect("kill -9");
    let at_kill = stored(&h, &id).0;
    // Published while the host is down: the broker keeps them for its session.
    let acked = publish_qos1(
        broker.port,
        &topic,
        timed_updates(first, BEFORE, WHILE_DOWN),
    );
    assert_eq!(acked, WHILE_DOWN);

    h.restart().expect("the host starts again");
    wait_subscribed(&h, 2);
    let want = (BEFORE + WHILE_DOWN) as i64;
    let (count, sum) = wait_stored(&h, &id, want, 120);
    eprintln!(
        "restart: {} published and acknowledged by the broker, {at_kill} stored at the kill, \
         {count} stored after the restart",
        BEFORE + WHILE_DOWN
    );
    let out = h.output();
    assert_eq!(
        out.matches("(session resumed)").count(),
        2,
        "both triggers resume their sessions:\n{out}"
    );
    assert_eq!(count, want, "{out}");
    assert_eq!(sum, (0..BEFORE + WHILE_DOWN).sum::<usize>() as f64);
    // The restarted host's counters: how many came again (handled twice, stored once).
    assert!(h.terminate().expect("SIGTERM"), "a clean exit");
    for line in h
        .output()
        .lines()
        .filter(|l| l.contains("messages handled"))
    {
        eprintln!("restart: {line}");
    }
}

/// The organization's points-per-hour limit holds for MQTT too: past it, messages are dropped
/// (MQTT has no answer to give) and counted as discarded for their device, as for every
/// ingestion API.
#[test]
fn conduit_mqtt_messages_past_the_points_per_hour_limit_are_counted_as_discarded() {
    let broker = durable_broker();
    let h = start_on(&broker);
    let db = open(&h);
    let o = org(&db);
    let small = Subscription {
        points_per_hour: 10,
        ..fieldline_tests::fixture_subscription()
    };
    storage::update_subscription(&db, &o.tenant, &small).expect("subscription");
    let t = enterprise(&db, &o);
    let d = device(&db, &o, NETWORK_ID);
    // Within one UTC hour.
    let now = Timestamp::now();
    let left = now.hour_start().add_secs(3600).as_millis() - now.as_millis();
    if left < 60_000 {
        std::thread::sleep(Duration::from_millis(
            u64::try_from(left + 1000).unwrap_or(0),
        ));
    }
    let hour = Timestamp::now().hour_start();
    let first = Timestamp::now().as_millis();
    let acked = publish_qos1(
        broker.port,
        &format!("{t}/{NETWORK_ID}/1/data"),
        timed_updates(first, 0, 15),
    );
    assert_eq!(acked, 15);
    let discarded = || -> i64 {
        h.storage()
            .expect("database")
            .query_i64("SELECT coalesce(sum(n), 0) FROM discarded_points", &[])
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while (stored(&h, NETWORK_ID).0 < 10 || discarded() < 5) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        Timestamp::now().hour_start(),
        hour,
        "the test ran within one hour"
    );
    assert_eq!(stored(&h, NETWORK_ID).0, 10, "exactly the limit is stored");
    assert_eq!(discarded(), 5, "the other 5 are counted");
    let rows = storage::SqlStore(&db);
    use fieldline_service::prelude::Counters;
    let per_device = rows
        .discarded(&o.tenant, hour, hour.add_secs(3600))
        .expect("discarded");
    assert_eq!(per_device.len(), 1, "{per_device:?}");
    assert_eq!(
        (per_device[0].device, per_device[0].points),
        (Some(d.id), 5)
    );
    assert!(
        h.output().contains("points-per-hour"),
        "the refusals are logged"
    );
}

#[test]
fn conduit_points_over_http_and_mqtt_are_counted_in_the_host_metrics() {
    let broker = durable_broker();
    let h = Start::app()
        .env("SPIN_VARIABLE_MQTT_ADDRESS", &broker.address())
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start()
        .expect("host starts");
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    wait_subscribed(&h, 1);
    let db = open(&h);
    let o = org(&db);
    let t = enterprise(&db, &o);
    device(&db, &o, NETWORK_ID);
    let http_only = token(
        &db,
        &o,
        ConduitTier::Enterprise,
        ConduitServices {
            http: true,
            mqtt: false,
            webhook: false,
        },
    );
    let now = Timestamp::now().as_millis();

    // HTTP (the JSON upload, v2): 3 points.
    let (s, json) = post(
        &h,
        "/post/v2",
        &v2_body(&t, NETWORK_ID, now, &[(1, 1.0), (2, 2.0), (3, 3.0)]),
    );
    assert_eq!(s, 200, "{json}");

    // MQTT: a bulk update of 2 channels and a single channel are stored (3 points); a message
    // whose token lacks the MQTT service is refused with its 2 readings; an unreadable one has
    // no readings to count.
    let data = "+/+/+/data";
    let sent = publish_qos1(
        broker.port,
        &format!("{t}/{NETWORK_ID}/0/data"),
        vec![format!(
            r#"{{"timestamp":{now},"data":[{{"channelId":4,"value":4}},{{"channelId":5,"value":5}}]}}"#
        )],
    ) + publish_qos1(
        broker.port,
        &format!("{t}/{NETWORK_ID}/6/data"),
        vec!["6".into(), "not a number".into()],
    ) + publish_qos1(
        broker.port,
        &format!("{http_only}/{NETWORK_ID}/0/data"),
        vec![format!(
            r#"{{"timestamp":{now},"data":[{{"channelId":7,"value":7}},{{"channelId":8,"value":8}}]}}"#
        )],
    );
    assert_eq!(sent, 4);
    let series = |name: &str, route: &str, reason: Option<&str>| {
        let reason = reason
            .map(|r| format!(",reason=\"{r}\""))
            .unwrap_or_default();
        format!(
            "{name}{{component=\"{}\",route=\"{route}\"{reason}}}",
            if route == data {
                "conduit-mqtt"
            } else {
                "conduit"
            }
        )
    };
    fieldline_tests::wait_for_metrics(
        &h,
        &[
            (&series("fieldline_points_accepted_total", "/post/...", None), 3.0),
            (&series("fieldline_points_accepted_total", data, None), 3.0),
            (
                &series("fieldline_points_refused_total", data, Some("rejected")),
                2.0,
            ),
            (
                &format!("fieldline_mqtt_messages_handled_total{{component=\"conduit-mqtt\",subscription=\"{data}\",outcome=\"refused\"}}"),
                2.0,
            ),
        ],
    );
    // The points lines are the host's, not the log's.
    assert!(!h.output().contains("fieldline-points-"), "{}", h.output());
}
