//! The threshold notifier (`fieldline_service::notifier`) over this storage: the queue as its
//! cursor, the e-mail rules, and the outbox sender, natively over rusqlite.

use std::cell::{Cell, RefCell};

use crate::testdb::TestDb;
use fieldline_domain::notify::Mail;
use fieldline_domain::topics::{Kinds, QuietHours};
use fieldline_domain::{
    Channel, ChannelFields, CommunicationId, Device, DeviceFields, Email, Name, OrgFields, OrgName,
    Point, SensorFields, Subscription, Threshold, ThresholdOp, Thresholds, TimeZoneName, Timestamp,
    Unit,
};
use fieldline_service::notifier::{self, Mailer, SendError, Settings};
use fieldline_service::ports::{Alarms, Counters, NewTopicSubscription, Outbox, TopicTarget};

use crate::db::{Rows, Value};
use crate::*;

fn settings() -> Settings {
    Settings {
        console_url: "https://console.example".into(),
        public_url: "https://fl.example/".into(),
    }
}

struct Fx {
    db: TestDb,
    tenant: Tenant,
    /// The administrator who signed up.
    admin: fieldline_domain::UserId,
    device: Device,
    channels: Vec<Channel>,
}

fn password() -> fieldline_domain::PasswordHash {
    fieldline_domain::PasswordHasher::insecure_fast_for_tests()
        .hash(&fieldline_domain::Password::parse("correct horse battery").unwrap())
        .unwrap()
}

/// An organization (time zone Europe/Rome, `cap` e-mails a day) with a device "Cold room"
/// whose address is `address` (confirmed when `verified`), a sensor "Probe" and `n` channels
/// "T1".. in °C with the threshold `> 8`.
fn fixture_in(db: TestDb, n: usize, address: Option<&str>, verified: bool, cap: u32) -> Fx {
    migrate(&db).unwrap();
    let now = Timestamp::now();
    let (tenant, _, admin) = sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Dairy Co").unwrap()),
        &Subscription {
            notification_emails_per_day: cap,
            ..Subscription::default()
        },
        &Email::parse("admin@example.com").unwrap(),
        &password(),
        now,
    )
    .unwrap();
    let mut org = OrgFields::named(OrgName::parse("Dairy Co").unwrap());
    org.time_zone = TimeZoneName::parse("Europe/Rome").unwrap();
    update_organization(&db, &tenant, &org).unwrap();
    let mut fields = DeviceFields::named(Name::parse("Cold room").unwrap());
    fields.notification_email = address.map(|a| Email::parse(a).unwrap());
    let device = create_device(&db, &tenant, &fields, None, now).unwrap();
    if verified {
        set_notification_verified(&db, &tenant, device.id).unwrap();
    }
    let sensor = create_sensor(
        &db,
        &tenant,
        device.id,
        &SensorFields::named(Name::parse("Probe").unwrap()),
        now,
    )
    .unwrap();
    let channels = (1..=n)
        .map(|i| {
            let mut f = ChannelFields::named(Name::parse(&format!("T{i}")).unwrap());
            f.unit = Unit::parse("°C").unwrap();
            f.thresholds =
                Thresholds::new(Some(Threshold::new(ThresholdOp::Gt, 8.0).unwrap()), None).unwrap();
            create_channel(
                &db,
                &tenant,
                sensor.id,
                Some(CommunicationId::parse(&format!("t{i}")).unwrap()),
                &f,
                now,
            )
            .unwrap()
        })
        .collect();
    Fx {
        db,
        tenant,
        admin: admin.id,
        device,
        channels,
    }
}

fn fixture(n: usize, address: Option<&str>, verified: bool, cap: u32) -> Fx {
    fixture_in(TestDb::empty(), n, address, verified, cap)
}

const MIN: i64 = 60;

impl Fx {
    fn cref(&self, i: usize) -> ChannelRef {
        ChannelRef {
            org_key: self.tenant.key,
            key: self.channels[i].key,
        }
    }

    /// Writes `v` to channel `i` at `t`.
    fn write(&self, i: usize, t: Timestamp, v: f64) {
        write_points(
            &self.db,
            &self.tenant,
            &[(self.cref(i), Point::new(t, v).unwrap())],
        )
        .unwrap();
    }

    fn store(&self) -> SqlStore<&TestDb> {
        SqlStore(&self.db)
    }

    /// Subscribes `user` to a topic; the subscription's id.
    fn subscribe(
        &self,
        user: fieldline_domain::UserId,
        target: TopicTarget,
        kinds: &[&str],
        email: bool,
    ) -> i64 {
        self.store()
            .add_topic_subscription(
                &self.tenant,
                user,
                &NewTopicSubscription {
                    target,
                    kinds: Kinds::parse(kinds).unwrap(),
                    email,
                },
                Timestamp::now(),
            )
            .unwrap()
            .id
    }

    /// A new member `email` of the organization (read-only).
    fn member(&self, email: &str) -> fieldline_domain::UserId {
        let (_, secret) = create_invitation(
            &self.db,
            &self.tenant,
            &Email::parse(email).unwrap(),
            fieldline_domain::Permissions::default(),
            None,
            Timestamp::now(),
        )
        .unwrap();
        let hash = password();
        let (_, m) = accept_invitation(
            &self.db,
            &secret,
            fieldline_service::ports::Accept::NewUser(&hash),
            Timestamp::now(),
        )
        .unwrap();
        m.user
    }

    fn run(&self, now: Timestamp) -> notifier::Report {
        notifier::run(&self.store(), &settings(), now, &mut || true).unwrap()
    }

    /// The e-mails in the outbox, oldest first.
    fn outbox(&self) -> Vec<Mail> {
        Db::execute(&self.db, "SELECT payload FROM outbox ORDER BY key", &[])
            .unwrap()
            .iter()
            .map(|r| Mail::from_json(r.text(0).unwrap()).unwrap())
            .collect()
    }

    fn queued(&self) -> u64 {
        queue_length(&self.db).unwrap()
    }
}

fn later(t: Timestamp, secs: i64) -> Timestamp {
    t.add_secs(secs)
}

#[test]
fn the_queue_holds_each_write_to_a_channel_with_thresholds_once() {
    let fx = fixture(2, None, false, 100);
    // A channel without thresholds queues nothing.
    let mut plain = ChannelFields::named(Name::parse("Humidity").unwrap());
    plain.unit = Unit::parse("%").unwrap();
    let sensor = list_sensors(&fx.db, &fx.tenant, fx.device.id).unwrap()[0].id;
    let h = create_channel(&fx.db, &fx.tenant, sensor, None, &plain, Timestamp::now()).unwrap();
    let t = Timestamp::now();
    let before = Timestamp::now().as_millis();
    write_points(
        &fx.db,
        &fx.tenant,
        &[
            (fx.cref(0), Point::new(t, 1.0).unwrap()),
            (fx.cref(1), Point::new(t, 2.0).unwrap()),
            (
                ChannelRef {
                    org_key: fx.tenant.key,
                    key: h.key,
                },
                Point::new(t, 3.0).unwrap(),
            ),
        ],
    )
    .unwrap();
    // A rewrite of the same time is queued again (the engine counts it stale).
    fx.write(0, t, 9.0);
    // Points with old timestamps are queued in the order they are stored.
    fx.write(1, later(t, -3600), 4.0);
    let q = fx.store().queued_points(100).unwrap();
    let got: Vec<_> = q.iter().map(|p| (p.channel_key, p.point.value())).collect();
    let (a, b) = (fx.channels[0].key, fx.channels[1].key);
    assert_eq!(got, [(a, 1.0), (b, 2.0), (a, 9.0), (b, 4.0)]);
    assert!(q.windows(2).all(|w| w[0].seq < w[1].seq));
    let after = Timestamp::now().as_millis();
    for p in &q {
        let s = p.stored_at.as_millis();
        assert!(
            before - 1 <= s && s <= after + 1,
            "stored_at {s} not in {before}..{after}"
        );
    }
    // A run evaluates them once and empties the queue; the next run evaluates nothing.
    let r = fx.run(Timestamp::now());
    // Within a run a channel's points are taken in time order: the rewrite of `t` is stale,
    // the older point stored later is not.
    assert_eq!((r.points, r.channels, r.stale), (4, 2, 1));
    assert!(r.drained);
    assert_eq!(fx.queued(), 0);
    assert_eq!(fx.run(Timestamp::now()).points, 0);
}

#[test]
fn one_write_queues_each_time_once_with_the_value_it_leaves_and_a_refused_write_nothing() {
    use fieldline_service::ports::{Reservation, Reserved};
    let fx = fixture(2, None, false, 100);
    let (a, b) = (fx.cref(0), fx.cref(1));
    let t = Timestamp::now();
    let quota = |units, limit| Reservation {
        key: "quota".to_owned(),
        units,
        limit,
        expires_at: later(t, 3600),
    };
    let pt = |at: Timestamp, v: f64| Point::new(at, v).unwrap();
    let queued = || {
        let mut q: Vec<_> = fx
            .store()
            .queued_points(100)
            .unwrap()
            .iter()
            .map(|p| (p.channel_key, p.point.ts().as_millis(), p.point.value()))
            .collect();
        // The order within one statement is no promise: the engine sorts a channel's points.
        q.sort_by(|x, y| x.partial_cmp(y).unwrap());
        q
    };
    // The same time twice in one body is stored once, with the last value, and queued so.
    let body = [
        (a, pt(t, 1.0)),
        (b, pt(t, 2.0)),
        (a, pt(t, 5.0)),
        (a, pt(later(t, -60), 3.0)),
    ];
    let got = write_points_within(&fx.db, &fx.tenant, &body, &[quota(4, 10)]).unwrap();
    assert_eq!(got, Reserved::Written(4));
    let ms = t.as_millis();
    let mut want = vec![
        (a.key, ms - 60_000, 3.0),
        (a.key, ms, 5.0),
        (b.key, ms, 2.0),
    ];
    want.sort_by(|x, y| x.partial_cmp(y).unwrap());
    assert_eq!(queued(), want);
    // Refused past the quota: nothing stored, nothing queued.
    let refused = [(a, pt(later(t, 60), 7.0)), (b, pt(later(t, 60), 8.0))];
    let got = write_points_within(&fx.db, &fx.tenant, &refused, &[quota(8, 10)]).unwrap();
    assert_eq!(got, Reserved::OverLimit(0));
    assert_eq!(queued(), want);
}

#[test]
fn a_value_beyond_the_threshold_mails_once_with_everything_a_reader_needs() {
    let fx = fixture(1, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::parse_rfc3339(&Timestamp::now().to_rfc3339()).unwrap();
    fx.write(0, t, 5.0);
    fx.write(0, later(t, MIN), 12.25);
    fx.write(0, later(t, 2 * MIN), 14.0);
    let now = later(t, 3 * MIN);
    let r = fx.run(now);
    assert_eq!((r.transitions, r.mails), (2, 1), "{r:?}");
    let mails = fx.outbox();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to, "ops@dairy.example");
    assert_eq!(
        m.subject,
        "[Dairy Co] Threshold exceeded: Cold room / Probe / T1"
    );
    let opened = later(t, MIN);
    for part in [
        "Organization: Dairy Co",
        &format!("Device: Cold room ({})", fx.device.id.as_str()),
        "Sensor: Probe",
        "Channel: T1 (t1)",
        "Value 12.25 °C",
        "exceeds the threshold > 8 °C",
        &opened.display_in_zone("Europe/Rome"),
        &opened.to_rfc3339(),
        "Latest value 14 °C",
        &format!(
            "https://console.example/devices/{}/channels/{}",
            fx.device.id.as_str(),
            fx.channels[0].id.as_str()
        ),
    ] {
        assert!(m.text.contains(part), "{part:?} in\n{}", m.text);
    }
    assert!(opened
        .display_in_zone("Europe/Rome")
        .contains("(Europe/Rome)"));
    assert!(
        m.html
            .contains("<th align=\"left\">Sensor</th><td>Probe</td>"),
        "{}",
        m.html
    );
    assert!(m.html.contains("12.25 °C"), "{}", m.html);
    assert!(m.message_id.ends_with("@fieldline.invalid"));
    // More runs: nothing new.
    assert_eq!(fx.run(later(now, 5 * MIN)).mails, 0);
    assert_eq!(fx.outbox().len(), 1);
}

#[test]
fn every_alert_is_an_in_app_notification_to_read_and_dismiss() {
    use fieldline_service::ports::Alarms;
    // No address at all: no e-mail, but the notification.
    let fx = fixture(1, None, false, 100);
    let store = fx.store();
    // The administrator subscribes to the organization's alerts (in-app only).
    fx.subscribe(
        fx.admin,
        TopicTarget::Organization,
        &["alarm", "normal"],
        false,
    );
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    let r = fx.run(t);
    assert_eq!((r.mails, r.notifications, r.no_address), (0, 1, 1));
    let list = store
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap();
    assert_eq!(list.len(), 1);
    let n = &list[0];
    assert_eq!((n.kind.as_str(), n.channel), ("alarm", fx.channels[0].id));
    assert_eq!(
        n.title,
        "[Dairy Co] Threshold exceeded: Cold room / Probe / T1"
    );
    assert!(
        n.body.contains("exceeds the threshold > 8 °C"),
        "{}",
        n.body
    );
    assert_eq!(n.read_at, None);
    // Another organization sees none of it and cannot touch it.
    let stranger = Tenant::new(
        fx.tenant.key + 1,
        fieldline_domain::OrgId::generate().unwrap(),
    );
    assert!(store
        .notifications(&stranger, fx.admin, false, 50)
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.read_notification(&stranger, fx.admin, n.id, t),
        Err(Error::NotFound(Entity::Notification))
    ));
    // Read, then dismissed.
    let read = store
        .read_notification(&fx.tenant, fx.admin, n.id, later(t, 5))
        .unwrap();
    assert_eq!(read.read_at, Some(later(t, 5)));
    assert_eq!(
        store
            .read_notification(&fx.tenant, fx.admin, n.id, later(t, 9))
            .unwrap()
            .read_at,
        Some(later(t, 5))
    );
    assert!(store
        .notifications(&fx.tenant, fx.admin, true, 50)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .notifications(&fx.tenant, fx.admin, false, 50)
            .unwrap()
            .len(),
        1
    );
    store
        .dismiss_notification(&fx.tenant, fx.admin, n.id, t)
        .unwrap();
    assert!(store
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.dismiss_notification(&fx.tenant, fx.admin, n.id, t),
        Err(Error::NotFound(Entity::Notification))
    ));
    // Back to normal is one too, newest first.
    fx.write(0, later(t, 1), 1.0);
    fx.run(later(t, 700));
    let list = store
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].kind, "normal");
}

#[test]
fn flapping_within_the_min_interval_gives_one_mail_then_one_summary() {
    let fx = fixture(1, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    // A run every minute, each seeing a flap: 12, 5, 12, 5, ... for nine minutes.
    let mut mails_per_run = Vec::new();
    for i in 0..9 {
        let v = if i % 2 == 0 { 12.0 } else { 5.0 };
        fx.write(0, later(t, i * MIN), v);
        mails_per_run.push(fx.run(later(t, i * MIN + 30)).mails);
    }
    assert_eq!(mails_per_run, [1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // The 600 s interval ends: one e-mail says how it is now and how often it changed.
    assert_eq!(fx.run(later(t, 600 + 29)).mails, 0);
    assert_eq!(fx.run(later(t, 600 + 30)).mails, 1);
    let m = &fx.outbox()[1];
    assert!(m.subject.contains("Threshold exceeded"), "{}", m.subject);
    assert!(m.text.contains("changed 8 times"), "{}", m.text);
    // Normal again later: back to normal, once.
    fx.write(0, later(t, 20 * MIN), 4.0);
    assert_eq!(fx.run(later(t, 20 * MIN + 30)).mails, 1);
    let m = &fx.outbox()[2];
    assert!(m.subject.contains("Back to normal"), "{}", m.subject);
    assert!(m.text.contains("back to normal with 4 °C"), "{}", m.text);
    assert_eq!(fx.run(later(t, 40 * MIN)).mails, 0);
}

#[test]
fn reminders_are_off_by_default_and_follow_the_device_setting() {
    let fx = fixture(1, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    fx.run(t);
    assert_eq!(
        fx.run(later(t, 5 * 3600)).mails,
        0,
        "no reminders by default"
    );
    set_notification_reminder(&fx.db, &fx.tenant, fx.device.id, Some(3600)).unwrap();
    // The next value's run sees the setting: the alarm has been open for five hours.
    fx.write(0, later(t, 5 * 3600), 13.0);
    assert_eq!(fx.run(later(t, 5 * 3600 + 1)).mails, 1);
    assert!(
        fx.outbox()[1].subject.contains("Reminder"),
        "{:?}",
        fx.outbox()[1]
    );
    assert_eq!(fx.run(later(t, 5 * 3600 + 2)).mails, 0);
    // Then every hour, with no new points.
    assert_eq!(fx.run(later(t, 6 * 3600)).mails, 0);
    assert_eq!(fx.run(later(t, 6 * 3600 + 1)).mails, 1);
    assert_eq!(fx.run(later(t, 6 * 3600 + 2)).mails, 0);
    // Closed: back to normal, and no more reminders.
    fx.write(0, later(t, 6 * 3600 + 10), 1.0);
    assert_eq!(fx.run(later(t, 7 * 3600)).mails, 1);
    assert!(fx.outbox()[3].subject.contains("Back to normal"));
    assert_eq!(fx.run(later(t, 9 * 3600)).mails, 0);
}

#[test]
fn an_alarm_whose_threshold_is_removed_is_dropped() {
    let fx = fixture(1, Some("ops@dairy.example"), true, 100);
    set_notification_reminder(&fx.db, &fx.tenant, fx.device.id, Some(3600)).unwrap();
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    assert_eq!(fx.run(t).mails, 1);
    // The threshold becomes a lower limit: the open upper alarm goes, no reminder follows.
    let mut f = fx.channels[0].fields.clone();
    f.thresholds =
        Thresholds::new(Some(Threshold::new(ThresholdOp::Lt, 0.0).unwrap()), None).unwrap();
    let comm = Some(fx.channels[0].communication_id.clone());
    update_channel(&fx.db, &fx.tenant, fx.channels[0].id, comm, &f).unwrap();
    fx.write(0, later(t, 1), 13.0);
    assert_eq!(fx.run(later(t, 2)).mails, 0);
    let rows = fx.store().channel_alarms(&[fx.channels[0].key]).unwrap();
    assert!(!rows[0].1.is_open());
    assert_eq!(fx.run(later(t, 2 * 3600)).mails, 0);
    // and the new limit alarms as any other
    fx.write(0, later(t, 2 * 3600), -1.0);
    assert_eq!(fx.run(later(t, 2 * 3600 + 1)).mails, 1);
}

#[test]
fn an_unconfirmed_address_gets_its_link_and_no_alerts_until_it_is_followed() {
    let fx = fixture(2, Some("new@dairy.example"), false, 100);
    let t = Timestamp::now();
    let r = fx.run(t);
    assert_eq!((r.verification_mails, r.mails), (1, 1));
    let link_mail = fx.outbox()[0].clone();
    assert_eq!(link_mail.to, "new@dairy.example");
    let token = link_mail
        .text
        .split("https://fl.example/notifier/verify?token=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a link")
        .to_owned();
    // Sent once per address.
    assert_eq!(fx.run(t).verification_mails, 0);
    // An alert meanwhile is withheld, and counted.
    fx.write(0, t, 12.0);
    let r = fx.run(later(t, 1));
    assert_eq!((r.mails, r.withheld_unverified), (0, 1));
    let key = notifier::withheld_unverified_key(fx.device.key);
    assert_eq!(fx.store().current(&key, t).unwrap(), 1);
    // The link confirms the address once.
    let store = fx.store();
    assert!(notifier::verify_address(&store, "garbage", t).is_err());
    let (device, email) = notifier::verify_address(&store, &token, t).unwrap();
    assert_eq!(
        (device, email.as_str()),
        (fx.device.id, "new@dairy.example")
    );
    assert!(matches!(
        notifier::verify_address(&store, &token, t),
        Err(Error::NotFound(_))
    ));
    assert!(
        device_by_uuid(&fx.db, &fx.tenant, fx.device.uuid)
            .unwrap()
            .notification_verified
    );
    fx.write(1, later(t, 2), 12.0);
    let r = fx.run(later(t, 3));
    assert_eq!((r.mails, r.withheld_unverified), (1, 0));
    assert!(fx.outbox()[1].subject.contains("/ T2"));
    // A new address needs a new confirmation: the old link does not carry over.
    let mut fields = fx.device.fields.clone();
    fields.notification_email = Some(Email::parse("other@dairy.example").unwrap());
    update_device(&fx.db, &fx.tenant, fx.device.id, &fields, t).unwrap();
    let r = fx.run(later(t, 4));
    assert_eq!(r.verification_mails, 1);
    assert_eq!(fx.outbox()[2].to, "other@dairy.example");
}

#[test]
fn the_daily_cap_holds_per_utc_day_with_one_last_mail_saying_so() {
    let fx = fixture(5, Some("ops@dairy.example"), true, 3);
    // Just before a UTC midnight (value times stay within two days of real storage time).
    let midnight = Timestamp::now().day_start().add_secs(24 * 3600);
    let t = later(midnight, -10 * MIN);
    for i in 0..5 {
        fx.write(i, Timestamp::now(), 12.0);
    }
    let r = fx.run(t);
    assert_eq!((r.mails, r.withheld_over_cap), (3, 2), "{r:?}");
    let mails = fx.outbox();
    assert!(!mails[1].subject.contains("daily limit"));
    assert!(
        mails[2].subject.contains("(daily limit reached)"),
        "{}",
        mails[2].subject
    );
    assert!(
        mails[2].text.contains("allows 3 a day (UTC)"),
        "{}",
        mails[2].text
    );
    let key = notifier::mails_today_key(fx.tenant.key, t);
    assert_eq!(
        fx.store().current(&key, t).unwrap(),
        5,
        "sent and withheld, counted"
    );
    // After midnight UTC the count starts again: back-to-normal e-mails go.
    for i in 0..5 {
        fx.write(i, Timestamp::now().add_millis(1000), 1.0);
    }
    let r = fx.run(later(midnight, MIN));
    assert_eq!((r.mails, r.withheld_over_cap), (3, 2), "{r:?}");
    let day2 = notifier::mails_today_key(fx.tenant.key, later(midnight, MIN));
    assert_ne!(day2, key);
    assert_eq!(fx.store().current(&day2, t).unwrap(), 5);
    assert_eq!(fx.run(later(midnight, 20 * MIN)).mails, 0);
}

/// A connection that fails the `n`-th insert into the outbox, as a run killed half way.
struct Dies<'a> {
    db: &'a TestDb,
    left: Cell<u32>,
}

impl Db for Dies<'_> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        if sql.starts_with("INSERT INTO outbox") {
            let n = self.left.get();
            self.left.set(n.saturating_sub(1));
            if n == 1 {
                return Err(Error::backend(BackendFailure::Other, "killed half way"));
            }
        }
        Db::execute(self.db, sql, params)
    }

    fn dialect(&self) -> crate::Dialect {
        self.db.dialect()
    }
}

#[test]
fn a_run_killed_half_way_changes_nothing_and_the_next_mails_each_alert_once() {
    let fx = fixture(6, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    for i in 0..6 {
        fx.write(i, t, 10.0 + i as f64);
    }
    let dying = SqlStore(Dies {
        db: &fx.db,
        left: Cell::new(4),
    });
    assert!(notifier::run(&dying, &settings(), t, &mut || true).is_err());
    assert_eq!(fx.outbox().len(), 0, "the transaction rolled back");
    assert_eq!(fx.queued(), 6, "the cursor did not move");
    assert!(fx
        .store()
        .channel_alarms(&[fx.channels[0].key])
        .unwrap()
        .is_empty());
    let r = fx.run(t);
    assert_eq!((r.points, r.mails), (6, 6));
    let mut to_channels: Vec<String> = fx.outbox().iter().map(|m| m.subject.clone()).collect();
    to_channels.sort();
    to_channels.dedup();
    assert_eq!(to_channels.len(), 6);
    assert_eq!(fx.run(later(t, 1)).mails, 0);
}

#[test]
fn overlapping_runs_evaluate_each_point_once() {
    let fx = fixture_in(TestDb::shared(), 40, Some("ops@dairy.example"), true, 1000);
    let t = Timestamp::now();
    // 40 channels, each 12 then 5 then 13 (opened, closed, opened): 3 changes, 1 mail each.
    for (k, v) in [12.0, 5.0, 13.0].into_iter().enumerate() {
        let pts: Vec<_> = (0..40)
            .map(|i| (fx.cref(i), Point::new(later(t, k as i64), v).unwrap()))
            .collect();
        write_points(&fx.db, &fx.tenant, &pts).unwrap();
    }
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let db = fx.db.connect();
            std::thread::spawn(move || {
                notifier::run(&SqlStore(&db), &settings(), t, &mut || true).unwrap()
            })
        })
        .collect();
    let reports: Vec<_> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let points: u64 = reports.iter().map(|r| r.points).sum();
    let changes: u64 = reports.iter().map(|r| r.transitions).sum();
    let mails: u64 = reports.iter().map(|r| r.mails).sum();
    assert_eq!((points, changes, mails), (120, 120, 40), "{reports:?}");
    assert_eq!(fx.outbox().len(), 40);
}

/// A mail server for the sender: fails while `down`, records what it accepts.
#[derive(Default)]
struct Server {
    down: bool,
    refuse: bool,
    got: RefCell<Vec<Mail>>,
    /// Accepts, then the sender "dies" before it records the delivery.
    die_after_accepting: Option<usize>,
}

impl Mailer for &Server {
    fn send(&mut self, mail: &Mail) -> std::result::Result<(), SendError> {
        if self.down {
            return Err(SendError::Transient("connection refused".into()));
        }
        if self.refuse {
            return Err(SendError::Permanent("550 no such user".into()));
        }
        self.got.borrow_mut().push(mail.clone());
        if self.die_after_accepting == Some(self.got.borrow().len()) {
            panic!("the sender died");
        }
        Ok(())
    }
}

#[test]
fn the_sender_retries_with_backoff_and_delivers_each_mail_once_after_an_outage() {
    let fx = fixture(3, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    for i in 0..3 {
        fx.write(i, t, 12.0);
    }
    fx.run(t);
    let store = fx.store();
    let clock = Cell::new(t);
    let deliver = |server: &Server| {
        let mut m: &Server = server;
        notifier::deliver(&store, &mut m, &|| clock.get(), &mut || true).unwrap()
    };
    // Down: every attempt fails, and waits longer each time (30 s, 60 s, 120 s, ... 1 h).
    let down = Server {
        down: true,
        ..Server::default()
    };
    let mut waited = Vec::new();
    for _ in 0..9 {
        let d = deliver(&down);
        assert_eq!((d.sent, d.failed), (0, 3));
        // nothing is due before the backoff ends
        assert_eq!(deliver(&down).failed, 0);
        let next: i64 = fx.db.query_i64("SELECT min(next_attempt_at) FROM outbox");
        waited.push((next - clock.get().as_millis()) / 1000);
        clock.set(Timestamp::from_millis(next).unwrap());
    }
    assert_eq!(waited, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(store.backlog(notifier::EMAIL_TOPIC).unwrap().0, 3);
    // Back: each e-mail arrives once.
    let up = Server::default();
    assert_eq!(deliver(&up).sent, 3);
    assert_eq!(deliver(&up).sent, 0);
    assert_eq!(up.got.borrow().len(), 3);
    let mut ids: Vec<_> = up
        .got
        .borrow()
        .iter()
        .map(|m| m.message_id.clone())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert_eq!(store.backlog(notifier::EMAIL_TOPIC).unwrap().0, 0);
    // Delivered e-mails are kept a week, then purged; unsent ones never are.
    fx.write(0, later(t, 1), 1.0);
    fx.run(later(clock.get(), 3600));
    assert_eq!(store.backlog(notifier::EMAIL_TOPIC).unwrap().0, 1);
    let sent_at = clock.get();
    let week = notifier::KEEP_SENT_MS / 1000;
    let purge = |now: Timestamp| notifier::purge_sent(&store, now, &mut || true).unwrap();
    assert_eq!(purge(later(sent_at, week)), 0);
    assert_eq!(purge(later(sent_at, week + 1)), 3);
    assert_eq!(fx.outbox().len(), 1);
    assert_eq!(purge(later(sent_at, 10 * week)), 0);
}

#[test]
fn a_sender_that_dies_after_the_server_accepted_sends_that_one_again_with_its_message_id() {
    let fx = fixture(3, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    for i in 0..3 {
        fx.write(i, t, 12.0);
    }
    fx.run(t);
    let store = fx.store();
    let dies = Server {
        die_after_accepting: Some(2),
        ..Server::default()
    };
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut m: &Server = &dies;
        notifier::deliver(&store, &mut m, &|| t, &mut || true)
    }));
    assert!(crashed.is_err());
    let accepted: Vec<_> = dies
        .got
        .borrow()
        .iter()
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(accepted.len(), 2);
    // The third was leased and never tried; the second was accepted but not recorded. Within
    // the lease nothing is sent again; after it, both go (the second a duplicate with its
    // Message-ID), the first never again.
    let next = Server::default();
    let mut m: &Server = &next;
    let within = notifier::deliver(&store, &mut m, &|| t.add_secs(60), &mut || true).unwrap();
    assert_eq!(within.sent, 0);
    let after = notifier::deliver(
        &store,
        &mut m,
        &|| t.add_secs(notifier::LEASE_SECS),
        &mut || true,
    )
    .unwrap();
    assert_eq!(after.sent, 2);
    let again: Vec<_> = next
        .got
        .borrow()
        .iter()
        .map(|m| m.message_id.clone())
        .collect();
    assert!(again.contains(&accepted[1]));
    assert!(!again.contains(&accepted[0]));
}

#[test]
fn a_refused_mail_is_kept_and_retried_rarely() {
    let fx = fixture(1, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    fx.run(t);
    let store = fx.store();
    let refuse = Server {
        refuse: true,
        ..Server::default()
    };
    let mut m: &Server = &refuse;
    let d = notifier::deliver(&store, &mut m, &|| t, &mut || true).unwrap();
    assert_eq!(d.failed, 1);
    assert!(d.last_error.unwrap().contains("550"));
    let next: i64 = fx.db.query_i64("SELECT next_attempt_at FROM outbox");
    assert_eq!((next - t.as_millis()) / 1000, 6 * 3600);
}

/// The e-mails in the outbox to `to`, oldest first.
fn mails_to(fx: &Fx, to: &str) -> Vec<Mail> {
    fx.outbox().into_iter().filter(|m| m.to == to).collect()
}

#[test]
fn members_get_alerts_by_their_topics_each_with_their_own_read_state() {
    let fx = fixture(2, Some("ops@dairy.example"), true, 100);
    let store = fx.store();
    let reader = fx.member("reader@example.com");
    let idle = fx.member("idle@example.com");
    // admin: channel T1, alarms, by e-mail; reader: the device, back to normal, by e-mail,
    // and the organization, every kind, in-app; idle: nothing.
    fx.subscribe(
        fx.admin,
        TopicTarget::Channel(fx.channels[0].id),
        &["alarm"],
        true,
    );
    fx.subscribe(reader, TopicTarget::Device(fx.device.id), &["normal"], true);
    fx.subscribe(
        reader,
        TopicTarget::Organization,
        &["alarm", "normal", "reminder"],
        false,
    );
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    let r = fx.run(t);
    assert_eq!((r.notifications, r.member_mails), (1, 1), "{r:?}");
    // The device's address keeps its e-mail; the admin gets one at their account address.
    assert_eq!(mails_to(&fx, "ops@dairy.example").len(), 1);
    let admin_mails = mails_to(&fx, "admin@example.com");
    assert_eq!(admin_mails.len(), 1);
    assert_eq!(
        admin_mails[0].subject,
        "[Dairy Co] Threshold exceeded: Cold room / Probe / T1"
    );
    assert!(mails_to(&fx, "reader@example.com").is_empty());
    assert_eq!(
        store
            .notifications(&fx.tenant, fx.admin, false, 50)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .notifications(&fx.tenant, reader, false, 50)
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .notifications(&fx.tenant, idle, false, 50)
        .unwrap()
        .is_empty());
    // An alarm on T2: the admin's topic is T1 only.
    fx.write(1, t, 20.0);
    fx.run(later(t, 1));
    assert_eq!(mails_to(&fx, "admin@example.com").len(), 1);
    assert_eq!(
        store
            .notifications(&fx.tenant, fx.admin, false, 50)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .notifications(&fx.tenant, reader, false, 50)
            .unwrap()
            .len(),
        2
    );
    // T1 back to normal: the reader's device topic mails it; the admin's alarm-only does not.
    fx.write(0, later(t, 2), 1.0);
    fx.run(later(t, 700));
    let reader_mails = mails_to(&fx, "reader@example.com");
    assert_eq!(reader_mails.len(), 1);
    assert!(
        reader_mails[0].subject.contains("Back to normal"),
        "{}",
        reader_mails[0].subject
    );
    assert_eq!(mails_to(&fx, "admin@example.com").len(), 1);
    // Read and dismissed are each member's own.
    let first = store
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap()[0]
        .id;
    store
        .read_notification(&fx.tenant, fx.admin, first, later(t, 800))
        .unwrap();
    store
        .dismiss_notification(&fx.tenant, fx.admin, first, later(t, 800))
        .unwrap();
    assert!(store
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap()
        .is_empty());
    let reader_list = store.notifications(&fx.tenant, reader, false, 50).unwrap();
    assert_eq!(reader_list.len(), 3);
    assert!(reader_list.iter().all(|n| n.read_at.is_none()));
    // A member cannot read what was not sent to them.
    assert!(matches!(
        store.read_notification(&fx.tenant, idle, first, t),
        Err(Error::NotFound(Entity::Notification))
    ));
    // Unsubscribed: nothing more.
    let subs = store.topic_subscriptions(&fx.tenant, reader).unwrap();
    assert_eq!(subs.len(), 2);
    for s in &subs {
        store
            .delete_topic_subscription(&fx.tenant, reader, s.id)
            .unwrap();
    }
    assert!(matches!(
        store.delete_topic_subscription(&fx.tenant, reader, subs[0].id),
        Err(Error::NotFound(Entity::TopicSubscription))
    ));
    fx.write(0, later(t, 3), 30.0);
    fx.run(later(t, 2000));
    assert_eq!(
        store
            .notifications(&fx.tenant, reader, true, 50)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(mails_to(&fx, "reader@example.com").len(), 1);
}

#[test]
fn subscriptions_and_notifications_stay_in_their_organization() {
    let fx = fixture(1, None, false, 100);
    let store = fx.store();
    let (other, _, stranger) = sign_up(
        &fx.db,
        &OrgFields::named(OrgName::parse("Other Co").unwrap()),
        &Subscription::default(),
        &Email::parse("b@example.com").unwrap(),
        &password(),
        Timestamp::now(),
    )
    .unwrap();
    let mine = fx.subscribe(fx.admin, TopicTarget::Organization, &["alarm"], true);
    // The other organization's user subscribes to all of theirs, and tries ours.
    let theirs = NewTopicSubscription {
        target: TopicTarget::Organization,
        kinds: Kinds::ALL,
        email: true,
    };
    store
        .add_topic_subscription(&other, stranger.id, &theirs, Timestamp::now())
        .unwrap();
    let ours = NewTopicSubscription {
        target: TopicTarget::Channel(fx.channels[0].id),
        ..theirs.clone()
    };
    assert!(matches!(
        store.add_topic_subscription(&other, stranger.id, &ours, Timestamp::now()),
        Err(Error::NotFound(Entity::Channel))
    ));
    assert!(matches!(
        store.add_topic_subscription(&fx.tenant, stranger.id, &theirs, Timestamp::now()),
        Err(Error::NotFound(Entity::Member))
    ));
    assert!(matches!(
        store.delete_topic_subscription(&other, stranger.id, mine),
        Err(Error::NotFound(Entity::TopicSubscription))
    ));
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    fx.run(t);
    assert_eq!(mails_to(&fx, "admin@example.com").len(), 1);
    assert!(mails_to(&fx, "b@example.com").is_empty());
    assert!(store
        .notifications(&other, stranger.id, false, 50)
        .unwrap()
        .is_empty());
    let n = store
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap()[0]
        .id;
    assert!(matches!(
        store.read_notification(&other, stranger.id, n, t),
        Err(Error::NotFound(Entity::Notification))
    ));
    assert!(store
        .notifications(&other, fx.admin, false, 50)
        .unwrap()
        .is_empty());
}

#[test]
fn do_not_disturb_holds_member_mails_then_one_digest_once() {
    let fx = fixture(2, Some("ops@dairy.example"), true, 100);
    let store = fx.store();
    fx.subscribe(
        fx.admin,
        TopicTarget::Organization,
        &["alarm", "normal"],
        true,
    );
    let t = Timestamp::now();
    let quiet = QuietHours {
        periods: vec![fieldline_domain::topics::Period {
            from: t,
            to: later(t, 3600),
        }],
        ..QuietHours::default()
    };
    store.set_quiet_hours(&fx.tenant, fx.admin, &quiet).unwrap();
    assert_eq!(store.quiet_hours(&fx.tenant, fx.admin).unwrap(), quiet);
    fx.write(0, t, 12.0);
    let r = fx.run(t);
    assert_eq!((r.held_quiet, r.member_mails), (1, 0), "{r:?}");
    fx.write(1, later(t, 60), 15.0);
    fx.run(later(t, 120));
    fx.write(0, later(t, 60), 2.0);
    fx.run(later(t, 900));
    // In-app notifications and the device's address are not held; the member's e-mails are.
    assert_eq!(
        store
            .notifications(&fx.tenant, fx.admin, false, 50)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(mails_to(&fx, "ops@dairy.example").len(), 3);
    assert!(mails_to(&fx, "admin@example.com").is_empty());
    assert_eq!(fx.run(later(t, 3599)).digests, 0);
    // The period ends: one digest with the three, once.
    assert_eq!(fx.run(later(t, 3600)).digests, 1);
    assert_eq!(fx.run(later(t, 3660)).digests, 0);
    let mails = mails_to(&fx, "admin@example.com");
    assert_eq!(mails.len(), 1);
    let d = &mails[0];
    assert_eq!(
        d.subject,
        "Digest: 3 notifications held during do-not-disturb"
    );
    for part in [
        "- [Dairy Co] Threshold exceeded: Cold room / Probe / T1",
        "- [Dairy Co] Threshold exceeded: Cold room / Probe / T2",
        "- [Dairy Co] Back to normal: Cold room / Probe / T1",
        "Value 15 °C",
    ] {
        assert!(d.text.contains(part), "{part:?} in\n{}", d.text);
    }
    assert!(d.message_id.starts_with("digest."), "{}", d.message_id);
    // After the period, e-mails go at once again.
    fx.write(0, later(t, 3700), 30.0);
    let r = fx.run(later(t, 3700));
    assert_eq!((r.member_mails, r.held_quiet), (1, 0), "{r:?}");
}

#[test]
fn an_alert_nobody_subscribed_to_is_mailed_to_the_device_but_not_stored_in_app() {
    let fx = fixture(1, Some("ops@dairy.example"), true, 100);
    let t = Timestamp::now();
    fx.write(0, t, 12.0);
    let r = fx.run(t);
    assert_eq!(
        (r.mails, r.notifications, r.member_mails),
        (1, 0, 0),
        "{r:?}"
    );
    let stored: i64 = fx.db.query_i64("SELECT count(*) FROM notifications");
    assert_eq!(stored, 0);
    assert!(fx
        .store()
        .notifications(&fx.tenant, fx.admin, false, 50)
        .unwrap()
        .is_empty());
}
