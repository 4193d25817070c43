//! Storage errors are the ports' own ([`fieldline_service::Error`]): "not found" and "conflict"
//! outcomes typed, the backend's failures classified by SQLite's result code or Spin's error
//! variant. A write that would break a unique index is an `INSERT ... ON CONFLICT DO NOTHING`
//! (or an `UPDATE` guarded by `NOT EXISTS`) whose empty answer names the [`Conflict`]: Spin's
//! SQLite interface reports a constraint failure only as message text.

pub use fieldline_service::{corrupt, BackendFailure, Conflict, Entity, Error, Result};
