//! Proficloud's endpoints. `/epts/token` answers like the OAuth 2.0 token endpoint behind it
//! (`{"error": "invalid_grant", "error_description": ...}`); `/epts/last` and `/epts/data` like
//! the Spring service they document (`{"timestamp", "status", "error", "message", "path"}`),
//! with 401 for missing or bad credentials and, as the document says, 500 for wrong parameters.

use fieldline_domain::epts::{
    data_response, last_response, DataQuery, SeriesPoints, SeriesSelection,
};
use fieldline_domain::{Action, Point, RateLimitPolicy, Timestamp, TokenKind, TokenSecret};
use fieldline_storage::{self as storage, Order, SeriesFilter, SeriesInfo};
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite::Connection;

use crate::auth::{self, Refusal};
use crate::wire::{self, accepts_gzip, client_ip, header, Answer};

/// The most points one `/epts/data` answer carries; a larger range is refused with a message
/// saying to narrow it (an instance's memory is bounded).
const MAX_POINTS: usize = 500_000;

/// Password logins and refreshes without credentials, per client address.
const TOKEN_CLIENT: RateLimitPolicy = RateLimitPolicy {
    name: "epts-token-client",
    limit: 100,
    window_secs: 60,
};

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
        Refusal::Internal(m) => {
            eprintln!("epts: {} {}: {m}", req.method(), req.path());
            spring_error(req, 500, "internal error; see the server log")
        }
    }
}

fn open() -> Result<Connection, Refusal> {
    storage::spin::open_default().map_err(|e| Refusal::Internal(e.to_string()))
}

fn finish(req: &Request, answer: Answer) -> Response {
    answer.into_response(accepts_gzip(req))
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
    let key = auth::jwt_key()?;
    let now = Timestamp::now();
    let db = open()?;
    storage::check_rate_limit(
        &db,
        &TOKEN_CLIENT,
        &format!("addr:{}", client_ip(req)),
        1,
        now,
    )?;
    let refresh = b.grant_type.as_deref() == Some("refresh_token")
        || (b.refresh_token.is_some() && b.username.is_none());
    let session = if refresh {
        let token = b.refresh_token.as_deref().unwrap_or_default();
        let secret = TokenSecret::parse(token)
            .ok()
            .filter(|s| s.kind() == Some(TokenKind::Refresh))
            .ok_or_else(|| Refusal::Failed("refresh_token is not a valid refresh token".into()))?;
        storage::refresh_session(&db, &key, &secret, now)?
    } else {
        let (Some(user), Some(password)) = (b.username.as_deref(), b.password.as_deref()) else {
            return Err(Refusal::Missing(
                "send {\"username\", \"password\"} or {\"refresh_token\"}".into(),
            ));
        };
        let (tenant, user) = storage::password_login(&db, user, password, None, now)?;
        storage::start_session(&db, &key, tenant, user, now)?
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
fn reader(req: &Request, db: &Connection, now: Timestamp) -> Result<auth::Caller, Refusal> {
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
    let caller = auth::authenticate(db, creds, now)?;
    auth::authorize(&caller, Action::ReadOrg)?;
    Ok(caller)
}

/// The organization's series of the selection, in the order asked: devices, then metrics.
fn selected(
    db: &Connection,
    caller: &auth::Caller,
    sel: &SeriesSelection,
) -> Result<Vec<SeriesInfo>, Refusal> {
    let filter = SeriesFilter {
        uuids: Some(&sel.uuids),
        measurements: Some(&sel.names),
    };
    let mut found = storage::list_series(db, &caller.tenant, filter).map_err(Refusal::from)?;
    found.sort_by_key(|s| {
        (
            sel.uuids.iter().position(|u| *u == s.uuid),
            sel.names.iter().position(|n| *n == s.measurement),
        )
    });
    Ok(found)
}

fn read_answer(
    req: &Request,
    body: impl FnOnce(&Connection, &auth::Caller) -> Result<Result<String, String>, Refusal>,
) -> Response {
    if !matches!(req.method(), Method::Get) {
        return method_not_allowed(req, "GET");
    }
    let now = Timestamp::now();
    let answer = open()
        .and_then(|db| {
            let caller = reader(req, &db, now)?;
            body(&db, &caller)
        })
        .map(|r| match r {
            Ok(body) => Answer::json(200, body),
            // "500 – e.g. wrong input parameters ... Error message given in response body."
            Err(message) => spring_error(req, 500, &message),
        })
        .unwrap_or_else(|r| refusal(req, r));
    finish(req, answer)
}

/// Each series with its points, as the answers list them.
fn shaped<'a>(series: &'a [SeriesInfo], points: &'a [Vec<Point>]) -> Vec<SeriesPoints<'a>> {
    series
        .iter()
        .zip(points)
        .map(|(s, p)| SeriesPoints {
            uuid: s.uuid,
            name: &s.measurement,
            points: p,
        })
        .collect()
}

/// `GET /epts/last?uuid=..&timeSeriesName=..`: the latest point of each series.
pub fn last(req: &Request) -> Response {
    read_answer(req, |db, caller| {
        let sel = match SeriesSelection::parse_last(req.query()) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let series = selected(db, caller, &sel)?;
        let refs: Vec<_> = series.iter().map(|s| s.channel).collect();
        let latest = storage::latest_points(db, &caller.tenant, &refs).map_err(Refusal::from)?;
        let points: Vec<Vec<Point>> = series
            .iter()
            .map(|s| {
                latest
                    .iter()
                    .filter(|(c, _)| *c == s.channel)
                    .map(|(_, p)| *p)
                    .collect()
            })
            .collect();
        Ok(Ok(last_response(&shaped(&series, &points))))
    })
}

/// `GET /epts/data?uuid=..&timeSeriesName=..&fromDate=..&toDate=..`: the points of each series
/// with `fromDate <= t <= toDate`, oldest first.
pub fn data(req: &Request) -> Response {
    read_answer(req, |db, caller| {
        let q = match DataQuery::parse(req.query()) {
            Ok(q) => q,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let series = selected(db, caller, &q.series)?;
        let mut points: Vec<Vec<Point>> = Vec::with_capacity(series.len());
        let mut total = 0;
        for s in &series {
            let rows = storage::points_between(
                db,
                &caller.tenant,
                s.channel,
                q.from,
                q.to,
                Order::OldestFirst,
                Some(MAX_POINTS + 1 - total),
            )
            .map_err(Refusal::from)?;
            total += rows.len();
            if total > MAX_POINTS {
                return Ok(Err(format!(
                    "the range holds more than {MAX_POINTS} points; narrow fromDate..toDate or \
                     ask for fewer series"
                )));
            }
            let mut ps = Vec::with_capacity(rows.len());
            for (ms, v) in rows {
                let ts =
                    Timestamp::from_millis(ms).map_err(|e| Refusal::Internal(e.to_string()))?;
                ps.push(Point::new(ts, v).map_err(|e| Refusal::Internal(e.to_string()))?);
            }
            points.push(ps);
        }
        Ok(Ok(data_response(&shaped(&series, &points))))
    })
}
