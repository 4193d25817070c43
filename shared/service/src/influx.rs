//! The InfluxDB 1.x API's use cases: the request context of an InfluxQL query (the one database
//! an organization's data is, its retention, `now()`), and `/write` (which database and retention
//! policy a body may name, then its points through [`crate::ingest`]).

use fieldline_domain::line_protocol::Line;
use fieldline_domain::query::write::{to_series_point, SeriesPoint};
use fieldline_domain::query::{self, Context, RETENTION_POLICY};
use fieldline_domain::{Action, Timestamp};

use crate::auth::Caller;
use crate::error::{BackendFailure, Error, Result};
use crate::ingest::{self, Api, Incoming, IngestReport};
use crate::ports::Store;

/// The most rows one query may answer with before it is refused.
pub const MAX_ROWS: usize = 500_000;

/// Nanoseconds since the epoch, as InfluxQL counts time.
pub fn ns(t: Timestamp) -> i64 {
    t.as_millis().saturating_mul(1_000_000)
}

/// The context an InfluxQL request runs in, for a caller who may read the organization: its one
/// database (named `database` by the installation), with the subscription's detailed retention.
pub fn query_context(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    database: &str,
    now: Timestamp,
) -> Result<Context> {
    caller.may(Action::ReadOrg)?;
    let retention_days = store
        .organization(&caller.tenant)?
        .subscription
        .detailed_retention_days;
    Ok(Context {
        databases: vec![database.to_owned()],
        retention: i64::from(retention_days) * 86_400 * 1_000_000_000,
        db: None,
        rp: None,
        now: ns(now),
        max_rows: MAX_ROWS,
    })
}

/// Runs InfluxQL statements for a caller (see [`query_context`]) over the organization's series.
pub fn query(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    params: &query::http::QueryParams,
    database: &str,
    now: Timestamp,
) -> Result<query::http::QueryAnswer> {
    let ctx = query_context(store, caller, database, now)?;
    let mut source = store.query_source(&caller.tenant);
    query::http::answer(params, &ctx, source.as_mut())
        .map_err(|e| Error::backend(BackendFailure::Other, e.0))
}

/// Where a `/write` may go: the organization's one database and its one retention policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteTarget {
    Ok,
    /// InfluxDB: 404 `database not found: "x"`.
    DatabaseNotFound(String),
    /// InfluxDB: 500 `retention policy not found: x`.
    RetentionPolicyNotFound(String),
}

/// Checks the `db` and `rp` a `/write` names against the installation's `database`.
pub fn write_target(database: &str, db: &str, rp: Option<&str>) -> WriteTarget {
    if db != database {
        return WriteTarget::DatabaseNotFound(db.to_owned());
    }
    match rp.filter(|r| !r.is_empty() && *r != RETENTION_POLICY) {
        Some(rp) => WriteTarget::RetentionPolicyNotFound(rp.to_owned()),
        None => WriteTarget::Ok,
    }
}

impl From<&SeriesPoint> for Incoming {
    fn from(p: &SeriesPoint) -> Self {
        let mut i = Incoming::new(p.device.clone(), p.channel.clone(), p.point);
        i.network_id = p.network_id.clone();
        i.device_name = p.device_name.clone();
        i.sensor = p.sensor.clone();
        i.unit = p.unit.clone();
        i
    }
}

/// Writes the parsed lines of a `/write` body: each line becomes a point of the model or is
/// rejected with InfluxDB's words, and the points go through [`ingest::ingest`].
pub fn write(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    lines: &[Line],
    now: Timestamp,
) -> Result<IngestReport> {
    caller.may(Action::ReadOrg)?;
    let mut rejected = Vec::new();
    let mut points = Vec::with_capacity(lines.len());
    for line in lines {
        match to_series_point(line) {
            Ok(p) => points.push(Incoming::from(&p)),
            Err(e) => rejected.push(e),
        }
    }
    let mut report = ingest::ingest(
        store,
        &caller.tenant,
        &caller.principal,
        Api::InfluxWrite,
        &points,
        now,
    )?;
    rejected.append(&mut report.rejected);
    report.rejected = rejected;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_targets() {
        assert_eq!(
            write_target("fieldline", "fieldline", None),
            WriteTarget::Ok
        );
        assert_eq!(
            write_target("fieldline", "fieldline", Some("autogen")),
            WriteTarget::Ok
        );
        assert_eq!(
            write_target("fieldline", "fieldline", Some("")),
            WriteTarget::Ok
        );
        assert_eq!(
            write_target("fieldline", "plant", None),
            WriteTarget::DatabaseNotFound("plant".into())
        );
        assert_eq!(
            write_target("fieldline", "fieldline", Some("weekly")),
            WriteTarget::RetentionPolicyNotFound("weekly".into())
        );
    }
}
