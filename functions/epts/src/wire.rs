//! HTTP helpers of this component: request bodies (gzip-encoded ones are inflated up to a
//! bound), answers (gzip-encoded when the client accepts it), the `influx_database` variable.

use spin_sdk::http::{Request, Response};

pub use fieldline_component::{accepts_gzip, client_ip, header, Answer, BodyError};

/// The largest request body after decompression: InfluxDB's default `max-body-size` (25 MB).
pub const MAX_BODY_BYTES: u64 = 25_000_000;

/// The request body, inflated when `Content-Encoding: gzip`.
pub fn body(req: &Request) -> Result<Vec<u8>, BodyError> {
    fieldline_component::body(req, MAX_BODY_BYTES)
}

/// The response; the body gzip-encoded when the client takes it and it is not empty. Typed
/// also when empty: InfluxDB types its 204s and its empty CSV answers.
pub fn respond(req: &Request, answer: Answer) -> Response {
    let gzip = accepts_gzip(req).then_some(0);
    answer.into_response(gzip, true)
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
