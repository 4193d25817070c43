//! InfluxDB 1.x's HTTP API: `/query`, `/write`, `/ping`, with its status codes, its
//! `{"error": ...}` bodies, its `X-Influxdb-*` headers, and CORS for browsers (Grafana's
//! browser access mode). The organization's channels are one database, named by the variable
//! `influx_database` (default `fieldline`); the databases it creates hold any other series.
//! Each has one retention policy, `autogen`.

use fieldline_component::{variable, Store};
use fieldline_domain::line_protocol::{self, Precision};
use fieldline_domain::query::http::{self, QueryParams};
use fieldline_domain::query::write_plan::error_header;
use fieldline_domain::Timestamp;
use fieldline_service::auth::Caller;
use fieldline_service::influx as use_case;
use spin_sdk::http::{Method, Request, Response};

use crate::auth::{self, open, Refusal};
use crate::wire::{self, header, Answer};

/// What `X-Influxdb-Version` says: the 1.x API Fieldline follows, so that clients (the
/// `influx` CLI prints it, client libraries choose the 1.x protocol by it) treat it as such.
const VERSION: &str = concat!("1.6.7-fieldline-", env!("CARGO_PKG_VERSION"));

/// The most points one `/write` may carry (InfluxDB's clients send 5,000 by default); lines that
/// do not parse count too, so that what a body costs to parse is bounded.
const MAX_WRITE_POINTS: usize = 100_000;

fn database() -> String {
    variable("influx_database").unwrap_or_else(|| "fieldline".into())
}

fn influx_headers(req: &Request, answer: Answer) -> Answer {
    let mut a = answer
        .header("x-influxdb-build", "fieldline")
        .header("x-influxdb-version", VERSION);
    if let Some(origin) = header(req, "origin") {
        a = a.header("access-control-allow-origin", origin).header(
            "access-control-expose-headers",
            "Date, X-InfluxDB-Version, X-InfluxDB-Build",
        );
    }
    a
}

fn finish(req: &Request, answer: Answer) -> Response {
    wire::respond(req, influx_headers(req, answer))
}

/// `{"error": message}`, InfluxDB's errors also repeating it, cut at 1,024 bytes, in
/// `X-Influxdb-Error`.
fn error(status: u16, message: &str) -> Answer {
    let body = fieldline_domain::query::encode_error(message, false);
    Answer::json(status, body).header("x-influxdb-error", error_header(message))
}

/// An error answer (`{"error": message}` in JSON) in MessagePack when the request asks for it
/// (`Accept: application/x-msgpack`, as InfluxDB's Python client always does): InfluxDB
/// answers its refusals, and `/write`'s, in the format asked for; status and headers kept.
fn negotiated(req: &Request, a: Answer) -> Answer {
    if header(req, "accept") != Some(http::MSGPACK) || a.content_type != "application/json" {
        return a;
    }
    let Some(message) = serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
    else {
        return a;
    };
    Answer {
        content_type: http::MSGPACK,
        body: fieldline_domain::query::format::msgpack::encode_error(&message),
        ..a
    }
}

fn refusal(r: Refusal) -> Answer {
    match r {
        // InfluxDB's words for missing and for wrong credentials.
        Refusal::Missing(m) => {
            eprintln!("epts: influx: {m}");
            error(401, "unable to parse authentication credentials")
        }
        Refusal::Failed(m) => {
            eprintln!("epts: influx: {m}");
            error(401, "authorization failed")
        }
        Refusal::Forbidden(m) => error(403, &m),
        Refusal::Limited {
            message,
            retry_after,
        } => error(429, &message).header("retry-after", retry_after.to_string()),
        Refusal::TooLarge(m) => error(413, &m),
        // InfluxDB 1.x answers a write its storage engine refused with 500 and the reason.
        Refusal::StorageFull(m) => {
            eprintln!("epts: influx: {m}");
            error(500, auth::STORAGE_FULL)
        }
        Refusal::Internal(m) => {
            eprintln!("epts: influx: {m}");
            error(500, "internal error; see the server log")
        }
    }
}

fn method_not_allowed(allowed: &str) -> Response {
    Response::builder()
        .status(405)
        .header("content-type", "text/plain; charset=utf-8")
        .header("allow", allowed)
        .header("x-influxdb-build", "fieldline")
        .header("x-influxdb-version", VERSION)
        .body("Method Not Allowed\n")
        .build()
}

/// A CORS preflight, answered for any origin (credentials still decide what is served).
fn preflight(req: &Request) -> Response {
    let answer = Answer {
        status: 204,
        content_type: "text/plain",
        body: Vec::new(),
        headers: vec![
            (
                "access-control-allow-methods",
                "DELETE, GET, OPTIONS, POST, PUT".to_owned(),
            ),
            (
                "access-control-allow-headers",
                "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, \
                 X-CSRF-Token, X-HTTP-Method-Override"
                    .to_owned(),
            ),
        ],
    };
    finish(req, answer)
}

fn caller(
    req: &Request,
    store: &Store,
    user: Option<&str>,
    password: Option<&str>,
    now: Timestamp,
) -> Result<Caller, Refusal> {
    let creds = auth::credentials(req, user, password)?;
    let caller = auth::authenticate(store, creds, &fieldline_component::client_ip(req), now)?;
    caller.may(fieldline_domain::Action::ReadOrg)?;
    Ok(caller)
}

/// `GET|POST /query`.
pub fn query(req: &Request) -> Response {
    match req.method() {
        Method::Get | Method::Post => {}
        Method::Options => return preflight(req),
        _ => return method_not_allowed("GET, OPTIONS, POST"),
    }
    let refused = |status: u16, message: &str| finish(req, negotiated(req, error(status, message)));
    let form = header(req, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body;
    let form_body = if form && matches!(req.method(), Method::Post) {
        body = match wire::body(req) {
            Ok(b) => b,
            Err(wire::BodyError::TooLarge) => return refused(413, "the request body is too large"),
            Err(wire::BodyError::Bad(m)) => return refused(400, &m),
        };
        Some(body.as_slice())
    } else {
        None
    };
    let mut params = QueryParams::parse(req.query(), form_body);
    // Proficloud's /query takes no database: an organization's data is the only one its
    // tokens see. So a Bearer caller without `db` reads the organization's database; InfluxDB
    // credentials keep InfluxDB's rule ("database name required").
    let bearer = header(req, "authorization")
        .is_some_and(|a| a.len() > 7 && a[..7].eq_ignore_ascii_case("bearer "));
    if bearer && params.db.as_deref().is_none_or(str::is_empty) {
        params.db = Some(database());
    }
    params.set_accept(header(req, "accept"));
    params.get = matches!(req.method(), Method::Get);
    let now = Timestamp::now();
    let result = open().and_then(|store| {
        let (user, password) = (params.user.as_deref(), params.password.as_deref());
        let caller = caller(req, &store, user, password, now)?;
        Ok(use_case::query(&store, &caller, &params, &database(), now)?)
    });
    let answer = match result {
        Ok(a) => {
            let mut out = Answer {
                status: a.status,
                content_type: a.content_type,
                body: a.body,
                headers: Vec::new(),
            };
            if let Some(e) = a.error {
                out = out.header("x-influxdb-error", error_header(&e));
            }
            out
        }
        Err(r) => negotiated(req, refusal(r)),
    };
    finish(req, answer)
}

/// `POST /write?db=..&precision=..`: line protocol into the model, or into general series.
pub fn write(req: &Request) -> Response {
    match req.method() {
        Method::Post => {}
        Method::Options => return preflight(req),
        _ => return method_not_allowed("OPTIONS, POST"),
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(req.query().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let answer = write_answer(req, &param).unwrap_or_else(refusal);
    finish(req, negotiated(req, answer))
}

fn write_answer<'a>(
    req: &Request,
    param: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<Answer, Refusal> {
    let Some(db_name) = param("db").filter(|d| !d.is_empty()) else {
        return Ok(error(400, "database is required"));
    };
    // A line without a time is stamped with the nanosecond, as InfluxDB stamps it: lines of
    // one series written a microsecond apart stay two points in a general series.
    let (now, now_ns) = Timestamp::now_with_ns();
    let store = open()?;
    let caller = caller(req, &store, param("u"), param("p"), now)?;
    let scope = use_case::scope(&store, &caller, &database())?;
    if !use_case::database_exists(&scope, &database(), db_name) {
        return Ok(error(404, &format!("database not found: {db_name:?}")));
    }
    let body = match wire::body(req) {
        Ok(b) => b,
        Err(wire::BodyError::TooLarge) => {
            return Ok(error(
                413,
                "the request body is too large (at most 25 MB after gzip)",
            ))
        }
        Err(wire::BodyError::Bad(m)) => return Ok(error(400, &m)),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return Ok(error(400, "the body is not UTF-8 line protocol"));
    };
    // An unknown precision means nanoseconds, as InfluxDB 1.x reads it.
    let precision = Precision::parse(param("precision").unwrap_or("")).unwrap_or_default();
    // Parsing stops at the first line past the limit, so that a body of millions of short
    // lines (25 MB of them are 4 million) is refused without holding them all: parsed whole,
    // such a body took 1.46 GB, far more than an instance's memory.
    let Ok((lines, parse_errors)) =
        line_protocol::parse_at_most(text, precision, now_ns, MAX_WRITE_POINTS)
    else {
        return Ok(error(
            413,
            &format!(
                "more than {MAX_WRITE_POINTS} points in one request; send at most \
                 {MAX_WRITE_POINTS}"
            ),
        ));
    };
    let report = use_case::write(
        &store,
        &caller,
        &scope,
        &database(),
        db_name,
        param("rp"),
        &lines,
        &parse_errors,
        now,
    )?;
    let mut answer = match &report.answer.error {
        None => Answer {
            status: 204,
            content_type: "application/json",
            body: Vec::new(),
            headers: Vec::new(),
        },
        Some(_) => Answer::json(report.answer.status, report.answer.body().into_bytes()),
    };
    if let Some(h) = report.answer.header() {
        answer = answer.header("x-influxdb-error", h);
    }
    Ok(answer.points(
        report.written,
        &[("parse", parse_errors.len()), ("rejected", report.dropped)],
    ))
}

/// `GET|HEAD /ping`: 204 with the version headers, no credentials needed (as InfluxDB).
pub fn ping(req: &Request) -> Response {
    match req.method() {
        Method::Get | Method::Head => {}
        _ => return method_not_allowed("GET, HEAD"),
    }
    let answer = Answer {
        status: 204,
        content_type: "application/json",
        body: Vec::new(),
        headers: Vec::new(),
    };
    finish(req, answer)
}
