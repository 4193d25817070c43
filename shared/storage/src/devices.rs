//! Devices, sensors and channels, with the Sensorbis rules (communicationId unique per device,
//! every object inside its organization), and the channel handles points are written through.

use fieldline_domain::hash::keyed_map;
use fieldline_domain::{
    Calibration, Channel, ChannelFields, ChannelId, CommunicationId, Description, Device,
    DeviceFields, DeviceId, DeviceMeta, Email, Grouping, Location, Name, NetworkId,
    NotificationInterval, Purpose, Sensor, SensorFields, SensorId, ShortText, Thresholds,
    Timestamp, Unit, UtcOffset, Uuid, ValueRange,
};
use fieldline_service::ports::ChannelRefs;

use crate::db::{transaction, Db, Row, Value};
use crate::error::{BackendFailure, Conflict, Entity, Error, Result};
use crate::orgs::Tenant;

/// A channel of a known organization, as points are written and read through. Only storage
/// makes one, from a query confined to the tenant, so a handle cannot point into another
/// organization.
pub use fieldline_service::ChannelRef;

// ---- devices ----

const DEVICE_COLS: &str = "key, id, uuid, network_id, name, descr, vendor_id, customer_id, \
    time_zone, uses_dst, lon, lat, notification_email, notification_verified, \
    notifications_min_interval, meta, created_at, updated_at";

/// How many columns [`DEVICE_COLS`] names.
const DEVICE_COLUMNS: usize = 18;

fn device_from(r: &Row<'_>) -> Result<Device> {
    let location = match (r.opt_f64(10)?, r.opt_f64(11)?) {
        (Some(lon), Some(lat)) => Some(Location::new(lon, lat).map_err(crate::error::corrupt)?),
        _ => None,
    };
    let interval = NotificationInterval::from_secs(r.u32(14)?).map_err(crate::error::corrupt)?;
    let meta: DeviceMeta = serde_json::from_str(r.text(15)?)
        .map_err(|e| Error::Corrupt(format!("device meta: {e}")))?;
    Ok(Device {
        key: r.i64(0)?,
        id: r.parse(1, DeviceId::parse)?,
        uuid: r.parse(2, Uuid::parse)?,
        fields: DeviceFields {
            network_id: r.opt_parse(3, NetworkId::parse)?,
            name: r.parse(4, Name::parse)?,
            descr: r.parse(5, Description::parse)?,
            vendor_id: r.parse(6, ShortText::parse)?,
            customer_id: r.parse(7, ShortText::parse)?,
            time_zone: UtcOffset::from_minutes(
                i32::try_from(r.i64(8)?).map_err(|e| Error::Corrupt(e.to_string()))?,
            )
            .map_err(crate::error::corrupt)?,
            uses_dst: r.bool(9)?,
            location,
            notification_email: r.opt_parse(12, Email::parse)?,
            notifications_min_interval: interval,
            meta,
        },
        notification_verified: r.bool(13)?,
        created_at: r.ts(16)?,
        updated_at: r.ts(17)?,
    })
}

/// The values of the person-set columns, in [`DEVICE_COLS`] order from `network_id` to `meta`
/// minus `notification_verified`.
fn device_field_params(f: &DeviceFields) -> Result<Vec<Value>> {
    let meta =
        serde_json::to_string(&f.meta).map_err(|e| Error::Corrupt(format!("device meta: {e}")))?;
    Ok(vec![
        f.network_id.as_ref().into(),
        (&f.name).into(),
        (&f.descr).into(),
        (&f.vendor_id).into(),
        (&f.customer_id).into(),
        f.time_zone.minutes().into(),
        f.uses_dst.into(),
        f.location.map(|l| l.lon()).into(),
        f.location.map(|l| l.lat()).into(),
        f.notification_email.as_ref().into(),
        f.notifications_min_interval.secs().into(),
        meta.into(),
    ])
}

/// Whether a statement finds a row.
fn exists(db: &dyn Db, sql: &str, params: &[Value]) -> Result<bool> {
    Ok(!db.execute(sql, params)?.is_empty())
}

/// Why a device write that must not break a unique index wrote nothing: the network id or the
/// UUID another device of the organization has (asked of the database, not read from an error
/// message, which Spin's SQLite interface is all that reports).
fn device_conflict(
    db: &dyn Db,
    tenant: &Tenant,
    f: &DeviceFields,
    uuid: Option<Uuid>,
) -> Result<Error> {
    if let Some(n) = &f.network_id {
        let sql = "SELECT 1 FROM devices WHERE org_key = ? AND network_id = ?";
        if exists(db, sql, &[tenant.key.into(), n.into()])? {
            return Ok(Conflict::NetworkIdTaken(n.to_string()).into());
        }
    }
    if let Some(u) = uuid {
        let sql = "SELECT 1 FROM devices WHERE org_key = ? AND uuid = ?";
        if exists(db, sql, &[tenant.key.into(), u.into()])? {
            return Ok(Conflict::UuidTaken(u.to_string()).into());
        }
    }
    Ok(Error::backend(
        BackendFailure::Other,
        "a device was not written, and no other device has its network id or UUID",
    ))
}

/// Adds a device; `uuid` is generated when not given (Proficloud devices bring their own).
pub fn create_device(
    db: &dyn Db,
    tenant: &Tenant,
    fields: &DeviceFields,
    uuid: Option<Uuid>,
    now: Timestamp,
) -> Result<Device> {
    let id = DeviceId::generate()?;
    let uuid = match uuid {
        Some(u) => u,
        None => Uuid::generate()?,
    };
    let mut params: Vec<Value> = vec![tenant.key.into(), id.into(), uuid.into()];
    params.extend(device_field_params(fields)?);
    params.extend([false.into(), now.into(), now.into()]);
    let rows = db.execute(
        &format!(
            "INSERT INTO devices (org_key, id, uuid, network_id, name, descr, vendor_id, \
                 customer_id, time_zone, uses_dst, lon, lat, notification_email, \
                 notifications_min_interval, meta, notification_verified, created_at, updated_at) \
                 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) \
                 ON CONFLICT DO NOTHING RETURNING {DEVICE_COLS}"
        ),
        &params,
    )?;
    match rows.first() {
        Some(r) => device_from(&r),
        None => Err(device_conflict(db, tenant, fields, Some(uuid))?),
    }
}

fn one_device(db: &dyn Db, tenant: &Tenant, column: &str, value: Value) -> Result<Device> {
    let rows = db.execute(
        &format!("SELECT {DEVICE_COLS} FROM devices WHERE org_key = ? AND {column} = ?"),
        &[tenant.key.into(), value],
    )?;
    device_from(&rows.first().ok_or(Error::NotFound(Entity::Device))?)
}

pub fn device(db: &dyn Db, tenant: &Tenant, id: DeviceId) -> Result<Device> {
    one_device(db, tenant, "id", id.into())
}

/// By RFC 4122 UUID (Proficloud `uuid`).
pub fn device_by_uuid(db: &dyn Db, tenant: &Tenant, uuid: Uuid) -> Result<Device> {
    one_device(db, tenant, "uuid", uuid.into())
}

/// The devices with these UUIDs that the organization has, in one statement per 500.
pub fn devices_by_uuid(db: &dyn Db, tenant: &Tenant, uuids: &[Uuid]) -> Result<Vec<Device>> {
    let mut out = Vec::with_capacity(uuids.len());
    for chunk in uuids.chunks(crate::points::IN_CHUNK) {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE org_key = ? AND uuid IN ({})",
            crate::db::placeholders(chunk.len())
        );
        let mut params: Vec<Value> = vec![tenant.key.into()];
        params.extend(chunk.iter().map(|u| Value::from(*u)));
        for r in db.execute(&sql, &params)?.iter() {
            out.push(device_from(&r)?);
        }
    }
    Ok(out)
}

/// The devices of the organization with these UUIDs or network ids (those that exist), each
/// with its channels by communicationId: what an upload resolves before it writes, in one
/// statement per 500 keys.
pub fn devices_with_channels(
    db: &dyn Db,
    tenant: &Tenant,
    uuids: &[Uuid],
    network_ids: &[NetworkId],
) -> Result<Vec<fieldline_service::ports::DeviceChannels>> {
    let mut out: Vec<fieldline_service::ports::DeviceChannels> = Vec::new();
    let keys: Vec<Value> = uuids
        .iter()
        .map(|u| Value::from(*u))
        .chain(network_ids.iter().map(Value::from))
        .collect();
    let n_uuids = uuids.len();
    let mut start = 0;
    for chunk in keys.chunks(crate::points::IN_CHUNK) {
        // How many of this chunk are UUIDs (they come first).
        let u = n_uuids.saturating_sub(start).min(chunk.len());
        start += chunk.len();
        let mut by: Vec<String> = Vec::new();
        if u > 0 {
            by.push(format!("uuid IN ({})", crate::db::placeholders(u)));
        }
        if chunk.len() > u {
            by.push(format!(
                "network_id IN ({})",
                crate::db::placeholders(chunk.len() - u)
            ));
        }
        // One row per device (its columns), then one per channel (the device's key, the
        // channel's communicationId and key): the device's columns are not repeated on every
        // channel's row (they cost more to pass to the component than a second statement).
        // `+c.org_key`: the device's index on channels, not the organization's (see
        // `channel_refs_by_key`).
        let by = by.join(" OR ");
        let nulls = ", NULL".repeat(DEVICE_COLUMNS - 1);
        let sql = format!(
            "SELECT {DEVICE_COLS}, NULL, NULL, 0 FROM devices WHERE org_key = ? AND ({by}) \
             UNION ALL \
             SELECT d.key{nulls}, c.communication_id, c.key, 1 FROM devices d \
             JOIN channels c ON c.device_key = d.key AND +c.org_key = ? \
             WHERE d.org_key = ? AND ({by}) ORDER BY 1, {}",
            DEVICE_COLUMNS + 3
        );
        let mut params: Vec<Value> = vec![tenant.key.into()];
        params.extend(chunk.iter().cloned());
        params.extend([tenant.key.into(), tenant.key.into()]);
        params.extend(chunk.iter().cloned());
        for r in db.execute(&sql, &params)?.iter() {
            match (r.opt_text(DEVICE_COLUMNS)?, out.last_mut()) {
                (None, _) => out.push((device_from(&r)?, keyed_map())),
                (Some(comm), Some((d, channels))) if d.key == r.i64(0)? => {
                    channels.insert(
                        comm.to_owned(),
                        ChannelRef {
                            org_key: tenant.key,
                            key: r.i64(DEVICE_COLUMNS + 1)?,
                        },
                    );
                }
                _ => {
                    return Err(Error::Corrupt(
                        "devices_with_channels: a channel's row before its device's".into(),
                    ))
                }
            }
        }
    }
    Ok(out)
}

/// By AlphaX network id.
pub fn device_by_network_id(
    db: &dyn Db,
    tenant: &Tenant,
    network_id: &NetworkId,
) -> Result<Device> {
    one_device(db, tenant, "network_id", network_id.into())
}

pub fn list_devices(db: &dyn Db, tenant: &Tenant) -> Result<Vec<Device>> {
    let rows = db.execute(
        &format!("SELECT {DEVICE_COLS} FROM devices WHERE org_key = ? ORDER BY key"),
        &[tenant.key.into()],
    )?;
    rows.iter().map(|r| device_from(&r)).collect()
}

/// Replaces a device's fields. A new notification address needs verifying again.
pub fn update_device(
    db: &dyn Db,
    tenant: &Tenant,
    id: DeviceId,
    fields: &DeviceFields,
    now: Timestamp,
) -> Result<Device> {
    let mut params = device_field_params(fields)?;
    params.extend([
        fields.notification_email.as_ref().into(),
        now.into(),
        tenant.key.into(),
        id.into(),
    ]);
    let rows = db.execute(
        &format!(
            "UPDATE devices SET network_id = ?, name = ?, descr = ?, vendor_id = ?, \
                 customer_id = ?, time_zone = ?, uses_dst = ?, lon = ?, lat = ?, \
                 notification_email = ?, notifications_min_interval = ?, meta = ?, \
                 notification_verified = CASE WHEN notification_email IS NOT DISTINCT FROM ? \
                     THEN notification_verified ELSE 0 END, \
                 updated_at = ? WHERE org_key = ? AND id = ? \
                 AND NOT EXISTS (SELECT 1 FROM devices o WHERE o.org_key = devices.org_key \
                     AND o.network_id = ?1 AND o.key <> devices.key) \
                 RETURNING {DEVICE_COLS}"
        ),
        &params,
    )?;
    if let Some(r) = rows.first() {
        return device_from(&r);
    }
    // Nothing written: no such device, or its new network id is another device's.
    let sql = "SELECT 1 FROM devices WHERE org_key = ? AND id = ?";
    if exists(db, sql, &[tenant.key.into(), id.into()])? {
        Err(device_conflict(db, tenant, fields, None)?)
    } else {
        Err(Error::NotFound(Entity::Device))
    }
}

/// Records that the owner of the notification address confirmed it.
pub fn set_notification_verified(db: &dyn Db, tenant: &Tenant, id: DeviceId) -> Result<()> {
    let rows = db.execute(
        "UPDATE devices SET notification_verified = 1 WHERE org_key = ? AND id = ? RETURNING key",
        &[tenant.key.into(), id.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Device));
    }
    Ok(())
}

pub(crate) fn device_key(db: &dyn Db, tenant: &Tenant, id: DeviceId) -> Result<i64> {
    db.execute(
        "SELECT key FROM devices WHERE org_key = ? AND id = ?",
        &[tenant.key.into(), id.into()],
    )?
    .first()
    .ok_or(Error::NotFound(Entity::Device))?
    .i64(0)
}

/// Deletes the data of the channels `channel_filter` selects (`key IN (SELECT ...)` with one
/// parameter), then the channels themselves.
fn delete_channels_where(db: &dyn Db, channel_filter: &str, param: i64) -> Result<()> {
    for table in [
        "points",
        "rollups",
        "rollups_minute",
        "rollup_pending",
        "incidents",
        "alarm_queue",
        "alarm_channels",
        "notifications",
        "deviation_channel_settings",
    ] {
        db.execute(
            &format!(
                "DELETE FROM {table} WHERE channel_key IN (SELECT key FROM channels WHERE {channel_filter})"
            ),
            &[param.into()],
        )?;
    }
    db.execute(
        &format!(
            "DELETE FROM deviation_states WHERE subject IN \
             (SELECT 'c:' || key FROM channels WHERE {channel_filter})"
        ),
        &[param.into()],
    )?;
    // Topic subscriptions to these channels go with them (a key may be used again).
    db.execute(
        &format!(
            "DELETE FROM notification_subscriptions WHERE scope = 'channel' \
             AND target_key IN (SELECT key FROM channels WHERE {channel_filter})"
        ),
        &[param.into()],
    )?;
    db.execute(
        &format!("DELETE FROM channels WHERE {channel_filter}"),
        &[param.into()],
    )?;
    Ok(())
}

/// Deletes a device with its sensors, channels, points, rollups, incidents and tokens.
pub fn delete_device(db: &dyn Db, tenant: &Tenant, id: DeviceId) -> Result<()> {
    transaction(db, |db| {
        let key = device_key(db, tenant, id)?;
        delete_channels_where(db, "device_key = ?", key)?;
        for sql in [
            "DELETE FROM sensors WHERE device_key = ?",
            "DELETE FROM tokens WHERE device_key = ?",
            "DELETE FROM sensorbis_push WHERE device_key = ?",
            "DELETE FROM notification_verifications WHERE device_key = ?",
            "DELETE FROM notification_subscriptions WHERE scope = 'device' AND target_key = ?",
            "DELETE FROM deviation_device_settings WHERE device_key = ?",
            "DELETE FROM deviation_states WHERE subject = 'd:' || ?",
            "DELETE FROM devices WHERE key = ?",
        ] {
            db.execute(sql, &[key.into()])?;
        }
        Ok(())
    })
}

// ---- sensors ----

const SENSOR_SELECT: &str = "SELECT s.key, s.id, d.id, s.name, s.descr, s.customer_id, \
    s.created_at FROM sensors s JOIN devices d ON d.key = s.device_key";

fn sensor_from(r: &Row<'_>) -> Result<Sensor> {
    Ok(Sensor {
        key: r.i64(0)?,
        id: r.parse(1, SensorId::parse)?,
        device: r.parse(2, DeviceId::parse)?,
        fields: SensorFields {
            name: r.parse(3, Name::parse)?,
            descr: r.parse(4, Description::parse)?,
            customer_id: r.parse(5, ShortText::parse)?,
        },
        created_at: r.ts(6)?,
    })
}

pub fn create_sensor(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
    fields: &SensorFields,
    now: Timestamp,
) -> Result<Sensor> {
    let id = SensorId::generate()?;
    let rows = db.execute(
        "INSERT INTO sensors (org_key, device_key, id, name, descr, customer_id, created_at) \
         SELECT d.org_key, d.key, ?, ?, ?, ?, ? FROM devices d WHERE d.org_key = ? AND d.id = ? \
         RETURNING key",
        &[
            id.into(),
            (&fields.name).into(),
            (&fields.descr).into(),
            (&fields.customer_id).into(),
            now.into(),
            tenant.key.into(),
            device.into(),
        ],
    )?;
    let key = rows
        .first()
        .ok_or(Error::NotFound(Entity::Device))?
        .i64(0)?;
    Ok(Sensor {
        key,
        id,
        device,
        fields: fields.clone(),
        created_at: now,
    })
}

pub fn sensor(db: &dyn Db, tenant: &Tenant, id: SensorId) -> Result<Sensor> {
    let rows = db.execute(
        &format!("{SENSOR_SELECT} WHERE s.org_key = ? AND s.id = ?"),
        &[tenant.key.into(), id.into()],
    )?;
    sensor_from(&rows.first().ok_or(Error::NotFound(Entity::Sensor))?)
}

pub fn list_sensors(db: &dyn Db, tenant: &Tenant, device: DeviceId) -> Result<Vec<Sensor>> {
    let key = device_key(db, tenant, device)?;
    let rows = db.execute(
        &format!("{SENSOR_SELECT} WHERE s.org_key = ? AND s.device_key = ? ORDER BY s.key"),
        &[tenant.key.into(), key.into()],
    )?;
    rows.iter().map(|r| sensor_from(&r)).collect()
}

pub fn update_sensor(
    db: &dyn Db,
    tenant: &Tenant,
    id: SensorId,
    fields: &SensorFields,
) -> Result<Sensor> {
    let rows = db.execute(
        "UPDATE sensors SET name = ?, descr = ?, customer_id = ? WHERE org_key = ? AND id = ? \
         RETURNING key",
        &[
            (&fields.name).into(),
            (&fields.descr).into(),
            (&fields.customer_id).into(),
            tenant.key.into(),
            id.into(),
        ],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Sensor));
    }
    sensor(db, tenant, id)
}

/// Deletes a sensor with its channels and their data.
pub fn delete_sensor(db: &dyn Db, tenant: &Tenant, id: SensorId) -> Result<()> {
    transaction(db, |db| {
        let key = sensor_key(db, tenant, id)?.0;
        delete_channels_where(db, "sensor_key = ?", key)?;
        db.execute("DELETE FROM sensors WHERE key = ?", &[key.into()])?;
        Ok(())
    })
}

/// (sensor key, device key)
fn sensor_key(db: &dyn Db, tenant: &Tenant, id: SensorId) -> Result<(i64, i64)> {
    let rows = db.execute(
        "SELECT key, device_key FROM sensors WHERE org_key = ? AND id = ?",
        &[tenant.key.into(), id.into()],
    )?;
    let r = rows.first().ok_or(Error::NotFound(Entity::Sensor))?;
    Ok((r.i64(0)?, r.i64(1)?))
}

// ---- channels ----

pub(crate) const CHANNEL_SELECT: &str =
    "SELECT c.key, c.id, d.id, s.id, c.communication_id, c.name, \
    c.enumerated, c.unit, c.min, c.max, c.purpose, c.grouping, c.threshold_op1, \
    c.threshold_value1, c.threshold_op2, c.threshold_value2, c.cal_scale, c.cal_offset, \
    c.created_at FROM channels c JOIN sensors s ON s.key = c.sensor_key \
    JOIN devices d ON d.key = c.device_key";

/// The channels of one device (parameters: organization, device key), found on the device's
/// index; the organization is a check (`+`: not an index to walk all of its channels by).
pub(crate) fn device_channels_sql() -> String {
    format!("{CHANNEL_SELECT} WHERE +c.org_key = ? AND c.device_key = ? ORDER BY c.key")
}

pub(crate) fn channel_from(r: &Row<'_>) -> Result<Channel> {
    use crate::error::corrupt;
    Ok(Channel {
        key: r.i64(0)?,
        id: r.parse(1, ChannelId::parse)?,
        device: r.parse(2, DeviceId::parse)?,
        sensor: r.parse(3, SensorId::parse)?,
        communication_id: r.parse(4, CommunicationId::parse)?,
        fields: ChannelFields {
            name: r.parse(5, Name::parse)?,
            enumerated: r.bool(6)?,
            unit: r.parse(7, Unit::parse)?,
            range: ValueRange::new(r.opt_f64(8)?, r.opt_f64(9)?).map_err(corrupt)?,
            purpose: r.parse(10, Purpose::parse)?,
            grouping: r.parse(11, Grouping::parse)?,
            thresholds: Thresholds::from_parts(
                r.opt_text(12)?,
                r.opt_f64(13)?,
                r.opt_text(14)?,
                r.opt_f64(15)?,
            )
            .map_err(corrupt)?,
            calibration: Calibration::new(r.f64(16)?, r.f64(17)?).map_err(corrupt)?,
        },
        created_at: r.ts(18)?,
    })
}

fn channel_field_params(f: &ChannelFields) -> Vec<Value> {
    let t1 = f.thresholds.first();
    let t2 = f.thresholds.second();
    vec![
        (&f.name).into(),
        f.enumerated.into(),
        (&f.unit).into(),
        f.range.min().into(),
        f.range.max().into(),
        (&f.purpose).into(),
        f.grouping.as_str().into(),
        t1.map(|t| t.op().as_str()).into(),
        t1.map(|t| t.value()).into(),
        t2.map(|t| t.op().as_str()).into(),
        t2.map(|t| t.value()).into(),
        f.calibration.scale().into(),
        f.calibration.offset().into(),
    ]
}

/// Adds a channel to a sensor. Without a communicationId the channel's id is used (Sensorbis
/// AddChannels); a communicationId already used on the device is [`Conflict`] (Sensorbis 142).
pub fn create_channel(
    db: &dyn Db,
    tenant: &Tenant,
    sensor: SensorId,
    communication_id: Option<CommunicationId>,
    fields: &ChannelFields,
    now: Timestamp,
) -> Result<Channel> {
    let (sensor_key, device_key) = sensor_key(db, tenant, sensor)?;
    let id = ChannelId::generate()?;
    let comm = communication_id.unwrap_or_else(|| CommunicationId::from_channel_id(id));
    let mut params: Vec<Value> = vec![
        tenant.key.into(),
        device_key.into(),
        sensor_key.into(),
        id.into(),
        (&comm).into(),
    ];
    params.extend(channel_field_params(fields));
    params.push(now.into());
    let rows = db.execute(
        "INSERT INTO channels (org_key, device_key, sensor_key, id, communication_id, name, \
         enumerated, unit, min, max, purpose, grouping, threshold_op1, threshold_value1, \
         threshold_op2, threshold_value2, cal_scale, cal_offset, created_at) \
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING key",
        &params,
    )?;
    if rows.is_empty() {
        // The device already has a channel with this communicationId (Sensorbis 142).
        return Err(Conflict::CommunicationIdTaken(comm.to_string()).into());
    }
    channel(db, tenant, id)
}

pub fn channel(db: &dyn Db, tenant: &Tenant, id: ChannelId) -> Result<Channel> {
    let rows = db.execute(
        &format!("{CHANNEL_SELECT} WHERE c.org_key = ? AND c.id = ?"),
        &[tenant.key.into(), id.into()],
    )?;
    channel_from(&rows.first().ok_or(Error::NotFound(Entity::Channel))?)
}

pub fn list_channels(db: &dyn Db, tenant: &Tenant, sensor: SensorId) -> Result<Vec<Channel>> {
    let (sensor_key, _) = sensor_key(db, tenant, sensor)?;
    let rows = db.execute(
        &format!("{CHANNEL_SELECT} WHERE c.org_key = ? AND c.sensor_key = ? ORDER BY c.key"),
        &[tenant.key.into(), sensor_key.into()],
    )?;
    rows.iter().map(|r| channel_from(&r)).collect()
}

/// All channels of a device, across its sensors.
pub fn list_device_channels(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
) -> Result<Vec<Channel>> {
    let key = device_key(db, tenant, device)?;
    let rows = db.execute(&device_channels_sql(), &[tenant.key.into(), key.into()])?;
    rows.iter().map(|r| channel_from(&r)).collect()
}

/// Replaces a channel's fields; without a communicationId it becomes the channel's id
/// (Sensorbis ModifyChannel).
pub fn update_channel(
    db: &dyn Db,
    tenant: &Tenant,
    id: ChannelId,
    communication_id: Option<CommunicationId>,
    fields: &ChannelFields,
) -> Result<Channel> {
    let comm = communication_id.unwrap_or_else(|| CommunicationId::from_channel_id(id));
    let mut params: Vec<Value> = vec![(&comm).into()];
    params.extend(channel_field_params(fields));
    params.extend([tenant.key.into(), id.into()]);
    let rows = db.execute(
        "UPDATE channels SET communication_id = ?, name = ?, enumerated = ?, unit = ?, \
             min = ?, max = ?, purpose = ?, grouping = ?, threshold_op1 = ?, \
             threshold_value1 = ?, threshold_op2 = ?, threshold_value2 = ?, cal_scale = ?, \
             cal_offset = ? WHERE org_key = ? AND id = ? \
             AND NOT EXISTS (SELECT 1 FROM channels o WHERE o.device_key = channels.device_key \
                 AND o.communication_id = ?1 AND o.key <> channels.key) RETURNING key",
        &params,
    )?;
    if rows.is_empty() {
        // Nothing written: no such channel, or its device has another with this
        // communicationId.
        let sql = "SELECT 1 FROM channels WHERE org_key = ? AND id = ?";
        return Err(if exists(db, sql, &[tenant.key.into(), id.into()])? {
            Conflict::CommunicationIdTaken(comm.to_string()).into()
        } else {
            Error::NotFound(Entity::Channel)
        });
    }
    channel(db, tenant, id)
}

/// Deletes a channel with its points, rollups and incidents.
pub fn delete_channel(db: &dyn Db, tenant: &Tenant, id: ChannelId) -> Result<()> {
    transaction(db, |db| {
        let key = channel_ref(db, tenant, id)?.key;
        delete_channels_where(db, "key = ?", key)
    })
}

/// The handle of one channel, for reading or writing its points.
pub fn channel_ref(db: &dyn Db, tenant: &Tenant, id: ChannelId) -> Result<ChannelRef> {
    let key = db
        .execute(
            "SELECT key FROM channels WHERE org_key = ? AND id = ?",
            &[tenant.key.into(), id.into()],
        )?
        .first()
        .ok_or(Error::NotFound(Entity::Channel))?
        .i64(0)?;
    Ok(ChannelRef {
        org_key: tenant.key,
        key,
    })
}

/// A device's channel handles by communicationId: what ingestion resolves names against (one
/// query per request, however many values it carries).
pub fn channel_refs(db: &dyn Db, tenant: &Tenant, device: DeviceId) -> Result<ChannelRefs> {
    let key = device_key(db, tenant, device)?;
    channel_refs_by_key(db, tenant, key)
}

/// [`channel_refs`] of a device by its storage key.
pub(crate) fn channel_refs_by_key(
    db: &dyn Db,
    tenant: &Tenant,
    device_key: i64,
) -> Result<ChannelRefs> {
    // `+org_key`: the tenant filter stays, but the planner must not pick the organization's
    // index (every channel of the organization) over the device's (device_key,
    // communication_id): without statistics it did, and uploads slowed as organizations grew.
    let rows = db.execute(
        "SELECT communication_id, key FROM channels WHERE device_key = ? AND +org_key = ?",
        &[device_key.into(), tenant.key.into()],
    )?;
    let mut refs = keyed_map();
    for r in rows.iter() {
        let channel = ChannelRef {
            org_key: tenant.key,
            key: r.i64(1)?,
        };
        refs.insert(r.text(0)?.to_owned(), channel);
    }
    Ok(refs)
}

#[cfg(test)]
mod columns {
    #[test]
    fn device_columns_counts_device_cols() {
        assert_eq!(super::DEVICE_COLS.split(',').count(), super::DEVICE_COLUMNS);
    }
}
