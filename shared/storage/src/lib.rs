//! Fieldline's storage: the SQL backend of the use-case layer's ports ([`SqlStore`], see
//! `fieldline_service::ports`), one versioned schema and the queries every component runs, over
//! SQLite (Spin's SQLite interface in components, feature `spin`; rusqlite natively, feature
//! `native`; the unit tests always use it) or PostgreSQL (Spin's `pg4` in components,
//! [`spin_pg`]; the `postgres` crate natively, feature `native-postgres`). The few statements
//! that differ choose by [`Db::dialect`] (docs/storage.md).
//!
//! Components open the store ([`spin::open_store`]) and hand it to the use cases of
//! `fieldline_service`, which see only the ports. Every function here that takes a [`Tenant`]
//! reads and writes inside that organization only; the few that take none establish who the
//! caller is (login by e-mail, token and invitation lookup by secret) and return the tenant.
//!
//! ```ignore
//! let store = fieldline_storage::spin::open_store()?;
//! let (caller, _) = fieldline_service::auth::access_token(&store, &key, bearer, now)?;
//! caller.may(Action::CreateDevices)?;
//! let device = store.create_device(&caller.tenant, &fields, None, now)?;
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod alarms;
mod conduit;
mod counters;
mod db;
mod deviations;
mod devices;
mod error;
mod general;
mod incidents;
mod orgs;
mod outbox;
pub mod pg;
mod points;
mod query_source;
pub mod schema;
mod schema_pg;
mod sensorbis;
mod series;
mod store;
mod tokens;
mod topics;
mod users;
mod views;

#[cfg(any(feature = "native", test))]
pub mod native;
#[cfg(any(feature = "native-postgres", test))]
pub mod native_pg;
#[cfg(feature = "spin")]
pub mod spin;
#[cfg(feature = "spin")]
pub mod spin_pg;
#[cfg(test)]
pub(crate) mod testdb;

#[cfg(test)]
mod deviation_tests;
#[cfg(test)]
mod general_tests;
#[cfg(test)]
mod notifier_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrades;

pub use alarms::{add_notification, queue_length, set_notification_reminder};
pub use conduit::{channels_by_key, point_page};
pub use counters::{claim_tick, counter, increment_counter, purge_expired_counters, PURGE_BATCH};
pub use db::{transaction, Db, Dialect, Row, Rows, Value};
pub use devices::{
    channel, channel_ref, channel_refs, create_channel, create_device, create_sensor,
    delete_channel, delete_device, delete_sensor, device, device_by_network_id, device_by_uuid,
    devices_by_uuid, list_channels, list_device_channels, list_devices, list_sensors, sensor,
    set_notification_verified, update_channel, update_device, update_sensor, ChannelRef,
};
pub use error::{BackendFailure, Conflict, Entity, Error, Result};
pub use general::{drop_database, encode_tags, influx_scope, store_database, write_lines};
pub use incidents::{
    active_incident, close_incident, confirm_incident, incident, list_incidents, open_incident,
};
pub use orgs::{
    all_tenants, auto_registration, create_organization, organization, organizations_exist,
    set_auto_registration, sign_up, sign_up_under, tenant, update_organization,
    update_subscription, Tenant,
};
pub use points::{
    delete_expired, drop_expired_partitions, latest_points, points_in_range, prepare_partitions,
    purge_points_before, purge_rollups_before, roll_up_pending, rollup_hours, rollups_in_range,
    write_points, write_points_within, Order, WRITE_CHUNK_ROWS,
};
pub use query_source::QuerySource;
pub use schema::{migrate, SCHEMA_VERSION};
pub use sensorbis::{
    create_sealed_token, hourly_magnitude, push_device, sealed_device_tokens,
    sealed_push_credentials, set_push_credential,
};
pub use series::{
    edge_points_between, interval_stats, interval_summaries, list_series, points_between,
    IntervalStats, SeriesFilter, SeriesInfo,
};
pub use store::SqlStore;
pub use tokens::{
    authenticate_token, create_token, issue_refresh_token, list_tokens, revoke_refresh_token,
    revoke_token, rotate_refresh_token, token, Authenticated, NewToken, Rotated,
};
pub use users::{
    accept_invitation, create_invitation, find_user_by_email, invitation_by_secret,
    list_invitations, list_members, member, memberships_of_user, remove_member, revoke_invitation,
    set_password, set_permissions, user, Accept,
};
