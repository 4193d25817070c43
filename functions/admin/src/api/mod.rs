//! The handlers, one module per resource family.

pub mod auth;
pub mod deviations;
pub mod devices;
pub mod notifications;
pub mod operator;
pub mod org;
pub mod tokens;
pub mod views;

use fieldline_component::Store;
use fieldline_domain::Timestamp;

use crate::http::ApiResult;

/// The request's store (migrated) and clock: read once per request.
pub(crate) fn open() -> ApiResult<(Store, Timestamp)> {
    Ok((fieldline_component::open_store()?, Timestamp::now()))
}
