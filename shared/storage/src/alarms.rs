//! The threshold notifier's storage ([`fieldline_service::ports::Alarms`]): the queue of points
//! that triggers append on every write to a channel with thresholds (schema, "threshold
//! notifier"), the channels' alarm rows, and the one-time links that confirm notification
//! addresses.

use fieldline_domain::notify::ChannelAlarms;
use fieldline_domain::{
    ChannelId, DeviceId, Email, OrgId, Point, Thresholds, Timestamp, TokenHash, UserId,
};
use fieldline_service::ports::{AddressToVerify, AlarmSubject, Notification, QueuedPoint};
use fieldline_service::ChannelRef;

use crate::db::{placeholders, transaction, Db, Value};
use crate::error::{corrupt, Entity, Error, Result};
use crate::orgs::Tenant;

/// Keys per `IN (...)` list.
const CHUNK: usize = 500;

fn limit(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

pub fn queued_points(db: &dyn Db, n: usize) -> Result<Vec<QueuedPoint>> {
    if db.dialect() == crate::db::Dialect::Postgres {
        db.execute("SELECT fl_lock_alarm_queue()", &[])?;
    }
    let rows = db.execute(
        "SELECT seq, channel_key, ts, value, stored_at FROM alarm_queue ORDER BY seq LIMIT ?",
        &[limit(n)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(QueuedPoint {
                seq: r.i64(0)?,
                channel_key: r.i64(1)?,
                point: Point::new(r.ts(2)?, r.f64(3)?).map_err(corrupt)?,
                stored_at: r.ts(4)?,
            })
        })
        .collect()
}

pub fn dequeue_points(db: &dyn Db, through_seq: i64) -> Result<usize> {
    Ok(db
        .execute(
            "DELETE FROM alarm_queue WHERE seq <= ? RETURNING 1",
            &[through_seq.into()],
        )?
        .len())
}

/// How many points wait for the notifier.
pub fn queue_length(db: &dyn Db) -> Result<u64> {
    db.execute("SELECT count(*) FROM alarm_queue", &[])?
        .first()
        .ok_or_else(|| Error::Corrupt("count(*) gave no row".into()))?
        .u64(0)
}

pub fn alarm_subjects(db: &dyn Db, keys: &[i64]) -> Result<Vec<AlarmSubject>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT c.key, c.org_key, c.id, c.name, c.communication_id, c.unit, c.enumerated, \
             c.threshold_op1, c.threshold_value1, c.threshold_op2, c.threshold_value2, \
             s.name, d.key, d.id, d.name, d.notification_email, d.notification_verified, \
             d.notifications_min_interval, d.notification_reminder_secs, \
             o.id, o.name, o.time_zone, o.notification_emails_per_day \
             FROM channels c JOIN sensors s ON s.key = c.sensor_key \
             JOIN devices d ON d.key = c.device_key JOIN orgs o ON o.key = c.org_key \
             WHERE c.key IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::Integer(*k)).collect();
        for r in db.execute(&sql, &params)?.iter() {
            let org_key = r.i64(1)?;
            out.push(AlarmSubject {
                tenant: Tenant::new(org_key, r.parse(19, OrgId::parse)?),
                channel: ChannelRef {
                    org_key,
                    key: r.i64(0)?,
                },
                channel_id: r.parse(2, ChannelId::parse)?,
                channel_name: r.text(3)?.to_owned(),
                communication_id: r.text(4)?.to_owned(),
                unit: r.text(5)?.to_owned(),
                enumerated: r.bool(6)?,
                thresholds: thresholds_at(&r, 7)?,
                sensor_name: r.text(11)?.to_owned(),
                device_key: r.i64(12)?,
                device_id: r.parse(13, DeviceId::parse)?,
                device_name: r.text(14)?.to_owned(),
                email: r.opt_parse(15, Email::parse)?,
                verified: r.bool(16)?,
                min_interval_secs: r.u32(17)?,
                reminder_secs: r
                    .opt_i64(18)?
                    .map(|s| u32::try_from(s).map_err(|e| Error::Corrupt(e.to_string())))
                    .transpose()?,
                org_name: r.text(20)?.to_owned(),
                time_zone: r.text(21)?.to_owned(),
                emails_per_day: r.u32(22)?,
            });
        }
    }
    Ok(out)
}

pub fn channel_alarms(db: &dyn Db, keys: &[i64]) -> Result<Vec<(i64, ChannelAlarms)>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT channel_key, state FROM alarm_channels WHERE channel_key IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::Integer(*k)).collect();
        for r in db.execute(&sql, &params)?.iter() {
            let state: ChannelAlarms = serde_json::from_str(r.text(1)?)
                .map_err(|e| Error::Corrupt(format!("alarm row: {e}")))?;
            out.push((r.i64(0)?, state));
        }
    }
    Ok(out)
}

pub fn save_channel_alarms(
    db: &dyn Db,
    channel: ChannelRef,
    alarms: &ChannelAlarms,
    due_at: Option<Timestamp>,
) -> Result<()> {
    let state =
        serde_json::to_string(alarms).map_err(|e| Error::Corrupt(format!("alarm row: {e}")))?;
    db.execute(
        "INSERT INTO alarm_channels (channel_key, org_key, state, due_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (channel_key) DO UPDATE SET state = excluded.state, \
         due_at = excluded.due_at",
        &[
            channel.key.into(),
            channel.org_key.into(),
            state.into(),
            due_at.map_or(Value::Null, Value::from),
        ],
    )?;
    Ok(())
}

pub fn channels_due(db: &dyn Db, now: Timestamp, n: usize) -> Result<Vec<i64>> {
    db.execute(
        "SELECT channel_key FROM alarm_channels WHERE due_at IS NOT NULL AND due_at <= ? \
         ORDER BY due_at LIMIT ?",
        &[now.into(), limit(n)],
    )?
    .iter()
    .map(|r| r.i64(0))
    .collect()
}

pub fn addresses_to_verify(db: &dyn Db, n: usize) -> Result<Vec<AddressToVerify>> {
    let rows = db.execute(
        "SELECT d.org_key, o.id, d.key, d.id, d.name, o.name, d.notification_email \
         FROM devices d JOIN orgs o ON o.key = d.org_key \
         WHERE d.notification_email IS NOT NULL AND d.notification_verified = 0 \
         AND NOT EXISTS (SELECT 1 FROM notification_verifications v \
             WHERE v.device_key = d.key AND v.email = d.notification_email) \
         ORDER BY d.key LIMIT ?",
        &[limit(n)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(AddressToVerify {
                tenant: Tenant::new(r.i64(0)?, r.parse(1, OrgId::parse)?),
                device_key: r.i64(2)?,
                device_id: r.parse(3, DeviceId::parse)?,
                device_name: r.text(4)?.to_owned(),
                org_name: r.text(5)?.to_owned(),
                email: r.parse(6, Email::parse)?,
            })
        })
        .collect()
}

pub fn add_verification(
    db: &dyn Db,
    address: &AddressToVerify,
    hash: &TokenHash,
    now: Timestamp,
) -> Result<bool> {
    Ok(!db
        .execute(
            "INSERT INTO notification_verifications (token_hash, org_key, device_key, email, \
             created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            &[
                hash.as_bytes().as_slice().into(),
                address.tenant.key.into(),
                address.device_key.into(),
                (&address.email).into(),
                now.into(),
            ],
        )?
        .is_empty())
}

/// Spends the link and confirms the address, if the device still has it, in one transaction.
pub fn verify_address(db: &dyn Db, hash: &TokenHash, now: Timestamp) -> Result<(DeviceId, Email)> {
    transaction(db, |db| {
        let rows = db.execute(
            "UPDATE notification_verifications SET used_at = ? \
             WHERE token_hash = ? AND used_at IS NULL RETURNING device_key, email",
            &[now.into(), hash.as_bytes().as_slice().into()],
        )?;
        let r = rows.first().ok_or(Error::NotFound(Entity::Token))?;
        let (device_key, email) = (r.i64(0)?, r.text(1)?.to_owned());
        let rows = db.execute(
            "UPDATE devices SET notification_verified = 1 \
             WHERE key = ? AND notification_email = ? RETURNING id, notification_email",
            &[device_key.into(), email.into()],
        )?;
        // The address changed since the link was sent: the link confirms nothing.
        let r = rows.first().ok_or(Error::NotFound(Entity::Token))?;
        Ok((r.parse(0, DeviceId::parse)?, r.parse(1, Email::parse)?))
    })
}

/// A device's reminder period while an alarm stays open (`None`: off, the default).
pub fn set_notification_reminder(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
    secs: Option<u32>,
) -> Result<()> {
    let rows = db.execute(
        "UPDATE devices SET notification_reminder_secs = ? WHERE org_key = ? AND id = ? \
         RETURNING key",
        &[
            secs.map_or(Value::Null, Value::from),
            tenant.key.into(),
            device.into(),
        ],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Device));
    }
    Ok(())
}

/// The caller's user key, as a sub-select of one parameter (the user's public id).
const USER_KEY: &str = "(SELECT key FROM users WHERE id = ?)";

pub fn add_notification(
    db: &dyn Db,
    channel: ChannelRef,
    kind: &str,
    title: &str,
    body: &str,
    now: Timestamp,
    recipients: &[i64],
) -> Result<()> {
    let rows = db.execute(
        "INSERT INTO notifications (org_key, channel_key, kind, title, body, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING key",
        &[
            channel.org_key.into(),
            channel.key.into(),
            kind.into(),
            title.into(),
            body.into(),
            now.into(),
        ],
    )?;
    let key = rows
        .first()
        .ok_or_else(|| Error::Corrupt("INSERT RETURNING gave no row".into()))?
        .i64(0)?;
    for user in recipients {
        db.execute(
            "INSERT INTO member_notifications (user_key, notification_key, org_key) \
             VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            &[(*user).into(), key.into(), channel.org_key.into()],
        )?;
    }
    Ok(())
}

const NOTIFICATION_COLS: &str = "n.key, c.id, n.kind, n.title, n.body, n.created_at, m.read_at";

fn notification_from(r: &crate::db::Row<'_>) -> Result<Notification> {
    Ok(Notification {
        id: r.i64(0)?,
        channel: r.parse(1, ChannelId::parse)?,
        kind: r.text(2)?.to_owned(),
        title: r.text(3)?.to_owned(),
        body: r.text(4)?.to_owned(),
        created_at: r.ts(5)?,
        read_at: r.opt_ts(6)?,
    })
}

pub fn notifications(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    unread_only: bool,
    n: usize,
) -> Result<Vec<Notification>> {
    let rows = db.execute(
        &format!(
            "SELECT {NOTIFICATION_COLS} FROM member_notifications m \
             JOIN notifications n ON n.key = m.notification_key \
             JOIN channels c ON c.key = n.channel_key \
             WHERE m.user_key = {USER_KEY} AND m.org_key = ? AND n.org_key = m.org_key \
             AND m.dismissed_at IS NULL AND (? = 0 OR m.read_at IS NULL) \
             ORDER BY n.key DESC LIMIT ?"
        ),
        &[user.into(), tenant.key.into(), unread_only.into(), limit(n)],
    )?;
    rows.iter().map(|r| notification_from(&r)).collect()
}

pub fn read_notification(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    id: i64,
    now: Timestamp,
) -> Result<Notification> {
    let rows = db.execute(
        &format!(
            "UPDATE member_notifications SET read_at = coalesce(read_at, ?) \
             WHERE user_key = {USER_KEY} AND notification_key = ? AND org_key = ? \
             AND dismissed_at IS NULL RETURNING user_key"
        ),
        &[now.into(), user.into(), id.into(), tenant.key.into()],
    )?;
    let user_key = rows
        .first()
        .ok_or(Error::NotFound(Entity::Notification))?
        .i64(0)?;
    let rows = db.execute(
        &format!(
            "SELECT {NOTIFICATION_COLS} FROM member_notifications m \
             JOIN notifications n ON n.key = m.notification_key \
             JOIN channels c ON c.key = n.channel_key \
             WHERE m.user_key = ? AND m.notification_key = ?"
        ),
        &[user_key.into(), id.into()],
    )?;
    notification_from(&rows.first().ok_or(Error::NotFound(Entity::Notification))?)
}

pub fn dismiss_notification(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    id: i64,
    now: Timestamp,
) -> Result<()> {
    let rows = db.execute(
        &format!(
            "UPDATE member_notifications SET dismissed_at = ? \
             WHERE user_key = {USER_KEY} AND notification_key = ? AND org_key = ? \
             AND dismissed_at IS NULL RETURNING 1"
        ),
        &[now.into(), user.into(), id.into(), tenant.key.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Notification));
    }
    Ok(())
}

/// A device's reminder period (`None`: off).
pub fn notification_reminder(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
) -> Result<Option<u32>> {
    let rows = db.execute(
        "SELECT notification_reminder_secs FROM devices WHERE org_key = ? AND id = ?",
        &[tenant.key.into(), device.into()],
    )?;
    rows.first()
        .ok_or(Error::NotFound(Entity::Device))?
        .opt_i64(0)?
        .map(|s| u32::try_from(s).map_err(|e| Error::Corrupt(e.to_string())))
        .transpose()
}

/// A channel's thresholds from four columns starting at `i` (op1, value1, op2, value2).
pub(crate) fn thresholds_at(r: &crate::db::Row<'_>, i: usize) -> Result<Thresholds> {
    Thresholds::from_parts(
        r.opt_text(i)?,
        r.opt_f64(i + 1)?,
        r.opt_text(i + 2)?,
        r.opt_f64(i + 3)?,
    )
    .map_err(corrupt)
}
