//! InfluxDB `/write`: points named by device (UUID or network id) and communicationId resolved
//! to channels with one query per device, devices and channels registered on first sight when
//! the organization turned automatic registration on, the organization's points quota counted,
//! and everything written in one batch.

use std::collections::{BTreeMap, HashMap};

use fieldline_domain::query::write::{DeviceKey, SeriesPoint};
use fieldline_domain::{
    authorize, Action, ChannelFields, Device, DeviceFields, Name, Point, Principal, SensorFields,
    SensorId, Timestamp,
};

use crate::db::{placeholders, Db, Value};
use crate::devices::{
    channel_refs, create_channel, create_device, create_sensor, device_by_network_id,
    device_by_uuid, list_sensors, ChannelRef,
};
use crate::error::{Conflict, Error, Result};
use crate::orgs::Tenant;

/// What a write did: how many points were written, and why the others were not.
#[derive(Debug, Default, PartialEq)]
pub struct WriteReport {
    pub written: usize,
    pub rejected: Vec<String>,
}

fn key_text(key: &DeviceKey) -> String {
    match key {
        DeviceKey::Uuid(u) => format!("uuid {u}"),
        DeviceKey::NetworkId(n) => format!("network_id {n}"),
    }
}

/// The devices of the organization that the points name, in one query.
fn known_devices(
    db: &dyn Db,
    tenant: &Tenant,
    keys: &[&DeviceKey],
) -> Result<HashMap<DeviceKey, Device>> {
    let uuids: Vec<Value> = keys
        .iter()
        .filter_map(|k| match k {
            DeviceKey::Uuid(u) => Some(Value::from(*u)),
            DeviceKey::NetworkId(_) => None,
        })
        .collect();
    let mut out = HashMap::new();
    if !uuids.is_empty() {
        let sql = format!(
            "SELECT id FROM devices WHERE org_key = ? AND uuid IN ({})",
            placeholders(uuids.len())
        );
        let mut params = vec![Value::from(tenant.key)];
        params.extend(uuids);
        for r in db.execute(&sql, &params)?.iter() {
            let id = r.parse(0, fieldline_domain::DeviceId::parse)?;
            let d = crate::devices::device(db, tenant, id)?;
            out.insert(DeviceKey::Uuid(d.uuid), d);
        }
    }
    for k in keys {
        if let DeviceKey::NetworkId(n) = k {
            match device_by_network_id(db, tenant, n) {
                Ok(d) => {
                    out.insert((*k).clone(), d);
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Registers the device a point names (automatic registration); a concurrent registration of
/// the same device wins and is returned.
fn register_device(
    db: &dyn Db,
    tenant: &Tenant,
    p: &SeriesPoint,
    now: Timestamp,
) -> Result<Device> {
    let (uuid, network_id) = match &p.device {
        DeviceKey::Uuid(u) => (Some(*u), p.network_id.clone()),
        DeviceKey::NetworkId(n) => (None, Some(n.clone())),
    };
    let name = match &p.device_name {
        Some(n) => n.clone(),
        None => {
            let fallback: String = key_text(&p.device).chars().take(30).collect();
            Name::parse(&fallback).map_err(crate::error::corrupt)?
        }
    };
    let mut fields = DeviceFields::named(name);
    fields.network_id = network_id.clone();
    match create_device(db, tenant, &fields, uuid, now) {
        Err(Error::Conflict(Conflict::UuidTaken(u))) => match uuid {
            Some(uuid) => device_by_uuid(db, tenant, uuid),
            None => Err(Conflict::UuidTaken(u).into()),
        },
        Err(Error::Conflict(Conflict::NetworkIdTaken(_))) => match (&p.device, &network_id) {
            (DeviceKey::NetworkId(n), _) => device_by_network_id(db, tenant, n),
            // The UUID is new but its network id belongs to another device: a real conflict.
            (_, _) => Err(Conflict::NetworkIdTaken(
                network_id.map(|n| n.to_string()).unwrap_or_default(),
            )
            .into()),
        },
        other => other,
    }
}

/// The sensor new channels of a device go under: the one the point names (created if needed),
/// else the device's first, else a new "InfluxDB" sensor.
fn sensor_for(
    db: &dyn Db,
    tenant: &Tenant,
    device: &Device,
    wanted: Option<&Name>,
    now: Timestamp,
) -> Result<SensorId> {
    let sensors = list_sensors(db, tenant, device.id)?;
    if let Some(name) = wanted {
        if let Some(s) = sensors.iter().find(|s| s.fields.name == *name) {
            return Ok(s.id);
        }
        return Ok(create_sensor(
            db,
            tenant,
            device.id,
            &SensorFields::named(name.clone()),
            now,
        )?
        .id);
    }
    if let Some(s) = sensors.first() {
        return Ok(s.id);
    }
    let name = Name::parse("InfluxDB").map_err(crate::error::corrupt)?;
    Ok(create_sensor(db, tenant, device.id, &SensorFields::named(name), now)?.id)
}

/// Writes the points of a `/write` body for `principal`: resolves devices and channels
/// (registering unknown ones when `auto_register` and the principal may register from data),
/// counts the organization's points quota, and writes every resolved point in one batch.
pub fn write_series_points(
    db: &dyn Db,
    tenant: &Tenant,
    principal: &Principal,
    points: &[SeriesPoint],
    auto_register: bool,
    now: Timestamp,
) -> Result<WriteReport> {
    let mut report = WriteReport::default();
    if points.is_empty() {
        return Ok(report);
    }
    let may_register =
        auto_register && authorize(principal, Action::RegisterFromData, tenant.id()).is_ok();
    let mut by_device: BTreeMap<&DeviceKey, Vec<&SeriesPoint>> = BTreeMap::new();
    for p in points {
        by_device.entry(&p.device).or_default().push(p);
    }
    let keys: Vec<&DeviceKey> = by_device.keys().copied().collect();
    let mut devices = known_devices(db, tenant, &keys)?;
    let mut resolved: Vec<(ChannelRef, Point)> = Vec::with_capacity(points.len());
    for (key, group) in &by_device {
        let device = match devices.remove(*key) {
            Some(d) => d,
            None if may_register => register_device(db, tenant, group[0], now)?,
            None => {
                let why = if auto_register {
                    "registering a device needs the Modify permission"
                } else {
                    "register it through the admin API, or turn on automatic registration"
                };
                report.rejected.extend(group.iter().map(|_| {
                    format!(
                        "unknown device: no device with {} in this organization; {why}",
                        key_text(key)
                    )
                }));
                continue;
            }
        };
        authorize(principal, Action::WritePoints(device.id), tenant.id())?;
        let mut refs = channel_refs(db, tenant, device.id)?;
        for p in group {
            let name = p.channel.as_str();
            if !refs.contains_key(name) {
                if !may_register {
                    report.rejected.push(format!(
                        "unknown channel: device {} has no channel {name:?}; add it through the \
                         admin API, or turn on automatic registration",
                        device.id
                    ));
                    continue;
                }
                let sensor = sensor_for(db, tenant, &device, p.sensor.as_ref(), now)?;
                let channel_name: String = name.chars().take(30).collect();
                let mut fields = ChannelFields::named(
                    Name::parse(&channel_name).map_err(crate::error::corrupt)?,
                );
                if let Some(u) = &p.unit {
                    fields.unit = u.clone();
                }
                match create_channel(db, tenant, sensor, Some(p.channel.clone()), &fields, now) {
                    Ok(_) | Err(Error::Conflict(Conflict::CommunicationIdTaken(_))) => {}
                    Err(e) => return Err(e),
                }
                refs = channel_refs(db, tenant, device.id)?;
            }
            if let Some(r) = refs.get(name) {
                resolved.push((*r, p.point));
            }
        }
    }
    if resolved.is_empty() {
        return Ok(report);
    }
    // The organization's hourly points quota, counted in points actually written.
    let subscription = crate::orgs::organization(db, tenant)?.subscription;
    crate::counters::check_rate_limit(
        db,
        &subscription.points_policy(),
        &format!("org:{}", tenant.id()),
        resolved.len() as u64,
        now,
    )?;
    report.written = crate::points::write_points(db, tenant, &resolved)?;
    Ok(report)
}
