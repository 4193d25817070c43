//! elproMONITOR deviations (docs/deviations.md): incidents (listed, filtered, confirmed), the
//! organization's broker, and the deviation settings of devices and channels.

use fieldline_domain::deviation::{ChannelSettings, DeviceSettings};
use fieldline_domain::{Action, ChannelId, DeviceId, Incident, IncidentKind, SealKey, Timestamp};
use fieldline_service::deviations::{confirm, seal_context};
use fieldline_service::ports::{IncidentFilter, StoredBroker};
use fieldline_service::prelude::*;
use fieldline_service::Entity;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{authenticate, body, internal, json_response, no_content, not_found, path_id};
use crate::http::{ApiError, ApiResult};

/// Listing: at most this many, newest first (`limit` may ask for fewer).
const MAX_LIST: usize = 500;

fn ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

fn to_json(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "channel": i.channel.as_str(),
        "kind": i.opened.kind.as_str(),
        "messageType": i.opened.kind.message_type(),
        "deviationType": i.opened.deviation.map(|d| d.as_str()),
        "limit": i.opened.limit,
        "measurement": i.opened.measurement,
        "unit": i.opened.unit.as_str(),
        "startTimeUtc": i.opened.start.to_rfc3339(),
        "endTimeUtc": ts(i.end),
        "isActive": i.is_active(),
        "confirmTime1Utc": ts(i.confirm1),
        "confirmTime2Utc": ts(i.confirm2),
    })
}

/// The `:id` of an incident: a positive decimal number; anything else is no such incident.
fn incident_id(params: &Params) -> ApiResult<i64> {
    params
        .get("id")
        .filter(|s| !s.starts_with(['+', '0']))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found(Entity::Incident))
}

/// `GET /api/v1/incidents[?active=true|false][&kind=Limit][&device=..][&channel=..][&limit=N]`:
/// any member.
pub fn list(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    let mut filter = IncidentFilter {
        limit: MAX_LIST,
        ..IncidentFilter::default()
    };
    for (k, v) in form_urlencoded::parse(req.query().as_bytes()) {
        match k.as_ref() {
            "active" => {
                filter.active = Some(match v.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::bad_request("active must be true or false")),
                })
            }
            "kind" => {
                let kind = IncidentKind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == v || k.message_type() == v)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "kind {v:?} is not one of Limit, Failure, BatteryLowLevel, \
                             RadioStrength, NoConnection, DigitalInput (or their message types)"
                        ))
                    })?;
                filter.kind = Some(kind);
            }
            "device" => {
                filter.device =
                    Some(DeviceId::parse(&v).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            "channel" => {
                filter.channel =
                    Some(ChannelId::parse(&v).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            "limit" => {
                filter.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("limit must be 1 to {MAX_LIST}"))
                    })?
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {other:?}: use active, kind, device, channel, limit"
                )))
            }
        }
    }
    let list = store.incidents(&caller.tenant, &filter)?;
    json_response(
        200,
        &json!({ "incidents": list.iter().map(to_json).collect::<Vec<_>>() }),
    )
}

/// `GET /api/v1/incidents/:id`: any member.
pub fn get(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    let id = incident_id(params)?;
    json_response(200, &to_json(&store.incident(&caller.tenant, id)?))
}

/// `POST /api/v1/incidents/:id/confirm`: the first, then the second confirmation; Modify on the
/// incident's device. A third is 409 `incident_already_confirmed`.
pub fn confirm_incident(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = incident_id(params)?;
    let incident = store.incident(&caller.tenant, id)?;
    let channel = store.channel(&caller.tenant, incident.channel)?;
    caller.may(Action::ModifyDevice(channel.device))?;
    let confirmed = confirm(&store, &caller.tenant, id, now)?;
    json_response(200, &to_json(&confirmed))
}

fn broker_key() -> ApiResult<SealKey> {
    let secret = fieldline_component::variable("broker_secret").ok_or_else(|| {
        internal(
            500,
            "the Spin variable `broker_secret` is not set: set SPIN_VARIABLE_BROKER_SECRET \
             (scripts/up generates one into .spin/broker-secret)",
        )
    })?;
    SealKey::from_secret(secret.as_bytes())
        .map_err(|e| internal(500, &format!("Spin variable `broker_secret`: {e}")))
}

fn broker_json(b: Option<&StoredBroker>) -> Value {
    match b {
        None => json!({ "enabled": false }),
        Some(b) => json!({
            "enabled": true,
            "address": b.address,
            "vhost": b.vhost,
            "username": b.username,
            "passwordSet": true,
            "exchange": fieldline_domain::deviation::EXCHANGE,
            "enabledAt": b.enabled_at.to_rfc3339(),
            "updatedAt": b.updated_at.to_rfc3339(),
        }),
    }
}

/// `GET /api/v1/organization/deviation-broker`: the broker (never its password);
/// Administrator.
pub fn get_broker(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageOrganization)?;
    json_response(
        200,
        &broker_json(store.deviation_broker(caller.org())?.as_ref()),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerBody {
    address: String,
    vhost: String,
    username: String,
    password: String,
}

fn check_text(what: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must have 1 to {max} characters, no control characters"
        )));
    }
    Ok(())
}

/// `PUT /api/v1/organization/deviation-broker` `{"address": "mqtt://127.0.0.1:1884", "vhost":
/// "org-a", "username": "elpro", "password": "..."}`: turns the organization's deviations on (or
/// changes its broker); the password is sealed, never shown again; Administrator.
pub fn put_broker(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageOrganization)?;
    let b: BrokerBody = body(req)?;
    let host = b.address.strip_prefix("mqtt://").unwrap_or("");
    let host = host.split('?').next().unwrap_or("");
    let port_ok = host
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok || host.contains('/') {
        return Err(ApiError::bad_request(
            "address must be mqtt://host:port (RabbitMQ's MQTT listener, e.g. mqtt://127.0.0.1:1884)",
        ));
    }
    check_text("vhost", &b.vhost, 255)?;
    check_text("username", &b.username, 255)?;
    check_text("password", &b.password, 255)?;
    if b.username.contains(':') {
        return Err(ApiError::bad_request(
            "username must not contain ':' (the MQTT username is vhost:username)",
        ));
    }
    let key = broker_key()?;
    let enabled_at = store
        .deviation_broker(caller.org())?
        .map_or(now, |old| old.enabled_at);
    let stored = StoredBroker {
        address: b.address,
        vhost: b.vhost,
        username: b.username,
        password_sealed: key.seal(&b.password, &seal_context(caller.org()))?,
        enabled_at,
        updated_at: now,
    };
    store.set_deviation_broker(&caller.tenant, Some(&stored))?;
    json_response(200, &broker_json(Some(&stored)))
}

/// `DELETE /api/v1/organization/deviation-broker`: deviations off (messages not yet sent wait
/// until a broker is set again); Administrator.
pub fn delete_broker(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageOrganization)?;
    store.set_deviation_broker(&caller.tenant, None)?;
    no_content()
}

fn device(params: &Params) -> ApiResult<DeviceId> {
    path_id(params, "id", Entity::Device, DeviceId::parse)
}

fn channel(params: &Params) -> ApiResult<ChannelId> {
    path_id(params, "id", Entity::Channel, ChannelId::parse)
}

/// `GET /api/v1/devices/:id/deviation-settings`: any member who may read the device.
pub fn get_device_settings(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device(params)?;
    caller.may(Action::ReadDevice(id))?;
    json_response(200, &store.device_deviation_settings(&caller.tenant, id)?)
}

/// `PUT /api/v1/devices/:id/deviation-settings`: absent fields take their defaults, `null`
/// turns a condition off; Modify.
pub fn put_device_settings(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device(params)?;
    caller.may(Action::ModifyDevice(id))?;
    let settings: DeviceSettings = body(req)?;
    settings.validate()?;
    store.set_device_deviation_settings(&caller.tenant, id, &settings)?;
    json_response(200, &settings)
}

/// `GET /api/v1/channels/:id/deviation-settings`: any member who may read the device.
pub fn get_channel_settings(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = channel(params)?;
    let c = store.channel(&caller.tenant, id)?;
    caller.may(Action::ReadDevice(c.device))?;
    json_response(200, &store.channel_deviation_settings(&caller.tenant, id)?)
}

/// `PUT /api/v1/channels/:id/deviation-settings` `{"warningUpper": 6, "warningLower": 2}`;
/// Modify.
pub fn put_channel_settings(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = channel(params)?;
    let c = store.channel(&caller.tenant, id)?;
    caller.may(Action::ModifyDevice(c.device))?;
    let settings: ChannelSettings = body(req)?;
    settings.validate()?;
    store.set_channel_deviation_settings(&caller.tenant, id, &settings)?;
    json_response(200, &settings)
}
