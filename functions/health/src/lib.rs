//! `GET /health`: the version, and whether the application's store (the default SQLite database,
//! or the PostgreSQL server when the variable `storage` says `postgres`: docs/storage.md) and the
//! key-value store answer.

use serde_json::json;
use spin_sdk::http::{Params, Request, Response, Router};
use spin_sdk::http_component;
use spin_sdk::{key_value, pg4, sqlite, variables};

#[http_component]
fn handle(req: Request) -> Response {
    let mut router = Router::new();
    router.get("/health", health);
    router.any("/health", method_not_allowed);
    router.any("/*", not_found);
    router.handle(req)
}

fn health(_req: Request, _params: Params) -> Response {
    // The store the other components use: a platform without SQLite (Akamai Functions) runs on
    // PostgreSQL, where checking SQLite would report a failure that does not matter.
    let backend = variables::get("storage").unwrap_or_else(|_| "sqlite".into());
    let (store, store_error) = if backend == "postgres" {
        ("postgres", check_postgres().err())
    } else {
        ("sqlite", check_sqlite().err())
    };
    let key_value = check_key_value().err();
    let status = if store_error.is_none() && key_value.is_none() {
        200
    } else {
        503
    };
    let mut body = json!({
        "name": "fieldline",
        "version": env!("CARGO_PKG_VERSION"),
        "storage": store,
        "key_value": key_value.as_deref().unwrap_or("ok"),
    });
    body[store] = json!(store_error.as_deref().unwrap_or("ok"));
    json_response(status, &body)
}

/// One round trip to the server at `postgres_url`. The answer never repeats the URL (it holds
/// the password), only what the server or the connection said.
fn check_postgres() -> Result<(), String> {
    let url = variables::get("postgres_url").map_err(|e| format!("error: {e}"))?;
    if url.is_empty() {
        return Err("error: storage is \"postgres\" but postgres_url is empty".into());
    }
    pg4::Connection::open(&url)
        .and_then(|db| db.query("SELECT 1", &[]))
        .map(drop)
        .map_err(|e| match e {
            pg4::PgError::ConnectionFailed(msg) => format!("error: connection failed ({msg})"),
            other => format!("error: {other:?}"),
        })
}

fn check_sqlite() -> Result<(), String> {
    use sqlite::Error as E;
    sqlite::Connection::open_default()
        .and_then(|db| db.execute("SELECT 1", &[]))
        .map(drop)
        .map_err(|e| match e {
            E::AccessDenied => {
                "error: AccessDenied (add \"default\" to sqlite_databases in spin.toml)".into()
            }
            E::NoSuchDatabase => "error: NoSuchDatabase (no database labelled \"default\")".into(),
            E::Io(msg) => format!("error: Io ({msg})"),
            other => format!("error: {other:?}"),
        })
}

fn check_key_value() -> Result<(), String> {
    use key_value::Error as E;
    key_value::Store::open_default()
        .and_then(|store| store.get("health"))
        .map(drop)
        .map_err(|e| match e {
            E::AccessDenied => {
                "error: AccessDenied (add \"default\" to key_value_stores in spin.toml)".into()
            }
            E::NoSuchStore => "error: NoSuchStore (no store labelled \"default\")".into(),
            E::Other(msg) => format!("error: Other ({msg})"),
            other => format!("error: {other:?}"),
        })
}

fn method_not_allowed(_req: Request, _params: Params) -> Response {
    let mut resp = json_response(405, &json!({ "error": "method not allowed" }));
    resp.set_header("allow", "GET");
    resp
}

fn not_found(_req: Request, _params: Params) -> Response {
    json_response(404, &json!({ "error": "not found" }))
}

fn json_response(status: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
