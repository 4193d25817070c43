//! The organization, its subscription, its members and invitations.

use fieldline_component::Store;
use fieldline_domain::{
    points_per_hour_for, Action, Email, InvitationId, OrgFields, Permissions, Timestamp, UserId,
};
use fieldline_service::prelude::*;
use fieldline_service::Entity;
use fieldline_service::Tenant;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{
    authenticate, body, json_response, no_content, patched, path_id, ApiError, ApiResult,
};

/// The organization's fields and its settings, as one object; every field a merge patch of
/// `PATCH /api/v1/organization` may change.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    #[serde(flatten)]
    fields: OrgFields,
    /// Ingestion registers devices it does not know (Conduit by network id); `null` in a patch
    /// turns it off, the default.
    #[serde(default)]
    auto_register: bool,
}

/// The organization as the API shows it: the stored organization and its settings.
fn organization_json(store: &Store, tenant: &Tenant) -> ApiResult<Value> {
    let mut org = serde_json::to_value(store.organization(tenant)?)?;
    org["autoRegister"] = json!(store.auto_registration(tenant)?);
    Ok(org)
}

/// `GET /api/v1/organization`: any member.
pub fn get_organization(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    json_response(200, &organization_json(&store, &caller.tenant)?)
}

/// `PATCH /api/v1/organization` `{name?, descr?, timeZone?, autoRegister?}`: administrators.
pub fn update_organization(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageOrganization)?;
    let patch: Value = body(req)?;
    let tenant = &caller.tenant;
    let current = Settings {
        fields: store.organization(tenant)?.fields,
        auto_register: store.auto_registration(tenant)?,
    };
    let new: Settings = patched(&current, &patch)?;
    let auto_register = (new.auto_register != current.auto_register).then_some(new.auto_register);
    store.update_organization(tenant, &new.fields, auto_register)?;
    json_response(200, &organization_json(&store, tenant)?)
}

/// `GET /api/v1/organization/subscription`: any member.
pub fn get_subscription(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    let org = store.organization(&caller.tenant)?;
    json_response(200, &org.subscription)
}

/// `PUT /api/v1/organization/subscription`: refused to every member, administrators included.
/// Subscriptions are the installation operator's (`/api/v1/operator/...`): a tenant may not
/// raise its own limits.
pub fn put_subscription(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    authenticate(&store, req, now)?;
    Err(ApiError::new(
        403,
        "operator_only",
        "the subscription is set by the installation's operator \
         (PUT /api/v1/operator/organizations/{id}/subscription with the operator token), not by \
         the organization",
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Calculation {
    devices: u64,
    channels_per_device: u64,
    values_per_hour: u64,
    /// The plan to compare with; absent: the organization's subscription.
    #[serde(default)]
    points_per_hour: Option<u64>,
}

/// `POST /api/v1/subscription/calculator` `{devices, channelsPerDevice, valuesPerHour,
/// pointsPerHour?}`: any member. The points per hour the devices send (devices x channels x
/// values per hour per channel), and whether they fit the plan (the one given, else the
/// organization's subscription).
pub fn calculator(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    let c: Calculation = body(req)?;
    let plan = match c.points_per_hour {
        Some(p) => p,
        None => {
            store
                .organization(&caller.tenant)?
                .subscription
                .points_per_hour
        }
    };
    let needed = points_per_hour_for(c.devices, c.channels_per_device, c.values_per_hour)
        .ok_or_else(|| {
            ApiError::bad_request("devices x channelsPerDevice x valuesPerHour is too large")
        })?;
    json_response(
        200,
        &json!({
            "devices": c.devices,
            "channelsPerDevice": c.channels_per_device,
            "valuesPerHour": c.values_per_hour,
            "pointsPerHour": needed,
            "planPointsPerHour": plan,
            "fits": needed <= plan,
            // Points per hour the plan leaves (negative: what it lacks).
            "headroom": i128::from(plan) - i128::from(needed),
        }),
    )
}

/// A time query parameter: RFC 3339 or milliseconds since the epoch.
pub fn time_param(req: &Request, name: &str) -> ApiResult<Option<Timestamp>> {
    for (k, v) in form_urlencoded::parse(req.query().as_bytes()) {
        if k == name {
            let t = match v.parse::<i64>() {
                Ok(ms) => Timestamp::from_millis(ms)?,
                Err(_) => Timestamp::parse_rfc3339(&v)?,
            };
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// `GET /api/v1/organization/discarded-points?from=&to=`: administrators. The points the
/// points-per-hour limit discarded, per device and UTC hour (default: the last 7 days), from
/// every ingestion API.
pub fn discarded_points(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageOrganization)?;
    let to = time_param(req, "to")?.unwrap_or(now.add_secs(3600));
    let from = time_param(req, "from")?.unwrap_or(now.add_secs(-7 * 86_400));
    let subscription = store.organization(&caller.tenant)?.subscription;
    let rows = store.discarded(&caller.tenant, from.hour_start(), to)?;
    let total: u64 = rows.iter().map(|d| d.points).sum();
    let rows: Vec<Value> = rows
        .iter()
        .map(|d| json!({"device": d.device, "hour": d.hour, "points": d.points}))
        .collect();
    json_response(
        200,
        &json!({
            "limit": {"name": "points-per-hour", "pointsPerHour": subscription.points_per_hour},
            "total": total,
            "discarded": rows,
        }),
    )
}

/// `GET /api/v1/organization/usage`: any member: the subscription's limits beside what was
/// used of them (points this UTC hour, notification e-mails today), for the console.
pub fn usage(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ReadOrg)?;
    let subscription = store.organization(&caller.tenant)?.subscription;
    let used = fieldline_service::limits::usage(&store, &caller.tenant, &subscription, now)?;
    json_response(
        200,
        &json!({
            "hourStart": now.hour_start(),
            "pointsThisHour": used.points_this_hour,
            "pointsPerHour": subscription.points_per_hour,
            "emailsToday": used.emails_today,
            "notificationEmailsPerDay": subscription.notification_emails_per_day,
        }),
    )
}

#[derive(Deserialize)]
struct InviteBody {
    email: String,
    #[serde(default)]
    permissions: Permissions,
}

/// `POST /api/v1/invitations` `{email, permissions}`: administrators. The answer carries the
/// acceptance token, shown once; it goes to the invited person (by e-mail, out of band).
pub fn create_invitation(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageMembers)?;
    let b: InviteBody = body(req)?;
    let email = Email::parse(&b.email)?;
    let (invitation, secret) = store.create_invitation(
        &caller.tenant,
        &email,
        b.permissions,
        Some(caller.user()),
        now,
    )?;
    let mut answer = serde_json::to_value(&invitation)?;
    answer["token"] = json!(secret.expose());
    json_response(201, &answer)
}

/// `GET /api/v1/invitations`: administrators.
pub fn list_invitations(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageMembers)?;
    json_response(200, &store.list_invitations(&caller.tenant)?)
}

/// `DELETE /api/v1/invitations/:id`: administrators.
pub fn revoke_invitation(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageMembers)?;
    let id = path_id(params, "id", Entity::Invitation, InvitationId::parse)?;
    store.revoke_invitation(&caller.tenant, id)?;
    no_content()
}

/// `GET /api/v1/members`: administrators.
pub fn list_members(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageMembers)?;
    json_response(200, &store.list_members(&caller.tenant)?)
}

/// `PATCH /api/v1/members/:user_id` `{permissions: {administrator?, modify?, download?}}` or the
/// permissions object itself: administrators. The organization keeps at least one
/// administrator.
pub fn update_member(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageMembers)?;
    let user = path_id(params, "user_id", Entity::Member, UserId::parse)?;
    let b: Value = body(req)?;
    let patch = b.get("permissions").cloned().unwrap_or(b);
    let (_, current) = store.member(caller.org(), user)?;
    let permissions: Permissions = patched(&current.permissions, &patch)?;
    json_response(
        200,
        &store.set_permissions(&caller.tenant, user, permissions)?,
    )
}

/// `DELETE /api/v1/members/:user_id`: administrators; the member's tokens here are revoked.
pub fn remove_member(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    caller.may(Action::ManageMembers)?;
    let user = path_id(params, "user_id", Entity::Member, UserId::parse)?;
    store.remove_member(&caller.tenant, user, now)?;
    no_content()
}
