//! Sensorbis (`functions/sensorbis`) through the host, with a client written from the document
//! (`sensorbis-help.txt`): `POST /V0100/Service.svc/rest/{Method}`, `Authorization: Basic
//! <token>`, the Request and Response tables' JSON, the error table; and the device push, read
//! back through InfluxQL (`/query`), Proficloud's `/epts/last` and Conduit's `/conduitv4`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use fieldline_domain::{ConduitServices, ConduitTier, DeviceId, Subscription, Timestamp, Uuid};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Query as _;
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, Start, TestHost, PASSWORD};
use serde_json::{json, Value};

// The operation table the component dispatches on and writes its help page from.
#[allow(dead_code)]
#[path = "../../functions/sensorbis/src/ops.rs"]
mod ops;

const REST: &str = "/V0100/Service.svc/rest";

/// A host, its database, and a client of the management API.
struct Sb {
    host: TestHost,
    db: Connection,
}

/// An answer: HTTP status and JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

/// A federation (organization) with its federation token and administrator.
struct Fed {
    tenant: Tenant,
    id: String,
    token: String,
    user: fieldline_domain::UserId,
    email: String,
}

fn start() -> Sb {
    let host = Start::app().start().expect("host starts");
    let db = host.storage().expect("the host's database");
    storage::migrate(&db).expect("migrate");
    Sb { host, db }
}

impl Sb {
    fn federation(&self, name: &str, email: &str) -> Fed {
        let (tenant, user) = fieldline_tests::sign_up(&self.db, name, email);
        let (_, secret) =
            storage::create_token(&self.db, &tenant, &NewToken::federation(), Timestamp::now())
                .expect("federation token");
        Fed {
            id: tenant.id().to_string(),
            tenant,
            token: secret.expose().to_owned(),
            user,
            email: email.into(),
        }
    }

    /// A method call with `Authorization: <authorization>` as given (None: no header).
    fn raw(&self, method: &str, authorization: Option<&str>, body: &str) -> Answer {
        let mut req = client()
            .post(self.host.url(&format!("{REST}/{method}")))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        answer(req.send().expect("request"))
    }

    /// A method call as the document prints it: `Authorization: Basic <token>`. Checked
    /// against the Response table's shape and the error table.
    fn call(&self, method: &str, token: &str, body: Value) -> Answer {
        let a = self.raw(method, Some(&format!("Basic {token}")), &body.to_string());
        check_shape(method, &a);
        a
    }

    fn push(&self, uri: &str, authorization: Option<&str>, body: &str) -> Answer {
        let path = uri.strip_prefix(&self.host.base).expect("uri on this host");
        let mut req = client()
            .post(self.host.url(path))
            .header("content-type", "application/json;charset=utf-8")
            .body(body.to_owned());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let a = answer(req.send().expect("push"));
        // Every answer is one the document lists, with its body.
        let op = "/paths/~1V0100~1push~1{deviceId}/post/responses";
        assert!(
            openapi()
                .pointer(op)
                .and_then(|r| r.get(a.status.to_string()))
                .is_some(),
            "push answered {a:?}, which openapi.json does not list"
        );
        validate(
            &format!("{op}/{}/content/application~1json/schema", a.status),
            &a.body,
        );
        a
    }

    fn conduit_token(&self, f: &Fed) -> String {
        let (_, secret) = storage::create_token(
            &self.db,
            &f.tenant,
            &NewToken::conduit(f.user, ConduitTier::Enterprise, ConduitServices::default()),
            Timestamp::now(),
        )
        .expect("conduit token");
        secret.expose().to_owned()
    }

    fn set_subscription(&self, f: &Fed, change: impl FnOnce(&mut Subscription)) {
        let mut s = storage::organization(&self.db, &f.tenant)
            .expect("org")
            .subscription;
        change(&mut s);
        storage::update_subscription(&self.db, &f.tenant, &s).expect("subscription");
    }

    /// InfluxQL through `/query`, with the administrator's e-mail and a Conduit token.
    fn influxql(&self, f: &Fed, q: &str) -> Value {
        let t = self.conduit_token(f);
        let r = client()
            .get(self.host.url("/query"))
            .query(&[
                ("db", "fieldline"),
                ("q", q),
                ("u", f.email.as_str()),
                ("p", t.as_str()),
            ])
            .send()
            .expect("query");
        assert_eq!(r.status().as_u16(), 200);
        r.json().expect("json")
    }
}

fn answer(r: reqwest::blocking::Response) -> Answer {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = r.text().expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        body,
        retry_after,
    }
}

/// The error table: each code with its HTTP status.
fn table_status(code: u64) -> u16 {
    match code {
        10 => 400,
        20 | 25 => 401,
        30 | 140 | 142 => 403,
        100 | 110 | 120 | 130 => 404,
        999 => 500,
        other => panic!("error {other} is not in the document's table"),
    }
}

/// Every answer: an error is `{"error": <code of the table>, "message"}` with the table's
/// status; a success has no `error` and only the members its Response table lists; both as
/// openapi.json documents them.
fn check_shape(method: &str, a: &Answer) {
    let responses = format!(
        "/paths/{}/post/responses",
        format!("{REST}/{method}").replace('/', "~1")
    );
    if ops::op(method).is_some() {
        assert!(
            openapi()
                .pointer(&responses)
                .and_then(|r| r.get(a.status.to_string()))
                .is_some(),
            "{method} answered {a:?}, a status openapi.json does not list"
        );
    }
    if a.status != 200 {
        let code = a.body["error"].as_u64().unwrap_or_else(|| panic!("{a:?}"));
        assert_eq!(a.status, table_status(code), "{method}: {a:?}");
        assert!(a.body["message"].is_string(), "{a:?}");
        validate("/components/schemas/Error", &a.body);
        return;
    }
    assert!(a.body.get("error").is_none(), "{a:?}");
    conforms(method, &a.body);
    let allowed: &[&str] = match method {
        "GetFederation" => &["federation"],
        "CreateFederationToken" | "CreateDeviceToken" => &["token"],
        "AddDevices" => &["devices"],
        "GetDevice" => &["device"],
        "ModifyDevice" => &["needsNotificationUriVerification"],
        "AddSensors" => &["sensors"],
        "AddChannels" => &["channels"],
        _ => &[],
    };
    for k in a.body.as_object().expect("object").keys() {
        assert!(
            allowed.contains(&k.as_str()),
            "{method} answered {k}: {a:?}"
        );
    }
}

fn expect_error(a: &Answer, code: u64) {
    assert_eq!(a.body["error"], code, "{a:?}");
    assert_eq!(a.status, table_status(code), "{a:?}");
}

fn ok(a: &Answer) -> &Value {
    assert_eq!(a.status, 200, "{a:?}");
    &a.body
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// A channel of the Request tables.
fn channel(comm: &str, name: &str) -> Value {
    json!({ "communicationId": comm, "name": name, "enumerated": false, "grouping": "M" })
}

/// A device with one sensor of two channels ("1" and "temp").
fn device(name: &str) -> Value {
    json!({
        "name": name,
        "sensors": [{
            "name": "Probe",
            "channels": [channel("1", "Counter"), channel("temp", "Temperature")]
        }]
    })
}

/// Adds devices as the federation manager; returns the answer's devices.
fn add_devices(sb: &Sb, f: &Fed, devices: Vec<Value>) -> Vec<Value> {
    let a = sb.call(
        "AddDevices",
        &f.token,
        json!({ "federation": { "id": null }, "devices": devices }),
    );
    ok(&a)["devices"].as_array().expect("devices").clone()
}

fn federation_devices(sb: &Sb, f: &Fed) -> Vec<Value> {
    let a = sb.call("GetFederation", &f.token, json!({}));
    ok(&a)["federation"]["devices"]
        .as_array()
        .expect("devices")
        .clone()
}

#[test]
fn sensorbis_help_lists_the_operations_and_the_openapi_document_matches_them() {
    let sb = start();
    let r = client()
        .get(sb.host.url("/V0100/Service.svc/rest/help"))
        .send()
        .expect("help");
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().expect("html");
    assert_eq!(ops::OPS.len(), 13);
    for (name, _, _) in ops::OPS {
        assert!(page.contains(&format!("{REST}/{name}")), "{name} missing");
    }
    let doc = openapi();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let served: Value = client()
        .get(sb.host.url("/V0100/Service.svc/openapi.json"))
        .send()
        .expect("openapi")
        .json()
        .expect("json");
    assert_eq!(&served, doc);
    // Exactly the methods of the table, each a POST; and the push.
    let paths: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let mut want: BTreeSet<String> = ops::OPS
        .iter()
        .map(|(n, _, _)| format!("{REST}/{n}"))
        .collect();
    want.insert(format!("{}{{deviceId}}", ops::PUSH));
    assert_eq!(paths, want);
    for (n, _, _) in ops::OPS {
        let op = &doc["paths"][format!("{REST}/{n}")]["post"];
        assert_eq!(op["operationId"], *n);
        assert!(op["responses"]["200"].is_object(), "{n}");
    }
}

fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(
            fieldline_tests::workspace().join("functions/sensorbis/openapi.json"),
        )
        .expect("openapi.json");
        serde_json::from_str(&text).expect("openapi.json is JSON")
    })
}

/// Validates a success answer of `method` against its documented 200 schema.
fn conforms(method: &str, body: &Value) {
    let pointer = format!(
        "/paths/{}/post/responses/200/content/application~1json/schema",
        format!("{REST}/{method}").replace('/', "~1")
    );
    validate(&pointer, body);
}

/// Validates `body` against the schema at `pointer` in openapi.json (the document itself with a
/// `$ref` there, so its own `$ref`s resolve); compiled once per pointer.
fn validate(pointer: &str, body: &Value) {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, jsonschema::Validator>>> = OnceLock::new();
    let mut cache = VALIDATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let v = cache.entry(pointer.to_owned()).or_insert_with(|| {
        let mut schema = openapi().clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        // A URI fragment: the braces of path templates are percent-encoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        schema["$ref"] = json!(format!("#{fragment}"));
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .unwrap_or_else(|e| panic!("openapi.json {pointer}: {e}"))
    });
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{pointer}: {errors:?} in {body}");
}

#[test]
fn sensorbis_federation_manager_and_devices_manage_the_structure() {
    let sb = start();
    let f = sb.federation("Plant A", "admin@plant-a.example");

    // The three forms of Basic: the raw token, base64 of the token, base64 of "token:".
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    for auth in [
        format!("Basic {}", f.token),
        format!("Basic {}", b64(&f.token)),
        format!("Basic {}", b64(&format!("{}:", f.token))),
    ] {
        let a = sb.raw("GetFederation", Some(&auth), "");
        assert_eq!(a.status, 200, "{auth}: {a:?}");
        assert_eq!(a.body["federation"]["id"], f.id);
        assert_eq!(a.body["federation"]["name"], "Plant A");
        assert_eq!(a.body["federation"]["devices"], json!([]));
    }

    // AddDevices: two devices, the second with everything the table has.
    let full = json!({
        "vendorId": "V-1", "customerId": "C-1", "name": "Boiler", "descr": "line 1\nline 2",
        "timeZone": 60, "usesDst": true, "lon": 9.19, "lat": 45.46,
        "notificationUri": "ops@plant-a.example", "notificationsMinInterval": 900,
        "sensors": [{
            "customerId": "S-1", "name": "Water", "descr": "inlet",
            "channels": [
                { "communicationId": "", "name": "Flow", "enumerated": false, "unit": "l/min",
                  "min": 0, "max": 100, "purpose": "", "grouping": "S",
                  "thresholdOperator1": "<", "thresholdValue1": 1,
                  "thresholdOperator2": ">", "thresholdValue2": 90 },
                { "communicationId": "state", "name": "State", "enumerated": true,
                  "grouping": "M", "thresholdOperator1": "<>", "thresholdValue1": 0 }
            ]
        }]
    });
    let added = add_devices(&sb, &f, vec![device("Meter"), full]);
    conforms("AddDevices", &json!({ "devices": added.clone() }));
    assert_eq!(added.len(), 2);
    for d in &added {
        assert_eq!(s(&d["id"]).len(), 13);
        assert_eq!(
            s(&d["uri"]),
            format!("{}/V0100/push/{}", sb.host.base, s(&d["id"]))
        );
        assert!(s(&d["authorization"]).len() > 20);
    }
    assert_eq!(added[0]["needsNotificationUriVerification"], false);
    assert_eq!(added[1]["needsNotificationUriVerification"], true);
    let flow_id = s(&added[1]["sensors"][0]["channels"][0]["id"]);
    let (meter, boiler) = (s(&added[0]["id"]), s(&added[1]["id"]));

    // GetFederation shows every field as given, the empty communicationId as the channel's id.
    let a = sb.call("GetFederation", &f.token, json!({}));
    conforms("GetFederation", ok(&a));
    let devices = a.body["federation"]["devices"].as_array().expect("devices");
    let b = devices.iter().find(|d| d["id"] == boiler).expect("boiler");
    for (k, v) in [
        ("vendorId", json!("V-1")),
        ("customerId", json!("C-1")),
        ("name", json!("Boiler")),
        ("descr", json!("line 1\nline 2")),
        ("timeZone", json!(60)),
        ("usesDst", json!(true)),
        ("lon", json!(9.19)),
        ("lat", json!(45.46)),
        ("notificationUri", json!("ops@plant-a.example")),
        ("notificationsMinInterval", json!(900)),
        ("uri", added[1]["uri"].clone()),
        ("authorization", added[1]["authorization"].clone()),
    ] {
        assert_eq!(b[k], v, "{k}");
    }
    assert!(b.get("token").is_none(), "no device token yet");
    let sensor = &b["sensors"][0];
    assert_eq!(sensor["customerId"], "S-1");
    assert_eq!(sensor["descr"], "inlet");
    let flow = &sensor["channels"][0];
    assert_eq!(flow["id"], flow_id);
    assert_eq!(flow["communicationId"], flow_id);
    for (k, v) in [
        ("unit", json!("l/min")),
        ("min", json!(0.0)),
        ("max", json!(100.0)),
        ("grouping", json!("S")),
        ("enumerated", json!(false)),
        ("thresholdOperator1", json!("<")),
        ("thresholdValue1", json!(1.0)),
        ("thresholdOperator2", json!(">")),
        ("thresholdValue2", json!(90.0)),
    ] {
        assert_eq!(flow[k], v, "{k}");
    }
    assert_eq!(sensor["channels"][1]["enumerated"], true);
    assert_eq!(sensor["channels"][1]["thresholdOperator1"], "<>");
    assert!(sensor["channels"][1].get("thresholdOperator2").is_none());

    // The same channel is the one every API sees: the admin model has it.
    let db_channel = storage::channel(
        &sb.db,
        &f.tenant,
        fieldline_domain::ChannelId::parse(&flow_id).expect("id"),
    )
    .expect("channel in the model");
    assert_eq!(db_channel.fields.grouping.as_str(), "S");

    // A device token: made by the federation manager, shown by GetDevice, and the device
    // acting on itself with its id inferred.
    let t1 = s(&ok(&sb.call(
        "CreateDeviceToken",
        &f.token,
        json!({ "device": { "id": meter } }),
    ))["token"]);
    let a = sb.call("GetDevice", &f.token, json!({ "device": { "id": meter } }));
    conforms("GetDevice", ok(&a));
    assert_eq!(a.body["device"]["token"], t1);
    assert_eq!(a.body["device"]["authorization"], added[0]["authorization"]);
    let a = sb.call("GetDevice", &t1, json!({ "device": {} }));
    assert_eq!(ok(&a)["device"]["id"], meter);
    // The device replaces its own token: the old one stops at once.
    let t2 = s(&ok(&sb.call(
        "CreateDeviceToken",
        &t1,
        json!({ "device": { "id": meter } }),
    ))["token"]);
    assert_ne!(t1, t2);
    expect_error(&sb.call("GetDevice", &t1, json!({ "device": {} })), 20);
    assert_eq!(
        ok(&sb.call("GetDevice", &t2, json!({ "device": {} })))["device"]["token"],
        t2
    );

    // What a device may not do: federation methods (20), other devices' objects (404).
    expect_error(&sb.call("GetFederation", &t2, json!({})), 20);
    expect_error(
        &sb.call(
            "CreateFederationToken",
            &t2,
            json!({ "federation": { "id": f.id } }),
        ),
        20,
    );
    expect_error(
        &sb.call(
            "AddDevices",
            &t2,
            json!({ "federation": { "id": f.id }, "devices": [device("X")] }),
        ),
        20,
    );
    let boiler_sensor = s(&sensor["id"]);
    let state_id = s(&sensor["channels"][1]["id"]);
    expect_error(
        &sb.call("GetDevice", &t2, json!({ "device": { "id": boiler } })),
        110,
    );
    expect_error(
        &sb.call(
            "ModifyDevice",
            &t2,
            json!({ "device": { "id": boiler, "name": "x", "notificationUri": "" } }),
        ),
        110,
    );
    expect_error(
        &sb.call("DeleteDevice", &t2, json!({ "device": { "id": boiler } })),
        110,
    );
    expect_error(
        &sb.call(
            "CreateDeviceToken",
            &t2,
            json!({ "device": { "id": boiler } }),
        ),
        110,
    );
    expect_error(
        &sb.call(
            "AddSensors",
            &t2,
            json!({ "device": { "id": boiler }, "sensors": [{ "name": "x" }] }),
        ),
        110,
    );
    expect_error(
        &sb.call(
            "ModifySensor",
            &t2,
            json!({ "sensor": { "id": boiler_sensor, "name": "x" } }),
        ),
        120,
    );
    expect_error(
        &sb.call(
            "DeleteSensor",
            &t2,
            json!({ "sensor": { "id": boiler_sensor } }),
        ),
        120,
    );
    expect_error(
        &sb.call(
            "AddChannels",
            &t2,
            json!({ "sensor": { "id": boiler_sensor }, "channels": [channel("z", "z")] }),
        ),
        120,
    );
    let mut renamed = channel("state", "x");
    renamed["id"] = json!(state_id);
    expect_error(
        &sb.call("ModifyChannel", &t2, json!({ "channel": renamed })),
        130,
    );
    expect_error(
        &sb.call(
            "DeleteChannel",
            &t2,
            json!({ "channel": { "id": state_id } }),
        ),
        130,
    );

    // The device adds a sensor to itself (id inferred), then changes and deletes what it has.
    let a = sb.call(
        "AddSensors",
        &t2,
        json!({ "device": {}, "sensors": [{ "name": "Extra", "channels": [channel("", "Aux")] }] }),
    );
    conforms("AddSensors", ok(&a));
    let extra = s(&a.body["sensors"][0]["id"]);
    let aux = s(&a.body["sensors"][0]["channels"][0]["id"]);
    ok(&sb.call(
        "ModifySensor",
        &t2,
        json!({ "sensor": { "id": extra, "name": "Extra 2", "descr": "d" } }),
    ));
    let a = sb.call(
        "AddChannels",
        &t2,
        json!({ "sensor": { "id": extra }, "channels": [channel("aux2", "Aux 2")] }),
    );
    conforms("AddChannels", ok(&a));
    // ModifyChannel: an empty communicationId takes the channel's id.
    let mut m = channel("renamed", "Aux renamed");
    m["id"] = json!(aux);
    ok(&sb.call("ModifyChannel", &t2, json!({ "channel": m })));
    m["communicationId"] = json!("");
    m["grouping"] = json!("S");
    ok(&sb.call("ModifyChannel", &t2, json!({ "channel": m })));
    let dev = ok(&sb.call("GetDevice", &t2, json!({ "device": {} })))["device"].clone();
    let extra_json = dev["sensors"]
        .as_array()
        .expect("sensors")
        .iter()
        .find(|x| x["id"] == extra)
        .expect("extra")
        .clone();
    assert_eq!(extra_json["name"], "Extra 2");
    assert_eq!(extra_json["channels"][0]["communicationId"], aux);
    assert_eq!(extra_json["channels"][0]["grouping"], "S");
    assert_eq!(extra_json["channels"][1]["communicationId"], "aux2");
    ok(&sb.call("DeleteChannel", &t2, json!({ "channel": { "id": aux } })));
    expect_error(
        &sb.call("DeleteChannel", &t2, json!({ "channel": { "id": aux } })),
        130,
    );
    ok(&sb.call("DeleteSensor", &t2, json!({ "sensor": { "id": extra } })));
    expect_error(
        &sb.call(
            "ModifySensor",
            &t2,
            json!({ "sensor": { "id": extra, "name": "x" } }),
        ),
        120,
    );

    // ModifyDevice: a new notification address needs verifying; a verified one kept does not.
    let modify = |uri: &str| {
        sb.call(
            "ModifyDevice",
            &f.token,
            json!({ "device": { "id": boiler, "name": "Boiler 2", "notificationUri": uri } }),
        )
    };
    let a = modify("ops@plant-a.example");
    conforms("ModifyDevice", ok(&a));
    assert_eq!(a.body["needsNotificationUriVerification"], true);
    storage::set_notification_verified(&sb.db, &f.tenant, DeviceId::parse(&boiler).expect("id"))
        .expect("verified");
    assert_eq!(
        ok(&modify("ops@plant-a.example"))["needsNotificationUriVerification"],
        false
    );
    assert_eq!(
        ok(&modify("mailto:night@plant-a.example"))["needsNotificationUriVerification"],
        true
    );
    assert_eq!(ok(&modify(""))["needsNotificationUriVerification"], false);
    let b = ok(&sb.call("GetDevice", &f.token, json!({ "device": { "id": boiler } })))["device"]
        .clone();
    assert_eq!(b["name"], "Boiler 2");
    // ModifyDevice replaces the device's fields: what the request leaves out is reset.
    assert_eq!(b["vendorId"], "");
    assert!(b.get("lon").is_none());
    assert_eq!(b["notificationsMinInterval"], 600);

    // DeleteDevice: gone, with its token and push credential.
    ok(&sb.call(
        "DeleteDevice",
        &f.token,
        json!({ "device": { "id": meter } }),
    ));
    expect_error(
        &sb.call("GetDevice", &f.token, json!({ "device": { "id": meter } })),
        110,
    );
    expect_error(&sb.call("GetDevice", &t2, json!({ "device": {} })), 20);
    let p = sb.push(
        &s(&added[0]["uri"]),
        Some(&s(&added[0]["authorization"])),
        r#"{"c":[{"i":"1","v":1}]}"#,
    );
    assert_eq!(p.status, 401, "{p:?}");

    // CreateFederationToken: for this federation only; the new token replaces the old at once.
    expect_error(
        &sb.call(
            "CreateFederationToken",
            &f.token,
            json!({ "federation": { "id": "abcdefghijklm" } }),
        ),
        100,
    );
    let a = sb.call(
        "CreateFederationToken",
        &f.token,
        json!({ "federation": { "id": f.id } }),
    );
    let new_token = s(&ok(&a)["token"]);
    expect_error(&sb.call("GetFederation", &f.token, json!({})), 20);
    assert_eq!(
        federation_devices(
            &sb,
            &Fed {
                token: new_token,
                ..f
            }
        )
        .len(),
        1
    );
}

#[test]
fn sensorbis_field_rules_and_error_codes() {
    let sb = start();
    let f = sb.federation("Rules", "admin@rules.example");
    let base = add_devices(&sb, &f, vec![device("Base")]);
    let dev = s(&base[0]["id"]);
    let sensor = s(&base[0]["sensors"][0]["id"]);
    let ch = s(&base[0]["sensors"][0]["channels"][0]["id"]);

    let add = |d: Value| {
        sb.call(
            "AddDevices",
            &f.token,
            json!({ "federation": {}, "devices": [d] }),
        )
    };
    let with = |k: &str, v: Value| {
        let mut d = json!({ "name": "D" });
        d[k] = v;
        add(d)
    };
    let ch_with = |k: &str, v: Value| {
        let mut c = channel("c1", "C");
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v;
        }
        sb.call(
            "AddChannels",
            &f.token,
            json!({ "sensor": { "id": sensor }, "channels": [c] }),
        )
    };
    let cases: Vec<(&str, Answer, u64)> = vec![
        ("name missing", add(json!({})), 10),
        ("name empty", with("name", json!("")), 10),
        ("name 31", with("name", json!("n".repeat(31))), 10),
        ("name number", with("name", json!(5)), 10),
        ("descr 1001", with("descr", json!("d".repeat(1001))), 10),
        ("vendorId 101", with("vendorId", json!("v".repeat(101))), 10),
        (
            "customerId 101",
            with("customerId", json!("c".repeat(101))),
            10,
        ),
        ("timeZone string", with("timeZone", json!("+1")), 10),
        ("timeZone range", with("timeZone", json!(100000)), 10),
        ("usesDst string", with("usesDst", json!("yes")), 10),
        ("lon alone", with("lon", json!(1.0)), 10),
        (
            "lat range",
            add(json!({ "name": "D", "lon": 1.0, "lat": 91.0 })),
            10,
        ),
        (
            "interval 599",
            with("notificationsMinInterval", json!(599)),
            10,
        ),
        (
            "interval negative",
            with("notificationsMinInterval", json!(-600)),
            10,
        ),
        (
            "notificationUri",
            with("notificationUri", json!("not an address")),
            10,
        ),
        (
            "notificationUri 1001",
            with(
                "notificationUri",
                json!(format!("{}@x.example", "a".repeat(1000))),
            ),
            10,
        ),
        (
            "devices missing",
            sb.call("AddDevices", &f.token, json!({ "federation": {} })),
            10,
        ),
        (
            "federation missing",
            sb.call("AddDevices", &f.token, json!({ "devices": [] })),
            10,
        ),
        (
            "devices not array",
            sb.call(
                "AddDevices",
                &f.token,
                json!({ "federation": {}, "devices": {} }),
            ),
            10,
        ),
        (
            "11 devices",
            sb.call(
                "AddDevices",
                &f.token,
                json!({ "federation": {}, "devices": vec![json!({"name": "x"}); 11] }),
            ),
            10,
        ),
        (
            "11 sensors",
            with("sensors", json!(vec![json!({"name": "s"}); 11])),
            10,
        ),
        (
            "11 channels (nested)",
            with(
                "sensors",
                json!([{ "name": "s", "channels": (0..11).map(|i| channel(&format!("k{i}"), "c")).collect::<Vec<_>>() }]),
            ),
            10,
        ),
        ("sensor name missing", with("sensors", json!([{}])), 10),
        ("grouping X", ch_with("grouping", json!("X")), 10),
        ("grouping missing", ch_with("grouping", Value::Null), 10),
        ("enumerated missing", ch_with("enumerated", Value::Null), 10),
        (
            "enumerated string",
            ch_with("enumerated", json!("false")),
            10,
        ),
        ("unit 1001", ch_with("unit", json!("u".repeat(1001))), 10),
        ("purpose 11", ch_with("purpose", json!("p".repeat(11))), 10),
        ("min string", ch_with("min", json!("0")), 10),
        (
            "operator !=",
            ch_with("thresholdOperator1", json!("!=")),
            10,
        ),
        (
            "operator 4 chars",
            ch_with("thresholdOperator1", json!("<<<<")),
            10,
        ),
        (
            "operator without value",
            ch_with("thresholdOperator1", json!("<")),
            10,
        ),
        (
            "communicationId 33",
            ch_with("communicationId", json!("x".repeat(33))),
            10,
        ),
        (
            "communicationId characters",
            ch_with("communicationId", json!("a b")),
            140,
        ),
        (
            "communicationId slash",
            ch_with("communicationId", json!("temp/1")),
            140,
        ),
        (
            "communicationId taken",
            ch_with("communicationId", json!("temp")),
            142,
        ),
        (
            "channels missing",
            sb.call(
                "AddChannels",
                &f.token,
                json!({ "sensor": { "id": sensor } }),
            ),
            10,
        ),
        (
            "sensor id length",
            sb.call(
                "AddChannels",
                &f.token,
                json!({ "sensor": { "id": "abc" }, "channels": [] }),
            ),
            10,
        ),
        (
            "sensor id missing",
            sb.call(
                "ModifySensor",
                &f.token,
                json!({ "sensor": { "name": "x" } }),
            ),
            10,
        ),
        (
            "device id unknown",
            sb.call(
                "GetDevice",
                &f.token,
                json!({ "device": { "id": "zzzzzzzzzzzzz" } }),
            ),
            110,
        ),
        (
            "device id required",
            sb.call("GetDevice", &f.token, json!({ "device": {} })),
            10,
        ),
        (
            "device object required",
            sb.call("GetDevice", &f.token, json!({})),
            10,
        ),
        (
            "sensor unknown",
            sb.call(
                "DeleteSensor",
                &f.token,
                json!({ "sensor": { "id": "zzzzzzzzzzzzz" } }),
            ),
            120,
        ),
        (
            "channel unknown",
            sb.call(
                "DeleteChannel",
                &f.token,
                json!({ "channel": { "id": "zzzzzzzzzzzzz" } }),
            ),
            130,
        ),
        (
            "ModifyDevice notificationUri required",
            sb.call(
                "ModifyDevice",
                &f.token,
                json!({ "device": { "id": dev, "name": "x" } }),
            ),
            10,
        ),
        (
            "ModifySensor name 31",
            sb.call("ModifySensor", &f.token, json!({ "sensor": { "id": sensor, "name": "n".repeat(31) } })),
            10,
        ),
        (
            "ModifyChannel grouping missing",
            sb.call("ModifyChannel", &f.token, json!({ "channel": { "id": ch, "name": "x", "enumerated": false } })),
            10,
        ),
        (
            "ModifyChannel communicationId characters",
            sb.call("ModifyChannel", &f.token, json!({ "channel": { "id": ch, "communicationId": "é", "name": "x", "enumerated": false, "grouping": "M" } })),
            140,
        ),
        (
            "ModifyDevice interval 599",
            sb.call("ModifyDevice", &f.token, json!({ "device": { "id": dev, "name": "x", "notificationUri": "", "notificationsMinInterval": 599 } })),
            10,
        ),
        ("CreateDeviceToken id missing", sb.call("CreateDeviceToken", &f.token, json!({ "device": {} })), 10),
        ("DeleteDevice id missing", sb.call("DeleteDevice", &f.token, json!({ "device": { "id": null } })), 10),
        (
            "CreateFederationToken id missing",
            sb.call("CreateFederationToken", &f.token, json!({ "federation": {} })),
            10,
        ),
        ("AddSensors sensors missing", sb.call("AddSensors", &f.token, json!({ "device": { "id": dev } })), 10),
        (
            "AddSensors 11 sensors",
            sb.call("AddSensors", &f.token, json!({ "device": { "id": dev }, "sensors": vec![json!({"name": "s"}); 11] })),
            10,
        ),
        (
            "AddChannels 11 channels",
            sb.call("AddChannels", &f.token, json!({ "sensor": { "id": sensor }, "channels": (0..11).map(|i| channel(&format!("m{i}"), "c")).collect::<Vec<_>>() })),
            10,
        ),
        (
            "federation other",
            sb.call(
                "AddDevices",
                &f.token,
                json!({ "federation": { "id": "zzzzzzzzzzzzz" }, "devices": [] }),
            ),
            100,
        ),
        (
            "body not JSON",
            sb.raw("GetFederation", Some(&format!("Basic {}", f.token)), "{"),
            10,
        ),
        (
            "body not object",
            sb.raw("GetFederation", Some(&format!("Basic {}", f.token)), "[]"),
            10,
        ),
        (
            "unknown method",
            sb.raw("GetEverything", Some(&format!("Basic {}", f.token)), "{}"),
            10,
        ),
        ("no Authorization", sb.raw("GetFederation", None, "{}"), 20),
        (
            "Bearer",
            sb.raw("GetFederation", Some(&format!("Bearer {}", f.token)), "{}"),
            20,
        ),
        (
            "unknown token",
            sb.raw(
                "GetFederation",
                Some("Basic flf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                "{}",
            ),
            20,
        ),
        (
            "garbage",
            sb.raw("GetFederation", Some("Basic %%%"), "{}"),
            20,
        ),
        (
            "Conduit token",
            sb.raw(
                "GetFederation",
                Some(&format!("Basic {}", sb.conduit_token(&f))),
                "{}",
            ),
            20,
        ),
    ];
    for (what, a, code) in &cases {
        assert_eq!(a.body["error"], *code, "{what}: {a:?}");
        assert_eq!(a.status, table_status(*code), "{what}: {a:?}");
        assert!(
            a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // The messages name the field, nested.
    let a = &cases
        .iter()
        .find(|c| c.0 == "11 channels (nested)")
        .expect("case")
        .1;
    assert!(
        s(&a.body["message"]).contains("devices[0].sensors[0].channels"),
        "{a:?}"
    );
    let a = &cases.iter().find(|c| c.0 == "grouping X").expect("case").1;
    assert!(
        s(&a.body["message"]).contains("channels[0].grouping"),
        "{a:?}"
    );
    // Boundaries accepted: 10 devices, a 30-character name, interval 600, a range of normality.
    let ten: Vec<Value> = (0..10)
        .map(|i| json!({ "name": format!("{i:0>30}") }))
        .collect();
    assert_eq!(add_devices(&sb, &f, ten).len(), 10);
    let mut c = channel("range", "R");
    c["thresholdOperator1"] = json!(">=");
    c["thresholdValue1"] = json!(10);
    c["thresholdOperator2"] = json!("<=");
    c["thresholdValue2"] = json!(0);
    ok(&sb.call(
        "AddChannels",
        &f.token,
        json!({ "sensor": { "id": sensor }, "channels": [c.clone()] }),
    ));
    // Two thresholds that do not bound a range of normality (the document's note).
    for (o1, v1, o2, v2) in [
        (">", 0, ">", 10),
        ("<", 10, ">", 0),
        ("=", 1, ">", 5),
        ("<=", 5, ">=", 5),
    ] {
        let mut c = channel("bad", "B");
        c["thresholdOperator1"] = json!(o1);
        c["thresholdValue1"] = json!(v1);
        c["thresholdOperator2"] = json!(o2);
        c["thresholdValue2"] = json!(v2);
        let a = sb.call(
            "AddChannels",
            &f.token,
            json!({ "sensor": { "id": sensor }, "channels": [c] }),
        );
        expect_error(&a, 10);
    }
    // ModifyChannel to a communicationId another channel of the device has: 142.
    let mut m = channel("temp", "x");
    m["id"] = json!(ch);
    expect_error(
        &sb.call("ModifyChannel", &f.token, json!({ "channel": m })),
        142,
    );

    // All or nothing: a duplicate communicationId in the tenth device refuses the nine others.
    let before = federation_devices(&sb, &f).len();
    let mut batch: Vec<Value> = (0..9).map(|i| device(&format!("Batch {i}"))).collect();
    batch.push(json!({ "name": "Dup", "sensors": [{ "name": "s", "channels": [channel("same", "a"), channel("same", "b")] }] }));
    let a = sb.call(
        "AddDevices",
        &f.token,
        json!({ "federation": {}, "devices": batch }),
    );
    expect_error(&a, 142);
    assert_eq!(federation_devices(&sb, &f).len(), before);
    let a = sb.call(
        "AddSensors",
        &f.token,
        json!({ "device": { "id": dev }, "sensors": [{ "name": "ok", "channels": [channel("new1", "a")] }, { "name": "dup", "channels": [channel("temp", "b")] }] }),
    );
    expect_error(&a, 142);
    let sensors = ok(&sb.call("GetDevice", &f.token, json!({ "device": { "id": dev } })))["device"]
        ["sensors"]
        .as_array()
        .expect("sensors")
        .len();
    assert_eq!(sensors, 1, "the batch's first sensor was not kept");

    // 25: an expired token; 30: no subscription in force.
    let (_, expiring) = storage::create_token(
        &sb.db,
        &f.tenant,
        &{
            let mut n = NewToken::device(DeviceId::parse(&dev).expect("id"));
            n.expires_at = Some(Timestamp::now().add_millis(300));
            n
        },
        Timestamp::now(),
    )
    .expect("token");
    std::thread::sleep(std::time::Duration::from_millis(400));
    expect_error(
        &sb.call("GetDevice", expiring.expose(), json!({ "device": {} })),
        25,
    );
    sb.set_subscription(&f, |s| s.expires_at = Some(Timestamp::now().add_secs(-1)));
    for (m, body) in [
        ("GetFederation", json!({})),
        ("GetDevice", json!({ "device": { "id": dev } })),
        (
            "AddDevices",
            json!({ "federation": {}, "devices": [device("late")] }),
        ),
    ] {
        expect_error(&sb.call(m, &f.token, body), 30);
    }
    sb.set_subscription(&f, |s| s.expires_at = None);
    ok(&sb.call("GetFederation", &f.token, json!({})));
}

#[test]
fn sensorbis_federations_cannot_see_each_other() {
    let sb = start();
    let a = sb.federation("Alpha", "admin@alpha.example");
    let b = sb.federation("Beta", "admin@beta.example");
    let da = add_devices(&sb, &a, vec![device("A1")]);
    let db_ = add_devices(&sb, &b, vec![device("B1")]);
    let (dev, sensor, ch) = (
        s(&da[0]["id"]),
        s(&da[0]["sensors"][0]["id"]),
        s(&da[0]["sensors"][0]["channels"][0]["id"]),
    );
    let tb = s(&ok(&sb.call(
        "CreateDeviceToken",
        &b.token,
        json!({ "device": { "id": db_[0]["id"] } }),
    ))["token"]);
    let mut m = channel("x", "x");
    m["id"] = json!(ch);
    for token in [&b.token, &tb] {
        let calls: Vec<(&str, Value, u64)> = vec![
            (
                "CreateFederationToken",
                json!({ "federation": { "id": a.id } }),
                100,
            ),
            (
                "AddDevices",
                json!({ "federation": { "id": a.id }, "devices": [device("x")] }),
                100,
            ),
            ("GetDevice", json!({ "device": { "id": dev } }), 110),
            (
                "ModifyDevice",
                json!({ "device": { "id": dev, "name": "x", "notificationUri": "" } }),
                110,
            ),
            ("DeleteDevice", json!({ "device": { "id": dev } }), 110),
            ("CreateDeviceToken", json!({ "device": { "id": dev } }), 110),
            (
                "AddSensors",
                json!({ "device": { "id": dev }, "sensors": [{ "name": "x" }] }),
                110,
            ),
            (
                "ModifySensor",
                json!({ "sensor": { "id": sensor, "name": "x" } }),
                120,
            ),
            ("DeleteSensor", json!({ "sensor": { "id": sensor } }), 120),
            (
                "AddChannels",
                json!({ "sensor": { "id": sensor }, "channels": [channel("y", "y")] }),
                120,
            ),
            ("ModifyChannel", json!({ "channel": m.clone() }), 130),
            ("DeleteChannel", json!({ "channel": { "id": ch } }), 130),
        ];
        for (method, body, code) in calls {
            let r = sb.call(method, token, body);
            // A device token of B is refused the federation methods before any id is read.
            let want = if token == &tb && matches!(method, "CreateFederationToken" | "AddDevices") {
                20
            } else {
                code
            };
            assert_eq!(r.body["error"], want, "{method}: {r:?}");
        }
    }
    // Nothing of A changed, and neither federation lists the other's devices.
    let fa = federation_devices(&sb, &a);
    assert_eq!(fa.len(), 1);
    assert_eq!(fa[0]["name"], "A1");
    assert_eq!(
        fa[0]["sensors"][0]["channels"].as_array().map(Vec::len),
        Some(2)
    );
    let fb = federation_devices(&sb, &b);
    assert_eq!(fb.len(), 1);
    assert_eq!(fb[0]["name"], "B1");
    // A's authorization string does not push to B's device, nor B's to A's.
    let p = sb.push(
        &s(&db_[0]["uri"]),
        Some(&s(&da[0]["authorization"])),
        r#"{"c":[{"i":"1","v":1}]}"#,
    );
    assert_eq!(p.status, 401, "{p:?}");
}

#[test]
fn sensorbis_push_is_stored_whole_or_refused_and_reads_back_everywhere() {
    let sb = start();
    let f = sb.federation("Push", "admin@push.example");
    let other = sb.federation("Other", "admin@other.example");
    let d = add_devices(&sb, &f, vec![device("Pusher"), device("Second")]);
    let (uri, auth) = (s(&d[0]["uri"]), s(&d[0]["authorization"]));
    let dev = DeviceId::parse(&s(&d[0]["id"])).expect("id");
    let uuid: Uuid = storage::device(&sb.db, &f.tenant, dev)
        .expect("device")
        .uuid;

    // Accepted: with t (stored as sent), and without (the server's UTC time).
    let t = 1_700_000_000_000_i64;
    let a = sb.push(
        &uri,
        Some(&auth),
        &format!(r#"{{"t":{t},"c":[{{"i":"1","v":462.5}},{{"i":"temp","v":-3.25}}]}}"#),
    );
    assert_eq!((a.status, &a.body), (200, &json!({ "stored": 2 })));
    let before = Timestamp::now().as_millis();
    let a = sb.push(&uri, Some(&auth), r#"{"c":[{"i":"temp","v":21}]}"#);
    assert_eq!(a.status, 200, "{a:?}");
    let after = Timestamp::now().as_millis();

    // InfluxQL.
    let q = sb.influxql(
        &f,
        &format!("SELECT \"value\" FROM \"temp\" WHERE time >= {t}ms ORDER BY time"),
    );
    let rows = q["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}"))
        .clone();
    assert_eq!(rows.len(), 2, "{q}");
    assert_eq!(rows[0][1], -3.25);
    assert_eq!(rows[1][1], 21.0);
    let q = sb.influxql(
        &f,
        &format!("SELECT \"value\" FROM \"temp\" WHERE time >= {before}ms AND time <= {after}ms"),
    );
    assert_eq!(q["results"][0]["series"][0]["values"][0][1], 21.0, "{q}");

    // Proficloud's /epts/last, by the device's UUID and the communicationId.
    let token: Value = client()
        .post(sb.host.url("/epts/token"))
        .json(&json!({ "username": f.email, "password": PASSWORD }))
        .send()
        .expect("epts token")
        .json()
        .expect("json");
    let bearer = s(&token["access_token"]);
    let last: Value = client()
        .get(
            sb.host
                .url(&format!("/epts/last?uuid={uuid}&timeSeriesName=1")),
        )
        .bearer_auth(&bearer)
        .send()
        .expect("epts last")
        .json()
        .expect("json");
    assert_eq!(
        last[uuid.to_string()]["1"][0]["values"]["value"],
        462.5,
        "{last}"
    );

    // Conduit v4: channel "1" at the packet's time.
    let ct = sb.conduit_token(&f);
    let secs = t / 1000;
    let v4: Value = client()
        .get(
            sb.host
                .url(&format!("/conduitv4?token={ct}&fcdt={secs}&tcdt={secs}")),
        )
        .send()
        .expect("v4")
        .json()
        .expect("json");
    let rec = v4
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["channel"] == 1)
        .unwrap_or_else(|| panic!("no channel 1 in {v4}"));
    assert_eq!(rec["value"], 462.5);

    // Refused, each with its status and nothing stored.
    let count = || -> u64 {
        let q = sb.influxql(&f, "SELECT count(\"value\") FROM \"temp\"");
        q["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(count(), 2);
    let many: Vec<String> = (0..101)
        .map(|i| format!(r#"{{"i":"temp","v":{i}}}"#))
        .collect();
    let bad: Vec<(&str, String, &str)> = vec![
        ("not JSON", "{".into(), "not JSON"),
        ("no c", r#"{"t":1}"#.into(), "missing"),
        (
            "101 items",
            format!(r#"{{"c":[{}]}}"#, many.join(",")),
            "at most 100",
        ),
        (
            "v string",
            r#"{"c":[{"i":"temp","v":"1"}]}"#.into(),
            "c[0].v",
        ),
        (
            "v too large",
            r#"{"c":[{"i":"temp","v":1e400}]}"#.into(),
            "not JSON",
        ),
        (
            "t fraction",
            r#"{"t":1.5,"c":[{"i":"temp","v":1}]}"#.into(),
            "whole number",
        ),
        (
            "i twice",
            r#"{"c":[{"i":"temp","v":1},{"i":"temp","v":2}]}"#.into(),
            "twice",
        ),
        (
            "i characters",
            r#"{"c":[{"i":"te mp","v":1}]}"#.into(),
            "c[0].i",
        ),
        (
            "unknown i",
            r#"{"c":[{"i":"temp","v":5},{"i":"nope","v":1}]}"#.into(),
            "\"nope\"",
        ),
    ];
    for (what, body, says) in &bad {
        let a = sb.push(&uri, Some(&auth), body);
        assert_eq!(a.status, 400, "{what}: {a:?}");
        assert!(s(&a.body["message"]).contains(says), "{what}: {a:?}");
    }
    assert_eq!(count(), 2, "a refused packet stored nothing");
    // The hourly sum must stay a finite double: two near the maximum in one hour are refused.
    let h = 1_700_003_600_000_i64;
    let a = sb.push(
        &uri,
        Some(&auth),
        &format!(r#"{{"t":{h},"c":[{{"i":"temp","v":1.7e308}}]}}"#),
    );
    assert_eq!(a.status, 200, "{a:?}");
    let a = sb.push(
        &uri,
        Some(&auth),
        &format!(r#"{{"t":{},"c":[{{"i":"temp","v":-1.7e308}}]}}"#, h + 1000),
    );
    assert_eq!(a.status, 400, "{a:?}");
    assert!(s(&a.body["message"]).contains("range"), "{a:?}");
    // Rewriting the same time replaces the value, so it is not counted twice.
    let a = sb.push(
        &uri,
        Some(&auth),
        &format!(r#"{{"t":{h},"c":[{{"i":"temp","v":1.6e308}}]}}"#),
    );
    assert_eq!(a.status, 200, "{a:?}");
    // The next hour starts from zero.
    let a = sb.push(
        &uri,
        Some(&auth),
        &format!(
            r#"{{"t":{},"c":[{{"i":"temp","v":1.7e308}}]}}"#,
            h + 3_600_000
        ),
    );
    assert_eq!(a.status, 200, "{a:?}");

    // 401: no header, another scheme's token, the federation token, another device's string,
    // another federation's device.
    let second = s(&d[1]["authorization"]);
    let od = add_devices(&sb, &other, vec![device("O")]);
    let body = r#"{"c":[{"i":"temp","v":1}]}"#;
    for (what, a) in [
        ("none", None),
        ("garbage", Some("hello")),
        ("federation token", Some(f.token.as_str())),
        ("other device", Some(second.as_str())),
        (
            "other federation",
            Some(od[0]["authorization"].as_str().expect("auth")),
        ),
    ] {
        let r = sb.push(&uri, a, body);
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(r.body["message"].is_string(), "{what}");
    }
    // 405 for another method, 413 for a body above 64 KiB.
    let r = client()
        .get(&uri)
        .header("authorization", &auth)
        .send()
        .expect("get");
    assert_eq!(r.status().as_u16(), 405);
    let big = format!(
        r#"{{"c":[{{"i":"temp","v":1}}],"pad":"{}"}}"#,
        "x".repeat(70_000)
    );
    assert_eq!(sb.push(&uri, Some(&auth), &big).status, 413);

    // 429: the subscription's points per hour, with Retry-After; the packet is not stored.
    sb.set_subscription(&f, |s| s.points_per_hour = 1);
    let r = sb.push(
        &uri,
        Some(&auth),
        r#"{"c":[{"i":"temp","v":1},{"i":"1","v":2}]}"#,
    );
    assert_eq!(r.status, 429, "{r:?}");
    let retry: u64 = r
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(r.body["limit"].is_object(), "{r:?}");
    sb.set_subscription(&f, |s| s.points_per_hour = 360_000);

    // 403: the subscription has ended.
    sb.set_subscription(&f, |s| s.expires_at = Some(Timestamp::now().add_secs(-1)));
    let r = sb.push(&uri, Some(&auth), body);
    assert_eq!(r.status, 403, "{r:?}");
    sb.set_subscription(&f, |s| s.expires_at = None);
    assert_eq!(sb.push(&uri, Some(&auth), body).status, 200);
}

#[test]
fn sensorbis_push_points_are_counted_in_the_host_metrics() {
    let host = Start::app()
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start()
        .expect("host starts");
    let db = host.storage().expect("the host's database");
    storage::migrate(&db).expect("migrate");
    let sb = Sb { host, db };
    let f = sb.federation("Counted", "admin@counted.example");
    let d = add_devices(&sb, &f, vec![device("Counter")]);
    let (uri, auth) = (s(&d[0]["uri"]), s(&d[0]["authorization"]));
    let series = |name: &str, reason: Option<&str>| match reason {
        None => format!("{name}{{component=\"sensorbis\",route=\"/V0100/push/...\"}}"),
        Some(r) => {
            format!("{name}{{component=\"sensorbis\",route=\"/V0100/push/...\",reason=\"{r}\"}}")
        }
    };
    let accepted = series("fieldline_points_accepted_total", None);
    let parse = series("fieldline_points_refused_total", Some("parse"));
    let quota = series("fieldline_points_refused_total", Some("quota"));

    // Stored: 2 + 1 points.
    let a = sb.push(
        &uri,
        Some(&auth),
        r#"{"c":[{"i":"1","v":1},{"i":"temp","v":2}]}"#,
    );
    assert_eq!(a.status, 200, "{a:?}");
    let a = sb.push(&uri, Some(&auth), r#"{"c":[{"i":"temp","v":3}]}"#);
    assert_eq!(a.status, 200, "{a:?}");
    // Refused whole, each item counted by why: a bad item (2 items), an unknown channel (2).
    let a = sb.push(
        &uri,
        Some(&auth),
        r#"{"c":[{"i":"1","v":1},{"i":"temp","v":"x"}]}"#,
    );
    assert_eq!(a.status, 400, "{a:?}");
    let a = sb.push(
        &uri,
        Some(&auth),
        r#"{"c":[{"i":"1","v":1},{"i":"nope","v":1}]}"#,
    );
    assert_eq!(a.status, 400, "{a:?}");
    // Unreadable: no items to count.
    assert_eq!(sb.push(&uri, Some(&auth), "{").status, 400);
    // Over the points per hour: 2 items refused for the quota.
    sb.set_subscription(&f, |s| s.points_per_hour = 1);
    let a = sb.push(
        &uri,
        Some(&auth),
        r#"{"c":[{"i":"1","v":1},{"i":"temp","v":2}]}"#,
    );
    assert_eq!(a.status, 429, "{a:?}");
    fieldline_tests::wait_for_metrics(&sb.host, &[(&accepted, 3.0), (&parse, 4.0), (&quota, 2.0)]);
}

#[test]
fn sensorbis_uri_from_public_base_url_and_secrets_never_stored_in_plain_text() {
    let host = Start::app()
        .env(
            "SPIN_VARIABLE_PUBLIC_BASE_URL",
            "https://telemetry.example.com/",
        )
        .start()
        .expect("host starts");
    let db = host.storage().expect("the host's database");
    storage::migrate(&db).expect("migrate");
    let sb = Sb { host, db };
    let f = sb.federation("Sealed", "admin@sealed.example");
    let d = add_devices(&sb, &f, vec![device("D")]);
    let id = s(&d[0]["id"]);
    assert_eq!(
        s(&d[0]["uri"]),
        format!("https://telemetry.example.com/V0100/push/{id}")
    );
    let token = s(&ok(&sb.call(
        "CreateDeviceToken",
        &f.token,
        json!({ "device": { "id": id } }),
    ))["token"]);
    let got = ok(&sb.call("GetDevice", &token, json!({ "device": {} })))["device"].clone();
    assert_eq!(got["uri"], d[0]["uri"]);
    assert_eq!(got["authorization"], d[0]["authorization"]);
    assert_eq!(got["token"], token);
    // Neither secret is anywhere in the database files (the database and its WAL): only their
    // hashes and sealed copies are.
    // On PostgreSQL: every table of the database, dumped as text.
    let dir = sb.host.state.path();
    let mut bytes = Vec::new();
    for name in ["sqlite_db.db", "sqlite_db.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            bytes.extend(b);
        }
    }
    if sb.db.dialect() == storage::Dialect::Postgres {
        bytes.extend(
            sb.db
                .query_text(
                    "SELECT string_agg(query_to_xml(format('SELECT * FROM %I', tablename), \
                     true, false, '')::text, '') FROM pg_tables WHERE schemaname = 'public'",
                    &[],
                )
                .into_bytes(),
        );
    }
    assert!(bytes.len() > 4096, "the database was read");
    for secret in [s(&d[0]["authorization"]), token] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is stored in plain text"
        );
    }
}
