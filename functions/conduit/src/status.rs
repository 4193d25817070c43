//! The status table of "HTTP Error and Status Codes" and the error body
//! `{"code":"405","error":"Method Not Allowed"}`.

use std::fmt;

use fieldline_domain::ParseError;

/// A row of the document's status table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    NotModified,
    BadRequest,
    Unauthorised,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    TooManyRequests,
    Internal,
}

impl Status {
    #[cfg(test)]
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::NotModified,
        Status::BadRequest,
        Status::Unauthorised,
        Status::Forbidden,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::TooLarge,
        Status::TooManyRequests,
        Status::Internal,
    ];

    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::NotModified => 304,
            Status::BadRequest => 400,
            Status::Unauthorised => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::TooLarge => 413,
            Status::TooManyRequests => 429,
            Status::Internal => 500,
        }
    }

    /// The "Status" column, as the document spells it (`Unauthorised`, `Request too large`),
    /// except its typo "Satus" header and "Resource not Found" kept as printed.
    pub fn title(self) -> &'static str {
        match self {
            Status::Ok => "Ok",
            Status::NotModified => "Not Modified",
            Status::BadRequest => "Bad Request",
            Status::Unauthorised => "Unauthorised",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Resource not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::TooLarge => "Request too large",
            Status::TooManyRequests => "Too Many Requests",
            Status::Internal => "Internal Server Error",
        }
    }

    #[cfg(test)]
    pub fn from_code(code: u16) -> Option<Status> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// An answer in Conduit's error format: the status and, when there is more to say than the
/// status title, what went wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConduitError {
    pub status: Status,
    pub detail: Option<String>,
    /// Seconds until a rate-limited client may retry (`Retry-After`).
    pub retry_after_secs: Option<u32>,
}

impl ConduitError {
    pub fn new(status: Status, detail: impl Into<String>) -> Self {
        ConduitError {
            status,
            detail: Some(detail.into()),
            retry_after_secs: None,
        }
    }

    #[cfg(test)]
    pub fn bare(status: Status) -> Self {
        ConduitError {
            status,
            detail: None,
            retry_after_secs: None,
        }
    }

    /// `{"code":"405","error":"Method Not Allowed"}`: the code as a string, as in the document's
    /// example; the detail follows the title after ": ".
    pub fn body(&self) -> String {
        serde_json::json!({
            "code": self.status.code().to_string(),
            "error": self.to_string(),
        })
        .to_string()
    }
}

impl fmt::Display for ConduitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status.title())?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl From<ParseError> for ConduitError {
    fn from(e: ParseError) -> Self {
        ConduitError::new(Status::BadRequest, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_example_error() {
        let e = ConduitError::bare(Status::MethodNotAllowed);
        assert_eq!(e.body(), r#"{"code":"405","error":"Method Not Allowed"}"#);
    }

    #[test]
    fn every_row_of_the_table() {
        let rows = [
            (200, "Ok"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (401, "Unauthorised"),
            (403, "Forbidden"),
            (404, "Resource not Found"),
            (405, "Method Not Allowed"),
            (413, "Request too large"),
            (429, "Too Many Requests"),
            (500, "Internal Server Error"),
        ];
        for (code, title) in rows {
            let s = Status::from_code(code).unwrap();
            assert_eq!((s.code(), s.title()), (code, title));
        }
        assert_eq!(Status::from_code(418), None);
    }
}
