//! elproMONITOR deviation messages over this storage: the ordered claim per organization and
//! the publisher's retries after a broker outage (`fieldline_service::deviations::publish`).

use crate::testdb::TestDb;
use fieldline_domain::Timestamp;
use fieldline_domain::{
    Email, OrgFields, OrgName, Password, PasswordHasher, SealKey, Subscription,
};
use fieldline_service::deviations::{self, seal_context, BrokerLogin, Publisher};
use fieldline_service::ports::{Deviations, Outbox, StoredBroker};

use crate::*;

fn t0() -> Timestamp {
    Timestamp::from_secs(1_700_000_000).unwrap()
}

fn org(db: &dyn Db, name: &str, admin: &str) -> Tenant {
    let hash = PasswordHasher::insecure_fast_for_tests()
        .hash(&Password::parse("correct horse battery").unwrap())
        .unwrap();
    sign_up(
        db,
        &OrgFields::named(OrgName::parse(name).unwrap()),
        &Subscription::default(),
        &Email::parse(admin).unwrap(),
        &hash,
        t0(),
    )
    .unwrap()
    .0
}

fn db() -> TestDb {
    crate::testdb::db()
}

#[test]
fn an_organizations_messages_are_claimed_in_order_and_wait_behind_a_retry() {
    let db = db();
    let (a, b) = (
        org(&db, "A", "a@example.com"),
        org(&db, "B", "b@example.com"),
    );
    let store = SqlStore(&db);
    let at = |s: i64| t0().add_secs(s);
    for (t, k) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&a, "a3")] {
        assert!(store.enqueue(t, "elpro", k, k, at(0)).unwrap());
    }
    let keys = |v: Vec<fieldline_service::OutboxMessage>| -> Vec<String> {
        v.into_iter().map(|m| m.idempotency_key).collect()
    };
    let first = store.claim_in_order("elpro", at(0), at(120), 2).unwrap();
    assert_eq!(keys(first.clone()), ["a1", "a2"]);
    // A's broker failed on a1: all of A waits until the retry; B goes on.
    assert_eq!(
        store
            .retry_org_later("elpro", a.id(), at(5), "refused")
            .unwrap(),
        3
    );
    assert!(store.enqueue(&a, "elpro", "a4", "a4", at(1)).unwrap());
    assert_eq!(
        keys(store.claim_in_order("elpro", at(1), at(121), 10).unwrap()),
        ["b1"]
    );
    // a4 is due, but older messages of A wait for later: it waits too.
    assert!(store
        .claim_in_order("elpro", at(2), at(122), 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        keys(store.claim_in_order("elpro", at(5), at(125), 10).unwrap()),
        ["a1", "a2", "a3", "a4"]
    );
}

/// A broker that refuses while `down`, and records what it accepted.
struct Broker {
    down: bool,
    got: Vec<(String, String)>,
}

impl Publisher for Broker {
    fn publish(&mut self, login: &BrokerLogin, topic: &str, payload: &[u8]) -> Result<(), String> {
        assert_eq!(login.username, "org-a:fieldline");
        assert_eq!(login.password, "s3cret-password");
        if self.down {
            return Err("connection refused".into());
        }
        self.got.push((
            topic.to_owned(),
            String::from_utf8(payload.to_vec()).unwrap(),
        ));
        Ok(())
    }
}

#[test]
fn the_publisher_sends_after_an_outage_in_order_with_the_original_message() {
    let db = db();
    let a = org(&db, "A", "a@example.com");
    let store = SqlStore(&db);
    let key = SealKey::from_secret(&[9u8; 32]).unwrap();
    let broker = StoredBroker {
        address: "mqtt://127.0.0.1:1884".into(),
        vhost: "org-a".into(),
        username: "fieldline".into(),
        password_sealed: key.seal("s3cret-password", &seal_context(a.id())).unwrap(),
        enabled_at: t0(),
        updated_at: t0(),
    };
    store.set_deviation_broker(&a, Some(&broker)).unwrap();
    assert!(!format!("{broker:?}").contains("s3cret"));
    let payload = |n: u32| {
        serde_json::json!({"topic": format!("v1/inputdeviations/1/1/limit"), "incident": 1,
            "body": format!("{{\"n\":{n}}}")})
        .to_string()
    };
    for n in 0..3 {
        store
            .enqueue(&a, deviations::TOPIC, &format!("m{n}"), &payload(n), t0())
            .unwrap();
    }
    let clock = std::cell::Cell::new(t0());
    let now = || clock.get();
    let mut down = Broker {
        down: true,
        got: Vec::new(),
    };
    let r = deviations::publish(&store, Some(&key), &mut down, &now, &mut || true).unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    // Before the retry: nothing is taken.
    clock.set(t0().add_secs(4));
    let r = deviations::publish(&store, Some(&key), &mut down, &now, &mut || true).unwrap();
    assert_eq!((r.sent, r.failed), (0, 0));
    let mut up = Broker {
        down: false,
        got: Vec::new(),
    };
    clock.set(t0().add_secs(5));
    let r = deviations::publish(&store, Some(&key), &mut up, &now, &mut || true).unwrap();
    assert_eq!((r.sent, r.failed), (3, 0));
    let bodies: Vec<&str> = up.got.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(bodies, [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#]);
    // Sent once: a later run sends nothing.
    clock.set(t0().add_secs(600));
    let r = deviations::publish(&store, Some(&key), &mut up, &now, &mut || true).unwrap();
    assert_eq!(r.sent, 0);
    // Without the sealing key nothing is sent, and the messages wait.
    store
        .enqueue(&a, deviations::TOPIC, "m9", &payload(9), t0().add_secs(600))
        .unwrap();
    let r = deviations::publish(&store, None, &mut up, &now, &mut || true).unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    assert!(r.last_error.unwrap().contains("broker_secret"));
}

#[test]
fn retry_delays_double_up_to_five_minutes() {
    let d: Vec<i64> = (1..=9).map(deviations::retry_delay_secs).collect();
    assert_eq!(d, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
}

#[test]
fn a_device_never_heard_from_opens_no_connection_on_its_inputs_once() {
    use fieldline_domain::{ChannelFields, CommunicationId, DeviceFields, Name, SensorFields};
    let db = db();
    let a = org(&db, "A", "a@example.com");
    let store = SqlStore(&db);
    let key = SealKey::from_secret(&[9u8; 32]).unwrap();
    let device = create_device(
        &db,
        &a,
        &DeviceFields::named(Name::parse("Cold room").unwrap()),
        None,
        t0(),
    )
    .unwrap();
    let sensor = create_sensor(
        &db,
        &a,
        device.id,
        &SensorFields::named(Name::parse("Probe").unwrap()),
        t0(),
    )
    .unwrap();
    for comm in ["1", "2", "255"] {
        create_channel(
            &db,
            &a,
            sensor.id,
            Some(CommunicationId::parse(comm).unwrap()),
            &ChannelFields::named(Name::parse(&format!("c{comm}")).unwrap()),
            t0(),
        )
        .unwrap();
    }
    // Deviations off: nothing, however long the silence.
    let r = deviations::tick(&store, t0().add_secs(10 * 3600)).unwrap();
    assert_eq!(r, deviations::Report::default());
    // On from t0 + 1 h: silence counts from there; the default period is an hour.
    let broker = StoredBroker {
        address: "mqtt://127.0.0.1:1884".into(),
        vhost: "org-a".into(),
        username: "fieldline".into(),
        password_sealed: key.seal("pw", &seal_context(a.id())).unwrap(),
        enabled_at: t0().add_secs(3600),
        updated_at: t0(),
    };
    store.set_deviation_broker(&a, Some(&broker)).unwrap();
    let r = deviations::tick(&store, t0().add_secs(2 * 3600)).unwrap();
    assert_eq!(r.opened, 0, "exactly the period is not more than it");
    let r = deviations::tick(&store, t0().add_secs(2 * 3600 + 1)).unwrap();
    // Its two inputs; the reserved voltage channel is not one.
    assert_eq!((r.opened, r.messages), (2, 2));
    let again = deviations::tick(&store, t0().add_secs(3 * 3600)).unwrap();
    assert_eq!(
        again.opened, 0,
        "one incident per input while it stays silent"
    );
    // An input added while the device is silent gets its incident at the next tick, with the
    // silence's own start.
    create_channel(
        &db,
        &a,
        sensor.id,
        Some(CommunicationId::parse("3").unwrap()),
        &ChannelFields::named(Name::parse("c3").unwrap()),
        t0(),
    )
    .unwrap();
    let late = deviations::tick(&store, t0().add_secs(4 * 3600)).unwrap();
    assert_eq!((late.opened, late.messages), (1, 1));
    let list = store
        .incidents(
            &a,
            &fieldline_service::ports::IncidentFilter {
                active: Some(true),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(
        |i| i.opened.kind == fieldline_domain::IncidentKind::NoConnection
            && i.opened.start == t0().add_secs(2 * 3600)
    ));
    // Turned off for the device: no new incident after the next silence.
    store
        .set_device_deviation_settings(
            &a,
            device.id,
            &fieldline_domain::deviation::DeviceSettings {
                no_connection_secs: None,
                ..Default::default()
            },
        )
        .unwrap();
    let r = deviations::tick(&store, t0().add_secs(30 * 3600)).unwrap();
    assert_eq!(r, deviations::Report::default());
}
