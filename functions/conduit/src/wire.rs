//! HTTP plumbing Conduit defines: the effective method (`X-HTTP-Method-Override`), gzip request
//! bodies with a bound on their decompressed size, gzip answers over 1024 bytes for clients that
//! accept them, and every answer in the `{"code","error"}` format.

use crate::status::{ConduitError, Status};
use spin_sdk::http::{Method as SpinMethod, Request, Response};

/// The largest request body accepted, after decompression: a v2 upload of all 36 channels is
/// under 2 KiB, so 1 MiB leaves ample room and stops a gzip bomb early.
pub const MAX_BODY_BYTES: u64 = 1 << 20;

/// Answers larger than this many bytes are compressed when the client accepts gzip.
pub const GZIP_OVER_BYTES: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other => "other",
        }
    }
}

/// The request's method, or on a POST the method `X-HTTP-Method-Override` names ("Clients not
/// supporting PUT/DELETE methods can send via POST with this header"). An override on another
/// method, or naming something other than GET, POST, PUT or DELETE, is a 400.
pub fn effective_method(req: &Request) -> Result<Method, ConduitError> {
    let actual = match req.method() {
        SpinMethod::Get => Method::Get,
        SpinMethod::Post => Method::Post,
        SpinMethod::Put => Method::Put,
        SpinMethod::Delete => Method::Delete,
        _ => Method::Other,
    };
    let Some(over) = fieldline_component::header(req, "x-http-method-override") else {
        return Ok(actual);
    };
    if actual != Method::Post {
        return Err(ConduitError::new(
            Status::BadRequest,
            "X-HTTP-Method-Override is only honoured on POST requests",
        ));
    }
    match over.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::Get),
        "POST" => Ok(Method::Post),
        "PUT" => Ok(Method::Put),
        "DELETE" => Ok(Method::Delete),
        other => Err(ConduitError::new(
            Status::BadRequest,
            format!("X-HTTP-Method-Override {other:?} is not GET, POST, PUT or DELETE"),
        )),
    }
}

fn too_large() -> ConduitError {
    ConduitError::new(
        Status::TooLarge,
        format!("the request body exceeds {MAX_BODY_BYTES} bytes (after decompression)"),
    )
}

/// The request body, decompressed when `Content-Encoding: gzip`.
pub fn body(req: &Request) -> Result<Vec<u8>, ConduitError> {
    fieldline_component::body(req, MAX_BODY_BYTES).map_err(|e| match e {
        fieldline_component::BodyError::TooLarge => too_large(),
        fieldline_component::BodyError::Bad(m) => ConduitError::new(Status::BadRequest, m),
    })
}

/// What a handler answers with when it succeeds.
pub struct Answer {
    pub status: Status,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn json(body: String) -> Answer {
        Answer {
            status: Status::Ok,
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    /// 304: "There was no new data to return". HTTP forbids a body on a 304.
    pub fn not_modified() -> Answer {
        Answer {
            status: Status::NotModified,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// Renders an answer or an error; compresses a body over 1024 bytes for a client that accepts
/// gzip.
pub fn respond(req: &Request, answer: Result<Answer, ConduitError>) -> Response {
    let answer = answer.unwrap_or_else(|e| {
        if e.status == Status::Internal {
            eprintln!("conduit: {} {}: {e}", req.method(), req.path());
        }
        let mut headers = Vec::new();
        if let Some(secs) = e.retry_after_secs {
            headers.push(("retry-after", secs.to_string()));
        }
        Answer {
            status: e.status,
            body: e.body().into_bytes(),
            headers,
        }
    });
    let mut out = fieldline_component::Answer::json(answer.status.code(), answer.body);
    out.headers = answer.headers;
    if !out.body.is_empty() {
        out.headers.push(("vary", "accept-encoding".into()));
    }
    let gzip = fieldline_component::accepts_gzip(req).then_some(GZIP_OVER_BYTES);
    out.into_response(gzip, false)
}
