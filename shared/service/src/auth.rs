//! Credentials to a caller: the tenant it acts in and its principal, whichever API they came
//! through (an access token, a password, an API token as a password, a Conduit token in a
//! header, a topic or a body field); and sessions, issued one way for every interactive API
//! (Hexastate's login, Proficloud's `/epts/token`). Each API reads credentials from its own place
//! and hands them here.

use fieldline_domain::{
    authorize, AccessClaims, Action, AuthFailure, ConduitTier, Email, JwtKey, Password,
    PasswordHasher, Principal, Timestamp, TokenKind, TokenSecret, UserId, ACCESS_TOKEN_TTL_SECS,
    REFRESH_TOKEN_TTL_SECS,
};

use crate::error::{Entity, Error, Refusal, Result};
use crate::limits::{self, Subject};
use crate::ports::{Authenticated, Counters, Orgs, Tenant, Tokens, Users};
use fieldline_domain::Subscription;

/// An authenticated caller: the organization it acts in and who it is.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: Tenant,
    pub principal: Principal,
}

impl Caller {
    /// The one permission check: the domain's [`authorize`] in the caller's organization.
    pub fn may(&self, action: Action) -> Result<()> {
        authorize(&self.principal, action, self.tenant.id())?;
        Ok(())
    }
}

/// The organization's subscription, if it is in force at `now`; else
/// [`Refusal::SubscriptionExpired`]. Every way in for a caller of an organization (access
/// tokens, passwords, API and Conduit tokens, logins and refreshes, and ingestion) goes
/// through it, so an expired organization is refused by every API; its data is kept.
pub fn require_subscription(
    store: &(impl Orgs + ?Sized),
    tenant: &Tenant,
    now: Timestamp,
) -> Result<Subscription> {
    let subscription = store.organization(tenant)?.subscription;
    active(subscription, now)
}

/// `subscription` if it is in force at `now`, else the refusal every API answers with.
pub fn active(subscription: Subscription, now: Timestamp) -> Result<Subscription> {
    match subscription.expires_at {
        Some(end) if !subscription.is_active(now) => Err(Refusal::SubscriptionExpired(format!(
            "the organization's subscription expired at {}: its data is kept, but every API \
             refuses it until the installation's operator renews the subscription",
            end.to_rfc3339()
        ))
        .into()),
        _ => Ok(subscription),
    }
}

/// A member's access token (a JWT signed with `key`). The membership is read afresh, so a
/// change of permissions or a removal applies at once, not when the token expires.
pub fn access_token(
    store: &(impl Users + Orgs + ?Sized),
    key: &JwtKey,
    token: &str,
    now: Timestamp,
) -> Result<(Caller, AccessClaims)> {
    let claims = key.verify(token, now)?;
    let (tenant, m) = store.member(claims.org, claims.user).map_err(|e| match e {
        Error::NotFound(Entity::Member | Entity::User | Entity::Organization) => {
            AuthFailure::Revoked.into()
        }
        other => other,
    })?;
    require_subscription(store, &tenant, now)?;
    let principal = Principal::Member {
        user: m.user,
        org: m.org,
        permissions: m.permissions,
    };
    Ok((Caller { tenant, principal }, claims))
}

/// InfluxDB 1.x credentials (HTTP Basic, or the `u` and `p` parameters): the password is the
/// account's password, or a Fieldline API token (a Conduit token with the HTTP service), which
/// costs a hash lookup instead of an Argon2 verification on every request.
pub fn user_and_password(
    store: &(impl Users + Tokens + Counters + Orgs + ?Sized),
    user: &str,
    password: &str,
    client: &str,
    now: Timestamp,
) -> Result<Caller> {
    if let Ok(secret) = TokenSecret::parse(password) {
        if secret.kind() == Some(TokenKind::Conduit) {
            let auth = store.authenticate_token(&secret, now)?;
            active(auth.subscription, now)?;
            return match auth.principal {
                Principal::Conduit { services, .. } if services.http => Ok(Caller {
                    tenant: auth.tenant,
                    principal: auth.principal,
                }),
                _ => Err(Refusal::WrongCredentials(
                    "the token does not have the HTTP service enabled",
                )
                .into()),
            };
        }
    }
    let (tenant, user) = password_login(store, user, password, None, client, now)?;
    let (tenant, membership) = store.member(tenant.id(), user)?;
    Ok(Caller {
        tenant,
        principal: Principal::Member {
            user,
            org: membership.org,
            permissions: membership.permissions,
        },
    })
}

/// The Conduit services a request comes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConduitService {
    Http,
    Mqtt,
}

/// The holder of a Conduit token, checked: a Conduit token (not another kind of Fieldline
/// token), usable, of a current member, with the service enabled.
#[derive(Clone, Debug)]
pub struct ConduitCaller {
    pub auth: Authenticated,
    pub tier: ConduitTier,
    /// The organization's subscription, in force, as authentication read it.
    pub subscription: Subscription,
}

/// Authenticates the token a Conduit client presented (`None`: it sent none).
pub fn conduit_caller(
    tokens: &(impl Tokens + ?Sized),
    token: Option<&str>,
    service: ConduitService,
    now: Timestamp,
) -> Result<ConduitCaller> {
    let token =
        token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::MissingCredentials(
                "no token: every request needs a Conduit token",
            ))?;
    let not_conduit = || Refusal::WrongCredentials("the token is not a Conduit token");
    let secret = TokenSecret::parse(token).map_err(|_| not_conduit())?;
    let auth = tokens.authenticate_token(&secret, now)?;
    let subscription = active(auth.subscription, now)?;
    let Principal::Conduit { tier, services, .. } = auth.principal else {
        return Err(not_conduit().into());
    };
    let (enabled, name) = match service {
        ConduitService::Http => (services.http, "HTTP"),
        ConduitService::Mqtt => (services.mqtt, "MQTT"),
    };
    if !enabled {
        return Err(Refusal::ServiceDisabled(format!(
            "the {name} service is not enabled for this Conduit token"
        ))
        .into());
    }
    Ok(ConduitCaller {
        tier,
        auth,
        subscription,
    })
}

/// A started (or continued) session.
#[derive(Debug)]
pub struct Session {
    pub tenant: Tenant,
    pub user: UserId,
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Shown once; each use replaces it.
    pub refresh_token: TokenSecret,
    pub refresh_expires_in: i64,
}

/// A refresh token as a client sent it; anything else is refused.
pub fn refresh_secret(token: &str) -> Result<TokenSecret> {
    TokenSecret::parse(token)
        .ok()
        .filter(|s| s.kind() == Some(TokenKind::Refresh))
        .ok_or_else(|| {
            Refusal::WrongCredentials("refresh_token is not a Fieldline refresh token").into()
        })
}

/// Checks an e-mail address and password and picks the organization: the one named, else the
/// first membership. After [`limits::LOGIN`] failures for an address in a window, the
/// address is refused until the window ends, and after [`limits::LOGIN_CLIENT`] failures from
/// one client address (`client`, whatever the e-mail addresses), that client is (successes are not counted, so that a client
/// sending its credentials with every request, as InfluxDB clients do, is not throttled).
/// Every wrong answer is the same [`AuthFailure::BadCredentials`], and a missing account costs
/// a hash like a present one, so that answers tell nothing about which addresses exist.
pub fn password_login(
    store: &(impl Users + Tokens + Counters + Orgs + ?Sized),
    email: &str,
    password: &str,
    organization: Option<&str>,
    client: &str,
    now: Timestamp,
) -> Result<(Tenant, UserId)> {
    let bad = || Error::from(AuthFailure::BadCredentials);
    let from = Subject::Client(client);
    limits::check_failures(store, &limits::LOGIN_CLIENT, from, now)?;
    let Ok(email) = Email::parse(email) else {
        limits::count_failure(store, &limits::LOGIN_CLIENT, from, now)?;
        return Err(bad());
    };
    let subject = Subject::Email(&email);
    limits::check_failures(store, &limits::LOGIN, subject, now)?;
    let failed = || -> Error {
        match limits::count_failure(store, &limits::LOGIN, subject, now)
            .and_then(|()| limits::count_failure(store, &limits::LOGIN_CLIENT, from, now))
        {
            Ok(()) => bad(),
            Err(e) => e,
        }
    };
    let Ok(password) = Password::parse(password) else {
        return Err(failed());
    };
    let found = store.find_user_by_email(&email)?;
    let ok = PasswordHasher::default().verify(&password, found.as_ref().map(|(_, h)| h));
    let Some((user, _)) = found.filter(|_| ok) else {
        return Err(failed());
    };
    Ok((
        choose_organization(store, user.id, organization, now)?,
        user.id,
    ))
}

/// The organization a user's session is for: the one named (the user must be a member, and
/// its subscription in force), else the first membership. Login and switching organizations
/// (`POST /api/v1/switch`, the console's organization picker) choose the same way.
pub fn choose_organization(
    store: &(impl Users + Orgs + ?Sized),
    user: UserId,
    organization: Option<&str>,
    now: Timestamp,
) -> Result<Tenant> {
    let memberships = store.memberships_of_user(user)?;
    let chosen = match organization {
        Some(org) => memberships.iter().find(|(t, _)| t.id().as_str() == org),
        None => memberships.first(),
    };
    match chosen {
        Some((tenant, _)) => {
            require_subscription(store, tenant, now)?;
            Ok(*tenant)
        }
        None => Err(Error::NoMembership(organization.map(str::to_owned))),
    }
}

/// A new session for a member: an access token signed with `key` and a new refresh token.
pub fn start_session(
    store: &(impl Users + Tokens + Counters + ?Sized),
    key: &JwtKey,
    tenant: Tenant,
    user: UserId,
    now: Timestamp,
) -> Result<Session> {
    let refresh_token = store.issue_refresh_token(&tenant, user, now)?;
    Ok(Session {
        access_token: key.issue(user, tenant.id(), now)?,
        expires_in: ACCESS_TOKEN_TTL_SECS,
        refresh_token,
        refresh_expires_in: REFRESH_TOKEN_TTL_SECS,
        tenant,
        user,
    })
}

/// Continues a session: the refresh token is spent and replaced (a replayed one revokes the
/// session), and a new access token issued.
pub fn refresh_session(
    store: &(impl Users + Tokens + Counters + Orgs + ?Sized),
    key: &JwtKey,
    secret: &TokenSecret,
    now: Timestamp,
) -> Result<Session> {
    let rotated = store.rotate_refresh_token(secret, now)?;
    require_subscription(store, &rotated.tenant, now)?;
    let user = rotated.membership.user;
    Ok(Session {
        access_token: key.issue(user, rotated.tenant.id(), now)?,
        expires_in: ACCESS_TOKEN_TTL_SECS,
        refresh_token: rotated.refresh,
        refresh_expires_in: REFRESH_TOKEN_TTL_SECS,
        tenant: rotated.tenant,
        user,
    })
}
