//! elproMONITOR deviations: an organization's broker, the deviation settings of devices and
//! channels, the engine states of the deviation-only conditions, the channels as messages name
//! them, and the ordered claim of the publisher's outbox messages.

use fieldline_domain::deviation::{ChannelSettings, DeviceSettings, Input};
use fieldline_domain::{ChannelId, DeviceId, OrgId, Timestamp};
use fieldline_service::ports::{
    ChannelRef, DeviationDevice, DeviationState, DeviationSubject, StoredBroker,
};
use fieldline_service::OutboxMessage;

use crate::db::{placeholders, Db, Row, Value};
use crate::devices::{channel_ref, device_key};
use crate::error::{Entity, Error, Result};
use crate::orgs::Tenant;

const CHUNK: usize = 500;

fn json_err(what: &str) -> impl Fn(serde_json::Error) -> Error + '_ {
    move |e| Error::Corrupt(format!("{what}: {e}"))
}

/// Channel, sensor-free: what a message names, the conditions' inputs and both settings.
const SUBJECT_SELECT: &str = "SELECT c.key, c.org_key, o.id, o.uuid, c.communication_id, c.unit, \
    c.enumerated, c.threshold_op1, c.threshold_value1, c.threshold_op2, c.threshold_value2, \
    d.key, d.name, coalesce(d.network_id, d.id), c.name, cs.settings, ds.settings \
    FROM channels c JOIN devices d ON d.key = c.device_key JOIN orgs o ON o.key = c.org_key \
    JOIN deviation_brokers b ON b.org_key = c.org_key \
    LEFT JOIN deviation_channel_settings cs ON cs.channel_key = c.key \
    LEFT JOIN deviation_device_settings ds ON ds.device_key = d.key";

fn subject_from(r: &Row<'_>) -> Result<DeviationSubject> {
    let org_key = r.i64(1)?;
    let channel_settings = r
        .opt_text(15)?
        .map(|s| serde_json::from_str(s).map_err(json_err("channel deviation settings")))
        .transpose()?
        .unwrap_or_default();
    let device_settings = r
        .opt_text(16)?
        .map(|s| serde_json::from_str(s).map_err(json_err("device deviation settings")))
        .transpose()?
        .unwrap_or_default();
    let device_key = r.i64(11)?;
    let channel_key = r.i64(0)?;
    Ok(DeviationSubject {
        tenant: Tenant::new(org_key, r.parse(2, OrgId::parse)?),
        org_uuid: r.text(3)?.to_owned(),
        channel: ChannelRef {
            org_key,
            key: channel_key,
        },
        communication_id: r.text(4)?.to_owned(),
        unit: r.text(5)?.to_owned(),
        enumerated: r.bool(6)?,
        thresholds: crate::alarms::thresholds_at(r, 7)?,
        device_key,
        input: Input {
            io_module_key: device_key,
            io_module_name: r.text(12)?.to_owned(),
            io_module_serial_number: r.text(13)?.to_owned(),
            input_key: channel_key,
            input_name: r.text(14)?.to_owned(),
        },
        channel_settings,
        device_settings,
    })
}

pub fn deviation_subjects(db: &dyn Db, keys: &[i64]) -> Result<Vec<DeviationSubject>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "{SUBJECT_SELECT} WHERE c.key IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::Integer(*k)).collect();
        for r in db.execute(&sql, &params)?.iter() {
            out.push(subject_from(&r)?);
        }
    }
    Ok(out)
}

/// A device's channels but the reserved AlphaX ones (252..255), oldest first.
pub fn deviation_inputs(db: &dyn Db, device_key: i64) -> Result<Vec<DeviationSubject>> {
    db.execute(
        &format!(
            "{SUBJECT_SELECT} WHERE c.device_key = ? \
             AND c.communication_id NOT IN ('252', '253', '254', '255') ORDER BY c.key"
        ),
        &[device_key.into()],
    )?
    .iter()
    .map(|r| subject_from(&r))
    .collect()
}

pub fn incident_subject(db: &dyn Db, tenant: &Tenant, id: i64) -> Result<DeviationSubject> {
    let rows = db.execute(
        &format!(
            "{SUBJECT_SELECT} WHERE c.key = (SELECT channel_key FROM incidents \
             WHERE org_key = ? AND key = ?)"
        ),
        &[tenant.key.into(), id.into()],
    )?;
    subject_from(&rows.first().ok_or(Error::NotFound(Entity::Incident))?)
}

pub fn deviation_devices(db: &dyn Db) -> Result<Vec<DeviationDevice>> {
    db.execute(
        "SELECT d.key, d.org_key, o.id, \
         CASE WHEN d.created_at > b.enabled_at THEN d.created_at ELSE b.enabled_at END, ds.settings \
         FROM devices d JOIN orgs o ON o.key = d.org_key \
         JOIN deviation_brokers b ON b.org_key = d.org_key \
         LEFT JOIN deviation_device_settings ds ON ds.device_key = d.key ORDER BY d.key",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(DeviationDevice {
            tenant: Tenant::new(r.i64(1)?, r.parse(2, OrgId::parse)?),
            device_key: r.i64(0)?,
            since: r.ts(3)?,
            settings: r
                .opt_text(4)?
                .map(|s| serde_json::from_str(s).map_err(json_err("device deviation settings")))
                .transpose()?
                .unwrap_or_default(),
        })
    })
    .collect()
}

pub fn deviation_states(db: &dyn Db, subjects: &[String]) -> Result<Vec<(String, DeviationState)>> {
    let mut out = Vec::with_capacity(subjects.len());
    for chunk in subjects.chunks(CHUNK) {
        let sql = format!(
            "SELECT subject, state FROM deviation_states WHERE subject IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::from(k.as_str())).collect();
        for r in db.execute(&sql, &params)?.iter() {
            let state = serde_json::from_str(r.text(1)?).map_err(json_err("deviation state"))?;
            out.push((r.text(0)?.to_owned(), state));
        }
    }
    Ok(out)
}

pub fn save_deviation_state(
    db: &dyn Db,
    org_key: i64,
    subject: &str,
    state: &DeviationState,
) -> Result<()> {
    let json = serde_json::to_string(state).map_err(json_err("deviation state"))?;
    db.execute(
        "INSERT INTO deviation_states (subject, org_key, state) VALUES (?, ?, ?) \
         ON CONFLICT (subject) DO UPDATE SET state = excluded.state",
        &[subject.into(), org_key.into(), json.into()],
    )?;
    Ok(())
}

pub fn deviation_broker(db: &dyn Db, org: OrgId) -> Result<Option<StoredBroker>> {
    let rows = db.execute(
        "SELECT b.address, b.vhost, b.username, b.password_sealed, b.enabled_at, b.updated_at \
         FROM deviation_brokers b JOIN orgs o ON o.key = b.org_key WHERE o.id = ?",
        &[org.into()],
    )?;
    rows.first()
        .map(|r| {
            Ok(StoredBroker {
                address: r.text(0)?.to_owned(),
                vhost: r.text(1)?.to_owned(),
                username: r.text(2)?.to_owned(),
                password_sealed: r.blob(3)?.to_vec(),
                enabled_at: r.ts(4)?,
                updated_at: r.ts(5)?,
            })
        })
        .transpose()
}

pub fn set_deviation_broker(
    db: &dyn Db,
    tenant: &Tenant,
    broker: Option<&StoredBroker>,
) -> Result<()> {
    match broker {
        None => {
            db.execute(
                "DELETE FROM deviation_brokers WHERE org_key = ?",
                &[tenant.key.into()],
            )?;
        }
        Some(b) => {
            // `enabled_at` is kept while deviations stay on.
            db.execute(
                "INSERT INTO deviation_brokers (org_key, address, vhost, username, \
                 password_sealed, enabled_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (org_key) DO UPDATE SET address = excluded.address, \
                 vhost = excluded.vhost, username = excluded.username, \
                 password_sealed = excluded.password_sealed, updated_at = excluded.updated_at",
                &[
                    tenant.key.into(),
                    b.address.as_str().into(),
                    b.vhost.as_str().into(),
                    b.username.as_str().into(),
                    b.password_sealed.as_slice().into(),
                    b.enabled_at.into(),
                    b.updated_at.into(),
                ],
            )?;
        }
    }
    Ok(())
}

pub fn device_deviation_settings(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
) -> Result<DeviceSettings> {
    let key = device_key(db, tenant, device)?;
    let rows = db.execute(
        "SELECT settings FROM deviation_device_settings WHERE device_key = ?",
        &[key.into()],
    )?;
    rows.first()
        .map(|r| serde_json::from_str(r.text(0)?).map_err(json_err("device deviation settings")))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn set_device_deviation_settings(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
    settings: &DeviceSettings,
) -> Result<()> {
    let key = device_key(db, tenant, device)?;
    let json = serde_json::to_string(settings).map_err(json_err("device deviation settings"))?;
    db.execute(
        "INSERT INTO deviation_device_settings (device_key, org_key, settings) VALUES (?, ?, ?) \
         ON CONFLICT (device_key) DO UPDATE SET settings = excluded.settings",
        &[key.into(), tenant.key.into(), json.into()],
    )?;
    Ok(())
}

pub fn channel_deviation_settings(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelId,
) -> Result<ChannelSettings> {
    let key = channel_ref(db, tenant, channel)?.key;
    let rows = db.execute(
        "SELECT settings FROM deviation_channel_settings WHERE channel_key = ?",
        &[key.into()],
    )?;
    rows.first()
        .map(|r| serde_json::from_str(r.text(0)?).map_err(json_err("channel deviation settings")))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn set_channel_deviation_settings(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelId,
    settings: &ChannelSettings,
) -> Result<()> {
    let key = channel_ref(db, tenant, channel)?.key;
    let json = serde_json::to_string(settings).map_err(json_err("channel deviation settings"))?;
    db.execute(
        "INSERT INTO deviation_channel_settings (channel_key, org_key, settings) \
         VALUES (?, ?, ?) ON CONFLICT (channel_key) DO UPDATE SET settings = excluded.settings",
        &[key.into(), tenant.key.into(), json.into()],
    )?;
    Ok(())
}

/// [`crate::outbox::claim`] in order per organization: a message waits while an older unsent
/// one of its organization is not due (a retry later, or leased by another sender).
pub fn claim_in_order(
    db: &dyn Db,
    topic: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<OutboxMessage>> {
    let mut out = crate::outbox::lease(
        db,
        "SELECT o.key FROM outbox o WHERE o.topic = ?2 AND o.sent_at IS NULL \
         AND o.next_attempt_at <= ?3 AND NOT EXISTS (SELECT 1 FROM outbox p \
           WHERE p.topic = o.topic AND p.org_key = o.org_key AND p.sent_at IS NULL \
           AND p.key < o.key AND p.next_attempt_at > ?3) \
         ORDER BY o.key LIMIT ?4",
        topic,
        now,
        lease_until,
        limit,
    )?;
    // Written order: the key.
    out.sort_by_key(|m| m.id);
    Ok(out)
}

pub fn retry_org_later(
    db: &dyn Db,
    topic: &str,
    org: OrgId,
    retry_at: Timestamp,
    error: &str,
) -> Result<usize> {
    Ok(db
        .execute(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE topic = ? \
             AND sent_at IS NULL AND org_key = (SELECT key FROM orgs WHERE id = ?) RETURNING key",
            &[retry_at.into(), error.into(), topic.into(), org.into()],
        )?
        .len())
}
