//! The device push: `POST <uri>` (`/V0100/push/<device id>`) with `Authorization: <the
//! device's authorization string>` and `{"t": <ms>, "c": [{"i": .., "v": ..}]}`. Answers:
//! 200 `{"stored": n}` (the whole packet stored), 400 a bad packet (the message names what is
//! wrong; nothing stored), 401 no or wrong authorization string, 403 the federation's
//! subscription has ended, 405 not POST, 413 a body above 64 KiB, 429 the subscription's points
//! per hour reached (`Retry-After`), 500/503/507 the server's failures. Refusals are
//! `{"message": ..}`.

use fieldline_component::{header, open_store, BodyError};
use fieldline_domain::Timestamp;
use fieldline_service::sensorbis;
use fieldline_service::{BackendFailure, Error, Refusal};
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

/// A packet of 100 items is a few kilobytes; anything much larger is not a packet.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

fn answer(status: u16, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .build()
}

fn refuse(status: u16, message: impl Into<String>) -> Response {
    answer(status, json!({ "message": message.into() }))
}

pub fn handle(req: &Request, device: &str) -> Response {
    if *req.method() != Method::Post {
        let mut r = refuse(405, "a device pushes with POST");
        r.set_header("allow", "POST");
        return r;
    }
    let body = match fieldline_component::body(req, MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return refuse(
                413,
                format!("the body is above {MAX_BODY_BYTES} bytes; a packet has at most 100 items"),
            )
        }
        Err(BodyError::Bad(m)) => return refuse(400, m),
    };
    let store = match open_store() {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let now = Timestamp::now();
    match sensorbis::push(&store, device, header(req, "authorization"), &body, now) {
        Ok(n) => points(answer(200, json!({ "stored": n })), n, None),
        Err(e) => {
            // A packet is stored whole or not at all: its items count as refused, by why.
            let reason = if e.as_rate_limited().is_some() {
                Some("quota")
            } else if matches!(&e, Error::Domain(fieldline_domain::Error::Parse(_))) {
                Some("parse")
            } else {
                None
            };
            let refused = reason.and_then(|r| items(&body).map(|n| (r, n)));
            points(error(e), 0, refused)
        }
    }
}

/// The items of a packet, if its body reads as one (`{"c": [..]}`).
fn items(body: &[u8]) -> Option<usize> {
    let packet: serde_json::Value = serde_json::from_slice(body).ok()?;
    packet.get("c")?.as_array().map(Vec::len)
}

/// Tells the host how many points the push stored and refused (`fieldline_component::Answer::points`'
/// headers, which the host counts and removes).
fn points(mut r: Response, accepted: usize, refused: Option<(&str, usize)>) -> Response {
    r.set_header(fieldline_component::POINTS_ACCEPTED, accepted.to_string());
    if let Some((reason, n)) = refused.filter(|(_, n)| *n > 0) {
        r.set_header(fieldline_component::POINTS_REFUSED, format!("{reason}={n}"));
    }
    r
}

fn error(e: Error) -> Response {
    use fieldline_domain::Error as D;
    if let Some(r) = e.as_rate_limited() {
        let mut resp = answer(
            429,
            json!({
                "message": format!(
                    "the subscription's limit of {} points per hour is reached: this packet was \
                     not stored; send again after Retry-After seconds",
                    r.limit
                ),
                "limit": { "name": r.policy, "points": r.limit, "windowSecs": r.window_secs },
            }),
        );
        resp.set_header("retry-after", r.retry_after_secs.to_string());
        return resp;
    }
    match e {
        Error::Domain(D::Parse(p)) => refuse(400, p.message),
        Error::Refused(Refusal::MissingCredentials(m) | Refusal::WrongCredentials(m)) => {
            refuse(401, m)
        }
        Error::Domain(D::Unauthenticated(_)) => refuse(
            401,
            "the authorization string is not valid (replaced, or the device was deleted)",
        ),
        Error::Refused(Refusal::ServiceDisabled(m) | Refusal::SubscriptionExpired(m)) => {
            refuse(403, m)
        }
        Error::Domain(D::Forbidden(d)) => refuse(403, d.to_string()),
        Error::NotFound(what) => refuse(401, format!("the authorization string's {what} is gone")),
        Error::Backend {
            kind: BackendFailure::Full,
            message,
        } => {
            eprintln!("sensorbis push: database error: {message}");
            refuse(
                507,
                "the database is full: nothing was stored; send the packet again later",
            )
        }
        Error::SchemaTooNew { .. } => refuse(503, e.to_string()),
        other => {
            eprintln!("sensorbis push: internal error: {other}");
            refuse(
                500,
                "internal error: nothing was stored; see the server log",
            )
        }
    }
}
