//! Storage errors are the ports' own ([`fieldline_service::Error`]): "not found" and "conflict"
//! outcomes typed, the backend's failures classified. This module adds what only the SQLite
//! backend needs.

pub use fieldline_service::{corrupt, BackendFailure, Conflict, Entity, Error, Result};

/// Whether the database refused a write for a `UNIQUE` index; `column` names it. Spin's SQLite
/// interface passes SQLite's message and no result code, so the message is all there is.
pub(crate) fn is_unique_violation(e: &Error, column: &str) -> bool {
    matches!(e, Error::Backend { message, .. } if message.contains("UNIQUE constraint failed") && message.contains(column))
}
