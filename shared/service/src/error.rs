//! The use cases' and the storage ports' one error type. It carries no HTTP: each component maps
//! it to its own wire format once (Conduit's `{"code","error"}`, InfluxDB's `{"error"}`, the
//! admin API's `{"code","message"}`).

use fieldline_domain::{AuthFailure, ParseError, RateLimited};

/// `Result` with the service [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kinds of object a lookup can miss (Sensorbis 100/110/120/130, the admin API's
/// `<object>_not_found` codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Organization,
    User,
    Member,
    Invitation,
    Device,
    Sensor,
    Channel,
    Token,
    Incident,
    OutboxMessage,
    Notification,
    TopicSubscription,
    View,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Organization => "organization",
            Entity::User => "user",
            Entity::Member => "member",
            Entity::Invitation => "invitation",
            Entity::Device => "device",
            Entity::Sensor => "sensor",
            Entity::Channel => "channel",
            Entity::Token => "token",
            Entity::Incident => "incident",
            Entity::OutboxMessage => "outbox message",
            Entity::Notification => "notification",
            Entity::TopicSubscription => "topic subscription",
            Entity::View => "view",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    #[error("the incident has both its confirmations already")]
    AlreadyConfirmed,
}

/// What kind of failure a storage backend reported, so that an API can answer it truthfully
/// without reading the backend's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendFailure {
    /// The database (or its disk) is full: nothing of the request was written.
    Full,
    /// The store is not configured for this component, or not reachable.
    Unavailable,
    /// Anything else (I/O, a bug in a statement).
    Other,
}

/// Credentials an API refuses before or after looking them up, beyond the domain's
/// [`AuthFailure`]s: the message says what the client must send instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// None were sent (401).
    #[error("{0}")]
    MissingCredentials(&'static str),
    /// Credentials of the wrong kind for this API (401).
    #[error("{0}")]
    WrongCredentials(&'static str),
    /// Valid credentials whose holder turned this API off (403).
    #[error("{0}")]
    ServiceDisabled(String),
    /// The organization has no subscription in force (Sensorbis error 30, 403 everywhere):
    /// every API of the organization refuses its callers until the operator renews it; its
    /// data is kept.
    #[error("{0}")]
    SubscriptionExpired(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The storage backend failed: a server error. The message is for the log.
    #[error("database error: {message}")]
    Backend {
        kind: BackendFailure,
        message: String,
    },
    /// No such object in this organization.
    #[error("{0} not found")]
    NotFound(Entity),
    /// Data names a device the organization does not have and may not register; the message
    /// says which and what to do.
    #[error("{0}")]
    UnknownDevice(String),
    #[error("conflict: {0}")]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Domain(#[from] fieldline_domain::Error),
    /// The request asks for more than one answer may carry; the message says how to narrow it.
    #[error("{0}")]
    TooLarge(String),
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
    /// A backend failure of `kind`.
    pub fn backend(kind: BackendFailure, message: impl Into<String>) -> Self {
        Error::Backend {
            kind,
            message: message.into(),
        }
    }

    /// The limit that was hit, for a 429 answer (`Retry-After`, which limit).
    pub fn as_rate_limited(&self) -> Option<&RateLimited> {
        match self {
            Error::Domain(fieldline_domain::Error::RateLimited(r)) => Some(r),
            _ => None,
        }
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

impl From<fieldline_domain::Denied> for Error {
    fn from(e: fieldline_domain::Denied) -> Self {
        Error::Domain(e.into())
    }
}

/// A stored value the domain refuses to parse.
pub fn corrupt(e: ParseError) -> Error {
    Error::Corrupt(e.to_string())
}
