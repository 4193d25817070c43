//! Sessions, as every interactive API starts them: a password login (Hexastate's e-mail and
//! password, Proficloud's username and password, InfluxDB's Basic credentials) and the pair of
//! a short-lived JWT access token and a rotating refresh token.

use fieldline_domain::{
    AuthFailure, Email, JwtKey, Password, PasswordHasher, RateLimitPolicy, Timestamp, TokenSecret,
    UserId, ACCESS_TOKEN_TTL_SECS, REFRESH_TOKEN_TTL_SECS,
};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::orgs::Tenant;

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

/// Checks an e-mail address and password and picks the organization: the one named, else the
/// first membership. After [`RateLimitPolicy::LOGIN`] failures for an address in a window, the
/// address is refused until the window ends (successes are not counted, so that a client
/// sending its credentials with every request, as InfluxDB clients do, is not throttled).
/// Every wrong answer is the same [`AuthFailure::BadCredentials`], and a missing account costs
/// a hash like a present one, so that answers tell nothing about which addresses exist.
pub fn password_login(
    db: &dyn Db,
    email: &str,
    password: &str,
    organization: Option<&str>,
    now: Timestamp,
) -> Result<(Tenant, UserId)> {
    let bad = || Error::from(AuthFailure::BadCredentials);
    let email = Email::parse(email).map_err(|_| bad())?;
    let principal = format!("email:{email}");
    let policy = RateLimitPolicy::LOGIN;
    crate::counters::check_failures(db, &policy, &principal, now)?;
    let failed = |db: &dyn Db| -> Error {
        match crate::counters::count_failure(db, &policy, &principal, now) {
            Ok(()) => bad(),
            Err(e) => e,
        }
    };
    let Ok(password) = Password::parse(password) else {
        return Err(failed(db));
    };
    let found = crate::users::find_user_by_email(db, &email)?;
    let ok = PasswordHasher::default().verify(&password, found.as_ref().map(|(_, h)| h));
    let Some((user, _)) = found.filter(|_| ok) else {
        return Err(failed(db));
    };
    let memberships = crate::users::memberships_of_user(db, user.id)?;
    let chosen = match organization {
        Some(org) => memberships.iter().find(|(t, _)| t.id().as_str() == org),
        None => memberships.first(),
    };
    match chosen {
        Some((tenant, _)) => Ok((*tenant, user.id)),
        None => Err(Error::NoMembership(organization.map(str::to_owned))),
    }
}

/// A new session for a member: an access token signed with `key` and a new refresh token.
pub fn start_session(
    db: &dyn Db,
    key: &JwtKey,
    tenant: Tenant,
    user: UserId,
    now: Timestamp,
) -> Result<Session> {
    let refresh_token = crate::tokens::issue_refresh_token(db, &tenant, user, now)?;
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
    db: &dyn Db,
    key: &JwtKey,
    secret: &TokenSecret,
    now: Timestamp,
) -> Result<Session> {
    let rotated = crate::tokens::rotate_refresh_token(db, secret, now)?;
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
