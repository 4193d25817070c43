//! The admin API's plumbing: its error format (the one mapping of the use cases' errors), JSON
//! bodies, the caller's credentials and the rate limits. Every rule applied here is the
//! domain's or the use cases'; this only translates.

use fieldline_component::{authorization, Authorization, Store};
use fieldline_domain::{AccessClaims, Action, AuthFailure, JwtKey, OrgId, Timestamp, UserId};
use fieldline_service::auth::{self, Caller as Member};
use fieldline_service::limits::{self, Subject};
use fieldline_service::{BackendFailure, Conflict, Entity, Error, Refusal, Tenant};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};

pub use fieldline_component::variable;

/// JSON request bodies above this are refused with 413 before they are parsed: the largest
/// admin request (a device with its metadata) is a few kilobytes. (A plan image's upload, not
/// JSON, has its own limit: [`max_body_bytes`].)
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest request body a route takes: a plan image's upload takes the image (the
/// domain's 2 MiB); every other route a JSON body of at most [`MAX_BODY_BYTES`].
pub fn max_body_bytes(op: crate::routes::Op) -> usize {
    match op {
        crate::routes::Op::PutViewImage => fieldline_domain::view::MAX_PLAN_IMAGE_BYTES,
        _ => MAX_BODY_BYTES,
    }
}

/// An error answer: HTTP status, a stable machine code, a message for a person.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u32>,
    /// Extra fields of the body (the limit that was hit).
    pub extra: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            extra: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "invalid_request", message)
    }

    pub fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let (Some(Value::Object(extra)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.extend(extra);
        }
        let mut builder = Response::builder();
        builder
            .status(self.status)
            .header("content-type", "application/json");
        if let Some(secs) = self.retry_after_secs {
            builder.header("retry-after", secs.to_string());
        }
        if self.status == 401 {
            builder.header("www-authenticate", "Bearer realm=\"fieldline\"");
        }
        builder.body(body.to_string()).build()
    }
}

fn auth_code(f: AuthFailure) -> &'static str {
    match f {
        AuthFailure::BadCredentials => "bad_credentials",
        AuthFailure::Missing => "missing_credentials",
        AuthFailure::InvalidToken => "invalid_token",
        AuthFailure::Expired => "token_expired",
        AuthFailure::Revoked => "token_revoked",
        AuthFailure::Reused => "refresh_token_reused",
    }
}

fn conflict_code(c: &Conflict) -> &'static str {
    match c {
        Conflict::EmailTaken => "email_taken",
        Conflict::CommunicationIdTaken(_) => "communication_id_taken",
        Conflict::NetworkIdTaken(_) => "network_id_taken",
        Conflict::UuidTaken(_) => "uuid_taken",
        Conflict::AlreadyMember => "already_member",
        Conflict::LastAdministrator => "last_administrator",
        Conflict::MaxUsers(_) => "max_users_reached",
        Conflict::InvitationClosed => "invitation_closed",
        Conflict::InvitationForAnotherEmail { .. } => "invitation_for_another_email",
        Conflict::SignupClosed(_) => "signup_disabled",
        Conflict::AlreadyConfirmed => "incident_already_confirmed",
    }
}

fn not_found_code(what: Entity) -> &'static str {
    match what {
        Entity::Organization => "organization_not_found",
        Entity::User => "user_not_found",
        Entity::Member => "member_not_found",
        Entity::Invitation => "invitation_not_found",
        Entity::Device => "device_not_found",
        Entity::Sensor => "sensor_not_found",
        Entity::Channel => "channel_not_found",
        Entity::Token => "token_not_found",
        Entity::Notification => "notification_not_found",
        Entity::TopicSubscription => "subscription_not_found",
        Entity::View => "view_not_found",
        Entity::Incident => "incident_not_found",
        Entity::OutboxMessage => "not_found",
    }
}

/// 404 for a missing object, with its code.
pub fn not_found(what: Entity) -> ApiError {
    ApiError::new(404, not_found_code(what), format!("{what} not found"))
}

impl From<fieldline_domain::Error> for ApiError {
    fn from(e: fieldline_domain::Error) -> Self {
        use fieldline_domain::Error as E;
        match e {
            E::Parse(p) => ApiError::bad_request(p.to_string()),
            E::Unauthenticated(f) => ApiError::new(401, auth_code(f), f.to_string()),
            // Another organization's object is answered as if it did not exist.
            E::Forbidden(d) if d.other_tenant => ApiError::new(404, "not_found", "not found"),
            E::Forbidden(d) => ApiError::new(403, "forbidden", d.to_string()),
            E::RateLimited(r) => ApiError {
                status: 429,
                code: "rate_limited",
                message: r.to_string(),
                retry_after_secs: Some(r.retry_after_secs),
                extra: Some(json!({
                    "limit": { "name": r.policy, "requests": r.limit, "window_secs": r.window_secs }
                })),
            },
            E::Internal(m) => internal(500, &m),
        }
    }
}

impl From<fieldline_domain::ParseError> for ApiError {
    fn from(e: fieldline_domain::ParseError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Domain(d) => d.into(),
            Error::NotFound(what) => not_found(what),
            Error::Conflict(c) => c.into(),
            Error::Refused(Refusal::MissingCredentials(m)) => {
                ApiError::new(401, "missing_credentials", m)
            }
            Error::Refused(Refusal::WrongCredentials(m)) => ApiError::new(401, "invalid_token", m),
            Error::Refused(Refusal::ServiceDisabled(m)) => ApiError::new(403, "forbidden", m),
            Error::Refused(Refusal::SubscriptionExpired(m)) => {
                ApiError::new(403, "subscription_expired", m)
            }
            Error::NoMembership(_) => ApiError::new(403, "no_membership", e.to_string()),
            Error::UnknownDevice(m) => ApiError::new(404, "device_not_found", m),
            Error::TooLarge(m) => ApiError::new(413, "payload_too_large", m),
            Error::SchemaTooNew { .. } => ApiError::new(503, "schema_too_new", e.to_string()),
            Error::Backend {
                kind: BackendFailure::Full,
                ref message,
            } => {
                eprintln!("admin: database error: {message}");
                ApiError::new(
                    507,
                    "insufficient_storage",
                    "the database is full: the request failed; send it again once the server \
                     has room",
                )
            }
            other => internal(500, &other.to_string()),
        }
    }
}

impl From<Conflict> for ApiError {
    fn from(c: Conflict) -> Self {
        ApiError::new(409, conflict_code(&c), c.to_string())
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::bad_request(format!("the JSON body is not valid: {e}"))
    }
}

/// The details go to the log, not to the client.
pub fn internal(status: u16, detail: &str) -> ApiError {
    eprintln!("admin: internal error: {detail}");
    ApiError::new(
        status,
        "internal_error",
        "internal error; see the server log",
    )
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

pub fn json_response(status: u16, body: &impl Serialize) -> ApiResult {
    let body = serde_json::to_string(body).map_err(|e| internal(500, &e.to_string()))?;
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .build())
}

pub fn no_content() -> ApiResult {
    Ok(Response::builder().status(204).build())
}

/// The body as JSON of type `T`; an empty body is refused like any other malformed one.
pub fn body<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    if req.body().len() > MAX_BODY_BYTES {
        return Err(too_large(MAX_BODY_BYTES));
    }
    if req.body().is_empty() {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    Ok(serde_json::from_slice(req.body())?)
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("the request body exceeds {limit} bytes"),
    )
}

/// RFC 7396 JSON merge patch: `patch` applied to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// `current` with the body's merge patch applied, parsed again (so every check runs again).
pub fn patched<T: Serialize + DeserializeOwned>(current: &T, patch: &Value) -> ApiResult<T> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "the body must be a JSON object of the fields to change",
        ));
    }
    let mut v = serde_json::to_value(current).map_err(|e| internal(500, &e.to_string()))?;
    merge_patch(&mut v, patch);
    Ok(serde_json::from_value(v)?)
}

pub fn jwt_key() -> ApiResult<JwtKey> {
    fieldline_component::jwt_key().map_err(|m| internal(500, &m))
}

/// The admin API's per-user limit: 100 requests per minute (Hexastate) unless the variables
/// `admin_rate_limit` and `admin_rate_limit_window_secs` say otherwise.
pub fn admin_policy() -> fieldline_domain::RateLimitPolicy {
    limits::admin_api(
        variable("admin_rate_limit").and_then(|v| v.trim().parse().ok()),
        variable("admin_rate_limit_window_secs").and_then(|v| v.trim().parse().ok()),
    )
}

/// Counts an unauthenticated request against its client address.
pub fn limit_anonymous(store: &Store, req: &Request, now: Timestamp) -> ApiResult<()> {
    let ip = fieldline_component::client_ip(req);
    limits::check(
        store,
        &limits::ADMIN_ANONYMOUS,
        Subject::Client(&ip),
        1,
        now,
    )?;
    Ok(())
}

/// The `Bearer` token of the `Authorization` header.
pub fn bearer(req: &Request) -> ApiResult<Option<String>> {
    match authorization(req) {
        None => Ok(None),
        Some(Authorization::Bearer(token)) => Ok(Some(token)),
        Some(_) => Err(ApiError::new(
            401,
            "invalid_authorization_header",
            "the Authorization header must be `Bearer <access token>`",
        )),
    }
}

/// An authenticated member of an organization.
pub struct Caller {
    pub tenant: Tenant,
    member: Member,
    pub claims: AccessClaims,
}

impl Caller {
    pub fn user(&self) -> UserId {
        self.claims.user
    }

    pub fn org(&self) -> OrgId {
        self.tenant.id()
    }

    /// The one permission check: the domain's `authorize`.
    pub fn may(&self, action: Action) -> ApiResult<()> {
        self.member.may(action)?;
        Ok(())
    }
}

/// Verifies the access token, loads the caller's current membership and counts the request
/// against the per-user rate limit.
pub fn authenticate(store: &Store, req: &Request, now: Timestamp) -> ApiResult<Caller> {
    let token = bearer(req)?.ok_or_else(|| {
        ApiError::new(
            401,
            "missing_credentials",
            "this endpoint needs `Authorization: Bearer <access token>` (POST /api/v1/login)",
        )
    })?;
    let (member, claims) = auth::access_token(store, &jwt_key()?, &token, now)?;
    let subject = Subject::Principal(&member.principal);
    limits::check(store, &admin_policy(), subject, 1, now)?;
    Ok(Caller {
        tenant: member.tenant,
        member,
        claims,
    })
}

/// A path parameter parsed by a domain parser; a malformed id is a 404 (no such object).
pub fn path_id<T>(
    params: &spin_sdk::http::Params,
    name: &str,
    what: Entity,
    parse: impl FnOnce(&str) -> Result<T, fieldline_domain::ParseError>,
) -> ApiResult<T> {
    params
        .get(name)
        .and_then(|s| parse(s).ok())
        .ok_or_else(|| not_found(what))
}
