//! HTTP helpers of this component: headers, bodies (gzip-encoded request bodies are inflated
//! up to a bound), answers (gzip-encoded when the client accepts it), Spin variables.

use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
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

/// Why a body cannot be read.
pub enum BodyError {
    TooLarge,
    /// The message says what is wrong with the encoding.
    Bad(String),
}

/// The request body, inflated when `Content-Encoding: gzip`.
pub fn body(req: &Request) -> Result<Vec<u8>, BodyError> {
    let raw = req.body();
    if raw.len() as u64 > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    match header(req, "content-encoding")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("" | "identity") => Ok(raw.to_vec()),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            GzDecoder::new(raw)
                .take(MAX_BODY_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| BodyError::Bad(format!("the body is not valid gzip: {e}")))?;
            if out.len() as u64 > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            Ok(out)
        }
        Some(other) => Err(BodyError::Bad(format!(
            "Content-Encoding {other:?} is not supported; send gzip or no encoding"
        ))),
    }
}

/// Whether the client takes a gzip-encoded answer.
pub fn accepts_gzip(req: &Request) -> bool {
    header(req, "accept-encoding").is_some_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

pub fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    enc.write_all(data).ok()?;
    enc.finish().ok()
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
        if !body.is_empty() {
            if gzip_body {
                if let Some(z) = gzip(&body) {
                    body = z;
                    builder.header("content-encoding", "gzip");
                }
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
    let addr = header(req, "spin-client-addr").unwrap_or("unknown");
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).to_owned()
}
