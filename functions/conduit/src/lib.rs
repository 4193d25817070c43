//! AlphaX Conduit over HTTP: `POST /post/v1` and `/post/v2` (uploads), `GET /conduitv4` and
//! `/conduitv6` (reads), with Conduit's token rules, rate limits, gzip in both directions,
//! `X-HTTP-Method-Override` and its `{"code","error"}` answers. Parsing is in
//! `fieldline_domain::conduit`, the uploads and reads are `fieldline_service`'s use cases; this
//! crate decodes, calls them and encodes.

use crate::status::{ConduitError, Status};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

mod api;
mod error;
mod status;
mod wire;

use wire::Method;

#[http_component]
fn handle(req: Request) -> Response {
    let answer = route(&req);
    let mut resp = wire::respond(&req, answer);
    if *resp.status() == 405 {
        if let Some(allowed) = allowed_method(req.path()) {
            resp.set_header("allow", allowed.as_str());
        }
    }
    resp
}

fn allowed_method(path: &str) -> Option<Method> {
    match path {
        "/post/v1" | "/post/v2" => Some(Method::Post),
        "/conduitv4" | "/conduitv6" => Some(Method::Get),
        _ => None,
    }
}

/// Routed by hand rather than with spin_sdk's `Router`: the method that counts may be the one
/// `X-HTTP-Method-Override` names, and every refusal must be in Conduit's error format.
fn route(req: &Request) -> Result<wire::Answer, ConduitError> {
    let method = wire::effective_method(req)?;
    let path = req.path();
    let handler: fn(&Request) -> Result<wire::Answer, ConduitError> = match path {
        "/post/v1" => api::post_v1,
        "/post/v2" => api::post_v2,
        "/conduitv4" => api::read_v4,
        "/conduitv6" => api::read_v6,
        _ => {
            return Err(ConduitError::new(
                Status::NotFound,
                format!(
                    "{path} is not a Conduit resource; use /post/v1, /post/v2, /conduitv4 or \
                         /conduitv6"
                ),
            ))
        }
    };
    let allowed = allowed_method(path).unwrap_or(Method::Other);
    if method != allowed {
        return Err(ConduitError::new(
            Status::MethodNotAllowed,
            format!("{path} supports {}", allowed.as_str()),
        ));
    }
    handler(req)
}
