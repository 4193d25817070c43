//! The 13 methods of the management API: each reads its Request table from the body
//! ([`crate::fields`]), checks who may act (the domain's `authorize`; a device token acts on
//! its own device only, and anything else is answered as inexistent), calls the ports, and
//! answers its Response table. Batch methods (AddDevices, AddSensors, AddChannels) are checked
//! whole first and written in one transaction (`Atomic::atomically`): all or nothing.

use fieldline_component::Store;
use fieldline_domain::{
    Action, Channel, ChannelFields, ChannelId, CommunicationId, Device, DeviceFields, DeviceId,
    OrgId, SealKey, Sensor, SensorFields, SensorId, Timestamp,
};
use fieldline_service::prelude::*;
use fieldline_service::sensorbis::{self as sb, DeviceSecrets, ManagementCaller};
use fieldline_service::{Entity, Error, Tenant};
use serde_json::{json, Map, Value};

use crate::error::{SbError, SbResult};
use crate::fields::{self, Obj};
use crate::ops::{Op, PUSH};

/// One call of a method.
pub struct Call<'a> {
    pub store: &'a Store,
    pub caller: ManagementCaller,
    pub key: &'a SealKey,
    /// Where devices push, without the trailing slash (`https://host`).
    pub base_url: &'a str,
    pub now: Timestamp,
}

impl Call<'_> {
    fn tenant(&self) -> &Tenant {
        &self.caller.caller.tenant
    }

    /// The permission check; a device refused an object of its federation is told the object
    /// does not exist (for it, it does not).
    fn may(&self, action: Action, what: Entity) -> SbResult<()> {
        self.caller
            .caller
            .may(action)
            .map_err(|_| SbError::not_found(what))
    }

    /// Methods a device token cannot call.
    fn federation_only(&self, method: &str) -> SbResult<()> {
        match self.caller.device() {
            None => Ok(()),
            Some(_) => Err(SbError::new(
                20,
                format!(
                    "authentication failed: {method} needs the federation token; a device \
                     token cannot call it"
                ),
            )),
        }
    }

    /// The `federation` object (required); its `id`, when given, must be the caller's
    /// federation (else error 100).
    fn check_federation(&self, o: &Obj<'_>, id_required: bool) -> SbResult<()> {
        let f = o.required_object("federation")?;
        let id = f.id("id", OrgId::parse)?;
        match id {
            None if id_required => Err(SbError::bad_request(format!(
                "{}.id: is required",
                f.path()
            ))),
            Some(id) if id != self.tenant().id() => Err(SbError::not_found(Entity::Organization)),
            _ => Ok(()),
        }
    }

    /// The device a request names by `device.id`, or the calling device when it names none
    /// (`required`: the table requires the id whoever calls).
    fn device_id(&self, o: &Obj<'_>, required: bool) -> SbResult<DeviceId> {
        let d = o.required_object("device")?;
        match (d.id("id", DeviceId::parse)?, self.caller.device()) {
            (Some(id), _) => Ok(id),
            (None, Some(own)) if !required => Ok(own),
            (None, _) => Err(SbError::bad_request(format!(
                "{}.id: is required",
                d.path()
            ))),
        }
    }

    fn uri(&self, device: DeviceId) -> String {
        format!("{}{PUSH}{device}", self.base_url)
    }
}

fn required_id<T>(
    o: &Obj<'_>,
    object: &str,
    parse: impl FnOnce(&str) -> Result<T, fieldline_domain::ParseError>,
) -> SbResult<T> {
    let inner = o.required_object(object)?;
    inner
        .id("id", parse)?
        .ok_or_else(|| SbError::bad_request(format!("{}.id: is required", inner.path())))
}

/// Runs a method; the answer is its Response table without `error`.
pub fn call(op: Op, c: &Call<'_>, body: &Value) -> SbResult<Value> {
    let o = Obj::root(body)?;
    match op {
        Op::GetFederation => get_federation(c),
        Op::CreateFederationToken => {
            c.federation_only("CreateFederationToken")?;
            c.check_federation(&o, true)?;
            c.caller.caller.may(Action::IssueFederationToken)?;
            let token = sb::issue_federation_token(c.store, c.tenant(), c.now)?;
            Ok(json!({ "token": token.expose() }))
        }
        Op::AddDevices => add_devices(c, &o),
        Op::GetDevice => {
            let id = c.device_id(&o, false)?;
            c.may(Action::ReadDevice(id), Entity::Device)?;
            let device = c.store.device(c.tenant(), id)?;
            let mut secrets = sb::device_secrets(c.store, c.key, c.tenant(), Some(id), c.now)?;
            Ok(
                json!({ "device": device_json(c, &device, secrets.remove(&id).unwrap_or_default())? }),
            )
        }
        Op::ModifyDevice => {
            let id = required_id(&o, "device", DeviceId::parse)?;
            c.may(Action::ModifyDevice(id), Entity::Device)?;
            let current = c.store.device(c.tenant(), id)?;
            let fields =
                fields::device_fields(&o.required_object("device")?, Some(&current.fields), true)?;
            let updated = c.store.update_device(c.tenant(), id, &fields, c.now)?;
            Ok(json!({ "needsNotificationUriVerification": needs_verification(&updated) }))
        }
        Op::DeleteDevice => {
            let id = required_id(&o, "device", DeviceId::parse)?;
            c.may(Action::ModifyDevice(id), Entity::Device)?;
            c.store.delete_device(c.tenant(), id)?;
            Ok(json!({}))
        }
        Op::CreateDeviceToken => {
            let id = required_id(&o, "device", DeviceId::parse)?;
            c.may(Action::IssueDeviceToken(id), Entity::Device)?;
            let token = sb::issue_device_token(c.store, c.key, c.tenant(), id, c.now)?;
            Ok(json!({ "token": token.expose() }))
        }
        Op::AddSensors => add_sensors(c, &o),
        Op::ModifySensor => {
            let id = required_id(&o, "sensor", SensorId::parse)?;
            let current = c.store.sensor(c.tenant(), id)?;
            c.may(Action::ModifyDevice(current.device), Entity::Sensor)?;
            let f = fields::sensor_fields(&o.required_object("sensor")?)?;
            c.store.update_sensor(c.tenant(), id, &f)?;
            Ok(json!({}))
        }
        Op::DeleteSensor => {
            let id = required_id(&o, "sensor", SensorId::parse)?;
            let current = c.store.sensor(c.tenant(), id)?;
            c.may(Action::ModifyDevice(current.device), Entity::Sensor)?;
            c.store.delete_sensor(c.tenant(), id)?;
            Ok(json!({}))
        }
        Op::AddChannels => add_channels(c, &o),
        Op::ModifyChannel => {
            let id = required_id(&o, "channel", ChannelId::parse)?;
            let current = c.store.channel(c.tenant(), id)?;
            c.may(Action::ModifyDevice(current.device), Entity::Channel)?;
            let ch = o.required_object("channel")?;
            let comm = fields::communication_id(&ch)?
                .unwrap_or_else(|| CommunicationId::from_channel_id(id));
            let f = fields::channel_fields(&ch, Some(&current.fields))?;
            c.store.update_channel(c.tenant(), id, Some(comm), &f)?;
            Ok(json!({}))
        }
        Op::DeleteChannel => {
            let id = required_id(&o, "channel", ChannelId::parse)?;
            let current = c.store.channel(c.tenant(), id)?;
            c.may(Action::ModifyDevice(current.device), Entity::Channel)?;
            c.store.delete_channel(c.tenant(), id)?;
            Ok(json!({}))
        }
    }
}

fn needs_verification(d: &Device) -> bool {
    d.fields.notification_email.is_some() && !d.notification_verified
}

fn get_federation(c: &Call<'_>) -> SbResult<Value> {
    c.federation_only("GetFederation")?;
    c.caller.caller.may(Action::ReadOrg)?;
    let org = &c.caller.organization;
    let mut secrets = sb::device_secrets(c.store, c.key, c.tenant(), None, c.now)?;
    let devices = c
        .store
        .list_devices(c.tenant())?
        .iter()
        .map(|d| device_json(c, d, secrets.remove(&d.id).unwrap_or_default()))
        .collect::<SbResult<Vec<_>>>()?;
    let mut f = Map::new();
    f.insert("id".into(), json!(org.id.as_str()));
    f.insert("name".into(), json!(org.fields.name.as_str()));
    f.insert("descr".into(), json!(org.fields.descr.as_str()));
    f.insert("devices".into(), Value::Array(devices));
    Ok(json!({ "federation": f }))
}

/// A device as GetFederation and GetDevice return it, with its sensors and channels.
fn device_json(c: &Call<'_>, d: &Device, secrets: DeviceSecrets) -> SbResult<Value> {
    let authorization = match secrets.authorization {
        Some(a) => a,
        None => sb::ensure_push_credential(c.store, c.key, c.tenant(), d.id, c.now)?,
    };
    let f = &d.fields;
    let mut m = Map::new();
    m.insert("id".into(), json!(d.id.as_str()));
    m.insert("vendorId".into(), json!(f.vendor_id.as_str()));
    m.insert("customerId".into(), json!(f.customer_id.as_str()));
    m.insert("name".into(), json!(f.name.as_str()));
    m.insert("descr".into(), json!(f.descr.as_str()));
    m.insert("timeZone".into(), json!(f.time_zone.minutes()));
    m.insert("usesDst".into(), json!(f.uses_dst));
    if let Some(l) = f.location {
        m.insert("lon".into(), json!(l.lon()));
        m.insert("lat".into(), json!(l.lat()));
    }
    m.insert("uri".into(), json!(c.uri(d.id)));
    m.insert("authorization".into(), json!(authorization));
    m.insert(
        "notificationUri".into(),
        json!(f.notification_email.as_ref().map_or("", |e| e.as_str())),
    );
    m.insert(
        "notificationsMinInterval".into(),
        json!(f.notifications_min_interval.secs()),
    );
    if let Some(t) = secrets.token {
        m.insert("token".into(), json!(t));
    }
    let sensors = c
        .store
        .list_sensors(c.tenant(), d.id)?
        .iter()
        .map(|s| sensor_json(c, s))
        .collect::<SbResult<Vec<_>>>()?;
    m.insert("sensors".into(), Value::Array(sensors));
    Ok(Value::Object(m))
}

fn sensor_json(c: &Call<'_>, s: &Sensor) -> SbResult<Value> {
    let channels: Vec<Value> = c
        .store
        .list_channels(c.tenant(), s.id)?
        .iter()
        .map(channel_json)
        .collect();
    Ok(json!({
        "id": s.id.as_str(),
        "customerId": s.fields.customer_id.as_str(),
        "name": s.fields.name.as_str(),
        "descr": s.fields.descr.as_str(),
        "channels": channels,
    }))
}

fn channel_json(ch: &Channel) -> Value {
    let f = &ch.fields;
    let mut m = Map::new();
    m.insert("id".into(), json!(ch.id.as_str()));
    m.insert(
        "communicationId".into(),
        json!(ch.communication_id.as_str()),
    );
    m.insert("name".into(), json!(f.name.as_str()));
    m.insert("enumerated".into(), json!(f.enumerated));
    m.insert("unit".into(), json!(f.unit.as_str()));
    if let Some(v) = f.range.min() {
        m.insert("min".into(), json!(v));
    }
    if let Some(v) = f.range.max() {
        m.insert("max".into(), json!(v));
    }
    m.insert("purpose".into(), json!(f.purpose.as_str()));
    m.insert("grouping".into(), json!(f.grouping.as_str()));
    for (n, t) in [(1, f.thresholds.first()), (2, f.thresholds.second())] {
        if let Some(t) = t {
            m.insert(format!("thresholdOperator{n}"), json!(t.op().as_str()));
            m.insert(format!("thresholdValue{n}"), json!(t.value()));
        }
    }
    Value::Object(m)
}

/// A new channel as a request gives it.
struct NewChannel {
    communication_id: Option<CommunicationId>,
    fields: ChannelFields,
}

/// A new sensor with its channels.
struct NewSensor {
    fields: SensorFields,
    channels: Vec<NewChannel>,
}

fn new_channels(o: &Obj<'_>, required: bool) -> SbResult<Vec<NewChannel>> {
    o.array("channels", required)?
        .iter()
        .map(|ch| {
            Ok(NewChannel {
                communication_id: fields::communication_id(ch)?,
                fields: fields::channel_fields(ch, None)?,
            })
        })
        .collect()
}

fn new_sensors(o: &Obj<'_>, required: bool) -> SbResult<Vec<NewSensor>> {
    o.array("sensors", required)?
        .iter()
        .map(|s| {
            Ok(NewSensor {
                fields: fields::sensor_fields(s)?,
                channels: new_channels(s, false)?,
            })
        })
        .collect()
}

/// Creates sensors with their channels on `device` (inside the caller's transaction); returns
/// `[{id, channels: [{id}]}]`.
fn create_sensors(
    s: &dyn fieldline_service::Store,
    tenant: &Tenant,
    device: DeviceId,
    sensors: &[NewSensor],
    now: Timestamp,
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::with_capacity(sensors.len());
    for ns in sensors {
        let sensor = s.create_sensor(tenant, device, &ns.fields, now)?;
        let channels = create_channels(s, tenant, sensor.id, &ns.channels, now)?;
        out.push(json!({ "id": sensor.id.as_str(), "channels": channels }));
    }
    Ok(out)
}

fn create_channels(
    s: &dyn fieldline_service::Store,
    tenant: &Tenant,
    sensor: SensorId,
    channels: &[NewChannel],
    now: Timestamp,
) -> Result<Vec<Value>, Error> {
    channels
        .iter()
        .map(|nc| {
            let ch =
                s.create_channel(tenant, sensor, nc.communication_id.clone(), &nc.fields, now)?;
            Ok(json!({ "id": ch.id.as_str() }))
        })
        .collect()
}

fn add_devices(c: &Call<'_>, o: &Obj<'_>) -> SbResult<Value> {
    c.federation_only("AddDevices")?;
    c.check_federation(o, false)?;
    c.caller.caller.may(Action::CreateDevices)?;
    let devices: Vec<(DeviceFields, Vec<NewSensor>)> = o
        .array("devices", true)?
        .iter()
        .map(|d| {
            Ok((
                fields::device_fields(d, None, false)?,
                new_sensors(d, false)?,
            ))
        })
        .collect::<SbResult<_>>()?;
    let tenant = *c.tenant();
    let mut answer: Vec<Value> = Vec::new();
    c.store.atomically(&mut |s| {
        answer.clear();
        for (fields, sensors) in &devices {
            let device = s.create_device(&tenant, fields, None, c.now)?;
            let authorization = sb::issue_push_credential(s, c.key, &tenant, device.id, c.now)?;
            let sensors = create_sensors(s, &tenant, device.id, sensors, c.now)?;
            answer.push(json!({
                "id": device.id.as_str(),
                "uri": c.uri(device.id),
                "authorization": authorization.expose(),
                "needsNotificationUriVerification": needs_verification(&device),
                "sensors": sensors,
            }));
        }
        Ok(())
    })?;
    Ok(json!({ "devices": answer }))
}

fn add_sensors(c: &Call<'_>, o: &Obj<'_>) -> SbResult<Value> {
    let device = c.device_id(o, false)?;
    c.may(Action::ModifyDevice(device), Entity::Device)?;
    let sensors = new_sensors(o, true)?;
    c.store.device(c.tenant(), device)?;
    let tenant = *c.tenant();
    let mut answer = Vec::new();
    c.store.atomically(&mut |s| {
        answer = create_sensors(s, &tenant, device, &sensors, c.now)?;
        Ok(())
    })?;
    Ok(json!({ "sensors": answer }))
}

fn add_channels(c: &Call<'_>, o: &Obj<'_>) -> SbResult<Value> {
    let sensor_id = required_id(o, "sensor", SensorId::parse)?;
    let sensor = c.store.sensor(c.tenant(), sensor_id)?;
    c.may(Action::ModifyDevice(sensor.device), Entity::Sensor)?;
    let channels = new_channels(o, true)?;
    let tenant = *c.tenant();
    let mut answer = Vec::new();
    c.store.atomically(&mut |s| {
        answer = create_channels(s, &tenant, sensor_id, &channels, c.now)?;
        Ok(())
    })?;
    Ok(json!({ "channels": answer }))
}
