//! The handlers, one module per resource family.

pub mod auth;
pub mod devices;
pub mod org;
pub mod tokens;

use fieldline_domain::Timestamp;
use spin_sdk::sqlite::Connection;

use crate::http::ApiResult;

/// The request's database (migrated) and clock: read once per request.
pub(crate) fn open() -> ApiResult<(Connection, Timestamp)> {
    Ok((fieldline_storage::spin::open_default()?, Timestamp::now()))
}
