//! Saved views and plans: an organization's views (static chart, real-time chart, map, plan),
//! read by any member and changed with Modify, and a plan's image, uploaded as raw bytes (PNG
//! or JPEG of at most 2 MiB, recognised by its bytes; SVG refused) and served back with its
//! type, `nosniff`, a sandboxing CSP and an ETag.

use fieldline_domain::{Action, ViewFields, ViewId};
use fieldline_service::prelude::*;
use fieldline_service::{views, Entity};
use serde_json::Value;
use spin_sdk::http::{Params, Request, Response};

use super::open;
use crate::http::{authenticate, body, json_response, no_content, patched, path_id, ApiResult};

fn view_id(params: &Params) -> ApiResult<ViewId> {
    path_id(params, "id", Entity::View, ViewId::parse)
}

/// `GET /api/v1/views`: the organization's views, oldest first; any member.
pub fn list(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    json_response(200, &store.list_views(&caller.tenant)?)
}

/// `POST /api/v1/views`: Modify.
pub fn create(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageViews)?;
    let fields: ViewFields = body(req)?;
    json_response(201, &views::create(&store, &caller.tenant, &fields, now)?)
}

/// `GET /api/v1/views/:id`: any member.
pub fn get(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    json_response(200, &store.view(&caller.tenant, view_id(params)?)?)
}

/// `PATCH /api/v1/views/:id`: a JSON merge patch of the view's fields; Modify.
pub fn update(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageViews)?;
    let id = view_id(params)?;
    let patch: Value = body(req)?;
    let current = store.view(&caller.tenant, id)?;
    let fields: ViewFields = patched(&current.fields, &patch)?;
    json_response(
        200,
        &views::update(&store, &caller.tenant, id, &fields, now)?,
    )
}

/// `DELETE /api/v1/views/:id`: with its image; Modify.
pub fn delete(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageViews)?;
    store.delete_view(&caller.tenant, view_id(params)?)?;
    no_content()
}

/// `PUT /api/v1/views/:id/image`: the plan's image as the raw body (`Content-Type: image/png`
/// or `image/jpeg`, which must agree with the bytes); Modify. Answers the view.
pub fn put_image(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageViews)?;
    let id = view_id(params)?;
    let declared = req.header("content-type").and_then(|v| v.as_str());
    let view = views::set_image(&store, &caller.tenant, id, req.body(), declared, now)?;
    json_response(200, &view)
}

/// `GET /api/v1/views/:id/image`: the plan's image; any member. `ETag` is the bytes' SHA-256
/// (`If-None-Match` answers 304); `Cache-Control: private, no-cache` as the answer depends on
/// the caller's credentials; `nosniff` and a CSP that sandboxes the image if it is opened as a
/// document.
pub fn get_image(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    let (info, bytes) = views::image(&store, &caller.tenant, view_id(params)?)?;
    let etag = format!("\"{}\"", info.sha256);
    let fresh = req
        .header("if-none-match")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = Response::builder();
    builder
        .status(if fresh { 304 } else { 200 })
        .header("etag", etag)
        .header("cache-control", "private, no-cache")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", "default-src 'none'; sandbox");
    if fresh {
        return Ok(builder.build());
    }
    Ok(builder
        .header("content-type", info.image_type.content_type())
        .body(bytes)
        .build())
}
