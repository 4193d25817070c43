//! Storage errors: the database's own, "not found" and "conflict" outcomes the APIs answer with
//! 404 and 409, and the domain's errors passed through.

use fieldline_domain::{AuthFailure, ParseError, RateLimited};

/// `Result` with the storage [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A write refused because it would break a uniqueness or consistency rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("a user with this e-mail address already exists")]
    EmailTaken,
    #[error("the device already has a channel with communicationId {0:?}")]
    CommunicationIdTaken(String),
    #[error("the organization already has a device with networkId {0:?}")]
    NetworkIdTaken(String),
    #[error("the organization already has a device with UUID {0}")]
    UuidTaken(String),
    #[error("the user is already a member of the organization")]
    AlreadyMember,
    #[error("the organization must keep at least one administrator")]
    LastAdministrator,
    #[error("the subscription allows at most {0} members")]
    MaxUsers(u32),
    #[error("the invitation was already accepted or has expired")]
    InvitationClosed,
    #[error("the invitation is for {invited}, not for this account")]
    InvitationForAnotherEmail { invited: String },
    #[error("sign-up is closed ({0:?}): this server already has an organization")]
    SignupClosed(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed (I/O, locked, bad SQL): a server error.
    #[error("database error: {0}")]
    Sqlite(String),
    /// No such object in this organization (Sensorbis 100/110/120/130).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Domain(#[from] fieldline_domain::Error),
    /// A stored value that the domain refuses: written by something else, or a bug.
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
    /// The database was migrated by a newer build: this one must not write to it.
    #[error(
        "the database schema is version {found}, newer than this build's {supported}; \
         deploy the newer components"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The account is not a member of the organization named at login (or of any).
    #[error("{}", match .0 { Some(org) => format!("the account is not a member of organization {org}"), None => "the account is not a member of any organization".to_owned() })]
    NoMembership(Option<String>),
    /// A channel handle of another organization was passed (a bug in the caller).
    #[error("a channel of another organization was passed to a query of this one")]
    CrossTenant,
}

impl Error {
    /// The HTTP status an API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Domain(e) => e.http_status(),
            Error::SchemaTooNew { .. } => 503,
            Error::NoMembership(_) => 403,
            Error::Sqlite(_) | Error::Corrupt(_) | Error::CrossTenant => 500,
        }
    }

    /// The limit that was hit, for the 429 answer (`Retry-After`, which limit).
    pub fn as_rate_limited(&self) -> Option<&RateLimited> {
        match self {
            Error::Domain(fieldline_domain::Error::RateLimited(r)) => Some(r),
            _ => None,
        }
    }

    /// Whether the database refused a write for a `UNIQUE` index; `column` names it.
    pub(crate) fn is_unique_violation(&self, column: &str) -> bool {
        matches!(self, Error::Sqlite(m) if m.contains("UNIQUE constraint failed") && m.contains(column))
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Domain(e.into())
    }
}

impl From<AuthFailure> for Error {
    fn from(e: AuthFailure) -> Self {
        Error::Domain(e.into())
    }
}

impl From<RateLimited> for Error {
    fn from(e: RateLimited) -> Self {
        Error::Domain(e.into())
    }
}

/// A stored value the domain refuses to parse.
pub(crate) fn corrupt(e: ParseError) -> Error {
    Error::Corrupt(e.to_string())
}
