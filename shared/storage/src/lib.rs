//! Fieldline's storage: one versioned SQLite schema and the queries every component runs, over
//! Spin's SQLite interface in components (feature `spin`) and rusqlite natively (feature
//! `native`; the unit tests always use it).
//!
//! A component opens the database, migrates it (one version read when current), authenticates
//! the caller, and gets a [`Tenant`]; every function after that takes the tenant and reads and
//! writes inside that organization only. The few functions that take no tenant establish who the
//! caller is (login by e-mail, token and invitation lookup by secret) and return the tenant.
//!
//! ```ignore
//! let db = fieldline_storage::spin::open_default()?;
//! let claims = key.verify(bearer, now)?;
//! let (tenant, principal) = fieldline_storage::member_principal(&db, &claims)?;
//! fieldline_storage::check_rate_limit(&db, &RateLimitPolicy::ADMIN_API,
//!     &principal.rate_limit_key(), 1, now)?;
//! fieldline_domain::authorize(&principal, Action::CreateDevices, tenant.id())?;
//! let device = fieldline_storage::create_device(&db, &tenant, &fields, None, now)?;
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod conduit;
mod counters;
mod db;
mod devices;
mod error;
mod incidents;
mod influx;
mod orgs;
mod points;
pub mod schema;
mod series;
mod sessions;
mod tokens;
mod users;

#[cfg(any(feature = "native", test))]
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;

#[cfg(test)]
mod tests;

pub use conduit::{
    conduit_caller, conduit_channels, conduit_channels_by_key, conduit_error, conduit_ingest,
    conduit_points, conduit_rate_limit, register_conduit_device, ConduitCaller, ConduitService,
};
pub use counters::{
    check_failures, check_rate_limit, count_failure, increment_counter, purge_expired_counters,
    PURGE_BATCH,
};
pub use db::{transaction, Db, Row, Rows, Value};
pub use devices::{
    channel, channel_ref, channel_refs, create_channel, create_device, create_sensor,
    delete_channel, delete_device, delete_sensor, device, device_by_network_id, device_by_uuid,
    list_channels, list_device_channels, list_devices, list_sensors, sensor,
    set_notification_verified, update_channel, update_device, update_sensor, ChannelRef,
};
pub use error::{Conflict, Error, Result};
pub use incidents::{
    active_incident, close_incident, confirm_incident, incident, list_incidents, open_incident,
};
pub use influx::{write_series_points, WriteReport};
pub use orgs::{
    all_tenants, auto_registration, create_organization, organization, organizations_exist,
    set_auto_registration, sign_up, sign_up_under, tenant, update_organization,
    update_subscription, Tenant,
};
pub use points::{
    latest_points, points_in_range, purge_points_before, purge_rollups_before, roll_up_pending,
    rollup_hours, rollups_in_range, write_points, Order, WRITE_CHUNK_ROWS,
};
pub use schema::{migrate, SCHEMA_VERSION};
pub use series::{
    edge_points_between, interval_stats, interval_summaries, list_series, points_between,
    IntervalStats, QuerySource, SeriesFilter, SeriesInfo,
};
pub use sessions::{password_login, refresh_session, start_session, Session};
pub use tokens::{
    authenticate_token, create_token, issue_refresh_token, list_tokens, revoke_refresh_token,
    revoke_token, rotate_refresh_token, token, Authenticated, NewToken, Rotated,
};
pub use users::{
    accept_invitation, create_invitation, find_user_by_email, invitation_by_secret,
    list_invitations, list_members, member, member_principal, memberships_of_user, remove_member,
    revoke_invitation, set_password, set_permissions, user, Accept,
};
