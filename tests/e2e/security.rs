//! Security end to end (issue 18, item 4): no organization reaches another's data through any
//! read or write path of any API (InfluxQL, `/write`, EPTS, Conduit over HTTP and MQTT, export,
//! hourly aggregates, Sensorbis, the admin API's token owner); password guessing is throttled
//! per account and per client without locking the real user out for good; revoked and expired
//! credentials are refused at once over HTTP and MQTT; and no secret the run issued appears in
//! anything the host printed. The admin API's per-route tenant sweep is
//! `admin::admin_tenants_are_isolated_on_every_endpoint`.

use std::time::{Duration, Instant};

use fieldline_domain::{
    ChannelFields, CommunicationId, ConduitServices, ConduitTier, DeviceFields, JwtKey, Name,
    NetworkId, Point, SensorFields, Timestamp, Uuid,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, Start, TestHost, JWT_SECRET, OPERATOR_TOKEN, PASSWORD};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

/// A's values: a number no answer to B may contain.
const A_VALUE: f64 = 4242.5;
const B_VALUE: f64 = 1717.25;

/// A way to put credentials on a request.
type Credentials<'a> = Box<dyn Fn(RequestBuilder) -> RequestBuilder + 'a>;

fn start() -> TestHost {
    let h = Start::app()
        .env("SPIN_VARIABLE_ALLOW_SIGNUP", "true")
        .start()
        .expect("host starts");
    // The first request migrates the database through a component, as in production.
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    h
}

/// An organization with one device (network id, UUID), a Conduit channel "1", a private
/// channel "{letter}~secret" holding its marker value, and an Enterprise Conduit token.
struct Org {
    tenant: Tenant,
    user: fieldline_domain::UserId,
    email: String,
    network_id: String,
    uuid: String,
    device: String,
    channel: String,
    measurement: String,
    token: String,
}

fn org(db: &Connection, letter: &str, value: f64) -> Org {
    let email = format!("{letter}@security.example");
    let (tenant, user) = fieldline_tests::sign_up(db, &format!("Organization {letter}"), &email);
    let now = Timestamp::now();
    let network_id = format!("SEC{}{}", letter.to_uppercase(), std::process::id());
    let mut fields = DeviceFields::named(Name::parse(&format!("Device of {letter}")).expect("n"));
    fields.network_id = Some(NetworkId::parse(&network_id).expect("network id"));
    let uuid = Uuid::generate().expect("uuid");
    let device = storage::create_device(db, &tenant, &fields, Some(uuid), now).expect("device");
    let sensor = storage::create_sensor(
        db,
        &tenant,
        device.id,
        &SensorFields::named(Name::parse("Probe").expect("name")),
        now,
    )
    .expect("sensor");
    let measurement = format!("{letter}~secret");
    let mut channel = None;
    for comm in ["1", measurement.as_str()] {
        let c = storage::create_channel(
            db,
            &tenant,
            sensor.id,
            Some(CommunicationId::parse(comm).expect("communication id")),
            &ChannelFields::named(Name::parse(comm).expect("name")),
            now,
        )
        .expect("channel");
        let r = storage::channel_ref(db, &tenant, c.id).expect("ref");
        let points: Vec<_> = (1..=5)
            .map(|i| (r, Point::new(now.add_secs(-60 * i), value).expect("point")))
            .collect();
        storage::write_points(db, &tenant, &points).expect("points");
        channel = Some(c.id.to_string());
    }
    Org {
        token: conduit_token(db, &tenant, user, None),
        tenant,
        user,
        email,
        network_id,
        uuid: uuid.to_string(),
        device: device.id.to_string(),
        channel: channel.expect("channel"),
        measurement,
    }
}

fn conduit_token(
    db: &Connection,
    tenant: &Tenant,
    user: fieldline_domain::UserId,
    expires_at: Option<Timestamp>,
) -> String {
    let mut new = NewToken::conduit(user, ConduitTier::Enterprise, ConduitServices::default());
    new.expires_at = expires_at;
    let (_, secret) = storage::create_token(db, tenant, &new, Timestamp::now()).expect("token");
    secret.expose().to_owned()
}

fn call(r: RequestBuilder) -> (u16, String) {
    let resp = r.send().expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().expect("body"))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Points stored under `o`'s organization, and how many of them hold `value`.
fn stored(h: &TestHost, o: &Org, value: f64) -> (i64, i64) {
    let rows = h
        .storage()
        .expect("database")
        .execute(
            "SELECT count(*), coalesce(sum(CASE WHEN p.value = ?2 THEN 1 ELSE 0 END), 0) \
             FROM points p \
             JOIN channels c ON c.key = p.channel_key JOIN devices d ON d.key = c.device_key \
             JOIN orgs o ON o.key = d.org_key WHERE o.id = ?1",
            &[o.tenant.id().to_string().into(), value.into()],
        )
        .expect("count points");
    let r = rows.first().expect("a row");
    (r.i64(0).expect("count"), r.i64(1).expect("matching"))
}

fn login(h: &TestHost, email: &str, password: &str) -> (u16, Value) {
    let (s, t) = call(
        client()
            .post(h.url("/api/v1/login"))
            .json(&json!({"email": email, "password": password})),
    );
    (s, json(&t))
}

fn wait_for(what: &str, h: &TestHost, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            h.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mosquitto_pub(topic: &str, payload: &str) {
    let status = std::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-t", topic])
        .args(["-m", payload])
        .status()
        .expect("mosquitto_pub (scripts/test installs Debian's mosquitto-clients)");
    assert!(status.success(), "mosquitto_pub");
}

/// No secret of `secrets`, nor the last 16 characters of one (a truncated token), appears in
/// anything the host and its components printed.
#[track_caller]
fn assert_no_secret_logged(h: &TestHost, secrets: &[String]) {
    // Lines of requests still being handled.
    std::thread::sleep(Duration::from_millis(500));
    let out = h.output();
    assert!(
        out.contains("Serving http://"),
        "the host's output was read"
    );
    for s in secrets {
        assert!(s.len() >= 16, "a secret of the run: {s}");
        for needle in [s.as_str(), &s[s.len() - 16..]] {
            if let Some(line) = out.lines().find(|l| l.contains(needle)) {
                panic!("a secret appears in the host's output: {line}");
            }
        }
    }
}

#[test]
fn security_no_organization_reads_or_writes_anothers_data_through_any_api() {
    let h = start();
    let db = h.storage().expect("database");
    let a = org(&db, "a", A_VALUE);
    let b = org(&db, "b", B_VALUE);
    let mut secrets = vec![PASSWORD.to_owned(), a.token.clone(), b.token.clone()];
    let c = client();
    for topic in ["+/+/publish/v4", "+/+/+/data"] {
        wait_for("the MQTT subscription", &h, || {
            h.output().contains(&format!("subscribed to '{topic}'"))
        });
    }
    let (s, la) = login(&h, &a.email, PASSWORD);
    assert_eq!(s, 200, "{la}");
    let (s, lb) = login(&h, &b.email, PASSWORD);
    assert_eq!(s, 200, "{lb}");
    let bearer = |l: &Value| l["access_token"].as_str().expect("access").to_owned();
    let (access_a, access_b) = (bearer(&la), bearer(&lb));
    for l in [&la, &lb] {
        secrets.push(bearer(l));
        secrets.push(l["refresh_token"].as_str().expect("refresh").to_owned());
    }
    let before_a = stored(&h, &a, A_VALUE);
    assert_eq!(before_a, (10, 10));

    // What identifies A's data in an answer to a request that does not name it.
    let a_marks = [
        a.measurement.clone(),
        a.uuid.clone(),
        a.network_id.clone(),
        a.device.clone(),
        A_VALUE.to_string(),
        "Device of a".to_owned(),
    ];
    let shows_a = |text: &str| a_marks.iter().any(|m| text.contains(m.as_str()));

    // ---- InfluxQL: every statement, with every credential form of B ----
    let statements = [
        "SELECT * FROM /.*/".to_owned(),
        format!("SELECT * FROM \"{}\"", a.measurement),
        format!(
            "SELECT mean(value) FROM \"{}\" WHERE time > now() - 1d GROUP BY time(1h)",
            a.measurement
        ),
        format!("SELECT count(value) FROM /^a/ WHERE uuid = '{}'", a.uuid),
        "SELECT last(value) FROM /.*/ GROUP BY *".to_owned(),
        "SHOW MEASUREMENTS".to_owned(),
        "SHOW MEASUREMENTS WITH MEASUREMENT =~ /secret/".to_owned(),
        "SHOW SERIES".to_owned(),
        format!("SHOW SERIES FROM \"{}\"", a.measurement),
        "SHOW TAG KEYS".to_owned(),
        "SHOW TAG VALUES WITH KEY = \"uuid\"".to_owned(),
        format!(
            "SHOW TAG VALUES FROM \"{}\" WITH KEY = \"uuid\"",
            a.measurement
        ),
        "SHOW FIELD KEYS".to_owned(),
        format!("SHOW FIELD KEYS FROM \"{}\"", a.measurement),
    ];
    let query = |q: &str, creds: &dyn Fn(RequestBuilder) -> RequestBuilder| {
        call(creds(
            c.get(h.url("/query"))
                .query(&[("db", "fieldline"), ("q", q)]),
        ))
    };
    let a_basic = |r: RequestBuilder| r.basic_auth(&a.email, Some(PASSWORD));
    let b_forms: Vec<(&str, Credentials)> = vec![
        (
            "basic",
            Box::new(|r: RequestBuilder| r.basic_auth(&b.email, Some(PASSWORD))),
        ),
        (
            "token",
            Box::new(|r: RequestBuilder| r.query(&[("u", "x"), ("p", b.token.as_str())])),
        ),
        (
            "bearer",
            Box::new(|r: RequestBuilder| r.bearer_auth(&access_b)),
        ),
    ];
    for q in &statements {
        // A sees its data (the statement reaches it at all) ...
        let (s, text) = query(q, &a_basic);
        assert_eq!(s, 200, "{q}: {text}");
        assert!(shows_a(&text), "A's own answer to {q}: {text}");
        // ... B, with each credential form, sees none of it.
        for (form, creds) in &b_forms {
            let (s, text) = query(q, creds.as_ref());
            assert_eq!(s, 200, "B ({form}) {q}: {text}");
            let leaked = a_marks
                .iter()
                .filter(|m| text.contains(m.as_str()) && !q.contains(m.as_str()))
                .collect::<Vec<_>>();
            assert!(leaked.is_empty(), "B ({form}) {q} shows {leaked:?}: {text}");
            assert!(
                !text.contains(&A_VALUE.to_string()),
                "B ({form}) {q}: {text}"
            );
        }
    }
    // B's own data is there for B (the sweep above could not pass by answering nothing).
    let (_, text) = query("SHOW MEASUREMENTS", b_forms[0].1.as_ref());
    assert!(text.contains(&b.measurement), "{text}");

    // ---- /write naming A's device and measurement, with B's credentials ----
    // B has no such device: without automatic registration its line is kept as a series of
    // B's own database (as InfluxDB keeps every line), never a point of A's device.
    let line = format!("{},uuid={} value=999.5", a.measurement, a.uuid);
    let line_netid = format!("1,network_id={} value=999.5", a.network_id);
    for (form, creds) in &b_forms {
        for l in [&line, &line_netid] {
            let (s, text) = call(creds(c.post(h.url("/write?db=fieldline")).body(l.clone())));
            assert!(
                s == 204 || (400..500).contains(&s),
                "B ({form}) /write {l}: {s} {text}"
            );
        }
    }
    assert_eq!(stored(&h, &a, 999.5), (10, 0));
    // A does not see what B wrote.
    let (_, text) = query(&format!("SELECT * FROM \"{}\"", a.measurement), &a_basic);
    assert!(!text.contains("999.5"), "{text}");

    // ---- EPTS: A's device by UUID with B's bearer ----
    let from = Timestamp::now().add_secs(-3600).to_rfc3339();
    let to = Timestamp::now().to_rfc3339();
    for path in [
        format!(
            "/epts/last?uuid={}&timeSeriesName={}",
            a.uuid, a.measurement
        ),
        format!(
            "/epts/data?uuid={}&timeSeriesName={},1&fromDate={from}&toDate={to}",
            a.uuid, a.measurement
        ),
    ] {
        let (s, text) = call(c.get(h.url(&path)).bearer_auth(&access_a));
        assert_eq!(s, 200, "{path}: {text}");
        assert!(
            text.contains(&A_VALUE.to_string()),
            "A's own {path}: {text}"
        );
        let (s, text) = call(c.get(h.url(&path)).bearer_auth(&access_b));
        assert!(s == 200 || s == 404, "B {path}: {s} {text}");
        assert!(!text.contains(&A_VALUE.to_string()), "B {path}: {text}");
    }

    // ---- Conduit reads: A's network id with B's token, and B's unnamed reads ----
    let now = Timestamp::now().as_secs();
    for path in [
        format!("/conduitv4?id={}&ch=1&token={{}}", a.network_id),
        format!("/conduitv4?id={}&token={{}}", a.network_id),
        format!(
            "/conduitv6?id={}&token={{}}&fcdt={}&tcdt={now}",
            a.network_id,
            now - 3600
        ),
        format!("/conduitv6?id={}&token={{}}", a.device),
    ] {
        let (s, text) = call(c.get(h.url(&path.replace("{}", &a.token))));
        assert_eq!(s, 200, "A's own {path}: {text}");
        assert!(
            text.contains(&A_VALUE.to_string()),
            "A's own {path}: {text}"
        );
        let (s, text) = call(c.get(h.url(&path.replace("{}", &b.token))));
        assert_eq!(s, 404, "B {path}: {text}");
        assert!(!text.contains(&A_VALUE.to_string()), "B {path}: {text}");
    }
    for path in ["/conduitv4?token={}", "/conduitv6?token={}"] {
        let (s, text) = call(c.get(h.url(&path.replace("{}", &b.token))));
        assert_eq!(s, 200, "B's own {path}: {text}");
        assert!(
            text.contains(&B_VALUE.to_string()),
            "B's own {path}: {text}"
        );
        assert!(!shows_a(&text), "B {path}: {text}");
    }

    // ---- Conduit uploads naming A's device with B's token: v2 JSON and v1 hex ----
    let ts = Timestamp::now().as_millis();
    let v2 = json!({"token": b.token, "networkId": a.network_id, "timestamp": ts,
                    "data": [{"channelId": 1, "value": 999.5}]})
    .to_string();
    let (s, text) = call(c.post(h.url("/post/v2")).body(v2));
    assert_eq!(s, 404, "B's v2 upload to A's device: {text}");
    let v1 = format!(
        r#"{{"token": "{}", "networkId": "{}", "timestamp": {ts}, "data": 0A10010001000000A00F0000}}"#,
        b.token, a.network_id
    );
    let (s, text) = call(c.post(h.url("/post/v1")).body(v1));
    assert_eq!(s, 404, "B's v1 upload to A's device: {text}");

    // ---- MQTT: B's token with A's network id (and A's with B's) ----
    mosquitto_pub(&format!("{}/{}/1/data", b.token, a.network_id), "999.5");
    mosquitto_pub(
        &format!("{}/{}/publish/v4", b.token, a.network_id),
        "0A10010001000000A00F0000",
    );
    mosquitto_pub(&format!("{}/{}/1/data", a.token, b.network_id), "999.5");
    // A message A may send lands after them (messages are handled in order per topic filter,
    // and the refusals are logged): then nothing of B's arrived in A's organization.
    mosquitto_pub(&format!("{}/{}/1/data", a.token, a.network_id), "31.5");
    wait_for("A's own MQTT value", &h, || stored(&h, &a, 31.5).1 == 1);
    wait_for("the MQTT refusals", &h, || {
        h.output()
            .lines()
            .filter(|l| {
                l.contains("conduit-mqtt: message on …/")
                    && (l.contains(&a.network_id) || l.contains(&b.network_id))
            })
            .count()
            >= 3
    });
    assert_eq!(stored(&h, &a, 999.5).1, 0);
    assert_eq!(stored(&h, &b, 999.5).1, 0);
    assert_eq!(
        stored(&h, &a, 4106.0).1,
        0,
        "v4 channel 255 of the refused v1 payload"
    );

    // ---- The export and the hourly aggregates, naming A's channel ----
    let export = format!(
        "/api/v1/export?channels={}&from={from}&to={to}&format=csv",
        a.channel
    );
    let grouped = format!("{export}&interval=3600");
    let hourly = format!("/api/v1/channels/{}/hourly?from={from}&to={to}", a.channel);
    for path in [&export, &grouped, &hourly] {
        let (s, text) = call(c.get(h.url(path)).bearer_auth(&access_a));
        assert_eq!(s, 200, "A's own {path}: {text}");
        assert!(
            text.contains("4242.5") || path.contains("hourly"),
            "A's own {path}: {text}"
        );
        let (s, text) = call(c.get(h.url(path)).bearer_auth(&access_b));
        assert_eq!(s, 404, "B {path}: {text}");
        assert!(!text.contains("4242.5"), "B {path}: {text}");
    }

    // ---- The admin API: a Conduit token acting for A's administrator, made by B ----
    let (s, text) = call(
        c.post(h.url("/api/v1/tokens"))
            .bearer_auth(&access_b)
            .json(&json!({"kind": "conduit", "user": a.user.to_string()})),
    );
    assert_eq!(s, 404, "B's token for A's member: {text}");
    let (s, text) = call(
        c.post(h.url("/api/v1/tokens"))
            .bearer_auth(&access_b)
            .json(&json!({"kind": "device", "device": a.device})),
    );
    assert_eq!(s, 404, "B's device token for A's device: {text}");

    // ---- Sensorbis: B's federation token and B's device credentials on A's device ----
    let (s, text) = call(
        c.post(h.url("/api/v1/tokens"))
            .bearer_auth(&access_b)
            .json(&json!({"kind": "federation"})),
    );
    assert_eq!(s, 201, "{text}");
    let fed_b = json(&text)["secret"].as_str().expect("secret").to_owned();
    secrets.push(fed_b.clone());
    let rest = |method: &str, token: &str, body: Value| {
        let (s, text) = call(
            c.post(h.url(&format!("/V0100/Service.svc/rest/{method}")))
                .header("authorization", format!("Basic {token}"))
                .json(&body),
        );
        (s, json(&text))
    };
    for (method, body) in [
        ("GetDevice", json!({"device": {"id": a.device}})),
        ("CreateDeviceToken", json!({"device": {"id": a.device}})),
        (
            "ModifyDevice",
            json!({"device": {"id": a.device, "name": "x", "notificationUri": ""}}),
        ),
        ("DeleteDevice", json!({"device": {"id": a.device}})),
        (
            "AddSensors",
            json!({"device": {"id": a.device}, "sensors": [{"name": "x"}]}),
        ),
    ] {
        let (s, v) = rest(method, &fed_b, body);
        assert_eq!(v["error"], 110, "B's {method} on A's device: {s} {v}");
        assert!(!v.to_string().contains("Device of a"), "{v}");
    }
    let (s, v) = rest(
        "AddDevices",
        &fed_b,
        json!({"federation": {"id": null}, "devices": [{"name": "Pusher of b", "sensors":
            [{"name": "P", "channels": [{"communicationId": "1", "name": "C",
              "enumerated": false, "grouping": "M"}]}]}]}),
    );
    assert_eq!(s, 200, "{v}");
    let pusher = &v["result"]["devices"][0];
    let pusher = if pusher.is_null() {
        &v["devices"][0]
    } else {
        pusher
    };
    let auth_b = pusher["authorization"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned();
    secrets.push(auth_b.clone());
    let (s, text) = call(
        c.post(h.url(&format!("/V0100/push/{}", a.device)))
            .header("authorization", &auth_b)
            .header("content-type", "application/json")
            .body(r#"{"c":[{"i":"1","v":999.5}]}"#),
    );
    assert_eq!(s, 401, "B's push authorization on A's device: {text}");
    let (s, v) = rest(
        "CreateDeviceToken",
        &fed_b,
        json!({"device": {"id": pusher["id"]}}),
    );
    assert_eq!(s, 200, "{v}");
    let device_b = v["token"]
        .as_str()
        .or_else(|| v["result"]["token"].as_str())
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned();
    secrets.push(device_b.clone());
    let (_, v) = rest("GetDevice", &device_b, json!({"device": {"id": a.device}}));
    assert_eq!(v["error"], 110, "B's device token on A's device: {v}");

    // Nothing of A's changed, none of B's writes landed there.
    assert_eq!(stored(&h, &a, 999.5).1, 0);
    // (A's ten and its own MQTT value)
    assert_eq!(stored(&h, &a, A_VALUE), (11, 10));
    let (s, text) = call(
        c.get(h.url(&format!("/api/v1/devices/{}", a.device)))
            .bearer_auth(&access_a),
    );
    assert_eq!(s, 200, "{text}");
    assert_eq!(json(&text)["name"], "Device of a");

    // The operator's credential, used and mistyped, stays out of the logs too.
    let (s, text) = call(
        c.get(h.url("/api/v1/operator/organizations"))
            .bearer_auth(OPERATOR_TOKEN),
    );
    assert_eq!(s, 200, "{text}");
    let mistyped = format!("{OPERATOR_TOKEN}x");
    let (s, text) = call(
        c.get(h.url("/api/v1/operator/organizations"))
            .bearer_auth(&mistyped),
    );
    assert!(s == 401 || s == 403, "{text}");
    secrets.extend([
        OPERATOR_TOKEN.to_owned(),
        mistyped,
        JWT_SECRET.to_owned(),
        fieldline_tests::SENSORBIS_SECRET.to_owned(),
    ]);
    assert_no_secret_logged(&h, &secrets);
}

#[test]
fn security_password_guessing_is_throttled_per_account_and_per_client_then_recovers() {
    let h = start();
    let db = h.storage().expect("database");
    let victim = org(&db, "v", 1.0);
    let other = org(&db, "o", 2.0);
    let mut secrets = vec![
        PASSWORD.to_owned(),
        victim.token.clone(),
        other.token.clone(),
    ];
    let guess = |i: usize| format!("wrong password guess number {i:03}");

    // Ten wrong passwords for one account: each a 401 ...
    for i in 0..10 {
        secrets.push(guess(i));
        let (s, v) = login(&h, &victim.email, &guess(i));
        assert_eq!(s, 401, "guess {i}: {v}");
    }
    // ... then the account is throttled, with the right password too, on every API that
    // takes it: the admin API's login, /epts/token, and InfluxDB's Basic authentication.
    let (s, v) = login(&h, &victim.email, PASSWORD);
    assert_eq!(s, 429, "{v}");
    let (s, text) = call(
        client()
            .post(h.url("/epts/token"))
            .json(&json!({"username": victim.email, "password": PASSWORD})),
    );
    assert_eq!(s, 429, "{text}");
    let (s, text) = call(
        client()
            .get(h.url("/query?db=fieldline&q=SHOW+MEASUREMENTS"))
            .basic_auth(&victim.email, Some(PASSWORD)),
    );
    assert_eq!(s, 429, "{text}");
    // Another account from the same client is not throttled by it.
    let (s, v) = login(&h, &other.email, PASSWORD);
    assert_eq!(s, 200, "{v}");
    secrets.push(v["access_token"].as_str().expect("access").to_owned());
    secrets.push(v["refresh_token"].as_str().expect("refresh").to_owned());

    // Guessing across many accounts from one client: 30 failures in a window, then that
    // client is throttled for every account.
    for i in 10..30 {
        secrets.push(guess(i));
        let (s, v) = login(&h, &format!("nobody{i}@security.example"), &guess(i));
        assert_eq!(s, 401, "guess {i}: {v}");
    }
    let resp = client()
        .post(h.url("/api/v1/login"))
        .json(&json!({"email": other.email, "password": PASSWORD}))
        .send()
        .expect("login");
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let (s, text) = call(
        client()
            .get(h.url("/query?db=fieldline&q=SHOW+MEASUREMENTS"))
            .basic_auth(&other.email, Some(PASSWORD)),
    );
    assert_eq!(s, 429, "{text}");
    // A Conduit token is no password: not throttled.
    let (s, text) = call(
        client()
            .get(h.url("/query?db=fieldline&q=SHOW+MEASUREMENTS"))
            .query(&[("u", "x"), ("p", other.token.as_str())]),
    );
    assert_eq!(s, 200, "{text}");

    // After the window both real users log in again: nobody is locked out for good.
    std::thread::sleep(Duration::from_secs(retry + 1));
    for o in [&victim, &other] {
        let deadline = Instant::now() + Duration::from_secs(65);
        loop {
            let (s, v) = login(&h, &o.email, PASSWORD);
            if s == 200 {
                secrets.push(v["access_token"].as_str().expect("access").to_owned());
                secrets.push(v["refresh_token"].as_str().expect("refresh").to_owned());
                break;
            }
            assert_eq!(s, 429, "{v}");
            assert!(
                Instant::now() < deadline,
                "{} still throttled: {v}",
                o.email
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    assert_no_secret_logged(&h, &secrets);
}

#[test]
fn security_revoked_and_expired_credentials_are_refused_at_once_over_http_and_mqtt() {
    let h = start();
    let db = h.storage().expect("database");
    let a = org(&db, "r", 5.0);
    let c = client();
    let mut secrets = vec![PASSWORD.to_owned(), a.token.clone()];
    for topic in ["+/+/publish/v4", "+/+/+/data"] {
        wait_for("the MQTT subscription", &h, || {
            h.output().contains(&format!("subscribed to '{topic}'"))
        });
    }
    let (s, l) = login(&h, &a.email, PASSWORD);
    assert_eq!(s, 200, "{l}");
    let access = l["access_token"].as_str().expect("access").to_owned();
    let refresh = l["refresh_token"].as_str().expect("refresh").to_owned();
    secrets.extend([access.clone(), refresh.clone()]);

    // A Conduit token made through the admin API, used, then revoked.
    let (s, text) = call(
        c.post(h.url("/api/v1/tokens"))
            .bearer_auth(&access)
            .json(&json!({"kind": "conduit", "name": "to revoke"})),
    );
    assert_eq!(s, 201, "{text}");
    let made = json(&text);
    let token = made["secret"].as_str().expect("secret").to_owned();
    secrets.push(token.clone());
    let upload = |token: &str, value: f64| {
        let body = json!({"token": token, "networkId": a.network_id,
            "timestamp": Timestamp::now().as_millis(), "data": [{"channelId": 1, "value": value}]});
        call(c.post(h.url("/post/v2")).body(body.to_string()))
    };
    let (s, text) = upload(&token, 11.5);
    assert_eq!(s, 200, "{text}");
    assert_eq!(stored(&h, &a, 11.5).1, 1);
    let (s, text) = call(
        c.delete(h.url(&format!(
            "/api/v1/tokens/{}",
            made["id"].as_str().expect("id")
        )))
        .bearer_auth(&access),
    );
    assert_eq!(s, 204, "{text}");

    // An expiring token, used while it is valid.
    let expiring = conduit_token(&db, &a.tenant, a.user, Some(Timestamp::now().add_secs(3)));
    secrets.push(expiring.clone());
    let (s, text) = upload(&expiring, 12.5);
    assert_eq!(s, 200, "{text}");
    std::thread::sleep(Duration::from_secs(4));

    for (what, t) in [("revoked", &token), ("expired", &expiring)] {
        let (s, text) = upload(t, 13.5);
        assert_eq!(s, 401, "{what} token, /post/v2: {text}");
        let (s, text) = call(c.get(h.url(&format!("/conduitv4?token={t}"))));
        assert_eq!(s, 401, "{what} token, /conduitv4: {text}");
        let (s, text) = call(
            c.get(h.url("/query?db=fieldline&q=SHOW+MEASUREMENTS"))
                .query(&[("u", "x"), ("p", t.as_str())]),
        );
        assert_eq!(s, 401, "{what} token, /query: {text}");
        let (s, text) = call(
            c.post(h.url("/write?db=fieldline"))
                .query(&[("u", "x"), ("p", t.as_str())])
                .body(format!("1,uuid={} value=13.5", a.uuid)),
        );
        assert_eq!(s, 401, "{what} token, /write: {text}");
        mosquitto_pub(&format!("{t}/{}/1/data", a.network_id), "13.5");
    }
    // A valid token's message after them lands; theirs did not.
    mosquitto_pub(&format!("{}/{}/1/data", a.token, a.network_id), "14.5");
    wait_for("the valid token's MQTT value", &h, || {
        stored(&h, &a, 14.5).1 == 1
    });
    wait_for("the MQTT refusals", &h, || {
        h.output()
            .lines()
            .filter(|l| l.contains(&format!("conduit-mqtt: message on …/{}/", a.network_id)))
            .count()
            >= 2
    });
    assert_eq!(
        stored(&h, &a, 13.5).1,
        0,
        "nothing stored with a dead token"
    );

    // An expired access token, a logged-out session's refresh token.
    let key = JwtKey::from_secret(JWT_SECRET.as_bytes()).expect("key");
    let old = key
        .issue(a.user, a.tenant.id(), Timestamp::now().add_secs(-3600))
        .expect("jwt");
    let (s, text) = call(c.get(h.url("/api/v1/me")).bearer_auth(&old));
    assert_eq!(s, 401, "{text}");
    let (s, text) = call(
        c.get(h.url(&format!("/epts/last?uuid={}&timeSeriesName=1", a.uuid)))
            .bearer_auth(&old),
    );
    assert_eq!(s, 401, "{text}");
    let (s, text) = call(
        c.get(h.url("/query?db=fieldline&q=SHOW+MEASUREMENTS"))
            .bearer_auth(&old),
    );
    assert_eq!(s, 401, "{text}");
    let (s, text) = call(
        c.post(h.url("/api/v1/logout"))
            .bearer_auth(&access)
            .json(&json!({"refresh_token": refresh})),
    );
    assert!(s == 204 || s == 200, "{text}");
    let (s, text) = call(
        c.post(h.url("/api/v1/refresh"))
            .json(&json!({"refresh_token": refresh})),
    );
    assert_eq!(s, 401, "a logged-out refresh token: {text}");
    let (s, text) = call(
        c.post(h.url("/epts/token"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh})),
    );
    assert_eq!(s, 401, "a logged-out refresh token at /epts/token: {text}");
    secrets.push(old);
    assert_no_secret_logged(&h, &secrets);
}
