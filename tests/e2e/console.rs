//! The web console's serving (issue 20, item 1): the console component answers every path no
//! API route claims (the most specific route wins, so every API keeps its own), with content
//! types, ETags and 304s, a year of caching for hashed assets and revalidation for the rest,
//! gzip copies made at build time, a strict Content-Security-Policy, and `index.html` for the
//! application's own routes. Also the two admin endpoints the console needed: switching
//! organizations (`POST /api/v1/switch`) and the subscription's usage
//! (`GET /api/v1/organization/usage`). The screens themselves are tested in Chromium by
//! `scripts/console-test` (Playwright, `web/tests/`).

use std::io::Read;

use fieldline_tests::{client, Start, TestHost};
use serde_json::{json, Value};

fn start() -> TestHost {
    Start::app()
        .env("SPIN_VARIABLE_ALLOW_SIGNUP", "true")
        .start()
        .expect("host starts")
}

fn get(h: &TestHost, path: &str, headers: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut r = client().get(h.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().expect("request")
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
        .unwrap_or_default()
}

/// The console's index page, and the script it loads (the one hashed asset every build has).
fn index_and_script(h: &TestHost) -> (String, String) {
    let r = get(h, "/", &[]);
    assert_eq!(
        r.status().as_u16(),
        200,
        "the console is not built into console.wasm? {}",
        r.text().unwrap_or_default()
    );
    let html = r.text().expect("body");
    let start = html
        .find("src=\"/assets/")
        .expect("a script under /assets/")
        + 5;
    let end = start + html[start..].find('"').expect("closing quote");
    (html.clone(), html[start..end].to_owned())
}

#[test]
fn console_index_is_html_revalidated_with_a_strict_policy() {
    let h = start();
    let r = get(&h, "/", &[]);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let csp = header(&r, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let etag = header(&r, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let html = r.text().expect("body");
    // No inline script: every <script> loads a file (the CSP would block anything else).
    for tag in html.split("<script").skip(1) {
        assert!(
            tag.split('>').next().unwrap_or("").contains("src="),
            "{html}"
        );
    }
    // The application's routes are the same page; other paths that name no file are 404.
    for route in ["/structure", "/chart", "/invitation/abc"] {
        let r = get(&h, route, &[]);
        assert_eq!(r.status().as_u16(), 200, "{route}");
        assert_eq!(header(&r, "etag"), etag, "{route}");
    }
    assert_eq!(
        get(&h, "/assets/missing-123.js", &[]).status().as_u16(),
        404
    );
    assert_eq!(get(&h, "/favicon.ico", &[]).status().as_u16(), 404);
    let r = client().post(h.url("/")).body("x").send().expect("request");
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD");
    // The manifest and the service worker are served with their types, revalidated.
    let m = get(&h, "/manifest.webmanifest", &[]);
    assert_eq!(
        header(&m, "content-type"),
        "application/manifest+json; charset=utf-8"
    );
    let sw = get(&h, "/sw.js", &[]);
    assert_eq!(header(&sw, "cache-control"), "no-cache");
    assert!(header(&sw, "content-type").starts_with("text/javascript"));
}

#[test]
fn console_assets_are_cached_for_a_year_gzipped_and_answer_304() {
    let h = start();
    let (_, script) = index_and_script(&h);
    let plain = get(&h, &script, &[]);
    assert_eq!(plain.status().as_u16(), 200);
    assert_eq!(
        header(&plain, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&plain, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(header(&plain, "vary"), "accept-encoding");
    let etag = header(&plain, "etag");
    let bytes = plain.bytes().expect("body");

    let gz = get(&h, &script, &[("accept-encoding", "br, gzip")]);
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(header(&gz, "etag"), etag);
    let compressed = gz.bytes().expect("body");
    assert!(
        compressed.len() < bytes.len() / 2,
        "gzip should shrink JavaScript"
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, bytes.to_vec());
    assert_eq!(
        header(
            &get(&h, &script, &[("accept-encoding", "gzip;q=0")]),
            "content-encoding"
        ),
        ""
    );

    let r = get(&h, &script, &[("if-none-match", &etag)]);
    assert_eq!(r.status().as_u16(), 304);
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().expect("body").is_empty());
    let r = get(&h, &script, &[("if-none-match", "\"something-else\"")]);
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn console_route_leaves_every_api_its_own() {
    let h = start();
    // Exact and wildcard API routes still reach their components, never the console's page.
    let r = get(&h, "/health", &[]);
    assert_eq!(r.status().as_u16(), 200);
    assert!(header(&r, "content-type").starts_with("application/json"));
    for (path, status) in [
        ("/api/v1/me", 401),
        ("/api/v1/no-such-endpoint", 404),
        ("/api/v1/export", 401),
        ("/conduitv4", 401),
        ("/epts/last", 401),
    ] {
        let r = get(&h, path, &[]);
        assert_eq!(r.status().as_u16(), status, "{path}");
        let text = r.text().expect("body");
        assert!(
            !text.contains("<!doctype html>"),
            "{path} answered the console: {text}"
        );
    }
    let r = get(&h, "/ping", &[]);
    assert_eq!(r.status().as_u16(), 204);
    assert!(!header(&r, "x-influxdb-version").is_empty());
    let r = get(&h, "/api/v1/openapi.json", &[]);
    assert_eq!(r.status().as_u16(), 200);
    let doc: Value = r.json().expect("JSON");
    assert!(doc["paths"]["/api/v1/switch"].is_object());
}

fn post(h: &TestHost, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = client().post(h.url(path)).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn get_json(h: &TestHost, path: &str, token: &str) -> (u16, Value) {
    let r = client()
        .get(h.url(path))
        .bearer_auth(token)
        .send()
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn sign_up(h: &TestHost, org: &str, email: &str) -> Value {
    let (s, b) = post(
        h,
        "/api/v1/signup",
        None,
        &json!({"organization": org, "email": email, "password": "correct horse battery"}),
    );
    assert_eq!(s, 201, "{b}");
    b
}

#[test]
fn switching_organizations_needs_a_membership_and_names_them() {
    let h = start();
    let alice = sign_up(&h, "Acme Dairy", "alice@example.com");
    let bob = sign_up(&h, "Bob Farms", "bob@example.com");
    let bob_token = bob["access_token"].as_str().expect("token");
    let bob_org = bob["organization"].as_str().expect("org");
    let alice_token = alice["access_token"].as_str().expect("token");
    let alice_org = alice["organization"].as_str().expect("org");

    // Alice is not in Bob's organization: no session there.
    let (s, b) = post(
        &h,
        "/api/v1/switch",
        Some(alice_token),
        &json!({"organization": bob_org}),
    );
    assert_eq!((s, b["code"].as_str()), (403, Some("no_membership")), "{b}");
    let (s, _) = post(
        &h,
        "/api/v1/switch",
        None,
        &json!({"organization": bob_org}),
    );
    assert_eq!(s, 401);
    let (s, b) = post(&h, "/api/v1/switch", Some(alice_token), &json!({}));
    assert_eq!(s, 400, "{b}");

    // Bob invites Alice, who accepts while signed in: two memberships, named.
    let (s, inv) = post(
        &h,
        "/api/v1/invitations",
        Some(bob_token),
        &json!({"email": "alice@example.com", "permissions": {"download": true}}),
    );
    assert_eq!(s, 201, "{inv}");
    let (s, b) = post(
        &h,
        "/api/v1/invitations/accept",
        Some(alice_token),
        &json!({"token": inv["token"]}),
    );
    assert_eq!(s, 201, "{b}");
    let (s, me) = get_json(&h, "/api/v1/me", alice_token);
    assert_eq!(s, 200, "{me}");
    let names: Vec<(&str, &str)> = me["memberships"]
        .as_array()
        .expect("memberships")
        .iter()
        .map(|m| {
            (
                m["organization"].as_str().expect("id"),
                m["name"].as_str().expect("name"),
            )
        })
        .collect();
    assert_eq!(names, [(alice_org, "Acme Dairy"), (bob_org, "Bob Farms")]);

    let (s, b) = post(
        &h,
        "/api/v1/switch",
        Some(alice_token),
        &json!({"organization": bob_org}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["organization"], bob_org);
    let there = b["access_token"].as_str().expect("token");
    let (_, me) = get_json(&h, "/api/v1/me", there);
    assert_eq!(me["organization"], bob_org);
    assert_eq!(me["permissions"]["download"], true);
    assert_eq!(me["permissions"]["administrator"], false);
    // The new refresh token continues the session in that organization.
    let (s, r) = post(
        &h,
        "/api/v1/refresh",
        None,
        &json!({"refresh_token": b["refresh_token"]}),
    );
    assert_eq!((s, &r["organization"]), (200, &json!(bob_org)), "{r}");
}

#[test]
fn usage_counts_the_points_accepted_this_hour() {
    let h = start();
    let alice = sign_up(&h, "Acme Dairy", "alice@example.com");
    let t = alice["access_token"].as_str().expect("token");
    let (s, u) = get_json(&h, "/api/v1/organization/usage", t);
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["pointsThisHour"], 0);
    assert_eq!(u["emailsToday"], 0);
    let (_, org) = get_json(&h, "/api/v1/organization", t);
    assert_eq!(u["pointsPerHour"], org["subscription"]["pointsPerHour"]);
    assert_eq!(
        u["notificationEmailsPerDay"],
        org["subscription"]["notificationEmailsPerDay"]
    );

    // Three points through AlphaX Conduit v2.
    let (s, d) = post(
        &h,
        "/api/v1/devices",
        Some(t),
        &json!({"name": "Tank", "networkId": "70B3D32111BD648F7"}),
    );
    assert_eq!(s, 201, "{d}");
    let (s, k) = post(
        &h,
        "/api/v1/tokens",
        Some(t),
        &json!({"kind": "conduit", "name": "t", "services": {"http": true}}),
    );
    assert_eq!(s, 201, "{k}");
    let now = fieldline_domain::Timestamp::now().as_millis();
    let (s, b) = post(
        &h,
        "/post/v2",
        None,
        &json!({"token": k["secret"], "networkId": "70B3D32111BD648F7", "timestamp": now,
                "data": [{"channelId": 1, "value": 1.5}, {"channelId": 2, "value": 2},
                         {"channelId": 3, "value": 3}]}),
    );
    assert_eq!(s, 200, "{b}");
    let (_, u) = get_json(&h, "/api/v1/organization/usage", t);
    assert_eq!(u["pointsThisHour"], 3, "{u}");
    assert_eq!(u["hourStart"], now - now % 3_600_000);
}
