//! The Sensorbis error table, the one mapping of the use cases' errors to it: `{"error": <code>,
//! "message": <text>}` with the table's HTTP status. 10/400 bad request, 20/401 authentication
//! failed, 25/401 session (token) expired, 30/403 missing or expired subscription, 100/110/120/130
//! 404 federation/device/sensor/channel inexistent, 140/403 invalid characters in a
//! communicationId, 142/403 duplicate communicationId for its device, 999/500 unspecified.

use fieldline_domain::AuthFailure;
use fieldline_service::{Conflict, Entity, Error, Refusal};
use serde_json::json;
use spin_sdk::http::Response;

/// An error answer of the management API.
#[derive(Debug)]
pub struct SbError {
    pub code: u16,
    pub message: String,
}

impl SbError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        SbError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        SbError::new(10, message)
    }

    pub fn not_found(what: Entity) -> Self {
        match what {
            Entity::Organization => SbError::new(100, "federation inexistent"),
            Entity::Device => SbError::new(110, "device inexistent"),
            Entity::Sensor => SbError::new(120, "sensor inexistent"),
            Entity::Channel => SbError::new(130, "channel inexistent"),
            other => internal(&format!("{other} not found")),
        }
    }

    /// The HTTP status the table gives the code.
    pub fn status(&self) -> u16 {
        match self.code {
            10 => 400,
            20 | 25 => 401,
            30 | 140 | 142 => 403,
            100 | 110 | 120 | 130 => 404,
            _ => 500,
        }
    }

    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut builder = Response::builder();
        builder
            .status(status)
            .header("content-type", "application/json; charset=utf-8");
        if status == 401 {
            builder.header("www-authenticate", "Basic realm=\"sensorbis\"");
        }
        builder
            .body(json!({ "error": self.code, "message": self.message }).to_string())
            .build()
    }
}

/// Error 999: the detail goes to the log, not to the client.
pub fn internal(detail: &str) -> SbError {
    eprintln!("sensorbis: internal error: {detail}");
    SbError::new(999, "unspecified error; see the server log")
}

impl From<Error> for SbError {
    fn from(e: Error) -> Self {
        match e {
            Error::Domain(d) => d.into(),
            Error::Refused(Refusal::MissingCredentials(m) | Refusal::WrongCredentials(m)) => {
                SbError::new(20, format!("authentication failed: {m}"))
            }
            Error::Refused(Refusal::ServiceDisabled(m) | Refusal::SubscriptionExpired(m)) => {
                SbError::new(30, m)
            }
            Error::NotFound(what) => SbError::not_found(what),
            Error::Conflict(Conflict::CommunicationIdTaken(c)) => SbError::new(
                142,
                format!("the device already has a channel with communicationId {c:?}"),
            ),
            Error::Conflict(c) => SbError::bad_request(c.to_string()),
            other => internal(&other.to_string()),
        }
    }
}

impl From<fieldline_domain::Error> for SbError {
    fn from(e: fieldline_domain::Error) -> Self {
        use fieldline_domain::Error as E;
        match e {
            E::Parse(p) => SbError::bad_request(p.to_string()),
            E::Unauthenticated(AuthFailure::Expired) => {
                SbError::new(25, "session expired: the token has expired")
            }
            E::Unauthenticated(AuthFailure::Revoked) => SbError::new(
                20,
                "authentication failed: the token has been replaced or revoked",
            ),
            E::Unauthenticated(f) => SbError::new(20, format!("authentication failed: {f}")),
            // Callers map a device's refusals to its object's 404 (`Call::may`); anything that
            // reaches here is another organization's object, which does not exist for it.
            E::Forbidden(d) => SbError::new(20, format!("authentication failed: {d}")),
            E::RateLimited(r) => internal(&r.to_string()),
            E::Internal(m) => internal(&m),
        }
    }
}

impl From<fieldline_domain::ParseError> for SbError {
    fn from(e: fieldline_domain::ParseError) -> Self {
        SbError::bad_request(e.to_string())
    }
}

pub type SbResult<T> = Result<T, SbError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_statuses() {
        for (code, status) in [
            (10, 400),
            (20, 401),
            (25, 401),
            (30, 403),
            (100, 404),
            (110, 404),
            (120, 404),
            (130, 404),
            (140, 403),
            (142, 403),
            (999, 500),
        ] {
            assert_eq!(SbError::new(code, "").status(), status, "{code}");
        }
        let e: SbError = Error::Conflict(Conflict::CommunicationIdTaken("t".into())).into();
        assert_eq!(e.code, 142);
        let e: SbError = fieldline_domain::Error::from(AuthFailure::Expired).into();
        assert_eq!(e.code, 25);
        let e: SbError = Error::NotFound(Entity::Channel).into();
        assert_eq!(e.code, 130);
        let e: SbError = Error::Refused(Refusal::ServiceDisabled("x".into())).into();
        assert_eq!(e.code, 30);
    }
}
