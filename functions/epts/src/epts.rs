//! Proficloud's endpoints. `/epts/token` answers like the OAuth 2.0 token endpoint behind it
//! (`{"error": "invalid_grant", "error_description": ...}`); `/epts/last` and `/epts/data` like
//! the Spring service they document (`{"timestamp", "status", "error", "message", "path"}`),
//! with 401 for missing or bad credentials and, as the document says, 500 for wrong parameters.

use fieldline_component::Store;
use fieldline_domain::epts::{
    data_response, last_response, DataQuery, SeriesPoints, SeriesSelection,
};
use fieldline_domain::Timestamp;
use fieldline_service::auth::{self as sessions, Caller};
use fieldline_service::limits::{self, Subject};
use fieldline_service::reads::{epts_data, epts_last, SeriesWithPoints};
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

use crate::auth::{self, open, Refusal};
use crate::wire::{self, client_ip, header, Answer};

/// The most points one `/epts/data` answer carries; a larger range is refused with a message
/// saying to narrow it (an instance's memory is bounded).
const MAX_POINTS: usize = 500_000;

fn spring_error(req: &Request, status: u16, message: &str) -> Answer {
    let error = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let body = json!({
        "timestamp": Timestamp::now().to_rfc3339(),
        "status": status,
        "error": error,
        "message": message,
        "path": req.path(),
    });
    let answer = Answer::json(status, body.to_string());
    if status == 401 {
        answer.header("www-authenticate", "Bearer realm=\"fieldline\"")
    } else {
        answer
    }
}

fn refusal(req: &Request, r: Refusal) -> Answer {
    match r {
        Refusal::Missing(m) | Refusal::Failed(m) => spring_error(req, 401, &m),
        Refusal::Forbidden(m) => spring_error(req, 403, &m),
        Refusal::Limited {
            message,
            retry_after,
        } => spring_error(req, 429, &message).header("retry-after", retry_after.to_string()),
        // "500 – e.g. wrong input parameters ... Error message given in response body."
        Refusal::TooLarge(m) => spring_error(req, 500, &m),
        Refusal::StorageFull(m) => {
            eprintln!("epts: {} {}: {m}", req.method(), req.path());
            spring_error(req, 500, auth::STORAGE_FULL)
        }
        Refusal::Internal(m) => {
            eprintln!("epts: {} {}: {m}", req.method(), req.path());
            spring_error(req, 500, "internal error; see the server log")
        }
    }
}

fn finish(req: &Request, answer: Answer) -> Response {
    wire::respond(req, answer)
}

pub fn not_found(req: &Request) -> Response {
    let message = format!(
        "{} is not a time-series endpoint; use /epts/token, /epts/last or /epts/data",
        req.path()
    );
    finish(req, spring_error(req, 404, &message))
}

fn method_not_allowed(req: &Request, allowed: &str) -> Response {
    let message = format!(
        "{} {} is not supported; use {allowed}",
        req.method(),
        req.path()
    );
    finish(
        req,
        spring_error(req, 405, &message).header("allow", allowed),
    )
}

// ---- /epts/token ----

/// The OAuth 2.0 error answer of the token endpoint.
fn oauth_error(status: u16, error: &str, description: &str) -> Answer {
    Answer::json(
        status,
        json!({ "error": error, "error_description": description }).to_string(),
    )
}

fn token_refusal(r: Refusal) -> Answer {
    match r {
        Refusal::Missing(m) => oauth_error(400, "invalid_request", &m),
        Refusal::Failed(m) | Refusal::Forbidden(m) => oauth_error(401, "invalid_grant", &m),
        Refusal::Limited {
            message,
            retry_after,
        } => oauth_error(429, "too_many_requests", &message)
            .header("retry-after", retry_after.to_string()),
        Refusal::TooLarge(m) => oauth_error(400, "invalid_request", &m),
        Refusal::StorageFull(m) => {
            eprintln!("epts: /epts/token: {m}");
            oauth_error(
                500,
                "server_error",
                "the database is full; try again once the server has room",
            )
        }
        Refusal::Internal(m) => {
            eprintln!("epts: /epts/token: {m}");
            oauth_error(500, "server_error", "internal error; see the server log")
        }
    }
}

#[derive(Deserialize)]
struct TokenBody {
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    /// OAuth 2.0's `grant_type`, for clients that send one (`password`, `refresh_token`).
    grant_type: Option<String>,
}

/// The body as JSON, or as an OAuth 2.0 form (`grant_type=password&username=...`).
fn token_body(req: &Request) -> Result<TokenBody, Refusal> {
    let body = wire::body(req).map_err(|e| match e {
        wire::BodyError::TooLarge => Refusal::Missing("the body is too large".into()),
        wire::BodyError::Bad(m) => Refusal::Missing(m),
    })?;
    let form = header(req, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        let mut b = TokenBody {
            username: None,
            password: None,
            refresh_token: None,
            grant_type: None,
        };
        for (k, v) in form_urlencoded::parse(&body) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "username" => b.username = v,
                "password" => b.password = v,
                "refresh_token" => b.refresh_token = v,
                "grant_type" => b.grant_type = v,
                _ => {}
            }
        }
        return Ok(b);
    }
    serde_json::from_slice(&body).map_err(|e| {
        Refusal::Missing(format!(
            "the body must be JSON {{\"username\", \"password\"}} or {{\"refresh_token\"}}: {e}"
        ))
    })
}

/// `POST /epts/token`: a new session from a username (e-mail address) and password, or the
/// next one from a refresh token (which is spent).
pub fn token(req: &Request) -> Response {
    if !matches!(req.method(), Method::Post) {
        return method_not_allowed(req, "POST");
    }
    let answer = issue(req).unwrap_or_else(token_refusal);
    finish(req, answer)
}

fn issue(req: &Request) -> Result<Answer, Refusal> {
    let b = token_body(req)?;
    let key = auth::key()?;
    let now = Timestamp::now();
    let store = open()?;
    let ip = client_ip(req);
    limits::check(
        &store,
        &limits::EPTS_TOKEN_CLIENT,
        Subject::Client(&ip),
        1,
        now,
    )?;
    let refresh = b.grant_type.as_deref() == Some("refresh_token")
        || (b.refresh_token.is_some() && b.username.is_none());
    let session = if refresh {
        let token = b.refresh_token.as_deref().unwrap_or_default();
        let secret = sessions::refresh_secret(token)?;
        sessions::refresh_session(&store, &key, &secret, now)?
    } else {
        let (Some(user), Some(password)) = (b.username.as_deref(), b.password.as_deref()) else {
            return Err(Refusal::Missing(
                "send {\"username\", \"password\"} or {\"refresh_token\"}".into(),
            ));
        };
        let (tenant, user) = sessions::password_login(&store, user, password, None, &ip, now)?;
        sessions::start_session(&store, &key, tenant, user, now)?
    };
    Ok(Answer::json(
        200,
        json!({
            "access_token": session.access_token,
            "expires_in": session.expires_in,
            "refresh_token": session.refresh_token.expose(),
            "refresh_expires_in": session.refresh_expires_in,
            "token_type": "Bearer",
        })
        .to_string(),
    ))
}

// ---- /epts/last and /epts/data ----

/// Authenticates a Bearer caller and checks they may read the organization's data.
fn reader(req: &Request, store: &Store, now: Timestamp) -> Result<Caller, Refusal> {
    let creds = match auth::credentials(req, None, None)? {
        c @ auth::Credentials::Bearer(_) => c,
        auth::Credentials::None => {
            return Err(Refusal::Missing(
                "send `Authorization: Bearer <access_token>` (POST /epts/token)".into(),
            ))
        }
        auth::Credentials::Password { .. } => {
            return Err(Refusal::Missing(
                "the time-series API takes `Authorization: Bearer <access_token>` (POST \
                 /epts/token)"
                    .into(),
            ))
        }
    };
    let caller = auth::authenticate(store, creds, &fieldline_component::client_ip(req), now)?;
    caller.may(fieldline_domain::Action::ReadOrg)?;
    Ok(caller)
}

/// A `GET` of Proficloud's: the parameters parsed (a bad one is a 500 with the message, as the
/// document says), the caller authenticated, the series read, the answer shaped.
fn read_answer<Q>(
    req: &Request,
    parse: impl FnOnce(&str) -> Result<Q, fieldline_domain::ParseError>,
    read: impl FnOnce(&Store, &Caller, &Q) -> fieldline_service::Result<SeriesWithPoints>,
    shape: impl FnOnce(&[SeriesPoints<'_>]) -> String,
) -> Response {
    if !matches!(req.method(), Method::Get) {
        return method_not_allowed(req, "GET");
    }
    let now = Timestamp::now();
    let answer = (|| {
        let store = open()?;
        let caller = reader(req, &store, now)?;
        // "500 – e.g. wrong input parameters ... Error message given in response body."
        let q = match parse(req.query()) {
            Ok(q) => q,
            Err(e) => return Ok(spring_error(req, 500, &e.to_string())),
        };
        let series = read(&store, &caller, &q)?;
        let shaped: Vec<SeriesPoints<'_>> = series
            .iter()
            .map(|(s, points)| SeriesPoints {
                uuid: s.uuid,
                name: &s.measurement,
                points,
            })
            .collect();
        Ok(Answer::json(200, shape(&shaped)))
    })()
    .unwrap_or_else(|r: Refusal| refusal(req, r));
    finish(req, answer)
}

/// `GET /epts/last?uuid=..&timeSeriesName=..`: the latest point of each series.
pub fn last(req: &Request) -> Response {
    read_answer(req, SeriesSelection::parse_last, epts_last, last_response)
}

/// `GET /epts/data?uuid=..&timeSeriesName=..&fromDate=..&toDate=..`: the points of each series
/// with `fromDate <= t <= toDate`, oldest first.
pub fn data(req: &Request) -> Response {
    read_answer(
        req,
        DataQuery::parse,
        |store, caller, q| epts_data(store, caller, q, MAX_POINTS),
        data_response,
    )
}
