//! HTTP helpers of this component: headers, bodies (gzip-encoded request bodies are inflated
//! up to a bound, by `fieldline_http`), answers (gzip-encoded when the client accepts it), Spin
//! variables.

use spin_sdk::http::{Request, Response};

/// The largest request body after decompression: InfluxDB's default `max-body-size` (25 MB).
pub const MAX_BODY_BYTES: u64 = 25_000_000;

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|v| v.as_str()).map(str::trim)
}

/// A Spin variable; `None` when it is undefined or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

pub use fieldline_http::BodyError;

/// The request body, inflated when `Content-Encoding: gzip`.
pub fn body(req: &Request) -> Result<Vec<u8>, BodyError> {
    fieldline_http::inflate(req.body(), header(req, "content-encoding"), MAX_BODY_BYTES)
        .map(std::borrow::Cow::into_owned)
}

/// Whether the client takes a gzip-encoded answer.
pub fn accepts_gzip(req: &Request) -> bool {
    fieldline_http::accepts_gzip(header(req, "accept-encoding"))
}

/// An answer under construction.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// The response; the body gzip-encoded when `gzip` and not empty.
    pub fn into_response(self, gzip_body: bool) -> Response {
        let mut builder = Response::builder();
        builder.status(self.status);
        for (k, v) in &self.headers {
            builder.header(*k, v.as_str());
        }
        let mut body = self.body;
        // Also on an empty body: InfluxDB types its 204s and its empty CSV answers.
        builder.header("content-type", self.content_type);
        if gzip_body && !body.is_empty() {
            if let Some(z) = fieldline_http::gzip(&body) {
                body = z;
                builder.header("content-encoding", "gzip");
            }
        }
        builder.body(body).build()
    }
}

/// A plain-text answer (InfluxDB's 404 and 405).
pub fn text(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(body.to_owned())
        .build()
}

/// The client's address without the port, for per-client limits.
pub fn client_ip(req: &Request) -> String {
    fieldline_http::client_ip(header(req, "spin-client-addr"))
}
