//! The InfluxQL engine: runs parsed [`Statement`]s with InfluxDB 1.x semantics against a
//! [`Source`] of series and points, and answers with InfluxDB's result shapes
//! ([`format::encode`]). Storage implements [`Source`] over SQLite; the tests implement it over
//! vectors, so every rule here is checked natively against the golden answers recorded from the
//! real InfluxDB 1.6.
//!
//! Fieldline's data as InfluxDB sees it: one database (named by [`Context::database`]) with one
//! retention policy, `autogen`; a measurement per communicationId; tags `device`, `network_id`,
//! `sensor`, `unit`, `uuid`; one float field, `value`.

mod buckets;
mod cardinality;
mod check;
mod cond;
pub mod ddl;
mod edge_cache;
mod eval;
pub mod format;
mod functions;
mod holt_winters;
pub mod http;
mod influxdb_panic;
mod joined;
mod merge;
pub mod result;
mod select;
mod selecting;
mod selectors;
mod show;
mod subquery;
mod technical;
mod transform;
mod transforming;
pub mod write;
pub mod write_plan;

use crate::influxql::{MeasurementName, Statement};

pub use format::{encode, encode_chunked, encode_error, Epoch, Format};
pub use result::{Cell, QueryResults, Series, StatementResult};

/// The one field every series has.
pub const FIELD: &str = "value";

/// One series: a channel, its measurement and its tags (sorted by key; absent tags are not
/// listed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesMeta {
    /// Opaque to the engine: what [`Source::points`] is asked for.
    pub key: i64,
    pub measurement: String,
    pub tags: Vec<(String, String)>,
}

impl SeriesMeta {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Counts, sums and extremes of one series' points in one interval (see
/// [`Source::interval_stats`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntervalStats {
    /// Start of the interval, nanoseconds.
    pub start: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// A time range, both ends included, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub min: i64,
    pub max: i64,
}

impl TimeRange {
    /// What [`Source::points`] answers for a series held in memory in time order: its points in
    /// this range, newest first when `desc`, at most `limit` of them.
    pub fn read(self, points: &[(i64, f64)], desc: bool, limit: Option<usize>) -> Vec<(i64, f64)> {
        let mut out: Vec<(i64, f64)> = points
            .iter()
            .copied()
            .filter(|(t, _)| self.min <= *t && *t <= self.max)
            .collect();
        if desc {
            out.reverse();
        }
        out.truncate(limit.unwrap_or(usize::MAX));
        out
    }
}

/// A failure of the store behind the engine: answered as a server error, not as a statement's
/// error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where series and points come from: the organization's channels in storage.
pub trait Source {
    /// Every series of the database, or those of these measurements.
    fn series(&mut self, measurements: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError>;

    /// The points of one series in `range`, oldest first (newest first when `desc`), at most
    /// `limit`.
    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError>;

    /// The first point in `range` (the last, when `desc`) of each series of `keys`, in the
    /// order of `keys`: what `first()` and `last()` select. Sources that can answer them all in
    /// one request should: a query over many series otherwise pays a round trip per series.
    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        keys.iter()
            .map(|&k| Ok(self.points(k, range, desc, Some(1))?.first().copied()))
            .collect()
    }

    /// Count, sum, min and max per interval `[base + k·interval, base + (k+1)·interval)` of the
    /// points in `range` (`base <= range.min`), intervals without points left out; `None` when
    /// the source cannot compute them (the engine then reads the points).
    fn interval_stats(
        &mut self,
        key: i64,
        range: TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<IntervalStats>>, SourceError> {
        let _ = (key, range, base, interval);
        Ok(None)
    }

    /// Count, sum, min and max of the points in `range` (`start` is 0; a count of 0 when the
    /// range holds no point); `None` when the source cannot compute them.
    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        let _ = (key, range);
        Ok(None)
    }

    /// The point with the largest (or smallest) value in `range`, the earliest of equal ones
    /// (what `max` and `min` select), without reading the others through the engine.
    fn extreme(
        &mut self,
        key: i64,
        range: TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, SourceError> {
        let points = self.points(key, range, false, None)?;
        let mut best: Option<(i64, f64)> = None;
        for p in points {
            let better = match best {
                None => true,
                Some(b) if largest => p.1 > b.1,
                Some(b) => p.1 < b.1,
            };
            if better {
                best = Some(p);
            }
        }
        Ok(best)
    }
}

/// What a query runs against, besides its statements.
#[derive(Clone, Debug)]
pub struct Context {
    /// The one database's name (`SHOW DATABASES`).
    pub database: String,
    /// Its retention, nanoseconds (0: forever), for `SHOW RETENTION POLICIES`.
    pub retention: i64,
    /// The `db` and `rp` query parameters.
    pub db: Option<String>,
    pub rp: Option<String>,
    /// `now()`, nanoseconds.
    pub now: i64,
    /// The most rows one statement may produce before it is refused (a guard against
    /// `GROUP BY time(1ms)` over years).
    pub max_rows: usize,
}

/// The retention policy every database has.
pub const RETENTION_POLICY: &str = "autogen";

/// Why a statement was not run, and whether that stops the statements after it (InfluxDB
/// reports an unknown database or retention policy in a multi-statement query as "not executed"
/// and runs nothing after it).
pub(crate) enum StatementError {
    Failed(String),
    Preparation(String),
    /// InfluxDB 1.6's executor panics on this statement ([`influxdb_panic`]).
    InfluxdbPanics,
}

impl From<String> for StatementError {
    fn from(s: String) -> Self {
        StatementError::Failed(s)
    }
}

impl From<&str> for StatementError {
    fn from(s: &str) -> Self {
        StatementError::Failed(s.to_owned())
    }
}

pub(crate) type StatementOutcome = Result<Result<Vec<Series>, StatementError>, SourceError>;

impl Context {
    /// The database a statement names (its own `db.rp.m`, else the `db` parameter), checked.
    pub(crate) fn check_database(
        &self,
        named: Option<&str>,
        rp: Option<&str>,
    ) -> Result<(), StatementError> {
        let db = named.or(self.db.as_deref()).filter(|d| !d.is_empty());
        let Some(db) = db else {
            return Err(StatementError::Failed("database name required".into()));
        };
        if db != self.database {
            return Err(StatementError::Preparation(format!(
                "database not found: {db}"
            )));
        }
        if let Some(rp) = rp.or(self.rp.as_deref()).filter(|r| !r.is_empty()) {
            if rp != RETENTION_POLICY {
                return Err(StatementError::Preparation(format!(
                    "retention policy not found: {rp}"
                )));
            }
        }
        Ok(())
    }
}

/// The series of the measurements `from` names (every series when it names none), ordered by
/// measurement, then tags. The source is asked for the named measurements only, unless a regex
/// is among them.
pub(crate) fn series_of(
    source: &mut dyn Source,
    from: &[&MeasurementName],
) -> Result<Vec<SeriesMeta>, SourceError> {
    let names: Option<Vec<String>> = from
        .iter()
        .map(|m| match m {
            MeasurementName::Name(n) => Some(n.clone()),
            MeasurementName::Regex(_) => None,
        })
        .collect();
    let names = names.filter(|n| !n.is_empty());
    let mut all = source.series(names.as_deref())?;
    all.retain(|s| {
        from.is_empty()
            || from.iter().any(|m| match m {
                MeasurementName::Name(n) => *n == s.measurement,
                MeasurementName::Regex(re) => re.is_match(&s.measurement),
            })
    });
    all.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
    Ok(all)
}

/// Runs every statement; a statement's error is part of its result, a store failure ends the
/// query.
pub fn execute(
    statements: &[Statement],
    ctx: &Context,
    source: &mut dyn Source,
) -> Result<QueryResults, SourceError> {
    let mut results = Vec::with_capacity(statements.len());
    for (id, statement) in statements.iter().enumerate() {
        let outcome = match statement {
            Statement::Select(s) => select::run(s, ctx, source)?,
            Statement::ShowCardinality(s) => cardinality::run(s, ctx, source)?,
            Statement::Unsupported { what, .. } => Err(StatementError::Failed(format!(
                "{what} is not supported by Fieldline: its InfluxDB API reads data and \
                 accepts writes through /write; manage devices and channels with the admin API"
            ))),
            other => show::run(other, ctx, source)?,
        };
        match outcome {
            Ok(series) => {
                let mut r = StatementResult::new(id);
                r.series = series;
                // InfluxDB runs `SHOW … CARDINALITY` as the SELECT it rewrites it into.
                r.chunk_rows = matches!(
                    statement,
                    Statement::Select(_) | Statement::ShowCardinality(_)
                );
                results.push(r);
            }
            Err(StatementError::InfluxdbPanics) => {
                let r = influxdb_panic::answer(statements, id, ctx);
                let panicked = r.query_panicked;
                results.push(r);
                if panicked {
                    break;
                }
            }
            Err(StatementError::Failed(e)) => results.push(StatementResult::error(id, e)),
            Err(StatementError::Preparation(e)) => {
                if statements.len() == 1 {
                    results.push(StatementResult::error(id, e));
                } else {
                    results.push(StatementResult::error(id, "not executed"));
                    break;
                }
            }
        }
    }
    Ok(QueryResults(results))
}
