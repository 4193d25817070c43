//! The InfluxQL engine: runs parsed [`Statement`]s with InfluxDB 1.x semantics against a
//! [`Source`] of series and points, and answers with InfluxDB's result shapes
//! ([`format::encode`]). Storage implements [`Source`] over SQLite; the tests implement it over
//! vectors, so every rule here is checked natively against the golden answers recorded from the
//! real InfluxDB 1.6.
//!
//! The data as InfluxDB 1.6 sees it: databases with their retention policies
//! ([`Context::catalog`], changed by the statements that manage them: [`ddl`], `manage`);
//! series of a measurement and tags, each with fields of a type per
//! measurement ([`SeriesMeta`], [`FieldType`]). Fieldline's own database holds a measurement per
//! communicationId; tags `device`, `network_id`, `sensor`, `unit`, `uuid`; one float field,
//! `value`.
//!
//! A `SELECT` whose series are all such channels runs on the model's engine (`select`), which
//! reads float points and the source's summaries of them. Over other series (`typed`): raw
//! rows of several typed fields aligned by time (module `value`: typed arithmetic and
//! comparisons); calls over one field of any type run on the model's engine with that field
//! presented as `value`, and calls over several fields column by column (`typed_calls`);
//! integers beyond ±2^53, which floats do not tell apart, are reduced in int64 (`exact`) or
//! refused.

mod bridge;
mod buckets;
mod cardinality;
mod check;
mod cond;
pub mod ddl;
mod delete;
mod edge_cache;
mod engine_merge;
mod eval;
mod exact;
pub mod format;
mod functions;
mod go_math;
mod go_sort;
mod holt_winters;
pub mod http;
mod influxdb_panic;
mod inner_selector;
mod into;
mod joined;
mod manage;
mod mapped;
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
mod typed;
mod typed_calls;
mod value;
pub mod write;
pub mod write_plan;

use crate::influxql::{MeasurementName, Statement};

pub use format::{encode, encode_chunked, encode_error, Epoch, Format};
pub use result::{Cell, QueryResults, Series, StatementResult};

/// The one field of every series of Fieldline's own model (a channel's readings).
pub const FIELD: &str = "value";

/// A field's type; InfluxDB 1.6 keeps it per measurement (the first type written wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldType {
    Float,
    Integer,
    String,
    Boolean,
}

impl FieldType {
    /// The name `SHOW FIELD KEYS` gives it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }
}

/// One value of a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Float(f64),
    Integer(i64),
    String(String),
    Boolean(bool),
}

impl Value {
    /// The type of field that holds it.
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::Float(_) => FieldType::Float,
            Value::Integer(_) => FieldType::Integer,
            Value::String(_) => FieldType::String,
            Value::Boolean(_) => FieldType::Boolean,
        }
    }
}

/// One field of a series: its name, its type, and the key [`Source::points`] and
/// [`Source::values`] are asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldMeta {
    pub name: String,
    pub ty: FieldType,
    /// Opaque to the engine.
    pub key: i64,
}

/// One series: its measurement, its tags (sorted by key; absent tags are not listed), and its
/// fields (sorted by name; only the fields this series has points of). A channel of
/// Fieldline's model is a series with one field, `value`, a float ([`SeriesMeta::channel`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesMeta {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<FieldMeta>,
}

impl SeriesMeta {
    /// A channel of Fieldline's model: its one float field, `value`, read by `key`.
    pub fn channel(key: i64, measurement: String, tags: Vec<(String, String)>) -> SeriesMeta {
        SeriesMeta {
            measurement,
            tags,
            fields: vec![FieldMeta {
                name: FIELD.to_owned(),
                ty: FieldType::Float,
                key,
            }],
        }
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The field of this name, if the series has points of it.
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The key of its float field of this name.
    pub(crate) fn float_key(&self, name: &str) -> Option<i64> {
        self.field(name)
            .filter(|f| f.ty == FieldType::Float)
            .map(|f| f.key)
    }
}

/// A conjunct of a statement's condition that only series whose tag `key` has one of `values`
/// pass ([`Source::series_matching`]). No value is empty (an absent tag's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagValues {
    pub key: String,
    pub values: Vec<String>,
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
    /// Every series of `database` (whatever retention policy keeps its points: what `SHOW`
    /// statements list), or those of these measurements (in any order: the engine sorts them).
    /// An unknown database has none.
    fn series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError>;

    /// The series of `database` whose points are kept by its retention policy `rp`, as
    /// [`Source::series`] answers them: what a `SELECT` reads (`FROM db.rp.m`, the `rp`
    /// parameter, else the database's default policy). The default serves a source that keeps
    /// one set of series per database, whatever the policy: all of them.
    fn series_in(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        let _ = rp;
        self.series(database, measurements)
    }

    /// [`Source::series_in`] for a statement that reads only series passing every one of
    /// `tags` (each a conjunct of its condition on a tag) and names no tag or field key by
    /// wildcard or regex: a series left out then changes nothing but what is read, so a source
    /// that can find the passing series cheaply may list only those, and more. It must not
    /// leave out a series where `key` may be a field of its measurement (the condition is then
    /// on the field), nor where doing so changes the fields its measurement's listed series
    /// have together (the engine resolves names against them). The default lists them all.
    fn series_matching(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
        tags: &[TagValues],
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        let _ = tags;
        self.series_in(database, rp, measurements)
    }

    /// The points of one FLOAT field (a [`FieldMeta::key`]) in `range`, oldest first (newest
    /// first when `desc`), at most `limit`.
    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError>;

    /// The values of any field (a [`FieldMeta::key`]) in `range`, typed as its
    /// [`FieldMeta::ty`], in the order and number [`Source::points`] answers. The engine reads
    /// float fields through [`Source::points`] and the methods below; the default serves a
    /// source of float fields only.
    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        Ok(self
            .points(key, range, desc, limit)?
            .into_iter()
            .map(|(t, v)| (t, Value::Float(v)))
            .collect())
    }

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

    /// Where the row of series `key` (a [`FieldMeta::key`]) at time `t` comes in the order the
    /// source emits its rows, when it has an order of its own: a subquery's aggregates come
    /// window by window (InfluxDB 1.6's merge of its reducers), not merged by time, and a raw
    /// outer statement reads them in that order. `None`: rows are merged by time.
    fn emitted_rank(&self, key: i64, t: i64, desc: bool) -> Option<(i64, usize)> {
        let _ = (key, t, desc);
        None
    }

    /// With [`Source::emitted_rank`]: the times of all the rows in `range` of the series of
    /// field `key`, oldest first, also those whose every column is null (a subquery's
    /// `fill(previous)` before the first value), which a raw outer statement answers as rows
    /// of nulls.
    fn emitted_rows(&self, key: i64, range: TimeRange) -> Option<Vec<i64>> {
        let _ = (key, range);
        None
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

    /// Stores `database` as a statement left it: created, or its retention policies changed.
    /// The inner error is the statement's (e.g. the caller may not manage databases).
    fn store_database(
        &mut self,
        database: &ddl::Database,
    ) -> Result<Result<(), String>, SourceError> {
        let _ = database;
        Ok(Err(unsupported("storing a database")))
    }

    /// Deletes the database named and every series of it, at once.
    fn drop_database(&mut self, name: &str) -> Result<Result<(), String>, SourceError> {
        let _ = name;
        Ok(Err(unsupported("dropping a database")))
    }

    /// `DROP MEASUREMENT`: deletes measurement `name` of `database` at once: its series, their
    /// points, and the types of its fields (written again, a field may take another type).
    fn drop_measurement(
        &mut self,
        database: &str,
        name: &str,
    ) -> Result<Result<(), String>, SourceError> {
        let _ = (database, name);
        Ok(Err(unsupported("dropping a measurement")))
    }

    /// `DROP SERIES` and `DELETE`: deletes the points of `series` (as [`Source::series`] listed
    /// them in `database`) in `range`, then every one of them left without a point. The types
    /// of their fields stay.
    fn delete_series(
        &mut self,
        database: &str,
        series: &[SeriesMeta],
        range: TimeRange,
    ) -> Result<Result<(), String>, SourceError> {
        let _ = (database, series, range);
        Ok(Err(unsupported("deleting series")))
    }

    /// `SELECT INTO`: writes `points` into `database` (retention policy `rp`), as a `/write`
    /// would (field types kept per measurement, conflicts refused); answers how many points
    /// were written.
    fn write_points(
        &mut self,
        database: &str,
        rp: &str,
        points: &[crate::line_protocol::Line],
    ) -> Result<Result<usize, String>, SourceError> {
        let _ = (database, rp, points);
        Ok(Err(unsupported("writing points")))
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

/// The statement error of a [`Source`] hook the source does not implement.
fn unsupported(what: &str) -> String {
    format!("{what} is not supported by this source")
}

/// What a query runs against, besides its statements.
#[derive(Clone, Debug)]
pub struct Context {
    /// The organization's databases with their retention policies, in the order `SHOW
    /// DATABASES` lists them; the first is Fieldline's own (the organization's channels,
    /// [`Context::model_database`]). `CREATE`/`DROP DATABASE` and `CREATE`/`ALTER`/`DROP
    /// RETENTION POLICY` change a copy of it as the query goes ([`execute`]).
    pub catalog: ddl::Catalog,
    /// The longest a retention policy may keep data, nanoseconds (0: no limit): the
    /// `max_retention_ns` of [`ddl::apply`].
    pub max_retention: i64,
    /// The `db` and `rp` query parameters.
    pub db: Option<String>,
    pub rp: Option<String>,
    /// `now()`, nanoseconds.
    pub now: i64,
    /// The most rows one statement may produce before it is refused (a guard against
    /// `GROUP BY time(1ms)` over years).
    pub max_rows: usize,
}

/// The retention policy of Fieldline's own database, the one `CREATE DATABASE` creates
/// ([`ddl::DEFAULT_RETENTION_POLICY`]).
pub const RETENTION_POLICY: &str = "autogen";

/// What every refusal of a statement Fieldline cannot answer as InfluxDB would says.
pub(crate) const REFUSED: &str = "not supported by Fieldline";

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
    /// A context over Fieldline's own database alone, whose one retention policy, `autogen`,
    /// keeps data for `retention` nanoseconds (0: forever), the longest any policy may.
    pub fn model(database: impl Into<String>, retention: i64, now: i64, max_rows: usize) -> Self {
        Context {
            catalog: ddl::Catalog {
                databases: vec![ddl::Database {
                    name: database.into(),
                    retention_policies: vec![ddl::RetentionPolicy {
                        name: RETENTION_POLICY.to_owned(),
                        duration_ns: retention,
                        shard_group_duration_ns: ddl::shard_group_duration(retention),
                        replication: 1,
                    }],
                    default_retention_policy: RETENTION_POLICY.to_owned(),
                }],
            },
            max_retention: retention,
            db: None,
            rp: None,
            now,
            max_rows,
        }
    }

    /// The database of the organization's channels (the first of [`Context::catalog`]).
    pub fn model_database(&self) -> &str {
        self.catalog
            .databases
            .first()
            .map_or("", |d| d.name.as_str())
    }

    /// The database a statement names (its own `db.rp.m`, else the `db` parameter), checked
    /// against the catalog with the retention policy named (its own, else the `rp` parameter):
    /// the database's name.
    pub(crate) fn check_database(
        &self,
        named: Option<&str>,
        rp: Option<&str>,
    ) -> Result<String, StatementError> {
        let db = named.or(self.db.as_deref()).filter(|d| !d.is_empty());
        let Some(db) = db else {
            return Err(StatementError::Failed("database name required".into()));
        };
        let Some(database) = self.catalog.database(db) else {
            return Err(StatementError::Preparation(format!(
                "database not found: {db}"
            )));
        };
        if let Some(rp) = rp.or(self.rp.as_deref()).filter(|r| !r.is_empty()) {
            if database.retention_policy(rp).is_none() {
                return Err(StatementError::Preparation(format!(
                    "retention policy not found: {rp}"
                )));
            }
        }
        Ok(db.to_owned())
    }

    /// The database and retention policy a statement reads (its own `db.rp.m`, else the `db`
    /// and `rp` parameters, else the database's default policy), checked against the catalog:
    /// a default policy that was dropped is not found either, as in InfluxDB.
    pub(crate) fn check_policy(
        &self,
        named: Option<&str>,
        rp: Option<&str>,
    ) -> Result<(String, String), StatementError> {
        let db = self.check_database(named, rp)?;
        let database = self.catalog.database(&db);
        let rp = rp
            .or(self.rp.as_deref())
            .filter(|r| !r.is_empty())
            .or(database.map(|d| d.default_retention_policy.as_str()))
            .unwrap_or_default()
            .to_owned();
        if database.is_none_or(|d| d.retention_policy(&rp).is_none()) {
            return Err(StatementError::Preparation(format!(
                "retention policy not found: {rp}"
            )));
        }
        Ok((db, rp))
    }
}

/// The series of the measurements `from` names (every series when it names none) in
/// `database` (those of its retention policy `rp` when one is given: [`Source::series_in`]),
/// ordered by measurement, then tags. The source is asked for the named measurements only,
/// unless a regex is among them.
pub(crate) fn series_of(
    source: &mut dyn Source,
    database: &str,
    rp: Option<&str>,
    from: &[&MeasurementName],
) -> Result<Vec<SeriesMeta>, SourceError> {
    series_matching(source, database, rp, from, &[])
}

/// [`series_of`], where the statement reads only series passing `tags`
/// ([`Source::series_matching`]): the source may leave others out.
pub(crate) fn series_matching(
    source: &mut dyn Source,
    database: &str,
    rp: Option<&str>,
    from: &[&MeasurementName],
    tags: &[TagValues],
) -> Result<Vec<SeriesMeta>, SourceError> {
    let names: Option<Vec<String>> = from
        .iter()
        .map(|m| match m {
            MeasurementName::Name(n) => Some(n.clone()),
            MeasurementName::Regex(_) => None,
        })
        .collect();
    let names = names.filter(|n| !n.is_empty());
    let mut all = match rp {
        Some(rp) if !tags.is_empty() => {
            source.series_matching(database, rp, names.as_deref(), tags)?
        }
        Some(rp) => source.series_in(database, rp, names.as_deref())?,
        None => source.series(database, names.as_deref())?,
    };
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

/// The time of a series' first point in `range` (its last, when `desc`), of any of its
/// fields: float fields read through [`Source::points`], the others through
/// [`Source::values`].
pub(crate) fn edge_time(
    source: &mut dyn Source,
    s: &SeriesMeta,
    range: TimeRange,
    desc: bool,
) -> Result<Option<i64>, SourceError> {
    let mut best: Option<i64> = None;
    for f in &s.fields {
        let t = if f.ty == FieldType::Float {
            source
                .points(f.key, range, desc, Some(1))?
                .first()
                .map(|p| p.0)
        } else {
            source
                .values(f.key, range, desc, Some(1))?
                .first()
                .map(|p| p.0)
        };
        best = match (best, t) {
            (Some(b), Some(t)) => Some(if desc { b.max(t) } else { b.min(t) }),
            (b, t) => b.or(t),
        };
    }
    Ok(best)
}

/// Runs every statement; a statement's error is part of its result, a store failure ends the
/// query. Statements that manage databases and retention policies change a copy of
/// `ctx.catalog` that the statements after them see (`manage`), and the source stores it;
/// `SELECT … INTO` writes through the source (`into`).
pub fn execute(
    statements: &[Statement],
    ctx: &Context,
    source: &mut dyn Source,
) -> Result<QueryResults, SourceError> {
    // Statements see the catalog as the statements before them left it.
    let mut ctx = ctx.clone();
    let ctx = &mut ctx;
    let mut results = Vec::with_capacity(statements.len());
    for (id, statement) in statements.iter().enumerate() {
        let outcome = match statement {
            ddl if ddl.ddl_keywords().is_some() => {
                manage::run(ddl, &mut ctx.catalog, ctx.max_retention, source)?
                    .map(|()| Vec::new())
                    .map_err(StatementError::Failed)
            }
            Statement::Select(s) => match &s.into {
                Some(target) => into::run(s, target, ctx, source)?,
                None => select::run(s, ctx, source)?,
            },
            Statement::ShowCardinality(s) => cardinality::run(s, ctx, source)?,
            Statement::DropMeasurement(_) | Statement::DropSeries(_) | Statement::Delete(_) => {
                delete::run(statement, ctx, source)?
            }
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
                // InfluxDB runs `SHOW … CARDINALITY`, `SHOW FIELD KEYS` and `SHOW SERIES` as the
                // SELECTs it rewrites them into.
                r.chunk_rows = matches!(
                    statement,
                    Statement::Select(_)
                        | Statement::ShowCardinality(_)
                        | Statement::ShowFieldKeys(_)
                        | Statement::ShowSeries(_)
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
            // InfluxDB's executor stops at an error its statement executor returns (every
            // SELECT's, an unknown database's), answering "not executed" in its place unless it
            // is the last statement (query/executor.go); a SHOW sends its own error as its
            // result and the statements after it run.
            Err(StatementError::Failed(e)) if !matches!(statement, Statement::Select(_)) => {
                results.push(StatementResult::error(id, e));
            }
            // A statement Fieldline refuses by name is one InfluxDB would have answered: its
            // refusal is its result, and the statements after it run as they would there.
            Err(StatementError::Failed(e) | StatementError::Preparation(e))
                if e.contains(REFUSED) =>
            {
                results.push(StatementResult::error(id, e));
            }
            Err(StatementError::Failed(e) | StatementError::Preparation(e)) => {
                if id + 1 == statements.len() {
                    results.push(StatementResult::error(id, e));
                } else {
                    let mut r = StatementResult::error(id, "not executed");
                    r.stopped = Some((e, statements.len() - 1 - id));
                    results.push(r);
                    break;
                }
            }
        }
    }
    Ok(QueryResults(results))
}
