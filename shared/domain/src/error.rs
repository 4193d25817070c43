//! The domain's errors. They carry no HTTP: each component maps them to its own wire format
//! (usually `Parse` 400, `Unauthenticated` 401, `Forbidden` 403, or 404 for another
//! organization's object, `RateLimited` 429, `Internal` 500).

use std::fmt;

use crate::ratelimit::RateLimited;

/// `Result` with the domain's [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a value was refused: what was being parsed, what is wrong with it, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The field or type being parsed, e.g. `"communicationId"`.
    pub what: &'static str,
    /// What is wrong, phrased so that the sender can fix it.
    pub message: String,
    /// Byte offset of the offending character in the input, when there is one.
    pub offset: Option<usize>,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, message: impl Into<String>) -> Self {
        ParseError {
            what,
            message: message.into(),
            offset: None,
        }
    }

    pub(crate) fn at(what: &'static str, offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            what,
            message: message.into(),
            offset: Some(offset),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.message)?;
        if let Some(offset) = self.offset {
            write!(f, " (at byte {offset})")?;
        }
        Ok(())
    }
}

/// Why a credential was not accepted. The message a client sees should stay vague
/// (`BadCredentials` for both an unknown e-mail and a wrong password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("wrong e-mail address or password")]
    BadCredentials,
    #[error("missing credentials")]
    Missing,
    #[error("the token is malformed or its signature does not match")]
    InvalidToken,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    /// A refresh token presented a second time: its whole family has been revoked.
    #[error("the refresh token was already used; all tokens of this session have been revoked")]
    Reused,
}

/// Why an authenticated principal may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} is not allowed: {reason}")]
pub struct Denied {
    /// The action, as a short phrase (`"managing members"`).
    pub action: String,
    /// Which permission or credential would allow it.
    pub reason: &'static str,
    /// The target belongs to another organization. APIs answer 404 for it rather than 403, so
    /// that an object's existence does not leak across tenants.
    pub other_tenant: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("authentication failed: {0}")]
    Unauthenticated(#[from] AuthFailure),
    #[error("forbidden: {0}")]
    Forbidden(#[from] Denied),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// A failure of the platform (random source, hashing), not of the request.
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_field_and_offset() {
        let e = ParseError::at("communicationId", 4, "'/' is not allowed");
        assert_eq!(
            e.to_string(),
            "invalid communicationId: '/' is not allowed (at byte 4)"
        );
        assert!(matches!(Error::from(e), Error::Parse(_)));
    }

    #[test]
    fn statuses() {
        assert!(matches!(
            Error::from(AuthFailure::Expired),
            Error::Unauthenticated(AuthFailure::Expired)
        ));
        let denied = Denied {
            action: "x".into(),
            reason: "y",
            other_tenant: true,
        };
        // Another organization's object: APIs answer as if it did not exist.
        assert!(matches!(Error::from(denied), Error::Forbidden(d) if d.other_tenant));
    }
}
