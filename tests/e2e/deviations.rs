//! elproMONITOR deviation messages (docs/deviations.md) against the local RabbitMQ with its MQTT
//! plugin (`scripts/rabbitmq-setup`, `ensure_rabbitmq_mqtt` in scripts/lib.sh): a real AMQP
//! consumer (Python pika) with a durable queue bound to `v1.inputdeviations.#` on
//! `ex.elproMONITOR` in the organization's vhost, an MQTT subscriber with `/` separators, every
//! message validated against the document's JSON schema of its type (tests/fixtures/elpro).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fieldline_domain::{
    ChannelFields, CommunicationId, ConduitServices, ConduitTier, DeviceFields, Name, NetworkId,
    SensorFields, Threshold, ThresholdOp, Thresholds, Timestamp, Unit,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Query as _;
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, workspace, Start, TestHost, PASSWORD};
use serde_json::{json, Value};

use crate::notifier::{run, OPERATOR};

const MQTT_PORT: u16 = 1884;

/// A vhost of its own per test run and organization: queues of an earlier run do not mix in.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// `scripts/rabbitmq-setup VHOST USER PASSWORD`: the operator's own helper. The vhost and the
/// user are deleted when the guard goes, also when the test fails.
#[must_use]
fn rabbitmq_space(vhost: &str, user: &str, password: &str) -> Space {
    let out = Command::new(workspace().join("scripts/rabbitmq-setup"))
        .args([vhost, user, password])
        .output()
        .expect("scripts/rabbitmq-setup runs");
    assert!(
        out.status.success(),
        "rabbitmq-setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Space {
        vhost: vhost.to_owned(),
        user: user.to_owned(),
    }
}

struct Space {
    vhost: String,
    user: String,
}

impl Drop for Space {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.vhost])
            .output();
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_user", &self.user])
            .output();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The AMQP consumer: pika, a durable queue bound to `v1.inputdeviations.#` on ex.elproMONITOR;
/// prints one JSON line per message (routing key, body) and acknowledges it after printing.
const CONSUMER: &str = r#"
import json, sys, pika
vhost, user, password, queue = sys.argv[1:5]
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672, vhost,
    pika.PlainCredentials(user, password)))
ch = c.channel()
ch.queue_declare(queue, durable=True)
ch.queue_bind(queue, "ex.elproMONITOR", "v1.inputdeviations.#")
print(json.dumps({"ready": True}), flush=True)
def on(ch, method, props, body):
    print(json.dumps({"routingKey": method.routing_key, "body": body.decode()}), flush=True)
    ch.basic_ack(method.delivery_tag)
ch.basic_consume(queue, on)
ch.start_consuming()
"#;

struct Consumer {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Consumer {
    fn start(vhost: &str, user: &str, password: &str) -> Consumer {
        let mut child = Command::new("python3")
            .args(["-c", CONSUMER, vhost, user, password, "deviations"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with pika (ensure_rabbitmq_mqtt installs it)");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the consumer connects and binds its queue");
        assert_eq!(ready["ready"], true);
        Consumer { child, lines: rx }
    }

    /// Waits for `n` more messages (routing key, parsed body), running the notifier meanwhile.
    fn take(&self, n: usize, h: &TestHost, limit: Duration) -> Vec<(String, Value)> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while out.len() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages within {limit:?}; host output:\n{}",
                out.len(),
                h.output()
            );
            match self.lines.recv_timeout(Duration::from_millis(500)) {
                Ok(v) => out.push((
                    v["routingKey"].as_str().expect("key").to_owned(),
                    serde_json::from_str(v["body"].as_str().expect("body")).expect("JSON body"),
                )),
                Err(_) => {
                    run(h);
                }
            }
        }
        out
    }

    /// Messages that arrive within `wait` (for "nothing else arrives").
    fn extra(&self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(wait) {
            out.push(v);
        }
        out
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An MQTT subscriber in the organization's vhost (username `vhost:user`), topic filter
/// `v1/inputdeviations/#`: (topic, parsed payload) on a channel.
fn mqtt_subscriber(vhost: &str, user: &str, password: &str) -> mpsc::Receiver<(String, Value)> {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let mut opts = MqttOptions::new(unique("e2e-sub"), "127.0.0.1", MQTT_PORT);
    opts.set_credentials(format!("{vhost}:{user}"), password);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut conn) = Client::new(opts, 100);
    client
        .subscribe("v1/inputdeviations/#", QoS::AtLeastOnce)
        .expect("subscribe");
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _client = client;
        for event in conn.iter() {
            match event {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    if tx.send((p.topic.clone(), body)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the MQTT subscription is acknowledged");
    rx
}

/// The document's schemas (tests/fixtures/elpro), compiled once.
fn schema(name: &str) -> jsonschema::Validator {
    let path = workspace().join(format!("tests/fixtures/elpro/{name}.schema.json"));
    let text = std::fs::read_to_string(&path).expect("schema file");
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Validates a message: the frame against `Message`, its content against its type's schema.
fn validate(message: &Value, validators: &HashMap<String, jsonschema::Validator>) {
    let errors = |v: &jsonschema::Validator, i: &Value| -> Vec<String> {
        v.iter_errors(i)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    };
    let frame = errors(&validators["Message"], message);
    assert!(frame.is_empty(), "frame {message}: {frame:?}");
    let t = message["MessageType"].as_str().expect("MessageType");
    let v = validators
        .get(t)
        .unwrap_or_else(|| panic!("unknown MessageType {t}"));
    let content = errors(v, &message["Content"]);
    assert!(content.is_empty(), "{t} content {message}: {content:?}");
    // draft-04 formats the validator does not know: guid and int32, checked here.
    for k in ["MessageId", "OrganizationId"] {
        fieldline_domain::Uuid::parse(message[k].as_str().expect("guid"))
            .unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    for k in ["IncidentId", "InputId", "IoModuleId"] {
        let n = message["Content"][k].as_i64().expect("integer");
        assert!(i32::try_from(n).is_ok(), "{k} {n} is not an int32");
    }
    assert_eq!(message["ApiVersion"], "v1");
}

fn validators() -> HashMap<String, jsonschema::Validator> {
    [
        "Message",
        "InputLimitDeviation",
        "InputFailureDeviation",
        "InputBatteryLowLevelDeviation",
        "InputRadioStrengthDeviation",
        "InputNoConnectionDeviation",
        "DigitalInputDeviation",
    ]
    .into_iter()
    .map(|n| (n.to_owned(), schema(n)))
    .collect()
}

/// A host whose notifier runs only when a test calls `/notifier/run` (`--no-cron`), so that
/// a run's report counts everything done since the test's write.
fn start() -> TestHost {
    Start::app()
        .arg("--no-cron")
        .env("SPIN_VARIABLE_OPERATOR_TOKEN", OPERATOR)
        .env("SPIN_VARIABLE_MAIL_TRANSPORT", "none")
        .start()
        .expect("host starts")
}

/// An organization with a device "Cold room" (network id given) and its channels: "1" a
/// temperature with the threshold `> 8` and a warning above 6, "2" an enumerated door contact
/// with the threshold `= 2`, and AlphaX's error code (252), signal (254) and voltage (255).
struct Org {
    db: Connection,
    tenant: Tenant,
    email: String,
    token: String,
    device: fieldline_domain::Device,
    channels: HashMap<&'static str, fieldline_domain::Channel>,
    network_id: String,
}

fn org(h: &TestHost, name: &str, network_id: &str) -> Org {
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let db = h.storage().expect("the host's database");
    let email = format!("{}@dairy.example", unique("admin"));
    let (tenant, user) = fieldline_tests::sign_up(&db, name, &email);
    let mut fields = DeviceFields::named(Name::parse("Cold room").expect("name"));
    fields.network_id = Some(NetworkId::parse(network_id).expect("network id"));
    let device =
        storage::create_device(&db, &tenant, &fields, None, Timestamp::now()).expect("device");
    let sensor = storage::create_sensor(
        &db,
        &tenant,
        device.id,
        &SensorFields::named(Name::parse("Probe").expect("name")),
        Timestamp::now(),
    )
    .expect("sensor")
    .id;
    let mut channels = HashMap::new();
    for (comm, name, unit, threshold, enumerated) in [
        (
            "1",
            "Temperature",
            "°C",
            Some((ThresholdOp::Gt, 8.0)),
            false,
        ),
        ("2", "Door", "", Some((ThresholdOp::Eq, 2.0)), true),
        ("252", "Error code", "", None, false),
        ("254", "Signal strength", "RSSI", None, false),
        ("255", "Device voltage", "mV", None, false),
    ] {
        let mut f = ChannelFields::named(Name::parse(name).expect("name"));
        f.unit = Unit::parse(unit).expect("unit");
        f.enumerated = enumerated;
        f.thresholds = Thresholds::new(
            threshold.map(|(op, v)| Threshold::new(op, v).expect("threshold")),
            None,
        )
        .expect("thresholds");
        let c = storage::create_channel(
            &db,
            &tenant,
            sensor,
            Some(CommunicationId::parse(comm).expect("comm")),
            &f,
            Timestamp::now(),
        )
        .expect("channel");
        channels.insert(comm, c);
    }
    let (_, secret) = storage::create_token(
        &db,
        &tenant,
        &NewToken::conduit(user, ConduitTier::Enterprise, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    Org {
        db,
        tenant,
        email,
        token: secret.expose().to_owned(),
        device,
        channels,
        network_id: network_id.to_owned(),
    }
}

impl Org {
    fn login(&self, h: &TestHost) -> String {
        let r = client()
            .post(h.url("/api/v1/login"))
            .json(&json!({"email": self.email, "password": PASSWORD}))
            .send()
            .expect("login");
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().expect("json");
        v["access_token"].as_str().expect("access_token").to_owned()
    }

    /// AlphaX Conduit v2 values `(channel, value)` at `ts`.
    fn send(&self, h: &TestHost, ts: Timestamp, values: &[(u32, f64)]) {
        let data: Vec<Value> = values
            .iter()
            .map(|(c, v)| json!({"channelId": c, "value": v}))
            .collect();
        let body = json!({
            "token": self.token, "networkId": self.network_id, "timestamp": ts.as_millis(),
            "data": data,
        });
        let r = client()
            .post(h.url("/post/v2"))
            .json(&body)
            .send()
            .expect("post");
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    }
}

fn api(h: &TestHost, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let c = client();
    let req = match method {
        "GET" => c.get(h.url(path)),
        "PUT" => c.put(h.url(path)),
        "POST" => c.post(h.url(path)),
        _ => c.delete(h.url(path)),
    }
    .bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sets the organization's broker through the admin API.
fn set_broker(h: &TestHost, token: &str, vhost: &str, user: &str, password: &str) {
    let (status, body) = api(
        h,
        "PUT",
        "/api/v1/organization/deviation-broker",
        token,
        Some(
            json!({"address": format!("mqtt://127.0.0.1:{MQTT_PORT}"), "vhost": vhost,
            "username": user, "password": password}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["passwordSet"], true);
    assert!(
        body.get("password").is_none(),
        "the password is never shown"
    );
}

fn kind_of(message: &Value) -> String {
    message["MessageType"].as_str().expect("type").to_owned()
}

#[test]
fn every_deviation_type_reaches_an_amqp_and_an_mqtt_consumer_and_validates() {
    let h = start();
    let (vhost, user, password) = (unique("elpro-e2e"), unique("elpro"), "pw-a-0123456789");
    let _space = rabbitmq_space(&vhost, &user, password);
    let a = org(&h, "Dairy A", "70B3D32111BD64901");
    let access = a.login(&h);
    set_broker(&h, &access, &vhost, &user, password);
    // The broker's password is sealed in the database, never in plain text.
    let sealed: Vec<u8> =
        a.db.query_blob("SELECT password_sealed FROM deviation_brokers", &[]);
    assert!(!sealed
        .windows(password.len())
        .any(|w| w == password.as_bytes()));
    // Channel 1 warns above 6; the device's battery limit is 3000 mV, radio -100 (defaults).
    let (status, body) = api(
        &h,
        "PUT",
        &format!("/api/v1/channels/{}/deviation-settings", a.channels["1"].id),
        &access,
        Some(json!({"warningUpper": 6.0})),
    );
    assert_eq!(status, 200, "{body}");
    let consumer = Consumer::start(&vhost, &user, password);
    let mqtt = mqtt_subscriber(&vhost, &user, password);
    let validators = validators();

    // Normal values first (the engine needs no history, but this is how devices start).
    let t0 = Timestamp::from_secs(Timestamp::now().as_secs() - 120).expect("t0");
    a.send(
        &h,
        t0,
        &[(1, 4.0), (2, 0.0), (252, 0.0), (254, -70.0), (255, 3600.0)],
    );
    run(&h);
    // Everything deviates at once: 9 °C (alarm and warning), door state 2, error code 7,
    // signal -110, voltage 2900 mV.
    let t1 = t0.add_secs(60);
    a.send(
        &h,
        t1,
        &[(1, 9.0), (2, 2.0), (252, 7.0), (254, -110.0), (255, 2900.0)],
    );
    let started = consumer.take(6, &h, Duration::from_secs(60));
    let mut types: Vec<String> = started.iter().map(|(_, m)| kind_of(m)).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "DigitalInputDeviation",
            "InputBatteryLowLevelDeviation",
            "InputFailureDeviation",
            "InputLimitDeviation",
            "InputLimitDeviation",
            "InputRadioStrengthDeviation",
        ]
    );
    let dev_key: i64 = a.db.query_i64(
        "SELECT key FROM devices WHERE id = ?",
        &[a.device.id.as_str().into()],
    );
    for (key, m) in &started {
        validate(m, &validators);
        let c = &m["Content"];
        assert_eq!(c["IoModuleId"], dev_key);
        assert_eq!(c["IoModuleName"], "Cold room");
        assert_eq!(c["StartTimeUtc"], t1.to_rfc3339(), "{m}");
        assert_eq!(c["EndTimeUtc"], Value::Null);
        let suffix = match kind_of(m).as_str() {
            "InputLimitDeviation" => "limit",
            "InputFailureDeviation" => "failure",
            "InputBatteryLowLevelDeviation" => "batterylowlevel",
            "InputRadioStrengthDeviation" => "radiostrength",
            "DigitalInputDeviation" => "digitalinput",
            other => panic!("{other}"),
        };
        assert_eq!(
            key,
            &format!("v1.inputdeviations.{dev_key}.{}.{suffix}", c["InputId"]),
        );
        assert_eq!(m["OrganizationId"].as_str().map(str::len), Some(36));
    }
    let limit: Vec<&Value> = started
        .iter()
        .map(|(_, m)| m)
        .filter(|m| kind_of(m) == "InputLimitDeviation")
        .collect();
    let mut limit_types: Vec<(&str, f64, f64, &str)> = limit
        .iter()
        .map(|m| {
            let c = &m["Content"];
            (
                c["InputLimitDeviationType"].as_str().expect("type"),
                c["Limit"].as_f64().expect("limit"),
                c["Measurement"].as_f64().expect("measurement"),
                c["UnitOfMeasurement"].as_str().expect("unit"),
            )
        })
        .collect();
    limit_types.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        limit_types,
        [
            ("AlarmUpper", 8.0, 9.0, "°C"),
            ("WarningUpper", 6.0, 9.0, "°C")
        ]
    );

    // A confirmation by a member with Modify: one message per confirmation, then 409.
    let limit_id = limit
        .iter()
        .find(|m| m["Content"]["InputLimitDeviationType"] == "AlarmUpper")
        .map(|m| m["Content"]["IncidentId"].as_i64().expect("id"))
        .expect("alarm upper");
    for n in 1..=2 {
        let (status, body) = api(
            &h,
            "POST",
            &format!("/api/v1/incidents/{limit_id}/confirm"),
            &access,
            None,
        );
        assert_eq!(status, 200, "{body}");
        assert!(body[format!("confirmTime{n}Utc")].is_string(), "{body}");
    }
    let (status, body) = api(
        &h,
        "POST",
        &format!("/api/v1/incidents/{limit_id}/confirm"),
        &access,
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("incident_already_confirmed"))
    );
    let confirmations = consumer.take(2, &h, Duration::from_secs(60));
    for (i, (_, m)) in confirmations.iter().enumerate() {
        validate(m, &validators);
        assert_eq!(m["Content"]["IncidentId"], limit_id);
        assert!(m["Content"]["ConfirmTime1Utc"].is_string());
        assert_eq!(m["Content"]["ConfirmTime2Utc"].is_string(), i == 1);
    }

    // Back to normal: six ends, each with its end time.
    let t2 = t1.add_secs(60);
    a.send(
        &h,
        t2,
        &[(1, 4.0), (2, 0.0), (252, 0.0), (254, -70.0), (255, 3600.0)],
    );
    let ended = consumer.take(6, &h, Duration::from_secs(60));
    for (_, m) in &ended {
        validate(m, &validators);
        assert_eq!(m["Content"]["EndTimeUtc"], t2.to_rfc3339(), "{m}");
        if kind_of(m) != "DigitalInputDeviation" {
            assert_eq!(m["Content"]["IsActive"], false);
        }
    }

    // No connection: a device never heard from since (backdated) two hours, period 1 minute.
    let (status, body) = api(
        &h,
        "PUT",
        &format!("/api/v1/devices/{}/deviation-settings", a.device.id),
        &access,
        Some(json!({"noConnectionSecs": 60})),
    );
    assert_eq!(status, 200, "{body}");
    let two_hours_ago = Timestamp::now().add_secs(-7200).as_millis();
    let backdate = match a.db.dialect() {
        storage::Dialect::Sqlite => {
            "UPDATE deviation_states SET state = json_set(state, '$.NoConnection.evaluatedTo', ?) \
             WHERE subject = ?"
        }
        storage::Dialect::Postgres => {
            "UPDATE deviation_states SET state = jsonb_set(state::jsonb, \
             '{NoConnection,evaluatedTo}', to_jsonb(?))::text WHERE subject = ?"
        }
    };
    a.db.execute(
        backdate,
        &[two_hours_ago.into(), format!("d:{dev_key}").into()],
    )
    .expect("backdate the last contact");
    let silent = consumer.take(2, &h, Duration::from_secs(60));
    for (_, m) in &silent {
        validate(m, &validators);
        assert_eq!(kind_of(m), "InputNoConnectionDeviation");
        assert_eq!(m["Content"]["IsActive"], true);
    }
    // Its inputs: channels 1 and 2, not the reserved ones.
    let mut inputs: Vec<i64> = silent
        .iter()
        .map(|(_, m)| m["Content"]["InputId"].as_i64().expect("input"))
        .collect();
    inputs.sort_unstable();
    let mut expected = vec![a.channels["1"].key, a.channels["2"].key];
    expected.sort_unstable();
    assert_eq!(inputs, expected);
    a.send(&h, Timestamp::now(), &[(1, 4.0)]);
    let back = consumer.take(2, &h, Duration::from_secs(60));
    for (_, m) in &back {
        validate(m, &validators);
        assert_eq!(kind_of(m), "InputNoConnectionDeviation");
        assert_eq!(m["Content"]["IsActive"], false);
    }

    // Listing and filtering through the admin API.
    let (status, body) = api(&h, "GET", "/api/v1/incidents?kind=Limit", &access, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["incidents"].as_array().map(Vec::len), Some(2));
    let (status, body) = api(&h, "GET", "/api/v1/incidents?active=true", &access, None);
    assert_eq!(status, 200);
    assert_eq!(body["incidents"].as_array().map(Vec::len), Some(0));
    let (status, _) = api(&h, "GET", "/api/v1/incidents?kind=Nope", &access, None);
    assert_eq!(status, 400);

    // The MQTT subscriber saw the same messages, with `/` in its topics.
    let all: Vec<(String, Value)> = [started, confirmations, ended, silent, back].concat();
    let mut via_mqtt = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while via_mqtt.len() < all.len() && Instant::now() < deadline {
        if let Ok(m) = mqtt.recv_timeout(Duration::from_millis(500)) {
            via_mqtt.push(m);
        }
    }
    let mut amqp_ids: Vec<(String, String)> = all
        .iter()
        .map(|(k, m)| {
            (
                k.replace('.', "/"),
                m["MessageId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut mqtt_ids: Vec<(String, String)> = via_mqtt
        .iter()
        .map(|(t, m)| (t.clone(), m["MessageId"].as_str().unwrap_or("").to_owned()))
        .collect();
    amqp_ids.sort();
    mqtt_ids.sort();
    assert_eq!(mqtt_ids, amqp_ids);
    // Each message once: MessageIds are distinct.
    let mut ids: Vec<&String> = amqp_ids.iter().map(|(_, i)| i).collect();
    ids.dedup();
    assert_eq!(ids.len(), all.len());

    if let Ok(dir) = std::env::var("FIELDLINE_CAPTURE_DIR") {
        let mut seen = std::collections::BTreeMap::new();
        for (k, m) in &all {
            seen.entry(kind_of(m))
                .or_insert_with(|| json!({"routingKey": k, "message": m}));
        }
        std::fs::write(
            format!("{dir}/elpro-captured.json"),
            serde_json::to_string_pretty(&seen).expect("json"),
        )
        .expect("capture");
    }
    // The broker's password never reaches the log.
    assert!(!h.output().contains(password), "the password was logged");
    drop(consumer);
}

#[test]
fn two_organizations_never_see_each_others_messages() {
    let h = start();
    let spaces: Vec<(String, String, String)> = (0..2)
        .map(|i| {
            (
                unique(&format!("elpro-iso{i}")),
                unique("iso"),
                format!("pw-{i}-0123456789"),
            )
        })
        .collect();
    let mut consumers = Vec::new();
    let mut orgs = Vec::new();
    let mut guards = Vec::new();
    for (i, (vhost, user, pw)) in spaces.iter().enumerate() {
        guards.push(rabbitmq_space(vhost, user, pw));
        let o = org(&h, &format!("Dairy {i}"), &format!("70B3D32111BD6491{i}"));
        set_broker(&h, &o.login(&h), vhost, user, pw);
        consumers.push(Consumer::start(vhost, user, pw));
        orgs.push(o);
    }
    let t = Timestamp::from_secs(Timestamp::now().as_secs() - 60).expect("t");
    orgs[0].send(&h, t, &[(1, 9.0)]);
    orgs[1].send(&h, t, &[(252, 3.0)]);
    let a = consumers[0].take(1, &h, Duration::from_secs(60));
    let b = consumers[1].take(1, &h, Duration::from_secs(60));
    assert_eq!(kind_of(&a[0].1), "InputLimitDeviation");
    assert_eq!(kind_of(&b[0].1), "InputFailureDeviation");
    let uuid = |o: &Org| -> String {
        o.db.query_text(
            "SELECT uuid FROM orgs WHERE key = ?",
            &[o.tenant.key.into()],
        )
    };
    assert_eq!(a[0].1["OrganizationId"], uuid(&orgs[0]));
    assert_eq!(b[0].1["OrganizationId"], uuid(&orgs[1]));
    run(&h);
    assert!(consumers[0].extra(Duration::from_secs(2)).is_empty());
    assert!(consumers[1].extra(Duration::from_secs(2)).is_empty());
    // One organization's credentials do not open the other's vhost.
    let other = Command::new("mosquitto_pub")
        .args([
            "-p",
            &MQTT_PORT.to_string(),
            "-u",
            &format!("{}:{}", spaces[1].0, spaces[0].1),
            "-P",
            &spaces[0].2,
            "-q",
            "1",
            "-t",
            "v1/inputdeviations/1/1/limit",
            "-m",
            "{}",
        ])
        .output()
        .expect("mosquitto_pub");
    assert!(
        !other.status.success(),
        "user of A published into B's vhost"
    );
    drop(consumers);
    drop(guards);
}

#[test]
fn after_a_broker_outage_every_message_arrives_once_in_order_per_incident() {
    let h = start();
    let (vhost, user, password) = (unique("elpro-out"), unique("out"), "pw-out-0123456789");
    let _space = rabbitmq_space(&vhost, &user, password);
    let a = org(&h, "Dairy Outage", "70B3D32111BD64920");
    set_broker(&h, &a.login(&h), &vhost, &user, password);
    // The consumer has a user of its own in the vhost, so that the outage is Fieldline's alone.
    let reader = unique("reader");
    let _reader_space = rabbitmq_space(&vhost, &reader, password);
    let consumer = Consumer::start(&vhost, &reader, password);
    // The broker refuses Fieldline: its user has no permissions on the vhost any more (the
    // consumer's durable queue keeps receiving what is routed to it later). The whole
    // RabbitMQ service is not stopped: others use it.
    rabbitmqctl(&["-q", "clear_permissions", "-p", &vhost, &user]);
    // While it is down, three incidents start and end, one of them twice.
    let t0 = Timestamp::from_secs(Timestamp::now().as_secs() - 600).expect("t0");
    let steps: [&[(u32, f64)]; 5] = [
        &[(1, 9.0), (252, 1.0), (255, 2000.0)],
        &[(1, 4.0)],
        &[(1, 10.0), (252, 0.0)],
        &[(1, 4.0), (255, 3500.0)],
        &[(1, 11.0)],
    ];
    let mut failures = 0;
    for (i, values) in steps.iter().enumerate() {
        a.send(&h, t0.add_secs(60 * i as i64), values);
        let r = run(&h);
        assert_eq!(r["deviationMessagesPublished"], 0, "{r}");
        failures += r["deviationPublishFailures"].as_u64().expect("failures");
    }
    assert!(failures >= 1, "the broker refused at least once");
    let waiting: i64 = a.db.query_i64(
        "SELECT count(*) FROM outbox WHERE topic = 'elpro' AND sent_at IS NULL",
        &[],
    );
    // limit: open, end, open, end, open; failure: open, end; battery: open, end.
    assert_eq!(waiting, 9);
    // The broker is back.
    rabbitmqctl(&[
        "-q",
        "set_permissions",
        "-p",
        &vhost,
        &user,
        ".*",
        ".*",
        ".*",
    ]);
    // Retries are due within the backoff (5 s doubling): the consumer's wait runs the notifier.
    let got = consumer.take(9, &h, Duration::from_secs(120));
    let mut by_incident: HashMap<i64, Vec<&Value>> = HashMap::new();
    for (_, m) in &got {
        by_incident
            .entry(m["Content"]["IncidentId"].as_i64().expect("id"))
            .or_default()
            .push(m);
    }
    // Each incident: its start, then its end (when it ended), in that order, once.
    let mut shapes: Vec<(String, Vec<bool>)> = by_incident
        .values()
        .map(|ms| {
            (
                kind_of(ms[0]),
                ms.iter()
                    .map(|m| m["Content"]["EndTimeUtc"].is_null())
                    .collect(),
            )
        })
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [
            (
                "InputBatteryLowLevelDeviation".to_owned(),
                vec![true, false]
            ),
            ("InputFailureDeviation".to_owned(), vec![true, false]),
            ("InputLimitDeviation".to_owned(), vec![true]),
            ("InputLimitDeviation".to_owned(), vec![true, false]),
            ("InputLimitDeviation".to_owned(), vec![true, false]),
        ]
    );
    let mut ids: Vec<&str> = got
        .iter()
        .map(|(_, m)| m["MessageId"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9, "nine distinct messages");
    // Their original MessageIds: those written to the outbox while the broker was down.
    let stored: Vec<String> =
        a.db.query_texts("SELECT payload FROM outbox WHERE topic = 'elpro'", &[])
            .into_iter()
            .map(|p| {
                let o: Value = serde_json::from_str(&p).expect("payload");
                let body: Value =
                    serde_json::from_str(o["body"].as_str().expect("body")).expect("body");
                body["MessageId"].as_str().expect("id").to_owned()
            })
            .collect();
    let mut stored: Vec<&str> = stored.iter().map(String::as_str).collect();
    stored.sort_unstable();
    assert_eq!(ids, stored);
    run(&h);
    assert!(
        consumer.extra(Duration::from_secs(2)).is_empty(),
        "nothing twice"
    );
    if let Ok(dir) = std::env::var("FIELDLINE_CAPTURE_DIR") {
        std::fs::write(
            format!("{dir}/elpro-outage.txt"),
            format!(
                "waiting during the outage: {waiting}; received after: {}; distinct: {}; incidents: {}\n",
                got.len(),
                ids.len(),
                by_incident.len()
            ),
        )
        .expect("capture");
    }
    drop(consumer);
}
