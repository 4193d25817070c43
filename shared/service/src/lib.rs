//! Fieldline's use cases: what more than one API does, written once over the storage ports
//! ([`ports`]) and free of HTTP and SQL. Components decode their wire format, call a use case
//! here, and map its [`Error`] to their own answer; storage backends implement the ports.
//!
//! - [`ingest`]: the one path of points into storage, for every ingestion API;
//! - [`auth`]: credentials to a caller (tenant and principal), and sessions;
//! - [`reads`]: Conduit's records and Proficloud's series, assembled with their devices;
//! - [`influx`]: the InfluxQL request context and `/write`;
//! - [`limits`]: every rate limit and quota, and the counter key each counts under;
//! - [`export`]: chosen channels over a period as CSV or HTML, in pages;
//! - [`notifier`]: threshold e-mails: the alarm engine over the points stored since the last
//!   run, the e-mail rules, and the sender that drains the outbox;
//! - [`views`]: saved views and plan images, checked against the organization's structure;
//! - [`ports`]: the traits a backend implements, and the handles that cross them.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod deviations;
mod error;
pub mod export;
pub mod influx;
pub mod ingest;
pub mod limits;
pub mod notifier;
pub mod ports;
pub mod reads;
pub mod sensorbis;
pub mod views;

/// The port traits, for calling their methods on a store.
pub mod prelude {
    pub use crate::ports::{
        Alarms, Atomic, Counters, Databases, Deviations, Devices, Orgs, Outbox, Points, Sensorbis,
        Series, Store, Tokens, Users, Views,
    };
}

pub use error::{corrupt, BackendFailure, Conflict, Entity, Error, Refusal, Result};
pub use ports::{
    Accept, Authenticated, ChannelRef, Discarded, NewToken, Notification, Order, OutboxMessage,
    PointPage, PushDevice, Rotated, SeriesFilter, SeriesInfo, Store, Tenant,
};
pub use ports::{NewTopicSubscription, Subscriber, TopicSubscriptionView, TopicTarget};
