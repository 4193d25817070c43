//! Who is calling, and the one mapping of the use cases' errors to this component's refusals,
//! which each API here words its own way. Credentials: a Bearer access token (from
//! `/epts/token` or the admin API's login), or InfluxDB 1.x credentials (HTTP Basic, or the `u`
//! and `p` parameters) whose password is the account's password or a Fieldline API token.

use fieldline_component::{authorization, jwt_key, Authorization, Store};
use fieldline_domain::Timestamp;
use fieldline_service::auth::{self, Caller};
use fieldline_service::{BackendFailure, Error, Refusal as Refused};
use spin_sdk::http::Request;

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
    /// Too many requests or failed logins (seconds to wait).
    Limited {
        message: String,
        retry_after: u32,
    },
    /// The request asks for too much in one answer (Proficloud answers 500 with the message).
    TooLarge(String),
    /// The database is full (its disk, or a size limit): no point of the request was written.
    /// The backend's message, for the log; clients get [`STORAGE_FULL`].
    StorageFull(String),
    Internal(String),
}

/// What a client is told when the database is full, in each API's format. A batch of points is
/// one statement or transaction, so none of it was kept (a device registered from it may have
/// been).
pub const STORAGE_FULL: &str = "the database is full: no point of this request was written; send \
                                it again once the server has room";

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        use fieldline_domain::Error as D;
        if let Some(r) = e.as_rate_limited() {
            return Refusal::Limited {
                message: r.to_string(),
                retry_after: r.retry_after_secs,
            };
        }
        match e {
            Error::Refused(Refused::MissingCredentials(m)) => Refusal::Missing(m.into()),
            Error::Refused(Refused::WrongCredentials(m)) => Refusal::Failed(m.into()),
            Error::Refused(Refused::ServiceDisabled(m) | Refused::SubscriptionExpired(m)) => {
                Refusal::Forbidden(m)
            }
            Error::Domain(D::Unauthenticated(f)) => Refusal::Failed(f.to_string()),
            Error::NoMembership(_) => Refusal::Failed(e.to_string()),
            Error::Domain(D::Forbidden(d)) => Refusal::Forbidden(d.to_string()),
            Error::TooLarge(m) => Refusal::TooLarge(m),
            Error::Backend {
                kind: BackendFailure::Full,
                ..
            } => Refusal::StorageFull(e.to_string()),
            other => Refusal::Internal(other.to_string()),
        }
    }
}

/// The credentials of the `Authorization` header, else of `u`/`p` (given by the caller).
pub fn credentials(
    req: &Request,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<Credentials, Refusal> {
    match authorization(req) {
        Some(Authorization::Bearer(token)) => return Ok(Credentials::Bearer(token)),
        Some(Authorization::Basic { user, password }) => {
            return Ok(Credentials::Password { user, password })
        }
        Some(Authorization::Unreadable) => {
            return Err(Refusal::Missing(
                "the Authorization header must be `Bearer <access token>` or `Basic <base64 of \
                 email:password>`"
                    .into(),
            ))
        }
        None => {}
    }
    match (user, password) {
        (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => Ok(Credentials::Password {
            user: u.to_owned(),
            password: p.to_owned(),
        }),
        _ => Ok(Credentials::None),
    }
}

/// The key access tokens are signed with.
pub fn key() -> Result<fieldline_domain::JwtKey, Refusal> {
    jwt_key().map_err(Refusal::Internal)
}

/// Authenticates the credentials; `client` is the client's address, which failed password
/// logins are also counted against.
pub fn authenticate(
    store: &Store,
    creds: Credentials,
    client: &str,
    now: Timestamp,
) -> Result<Caller, Refusal> {
    match creds {
        Credentials::None => Err(Refusal::Missing(
            "this endpoint needs credentials: `Authorization: Bearer <access token>` (POST \
             /epts/token), or InfluxDB's Basic authentication or u and p parameters"
                .into(),
        )),
        Credentials::Bearer(token) => Ok(auth::access_token(store, &key()?, &token, now)?.0),
        Credentials::Password { user, password } => Ok(auth::user_and_password(
            store, &user, &password, client, now,
        )?),
    }
}

/// Opens the store.
pub fn open() -> Result<Store, Refusal> {
    fieldline_component::open_store().map_err(Refusal::from)
}
