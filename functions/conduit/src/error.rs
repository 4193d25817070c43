//! The one mapping of the use cases' errors to Conduit's answers: its status table (200, 304,
//! 400, 401, 403, 404, 405, 413, 429, 500) and `{"code","error"}` body.

use crate::status::{ConduitError, Status};
use fieldline_service::{BackendFailure, Error, Refusal};

/// A use case's error in Conduit's terms.
pub fn conduit_error(e: Error) -> ConduitError {
    use fieldline_domain::Error as D;
    let status = match &e {
        Error::Refused(Refusal::MissingCredentials(_) | Refusal::WrongCredentials(_)) => {
            Status::Unauthorised
        }
        Error::Refused(Refusal::ServiceDisabled(_) | Refusal::SubscriptionExpired(_)) => {
            Status::Forbidden
        }
        Error::NotFound(_) | Error::UnknownDevice(_) => Status::NotFound,
        Error::TooLarge(_) => Status::TooLarge,
        Error::Domain(D::Parse(_)) => Status::BadRequest,
        Error::Domain(D::Unauthenticated(_)) => Status::Unauthorised,
        // Another organization's object is answered as if it did not exist.
        Error::Domain(D::Forbidden(d)) if d.other_tenant => Status::NotFound,
        Error::Domain(D::Forbidden(_)) => Status::Forbidden,
        Error::Domain(D::RateLimited(_)) => Status::TooManyRequests,
        Error::Domain(D::Internal(_))
        | Error::Backend { .. }
        | Error::Conflict(_)
        | Error::Corrupt(_)
        | Error::SchemaTooNew { .. }
        | Error::NoMembership(_)
        | Error::CrossTenant => Status::Internal,
    };
    let detail = match &e {
        Error::Backend {
            kind: BackendFailure::Full,
            message,
        } => {
            eprintln!("conduit: database error: {message}");
            "the storage is full: no point of this upload was written; send it again once the \
             server has room"
                .to_owned()
        }
        _ => e.to_string(),
    };
    let mut out = ConduitError::new(status, detail);
    out.retry_after_secs = e.as_rate_limited().map(|r| r.retry_after_secs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldline_domain::{AuthFailure, Denied};

    #[test]
    fn use_case_errors_map_to_rows_of_the_table() {
        let e = conduit_error(Error::from(AuthFailure::InvalidToken));
        assert_eq!(e.status, Status::Unauthorised);
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap_or_default();
        assert_eq!(v["code"], "401");
        assert!(
            v["error"]
                .as_str()
                .unwrap_or("")
                .starts_with("Unauthorised: "),
            "{v}"
        );
        let other_tenant = Denied {
            action: "reading device x".into(),
            reason: "another organization's",
            other_tenant: true,
        };
        assert_eq!(conduit_error(other_tenant.into()).status, Status::NotFound);
        let missing = Refusal::MissingCredentials("no token");
        assert_eq!(conduit_error(missing.into()).status, Status::Unauthorised);
        let off = Refusal::ServiceDisabled("the MQTT service is off".into());
        assert_eq!(conduit_error(off.into()).status, Status::Forbidden);
        let unknown = Error::UnknownDevice("no device with networkId \"x\"".into());
        assert_eq!(conduit_error(unknown).status, Status::NotFound);
        let limited = fieldline_domain::RateLimited {
            policy: "conduit-write",
            limit: 100,
            window_secs: 1,
            retry_after_secs: 1,
        };
        let e = conduit_error(limited.into());
        assert_eq!(
            (e.status, e.retry_after_secs),
            (Status::TooManyRequests, Some(1))
        );
        let db = Error::backend(fieldline_service::BackendFailure::Full, "disk full");
        assert_eq!(conduit_error(db).status, Status::Internal);
    }
}
