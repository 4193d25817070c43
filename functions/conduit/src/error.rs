//! The one mapping of the use cases' errors to Conduit's answers: its status table (200, 304,
//! 400, 401, 403, 404, 405, 413, 429, 500) and `{"code","error"}` body.

use fieldline_domain::conduit::{ConduitError, Status};
use fieldline_service::{BackendFailure, Error, Refusal};

/// A use case's error in Conduit's terms.
pub fn conduit_error(e: Error) -> ConduitError {
    use fieldline_domain::Error as D;
    let status = match &e {
        Error::Refused(Refusal::MissingCredentials(_) | Refusal::WrongCredentials(_)) => {
            Status::Unauthorised
        }
        Error::Refused(Refusal::ServiceDisabled(_)) => Status::Forbidden,
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
