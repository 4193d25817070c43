//! What the fieldline host reads before it runs anything, apart from the runtime (wasmtime) so
//! that it can be tested and fuzzed on its own: the `spin.toml` manifest, the runtime config,
//! HTTP routes, cron expressions, `allowed_outbound_hosts` entries and variable templates.

pub mod allowed_hosts;
pub mod cron;
pub mod manifest;
pub mod routes;
pub mod runtime_config;
pub mod templates;

pub use manifest::Manifest;
