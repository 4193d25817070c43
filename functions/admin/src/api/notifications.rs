//! In-app notifications (Hexastate): every threshold alert the notifier decides on, for the
//! organization's members to list, mark read and dismiss. Read and dismissed are the
//! organization's, not each member's.

use fieldline_service::prelude::*;
use fieldline_service::{Entity, Notification};
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{authenticate, json_response, no_content, not_found, ApiError, ApiResult};

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
    params
        .get("id")
        .filter(|s| !s.starts_with(['+', '0']))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| not_found(Entity::Notification))
}

/// `GET /api/v1/notifications[?unread=true]`: the organization's notifications not dismissed,
/// newest first (at most 200); any member.
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
    let list = store.notifications(&caller.tenant, unread, LIMIT)?;
    json_response(200, &list.iter().map(to_json).collect::<Vec<_>>())
}

/// `POST /api/v1/notifications/:id/read`: marks it read (the first time counts); any member.
pub fn read(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let n = store.read_notification(&caller.tenant, id(params)?, now)?;
    json_response(200, &to_json(&n))
}

/// `DELETE /api/v1/notifications/:id`: dismisses it; any member.
pub fn dismiss(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    store.dismiss_notification(&caller.tenant, id(params)?, now)?;
    no_content()
}
