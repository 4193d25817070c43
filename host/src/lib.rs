//! Fieldline's Spin-compatible host: runs a `spin.toml` application on wasmtime the way `spin up`
//! does — HTTP, cron and MQTT triggers, key-value, SQLite, variables, outbound HTTP, MQTT and PostgreSQL.

pub use fieldline_host_config::{allowed_hosts, cron, manifest, routes, runtime_config};
pub mod app;
pub mod backup;
pub mod bindings;
pub mod cron_trigger;
pub mod db;
pub mod deadline;
pub mod files;
pub mod http_trigger;
pub mod kv;
pub mod metrics;
pub mod mqtt;
pub mod mqtt_trigger;
pub mod outbound_http;
pub mod postgres;
pub mod sqlite;
pub mod state;
pub mod stdio;
pub mod telemetry;
pub mod variables;

pub use app::{App, Options};
pub use manifest::Manifest;
