//! Hexastate notifications: the in-app notifications of the threshold alerts each member is
//! subscribed to (listed, read and dismissed by each member for themselves), the member's topic
//! subscriptions, their do-not-disturb periods, and a device's reminder period.

use fieldline_domain::topics::{Kinds, QuietHours};
use fieldline_domain::{Action, ChannelId, DeviceId};
use fieldline_service::prelude::*;
use fieldline_service::{
    Entity, NewTopicSubscription, Notification, TopicSubscriptionView, TopicTarget,
};
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{
    authenticate, body, json_response, no_content, not_found, path_id, ApiError, ApiResult,
};

/// At most this many per answer, newest first.
const LIMIT: usize = 200;

fn to_json(n: &Notification) -> Value {
    json!({
        "id": n.id.to_string(),
        "channel": n.channel.as_str(),
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "createdAt": n.created_at,
        "readAt": n.read_at,
    })
}

/// The `:id` path parameter: a positive decimal number; anything else is no such notification.
fn id(params: &Params) -> ApiResult<i64> {
    key(params, Entity::Notification)
}

fn key(params: &Params, what: Entity) -> ApiResult<i64> {
    params
        .get("id")
        .filter(|s| !s.starts_with(['+', '0']))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found(what))
}

/// `GET /api/v1/notifications[?unread=true]`: the caller's notifications in the organization
/// not dismissed, newest first (at most 200); any member.
pub fn list(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let mut unread = false;
    for (k, v) in form_urlencoded::parse(req.query().as_bytes()) {
        if k == "unread" {
            unread = match v.as_ref() {
                "true" => true,
                "false" => false,
                _ => return Err(ApiError::bad_request("unread must be true or false")),
            };
        }
    }
    let list = store.notifications(&caller.tenant, caller.user(), unread, LIMIT)?;
    json_response(200, &list.iter().map(to_json).collect::<Vec<_>>())
}

/// `POST /api/v1/notifications/:id/read`: marks it read (the first time counts); any member.
pub fn read(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let n = store.read_notification(&caller.tenant, caller.user(), id(params)?, now)?;
    json_response(200, &to_json(&n))
}

/// `DELETE /api/v1/notifications/:id`: dismisses it; any member.
pub fn dismiss(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    store.dismiss_notification(&caller.tenant, caller.user(), id(params)?, now)?;
    no_content()
}

fn subscription_json(s: &TopicSubscriptionView) -> Value {
    let (scope, device, channel) = match &s.target {
        TopicTarget::Organization => ("organization", None, None),
        TopicTarget::Device(d) => ("device", Some(d.as_str()), None),
        TopicTarget::Channel(c) => ("channel", None, Some(c.as_str())),
    };
    json!({
        "id": s.id.to_string(),
        "scope": scope,
        "device": device,
        "channel": channel,
        "kinds": s.kinds.names(),
        "email": s.email,
        "createdAt": s.created_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    #[serde(default)]
    device: Option<DeviceId>,
    #[serde(default)]
    channel: Option<ChannelId>,
    #[serde(default)]
    kinds: Option<Vec<String>>,
    #[serde(default)]
    email: Option<bool>,
}

/// `GET /api/v1/notification-subscriptions`: the caller's topic subscriptions in the
/// organization, oldest first; any member.
pub fn list_subscriptions(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let list = store.topic_subscriptions(&caller.tenant, caller.user())?;
    json_response(200, &list.iter().map(subscription_json).collect::<Vec<_>>())
}

/// `POST /api/v1/notification-subscriptions`: subscribes the caller to the organization's
/// alerts, one device's (`device`) or one channel's (`channel`), of the `kinds` given (default
/// all), by e-mail too unless `email` is false; any member who may read the device.
pub fn create_subscription(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let b: NewSubscription = body(req)?;
    let target = match (b.device, b.channel) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give a device or a channel, not both (neither: the whole organization)",
            ))
        }
        (Some(d), None) => {
            caller.may(Action::ReadDevice(d))?;
            TopicTarget::Device(d)
        }
        (None, Some(c)) => TopicTarget::Channel(c),
        (None, None) => TopicTarget::Organization,
    };
    let kinds = match b.kinds {
        None => Kinds::ALL,
        Some(names) => Kinds::parse(&names).map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    let new = NewTopicSubscription {
        target,
        kinds,
        email: b.email.unwrap_or(true),
    };
    let s = store.add_topic_subscription(&caller.tenant, caller.user(), &new, now)?;
    json_response(201, &subscription_json(&s))
}

/// `DELETE /api/v1/notification-subscriptions/:id`: one of the caller's; any member.
pub fn delete_subscription(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = key(params, Entity::TopicSubscription)?;
    store.delete_topic_subscription(&caller.tenant, caller.user(), id)?;
    no_content()
}

/// `GET /api/v1/notification-settings/do-not-disturb`: the caller's periods; any member.
pub fn get_quiet_hours(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    json_response(200, &store.quiet_hours(&caller.tenant, caller.user())?)
}

/// `PUT /api/v1/notification-settings/do-not-disturb`: replaces the caller's periods; any
/// member.
pub fn put_quiet_hours(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let q: QuietHours = body(req)?;
    q.validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    store.set_quiet_hours(&caller.tenant, caller.user(), &q)?;
    json_response(200, &q)
}

/// Reminder periods allowed (seconds): ten minutes to thirty days.
const REMINDER_MIN: u32 = 600;
const REMINDER_MAX: u32 = 30 * 24 * 3600;

/// `{"reminderSecs": n | null}`, the field required.
fn reminder_body(v: &Value) -> ApiResult<Option<u32>> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("the body must be {\"reminderSecs\": ...}"))?;
    if let Some(k) = obj.keys().find(|k| *k != "reminderSecs") {
        return Err(ApiError::bad_request(format!("unknown field {k:?}")));
    }
    match obj.get("reminderSecs") {
        None => Err(ApiError::bad_request(
            "reminderSecs is required (seconds, or null: off)",
        )),
        Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (REMINDER_MIN..=REMINDER_MAX).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "reminderSecs must be a whole number from {REMINDER_MIN} to {REMINDER_MAX} \
                     (or null: off)"
                ))
            }),
    }
}

fn device(params: &Params) -> ApiResult<DeviceId> {
    path_id(params, "id", Entity::Device, DeviceId::parse)
}

/// `GET /api/v1/devices/:id/notification-reminder`; any member who may read the device.
pub fn get_reminder(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device(params)?;
    caller.may(Action::ReadDevice(id))?;
    let secs = store.notification_reminder(&caller.tenant, id)?;
    json_response(200, &json!({ "reminderSecs": secs }))
}

/// `PUT /api/v1/devices/:id/notification-reminder` `{"reminderSecs": 3600}`: a reminder every
/// that many seconds while an alarm of the device stays open; `null` turns reminders off (the
/// default); Modify.
pub fn put_reminder(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = device(params)?;
    caller.may(Action::ModifyDevice(id))?;
    let secs = reminder_body(&body::<Value>(req)?)?;
    store.set_notification_reminder(&caller.tenant, id, secs)?;
    json_response(200, &json!({ "reminderSecs": secs }))
}
