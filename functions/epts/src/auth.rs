//! Who is calling: a Bearer access token (from `/epts/token` or the admin API's login), or
//! InfluxDB 1.x credentials (HTTP Basic, or the `u` and `p` parameters) whose password is the
//! account's password or a Fieldline API token (a Conduit token with the HTTP service, which
//! costs a hash lookup instead of an Argon2 verification on every request).

use base64::Engine as _;
use fieldline_domain::{JwtKey, Principal, Timestamp, TokenKind, TokenSecret};
use fieldline_storage::{Error as StoreError, Tenant};
use spin_sdk::http::Request;
use spin_sdk::sqlite::Connection;

use crate::wire::{header, variable};

/// An authenticated caller.
pub struct Caller {
    pub tenant: Tenant,
    pub principal: Principal,
}

/// The credentials a request carries.
pub enum Credentials {
    None,
    Bearer(String),
    Password { user: String, password: String },
}

/// Why a caller is refused, in terms each API words its own way.
pub enum Refusal {
    /// No credentials, or credentials in a form that cannot be read.
    Missing(String),
    /// Wrong, expired or revoked credentials.
    Failed(String),
    /// Authenticated, but without the permission needed.
    Forbidden(String),
    /// Too many failed logins (seconds to wait).
    Limited {
        message: String,
        retry_after: u32,
    },
    Internal(String),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        if let Some(r) = e.as_rate_limited() {
            return Refusal::Limited {
                message: r.to_string(),
                retry_after: r.retry_after_secs,
            };
        }
        match e {
            StoreError::Domain(fieldline_domain::Error::Unauthenticated(f)) => {
                Refusal::Failed(f.to_string())
            }
            StoreError::NoMembership(_) => Refusal::Failed(e.to_string()),
            other => Refusal::Internal(other.to_string()),
        }
    }
}

impl From<fieldline_domain::Error> for Refusal {
    fn from(e: fieldline_domain::Error) -> Self {
        StoreError::from(e).into()
    }
}

/// The credentials of the `Authorization` header, else of `u`/`p` (given by the caller).
pub fn credentials(
    req: &Request,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<Credentials, Refusal> {
    if let Some(value) = header(req, "authorization").filter(|v| !v.is_empty()) {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            return Ok(Credentials::Bearer(rest.to_owned()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                return Ok(Credentials::Password {
                    user: user.to_owned(),
                    password: password.to_owned(),
                });
            }
        }
        return Err(Refusal::Missing(
            "the Authorization header must be `Bearer <access token>` or `Basic <base64 of \
             email:password>`"
                .into(),
        ));
    }
    match (user, password) {
        (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => Ok(Credentials::Password {
            user: u.to_owned(),
            password: p.to_owned(),
        }),
        _ => Ok(Credentials::None),
    }
}

/// The key access tokens are signed with (the secret variable `jwt_secret`).
pub fn jwt_key() -> Result<JwtKey, Refusal> {
    let secret = variable("jwt_secret").ok_or_else(|| {
        Refusal::Internal(
            "the Spin variable `jwt_secret` is not set: set SPIN_VARIABLE_JWT_SECRET (scripts/up \
             generates one into .spin/jwt-secret)"
                .into(),
        )
    })?;
    JwtKey::from_secret(secret.as_bytes())
        .map_err(|e| Refusal::Internal(format!("Spin variable `jwt_secret`: {e}")))
}

/// Authenticates the credentials.
pub fn authenticate(
    db: &Connection,
    creds: Credentials,
    now: Timestamp,
) -> Result<Caller, Refusal> {
    match creds {
        Credentials::None => Err(Refusal::Missing(
            "this endpoint needs credentials: `Authorization: Bearer <access token>` (POST \
             /epts/token), or InfluxDB's Basic authentication or u and p parameters"
                .into(),
        )),
        Credentials::Bearer(token) => {
            let claims = jwt_key()?.verify(&token, now)?;
            let (tenant, principal) = fieldline_storage::member_principal(db, &claims)?;
            Ok(Caller { tenant, principal })
        }
        Credentials::Password { user, password } => {
            // A Fieldline API token as the password: cheap to check, revocable on its own.
            if let Ok(secret) = TokenSecret::parse(&password) {
                if secret.kind() == Some(TokenKind::Conduit) {
                    let auth = fieldline_storage::authenticate_token(db, &secret, now)?;
                    return match auth.principal {
                        Principal::Conduit { services, .. } if services.http => Ok(Caller {
                            tenant: auth.tenant,
                            principal: auth.principal,
                        }),
                        _ => Err(Refusal::Failed(
                            "the token does not have the HTTP service enabled".into(),
                        )),
                    };
                }
            }
            let (tenant, user) =
                fieldline_storage::password_login(db, &user, &password, None, now)?;
            let (tenant, membership) = fieldline_storage::member(db, tenant.id(), user)?;
            Ok(Caller {
                tenant,
                principal: Principal::Member {
                    user,
                    org: membership.org,
                    permissions: membership.permissions,
                },
            })
        }
    }
}

/// Checks the caller may do `action` (the domain's one permission check).
pub fn authorize(caller: &Caller, action: fieldline_domain::Action) -> Result<(), Refusal> {
    fieldline_domain::authorize(&caller.principal, action, caller.tenant.id()).map_err(
        |e| match e {
            fieldline_domain::Error::Forbidden(d) => Refusal::Forbidden(d.to_string()),
            other => other.into(),
        },
    )
}
