//! Data export, `GET /api/v1/export` (Sensorbis "Data export": CSV and HTML data file): chosen
//! channels over a period, raw or grouped per interval by each channel's grouping, times in
//! the organization's time zone; the Download permission. The admin API's credentials
//! (`Authorization: Bearer <access token>`), rate limit and error format.
//!
//! A component of its own because it streams: the response is set as soon as the request is
//! checked, and the body is written page by page through wasi:http's outgoing body (spin-sdk's
//! `ResponseOutparam` and `OutgoingResponse::take_body`), each page sent before the next is
//! read, so the component's memory holds one page whatever the period (a year of 1 Hz data is
//! 31.5 million rows).

use fieldline_domain::export::ExportQuery;
use fieldline_domain::{ParseError, Timestamp};
use fieldline_service::export;
use fieldline_service::limits::{self, Subject};
use fieldline_service::{auth, BackendFailure, Error, Refusal};
use serde_json::json;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use wasi::io::streams::{OutputStream, StreamError};

/// An answer before the body starts: status, the admin API's `{"code","message"}`, and
/// `Retry-After` for a rate limit.
struct Refused {
    status: u16,
    code: &'static str,
    message: String,
    retry_after: Option<u32>,
}

impl Refused {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refused {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<ParseError> for Refused {
    fn from(e: ParseError) -> Self {
        Refused::new(400, "invalid_request", e.to_string())
    }
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        use fieldline_domain::Error as D;
        if let Some(r) = e.as_rate_limited() {
            let mut out = Refused::new(429, "rate_limited", r.to_string());
            out.retry_after = Some(r.retry_after_secs);
            return out;
        }
        match e {
            Error::Domain(D::Parse(p)) => p.into(),
            Error::Domain(D::Unauthenticated(f)) => {
                Refused::new(401, "invalid_token", f.to_string())
            }
            Error::Domain(D::Forbidden(d)) if d.other_tenant => {
                Refused::new(404, "not_found", "not found")
            }
            Error::Domain(D::Forbidden(d)) => Refused::new(403, "forbidden", d.to_string()),
            Error::NotFound(what) => Refused::new(404, "not_found", format!("{what} not found")),
            Error::Refused(Refusal::SubscriptionExpired(m)) => {
                Refused::new(403, "subscription_expired", m)
            }
            Error::Refused(Refusal::ServiceDisabled(m)) => Refused::new(403, "forbidden", m),
            Error::Refused(Refusal::MissingCredentials(m) | Refusal::WrongCredentials(m)) => {
                Refused::new(401, "invalid_token", m)
            }
            Error::Backend {
                kind: BackendFailure::Full,
                ..
            } => Refused::new(507, "insufficient_storage", "the database is full"),
            other => {
                eprintln!("export: internal error: {other}");
                Refused::new(500, "internal_error", "internal error; see the server log")
            }
        }
    }
}

fn header(req: &IncomingRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .into_iter()
        .next()
        .and_then(|v| String::from_utf8(v).ok())
}

async fn refuse(out: ResponseOutparam, r: Refused) {
    let mut headers = vec![("content-type".to_owned(), b"application/json".to_vec())];
    if let Some(s) = r.retry_after {
        headers.push(("retry-after".to_owned(), s.to_string().into_bytes()));
    }
    if r.status == 401 {
        headers.push((
            "www-authenticate".to_owned(),
            b"Bearer realm=\"fieldline\"".to_vec(),
        ));
    }
    let Ok(fields) = Fields::from_list(&headers) else {
        return;
    };
    let resp = OutgoingResponse::new(fields);
    let _ = resp.set_status_code(r.status);
    let body = json!({"code": r.code, "message": r.message}).to_string();
    let _ = out.set_with_body(resp, body.into_bytes()).await;
}

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let now = Timestamp::now();
    let query = req
        .path_with_query()
        .and_then(|p| p.split_once('?').map(|(_, q)| q.to_owned()))
        .unwrap_or_default();
    let store = match fieldline_component::open_store() {
        Ok(s) => s,
        Err(e) => return refuse(out, e.into()).await,
    };
    let prepared = (|| -> Result<_, Refused> {
        let token = match fieldline_http::authorization(header(&req, "authorization").as_deref()) {
            Some(fieldline_http::Authorization::Bearer(t)) => t,
            _ => {
                return Err(Refused::new(
                    401,
                    "missing_credentials",
                    "exports need `Authorization: Bearer <access token>` (POST /api/v1/login)",
                ))
            }
        };
        let key = fieldline_component::jwt_key()
            .map_err(|m| Refused::from(Error::Domain(fieldline_domain::Error::Internal(m))))?;
        let (caller, _) = auth::access_token(&store, &key, &token, now)?;
        let policy = limits::admin_api(
            fieldline_component::variable("admin_rate_limit").and_then(|v| v.trim().parse().ok()),
            fieldline_component::variable("admin_rate_limit_window_secs")
                .and_then(|v| v.trim().parse().ok()),
        );
        limits::check(
            &store,
            &policy,
            Subject::Principal(&caller.principal),
            1,
            now,
        )?;
        let r = ExportQuery::parse(&query)?;
        let format = r.format;
        let export = export::start(&store, &caller, r)?;
        Ok((export, format))
    })();
    let (mut export, format) = match prepared {
        Ok(x) => x,
        Err(r) => return refuse(out, r).await,
    };
    let disposition = format!(
        "attachment; filename=\"fieldline-export.{}\"",
        format.extension()
    );
    let Ok(fields) = Fields::from_list(&[
        (
            "content-type".to_owned(),
            format.content_type().as_bytes().to_vec(),
        ),
        ("content-disposition".to_owned(), disposition.into_bytes()),
    ]) else {
        return;
    };
    let resp = OutgoingResponse::new(fields);
    let _ = resp.set_status_code(200);
    let Ok(body) = resp.body() else { return };
    let Ok(stream) = body.write() else { return };
    out.set(resp);
    // The status is sent: a failure now can only break the transfer off. The body is dropped
    // unfinished, which the host turns into an incomplete response (no last chunk), so the
    // client sees the download fail instead of a file cut at a line end that looks whole; the
    // log says why. (spin-sdk's body sink finishes the body when dropped, so it is not used.)
    loop {
        match export.next_chunk() {
            Ok(Some(chunk)) => {
                if let Err(e) = send(&stream, &chunk) {
                    eprintln!("export: the client went away: {e:?}");
                    return;
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("export: stopped after {} rows: {e}", export.rows);
                return;
            }
        }
    }
    drop(stream);
    if let Err(e) = OutgoingBody::finish(body, None) {
        eprintln!("export: finishing the body: {e:?}");
    }
}

/// Writes `bytes` to the response body as fast as the client reads it.
fn send(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permit = usize::try_from(stream.check_write()?).unwrap_or(usize::MAX);
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let (now, rest) = bytes.split_at(permit.min(bytes.len()));
        stream.write(now)?;
        bytes = rest;
    }
    stream.flush()
}
