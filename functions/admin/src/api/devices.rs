//! Devices, sensors and channels (the Sensorbis structure), with the fields and checks of the
//! domain types: a body that does not parse into them is a 400 naming the field.

use fieldline_domain::{
    Action, ChannelFields, ChannelId, CommunicationId, DeviceFields, DeviceId, SensorFields,
    SensorId, Uuid,
};
use fieldline_service::prelude::*;
use fieldline_service::Entity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{authenticate, body, json_response, no_content, patched, path_id, ApiResult};

#[derive(Deserialize)]
struct NewDevice {
    /// A Proficloud device brings its own UUID; otherwise one is generated.
    #[serde(default)]
    uuid: Option<Uuid>,
    #[serde(flatten)]
    fields: DeviceFields,
}

fn device_id(params: &Params) -> ApiResult<DeviceId> {
    path_id(params, "id", Entity::Device, DeviceId::parse)
}

fn sensor_id(params: &Params) -> ApiResult<SensorId> {
    path_id(params, "id", Entity::Sensor, SensorId::parse)
}

fn channel_id(params: &Params) -> ApiResult<ChannelId> {
    path_id(params, "id", Entity::Channel, ChannelId::parse)
}

/// `POST /api/v1/devices`: Modify.
pub fn create_device(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::CreateDevices)?;
    let b: NewDevice = body(req)?;
    let device = store.create_device(&caller.tenant, &b.fields, b.uuid, now)?;
    json_response(201, &device)
}

/// `GET /api/v1/devices`: any member.
pub fn list_devices(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    json_response(200, &store.list_devices(&caller.tenant)?)
}

/// `GET /api/v1/devices/:id`: any member.
pub fn get_device(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device_id(params)?;
    caller.may(Action::ReadDevice(id))?;
    json_response(200, &store.device(&caller.tenant, id)?)
}

/// `PATCH /api/v1/devices/:id`: a JSON merge patch of the device's fields; Modify.
pub fn update_device(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device_id(params)?;
    caller.may(Action::ModifyDevice(id))?;
    let patch: Value = body(req)?;
    let current = store.device(&caller.tenant, id)?;
    let fields: DeviceFields = patched(&current.fields, &patch)?;
    json_response(200, &store.update_device(&caller.tenant, id, &fields, now)?)
}

/// `DELETE /api/v1/devices/:id`: with its sensors, channels, data and tokens; Modify.
pub fn delete_device(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device_id(params)?;
    caller.may(Action::ModifyDevice(id))?;
    store.delete_device(&caller.tenant, id)?;
    no_content()
}

/// `POST /api/v1/devices/:id/sensors`: Modify.
pub fn create_sensor(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let device = device_id(params)?;
    caller.may(Action::ModifyDevice(device))?;
    let fields: SensorFields = body(req)?;
    let sensor = store.create_sensor(&caller.tenant, device, &fields, now)?;
    json_response(201, &sensor)
}

/// `GET /api/v1/devices/:id/sensors`: any member.
pub fn list_sensors(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let device = device_id(params)?;
    caller.may(Action::ReadDevice(device))?;
    json_response(200, &store.list_sensors(&caller.tenant, device)?)
}

/// `GET /api/v1/sensors/:id`: any member.
pub fn get_sensor(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = sensor_id(params)?;
    let sensor = store.sensor(&caller.tenant, id)?;
    caller.may(Action::ReadDevice(sensor.device))?;
    json_response(200, &sensor)
}

/// `PATCH /api/v1/sensors/:id`: a JSON merge patch of `{name, descr, customerId}`; Modify.
pub fn update_sensor(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = sensor_id(params)?;
    let current = store.sensor(&caller.tenant, id)?;
    caller.may(Action::ModifyDevice(current.device))?;
    let patch: Value = body(req)?;
    let fields: SensorFields = patched(&current.fields, &patch)?;
    json_response(200, &store.update_sensor(&caller.tenant, id, &fields)?)
}

/// `DELETE /api/v1/sensors/:id`: with its channels and their data; Modify.
pub fn delete_sensor(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = sensor_id(params)?;
    let current = store.sensor(&caller.tenant, id)?;
    caller.may(Action::ModifyDevice(current.device))?;
    store.delete_sensor(&caller.tenant, id)?;
    no_content()
}

/// A channel as the API takes it: the domain's fields and the `communicationId` (the channel's
/// own id when absent, as in Sensorbis AddChannels and ModifyChannel).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    communication_id: Option<CommunicationId>,
    #[serde(flatten)]
    fields: ChannelFields,
}

/// `POST /api/v1/sensors/:id/channels`: Modify. A communicationId already used on the device
/// is 409 (Sensorbis error 142).
pub fn create_channel(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let sensor = sensor_id(params)?;
    let s = store.sensor(&caller.tenant, sensor)?;
    caller.may(Action::ModifyDevice(s.device))?;
    let b: ChannelBody = body(req)?;
    let channel =
        store.create_channel(&caller.tenant, sensor, b.communication_id, &b.fields, now)?;
    json_response(201, &channel)
}

/// `GET /api/v1/sensors/:id/channels`: any member.
pub fn list_channels(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let sensor = sensor_id(params)?;
    let s = store.sensor(&caller.tenant, sensor)?;
    caller.may(Action::ReadDevice(s.device))?;
    json_response(200, &store.list_channels(&caller.tenant, sensor)?)
}

/// `GET /api/v1/channels/:id`: any member.
pub fn get_channel(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = channel_id(params)?;
    let channel = store.channel(&caller.tenant, id)?;
    caller.may(Action::ReadDevice(channel.device))?;
    json_response(200, &channel)
}

/// `PATCH /api/v1/channels/:id`: a JSON merge patch of the channel's fields; Modify.
pub fn update_channel(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = channel_id(params)?;
    let current = store.channel(&caller.tenant, id)?;
    caller.may(Action::ModifyDevice(current.device))?;
    let patch: Value = body(req)?;
    let b: ChannelBody = patched(
        &ChannelBody {
            communication_id: Some(current.communication_id),
            fields: current.fields,
        },
        &patch,
    )?;
    json_response(
        200,
        &store.update_channel(&caller.tenant, id, b.communication_id, &b.fields)?,
    )
}

/// `DELETE /api/v1/channels/:id`: with its points, rollups and incidents; Modify.
pub fn delete_channel(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = channel_id(params)?;
    let current = store.channel(&caller.tenant, id)?;
    caller.may(Action::ModifyDevice(current.device))?;
    store.delete_channel(&caller.tenant, id)?;
    no_content()
}

/// The most hours one `hourly` request answers (a year).
const MAX_HOURS: i64 = 366 * 24;

/// `GET /api/v1/channels/:id/hourly?from=&to=`: the channel's hourly aggregates (Sensorbis
/// aggregated data: count, sum, average, and min and max) for the UTC hours starting in
/// `[from, to)` (RFC 3339 or milliseconds; default the last 24 hours), hours without data
/// absent; any member who may read the device. Exact for any lateness: a value written late
/// into an old hour is in that hour's aggregate as soon as it is stored.
pub fn hourly(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = channel_id(params)?;
    let channel = store.channel(&caller.tenant, id)?;
    caller.may(Action::ReadDevice(channel.device))?;
    let to = super::org::time_param(req, "to")?
        .unwrap_or(now.add_secs(3600))
        .hour_start();
    let from = super::org::time_param(req, "from")?
        .unwrap_or(to.add_secs(-86_400))
        .hour_start();
    if from >= to {
        return Err(crate::http::ApiError::bad_request(
            "from must be before to (both are rounded down to their UTC hour)",
        ));
    }
    if (to.as_millis() - from.as_millis()) / fieldline_domain::Timestamp::HOUR_MS > MAX_HOURS {
        return Err(crate::http::ApiError::bad_request(format!(
            "at most {MAX_HOURS} hours per request: narrow from and to"
        )));
    }
    let device = store.device(&caller.tenant, channel.device)?;
    let refs = store.channel_refs(&caller.tenant, &device)?;
    let r = refs
        .get(channel.communication_id.as_str())
        .ok_or(fieldline_service::Error::NotFound(Entity::Channel))?;
    let hours: Vec<Value> = store
        .hourly_aggregates(&caller.tenant, *r, from, to)?
        .iter()
        .map(|h| {
            serde_json::json!({
                "hour": h.hour,
                "count": h.count,
                "sum": h.sum,
                "average": h.sum / h.count as f64,
                "min": h.min,
                "max": h.max,
            })
        })
        .collect();
    json_response(
        200,
        &serde_json::json!({"channel": channel.id, "from": from, "to": to, "hours": hours}),
    )
}
