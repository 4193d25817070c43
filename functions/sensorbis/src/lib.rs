//! Sensorbis: the management API (`POST /V0100/Service.svc/rest/{Method}`, the 13 methods of
//! the document, JSON as its Request and Response tables nest them, `Authorization: Basic
//! <token>` with the federation token or a device token, errors `{"error": <code>, "message"}`
//! as its table), its help page and OpenAPI document, and the device push (`POST
//! /V0100/push/<device id>`). A thin adapter: fields are the domain's types, permissions the
//! domain's `authorize`, storage the ports, and pushed values go through the one ingestion path.
//! SOAP and WSDL are not served.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod fields;
mod methods;
mod ops;
mod push;

use fieldline_component::{header, open_store, variable};
use fieldline_domain::{SealKey, Timestamp};
use fieldline_service::sensorbis as sb;
use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

use crate::error::{internal, SbError, SbResult};
use crate::ops::{HELP, OPENAPI, OPS, PUSH, REST};

/// The OpenAPI 3.1 document of this API; `tests/e2e/sensorbis.rs` checks it against [`OPS`].
pub const OPENAPI_DOC: &str = include_str!("../openapi.json");

/// Management requests above this are refused (error 10): 10 devices of 10 sensors of 10
/// channels with every text at its longest stay below it.
const MAX_BODY_BYTES: u64 = 8 << 20;

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().to_owned();
    if let Some(device) = path.strip_prefix(PUSH) {
        return push::handle(&req, device);
    }
    let get = *req.method() == Method::Get;
    if path == HELP && get {
        return help();
    }
    if path == OPENAPI && get {
        return Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(OPENAPI_DOC)
            .build();
    }
    let Some(name) = path.strip_prefix(REST).and_then(|p| p.strip_prefix('/')) else {
        return SbError::bad_request(format!(
            "no resource {path}; the methods are POST {REST}/{{Method}} (see GET {HELP})"
        ))
        .into_response();
    };
    if *req.method() != Method::Post {
        return SbError::bad_request(format!(
            "{path}: requests use the POST method (see GET {HELP})"
        ))
        .into_response();
    }
    match management(&req, name) {
        Ok(v) => Response::builder()
            .status(200)
            .header("content-type", "application/json; charset=utf-8")
            .body(v.to_string())
            .build(),
        Err(e) => e.into_response(),
    }
}

fn management(req: &Request, name: &str) -> SbResult<Value> {
    let op = ops::op(name)
        .ok_or_else(|| SbError::bad_request(format!("no method {name:?}; see GET {HELP}")))?;
    let body = fieldline_component::body(req, MAX_BODY_BYTES).map_err(|e| match e {
        fieldline_component::BodyError::TooLarge => {
            SbError::bad_request(format!("the body is above {MAX_BODY_BYTES} bytes"))
        }
        fieldline_component::BodyError::Bad(m) => SbError::bad_request(m),
    })?;
    let store = open_store()?;
    let now = Timestamp::now();
    let caller = sb::management_caller(&store, header(req, "authorization"), now)?;
    sb::require_subscription(&caller.organization, now)?;
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| SbError::bad_request(format!("the body is not valid JSON: {e}")))?
    };
    let key = seal_key()?;
    let base_url = base_url(req);
    let call = methods::Call {
        store: &store,
        caller,
        key: &key,
        base_url: &base_url,
        now,
    };
    methods::call(op, &call, &body)
}

/// The key device secrets are sealed with (the secret variable `sensorbis_secret`).
fn seal_key() -> SbResult<SealKey> {
    let secret = variable("sensorbis_secret").ok_or_else(|| {
        internal(
            "the Spin variable `sensorbis_secret` is not set: set SPIN_VARIABLE_SENSORBIS_SECRET \
             (scripts/up generates one into .spin/sensorbis-secret)",
        )
    })?;
    SealKey::from_secret(secret.as_bytes())
        .map_err(|e| internal(&format!("Spin variable `sensorbis_secret`: {e}")))
}

/// Where devices push: the `public_base_url` variable, else the request's own scheme and host.
fn base_url(req: &Request) -> String {
    if let Some(base) = variable("public_base_url") {
        return base.trim_end_matches('/').to_owned();
    }
    let full = header(req, "spin-full-url").unwrap_or("");
    match full.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => String::new(),
    }
}

/// The operations, as the document's help page lists them.
fn help() -> Response {
    let mut rows = String::new();
    for (name, _, descr) in OPS {
        rows.push_str(&format!(
            "<tr><td><a href=\"#{name}\">{REST}/{name}</a></td><td>POST</td><td id=\"{name}\">{descr}</td></tr>\n"
        ));
    }
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Operations at \
         {REST}</title></head><body>\n<h1>Operations at {REST}</h1>\n<p>This page describes \
         the service endpoint. Requests are JSON, <code>Authorization: Basic \
         &lt;token&gt;</code>. The formal description of requests and responses is the \
         OpenAPI document at <a href=\"{OPENAPI}\">{OPENAPI}</a> (SOAP and WSDL are not \
         served).</p>\n<table>\n<tr><th>Uri</th><th>Method</th><th>Description</th></tr>\n\
         {rows}</table>\n<p>Devices push telemetry with POST to the <code>uri</code> each \
         device is given ({PUSH}&lt;device id&gt;).</p>\n</body></html>\n"
    );
    Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .body(page)
        .build()
}
