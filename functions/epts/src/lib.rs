//! Proficloud's time-series API (`/epts/token`, `/epts/last`, `/epts/data`) and the InfluxDB 1.x
//! HTTP API it builds on (`/query` with InfluxQL, `/write` with line protocol, `/ping`), over
//! the shared model: a measurement is a channel's communicationId, its tags the device's UUID,
//! name and network id and the sensor's name and the channel's unit, its one field `value`.
//! The query engine is `fieldline_domain::query`, the line protocol `fieldline_domain::
//! line_protocol`, storage `fieldline_storage`; this crate decodes HTTP and authenticates.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

mod auth;
mod epts;
mod influx;
mod wire;

#[http_component]
fn handle(req: Request) -> Response {
    match req.path() {
        "/epts/token" => epts::token(&req),
        "/epts/last" => epts::last(&req),
        "/epts/data" => epts::data(&req),
        "/query" => influx::query(&req),
        "/write" => influx::write(&req),
        "/ping" => influx::ping(&req),
        path if path.starts_with("/epts/") => epts::not_found(&req),
        // InfluxDB's answer to any other path.
        _ => wire::text(404, "404 page not found\n"),
    }
}
