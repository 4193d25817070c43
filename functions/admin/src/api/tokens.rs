//! API tokens: Conduit tokens (a member's data access, with a tier and enabled services), the
//! Sensorbis federation token and device tokens. The secret is in the creation answer only.

use fieldline_domain::{
    Action, ConduitServices, ConduitTier, DeviceId, ShortText, Timestamp, TokenId, TokenKind,
    UserId,
};
use fieldline_service::prelude::*;
use fieldline_service::Entity;
use fieldline_service::NewToken;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{authenticate, body, json_response, no_content, path_id, ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewTokenBody {
    kind: TokenKind,
    #[serde(default)]
    name: ShortText,
    /// Conduit: at most the subscription's tier, which is the default.
    #[serde(default)]
    tier: Option<ConduitTier>,
    /// Conduit: the services the token may use (default HTTPS and MQTT).
    #[serde(default)]
    services: Option<ConduitServices>,
    /// Conduit: the member the token acts for (default the caller).
    #[serde(default)]
    user: Option<UserId>,
    /// Device tokens: the device.
    #[serde(default)]
    device: Option<DeviceId>,
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

/// `POST /api/v1/tokens`: a Conduit token for the caller (any member) or for another member
/// (`user`, Administrator), acting with that member's current permissions; the federation token
/// needs Administrator, a device token Modify. A new federation or device token replaces the
/// previous one.
pub fn create_token(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let b: NewTokenBody = body(req)?;
    if b.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::bad_request("expiresAt must be in the future"));
    }
    let mut new =
        match b.kind {
            TokenKind::Conduit => {
                let user = b.user.unwrap_or(caller.user());
                caller.may(Action::ConduitTokensOf(user))?;
                let allowed = store
                    .organization(&caller.tenant)?
                    .subscription
                    .conduit_tier;
                let tier = b.tier.unwrap_or(allowed);
                if tier > allowed {
                    return Err(ApiError::new(
                        403,
                        "tier_not_in_subscription",
                        format!(
                            "the subscription allows Conduit tier {} at most, not {}",
                            allowed.as_str(),
                            tier.as_str()
                        ),
                    ));
                }
                NewToken::conduit(user, tier, b.services.unwrap_or_default())
            }
            TokenKind::Federation => {
                caller.may(Action::IssueFederationToken)?;
                NewToken::federation()
            }
            TokenKind::Device => {
                let device = b.device.ok_or_else(|| {
                    ApiError::bad_request("a device token needs `device`, the device's id")
                })?;
                caller.may(Action::IssueDeviceToken(device))?;
                NewToken::device(device)
            }
            TokenKind::Refresh => return Err(ApiError::bad_request(
                "refresh tokens come from POST /api/v1/login; kind must be conduit, federation \
                 or device",
            )),
        };
    if b.kind != TokenKind::Conduit
        && (b.tier.is_some() || b.services.is_some() || b.user.is_some())
    {
        return Err(ApiError::bad_request(
            "tier, services and user apply to Conduit tokens only",
        ));
    }
    new.name = b.name;
    new.expires_at = b.expires_at;
    let (token, secret) = store.create_token(&caller.tenant, &new, now)?;
    let mut answer = serde_json::to_value(&token)?;
    answer["secret"] = json!(secret.expose());
    json_response(201, &answer)
}

/// `GET /api/v1/tokens[?kind=conduit|federation|device|refresh]`: an Administrator gets the
/// organization's tokens; any other member their own Conduit tokens (whoever created them), so
/// that they can see and revoke what acts for them.
pub fn list_tokens(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let mut kind = None;
    for (k, v) in form_urlencoded::parse(req.query().as_bytes()) {
        if k == "kind" {
            kind = Some(TokenKind::parse(&v)?);
        }
    }
    if let Err(denied) = caller.may(Action::ManageTokens) {
        if kind.is_some_and(|k| k != TokenKind::Conduit) {
            return Err(denied);
        }
        caller.may(Action::ConduitTokensOf(caller.user()))?;
        let mut own = store.list_tokens(&caller.tenant, Some(TokenKind::Conduit))?;
        own.retain(|t| t.user == Some(caller.user()));
        return json_response(200, &own);
    }
    json_response(200, &store.list_tokens(&caller.tenant, kind)?)
}

/// `DELETE /api/v1/tokens/:id`: an Administrator any token; any other member their own Conduit
/// tokens.
pub fn revoke_token(req: &Request, params: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let id = path_id(params, "id", Entity::Token, TokenId::parse)?;
    if let Err(denied) = caller.may(Action::ManageTokens) {
        let token = store.token(&caller.tenant, id)?;
        match (token.kind, token.user) {
            (TokenKind::Conduit, Some(user)) => caller.may(Action::ConduitTokensOf(user))?,
            _ => return Err(denied),
        }
    }
    store.revoke_token(&caller.tenant, id, now)?;
    no_content()
}
