//! Sign-up, login, refresh, logout, `me`, and accepting an invitation: the endpoints that
//! establish who the caller is.

use fieldline_component::Store;
use fieldline_domain::{
    Email, Membership, OrgFields, OrgName, Password, PasswordHasher, SignupPolicy, Subscription,
    Timestamp, TokenSecret, UserId,
};
use fieldline_service::auth::{self as sessions, Session};
use fieldline_service::prelude::*;
use fieldline_service::{Accept, Conflict, Error, Tenant};
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Params, Request};

use super::open;
use crate::http::{
    authenticate, bearer, body, internal, json_response, jwt_key, limit_anonymous, no_content,
    variable, ApiError, ApiResult,
};

/// The answer of every endpoint that starts or continues a session (OAuth 2.0 style): the same
/// fields from sign-up, login, refresh and accepting an invitation.
fn session_json(s: &Session) -> Value {
    json!({
        "access_token": s.access_token,
        "token_type": "Bearer",
        "expires_in": s.expires_in,
        "refresh_token": s.refresh_token.expose(),
        "organization": s.tenant.id(),
        "user": s.user,
    })
}

fn session(store: &Store, user: UserId, tenant: &Tenant, now: Timestamp) -> ApiResult<Value> {
    let key = jwt_key()?;
    let s = sessions::start_session(store, &key, *tenant, user, now)?;
    Ok(session_json(&s))
}

#[derive(Deserialize)]
struct SignupBody {
    organization: String,
    email: String,
    password: String,
}

/// The variable `allow_signup`: `first` (the default, also when it is unset), `true` or `false`.
fn signup_policy() -> ApiResult<SignupPolicy> {
    let Some(value) = variable("allow_signup") else {
        return Ok(SignupPolicy::First);
    };
    SignupPolicy::parse(&value).map_err(|e| {
        internal(
            500,
            &format!(
                "the Spin variable `allow_signup` is {value:?}: set it to first, true or false \
                 (SPIN_VARIABLE_ALLOW_SIGNUP) ({e})"
            ),
        )
    })
}

fn signup_disabled(policy: SignupPolicy) -> ApiError {
    ApiError::new(
        403,
        "signup_disabled",
        match policy {
            SignupPolicy::First => {
                "sign-up is closed: this server already has its organization (variable \
                 allow_signup is \"first\"); ask an administrator for an invitation"
            }
            _ => {
                "sign-up is disabled on this server (variable allow_signup); ask an \
                 administrator for an invitation"
            }
        },
    )
}

/// `POST /api/v1/signup`: a new organization with the caller as its administrator, as the
/// variable `allow_signup` allows: `first` only while the server has no organization, `true`
/// always, `false` never.
pub fn signup(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    limit_anonymous(&store, req, now)?;
    let policy = signup_policy()?;
    // Checked again in the transaction that creates the organization; this refuses early,
    // before the body is read and a password hashed.
    let exist = policy == SignupPolicy::First && store.organizations_exist()?;
    if !policy.allows(exist) {
        return Err(signup_disabled(policy));
    }
    let b: SignupBody = body(req)?;
    let org = OrgFields::named(OrgName::parse(&b.organization)?);
    let email = Email::parse(&b.email)?;
    let password = Password::parse(&b.password)?;
    // Checked before hashing, so that a taken address answers at once.
    if store.find_user_by_email(&email)?.is_some() {
        return Err(Conflict::EmailTaken.into());
    }
    let hash = PasswordHasher::default().hash(&password)?;
    let (tenant, _, user) = store
        .sign_up(policy, &org, &Subscription::default(), &email, &hash, now)
        .map_err(|e| match e {
            Error::Conflict(Conflict::SignupClosed(_)) => signup_disabled(policy),
            other => other.into(),
        })?;
    // The same answer as login and refresh give: ids, not the objects.
    json_response(201, &session(&store, user.id, &tenant, now)?)
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
    /// Which organization the access token is for, when the user belongs to several.
    #[serde(default)]
    organization: Option<String>,
}

/// `POST /api/v1/login`
pub fn login(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    limit_anonymous(&store, req, now)?;
    let b: LoginBody = body(req)?;
    // The login every API shares: failures limited per address, the same answer for a wrong
    // password and an unknown account.
    let organization = b.organization.as_deref();
    let client = fieldline_component::client_ip(req);
    let (tenant, user) =
        sessions::password_login(&store, &b.email, &b.password, organization, &client, now)
            .map_err(|e| match e {
                Error::NoMembership(_) => ApiError::new(403, "no_membership", e.to_string()),
                other => other.into(),
            })?;
    json_response(200, &session(&store, user, &tenant, now)?)
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/v1/refresh`: a new access token and a new refresh token; the old one is spent.
pub fn refresh(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    limit_anonymous(&store, req, now)?;
    let b: RefreshBody = body(req)?;
    let secret = sessions::refresh_secret(&b.refresh_token)?;
    let key = jwt_key()?;
    let s = sessions::refresh_session(&store, &key, &secret, now)?;
    json_response(200, &session_json(&s))
}

#[derive(Deserialize)]
struct SwitchBody {
    organization: String,
}

/// `POST /api/v1/switch`: a new session in another organization of the signed-in user (the
/// console's organization picker), without asking for the password again. The current
/// session stays valid; the client logs it out when it no longer needs it.
pub fn switch(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let b: SwitchBody = body(req)?;
    let tenant = sessions::choose_organization(&store, caller.user(), Some(&b.organization), now)
        .map_err(|e| match e {
        Error::NoMembership(_) => ApiError::new(403, "no_membership", e.to_string()),
        other => other.into(),
    })?;
    json_response(200, &session(&store, caller.user(), &tenant, now)?)
}

/// `POST /api/v1/logout`: revokes the session of the refresh token.
pub fn logout(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    limit_anonymous(&store, req, now)?;
    let b: RefreshBody = body(req)?;
    let secret = sessions::refresh_secret(&b.refresh_token)?;
    store.revoke_refresh_token(&secret, now)?;
    no_content()
}

fn membership_json(store: &Store, tenant: &Tenant, m: &Membership) -> ApiResult<Value> {
    let name = store.organization(tenant)?.fields.name;
    Ok(json!({
        "organization": tenant.id(),
        "name": name,
        "permissions": m.permissions,
        "since": m.created_at,
    }))
}

/// `GET /api/v1/me`: the user, the organization of this token, and all their memberships.
pub fn me(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    let caller = authenticate(&store, req, now)?;
    let user = store.user(caller.user())?;
    let memberships = store.memberships_of_user(caller.user())?;
    let current = memberships
        .iter()
        .find(|(t, _)| *t == caller.tenant)
        .map(|(_, m)| m.permissions);
    json_response(
        200,
        &json!({
            "user": user,
            "organization": caller.org(),
            "permissions": current,
            "memberships": memberships
                .iter()
                .map(|(t, m)| membership_json(&store, t, m))
                .collect::<ApiResult<Vec<_>>>()?,
            "access_token_expires_at": caller.claims.expires_at,
        }),
    )
}

#[derive(Deserialize)]
struct AcceptBody {
    token: String,
    #[serde(default)]
    password: Option<String>,
}

/// `POST /api/v1/invitations/accept`: joins the invitation's organization, as the signed-in
/// user (with a Bearer token) or as a new account with `password`; starts a session there.
pub fn accept_invitation(req: &Request, _: &Params) -> ApiResult {
    let (store, now) = open()?;
    // Who is asking comes first: a signed-in user is authenticated (and counted), anyone else
    // is counted by address, before the body is looked at.
    let caller = match bearer(req)? {
        Some(_) => Some(authenticate(&store, req, now)?),
        None => {
            limit_anonymous(&store, req, now)?;
            None
        }
    };
    let b: AcceptBody = body(req)?;
    let secret = TokenSecret::parse(&b.token)
        .ok()
        .filter(|s| s.kind().is_none())
        .ok_or_else(|| ApiError::new(404, "invitation_not_found", "invitation not found"))?;
    let (tenant, membership) = if let Some(caller) = caller {
        store.accept_invitation(&secret, Accept::Existing(caller.user()), now)?
    } else {
        let password = b.password.as_deref().ok_or_else(|| {
            ApiError::bad_request(
                "password is required to create the invited account (or send the request \
                 with the Bearer token of an existing account)",
            )
        })?;
        let password = Password::parse(password)?;
        // Refuse a dead link before paying for the hash.
        let (_, inv) = store.invitation_by_secret(&secret)?;
        if !inv.is_open(now) {
            return Err(Conflict::InvitationClosed.into());
        }
        let hash = PasswordHasher::default().hash(&password)?;
        store.accept_invitation(&secret, Accept::NewUser(&hash), now)?
    };
    let mut answer = session(&store, membership.user, &tenant, now)?;
    answer["membership"] = serde_json::to_value(&membership)?;
    json_response(201, &answer)
}
