//! The one path every point takes into storage, whichever API it came through (Conduit over HTTP
//! and MQTT, InfluxDB `/write`, the Sensorbis push): resolve devices and channels,
//! register unknown ones where allowed, authorize, count the rate limit and the organization's
//! points quota, write in one batch.
//!
//! Nothing is written before the limits are counted, and nothing is counted for a request that
//! is refused for who sent it or what it names (404, 403), so a refused request costs no quota.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use fieldline_domain::query::write::DeviceKey;
use fieldline_domain::sensorbis;
use fieldline_domain::{
    authorize, Action, ChannelFields, CommunicationId, ConduitTier, Device, DeviceFields, Name,
    NetworkId, Point, Principal, SensorFields, SensorId, Subscription, Timestamp, Unit, Uuid,
};

use crate::auth::ConduitCaller;
use crate::error::{corrupt, Conflict, Entity, Error, Result};
use crate::limits::{self, Subject};
use crate::ports::{ChannelRef, ChannelRefs, Reserved, Store, Tenant};

/// Which API the points came through: it decides the rate limit, what an unknown device or
/// channel means, and the names automatic registration gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// AlphaX Conduit (HTTP or MQTT) with a token of this tier. The channel plan is fixed by the
    /// protocol, so a channel is created on first use even without automatic registration; an
    /// unknown device refuses the whole upload.
    Conduit(ConduitTier),
    /// InfluxDB `/write`: an unknown device or channel drops its points (reported), unless
    /// automatic registration creates them.
    InfluxWrite,
    /// A Sensorbis device push: the device is the push credential's; a communicationId the
    /// device does not have refuses the whole packet (nothing is registered from a push), and
    /// so does a value that would take its channel's hourly sum out of the double range.
    SensorbisPush,
}

/// What automatic registration names a new device, sensor and channel by, as a point's API
/// gave it. Shared by the points of one series of a body (a `/write` body names its series once
/// for every line), so that a point costs no copies of its names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Naming {
    /// A new device's network id besides its UUID.
    pub network_id: Option<fieldline_domain::NetworkId>,
    pub device_name: Option<Name>,
    pub sensor: Option<Name>,
    pub channel_name: Option<Name>,
    pub unit: Option<Unit>,
    /// The tag set a `/write` line named its series by: kept on a channel the point registers,
    /// so that InfluxQL reads the series back with exactly the tags its writer sent.
    pub written_tags: Option<Vec<(String, String)>>,
}

/// One point as it arrived, with what automatic registration would name things by.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub device: DeviceKey,
    pub channel: CommunicationId,
    pub point: Point,
    pub naming: Arc<Naming>,
    /// The measurement and field a `/write` line wrote the channel as, when not its
    /// communicationId and `value` ([`crate::ports::SeriesInfo::written_field`]).
    pub written_field: Option<(String, String)>,
    /// The index of the `/write` line the point came from (0 for the other APIs).
    pub line: usize,
}

impl Incoming {
    /// A point without names for registration (a Sensorbis push registers nothing): every such
    /// point shares one empty [`Naming`], so none costs an allocation.
    pub fn new(device: DeviceKey, channel: CommunicationId, point: Point) -> Self {
        static UNNAMED: LazyLock<Arc<Naming>> = LazyLock::new(Arc::default);
        Incoming::named(device, channel, point, Arc::clone(&UNNAMED))
    }

    /// A point whose series is named by `naming`.
    pub fn named(
        device: DeviceKey,
        channel: CommunicationId,
        point: Point,
        naming: Arc<Naming>,
    ) -> Self {
        Incoming {
            device,
            channel,
            point,
            naming,
            written_field: None,
            line: 0,
        }
    }
}

impl Incoming {
    /// An AlphaX Conduit reading of device `network_id` at `timestamp`: its channel is the
    /// AlphaX channel number, named as the channel plan names it ("Channel 3", "Device
    /// voltage" in mV) when it is created.
    pub fn conduit(
        network_id: &fieldline_domain::NetworkId,
        timestamp: Timestamp,
        reading: &fieldline_domain::conduit::Reading,
    ) -> Result<Incoming> {
        let (channel_name, unit) = reading.channel.default_name_and_unit();
        let naming = Naming {
            channel_name: Some(name(&channel_name)?),
            unit: Some(Unit::parse(unit).map_err(corrupt)?),
            ..Naming::default()
        };
        Ok(Incoming::named(
            DeviceKey::NetworkId(network_id.clone()),
            reading.channel.communication_id(),
            Point::new(timestamp, reading.value)?,
            Arc::new(naming),
        ))
    }
}

/// What an ingestion did: how many points were written, and why the others were not.
#[derive(Debug, Default, PartialEq)]
pub struct IngestReport {
    pub written: usize,
    pub rejected: Vec<String>,
    /// InfluxDB `/write` without automatic registration: the points that name a device or a
    /// channel the organization does not have, not written here and not refused. Each is a
    /// value of a general series instead (`influx::write`).
    pub unrouted: Vec<Incoming>,
}

fn key_text(key: &DeviceKey) -> String {
    match key {
        DeviceKey::Uuid(u) => format!("uuid {u}"),
        DeviceKey::NetworkId(n) => format!("network_id {n}"),
    }
}

fn name(text: &str) -> Result<Name> {
    let cut: String = text.chars().take(30).collect();
    Name::parse(&cut).map_err(corrupt)
}

/// A device the points name: known, or to be registered from its first point.
enum Target<'a> {
    Known(Box<Device>),
    New(&'a Incoming),
}

/// Stores `points` for `principal` in `tenant`, as `api` means them, under the organization's
/// `subscription` as the request's authentication read it: in force (every caller checks that
/// first, so an expired organization is refused whatever it sends), and not read again.
pub fn ingest(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    principal: &Principal,
    api: Api,
    points: &[Incoming],
    subscription: &Subscription,
    now: Timestamp,
) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    if points.is_empty() {
        return Ok(report);
    }
    // Points older than the detailed retention: InfluxDB's `/write` drops them and says so
    // (a partial write); every other API refuses the whole request, never storing part of it
    // silently.
    let kept: Vec<Incoming>;
    let mut points = points;
    if let Some(old) = points
        .iter()
        .find_map(|p| subscription.check_retained(p.point.ts(), now).err())
    {
        if api != Api::InfluxWrite {
            return Err(old.into());
        }
        kept = points
            .iter()
            .filter(|p| match subscription.check_retained(p.point.ts(), now) {
                Ok(()) => true,
                Err(e) => {
                    report.rejected.push(e.message);
                    false
                }
            })
            .cloned()
            .collect();
        if kept.is_empty() {
            return Ok(report);
        }
        points = &kept;
    }
    // Settle every device first, writing nothing.
    let mut by_device: BTreeMap<&DeviceKey, Vec<&Incoming>> = BTreeMap::new();
    for p in points {
        by_device.entry(&p.device).or_default().push(p);
    }
    let mut known = known_devices(store, tenant, by_device.keys().copied())?;
    // The organization's setting is read only when a device is unknown (the common upload
    // names known devices and costs no extra statement).
    let auto_register = known.len() < by_device.len() && store.auto_registration(tenant)?;
    let may_register =
        auto_register && authorize(principal, Action::RegisterFromData, tenant.id()).is_ok();
    let mut targets: Vec<(Target<'_>, Vec<&Incoming>)> = Vec::with_capacity(by_device.len());
    // The channels of the known devices, by their index in `targets`.
    let mut refs: HashMap<usize, ChannelRefs> = HashMap::new();
    for (key, group) in by_device {
        match known.remove(key) {
            Some((device, channels)) => {
                authorize(principal, Action::WritePoints(device.id), tenant.id())?;
                refs.insert(targets.len(), channels);
                targets.push((Target::Known(Box::new(device)), group));
            }
            None if may_register => targets.push((Target::New(group[0]), group)),
            None => match api {
                Api::Conduit(_) if !auto_register => {
                    let named = match key {
                        DeviceKey::NetworkId(n) => format!("networkId {:?}", n.as_str()),
                        DeviceKey::Uuid(u) => format!("uuid {u}"),
                    };
                    return Err(Error::UnknownDevice(format!(
                        "no device with {named}: register it first, or turn on automatic \
                         registration for the organization"
                    )));
                }
                Api::Conduit(_) => {
                    authorize(principal, Action::RegisterFromData, tenant.id())?;
                }
                Api::SensorbisPush => return Err(Error::NotFound(Entity::Device)),
                Api::InfluxWrite if !auto_register => {
                    report.unrouted.extend(group.iter().map(|p| (*p).clone()));
                }
                // Automatic registration is on, but the writer may not register.
                Api::InfluxWrite => {
                    report.rejected.extend(group.iter().map(|_| {
                        format!(
                            "unknown device: no device with {} in this organization; \
                             registering a device needs the Modify permission",
                            key_text(key)
                        )
                    }));
                }
            },
        }
    }
    let create_channels = match api {
        Api::Conduit(_) => true,
        Api::InfluxWrite => may_register,
        Api::SensorbisPush => false,
    };

    // Channels of known devices: drop what may not be created before anything is counted.
    let mut to_write = 0usize;
    for (i, (target, group)) in targets.iter_mut().enumerate() {
        if let (Target::Known(device), Some(r)) = (&*target, refs.get(&i)) {
            if api == Api::SensorbisPush {
                check_push(store, tenant, device, group, r)?;
            }
            if !create_channels {
                group.retain(|p| {
                    let ok = r.contains_key(p.channel.as_str());
                    if !ok && api == Api::InfluxWrite && !auto_register {
                        report.unrouted.push((*p).clone());
                    } else if !ok {
                        report.rejected.push(format!(
                            "unknown channel: device {} has no channel {:?}; add it through \
                             the admin API, or turn on automatic registration",
                            device.id,
                            p.channel.as_str()
                        ));
                    }
                    ok
                });
            }
        }
        to_write += group.len();
    }
    if to_write == 0 {
        return Ok(report);
    }

    let rate = match api {
        Api::Conduit(tier) => limits::conduit_write(tier),
        Api::InfluxWrite | Api::SensorbisPush => None,
    };
    let quota = limits::points_per_hour(subscription);

    // The common upload names known devices and channels only: its limits are counted in the
    // points' own write, one commit for the whole request. (`refs` holds the channels of the
    // known devices only, so a device or channel still to register leaves this `None`.)
    let all_known: Option<Vec<(ChannelRef, Point)>> = targets
        .iter()
        .enumerate()
        .filter(|(_, (_, group))| !group.is_empty())
        .flat_map(|(i, (_, group))| {
            let r = refs.get(&i);
            group
                .iter()
                .map(move |p| Some((*r?.get(p.channel.as_str())?, p.point)))
        })
        .collect();
    if let Some(resolved) = all_known {
        let mut limited: Vec<(&fieldline_domain::RateLimitPolicy, Subject<'_>, u64)> = Vec::new();
        if let Some(policy) = &rate {
            limited.push((policy, Subject::Principal(principal), 1));
        }
        limited.push((&quota, Subject::Org(tenant.id()), to_write as u64));
        let reservations: Vec<_> = limited
            .iter()
            .map(|(policy, subject, units)| limits::reservation(policy, *subject, *units, now))
            .collect();
        return match store.write_points_within(tenant, &resolved, &reservations)? {
            Reserved::Written(n) => {
                report.written = n;
                Ok(report)
            }
            Reserved::OverLimit(i) => {
                let (policy, subject, units) = limited[i];
                // The quota is the last reservation.
                if i + 1 == limited.len() {
                    count_discarded(store, tenant, &targets, now)?;
                }
                Err(limits::over_limit(policy, subject, units, now))
            }
        };
    }

    // Devices or channels to register: the limits are counted first, so that a refused
    // request registers nothing.
    if let Some(policy) = rate {
        limits::check(store, &policy, Subject::Principal(principal), 1, now)?;
    }
    if let Err(e) = limits::reserve(
        store,
        &quota,
        Subject::Org(tenant.id()),
        to_write as u64,
        now,
    ) {
        if e.as_rate_limited().is_some() {
            count_discarded(store, tenant, &targets, now)?;
        }
        return Err(e);
    }

    // Register what is missing, then write everything in one batch.
    let mut resolved: Vec<(ChannelRef, Point)> = Vec::with_capacity(to_write);
    for (i, (target, group)) in targets.into_iter().enumerate() {
        if group.is_empty() {
            continue;
        }
        let (device, mut channels) = match target {
            Target::Known(d) => {
                let r = refs.remove(&i).unwrap_or_default();
                (*d, r)
            }
            Target::New(first) => {
                let d = register_device(store, tenant, first, api, now)?;
                authorize(principal, Action::WritePoints(d.id), tenant.id())?;
                let r = store.channel_refs(tenant, &d)?;
                (d, r)
            }
        };
        let missing: Vec<&Incoming> = group
            .iter()
            .copied()
            .filter(|p| !channels.contains_key(p.channel.as_str()))
            .collect();
        if !missing.is_empty() {
            let mut sensors: HashMap<Option<Name>, SensorId> = HashMap::new();
            let mut created: HashSet<&str> = HashSet::new();
            for p in missing {
                if !created.insert(p.channel.as_str()) {
                    continue;
                }
                let sensor = match sensors.get(&p.naming.sensor) {
                    Some(s) => *s,
                    None => {
                        let s =
                            sensor_for(store, tenant, &device, p.naming.sensor.as_ref(), api, now)?;
                        sensors.insert(p.naming.sensor.clone(), s);
                        s
                    }
                };
                let mut fields = ChannelFields::named(match &p.naming.channel_name {
                    Some(n) => n.clone(),
                    None => name(p.channel.as_str())?,
                });
                if let Some(u) = &p.naming.unit {
                    fields.unit = u.clone();
                }
                match store.create_channel(tenant, sensor, Some(p.channel.clone()), &fields, now) {
                    Ok(c) => {
                        if let Some(tags) = &p.naming.written_tags {
                            store.set_written(tenant, &c.id, tags, p.written_field.as_ref())?;
                        }
                    }
                    // Created meanwhile by a concurrent request: read back below.
                    Err(Error::Conflict(Conflict::CommunicationIdTaken(_))) => {}
                    Err(e) => return Err(e),
                }
            }
            channels = store.channel_refs(tenant, &device)?;
        }
        for p in group {
            let r = channels
                .get(p.channel.as_str())
                .ok_or(Error::NotFound(Entity::Channel))?;
            resolved.push((*r, p.point));
        }
    }
    report.written = store.write_points(tenant, &resolved)?;
    Ok(report)
}

/// Points discarded over the points-per-hour limit, counted per device for the organization's
/// administrators (as Sensorbis discards over the limit), whichever API they came through.
fn count_discarded(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    targets: &[(Target<'_>, Vec<&Incoming>)],
    now: Timestamp,
) -> Result<()> {
    let hour = now.hour_start();
    for (target, group) in targets {
        if group.is_empty() {
            continue;
        }
        let device = match target {
            Target::Known(d) => Some(d.id),
            Target::New(_) => None,
        };
        store.count_discarded(tenant, device, hour, group.len() as u64)?;
    }
    Ok(())
}

/// A Sensorbis packet is stored whole or not at all: every communicationId must be one of the
/// device's channels, and no channel's sum for the hour may leave the double range (checked
/// against the stored values only where a value is above [`sensorbis::LARGE_VALUE`]).
fn check_push(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    device: &Device,
    group: &[&Incoming],
    refs: &ChannelRefs,
) -> Result<()> {
    let unknown: Vec<&str> = group
        .iter()
        .map(|p| p.channel.as_str())
        .filter(|c| !refs.contains_key(*c))
        .collect();
    if !unknown.is_empty() {
        return Err(sensorbis::unknown_channels(device.id.as_str(), &unknown).into());
    }
    // Per (channel, hour): the magnitudes the request adds, and the one time it writes if only
    // one (a rewrite of that time replaces the stored value).
    struct HourSum<'n> {
        magnitude: f64,
        only: Option<Timestamp>,
        large: bool,
        name: &'n str,
    }
    let mut added: BTreeMap<(ChannelRef, i64), HourSum<'_>> = BTreeMap::new();
    for p in group {
        let Some(r) = refs.get(p.channel.as_str()) else {
            continue;
        };
        let ts = p.point.ts();
        let v = p.point.value().abs();
        let e = added
            .entry((*r, ts.hour_start().as_millis()))
            .or_insert(HourSum {
                magnitude: 0.0,
                only: Some(ts),
                large: false,
                name: p.channel.as_str(),
            });
        if e.only != Some(ts) {
            e.only = None;
        }
        e.magnitude += v;
        e.large |= v > sensorbis::LARGE_VALUE;
    }
    for ((r, hour), sum) in added {
        if !sum.large {
            continue;
        }
        let hour = Timestamp::from_millis(hour).map_err(corrupt)?;
        let except = sum.only.unwrap_or(hour.add_millis(-1));
        let total = store.hourly_magnitude(tenant, r, hour, except)? + sum.magnitude;
        if !total.is_finite() || total > sensorbis::HOURLY_MAGNITUDE_CAP {
            return Err(sensorbis::hourly_sum_overflow(sum.name, hour).into());
        }
    }
    Ok(())
}

/// An AlphaX Conduit upload (HTTP or MQTT): the readings of device `network_id` at `timestamp`,
/// stored for the token's holder under its tier's rate limit. Returns how many were written.
pub fn conduit_upload(
    store: &(impl Store + ?Sized),
    caller: &ConduitCaller,
    network_id: &fieldline_domain::NetworkId,
    timestamp: Timestamp,
    readings: &[fieldline_domain::conduit::Reading],
    now: Timestamp,
) -> Result<usize> {
    let points = readings
        .iter()
        .map(|r| Incoming::conduit(network_id, timestamp, r))
        .collect::<Result<Vec<_>>>()?;
    let auth = &caller.auth;
    let api = Api::Conduit(caller.tier);
    let subscription = &caller.subscription;
    let report = ingest(
        store,
        &auth.tenant,
        &auth.principal,
        api,
        &points,
        subscription,
        now,
    )?;
    Ok(report.written)
}

/// The devices these keys name that exist, each with its channels by communicationId, in one
/// lookup.
fn known_devices<'k>(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    keys: impl Iterator<Item = &'k DeviceKey>,
) -> Result<HashMap<DeviceKey, crate::ports::DeviceChannels>> {
    let (mut uuids, mut network_ids) = (Vec::new(), Vec::new());
    for k in keys {
        match k {
            DeviceKey::Uuid(u) => uuids.push(*u),
            DeviceKey::NetworkId(n) => network_ids.push(n.clone()),
        }
    }
    let mut out = HashMap::new();
    let found = store.devices_with_channels(tenant, &uuids, &network_ids)?;
    let (uuids, network_ids): (HashSet<Uuid>, HashSet<NetworkId>) = (
        uuids.into_iter().collect(),
        network_ids.into_iter().collect(),
    );
    for (d, channels) in found {
        // A device named both ways (a UUID in one point, its network id in another) is found
        // under each.
        if let Some(n) = d
            .fields
            .network_id
            .as_ref()
            .filter(|n| network_ids.contains(n))
        {
            out.insert(
                DeviceKey::NetworkId(n.clone()),
                (d.clone(), channels.clone()),
            );
        }
        if uuids.contains(&d.uuid) {
            out.insert(DeviceKey::Uuid(d.uuid), (d, channels));
        }
    }
    Ok(out)
}

/// Registers the device a point names (automatic registration); a concurrent registration of
/// the same device wins and is returned.
fn register_device(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    p: &Incoming,
    api: Api,
    now: Timestamp,
) -> Result<Device> {
    let (uuid, network_id) = match &p.device {
        DeviceKey::Uuid(u) => (Some(*u), p.naming.network_id.clone()),
        DeviceKey::NetworkId(n) => (None, Some(n.clone())),
    };
    let device_name = match (&p.naming.device_name, api, &p.device) {
        (Some(n), _, _) => n.clone(),
        // A Conduit device is named by its network id.
        (None, Api::Conduit(_), DeviceKey::NetworkId(n)) => name(n.as_str())?,
        (None, _, key) => name(&key_text(key))?,
    };
    let mut fields = DeviceFields::named(device_name);
    fields.network_id = network_id.clone();
    match store.create_device(tenant, &fields, uuid, now) {
        Err(Error::Conflict(Conflict::UuidTaken(u))) => match uuid {
            Some(uuid) => store
                .devices_by_uuid(tenant, &[uuid])?
                .into_iter()
                .next()
                .ok_or(Error::Conflict(Conflict::UuidTaken(u))),
            None => Err(Conflict::UuidTaken(u).into()),
        },
        Err(Error::Conflict(Conflict::NetworkIdTaken(_))) => match (&p.device, &network_id) {
            (DeviceKey::NetworkId(n), _) => store.device_by_network_id(tenant, n),
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
/// else the device's first, else a new one named after the API.
fn sensor_for(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    device: &Device,
    wanted: Option<&Name>,
    api: Api,
    now: Timestamp,
) -> Result<SensorId> {
    let sensors = store.list_sensors(tenant, device.id)?;
    if let Some(wanted) = wanted {
        if let Some(s) = sensors.iter().find(|s| s.fields.name == *wanted) {
            return Ok(s.id);
        }
        let fields = SensorFields::named(wanted.clone());
        return Ok(store.create_sensor(tenant, device.id, &fields, now)?.id);
    }
    if let Some(s) = sensors.first() {
        return Ok(s.id);
    }
    let default = match api {
        Api::Conduit(_) => "Conduit",
        Api::InfluxWrite => "InfluxDB",
        // A push never registers channels (refused before this), but a name is still due.
        Api::SensorbisPush => "Sensorbis",
    };
    let fields = SensorFields::named(name(default)?);
    Ok(store.create_sensor(tenant, device.id, &fields, now)?.id)
}
