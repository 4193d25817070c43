//! What every Fieldline component does the same way under Spin, written once: reading Spin
//! variables and the key access tokens are signed with, opening the store the use cases run on,
//! reading a request's headers, body and credentials, and building an answer. Each component
//! keeps only its own wire format: its routes, its error bodies, its mapping of
//! `fieldline_service::Error`.

use std::borrow::Cow;

use fieldline_domain::JwtKey;
use fieldline_storage::{BackendFailure, Db, SqlStore};
use spin_sdk::http::{Request, Response};

pub use fieldline_http::{Authorization, BodyError};

/// The store components run the use cases on, whichever backend the `storage` variable picks:
/// every component is compiled once for both. Choosing another backend changes this module,
/// not a component.
pub type Store = SqlStore<Box<dyn Db>>;

/// Opens the store, migrating its schema when it is behind (one cheap version read when it is
/// not). Call once per request. The Spin variable `storage` picks the backend: `sqlite` (the
/// default: the component's `default` SQLite database) or `postgres` (the server at the secret
/// variable `postgres_url`, which `allowed_outbound_hosts` must allow).
pub fn open_store() -> fieldline_service::Result<Store> {
    match variable("storage").as_deref() {
        None | Some("sqlite") => Ok(SqlStore(Box::new(fieldline_storage::spin::open_default()?))),
        Some("postgres") => {
            let url = variable("postgres_url").ok_or_else(|| {
                fieldline_service::Error::backend(
                    BackendFailure::Unavailable,
                    "storage = \"postgres\" needs the variable postgres_url \
                     (postgres://user:password@host:port/database)",
                )
            })?;
            Ok(SqlStore(Box::new(fieldline_storage::spin_pg::open(&url)?)))
        }
        Some(other) => Err(fieldline_service::Error::backend(
            BackendFailure::Unavailable,
            format!("storage = {other:?}: the backends are \"sqlite\" and \"postgres\""),
        )),
    }
}

/// A Spin variable; `None` when it is undefined or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The key access tokens are signed with (the secret variable `jwt_secret`); the error is for
/// the server log, naming what to set.
pub fn jwt_key() -> Result<JwtKey, String> {
    let secret = variable("jwt_secret").ok_or_else(|| {
        "the Spin variable `jwt_secret` is not set: set SPIN_VARIABLE_JWT_SECRET (scripts/up \
         generates one into .spin/jwt-secret)"
            .to_owned()
    })?;
    JwtKey::from_secret(secret.as_bytes()).map_err(|e| format!("Spin variable `jwt_secret`: {e}"))
}

/// A request header as text, trimmed.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|v| v.as_str()).map(str::trim)
}

/// The request's `Authorization` credentials (`None`: none sent).
pub fn authorization(req: &Request) -> Option<Authorization> {
    fieldline_http::authorization(header(req, "authorization"))
}

/// The request body, inflated when `Content-Encoding: gzip`, refused above `max` bytes (as sent
/// and once inflated).
pub fn body(req: &Request, max: u64) -> Result<Vec<u8>, BodyError> {
    fieldline_http::inflate(req.body(), header(req, "content-encoding"), max).map(Cow::into_owned)
}

/// Whether the client takes a gzip-encoded answer.
pub fn accepts_gzip(req: &Request) -> bool {
    fieldline_http::accepts_gzip(header(req, "accept-encoding"))
}

/// The client's address without the port, for per-client limits.
pub fn client_ip(req: &Request) -> String {
    fieldline_http::client_ip(header(req, "spin-client-addr"))
}

/// An answer under construction.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer::new(status, "application/json", body)
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// Tells the host how many points this request stored and how many it did not, by reason
    /// (short lower-case words: `parse`, `rejected`), for its metrics
    /// (`fieldline_points_accepted_total`, `fieldline_points_refused_total`). The host removes
    /// both headers before the response leaves; under Spin, which does not, a client sees them.
    pub fn points(self, accepted: usize, refused: &[(&str, usize)]) -> Answer {
        let refused = refused_list(refused);
        let a = self.header(POINTS_ACCEPTED, accepted.to_string());
        if refused.is_empty() {
            a
        } else {
            a.header(POINTS_REFUSED, refused.join(", "))
        }
    }

    /// The response: the body gzip-encoded when `gzip_over` is `Some(n)` and it is longer than
    /// `n` bytes; `Content-Type` set when `typed_when_empty` or the body is not empty.
    pub fn into_response(self, gzip_over: Option<usize>, typed_when_empty: bool) -> Response {
        let mut builder = Response::builder();
        builder.status(self.status);
        for (k, v) in &self.headers {
            builder.header(*k, v.as_str());
        }
        let mut body = self.body;
        if typed_when_empty || !body.is_empty() {
            builder.header("content-type", self.content_type);
        }
        if gzip_over.is_some_and(|n| body.len() > n) {
            if let Some(z) = fieldline_http::gzip(&body) {
                body = z;
                builder.header("content-encoding", "gzip");
            }
        }
        builder.body(body).build()
    }
}

/// A JSON answer with `Content-Type: application/json`.
/// Response header telling the host how many points a request stored ([`Answer::points`]).
pub const POINTS_ACCEPTED: &str = "fieldline-points-accepted";
/// Response header telling the host how many points a request did not store, by reason:
/// `reason=n, ...` ([`Answer::points`]).
pub const POINTS_REFUSED: &str = "fieldline-points-refused";

fn refused_list(refused: &[(&str, usize)]) -> Vec<String> {
    refused
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect()
}

/// The points lines [`report_points`] writes: the two headers of [`Answer::points`], one a line.
pub fn points_lines(accepted: usize, refused: &[(&str, usize)]) -> String {
    let mut out = format!("{POINTS_ACCEPTED}: {accepted}\n");
    let refused = refused_list(refused);
    if !refused.is_empty() {
        out.push_str(&format!("{POINTS_REFUSED}: {}\n", refused.join(", ")));
    }
    out
}

/// For a trigger event (an MQTT message), which has no response to carry [`Answer::points`]'
/// headers: writes the same two headers as lines on stderr, in one write. The host's MQTT
/// trigger counts them (`fieldline_points_accepted_total`, `fieldline_points_refused_total`,
/// with the subscription as the route) and keeps them out of its log; under Spin they are
/// logged as the component's output.
pub fn report_points(accepted: usize, refused: &[(&str, usize)]) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(points_lines(accepted, refused).as_bytes());
}

pub fn json_answer(status: u16, body: &serde_json::Value) -> Response {
    Answer::json(status, body.to_string()).into_response(None, true)
}

/// The gate of a scheduled component's private run route (`/<component>/run`), which
/// platforms without a cron trigger call from their own scheduler: `Ok` when
/// [`fieldline_domain::RunGate`] admits the request (`POST` with `Authorization: Bearer` and the
/// secret variable `operator_token` or `cron_token`, or `GET`/`POST` with `?token=` and
/// `cron_token`, tokens compared in constant time); otherwise the answer to give, in JSON: 405
/// for another method (or GET without `?token=`), 404 while neither token is configured (the
/// route is off), 401 without a right credential.
pub fn operator_gate(req: &Request, route: &str, realm: &str) -> Result<(), Response> {
    use fieldline_domain::{RunGate, RunMethod, RunRefusal};
    use spin_sdk::http::Method;
    let method = match req.method() {
        Method::Post => RunMethod::Post,
        Method::Get => RunMethod::Get,
        _ => RunMethod::Other,
    };
    let gate = RunGate::new(
        variable("operator_token").as_deref(),
        variable("cron_token").as_deref(),
    );
    let query_token = form_urlencoded::parse(req.query().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let bearer = match authorization(req) {
        Some(Authorization::Bearer(given)) => Some(given),
        _ => None,
    };
    let refusal = match gate.admits(method, bearer.as_deref(), query_token.as_deref()) {
        Ok(()) => return Ok(()),
        Err(r) => r,
    };
    let answer = match refusal {
        RunRefusal::MethodNotAllowed => Answer::json(
            405,
            error_json(
                "method_not_allowed",
                &format!(
                    "POST {route} runs the job once (GET only with ?token= and the variable \
                     cron_token, for schedulers that cannot send headers)"
                ),
            ),
        )
        .header("allow", "POST, GET"),
        RunRefusal::NotEnabled => Answer::json(
            404,
            error_json(
                "not_enabled",
                "neither operator_token nor cron_token is set (to at least 16 characters): the \
                 private run route is off",
            ),
        ),
        RunRefusal::Unauthorized => Answer::json(
            401,
            error_json(
                "unauthorized",
                "send the operator credential (the variable operator_token) or the scheduler's \
                 (cron_token) as Authorization: Bearer, or cron_token as ?token=",
            ),
        )
        .header("www-authenticate", format!("Bearer realm=\"{realm}\"")),
    };
    Err(answer.into_response(None, true))
}

/// `{"code": .., "message": ..}`, the error body of the run routes.
fn error_json(code: &str, message: &str) -> Vec<u8> {
    serde_json::json!({"code": code, "message": message})
        .to_string()
        .into_bytes()
}

/// [`open_store`] for a scheduled job, its error worded for the job's report.
pub fn open_job_store() -> Result<Store, String> {
    open_store().map_err(|e| format!("opening the database: {e}"))
}

/// The store for the cron event of `job` at `timestamp` (Spin's `Metadata`) when this replica
/// does it: for a run on demand, and for the one replica whose claim of the event's tick (the
/// nearest whole minute, [`fieldline_domain::schedule`]) is first in the store. `None`, having
/// printed `{job}: tick {timestamp} already run by another replica`, when another replica
/// already has the tick and this one skips it.
pub fn store_for_tick(job: &str, timestamp: u64) -> Result<Option<Store>, String> {
    use fieldline_service::ports::Counters;
    let store = open_job_store()?;
    let Some(tick) = fieldline_domain::schedule::scheduled_tick(timestamp) else {
        return Ok(Some(store));
    };
    let mine = store
        .claim_tick(job, tick, fieldline_domain::Timestamp::now())
        .map_err(|e| format!("claiming the tick: {e}"))?;
    if !mine {
        println!("{job}: tick {timestamp} already run by another replica");
    }
    Ok(mine.then_some(store))
}
