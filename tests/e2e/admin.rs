//! The admin API (`functions/admin`) through the host: the sign-up → login → structure → token →
//! refresh flow, every permission boundary, tenant isolation on every endpoint, bad access
//! tokens, the rate limit, error answers, and the OpenAPI document against the route table.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fieldline_domain::{JwtKey, OrgId, Timestamp, UserId};
use fieldline_tests::Query as _;
use fieldline_tests::{workspace, Start, TestHost};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

// The route table the component's router is built from.
#[allow(dead_code)]
#[path = "../../functions/admin/src/routes.rs"]
mod routes;

// Saved views and plan images (a child module: it uses this module's API client).
mod views;

const SECRET: &str = fieldline_tests::JWT_SECRET;

struct Api {
    host: TestHost,
    client: Client,
}

struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
    allow: Option<String>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// A signed-in member: their access and refresh tokens, user and organization ids.
#[derive(Clone, Debug)]
struct Session {
    access: String,
    refresh: String,
    user: String,
    org: String,
}

fn start_with(env: &[(&str, &str)]) -> Api {
    let mut s = Start::app();
    for (k, v) in env {
        s = s.env(k, v);
    }
    Api {
        host: s.start().expect("host starts"),
        client: Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
    }
}

fn start() -> Api {
    start_with(&[])
}

/// A host where anyone may sign up organizations (the default allows the first one only).
fn start_open() -> Api {
    start_with(&[("SPIN_VARIABLE_ALLOW_SIGNUP", "true")])
}

/// `/` and `~` escaped for a JSON pointer (RFC 6901).
fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Validates `instance` against the schema at `pointer` in the OpenAPI document. The schema is
/// the document itself with a `$ref` to that place, so that the document's own `$ref`s
/// (`#/components/schemas/...`) resolve as they are written. Compiled once per pointer.
fn validate(pointer: &str, instance: &Value) -> Result<(), String> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, jsonschema::Validator>>> = OnceLock::new();
    let mut cache = VALIDATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !cache.contains_key(pointer) {
        let mut schema = openapi().clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        // A URI fragment: the braces of path templates are percent-encoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        schema["$ref"] = json!(format!("#{fragment}"));
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| {
                panic!("openapi.json: the schema at {pointer} does not compile: {e}")
            });
        cache.insert(pointer.to_owned(), validator);
    }
    let errors: Vec<String> = cache[pointer]
        .iter_errors(instance)
        .map(|e| format!("{} (at {})", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Checks one answer of the admin API against openapi.json: its operation documents the status,
/// and the body is what that response describes (JSON valid against its schema, or nothing).
/// A request that matches no operation (an unknown path, a method its path does not take) must
/// be answered 404 or 405 with an error in the API's format.
fn conforms(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    retry_after: bool,
    text: &str,
) {
    let doc = openapi();
    let path = path.split('?').next().unwrap_or(path);
    let what = format!("{method} {path} answered {status} {text}");
    let op = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(p, _)| routes::matches(&router_path(p), path))
        .find_map(|(p, item)| item.get(method.to_lowercase()).map(|op| (p, op)));
    let Some((template, op)) = op else {
        assert!(
            matches!(status, 404 | 405),
            "{what}: no operation of openapi.json"
        );
        let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
        if let Err(e) = validate("/components/schemas/Error", &body) {
            panic!("{what}: not an Error: {e}");
        }
        return;
    };
    let Some(mut response) = op["responses"].get(status.to_string()) else {
        panic!("{what}: openapi.json does not document {status} for {method} {template}");
    };
    let mut pointer = format!(
        "/paths/{}/{}/responses/{status}",
        pointer_token(template),
        method.to_lowercase()
    );
    if let Some(target) = response.get("$ref").and_then(Value::as_str) {
        pointer = target.trim_start_matches('#').to_owned();
        response = doc
            .pointer(&pointer)
            .expect("a $ref of openapi.json resolves");
    }
    if status == 429 {
        assert!(retry_after, "{what}: without Retry-After");
    }
    if response.get("content").is_none() {
        assert!(text.is_empty(), "{what}: openapi.json documents no body");
        return;
    }
    assert!(
        content_type.is_some_and(|c| c.starts_with("application/json")),
        "{what}: content-type {content_type:?}"
    );
    let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    if let Err(e) = validate(
        &format!("{pointer}/content/application~1json/schema"),
        &body,
    ) {
        panic!("{what}: does not match openapi.json ({pointer}): {e}");
    }
}

/// The OpenAPI document, from the file the component embeds.
fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(workspace().join("functions/admin/openapi.json"))
            .expect("functions/admin/openapi.json");
        serde_json::from_str(&text).expect("openapi.json is JSON")
    })
}

impl Api {
    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(m, self.host.url(path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("request");
        self.answer(method, path, resp)
    }

    /// The answer to a request sent by hand.
    /// The answer to a request, checked against what openapi.json says of it.
    fn answer(&self, method: &str, path: &str, resp: reqwest::blocking::Response) -> Answer {
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (retry_after, allow) = (header("retry-after"), header("allow"));
        let content_type = header("content-type");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        conforms(
            method,
            path,
            status,
            content_type.as_deref(),
            retry_after.is_some(),
            &text,
        );
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            body,
            retry_after,
            allow,
        }
    }

    fn get(&self, path: &str, s: &Session) -> Answer {
        self.send("GET", path, Some(&s.access), None)
    }

    fn post(&self, path: &str, s: &Session, body: Value) -> Answer {
        self.send("POST", path, Some(&s.access), Some(&body))
    }

    fn patch(&self, path: &str, s: &Session, body: Value) -> Answer {
        self.send("PATCH", path, Some(&s.access), Some(&body))
    }

    fn delete(&self, path: &str, s: &Session) -> Answer {
        self.send("DELETE", path, Some(&s.access), None)
    }

    fn anon(&self, method: &str, path: &str, body: Value) -> Answer {
        self.send(method, path, None, Some(&body))
    }

    fn signup(&self, org: &str, email: &str) -> Session {
        let a = self.anon(
            "POST",
            "/api/v1/signup",
            json!({"organization": org, "email": email, "password": "correct horse battery"}),
        );
        assert_eq!(a.status, 201, "{a:?}");
        session(&a.body)
    }

    fn login(&self, email: &str, password: &str) -> Session {
        let a = self.anon(
            "POST",
            "/api/v1/login",
            json!({"email": email, "password": password}),
        );
        assert_eq!(a.status, 200, "{a:?}");
        session(&a.body)
    }

    /// Invites `email` with `permissions` and accepts as a new account; returns its session.
    fn add_member(&self, admin: &Session, email: &str, permissions: Value) -> Session {
        let inv = self.post(
            "/api/v1/invitations",
            admin,
            json!({"email": email, "permissions": permissions}),
        );
        assert_eq!(inv.status, 201, "{inv:?}");
        let token = inv.body["token"].as_str().expect("token");
        let acc = self.anon(
            "POST",
            "/api/v1/invitations/accept",
            json!({"token": token, "password": "member password 1"}),
        );
        assert_eq!(acc.status, 201, "{acc:?}");
        session(&acc.body)
    }

    /// A device with one sensor and one channel; returns (device, sensor, channel) ids.
    fn structure(&self, s: &Session) -> (String, String, String) {
        let d = self.post("/api/v1/devices", s, json!({"name": "Boiler"}));
        assert_eq!(d.status, 201, "{d:?}");
        let d = id(&d.body);
        let sn = self.post(
            &format!("/api/v1/devices/{d}/sensors"),
            s,
            json!({"name": "Probe"}),
        );
        assert_eq!(sn.status, 201, "{sn:?}");
        let sn = id(&sn.body);
        let c = self.post(
            &format!("/api/v1/sensors/{sn}/channels"),
            s,
            json!({"name": "Temperature", "communicationId": "1", "unit": "°C"}),
        );
        assert_eq!(c.status, 201, "{c:?}");
        (d, sn, id(&c.body))
    }
}

/// The session of a sign-up, login, refresh or invitation answer (all alike).
fn session(body: &Value) -> Session {
    let field = |name: &str| body[name].as_str().expect(name).to_owned();
    Session {
        access: field("access_token"),
        refresh: field("refresh_token"),
        user: field("user"),
        org: field("organization"),
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[track_caller]
fn expect(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(a.body["code"], code, "{a:?}");
    assert!(
        a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{a:?}"
    );
}

#[test]
fn admin_signup_login_structure_token_refresh_flow() {
    let api = start_open();
    let admin = api.signup("Acme Dairy", "Alice@Example.com");
    assert_eq!(admin.org.len(), 13);

    // Sign-up again with the same address (any case) is a conflict; weak input is a 400.
    let again = api.anon(
        "POST",
        "/api/v1/signup",
        json!({"organization": "Other", "email": "alice@example.com", "password": "another password"}),
    );
    expect(&again, 409, "email_taken");
    let weak = api.anon(
        "POST",
        "/api/v1/signup",
        json!({"organization": "Other", "email": "bob@example.com", "password": "short"}),
    );
    expect(&weak, 400, "invalid_request");
    assert!(weak.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("password"));

    // Login: an OAuth-style token pair; a wrong password or unknown address is the same 401.
    let a = api.anon(
        "POST",
        "/api/v1/login",
        json!({"email": "alice@example.com", "password": "correct horse battery"}),
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 900);
    assert!(a.body["refresh_token"]
        .as_str()
        .expect("rt")
        .starts_with("flr_"));
    let s = session(&a.body);
    for (email, pw) in [
        ("alice@example.com", "wrong horse battery"),
        ("nobody@example.com", "correct horse battery"),
        ("alice@example.com", "x"),
    ] {
        let bad = api.anon(
            "POST",
            "/api/v1/login",
            json!({"email": email, "password": pw}),
        );
        expect(&bad, 401, "bad_credentials");
    }

    let me = api.get("/api/v1/me", &s);
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["user"]["email"], "alice@example.com");
    assert_eq!(me.body["organization"], admin.org);
    assert_eq!(me.body["permissions"]["administrator"], true);

    // The organization and its subscription.
    let org = api.patch(
        "/api/v1/organization",
        &s,
        json!({"descr": "Milk cooling", "timeZone": "Europe/Rome"}),
    );
    assert_eq!(org.status, 200, "{org:?}");
    assert_eq!(org.body["name"], "Acme Dairy");
    assert_eq!(org.body["timeZone"], "Europe/Rome");
    expect(
        &api.patch("/api/v1/organization", &s, json!({"name": ""})),
        400,
        "invalid_request",
    );
    // Automatic registration of unknown devices: an organization setting, off by default.
    assert_eq!(org.body["autoRegister"], false, "{org:?}");
    let on = api.patch("/api/v1/organization", &s, json!({"autoRegister": true}));
    assert_eq!(on.status, 200, "{on:?}");
    assert_eq!(on.body["autoRegister"], true);
    assert_eq!(
        on.body["timeZone"], "Europe/Rome",
        "the other fields are kept"
    );
    assert_eq!(
        api.get("/api/v1/organization", &s).body["autoRegister"],
        true
    );
    expect(
        &api.patch("/api/v1/organization", &s, json!({"autoRegister": "yes"})),
        400,
        "invalid_request",
    );
    let off = api.patch("/api/v1/organization", &s, json!({"autoRegister": null}));
    assert_eq!(off.body["autoRegister"], false, "{off:?}");
    let sub = api.get("/api/v1/organization/subscription", &s);
    assert_eq!(sub.status, 200);
    assert_eq!(sub.body["conduitTier"], "basic");
    let mut new_sub = sub.body.clone();
    new_sub["conduitTier"] = json!("premium");
    new_sub["maxUsers"] = json!(5);
    // The organization's own administrator may not set its subscription: the operator does.
    let put = api.send(
        "PUT",
        "/api/v1/organization/subscription",
        Some(&s.access),
        Some(&new_sub),
    );
    expect(&put, 403, "operator_only");
    let operator_path = format!("/api/v1/operator/organizations/{}/subscription", admin.org);
    let put = api.send(
        "PUT",
        &operator_path,
        Some(fieldline_tests::OPERATOR_TOKEN),
        Some(&new_sub),
    );
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(put.body["maxUsers"], 5);
    assert_eq!(
        api.get("/api/v1/organization/subscription", &s).body["conduitTier"],
        "premium"
    );
    new_sub["aggregatedRetentionDays"] = json!(1);
    let bad = api.send(
        "PUT",
        &operator_path,
        Some(fieldline_tests::OPERATOR_TOKEN),
        Some(&new_sub),
    );
    expect(&bad, 400, "invalid_request");
    // A tenant's access token is not the operator's credential.
    expect(
        &api.send("PUT", &operator_path, Some(&s.access), Some(&new_sub)),
        403,
        "operator_only",
    );

    // A device with a sensor and channels, with the Sensorbis checks.
    let d = api.post(
        "/api/v1/devices",
        &s,
        json!({"name": "Tank 1", "networkId": "70B3D32111BD648F7", "timeZone": 60,
               "location": {"lon": 11.3, "lat": 44.5}, "notificationsMinInterval": 900}),
    );
    assert_eq!(d.status, 201, "{d:?}");
    let device = id(&d.body);
    assert_eq!(d.body["uuid"].as_str().map(str::len), Some(36));
    expect(
        &api.post(
            "/api/v1/devices",
            &s,
            json!({"name": "Tank 2", "networkId": "70B3D32111BD648F7"}),
        ),
        409,
        "network_id_taken",
    );
    expect(
        &api.post("/api/v1/devices", &s, json!({"name": "x".repeat(31)})),
        400,
        "invalid_request",
    );
    expect(
        &api.post(
            "/api/v1/devices",
            &s,
            json!({"name": "T", "notificationsMinInterval": 60}),
        ),
        400,
        "invalid_request",
    );
    let p = api.patch(
        &format!("/api/v1/devices/{device}"),
        &s,
        json!({"descr": "North side", "location": null}),
    );
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(p.body["name"], "Tank 1");
    assert_eq!(p.body["descr"], "North side");
    assert!(p.body["location"].is_null(), "{p:?}");
    // Nested objects merge; ids and unknown fields are not changed by a patch.
    let meta = api.patch(
        &format!("/api/v1/devices/{device}"),
        &s,
        json!({"meta": {"firmware": "1.2", "health": "green"}, "id": "aaaaaaaaaaaaa"}),
    );
    assert_eq!(meta.status, 200, "{meta:?}");
    assert_eq!(meta.body["id"], device);
    assert_eq!(meta.body["meta"]["firmware"], "1.2");
    assert_eq!(meta.body["meta"]["health"], "green");
    assert_eq!(meta.body["descr"], "North side");

    let sn = api.post(
        &format!("/api/v1/devices/{device}/sensors"),
        &s,
        json!({"name": "Level", "customerId": "L-1"}),
    );
    assert_eq!(sn.status, 201, "{sn:?}");
    let sensor = id(&sn.body);
    assert_eq!(sn.body["device"], device);

    let ch = |body: Value| api.post(&format!("/api/v1/sensors/{sensor}/channels"), &s, body);
    let c1 = ch(
        json!({"name": "Level", "communicationId": "1", "unit": "%", "grouping": "M",
                       "range": {"min": 0.0, "max": 100.0},
                       "thresholds": {"first": {"op": "<", "value": 10.0}, "second": {"op": ">", "value": 90.0}}}),
    );
    assert_eq!(c1.status, 201, "{c1:?}");
    assert_eq!(c1.body["communicationId"], "1");
    assert_eq!(c1.body["thresholds"]["second"]["op"], ">");
    let c2 = ch(json!({"name": "Power", "communicationId": "auto~watt", "grouping": "S"}));
    assert_eq!(c2.status, 201, "{c2:?}");
    let c3 = ch(json!({"name": "No id"}));
    assert_eq!(c3.status, 201, "{c3:?}");
    assert_eq!(
        c3.body["communicationId"], c3.body["id"],
        "Sensorbis default"
    );
    expect(
        &ch(json!({"name": "Dup", "communicationId": "1"})),
        409,
        "communication_id_taken",
    );
    expect(
        &ch(json!({"name": "Bad", "communicationId": "a/b"})),
        400,
        "invalid_request",
    );
    expect(
        &ch(
            json!({"name": "Bad", "thresholds": {"first": {"op": ">", "value": 1.0}, "second": {"op": ">", "value": 2.0}}}),
        ),
        400,
        "invalid_request",
    );
    expect(
        &ch(json!({"name": "Bad", "grouping": "X"})),
        400,
        "invalid_request",
    );
    let channel = id(&c1.body);
    let pc = api.patch(
        &format!("/api/v1/channels/{channel}"),
        &s,
        json!({"unit": "percent", "thresholds": {"second": null}}),
    );
    assert_eq!(pc.status, 200, "{pc:?}");
    assert_eq!(pc.body["unit"], "percent");
    assert_eq!(pc.body["communicationId"], "1");
    assert!(pc.body["thresholds"]["second"].is_null(), "{pc:?}");
    expect(
        &api.patch(
            &format!("/api/v1/channels/{channel}"),
            &s,
            json!({"communicationId": "auto~watt"}),
        ),
        409,
        "communication_id_taken",
    );
    let list = api.get(&format!("/api/v1/sensors/{sensor}/channels"), &s);
    assert_eq!(ids(&list.body).len(), 3);
    assert_eq!(
        ids(&api.get("/api/v1/devices", &s).body),
        vec![device.clone()]
    );
    assert_eq!(
        ids(&api
            .get(&format!("/api/v1/devices/{device}/sensors"), &s)
            .body),
        vec![sensor.clone()]
    );
    assert_eq!(
        api.get(&format!("/api/v1/sensors/{sensor}"), &s).body["name"],
        "Level"
    );
    assert_eq!(
        api.get(&format!("/api/v1/channels/{channel}"), &s).body["unit"],
        "percent"
    );

    // Tokens: the secret is shown once; tiers are bounded by the subscription (now premium).
    let t = api.post(
        "/api/v1/tokens",
        &s,
        json!({"kind": "conduit", "name": "dashboard", "services": {"http": true, "mqtt": false}}),
    );
    assert_eq!(t.status, 201, "{t:?}");
    assert!(t.body["secret"]
        .as_str()
        .expect("secret")
        .starts_with("flc_"));
    assert_eq!(t.body["tier"], "premium");
    assert_eq!(t.body["services"]["mqtt"], false);
    let conduit = id(&t.body);
    expect(
        &api.post(
            "/api/v1/tokens",
            &s,
            json!({"kind": "conduit", "tier": "enterprise"}),
        ),
        403,
        "tier_not_in_subscription",
    );
    let dt = api.post(
        "/api/v1/tokens",
        &s,
        json!({"kind": "device", "device": device}),
    );
    assert_eq!(dt.status, 201, "{dt:?}");
    assert!(dt.body["secret"]
        .as_str()
        .expect("secret")
        .starts_with("fld_"));
    let ft = api.post("/api/v1/tokens", &s, json!({"kind": "federation"}));
    assert_eq!(ft.status, 201, "{ft:?}");
    expect(
        &api.post("/api/v1/tokens", &s, json!({"kind": "device"})),
        400,
        "invalid_request",
    );
    expect(
        &api.post("/api/v1/tokens", &s, json!({"kind": "refresh"})),
        400,
        "invalid_request",
    );
    let past = json!({"kind": "federation", "expiresAt": 1_000});
    expect(
        &api.post("/api/v1/tokens", &s, past),
        400,
        "invalid_request",
    );
    let listed = api.get("/api/v1/tokens?kind=conduit", &s);
    assert_eq!(ids(&listed.body), vec![conduit.clone()]);
    assert!(listed.body[0].get("secret").is_none(), "{listed:?}");
    assert_eq!(
        api.delete(&format!("/api/v1/tokens/{conduit}"), &s).status,
        204
    );
    let revoked = api.get("/api/v1/tokens?kind=conduit", &s);
    assert!(revoked.body[0]["revokedAt"].is_i64(), "{revoked:?}");

    // Refresh rotates: the new refresh token works once; replaying a spent one kills the session.
    let r1 = api.anon(
        "POST",
        "/api/v1/refresh",
        json!({"refresh_token": s.refresh}),
    );
    assert_eq!(r1.status, 200, "{r1:?}");
    let s1 = session(&r1.body);
    assert_ne!(s1.refresh, s.refresh);
    assert_eq!(api.get("/api/v1/me", &s1).status, 200);
    let replay = api.anon(
        "POST",
        "/api/v1/refresh",
        json!({"refresh_token": s.refresh}),
    );
    expect(&replay, 401, "refresh_token_reused");
    let after = api.anon(
        "POST",
        "/api/v1/refresh",
        json!({"refresh_token": s1.refresh}),
    );
    expect(&after, 401, "token_revoked");
    expect(
        &api.anon(
            "POST",
            "/api/v1/refresh",
            json!({"refresh_token": "nonsense"}),
        ),
        401,
        "invalid_token",
    );

    // Logout ends the session of the presented refresh token.
    let s2 = api.login("alice@example.com", "correct horse battery");
    assert_eq!(
        api.anon(
            "POST",
            "/api/v1/logout",
            json!({"refresh_token": s2.refresh})
        )
        .status,
        204
    );
    expect(
        &api.anon(
            "POST",
            "/api/v1/refresh",
            json!({"refresh_token": s2.refresh}),
        ),
        401,
        "token_revoked",
    );

    // Deleting cascades: the sensor and channels of a deleted device are gone.
    assert_eq!(
        api.delete(&format!("/api/v1/channels/{channel}"), &s1)
            .status,
        204
    );
    expect(
        &api.get(&format!("/api/v1/channels/{channel}"), &s1),
        404,
        "channel_not_found",
    );
    assert_eq!(
        api.delete(&format!("/api/v1/devices/{device}"), &s1).status,
        204
    );
    expect(
        &api.get(&format!("/api/v1/sensors/{sensor}"), &s1),
        404,
        "sensor_not_found",
    );
    expect(
        &api.get(&format!("/api/v1/devices/{device}"), &s1),
        404,
        "device_not_found",
    );
}

#[test]
fn admin_signup_is_for_the_first_organization_by_default() {
    let api = start();
    let first = api.signup("Acme", "a@example.com");
    let again = api.anon(
        "POST",
        "/api/v1/signup",
        json!({"organization": "Other", "email": "b@example.com", "password": "correct horse battery"}),
    );
    expect(&again, 403, "signup_disabled");
    assert!(
        again.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("first")),
        "{again:?}"
    );
    // Refused before the body is read, and nothing was created.
    expect(
        &api.anon("POST", "/api/v1/signup", json!([])),
        403,
        "signup_disabled",
    );
    let login = api.anon(
        "POST",
        "/api/v1/login",
        json!({"email": "b@example.com", "password": "correct horse battery"}),
    );
    expect(&login, 401, "bad_credentials");
    // The first organization goes on, and grows by invitation.
    let member = api.add_member(&first, "b@example.com", json!({}));
    assert_eq!(member.org, first.org);
}

#[test]
fn admin_signup_can_be_disabled() {
    let api = start_with(&[("SPIN_VARIABLE_ALLOW_SIGNUP", "false")]);
    let a = api.anon(
        "POST",
        "/api/v1/signup",
        json!({"organization": "Acme", "email": "a@example.com", "password": "correct horse battery"}),
    );
    expect(&a, 403, "signup_disabled");
}

#[test]
fn admin_permission_boundaries() {
    let api = start();
    let admin = api.signup("Acme", "admin@example.com");
    let (device, sensor, channel) = api.structure(&admin);
    let viewer = api.add_member(&admin, "viewer@example.com", json!({}));
    let download = api.add_member(&admin, "download@example.com", json!({"download": true}));
    let modify = api.add_member(&admin, "modify@example.com", json!({"modify": true}));
    let admin2 = api.add_member(&admin, "admin2@example.com", json!({"administrator": true}));
    assert_eq!(viewer.org, admin.org);

    // What every member may do: read the organization's structure and settings.
    assert_eq!(
        api.patch(
            "/api/v1/organization",
            &admin,
            json!({"autoRegister": true})
        )
        .status,
        200
    );
    for s in [&viewer, &download, &modify, &admin2] {
        assert_eq!(
            api.get("/api/v1/organization", s).body["autoRegister"],
            true,
            "{s:?}"
        );
        for path in [
            "/api/v1/me".to_owned(),
            "/api/v1/organization".to_owned(),
            "/api/v1/organization/subscription".to_owned(),
            "/api/v1/devices".to_owned(),
            format!("/api/v1/devices/{device}"),
            format!("/api/v1/devices/{device}/sensors"),
            format!("/api/v1/sensors/{sensor}"),
            format!("/api/v1/sensors/{sensor}/channels"),
            format!("/api/v1/channels/{channel}"),
        ] {
            assert_eq!(api.get(&path, s).status, 200, "{path} as {s:?}");
        }
    }

    // Modify: devices, sensors, channels and device tokens; nothing else.
    let modifying = |s: &Session| -> Vec<u16> {
        let d = api.post("/api/v1/devices", s, json!({"name": "New"}));
        vec![
            d.status,
            api.patch(
                &format!("/api/v1/devices/{device}"),
                s,
                json!({"descr": "x"}),
            )
            .status,
            api.post(
                &format!("/api/v1/devices/{device}/sensors"),
                s,
                json!({"name": "S"}),
            )
            .status,
            api.patch(
                &format!("/api/v1/sensors/{sensor}"),
                s,
                json!({"descr": "x"}),
            )
            .status,
            api.post(
                &format!("/api/v1/sensors/{sensor}/channels"),
                s,
                json!({"name": "C"}),
            )
            .status,
            api.patch(
                &format!("/api/v1/channels/{channel}"),
                s,
                json!({"unit": "K"}),
            )
            .status,
            api.post(
                "/api/v1/tokens",
                s,
                json!({"kind": "device", "device": device}),
            )
            .status,
        ]
    };
    let administering = |s: &Session| -> Vec<u16> {
        vec![
            api.patch("/api/v1/organization", s, json!({"descr": "x"}))
                .status,
            api.patch("/api/v1/organization", s, json!({"autoRegister": false}))
                .status,
            api.send(
                "PUT",
                "/api/v1/organization/subscription",
                Some(&s.access),
                Some(&api.get("/api/v1/organization/subscription", s).body),
            )
            .status,
            api.get("/api/v1/members", s).status,
            api.get("/api/v1/invitations", s).status,
            api.post("/api/v1/invitations", s, json!({"email": "x@example.com"}))
                .status,
            // Every token of the organization; a member lists only their own Conduit tokens.
            api.get("/api/v1/tokens?kind=federation", s).status,
            api.post(
                "/api/v1/tokens",
                s,
                json!({"kind": "conduit", "user": admin.user}),
            )
            .status,
            api.post("/api/v1/tokens", s, json!({"kind": "federation"}))
                .status,
            api.patch(
                &format!("/api/v1/members/{}", viewer.user),
                s,
                json!({"download": false}),
            )
            .status,
        ]
    };
    for s in [&viewer, &download] {
        assert!(
            modifying(s).iter().all(|&c| c == 403),
            "{s:?}: {:?}",
            modifying(s)
        );
        assert!(administering(s).iter().all(|&c| c == 403), "{s:?}");
    }
    let m = modifying(&modify);
    assert_eq!(m, vec![201, 200, 201, 200, 201, 200, 201], "modify");
    assert!(administering(&modify).iter().all(|&c| c == 403));
    let a = administering(&admin2);
    assert_eq!(
        a,
        // The subscription is the operator's: refused to administrators too.
        vec![200, 200, 403, 200, 200, 201, 200, 201, 201, 200],
        "administrator"
    );
    assert_eq!(modifying(&admin2), vec![201, 200, 201, 200, 201, 200, 201]);
    let forbidden = api.post("/api/v1/devices", &viewer, json!({"name": "New"}));
    expect(&forbidden, 403, "forbidden");
    assert!(forbidden.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Modify"));

    // Deleting needs Modify too.
    let victim = id(&api
        .post("/api/v1/devices", &modify, json!({"name": "Victim"}))
        .body);
    expect(
        &api.delete(&format!("/api/v1/devices/{victim}"), &viewer),
        403,
        "forbidden",
    );
    expect(
        &api.delete(&format!("/api/v1/channels/{channel}"), &download),
        403,
        "forbidden",
    );
    expect(
        &api.delete(&format!("/api/v1/sensors/{sensor}"), &download),
        403,
        "forbidden",
    );
    assert_eq!(
        api.delete(&format!("/api/v1/devices/{victim}"), &modify)
            .status,
        204
    );

    // A change of permissions applies at once, to the access token already issued.
    let up = api.patch(
        &format!("/api/v1/members/{}", viewer.user),
        &admin,
        json!({"permissions": {"modify": true}}),
    );
    assert_eq!(up.status, 200, "{up:?}");
    assert_eq!(up.body["permissions"]["modify"], true);
    assert_eq!(
        api.post("/api/v1/devices", &viewer, json!({"name": "Now"}))
            .status,
        201
    );

    // The organization keeps an administrator.
    let demote = json!({"administrator": false});
    assert_eq!(
        api.patch(
            &format!("/api/v1/members/{}", admin2.user),
            &admin,
            demote.clone()
        )
        .status,
        200
    );
    expect(
        &api.patch(&format!("/api/v1/members/{}", admin.user), &admin, demote),
        409,
        "last_administrator",
    );
    expect(
        &api.delete(&format!("/api/v1/members/{}", admin.user), &admin),
        409,
        "last_administrator",
    );

    // A removed member's tokens stop working at once.
    assert_eq!(
        api.delete(&format!("/api/v1/members/{}", download.user), &admin)
            .status,
        204
    );
    expect(&api.get("/api/v1/me", &download), 401, "token_revoked");
    expect(
        &api.anon(
            "POST",
            "/api/v1/refresh",
            json!({"refresh_token": download.refresh}),
        ),
        401,
        "token_revoked",
    );
    let members = api.get("/api/v1/members", &admin);
    assert_eq!(
        members.body.as_array().map(Vec::len),
        Some(4),
        "{members:?}"
    );

    // Invitations: listed, withdrawn, not reusable, and for the invited address only.
    let inv = api.post(
        "/api/v1/invitations",
        &admin,
        json!({"email": "late@example.com"}),
    );
    assert_eq!(inv.status, 201);
    let inv_id = id(&inv.body);
    assert!(ids(&api.get("/api/v1/invitations", &admin).body).contains(&inv_id));
    assert_eq!(
        api.delete(&format!("/api/v1/invitations/{inv_id}"), &admin)
            .status,
        204
    );
    let gone = api.anon(
        "POST",
        "/api/v1/invitations/accept",
        json!({"token": inv.body["token"], "password": "member password 1"}),
    );
    expect(&gone, 404, "invitation_not_found");
    let other = api.post(
        "/api/v1/invitations",
        &admin,
        json!({"email": "carol@example.com"}),
    );
    let wrong_user = api.send(
        "POST",
        "/api/v1/invitations/accept",
        Some(&modify.access),
        Some(&json!({"token": other.body["token"]})),
    );
    expect(&wrong_user, 409, "invitation_for_another_email");
    expect(
        &api.post(
            "/api/v1/invitations",
            &admin,
            json!({"email": "modify@example.com"}),
        ),
        409,
        "already_member",
    );

    // The subscription bounds the number of members (4 now).
    let mut sub = api.get("/api/v1/organization/subscription", &admin).body;
    sub["maxUsers"] = json!(4);
    let put = api.send(
        "PUT",
        &format!("/api/v1/operator/organizations/{}/subscription", admin.org),
        Some(fieldline_tests::OPERATOR_TOKEN),
        Some(&sub),
    );
    assert_eq!(put.status, 200, "{put:?}");
    let full = api.anon(
        "POST",
        "/api/v1/invitations/accept",
        json!({"token": other.body["token"], "password": "member password 1"}),
    );
    expect(&full, 409, "max_users_reached");
}

/// An AlphaX Conduit v2 upload of one value with `token` to the device `network_id`; the status.
fn conduit_upload(api: &Api, token: &str, network_id: &str) -> u16 {
    let body = json!({"token": token, "networkId": network_id,
                      "timestamp": Timestamp::now().as_millis(),
                      "data": [{"channelId": 1, "value": 1.5}]});
    let resp = api
        .client
        .post(api.host.url("/post/v2"))
        .json(&body)
        .send()
        .expect("request");
    resp.status().as_u16()
}

#[test]
fn admin_conduit_tokens_for_members_act_with_their_permissions() {
    let api = start();
    let admin = api.signup("Acme", "admin@example.com");
    let d = api.post(
        "/api/v1/devices",
        &admin,
        json!({"name": "Tank", "networkId": "tank-1"}),
    );
    assert_eq!(d.status, 201, "{d:?}");
    let viewer = api.add_member(&admin, "viewer@example.com", json!({}));
    let modify = api.add_member(&admin, "modify@example.com", json!({"modify": true}));
    let conduit = |s: &Session, body: Value| {
        let a = api.post("/api/v1/tokens", s, body);
        assert_eq!(a.status, 201, "{a:?}");
        (
            a.body["secret"].as_str().expect("secret").to_owned(),
            a.body["user"].as_str().expect("user").to_owned(),
        )
    };

    // Any member may have a Conduit token for themselves (the default user is the caller) ...
    let (modify_token, user) = conduit(&modify, json!({"kind": "conduit"}));
    assert_eq!(user, modify.user);
    let (viewer_token, user) = conduit(&viewer, json!({"kind": "conduit", "user": viewer.user}));
    assert_eq!(user, viewer.user);
    // ... and only an Administrator may give one to another member.
    for (s, other) in [(&modify, &viewer.user), (&viewer, &admin.user)] {
        let a = api.post(
            "/api/v1/tokens",
            s,
            json!({"kind": "conduit", "user": other}),
        );
        expect(&a, 403, "forbidden");
    }
    let (for_viewer, user) = conduit(&admin, json!({"kind": "conduit", "user": viewer.user}));
    assert_eq!(user, viewer.user);
    expect(
        &api.post(
            "/api/v1/tokens",
            &admin,
            json!({"kind": "conduit", "user": "aaaaaaaaaaaaa"}),
        ),
        404,
        "member_not_found",
    );
    expect(
        &api.post(
            "/api/v1/tokens",
            &admin,
            json!({"kind": "federation", "user": viewer.user}),
        ),
        400,
        "invalid_request",
    );

    // A token acts with its member's permissions: the Modify member's writes, the view-only
    // member's (whoever created it) does not.
    assert_eq!(conduit_upload(&api, &modify_token, "tank-1"), 200);
    assert_eq!(conduit_upload(&api, &viewer_token, "tank-1"), 403);
    assert_eq!(conduit_upload(&api, &for_viewer, "tank-1"), 403);
    let read = api
        .client
        .get(api.host.url(&format!("/conduitv4?token={viewer_token}")))
        .send()
        .expect("read");
    assert_eq!(read.status().as_u16(), 200, "a view-only member reads");
    // It is no access token: nothing of the admin API works with it.
    let as_access = Session {
        access: modify_token.clone(),
        ..modify.clone()
    };
    expect(
        &api.get("/api/v1/devices", &as_access),
        401,
        "invalid_token",
    );
    expect(
        &api.post("/api/v1/tokens", &as_access, json!({"kind": "conduit"})),
        401,
        "invalid_token",
    );
    expect(
        &api.patch(
            &format!("/api/v1/members/{}", modify.user),
            &as_access,
            json!({"administrator": true}),
        ),
        401,
        "invalid_token",
    );

    // The member's current permissions, not those at creation: promote the viewer and demote
    // the Modify member, and their existing tokens follow.
    for (who, modify_now) in [(&viewer, true), (&modify, false)] {
        let a = api.patch(
            &format!("/api/v1/members/{}", who.user),
            &admin,
            json!({"modify": modify_now}),
        );
        assert_eq!(a.status, 200, "{a:?}");
    }
    assert_eq!(conduit_upload(&api, &viewer_token, "tank-1"), 200);
    assert_eq!(conduit_upload(&api, &for_viewer, "tank-1"), 200);
    assert_eq!(conduit_upload(&api, &modify_token, "tank-1"), 403);

    // A member sees the Conduit tokens that act for them (whoever created them), and only
    // those; other kinds are for Administrators.
    let listed = |s: &Session| -> Vec<(String, String)> {
        let a = api.get("/api/v1/tokens", s);
        assert_eq!(a.status, 200, "{a:?}");
        let mut ids: Vec<(String, String)> = a
            .body
            .as_array()
            .expect("a list")
            .iter()
            .map(|t| {
                assert_eq!(t["kind"], "conduit", "{t}");
                assert!(t.get("secret").is_none(), "no secret in a list: {t}");
                (
                    t["id"].as_str().expect("id").to_owned(),
                    t["user"].as_str().expect("user").to_owned(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    let viewers = listed(&viewer);
    assert_eq!(viewers.len(), 2, "{viewers:?}");
    assert!(
        viewers.iter().all(|(_, u)| *u == viewer.user),
        "{viewers:?}"
    );
    let modifys = listed(&modify);
    assert_eq!(modifys.len(), 1, "{modifys:?}");
    assert_eq!(modifys[0].1, modify.user);
    expect(
        &api.get("/api/v1/tokens?kind=device", &viewer),
        403,
        "forbidden",
    );
    let everything = api.get("/api/v1/tokens?kind=conduit", &admin);
    assert_eq!(
        everything.body.as_array().map(Vec::len),
        Some(3),
        "{everything:?}"
    );

    // ... and revokes their own, which stops working at once; nobody else's.
    expect(
        &api.delete(&format!("/api/v1/tokens/{}", modifys[0].0), &viewer),
        403,
        "forbidden",
    );
    assert_eq!(conduit_upload(&api, &viewer_token, "tank-1"), 200);
    for (id, _) in &viewers {
        let a = api.delete(&format!("/api/v1/tokens/{id}"), &viewer);
        assert_eq!(a.status, 204, "{a:?}");
    }
    assert_eq!(conduit_upload(&api, &viewer_token, "tank-1"), 401);
    assert_eq!(conduit_upload(&api, &for_viewer, "tank-1"), 401);
    expect(
        &api.delete("/api/v1/tokens/aaaaaaaaaaaaa", &viewer),
        404,
        "token_not_found",
    );
}

/// An in-app notification of the session's organization about `channel` for the session's
/// member, added as the notifier adds them (the storage layer, on the host's database); its id.
fn notification_of(api: &Api, s: &Session, channel: &str) -> String {
    use fieldline_storage as storage;
    let db = api.host.storage().expect("the host's database");
    let tenant = storage::tenant(&db, OrgId::parse(&s.org).expect("org id")).expect("tenant");
    let channel = fieldline_domain::ChannelId::parse(channel).expect("channel id");
    let cref = storage::channel_ref(&db, &tenant, channel).expect("channel");
    let user: i64 = db.query_i64(
        "SELECT key FROM users WHERE id = ?",
        &[s.user.as_str().into()],
    );
    storage::add_notification(
        &db,
        cref,
        "alarm",
        "Title",
        "Body",
        Timestamp::now(),
        &[user],
    )
    .expect("notification");
    let key: i64 = db.query_i64("SELECT max(key) FROM notifications", &[]);
    key.to_string()
}

/// An incident of the organization of `s` on `channel` (elproMONITOR deviations); its id.
fn incident_of(api: &Api, s: &Session, channel: &str) -> String {
    use fieldline_storage as storage;
    let db = api.host.storage().expect("the host's database");
    let tenant = storage::tenant(&db, OrgId::parse(&s.org).expect("org id")).expect("tenant");
    let channel = fieldline_domain::ChannelId::parse(channel).expect("channel id");
    let cref = storage::channel_ref(&db, &tenant, channel).expect("channel");
    let incident = storage::open_incident(
        &db,
        &tenant,
        cref,
        &fieldline_domain::NewIncident {
            kind: fieldline_domain::IncidentKind::Failure,
            deviation: None,
            limit: None,
            measurement: Some(3.0),
            unit: fieldline_domain::Unit::parse("").expect("unit"),
            start: Timestamp::now(),
        },
    )
    .expect("incident");
    incident.id.to_string()
}

#[test]
fn admin_lists_reads_and_dismisses_the_notifiers_in_app_notifications() {
    let api = start_with(&[
        ("SPIN_VARIABLE_OPERATOR_TOKEN", "operator-credential-0123"),
        ("SPIN_VARIABLE_MAIL_TRANSPORT", "none"),
    ]);
    let s = api.signup("Dairy", "a@example.com");
    let d = id(&api
        .post("/api/v1/devices", &s, json!({"name": "Cold room"}))
        .body);
    let sn = id(&api
        .post(
            &format!("/api/v1/devices/{d}/sensors"),
            &s,
            json!({"name": "Probe"}),
        )
        .body);
    let c = api.post(
        &format!("/api/v1/sensors/{sn}/channels"),
        &s,
        json!({"name": "Temperature", "communicationId": "1", "unit": "°C",
               "thresholds": {"first": {"op": ">", "value": 8}}}),
    );
    assert_eq!(c.status, 201, "{c:?}");
    let channel = id(&c.body);
    // The member subscribes to the channel's alerts (in-app only).
    let sub = api.post(
        "/api/v1/notification-subscriptions",
        &s,
        json!({"channel": channel, "email": false}),
    );
    assert_eq!(sub.status, 201, "{sub:?}");
    // A value beyond the threshold, written as ingestion writes it, and a notifier run.
    {
        use fieldline_storage as storage;
        let db = api.host.storage().expect("the host's database");
        let tenant = storage::tenant(&db, OrgId::parse(&s.org).expect("org")).expect("tenant");
        let ch = fieldline_domain::ChannelId::parse(&channel).expect("channel id");
        let cref = storage::channel_ref(&db, &tenant, ch).expect("channel");
        let p = fieldline_domain::Point::new(Timestamp::now(), 12.5).expect("point");
        storage::write_points(&db, &tenant, &[(cref, p)]).expect("write");
    }
    let run = api
        .client
        .post(api.host.url("/notifier/run"))
        .bearer_auth("operator-credential-0123")
        .send()
        .expect("run");
    assert_eq!(run.status().as_u16(), 200);
    // The device has no notification address: no e-mail, but the in-app notification.
    let list = api.get("/api/v1/notifications", &s);
    assert_eq!(list.status, 200, "{list:?}");
    let items = list.body.as_array().expect("array");
    assert_eq!(items.len(), 1, "{list:?}");
    let n = &items[0];
    assert_eq!(
        (n["kind"].as_str(), n["channel"].as_str()),
        (Some("alarm"), Some(channel.as_str()))
    );
    assert_eq!(
        n["title"],
        "[Dairy] Threshold exceeded: Cold room / Probe / Temperature"
    );
    assert!(n["body"].as_str().expect("body").contains("Value 12.5 °C"));
    assert_eq!(n["readAt"], Value::Null);
    let nid = id(n);
    // Read: readAt set, and gone from the unread ones.
    let r = api.post(&format!("/api/v1/notifications/{nid}/read"), &s, json!({}));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body["readAt"].as_i64().is_some());
    let unread = api.get("/api/v1/notifications?unread=true", &s);
    assert_eq!(unread.body, json!([]));
    expect(
        &api.get("/api/v1/notifications?unread=maybe", &s),
        400,
        "invalid_request",
    );
    // Dismissed: gone; a second time, or an id that is not one, is 404.
    assert_eq!(
        api.delete(&format!("/api/v1/notifications/{nid}"), &s)
            .status,
        204
    );
    assert_eq!(api.get("/api/v1/notifications", &s).body, json!([]));
    expect(
        &api.delete(&format!("/api/v1/notifications/{nid}"), &s),
        404,
        "notification_not_found",
    );
    expect(
        &api.post("/api/v1/notifications/007/read", &s, json!({})),
        404,
        "notification_not_found",
    );
}

#[test]
fn admin_tenants_are_isolated_on_every_endpoint() {
    let api = start_open();
    let a = api.signup("Org A", "a@example.com");
    let b = api.signup("Org B", "b@example.com");
    let (device, sensor, channel) = api.structure(&a);
    let token = id(&api
        .post("/api/v1/tokens", &a, json!({"kind": "conduit"}))
        .body);
    let invitation = id(&api
        .post("/api/v1/invitations", &a, json!({"email": "i@example.com"}))
        .body);
    let member = api.add_member(&a, "m@example.com", json!({"modify": true}));
    let notification = notification_of(&api, &a, &channel);
    let incident = incident_of(&api, &a, &channel);
    let subscription = api.post(
        "/api/v1/notification-subscriptions",
        &a,
        json!({"channel": channel}),
    );
    assert_eq!(subscription.status, 201, "{subscription:?}");
    let subscription = id(&subscription.body);
    let view = api.post(
        "/api/v1/views",
        &a,
        json!({"name": "Floor", "kind": "plan", "placements": [{"device": device, "x": 0.5, "y": 0.5}]}),
    );
    assert_eq!(view.status, 201, "{view:?}");
    let view = id(&view.body);

    // Every route with a path parameter, tried by B's administrator with A's ids.
    let mut tried = BTreeSet::new();
    for &(method, path, _) in routes::ROUTES {
        let Some(param) = path.split('/').find(|s| s.starts_with(':')) else {
            continue;
        };
        if path.starts_with("/api/v1/operator/") {
            // The operator's routes name organizations and refuse every member (403
            // operator_only; tests/e2e/subscriptions.rs).
            continue;
        }
        let target = if path.starts_with("/api/v1/devices/") {
            &device
        } else if path.starts_with("/api/v1/sensors/") {
            &sensor
        } else if path.starts_with("/api/v1/channels/") {
            &channel
        } else if path.starts_with("/api/v1/tokens/") {
            &token
        } else if path.starts_with("/api/v1/invitations/") {
            &invitation
        } else if path.starts_with("/api/v1/members/") {
            &member.user
        } else if path.starts_with("/api/v1/notifications/") {
            &notification
        } else if path.starts_with("/api/v1/notification-subscriptions/") {
            &subscription
        } else if path.starts_with("/api/v1/views/") {
            &view
        } else if path.starts_with("/api/v1/incidents/") {
            &incident
        } else {
            panic!("no id of org A for {path}: add it to this test");
        };
        let url = path.replace(param, target);
        let body = match (method, path) {
            (_, p) if p.ends_with("/sensors") => json!({"name": "Intruder"}),
            (_, p) if p.ends_with("/channels") => {
                json!({"name": "Intruder", "communicationId": "9"})
            }
            ("PATCH", p) if p.starts_with("/api/v1/members/") => json!({"administrator": true}),
            ("PATCH", _) => json!({"name": "Hijacked"}),
            (_, p) if p.ends_with("/notification-reminder") => json!({"reminderSecs": 3600}),
            _ => json!({}),
        };
        let answer = api.send(method, &url, Some(&b.access), Some(&body));
        assert_eq!(answer.status, 404, "{method} {url}: {answer:?}");
        let code = answer.body["code"].as_str().unwrap_or_default();
        assert!(
            code.ends_with("_not_found") && code != "route_not_found",
            "{method} {url}: {answer:?}"
        );
        tried.insert((method, path));
    }
    assert!(tried.len() >= 17, "{tried:?}");

    // Creating a token for A's device, and B's lists: nothing of A's.
    let dt = api.post(
        "/api/v1/tokens",
        &b,
        json!({"kind": "device", "device": device}),
    );
    expect(&dt, 404, "device_not_found");
    for path in [
        "/api/v1/devices",
        "/api/v1/tokens",
        "/api/v1/invitations",
        "/api/v1/members",
        "/api/v1/notifications",
        "/api/v1/notification-subscriptions",
        "/api/v1/views",
        "/api/v1/incidents",
    ] {
        let list = api.get(path, &b);
        assert_eq!(list.status, 200, "{path}");
        let text = list.body.to_string();
        for secret_id in [
            &device,
            &sensor,
            &channel,
            &token,
            &invitation,
            &member.user,
            &a.user,
            &view,
        ] {
            assert!(
                !text.contains(secret_id.as_str()),
                "{path} shows {secret_id}: {text}"
            );
        }
    }
    assert_eq!(api.get("/api/v1/organization", &b).body["name"], "Org B");
    assert_eq!(api.get("/api/v1/me", &b).body["organization"], b.org);

    // A login naming A's organization is refused for B's user.
    let cross = api.anon(
        "POST",
        "/api/v1/login",
        json!({"email": "b@example.com", "password": "correct horse battery", "organization": a.org}),
    );
    expect(&cross, 403, "no_membership");

    // A correctly signed token claiming A's organization for B's user: not a member.
    let key = JwtKey::from_secret(SECRET.as_bytes()).expect("key");
    let forged = key
        .issue(
            UserId::parse(&b.user).expect("user"),
            OrgId::parse(&a.org).expect("org"),
            Timestamp::now(),
        )
        .expect("jwt");
    let forged = Session {
        access: forged,
        ..b.clone()
    };
    expect(&api.get("/api/v1/devices", &forged), 401, "token_revoked");

    // A's objects are untouched.
    assert_eq!(
        api.get(&format!("/api/v1/devices/{device}"), &a).body["name"],
        "Boiler"
    );
    assert_eq!(
        api.get(&format!("/api/v1/sensors/{sensor}"), &a).body["name"],
        "Probe"
    );
    let ch = api.get(&format!("/api/v1/channels/{channel}"), &a);
    assert_eq!(ch.body["name"], "Temperature");
    assert_eq!(
        ids(&api
            .get(&format!("/api/v1/sensors/{sensor}/channels"), &a)
            .body)
        .len(),
        1
    );
    let tokens = api.get("/api/v1/tokens?kind=conduit", &a);
    assert!(tokens.body[0]["revokedAt"].is_null(), "{tokens:?}");
    assert!(ids(&api.get("/api/v1/invitations", &a).body).contains(&invitation));
    let members = api.get("/api/v1/members", &a).body.to_string();
    assert!(members.contains(&member.user), "{members}");
    assert_eq!(
        api.get("/api/v1/me", &member).body["permissions"]["administrator"],
        false
    );
}

#[test]
fn admin_refuses_bad_access_tokens() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let api = start();
    let s = api.signup("Acme", "a@example.com");
    let with = |t: &str| Session {
        access: t.to_owned(),
        ..s.clone()
    };
    assert_eq!(api.get("/api/v1/me", &s).status, 200);

    expect(
        &api.send("GET", "/api/v1/me", None, None),
        401,
        "missing_credentials",
    );
    let basic = api
        .client
        .get(api.host.url("/api/v1/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .expect("request");
    assert!(basic.headers().contains_key("www-authenticate"));
    let basic = api.answer("GET", "/api/v1/me", basic);
    expect(&basic, 401, "invalid_authorization_header");

    let parts: Vec<&str> = s.access.split('.').collect();
    assert_eq!(parts.len(), 3);
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("payload"),
    )
    .expect("json");
    assert_eq!(payload["org"], s.org);
    assert_eq!(payload["sub"], s.user);

    let mut claims = payload.clone();
    claims["sub"] = json!("aaaaaaaaaaaaa");
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims.to_string()), parts[2]);
    let mut sig = parts[2].to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, flipped);
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], sig);
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let hs512 = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS512","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    let user = UserId::parse(&s.user).expect("user");
    let org = OrgId::parse(&s.org).expect("org");
    let conduit = api
        .post("/api/v1/tokens", &s, json!({"kind": "conduit"}))
        .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let other_key = JwtKey::from_secret(b"some other secret, also 32 bytes long").expect("key");
    let foreign = other_key.issue(user, org, Timestamp::now()).expect("jwt");
    for (what, token) in [
        ("garbage", "garbage"),
        ("three dots", "a.b.c"),
        ("tampered payload", tampered.as_str()),
        ("flipped signature", bad_sig.as_str()),
        ("alg none", none.as_str()),
        ("alg HS512", hs512.as_str()),
        ("another key", foreign.as_str()),
        ("refresh token as access token", s.refresh.as_str()),
        ("Conduit token as access token", conduit.as_str()),
    ] {
        let a = api.get("/api/v1/me", &with(token));
        expect(&a, 401, "invalid_token");
        assert!(!a.body.to_string().contains(&s.org), "{what}: {a:?}");
    }

    let key = JwtKey::from_secret(SECRET.as_bytes()).expect("key");
    let two_hours_ago = Timestamp::now().add_secs(-7200);
    let expired = key.issue(user, org, two_hours_ago).expect("jwt");
    expect(
        &api.get("/api/v1/me", &with(&expired)),
        401,
        "token_expired",
    );
    let fresh = key.issue(user, org, Timestamp::now()).expect("jwt");
    assert_eq!(api.get("/api/v1/me", &with(&fresh)).status, 200);
    let unknown_user = key
        .issue(
            UserId::parse("zzzzzzzzzzzzz").expect("id"),
            org,
            Timestamp::now(),
        )
        .expect("jwt");
    expect(
        &api.get("/api/v1/me", &with(&unknown_user)),
        401,
        "token_revoked",
    );
}

/// The operations of the OpenAPI document that need an access token (a `bearer` security
/// requirement and no anonymous alternative), as router paths.
fn authenticated_routes() -> BTreeSet<(String, String)> {
    let doc = openapi();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let security = op["security"]
                .as_array()
                .expect("security on every operation");
            let anonymous = security
                .iter()
                .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
            if !security.is_empty() && !anonymous {
                out.insert((method.to_uppercase(), router_path(path)));
            }
        }
    }
    out
}

#[test]
fn admin_authenticates_before_reading_the_request() {
    let api = start();
    let s = api.signup("Acme", "a@example.com");
    let needs_token = authenticated_routes();
    // The document says so of every route but the ones that establish who the caller is.
    use routes::Op;
    let anonymous = [
        Op::OpenApi,
        Op::Signup,
        Op::Login,
        Op::Refresh,
        Op::Logout,
        Op::AcceptInvitation,
    ];
    for &(method, path, op) in routes::ROUTES {
        let documented = needs_token.contains(&(method.to_owned(), path.to_owned()));
        assert_eq!(documented, !anonymous.contains(&op), "{method} {path}");
    }
    // Without credentials, with a malformed body and malformed ids: 401 on every endpoint that
    // needs an access token, before the body or the path is looked at.
    for (method, path) in &needs_token {
        let url = path
            .replace(":id", "not-an-id")
            .replace(":user_id", "not-an-id");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let resp = api
            .client
            .request(method.clone(), api.host.url(&url))
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .expect("request");
        let a = api.answer(method.as_str(), &url, resp);
        expect(&a, 401, "missing_credentials");
        // ... and a token that is not one is refused the same way
        let bad = Session {
            access: "garbage".into(),
            ..s.clone()
        };
        let a = api.send(method.as_str(), &url, Some(&bad.access), Some(&json!([1])));
        expect(&a, 401, "invalid_token");
    }
}

#[test]
fn admin_rate_limit_reaches_429_and_recovers() {
    let api = start_with(&[
        ("SPIN_VARIABLE_ALLOW_SIGNUP", "true"),
        ("SPIN_VARIABLE_ADMIN_RATE_LIMIT", "5"),
        // Long enough that the requests after the first 429 still fall in its window on a
        // loaded machine (a 2 s window let a debug host cross into the next one).
        ("SPIN_VARIABLE_ADMIN_RATE_LIMIT_WINDOW_SECS", "4"),
    ]);
    let s = api.signup("Acme", "a@example.com");
    let other = api.signup("Other", "o@example.com");
    // Windows are aligned to the clock, so the 429 comes within two windows' worth of calls.
    // Starting just after a window begins leaves the requests below the whole window.
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 4000);
    std::thread::sleep(Duration::from_millis(u64::try_from(4050 - ms).unwrap_or(0)));
    let limited = (0..12)
        .map(|_| api.get("/api/v1/me", &s))
        .find(|a| a.status == 429)
        .expect("a 429 within 12 requests at 5 per window");
    expect(&limited, 429, "rate_limited");
    assert_eq!(limited.body["limit"]["name"], "admin-api");
    assert_eq!(limited.body["limit"]["requests"], 5);
    assert_eq!(limited.body["limit"]["window_secs"], 4);
    let retry: u64 = limited
        .retry_after
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("Retry-After");
    assert!((1..=4).contains(&retry), "{retry}");
    // Counted before the request is read: a malformed one is refused by the limit too.
    let malformed = api.send(
        "POST",
        "/api/v1/devices",
        Some(&s.access),
        Some(&json!([1])),
    );
    expect(&malformed, 429, "rate_limited");
    expect(
        &api.get("/api/v1/devices/not-an-id", &s),
        429,
        "rate_limited",
    );
    // Counted per user: another user is not limited.
    assert_eq!(api.get("/api/v1/me", &other).status, 200);
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(api.get("/api/v1/me", &s).status, 200);

    // Password guessing is limited per e-mail address: 10 logins a minute (so within 21 tries,
    // even if the minute turns meanwhile).
    let wrong = json!({"email": "o@example.com", "password": "not the password"});
    let login = (0..21)
        .map(|_| api.anon("POST", "/api/v1/login", wrong.clone()))
        .find(|a| a.status != 401)
        .expect("a 429 within 21 logins");
    expect(&login, 429, "rate_limited");
    assert_eq!(login.body["limit"]["name"], "login");
    assert!(login.retry_after.is_some());
}

#[test]
fn admin_errors_are_json_with_stable_codes() {
    let api = start();
    let s = api.signup("Acme", "a@example.com");
    expect(&api.get("/api/v1/nowhere", &s), 404, "route_not_found");
    let wrong = api.send("PUT", "/api/v1/devices", Some(&s.access), None);
    expect(&wrong, 405, "method_not_allowed");
    assert_eq!(wrong.allow.as_deref(), Some("POST, GET"));
    let malformed = api
        .client
        .post(api.host.url("/api/v1/devices"))
        .header("authorization", format!("Bearer {}", s.access))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .expect("request");
    let malformed = api.answer("POST", "/api/v1/devices", malformed);
    expect(&malformed, 400, "invalid_request");
    expect(
        &api.post("/api/v1/devices", &s, json!([1, 2])),
        400,
        "invalid_request",
    );
    expect(
        &api.send("POST", "/api/v1/devices", Some(&s.access), None),
        400,
        "invalid_request",
    );
    let big = json!({"name": "Big", "descr": "x".repeat(70_000)});
    expect(
        &api.post("/api/v1/devices", &s, big),
        413,
        "payload_too_large",
    );
    expect(
        &api.get("/api/v1/devices/not-an-id", &s),
        404,
        "device_not_found",
    );
    expect(
        &api.get("/api/v1/devices/aaaaaaaaaaaaa", &s),
        404,
        "device_not_found",
    );
    expect(
        &api.delete("/api/v1/tokens/aaaaaaaaaaaaa", &s),
        404,
        "token_not_found",
    );
}

/// `{name}` segments as the router writes them (`:name`).
fn router_path(openapi_path: &str) -> String {
    openapi_path
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn admin_openapi_validation_refuses_what_the_document_does_not_say() {
    let device = json!({
        "key": 1, "id": "aaaaaaaaaaaaa", "uuid": "0b4f4b9e-5a6c-4a8e-9b1d-3c2e1f0a9b8c",
        "name": "Tank", "descr": "", "vendorId": "", "customerId": "", "networkId": null,
        "timeZone": 0, "usesDst": false, "location": null, "notificationEmail": null,
        "notificationsMinInterval": 600, "meta": {}, "notificationVerified": false,
        "createdAt": 1, "updatedAt": 1
    });
    let schema = "/components/schemas/Device";
    assert_eq!(validate(schema, &device), Ok(()));
    let mut missing = device.clone();
    missing.as_object_mut().expect("object").remove("uuid");
    assert!(validate(schema, &missing).is_err(), "a required field");
    let mut extra = device.clone();
    extra["secret"] = json!("x");
    assert!(validate(schema, &extra).is_err(), "an undocumented field");
    let mut wrong = device.clone();
    wrong["location"] = json!({"lon": 200.0, "lat": 0.0});
    assert!(validate(schema, &wrong).is_err(), "out of range");

    let pair = json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 900,
                      "refresh_token": "flr_x", "organization": "aaaaaaaaaaaaa",
                      "user": "bbbbbbbbbbbbb"});
    let schema = "/components/schemas/TokenPair";
    assert_eq!(validate(schema, &pair), Ok(()));
    let mut objects = pair.clone();
    objects["organization"] = json!({"id": "aaaaaaaaaaaaa"});
    assert!(validate(schema, &objects).is_err(), "ids, not objects");
    assert!(validate("/components/schemas/Error", &json!({"code": "x"})).is_err());

    // A status the operation does not document, a body where none is documented.
    let undocumented = std::panic::catch_unwind(|| {
        conforms(
            "GET",
            "/api/v1/me",
            409,
            Some("application/json"),
            false,
            "{}",
        )
    });
    assert!(undocumented.is_err());
    let body_on_204 = std::panic::catch_unwind(|| {
        conforms(
            "DELETE",
            "/api/v1/devices/aaaaaaaaaaaaa",
            204,
            None,
            false,
            "{}",
        )
    });
    assert!(body_on_204.is_err());
    conforms(
        "DELETE",
        "/api/v1/devices/aaaaaaaaaaaaa",
        204,
        None,
        false,
        "",
    );
}

#[test]
fn admin_openapi_document_matches_the_router() {
    let api = start();
    let a = api.send("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(a.status, 200);
    let doc = a.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("functions/admin/openapi.json")).expect("file"),
    )
    .expect("json");
    assert_eq!(doc, on_disk, "the served document is the file");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            documented.insert((method.to_uppercase(), router_path(path)));
            assert!(op["responses"].is_object(), "{method} {path}");
            assert!(op["operationId"].is_string(), "{method} {path}");
        }
    }
    let routed: BTreeSet<(String, String)> = routes::ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from openapi.json"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented operations the router does not have"
    );

    // Each route of the table is served by the component (not the router's 404 or 405).
    for &(method, path, _) in routes::ROUTES {
        let url = path
            .split('/')
            .map(|s| {
                if s.starts_with(':') {
                    "aaaaaaaaaaaaa"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let answer = api.send(method, &url, None, None);
        assert!(
            answer.status != 405 && answer.body["code"] != "route_not_found",
            "{method} {path}: {answer:?}"
        );
        assert!(
            answer.body["code"].is_string() || answer.status == 200,
            "{method} {path}"
        );
    }
}

/// maildev's HTTP API (scripts/test starts it; SMTP on 127.0.0.1:1025, the notifier's default).
fn maildev_api() -> String {
    std::env::var("FIELDLINE_MAILDEV_API").unwrap_or_else(|_| "http://127.0.0.1:1080".into())
}

/// The e-mails maildev holds for `to`.
fn inbox(to: &str) -> Vec<Value> {
    let api = maildev_api();
    let all: Vec<Value> = Client::new()
        .get(format!("{api}/email"))
        .send()
        .unwrap_or_else(|e| panic!("maildev's API at {api} (scripts/test starts it): {e}"))
        .json()
        .expect("maildev lists e-mails as JSON");
    all.into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["address"] == to))
        })
        .collect()
}

/// Waits (bounded, 60 s) until `to` has at least `n` e-mails.
fn wait_inbox(to: &str, n: usize) -> Vec<Value> {
    for _ in 0..120 {
        let got = inbox(to);
        if got.len() >= n {
            return got;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{n} e-mails to {to} within 60 s: {:?}", inbox(to));
}

#[test]
fn admin_topic_subscriptions_and_do_not_disturb_decide_who_is_alerted_end_to_end() {
    const OPERATOR: &str = "operator-credential-hexa-0123";
    let api = start_with(&[
        ("SPIN_VARIABLE_OPERATOR_TOKEN", OPERATOR),
        ("SPIN_VARIABLE_ALLOW_SIGNUP", "true"),
    ]);
    // Unique addresses: tests share one maildev.
    let tag = format!("{}-{}", std::process::id(), Timestamp::now().as_millis());
    let addr = |who: &str| format!("{who}-{tag}@hexa.example");
    let a = api.signup("Dairy", &addr("admin"));
    let watcher = api.add_member(&a, &addr("watcher"), json!({}));
    let sleeper = api.add_member(&a, &addr("sleeper"), json!({}));
    let idle = api.add_member(&a, &addr("idle"), json!({}));
    let b = api.signup("Other", &addr("other"));
    let (device, sensor, _) = api.structure(&a);
    let mut channels = Vec::new();
    for comm in ["11", "12"] {
        let c = api.post(
            &format!("/api/v1/sensors/{sensor}/channels"),
            &a,
            json!({"name": format!("T{comm}"), "communicationId": comm, "unit": "°C",
                   "thresholds": {"first": {"op": ">", "value": 8}}}),
        );
        assert_eq!(c.status, 201, "{c:?}");
        channels.push(id(&c.body));
    }
    // watcher: channel T11 by e-mail; sleeper: the whole organization by e-mail, in a
    // do-not-disturb period that ends in 20 s; idle: nothing; Other's administrator: all of
    // Other's (and cannot reach Dairy's).
    let w = api.post(
        "/api/v1/notification-subscriptions",
        &watcher,
        json!({"channel": channels[0], "kinds": ["alarm"]}),
    );
    assert_eq!(w.status, 201, "{w:?}");
    assert_eq!(
        (
            w.body["scope"].as_str(),
            w.body["channel"].as_str(),
            w.body["email"].as_bool()
        ),
        (Some("channel"), Some(channels[0].as_str()), Some(true))
    );
    let s = api.post("/api/v1/notification-subscriptions", &sleeper, json!({}));
    assert_eq!(s.status, 201, "{s:?}");
    assert_eq!(s.body["kinds"], json!(["alarm", "normal", "reminder"]));
    let now = Timestamp::now().as_millis();
    let until = now + 20_000;
    let dnd = api.send(
        "PUT",
        "/api/v1/notification-settings/do-not-disturb",
        Some(&sleeper.access),
        Some(&json!({"periods": [{"from": now - 60_000, "to": until}]})),
    );
    assert_eq!(dnd.status, 200, "{dnd:?}");
    let o = api.post("/api/v1/notification-subscriptions", &b, json!({}));
    assert_eq!(o.status, 201, "{o:?}");
    expect(
        &api.post(
            "/api/v1/notification-subscriptions",
            &b,
            json!({"channel": channels[0]}),
        ),
        404,
        "channel_not_found",
    );
    expect(
        &api.delete(
            &format!("/api/v1/notification-subscriptions/{}", id(&w.body)),
            &b,
        ),
        404,
        "subscription_not_found",
    );
    // Both channels exceed their threshold; one notifier run.
    {
        use fieldline_storage as storage;
        let db = api.host.storage().expect("the host's database");
        let tenant = storage::tenant(&db, OrgId::parse(&a.org).expect("org")).expect("tenant");
        for (c, v) in channels.iter().zip([12.5, 20.0]) {
            let ch = fieldline_domain::ChannelId::parse(c).expect("channel id");
            let cref = storage::channel_ref(&db, &tenant, ch).expect("channel");
            let p = fieldline_domain::Point::new(Timestamp::now(), v).expect("point");
            storage::write_points(&db, &tenant, &[(cref, p)]).expect("write");
        }
    }
    let run = || {
        let r = api
            .client
            .post(api.host.url("/notifier/run"))
            .bearer_auth(OPERATOR)
            .send()
            .expect("run");
        assert_eq!(r.status().as_u16(), 200);
        r.json::<Value>().expect("report")
    };
    let report = run();
    // The watcher's alert arrives in the real mail server, about T11 only.
    let mails = wait_inbox(&addr("watcher"), 1);
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0]["subject"], "[Dairy] Threshold exceeded: Boiler / Probe / T11",
        "{report}"
    );
    // In-app: the watcher has T11's, the sleeper both (in-app is not held), idle and Other's
    // administrator nothing.
    let list = |who: &Session| api.get("/api/v1/notifications", who).body;
    let wl = list(&watcher);
    assert_eq!(wl.as_array().map(Vec::len), Some(1), "{wl}");
    assert_eq!(wl[0]["channel"], channels[0].as_str());
    let sl = list(&sleeper);
    assert_eq!(sl.as_array().map(Vec::len), Some(2), "{sl}");
    assert_eq!(list(&idle), json!([]));
    assert_eq!(list(&b), json!([]));
    assert_eq!(list(&a), json!([]));
    // Read and dismissed are each member's own.
    let nid = id(&wl[0]);
    let r = api.post(
        &format!("/api/v1/notifications/{nid}/read"),
        &watcher,
        json!({}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        api.delete(&format!("/api/v1/notifications/{nid}"), &watcher)
            .status,
        204
    );
    assert_eq!(list(&watcher), json!([]));
    let unread = api.get("/api/v1/notifications?unread=true", &sleeper).body;
    assert_eq!(unread.as_array().map(Vec::len), Some(2), "{unread}");
    expect(
        &api.post(
            &format!("/api/v1/notifications/{nid}/read"),
            &idle,
            json!({}),
        ),
        404,
        "notification_not_found",
    );
    // The sleeper gets nothing during the period; then ONE digest with both alerts, once.
    std::thread::sleep(Duration::from_secs(2));
    assert!(inbox(&addr("sleeper")).is_empty());
    while Timestamp::now().as_millis() <= until {
        std::thread::sleep(Duration::from_millis(500));
    }
    run();
    let digest = wait_inbox(&addr("sleeper"), 1);
    run();
    std::thread::sleep(Duration::from_secs(2));
    let digest_again = inbox(&addr("sleeper"));
    assert_eq!(digest_again.len(), 1, "{digest_again:?}");
    assert_eq!(
        digest[0]["subject"],
        "Digest: 2 notifications held during do-not-disturb"
    );
    let text = digest[0]["text"].as_str().expect("text");
    for part in [
        "[Dairy] Threshold exceeded: Boiler / Probe / T11",
        "[Dairy] Threshold exceeded: Boiler / Probe / T12",
        "Value 12.5 °C",
        "Value 20 °C",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    // Nobody else got mail.
    for who in ["idle", "other", "admin"] {
        assert!(inbox(&addr(who)).is_empty(), "{who}");
    }
    assert_eq!(inbox(&addr("watcher")).len(), 1);

    // The do-not-disturb settings read back; bad ones are refused.
    let got = api.get("/api/v1/notification-settings/do-not-disturb", &sleeper);
    assert_eq!(got.body["periods"][0]["to"], until, "{got:?}");
    assert_eq!(
        api.get("/api/v1/notification-settings/do-not-disturb", &idle)
            .body,
        json!({"daily": null, "timeZone": null, "periods": []})
    );
    for bad in [
        json!({"daily": {"from": "22:00", "to": "22:00"}}),
        json!({"daily": {"from": "25:00", "to": "07:00"}}),
        json!({"timeZone": "Mars/Olympus"}),
        json!({"periods": [{"from": 5, "to": 5}]}),
        json!({"quiet": true}),
    ] {
        let r = api.send(
            "PUT",
            "/api/v1/notification-settings/do-not-disturb",
            Some(&idle.access),
            Some(&bad),
        );
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }
    let ok = api.send(
        "PUT",
        "/api/v1/notification-settings/do-not-disturb",
        Some(&idle.access),
        Some(&json!({"daily": {"from": "22:00", "to": "07:00"}, "timeZone": "Europe/Rome"})),
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    // Subscriptions: listed, bad ones refused, removed.
    let mine = api.get("/api/v1/notification-subscriptions", &watcher).body;
    assert_eq!(ids(&mine), vec![id(&w.body)]);
    for bad in [
        json!({"kinds": []}),
        json!({"kinds": ["panic"]}),
        json!({"device": device, "channel": channels[0]}),
        json!({"topic": "all"}),
    ] {
        let r = api.post("/api/v1/notification-subscriptions", &watcher, bad.clone());
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }
    expect(
        &api.post(
            "/api/v1/notification-subscriptions",
            &watcher,
            json!({"device": "aaaaaaaaaaaaa"}),
        ),
        404,
        "device_not_found",
    );
    assert_eq!(
        api.delete(
            &format!("/api/v1/notification-subscriptions/{}", id(&w.body)),
            &watcher
        )
        .status,
        204
    );
    assert_eq!(
        api.get("/api/v1/notification-subscriptions", &watcher).body,
        json!([])
    );

    // The device's reminder period: off by default, set by a member who may modify.
    let path = format!("/api/v1/devices/{device}/notification-reminder");
    assert_eq!(api.get(&path, &idle).body, json!({"reminderSecs": null}));
    let put = |who: &Session, body: Value| api.send("PUT", &path, Some(&who.access), Some(&body));
    assert_eq!(put(&idle, json!({"reminderSecs": 3600})).status, 403);
    for bad in [
        json!({"reminderSecs": 5}),
        json!({}),
        json!({"reminderSecs": "1h"}),
    ] {
        assert_eq!(put(&a, bad.clone()).status, 400, "{bad}");
    }
    let r = put(&a, json!({"reminderSecs": 3600}));
    assert_eq!((r.status, &r.body), (200, &json!({"reminderSecs": 3600})));
    assert_eq!(api.get(&path, &idle).body, json!({"reminderSecs": 3600}));
    expect(&api.get(&path, &b), 404, "device_not_found");
    assert_eq!(put(&a, json!({"reminderSecs": null})).status, 200);
    assert_eq!(api.get(&path, &a).body, json!({"reminderSecs": null}));
}
