//! The threshold notifier (`functions/notifier`) end to end: values pushed through Conduit and
//! InfluxDB `/write` into the real application, the notifier on its cron trigger or its private
//! route, and the e-mails read back from a real SMTP server, maildev (scripts/test starts it on
//! 127.0.0.1:1025 with its HTTP API on 127.0.0.1:1080; `GET /email` lists what arrived).
//! Each test mails its own address, so tests sharing the server do not see each other's mail.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldline_domain::{
    ChannelFields, CommunicationId, ConduitServices, ConduitTier, DeviceFields, Email, Name,
    NetworkId, SensorFields, Threshold, ThresholdOp, Thresholds, Timestamp, Unit, Uuid,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Query as _;
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, workspace, Start, TestHost};
use serde_json::Value;

pub(crate) const OPERATOR: &str = "e2e-notifier-operator-credential";

fn maildev_api() -> String {
    std::env::var("FIELDLINE_MAILDEV_API").unwrap_or_else(|_| "http://127.0.0.1:1080".into())
}

/// A unique address per test and process.
fn address(test: &str) -> String {
    format!(
        "{test}-{}-{}@dairy.example",
        std::process::id(),
        Timestamp::now().as_millis()
    )
}

/// The e-mails maildev holds for `to`.
fn inbox(api: &str, to: &str) -> Vec<Value> {
    let r = client()
        .get(format!("{api}/email"))
        .send()
        .unwrap_or_else(|e| panic!("maildev's API at {api} (scripts/test starts it): {e}"));
    let all: Vec<Value> = r.json().expect("maildev lists e-mails as JSON");
    all.into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["address"] == to))
        })
        .collect()
}

/// Waits up to `limit` for `n` e-mails to `to`.
fn wait_inbox(api: &str, to: &str, n: usize, limit: Duration, h: &TestHost) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let got = inbox(api, to);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} e-mails to {to} within {limit:?}; host output:\n{}",
            got.len(),
            h.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A host whose notifier runs only when a test calls `/notifier/run` (`--no-cron`, as on
/// platforms without a cron trigger): the host's own minute tick would otherwise run it between
/// a test's write and its run, and the run's report would not count what the tick did.
fn start(smtp: &str) -> TestHost {
    app(smtp).arg("--no-cron").start().expect("host starts")
}

/// A host that runs the notifier on its cron schedule, as `fieldline up` does by default.
fn start_scheduled(smtp: &str) -> TestHost {
    app(smtp).start().expect("host starts")
}

fn app(smtp: &str) -> Start {
    Start::app()
        .env("SPIN_VARIABLE_OPERATOR_TOKEN", OPERATOR)
        .env("SPIN_VARIABLE_SMTP_ADDRESS", smtp)
        .env("SPIN_VARIABLE_CONSOLE_URL", "https://console.dairy.example")
}

/// `POST /notifier/run` with the operator credential; the run's report.
pub(crate) fn run(h: &TestHost) -> Value {
    let r = client()
        .post(h.url("/notifier/run"))
        .bearer_auth(OPERATOR)
        .send()
        .expect("run");
    let status = r.status().as_u16();
    let body: Value = r.json().expect("json");
    assert_eq!(status, 200, "{body}\n{}", h.output());
    body
}

struct Fx {
    db: Connection,
    tenant: Tenant,
    user: fieldline_domain::UserId,
    device: fieldline_domain::Device,
    sensor: fieldline_domain::SensorId,
}

/// An organization with a device (network id and UUID given) notifying `to` (confirmed when
/// `verified`) and a sensor "Probe".
fn fixture(h: &TestHost, to: &str, verified: bool, network_id: &str, uuid: &str) -> Fx {
    // The first request migrates the database through a component, as in production.
    let r = client().get(h.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let db = h.storage().expect("the host's database");
    let (tenant, user) = fieldline_tests::sign_up(&db, "Dairy Co", &address("admin"));
    let mut fields = DeviceFields::named(Name::parse("Cold room").expect("name"));
    fields.network_id = Some(NetworkId::parse(network_id).expect("network id"));
    fields.notification_email = Some(Email::parse(to).expect("email"));
    let device = storage::create_device(
        &db,
        &tenant,
        &fields,
        Some(Uuid::parse(uuid).expect("uuid")),
        Timestamp::now(),
    )
    .expect("device");
    if verified {
        storage::set_notification_verified(&db, &tenant, device.id).expect("verified");
    }
    let sensor = storage::create_sensor(
        &db,
        &tenant,
        device.id,
        &SensorFields::named(Name::parse("Probe").expect("name")),
        Timestamp::now(),
    )
    .expect("sensor")
    .id;
    Fx {
        db,
        tenant,
        user,
        device,
        sensor,
    }
}

impl Fx {
    /// A channel in °C with the threshold `> 8`.
    fn channel(&self, comm: &str, name: &str) -> fieldline_domain::Channel {
        let mut f = ChannelFields::named(Name::parse(name).expect("name"));
        f.unit = Unit::parse("°C").expect("unit");
        f.thresholds = Thresholds::new(
            Some(Threshold::new(ThresholdOp::Gt, 8.0).expect("threshold")),
            None,
        )
        .expect("thresholds");
        storage::create_channel(
            &self.db,
            &self.tenant,
            self.sensor,
            Some(CommunicationId::parse(comm).expect("comm")),
            &f,
            Timestamp::now(),
        )
        .expect("channel")
    }

    fn conduit_token(&self) -> String {
        let (_, secret) = storage::create_token(
            &self.db,
            &self.tenant,
            &NewToken::conduit(
                self.user,
                ConduitTier::Enterprise,
                ConduitServices::default(),
            ),
            Timestamp::now(),
        )
        .expect("token");
        secret.expose().to_owned()
    }
}

fn conduit_v2(h: &TestHost, token: &str, network_id: &str, ts: Timestamp, values: &[(u32, f64)]) {
    let data: Vec<Value> = values
        .iter()
        .map(|(c, v)| serde_json::json!({"channelId": c, "value": v}))
        .collect();
    let body = serde_json::json!({
        "token": token, "networkId": network_id, "timestamp": ts.as_millis(), "data": data,
    });
    let r = client()
        .post(h.url("/post/v2"))
        .json(&body)
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
}

#[test]
fn notifier_mails_one_alert_for_a_conduit_value_beyond_the_threshold_within_two_minutes() {
    let api = maildev_api();
    let h = start_scheduled("127.0.0.1:1025");
    let to = address("conduit");
    let net = "70B3D32111BD64900";
    let fx = fixture(&h, &to, true, net, "0b5a1d2e-1111-4222-8333-444455556666");
    let ch = fx.channel("1", "Cold room temperature");
    let token = fx.conduit_token();
    let t = Timestamp::from_secs(Timestamp::now().as_secs()).expect("now");
    conduit_v2(&h, &token, net, t, &[(1, 12.5)]);
    // The cron trigger runs the notifier at second 0 of every minute: the e-mail is in the
    // real mail server's inbox within two minutes, without anyone calling the route.
    let pushed = Instant::now();
    let mails = wait_inbox(&api, &to, 1, Duration::from_secs(125), &h);
    eprintln!("alert arrived {:?} after the value", pushed.elapsed());
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(
        m["subject"],
        "[Dairy Co] Threshold exceeded: Cold room / Probe / Cold room temperature"
    );
    let text = m["text"].as_str().expect("text part");
    let html = m["html"].as_str().expect("html part");
    for part in [
        "Organization: Dairy Co".to_owned(),
        format!("Device: Cold room ({})", fx.device.id.as_str()),
        "Sensor: Probe".to_owned(),
        "Channel: Cold room temperature (1)".to_owned(),
        format!(
            "Value 12.5 °C at {} UTC / {}",
            {
                let s = t.to_rfc3339().replace('T', " ");
                s.trim_end_matches('Z').to_owned()
            },
            t.to_rfc3339()
        ),
        "exceeds the threshold > 8 °C".to_owned(),
        format!(
            "https://console.dairy.example/devices/{}/channels/{}",
            fx.device.id.as_str(),
            ch.id.as_str()
        ),
    ] {
        assert!(text.contains(&part), "{part:?} in\n{text}");
    }
    assert!(html.contains("12.5 °C"), "{html}");
    assert!(
        html.contains("<a href=\"https://console.dairy.example/devices/"),
        "{html}"
    );
    // More runs (and more exceeding values of the same alarm) mail nothing more.
    conduit_v2(&h, &token, net, t.add_secs(1), &[(1, 13.0)]);
    let r = run(&h);
    assert_eq!(r["mailsQueued"], 0, "{r}");
    run(&h);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inbox(&api, &to).len(), 1);
}

#[test]
fn notifier_route_needs_the_operator_credential_and_mails_a_write_value_once() {
    let api = maildev_api();
    let h = start("127.0.0.1:1025");
    // Without the credential, or with another: 401, and nothing runs.
    let r = client().post(h.url("/notifier/run")).send().expect("run");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = client()
        .post(h.url("/notifier/run"))
        .bearer_auth("not-the-credential")
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 401);
    let r = client().get(h.url("/notifier/run")).send().expect("run");
    assert_eq!(r.status().as_u16(), 405);

    let to = address("write");
    let uuid = "0b5a1d2e-2222-4222-8333-444455556666";
    let fx = fixture(&h, &to, true, "70B3D32111BD64901", uuid);
    fx.channel("temp", "Milk tank");
    let (_, secret) = storage::create_token(
        &fx.db,
        &fx.tenant,
        &NewToken::conduit(fx.user, ConduitTier::Enterprise, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    let login: String = fx.db.query_text(
        "SELECT email FROM users u JOIN memberships m ON m.user_key = u.key \
         WHERE m.org_key = ?",
        &[fx.tenant.key.into()],
    );
    let ms = Timestamp::now().as_millis();
    let r = client()
        .post(h.url("/write?db=fieldline&precision=ms"))
        .basic_auth(&login, Some(secret.expose()))
        .body(format!(
            "temp,uuid={uuid} value=3.5 {}\ntemp,uuid={uuid} value=9.25 {}",
            ms,
            ms + 1000
        ))
        .send()
        .expect("write");
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    let report = run(&h);
    assert_eq!(report["points"], 2, "{report}");
    assert_eq!(report["mailsQueued"], 1, "{report}");
    assert_eq!(report["sent"], 1, "{report}");
    let mails = wait_inbox(&api, &to, 1, Duration::from_secs(10), &h);
    assert!(mails[0]["text"]
        .as_str()
        .expect("text")
        .contains("Value 9.25 °C"));
    assert_eq!(run(&h)["mailsQueued"], 0);
    assert_eq!(inbox(&api, &to).len(), 1);
}

#[test]
fn notifier_sends_the_verification_link_and_alerts_only_once_it_is_followed() {
    let api = maildev_api();
    let h = start("127.0.0.1:1025");
    let to = address("verify");
    let net = "70B3D32111BD64902";
    let fx = fixture(&h, &to, false, net, "0b5a1d2e-3333-4222-8333-444455556666");
    fx.channel("1", "Before");
    fx.channel("2", "After");
    let token = fx.conduit_token();
    let report = run(&h);
    assert_eq!(report["verificationMails"], 1, "{report}");
    assert_eq!(report["sent"], 1, "{report}");
    let mails = wait_inbox(&api, &to, 1, Duration::from_secs(10), &h);
    let text = mails[0]["text"].as_str().expect("text");
    let secret = text
        .split("/notifier/verify?token=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a link")
        .to_owned();
    // Not yet followed: the alert is withheld and counted.
    conduit_v2(&h, &token, net, Timestamp::now(), &[(1, 20.0)]);
    let report = run(&h);
    assert_eq!(report["withheldUnverified"], 1, "{report}");
    assert_eq!(report["mailsQueued"], 0, "{report}");
    // The one-time link.
    let link = h.url(&format!("/notifier/verify?token={secret}"));
    let r = client().get(&link).send().expect("verify");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().expect("page").contains("Address confirmed"));
    let r = client().get(&link).send().expect("verify again");
    assert_eq!(r.status().as_u16(), 404);
    let device = storage::device(&fx.db, &fx.tenant, fx.device.id).expect("device");
    assert!(device.notification_verified);
    // Now alerts arrive.
    conduit_v2(&h, &token, net, Timestamp::now().add_secs(1), &[(2, 30.0)]);
    assert_eq!(run(&h)["sent"], 1);
    let mails = wait_inbox(&api, &to, 2, Duration::from_secs(10), &h);
    assert!(mails.iter().any(|m| m["subject"]
        .as_str()
        .is_some_and(|s| s.ends_with("/ After"))));
}

/// A maildev of this test's own (SMTP on `smtp`, API on `web`), stopped when dropped, also when
/// the test fails (a server left running would answer the next run's "server is down" step).
struct Maildev(Child);

impl Drop for Maildev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn maildev(smtp: u16, web: u16) -> Maildev {
    let bin = workspace().join("target/tools/maildev/node_modules/.bin/maildev");
    let child = Command::new(&bin)
        .args([
            "--ip",
            "127.0.0.1",
            "--smtp",
            &smtp.to_string(),
            "--web",
            &web.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (scripts/test installs maildev): {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while client()
        .get(format!("http://127.0.0.1:{web}/email"))
        .send()
        .is_err()
    {
        assert!(Instant::now() < deadline, "maildev did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    Maildev(child)
}

#[test]
fn notifier_delivers_every_alert_exactly_once_after_the_mail_server_was_down() {
    // Ports of this test's own server (1026 is in the notifier's allowed_outbound_hosts).
    let (smtp, web) = (1026, 1081);
    let api = format!("http://127.0.0.1:{web}");
    let h = start(&format!("127.0.0.1:{smtp}"));
    let to = address("outage");
    let net = "70B3D32111BD64903";
    let fx = fixture(&h, &to, true, net, "0b5a1d2e-4444-4222-8333-444455556666");
    for i in 1..=3 {
        fx.channel(&i.to_string(), &format!("Shelf {i}"));
    }
    let token = fx.conduit_token();
    // The server is down: the alerts wait in the outbox.
    conduit_v2(
        &h,
        &token,
        net,
        Timestamp::now(),
        &[(1, 10.0), (2, 11.0), (3, 12.0)],
    );
    let report = run(&h);
    assert_eq!(report["mailsQueued"], 3, "{report}");
    assert_eq!(
        (report["sent"].as_u64(), report["failed"].as_u64()),
        (Some(0), Some(3))
    );
    assert!(
        report["lastError"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("SMTP relay 127.0.0.1:{smtp}"))),
        "{report}"
    );
    // Runs before the backoff ends try nothing.
    assert_eq!(run(&h)["failed"], 0);
    // The server comes back; after the first backoff (30 s) each alert arrives once.
    let server = maildev(smtp, web);
    std::thread::sleep(Duration::from_secs(31));
    // Runs from then on send each alert once between them; the inbox counts. A loaded machine
    // may need a second run for the last retry to come due, and an attempt the loaded server
    // answers too slowly fails and waits for its next backoff (60 s): what must hold is that
    // each alert arrives, and once.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut mails = inbox(&api, &to);
    while mails.len() < 3 {
        let report = run(&h);
        assert!(
            Instant::now() < deadline,
            "only {} of 3 alerts arrived: {report}",
            mails.len()
        );
        std::thread::sleep(Duration::from_secs(2));
        mails = inbox(&api, &to);
    }
    assert_eq!(run(&h)["sent"], 0);
    std::thread::sleep(Duration::from_secs(1));
    let mails_again = inbox(&api, &to);
    drop(server);
    assert_eq!(mails.len(), 3);
    assert_eq!(mails_again.len(), 3);
    let mut subjects: Vec<&str> = mails_again
        .iter()
        .map(|m| m["subject"].as_str().expect("subject"))
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "[Dairy Co] Threshold exceeded: Cold room / Probe / Shelf 1",
            "[Dairy Co] Threshold exceeded: Cold room / Probe / Shelf 2",
            "[Dairy Co] Threshold exceeded: Cold room / Probe / Shelf 3",
        ]
    );
}
