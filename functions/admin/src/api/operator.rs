//! The installation's operator: sets every organization's subscription (limits, contract,
//! renewal, extension). Not a member of any organization: it authenticates with
//! `Authorization: Bearer <operator_token>`, the secret variable `operator_token`, which no
//! tenant credential can stand in for.

use fieldline_domain::{OperatorToken, OrgId, Subscription, Timestamp};
use fieldline_service::prelude::*;
use fieldline_service::{Entity, Tenant};
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{bearer, body, json_response, path_id, ApiError, ApiResult};

/// Checks the operator token; every refusal in the admin API's format.
fn operator(req: &Request) -> ApiResult<()> {
    let Some(configured) = crate::http::variable("operator_token") else {
        return Err(ApiError::new(
            403,
            "operator_not_configured",
            "this installation has no operator token: set the secret variable operator_token \
             (scripts/up generates one into .spin/operator-token)",
        ));
    };
    let token = OperatorToken::parse(&configured).map_err(|e| {
        crate::http::internal(
            500,
            &format!("the variable operator_token is unusable: {e}"),
        )
    })?;
    let presented = bearer(req)?.ok_or_else(|| {
        ApiError::new(
            401,
            "missing_credentials",
            "operator endpoints need `Authorization: Bearer <operator token>`",
        )
    })?;
    if token.matches(&presented) {
        return Ok(());
    }
    // A member's valid access token is a known caller without the right (403); anything else
    // is no credential at all (401).
    let member = crate::http::jwt_key()?
        .verify(&presented, Timestamp::now())
        .is_ok();
    Err(if member {
        ApiError::new(
            403,
            "operator_only",
            "only the installation's operator may do this, with the operator token; an \
             organization's members may not",
        )
    } else {
        ApiError::new(
            401,
            "invalid_token",
            "the credential is neither the operator token nor a valid access token",
        )
    })
}

/// The organization named by the path, with its store and the clock.
fn target(
    req: &Request,
    params: &Params,
) -> ApiResult<(fieldline_component::Store, Timestamp, Tenant)> {
    operator(req)?;
    let (store, now) = open()?;
    let id = path_id(params, "id", Entity::Organization, OrgId::parse)?;
    let tenant = store.tenant(id)?;
    Ok((store, now, tenant))
}

/// The subscription as the operator sees it: its fields, and whether it is in force.
fn subscription_json(s: &Subscription, now: Timestamp) -> ApiResult<Value> {
    let mut v = serde_json::to_value(s)?;
    v["active"] = json!(s.is_active(now));
    Ok(v)
}

/// `GET /api/v1/operator/organizations`: every organization with its subscription.
pub fn list_organizations(req: &Request, _: &Params) -> ApiResult {
    operator(req)?;
    let (store, now) = open()?;
    let mut out = Vec::new();
    for (tenant, subscription) in store.all_tenants()? {
        let org = store.organization(&tenant)?;
        out.push(json!({
            "id": org.id,
            "name": org.fields.name,
            "subscription": subscription_json(&subscription, now)?,
        }));
    }
    json_response(200, &out)
}

/// `GET /api/v1/operator/organizations/:id/subscription`.
pub fn get_subscription(req: &Request, params: &Params) -> ApiResult {
    let (store, now, tenant) = target(req, params)?;
    let s = store.organization(&tenant)?.subscription;
    json_response(200, &subscription_json(&s, now)?)
}

/// `PUT /api/v1/operator/organizations/:id/subscription`: the whole subscription, set as given
/// (a correction, a new contract, or ending one early: `expiresAt` in the past).
pub fn put_subscription(req: &Request, params: &Params) -> ApiResult {
    let (store, now, tenant) = target(req, params)?;
    let s: Subscription = body(req)?;
    let org = store.update_subscription(&tenant, &s)?;
    json_response(200, &subscription_json(&org.subscription, now)?)
}

/// An extension or a renewal: the limits to change (a merge patch of the subscription) and
/// months of 31 days.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    #[serde(default)]
    months: Option<u32>,
    #[serde(flatten)]
    limits: serde_json::Map<String, Value>,
}

fn with_limits(current: &Subscription, change: &Change) -> ApiResult<Subscription> {
    let known = serde_json::to_value(current)?;
    if let Some(k) = change
        .limits
        .keys()
        .find(|k| known.get(k.as_str()).is_none() && *k != "expiresAt")
    {
        return Err(ApiError::bad_request(format!(
            "unknown field {k:?}: a subscription has pointsPerHour, detailedRetentionDays, \
             aggregatedRetentionDays, maxUsers, notificationEmailsPerDay, conduitTier, expiresAt"
        )));
    }
    crate::http::patched(current, &Value::Object(change.limits.clone()))
}

/// `PATCH /api/v1/operator/organizations/:id/subscription` `{months?, <limits>?}`: an extension
/// while the subscription is in force. Limits may only be raised (a lower value waits for the
/// renewal); `months` adds months of 31 days to its end.
pub fn extend_subscription(req: &Request, params: &Params) -> ApiResult {
    let (store, now, tenant) = target(req, params)?;
    let change: Change = body(req)?;
    let current = store.organization(&tenant)?.subscription;
    let new = with_limits(&current, &change)?;
    let mut extended = current.extended(&new, now)?;
    if let Some(m) = change.months {
        extended = extended.extend_months(m)?;
    }
    let org = store.update_subscription(&tenant, &extended)?;
    json_response(200, &subscription_json(&org.subscription, now)?)
}

/// `POST /api/v1/operator/organizations/:id/subscription/renewal` `{months, <limits>?}`: a new
/// period of `months` months of 31 days, starting when the current one ends (or now, if it
/// has ended), with the limits given (others kept). Limits may be lowered here.
pub fn renew_subscription(req: &Request, params: &Params) -> ApiResult {
    let (store, now, tenant) = target(req, params)?;
    let change: Change = body(req)?;
    let months = change
        .months
        .ok_or_else(|| ApiError::bad_request("months is required: the renewal's duration"))?;
    let current = store.organization(&tenant)?.subscription;
    let limits = with_limits(&current, &change)?;
    let renewed = current.renewed(&limits, months, now)?;
    let org = store.update_subscription(&tenant, &renewed)?;
    json_response(200, &subscription_json(&org.subscription, now)?)
}
