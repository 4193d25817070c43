//! End-to-end tests: the built components served by the `fieldline` host, over HTTP and MQTT.

mod admin;
mod conduit;
mod console;
mod deploy;
mod deviations;
mod epts;
mod host;
mod influxdb;
// Its harness includes the model corpus's harness, which `epts` includes too.
#[allow(clippy::duplicate_mod)]
mod influxdb_golden;
mod maintenance;
mod multihost;
mod notifier;
mod operations;
mod postgres;
mod readme;
mod security;
mod sensorbis;
mod subscriptions;
mod traces;
