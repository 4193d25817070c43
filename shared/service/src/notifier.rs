//! The threshold notifier (Sensorbis "Threshold notifications"): one run evaluates every point
//! stored since the last run with the alarm engine and writes the e-mails the alarm changes
//! cause to the outbox; [`deliver`] drains the outbox through a [`Mailer`].
//!
//! - **Cursor.** Points to evaluate are the [`Alarms`] queue: storage appends every point
//!   written to a channel with thresholds, in the writing transaction, with the moment it was
//!   stored. [`run`] takes the oldest [`BATCH`] and, in ONE transaction, advances the alarm
//!   states, writes the e-mails and removes those points from the queue. A run that dies before
//!   the commit leaves states, e-mails and queue as they were, and the next run evaluates the
//!   same points; a committed batch is never evaluated again. Two overlapping runs take turns on
//!   the write lock (the transaction begins with it), so the second reads what the first left.
//!   "Stored since" is the append order, not the points' timestamps: a device's buffered upload
//!   of last night's values is evaluated when it arrives (the ±2 days rule still applies).
//! - **Rules** per channel: [`ChannelAlarms::decide`] (minimum interval, flapping, back to
//!   normal, reminders). Per device: an e-mail goes only to a confirmed address
//!   ([`verification_mails`] sends the one-time link); one withheld for an unconfirmed address
//!   is counted under [`withheld_unverified_key`]. Per organization: at most the subscription's
//!   e-mails per UTC day, counted under [`mails_today_key`]; the last one says the limit is
//!   reached, and the count goes on past the limit (the number withheld is count - limit).

use std::collections::HashMap;

use fieldline_domain::alarm::{Condition, Observation};
use fieldline_domain::notify::{escape_html, ChannelAlarms, Mail, MailKind, MailSettings};
use fieldline_domain::{Timestamp, TokenSecret};

use crate::error::{Error, Result};
use fieldline_domain::topics::{recipients, TopicSubscription};

use crate::ports::{AddressToVerify, AlarmSubject, Atomic, QueuedPoint, Store, Subscriber};

/// Queued points per transaction: large enough that a million points take 50 commits, small
/// enough that ingestion waits a fraction of a second for the writer.
pub const BATCH: usize = 20_000;
/// Channels with a held e-mail or a reminder due, per transaction.
const DUE_BATCH: usize = 1000;
/// Verification e-mails per run.
const VERIFY_BATCH: usize = 100;
/// The outbox topic of e-mails.
pub const EMAIL_TOPIC: &str = "email";

/// What e-mails link to and come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The console's base URL: alerts link to `{console_url}/devices/{device}/channels/{channel}`.
    pub console_url: String,
    /// This application's public base URL: verification links are
    /// `{public_url}/notifier/verify?token=...`.
    pub public_url: String,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub batches: u64,
    pub points: u64,
    pub channels: u64,
    pub transitions: u64,
    /// E-mails written to the outbox (alerts, back to normal, reminders, verification).
    pub mails: u64,
    pub verification_mails: u64,
    /// In-app notifications added (one per alert that a member is subscribed to, whatever
    /// its e-mails became).
    pub notifications: u64,
    pub withheld_unverified: u64,
    pub withheld_over_cap: u64,
    /// Alarm changes on devices without a notification address.
    pub no_address: u64,
    pub outside_window: u64,
    pub stale: u64,
    /// Whether the queue was emptied (false when the time budget ran out first).
    pub drained: bool,
    /// Alert e-mails to subscribed members written to the outbox.
    pub member_mails: u64,
    /// Alert e-mails to members held by a do-not-disturb period.
    pub held_quiet: u64,
    /// Digest e-mails written (each replacing a member's held e-mails).
    pub digests: u64,
    /// elproMONITOR incidents opened and ended, and their messages written to the outbox.
    pub incidents_opened: u64,
    pub incidents_ended: u64,
    pub deviation_messages: u64,
}

/// The counter of an organization's notification e-mails on the UTC day of `now`.
pub fn mails_today_key(org_key: i64, now: Timestamp) -> String {
    format!("notify-mails|org:{org_key}|{}", now.utc_date())
}

/// The counter of e-mails withheld from a device because its address is not confirmed.
pub fn withheld_unverified_key(device_key: i64) -> String {
    format!("notify-withheld-unverified|device:{device_key}")
}

/// Counters of withheld e-mails are kept this long after their last increment's day.
const COUNTER_KEEP_MS: i64 = 400 * 24 * Timestamp::HOUR_MS;

/// One notifier run at `now`: verification e-mails, then the queued points batch by batch
/// while `more_time()` says so, then the channels with a held e-mail or reminder due.
pub fn run<S: Store + Atomic>(
    store: &S,
    settings: &Settings,
    now: Timestamp,
    more_time: &mut dyn FnMut() -> bool,
) -> Result<Report> {
    let mut report = Report::default();
    verification_mails(store, settings, now, &mut report)?;
    loop {
        if !more_time() {
            return Ok(report);
        }
        let mut done = false;
        store.atomically(&mut |s| {
            let points = s.queued_points(BATCH)?;
            let Some(last) = points.last().map(|p| p.seq) else {
                done = true;
                return Ok(());
            };
            let mut batch = Report::default();
            let mut thresholds = Vec::new();
            evaluate_with(
                s,
                settings,
                now,
                &points,
                &[],
                &mut batch,
                Some(&mut thresholds),
            )?;
            // The same batch's deviations, from the same engine states (docs/deviations.md).
            let mut dev = crate::deviations::Report::default();
            crate::deviations::evaluate(s, now, &points, &thresholds, &mut dev)?;
            batch.incidents_opened = dev.opened;
            batch.incidents_ended = dev.ended;
            batch.deviation_messages = dev.messages;
            s.dequeue_points(last)?;
            batch.batches = 1;
            merge(&mut report, &batch);
            done = points.len() < BATCH;
            Ok(())
        })?;
        if done {
            break;
        }
    }
    loop {
        let mut n = 0;
        store.atomically(&mut |s| {
            let due = s.channels_due(now, DUE_BATCH)?;
            n = due.len();
            let mut batch = Report::default();
            evaluate(s, settings, now, &[], &due, &mut batch)?;
            merge(&mut report, &batch);
            Ok(())
        })?;
        if n < DUE_BATCH || !more_time() {
            break;
        }
    }
    loop {
        let mut n = 0;
        store.atomically(&mut |s| {
            let mut batch = Report::default();
            n = release_digests(s, now, &mut batch)?;
            merge(&mut report, &batch);
            Ok(())
        })?;
        if n < DIGEST_BATCH || !more_time() {
            break;
        }
    }
    // No connection: the run's clock against each device's last contact.
    let dev = crate::deviations::tick(store, now)?;
    report.incidents_opened += dev.opened;
    report.incidents_ended += dev.ended;
    report.deviation_messages += dev.messages;
    report.drained = true;
    Ok(report)
}

/// Members whose held e-mails are released, per transaction.
const DIGEST_BATCH: usize = 100;

/// The idempotency key of the digest that replaces a member's held e-mails (the last of them
/// by key: a digest is written once, in the transaction that deletes what it replaces).
pub fn digest_key(org_key: i64, user_key: i64, last_held: i64) -> String {
    format!("digest:{org_key}:{user_key}:{last_held}")
}

/// For each member (up to [`DIGEST_BATCH`]) whose do-not-disturb period has ended: ONE digest
/// e-mail with every e-mail held, written to the outbox in the transaction (the caller's) that
/// deletes them; returns how many members.
pub fn release_digests(s: &dyn Store, now: Timestamp, report: &mut Report) -> Result<usize> {
    let members = s.members_with_released_mail(now, DIGEST_BATCH)?;
    for (tenant, user_key) in &members {
        let (org_key, user_key) = (tenant.key, *user_key);
        let held = s.take_released_mail(org_key, user_key, now)?;
        let Some(&(last, _)) = held.last() else {
            continue;
        };
        let mails = held
            .iter()
            .map(|(_, json)| Mail::from_json(json))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Corrupt(format!("held e-mail: {e}")))?;
        let key = digest_key(org_key, user_key, last);
        let digest = digest_mail(&mails, &key);
        if s.enqueue(tenant, EMAIL_TOPIC, &key, &digest.to_json(), now)? {
            report.digests += 1;
            report.mails += 1;
        }
    }
    Ok(members.len())
}

/// One e-mail with every held one, oldest first: their subjects as a list, then each in full.
pub fn digest_mail(held: &[Mail], key: &str) -> Mail {
    let to = held.first().map(|m| m.to.clone()).unwrap_or_default();
    let n = held.len();
    let subject = if n == 1 {
        "Digest: 1 notification held during do-not-disturb".to_owned()
    } else {
        format!("Digest: {n} notifications held during do-not-disturb")
    };
    let mut text = format!(
        "{n} notification e-mail{} arrived while you were not to be disturbed:\n\n",
        if n == 1 { "" } else { "s" }
    );
    let mut html = format!(
        "<p>{n} notification e-mail{} arrived while you were not to be disturbed:</p><ul>",
        if n == 1 { "" } else { "s" }
    );
    for m in held {
        text.push_str(&format!("- {}\n", m.subject));
        html.push_str(&format!("<li>{}</li>", escape_html(&m.subject)));
    }
    html.push_str("</ul>");
    for m in held {
        text.push_str(&format!("\n---\n{}\n\n{}", m.subject, m.text));
        html.push_str(&format!(
            "<hr><h3>{}</h3>{}",
            escape_html(&m.subject),
            m.html
        ));
    }
    Mail {
        to,
        subject,
        text,
        html,
        message_id: Mail::message_id_for(key),
    }
}

/// Adds a committed transaction's counts (a batch that rolled back adds nothing).
fn merge(into: &mut Report, b: &Report) {
    into.batches += b.batches;
    into.points += b.points;
    into.channels += b.channels;
    into.transitions += b.transitions;
    into.mails += b.mails;
    into.verification_mails += b.verification_mails;
    into.notifications += b.notifications;
    into.withheld_unverified += b.withheld_unverified;
    into.withheld_over_cap += b.withheld_over_cap;
    into.no_address += b.no_address;
    into.outside_window += b.outside_window;
    into.stale += b.stale;
    into.member_mails += b.member_mails;
    into.held_quiet += b.held_quiet;
    into.digests += b.digests;
    into.incidents_opened += b.incidents_opened;
    into.incidents_ended += b.incidents_ended;
    into.deviation_messages += b.deviation_messages;
}

/// A one-time link for each new unconfirmed address, each in the transaction that records it.
pub fn verification_mails<S: Store + Atomic>(
    store: &S,
    settings: &Settings,
    now: Timestamp,
    report: &mut Report,
) -> Result<()> {
    let mut sent = 0;
    store.atomically(&mut |s| {
        sent = 0;
        for address in s.addresses_to_verify(VERIFY_BATCH)? {
            let secret = TokenSecret::generate_invitation()?;
            if !s.add_verification(&address, &secret.hash(), now)? {
                continue;
            }
            let key = format!(
                "verify:{}:{}",
                address.device_id.as_str(),
                address.email.as_str()
            );
            let mail = verification_mail(&address, settings, secret.expose(), &key);
            s.enqueue(&address.tenant, EMAIL_TOPIC, &key, &mail.to_json(), now)?;
            sent += 1;
        }
        Ok(())
    })?;
    report.verification_mails += sent;
    report.mails += sent;
    Ok(())
}

fn verification_mail(a: &AddressToVerify, settings: &Settings, secret: &str, key: &str) -> Mail {
    let link = format!(
        "{}/notifier/verify?token={secret}",
        settings.public_url.trim_end_matches('/')
    );
    let subject = format!(
        "Confirm threshold notifications for {} ({})",
        a.device_name, a.org_name
    );
    let text = format!(
        "This address was entered to receive threshold notifications for the device \
         \"{}\" ({}) of the organization \"{}\".\n\nTo receive them, open this link once:\n{link}\n\n\
         Until it is opened, no notification is sent to this address. If you did not expect \
         this e-mail, ignore it.\n",
        a.device_name,
        a.device_id.as_str(),
        a.org_name
    );
    let html = format!(
        "<p>This address was entered to receive threshold notifications for the device \
         <b>{}</b> ({}) of the organization <b>{}</b>.</p>\
         <p>To receive them, open this link once: <a href=\"{link}\">confirm the address</a>.</p>\
         <p>Until it is opened, no notification is sent to this address. If you did not expect \
         this e-mail, ignore it.</p>",
        escape_html(&a.device_name),
        escape_html(a.device_id.as_str()),
        escape_html(&a.org_name)
    );
    Mail {
        to: a.email.as_str().to_owned(),
        subject,
        text,
        html,
        message_id: Mail::message_id_for(key),
    }
}

/// Follows a verification link: the device's notification address is confirmed.
pub fn verify_address(
    store: &dyn Store,
    token: &str,
    now: Timestamp,
) -> Result<(fieldline_domain::DeviceId, fieldline_domain::Email)> {
    let secret =
        TokenSecret::parse(token).map_err(|_| Error::NotFound(crate::error::Entity::Token))?;
    store.verify_address(&secret.hash(), now)
}

/// Advances the channels of `points` (in queue order) and the channels `due` (no new points),
/// and writes the e-mails their rows call for; all through `s`, inside the caller's
/// transaction.
pub fn evaluate(
    s: &dyn Store,
    settings: &Settings,
    now: Timestamp,
    points: &[QueuedPoint],
    due: &[i64],
    report: &mut Report,
) -> Result<()> {
    evaluate_with(s, settings, now, points, due, report, None)
}

/// [`evaluate`], also handing each channel's threshold transitions to `transitions` (the
/// deviation messages' input: one engine, several outputs).
pub fn evaluate_with(
    s: &dyn Store,
    settings: &Settings,
    now: Timestamp,
    points: &[QueuedPoint],
    due: &[i64],
    report: &mut Report,
    mut transitions: Option<&mut crate::deviations::ThresholdTransitions>,
) -> Result<()> {
    let mut by_channel: HashMap<i64, Vec<Observation>> = HashMap::new();
    let mut order: Vec<i64> = Vec::new();
    for p in points {
        by_channel
            .entry(p.channel_key)
            .or_insert_with(|| {
                order.push(p.channel_key);
                Vec::new()
            })
            .push(Observation::Value {
                point: p.point,
                stored_at: p.stored_at,
            });
    }
    for &k in due {
        by_channel.entry(k).or_insert_with(|| {
            order.push(k);
            Vec::new()
        });
    }
    report.points += points.len() as u64;
    if order.is_empty() {
        return Ok(());
    }
    let subjects: HashMap<i64, AlarmSubject> = s
        .alarm_subjects(&order)?
        .into_iter()
        .map(|a| (a.channel.key, a))
        .collect();
    let mut rows: HashMap<i64, ChannelAlarms> = s.channel_alarms(&order)?.into_iter().collect();
    let mut subscribers: HashMap<i64, Vec<Subscriber>> = HashMap::new();
    for key in order {
        // A channel deleted since its points were queued has nothing to evaluate.
        let Some(subject) = subjects.get(&key) else {
            continue;
        };
        let mut observations = by_channel.remove(&key).unwrap_or_default();
        // The engine takes a channel's values in time order (stable: a rewrite of the same
        // time stays after the value it replaced).
        observations.sort_by_key(|o| match o {
            Observation::Value { point, .. } => point.ts(),
            Observation::Tick { now } => *now,
        });
        let mut row = rows.remove(&key).unwrap_or_default();
        report.channels += 1;
        let conditions = Condition::thresholds(&subject.thresholds, subject.enumerated);
        // A condition whose threshold was removed (or turned from upper to lower) is gone with
        // its alarm: it is neither reminded of nor reported back to normal.
        row.conditions
            .retain(|k, _| conditions.iter().any(|c| c.key() == *k));
        for condition in conditions {
            let state = row.conditions.entry(condition.key()).or_default();
            let run = state.run(&condition, &observations);
            *state = run.state;
            report.transitions += run.transitions.len() as u64;
            report.outside_window += run.outside_window;
            report.stale += run.stale;
            row.record(&run.transitions);
            if let Some(out) = transitions.as_deref_mut() {
                if !run.transitions.is_empty() {
                    out.push((key, condition, run.transitions));
                }
            }
        }
        let mail_settings = MailSettings {
            min_interval_secs: subject.min_interval_secs,
            reminder_secs: subject.reminder_secs,
        };
        if let Some(kind) = row.decide(now, mail_settings) {
            let org = subject.tenant.key;
            if let std::collections::hash_map::Entry::Vacant(e) = subscribers.entry(org) {
                e.insert(s.subscribers(org)?);
            }
            let subs = &subscribers[&org];
            let plain: Vec<TopicSubscription> = subs.iter().map(|x| x.subscription).collect();
            let to = recipients(&plain, subject.device_key, subject.channel.key, kind);
            // Every alert is also an in-app notification of the members subscribed to it,
            // whatever becomes of its e-mails.
            let note = alarm_mail(subject, &row, kind, "", settings, None, "");
            let users: Vec<i64> = to.iter().map(|(u, _)| *u).collect();
            // No member subscribed: nobody would ever see it, so none is stored.
            if !users.is_empty() {
                s.add_notification(
                    subject.channel,
                    kind.as_str(),
                    &note.subject,
                    &note.text,
                    now,
                    &users,
                )?;
                report.notifications += 1;
            }
            mail_one(s, settings, subject, &row, kind, now, report)?;
            for (user, _) in to.iter().filter(|(_, by_mail)| *by_mail) {
                if let Some(member) = subs.iter().find(|x| x.subscription.user_key == *user) {
                    mail_member(s, settings, subject, &row, kind, member, now, report)?;
                }
            }
            row.mailed(kind, now);
        }
        s.save_channel_alarms(subject.channel, &row, row.due_at(mail_settings))?;
    }
    Ok(())
}

/// Sends (writes to the outbox) or withholds (counts) the e-mail of `kind` about a channel.
fn mail_one(
    s: &dyn Store,
    settings: &Settings,
    subject: &AlarmSubject,
    row: &ChannelAlarms,
    kind: MailKind,
    now: Timestamp,
    report: &mut Report,
) -> Result<()> {
    let Some(email) = &subject.email else {
        report.no_address += 1;
        return Ok(());
    };
    if !subject.verified {
        report.withheld_unverified += 1;
        s.increment(
            &withheld_unverified_key(subject.device_key),
            1,
            now.add_millis(COUNTER_KEEP_MS),
        )?;
        return Ok(());
    }
    let Some(last_today) = count_today(s, subject, now, report)? else {
        return Ok(());
    };
    let key = format!(
        "alarm:{}:{}:{}",
        subject.channel_id.as_str(),
        kind.as_str(),
        now.as_millis()
    );
    let mail = alarm_mail(
        subject,
        row,
        kind,
        email.as_str(),
        settings,
        last_today,
        &key,
    );
    if s.enqueue(&subject.tenant, EMAIL_TOPIC, &key, &mail.to_json(), now)? {
        report.mails += 1;
    }
    Ok(())
}

/// Counts one e-mail against the organization's daily cap: `None` when over it (counted as
/// withheld), `Some(Some(cap))` for the last one allowed today, `Some(None)` otherwise.
fn count_today(
    s: &dyn Store,
    subject: &AlarmSubject,
    now: Timestamp,
    report: &mut Report,
) -> Result<Option<Option<u64>>> {
    let day_end = now.day_start().add_millis(24 * Timestamp::HOUR_MS);
    let n = s.increment(
        &mails_today_key(subject.tenant.key, now),
        1,
        day_end.add_millis(COUNTER_KEEP_MS),
    )?;
    let cap = u64::from(subject.emails_per_day);
    if n > cap {
        report.withheld_over_cap += 1;
        return Ok(None);
    }
    Ok(Some((n == cap).then_some(cap)))
}

/// The alert e-mail of `kind` to a subscribed member at their account address: written to the
/// outbox, or held until their do-not-disturb period ends (then part of one digest). Counted
/// against the organization's daily cap when decided.
#[allow(clippy::too_many_arguments)]
fn mail_member(
    s: &dyn Store,
    settings: &Settings,
    subject: &AlarmSubject,
    row: &ChannelAlarms,
    kind: MailKind,
    member: &Subscriber,
    now: Timestamp,
    report: &mut Report,
) -> Result<()> {
    let Some(last_today) = count_today(s, subject, now, report)? else {
        return Ok(());
    };
    let key = format!(
        "alarm:{}:{}:{}:member:{}",
        subject.channel_id.as_str(),
        kind.as_str(),
        now.as_millis(),
        member.user_id.as_str()
    );
    let mail = alarm_mail(
        subject,
        row,
        kind,
        member.email.as_str(),
        settings,
        last_today,
        &key,
    );
    if let Some(release) = member.quiet.quiet_until(now, &subject.time_zone) {
        s.hold_mail(
            subject.tenant.key,
            member.subscription.user_key,
            release,
            &mail.to_json(),
            now,
        )?;
        report.held_quiet += 1;
        return Ok(());
    }
    if s.enqueue(&subject.tenant, EMAIL_TOPIC, &key, &mail.to_json(), now)? {
        report.mails += 1;
        report.member_mails += 1;
    }
    Ok(())
}

/// A value as people read it: up to 6 decimals, no trailing zeros, then the unit.
fn with_unit(v: f64, unit: &str) -> String {
    let mut s = format!("{v:.6}");
    while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
        s.pop();
    }
    if unit.is_empty() {
        s
    } else {
        format!("{s} {unit}")
    }
}

/// The alert, back-to-normal or reminder e-mail about a channel, as plain text and HTML.
fn alarm_mail(
    subject: &AlarmSubject,
    row: &ChannelAlarms,
    kind: MailKind,
    to: &str,
    settings: &Settings,
    last_today: Option<u64>,
    key: &str,
) -> Mail {
    let tz = subject.time_zone.as_str();
    let when = |t: Timestamp| format!("{} / {}", t.display_in_zone(tz), t.to_rfc3339());
    let unit = subject.unit.as_str();
    let link = format!(
        "{}/devices/{}/channels/{}",
        settings.console_url.trim_end_matches('/'),
        subject.device_id.as_str(),
        subject.channel_id.as_str()
    );
    let mut lines: Vec<String> = Vec::new();
    let headline = match kind {
        MailKind::Alarm if row.is_open() => "Threshold exceeded",
        MailKind::Alarm => "Threshold was exceeded (now back to normal)",
        MailKind::BackToNormal => "Back to normal",
        MailKind::Reminder => "Reminder: threshold still exceeded",
    };
    for (_, alarm) in row.open() {
        let th = alarm.threshold;
        lines.push(format!(
            "Value {} at {} exceeds the threshold {} {}.",
            with_unit(alarm.opened_value, unit),
            when(alarm.opened_at),
            th.op().as_str(),
            with_unit(th.value(), unit)
        ));
        if alarm.count > 1 {
            lines.push(format!(
                "Latest value {} at {}; furthest from the threshold {} at {}.",
                with_unit(alarm.last_value, unit),
                when(alarm.last_at),
                with_unit(alarm.worst_value, unit),
                when(alarm.worst_at)
            ));
        }
    }
    if !row.is_open() {
        if let Some(c) = row.mail.last_closed {
            let th = c.alarm.threshold;
            lines.push(format!(
                "Value {} at {} exceeded the threshold {} {}; back to normal with {} at {}.",
                with_unit(c.alarm.opened_value, unit),
                when(c.alarm.opened_at),
                th.op().as_str(),
                with_unit(th.value(), unit),
                with_unit(c.closing_value, unit),
                when(c.closed_at)
            ));
        }
    }
    if row.mail.held > 1 {
        lines.push(format!(
            "The alarm changed {} times since the last e-mail (e-mails about this channel are \
             at least {} seconds apart).",
            row.mail.held, subject.min_interval_secs
        ));
    }
    if let Some(cap) = last_today {
        lines.push(format!(
            "This is the last notification e-mail of the organization today: its subscription \
             allows {cap} a day (UTC). Further alerts until 00:00 UTC are counted, not sent."
        ));
    }
    let title = format!(
        "{headline}: {} / {} / {}",
        subject.device_name, subject.sensor_name, subject.channel_name
    );
    let facts = [
        ("Organization", subject.org_name.clone()),
        (
            "Device",
            format!("{} ({})", subject.device_name, subject.device_id.as_str()),
        ),
        ("Sensor", subject.sensor_name.clone()),
        (
            "Channel",
            format!("{} ({})", subject.channel_name, subject.communication_id),
        ),
    ];
    let mut text = format!("{headline}\n\n");
    for (k, v) in &facts {
        text.push_str(&format!("{k}: {v}\n"));
    }
    text.push('\n');
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    text.push_str(&format!("\nOpen in the console: {link}\n"));
    let mut html = format!("<h2>{}</h2><table>", escape_html(headline));
    for (k, v) in &facts {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(k),
            escape_html(v)
        ));
    }
    html.push_str("</table>");
    for l in &lines {
        html.push_str(&format!("<p>{}</p>", escape_html(l)));
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">Open in the console</a></p>",
        escape_html(&link)
    ));
    let subject_line = match last_today {
        Some(_) => format!("[{}] {title} (daily limit reached)", subject.org_name),
        None => format!("[{}] {title}", subject.org_name),
    };
    Mail {
        to: to.to_owned(),
        subject: subject_line,
        text,
        html,
        message_id: Mail::message_id_for(key),
    }
}

/// Delivered e-mails are kept this long (to look into what was sent), then purged.
pub const KEEP_SENT_MS: i64 = 7 * 24 * Timestamp::HOUR_MS;
/// Rows one purge statement deletes: a short write each.
const PURGE_BATCH: usize = 5000;

/// Deletes the e-mails delivered more than [`KEEP_SENT_MS`] before `now`, in batches, while
/// `more_time()` says so; returns how many.
pub fn purge_sent(
    store: &dyn Store,
    now: Timestamp,
    more_time: &mut dyn FnMut() -> bool,
) -> Result<usize> {
    let before = now.add_millis(-KEEP_SENT_MS);
    let mut purged = 0;
    // The e-mails, and the deviation messages (docs/deviations.md) the same run publishes.
    for topic in [EMAIL_TOPIC, crate::deviations::TOPIC] {
        while more_time() {
            let n = store.purge_sent(topic, before, PURGE_BATCH)?;
            purged += n;
            if n < PURGE_BATCH {
                break;
            }
        }
    }
    Ok(purged)
}

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying soon: the server is unreachable, busy or answered 4xx.
    Transient(String),
    /// The server refused the message (5xx): retried rarely, never dropped.
    Permanent(String),
}

/// A transport for e-mails (SMTP, an HTTP e-mail API).
pub trait Mailer {
    /// Delivers `mail`; the same `mail.message_id` on a second delivery.
    fn send(&mut self, mail: &Mail) -> std::result::Result<(), SendError>;
}

/// What one [`deliver`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

/// How long the sender holds a message it took: a sender that dies leaves it to be taken again
/// after this.
pub const LEASE_SECS: i64 = 120;
/// Messages taken per claim.
const CLAIM: usize = 20;

/// When a message that failed for the `attempts`-th time is tried again: 30 s doubling up to an
/// hour for transient failures (so a mail server down for an hour is retried about hourly and
/// its backlog goes within an hour of its return), six hours for refusals.
pub fn retry_delay_secs(attempts: u32, permanent: bool) -> i64 {
    if permanent {
        return 6 * 3600;
    }
    let exp = attempts.saturating_sub(1).min(7);
    (30_i64 << exp).min(3600)
}

/// Drains the outbox's e-mails through `mailer` while `more_time()` says so: each message is
/// leased, sent, then marked sent; a failure schedules a retry with exponential backoff. At
/// least once: a sender that dies between the server's acceptance and `mark_sent` sends the
/// message again after its lease, with the same `Message-ID`.
pub fn deliver(
    store: &dyn Store,
    mailer: &mut dyn Mailer,
    clock: &dyn Fn() -> Timestamp,
    more_time: &mut dyn FnMut() -> bool,
) -> Result<Delivery> {
    let mut d = Delivery::default();
    while more_time() {
        let now = clock();
        let batch = store.claim(EMAIL_TOPIC, now, now.add_secs(LEASE_SECS), CLAIM)?;
        if batch.is_empty() {
            break;
        }
        let mut failures = 0;
        for m in &batch {
            let result = match Mail::from_json(&m.payload) {
                Ok(mail) => mailer.send(&mail),
                Err(e) => Err(SendError::Permanent(format!(
                    "unreadable outbox payload: {e}"
                ))),
            };
            match result {
                Ok(()) => {
                    store.mark_sent(m.id, clock())?;
                    d.sent += 1;
                }
                Err(e) => {
                    let (permanent, why) = match e {
                        SendError::Transient(w) => (false, w),
                        SendError::Permanent(w) => (true, w),
                    };
                    let at = clock().add_secs(retry_delay_secs(m.attempts, permanent));
                    store.retry_later(m.id, at, &why)?;
                    d.failed += 1;
                    failures += 1;
                    d.last_error = Some(why);
                }
            }
        }
        // The server is down: the rest waits for their own next attempt.
        if failures == batch.len() {
            break;
        }
    }
    Ok(d)
}
