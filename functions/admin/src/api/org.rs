//! The organization, its subscription, its members and invitations.

use fieldline_domain::{Action, Email, InvitationId, OrgFields, Permissions, Subscription, UserId};
use fieldline_storage::Tenant;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};
use spin_sdk::sqlite::Connection;

use super::open;
use crate::http::{authenticate, body, json_response, no_content, patched, path_id, ApiResult};

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
fn organization_json(db: &Connection, tenant: &Tenant) -> ApiResult<Value> {
    let mut org = serde_json::to_value(fieldline_storage::organization(db, tenant)?)?;
    org["autoRegister"] = json!(fieldline_storage::auto_registration(db, tenant)?);
    Ok(org)
}

/// `GET /api/v1/organization`: any member.
pub fn get_organization(req: &Request, _: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ReadOrg)?;
    json_response(200, &organization_json(&db, &caller.tenant)?)
}

/// `PATCH /api/v1/organization` `{name?, descr?, timeZone?, autoRegister?}`: administrators.
pub fn update_organization(req: &Request, _: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageOrganization)?;
    let patch: Value = body(req)?;
    let tenant = &caller.tenant;
    let current = Settings {
        fields: fieldline_storage::organization(&db, tenant)?.fields,
        auto_register: fieldline_storage::auto_registration(&db, tenant)?,
    };
    let new: Settings = patched(&current, &patch)?;
    fieldline_storage::transaction(&db, |db| {
        fieldline_storage::update_organization(db, tenant, &new.fields)?;
        if new.auto_register != current.auto_register {
            fieldline_storage::set_auto_registration(db, tenant, new.auto_register)?;
        }
        Ok(())
    })?;
    json_response(200, &organization_json(&db, tenant)?)
}

/// `GET /api/v1/organization/subscription`: any member.
pub fn get_subscription(req: &Request, _: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ReadOrg)?;
    let org = fieldline_storage::organization(&db, &caller.tenant)?;
    json_response(200, &org.subscription)
}

/// `PUT /api/v1/organization/subscription`: the whole subscription; administrators.
pub fn put_subscription(req: &Request, _: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageOrganization)?;
    let subscription: Subscription = body(req)?;
    let org = fieldline_storage::update_subscription(&db, &caller.tenant, &subscription)?;
    json_response(200, &org.subscription)
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
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageMembers)?;
    let b: InviteBody = body(req)?;
    let email = Email::parse(&b.email)?;
    let (invitation, secret) = fieldline_storage::create_invitation(
        &db,
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
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageMembers)?;
    json_response(
        200,
        &fieldline_storage::list_invitations(&db, &caller.tenant)?,
    )
}

/// `DELETE /api/v1/invitations/:id`: administrators.
pub fn revoke_invitation(req: &Request, params: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageMembers)?;
    let id = path_id(params, "id", "invitation", InvitationId::parse)?;
    fieldline_storage::revoke_invitation(&db, &caller.tenant, id)?;
    no_content()
}

/// `GET /api/v1/members`: administrators.
pub fn list_members(req: &Request, _: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageMembers)?;
    json_response(200, &fieldline_storage::list_members(&db, &caller.tenant)?)
}

/// `PATCH /api/v1/members/:user_id` `{permissions: {administrator?, modify?, download?}}` or the
/// permissions object itself: administrators. The organization keeps at least one
/// administrator.
pub fn update_member(req: &Request, params: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageMembers)?;
    let user = path_id(params, "user_id", "member", UserId::parse)?;
    let b: Value = body(req)?;
    let patch = b.get("permissions").cloned().unwrap_or(b);
    let (_, current) = fieldline_storage::member(&db, caller.org(), user)?;
    let permissions: Permissions = patched(&current.permissions, &patch)?;
    json_response(
        200,
        &fieldline_storage::set_permissions(&db, &caller.tenant, user, permissions)?,
    )
}

/// `DELETE /api/v1/members/:user_id`: administrators; the member's tokens here are revoked.
pub fn remove_member(req: &Request, params: &Params) -> ApiResult {
    let (db, now) = open()?;
    let caller = authenticate(&db, req, now)?;
    caller.may(Action::ManageMembers)?;
    let user = path_id(params, "user_id", "member", UserId::parse)?;
    fieldline_storage::remove_member(&db, &caller.tenant, user, now)?;
    no_content()
}
