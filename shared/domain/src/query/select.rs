//! `SELECT`: running a checked [`Plan`] — choosing the series, grouping them by tags, and
//! computing raw rows or aggregates per group. Checking is in [`super::check`], buckets and
//! `fill` in [`super::buckets`], expressions in [`super::eval`], the batched `first()`/`last()`
//! lookups in [`super::edge_cache`].

use std::collections::{BTreeMap, BTreeSet};

use crate::influxql::{
    DataType, Expr, Fill, MeasurementName, SelectStatement, VarRef, WildcardKind,
};

use super::buckets::Bucket;
use super::check::{column_names, Column, Dims, Plan};
use super::cond::{self, Bounds, Truth};
use super::edge_cache::EdgePoints;
use super::eval::eval_raw;
use super::mapped::{self, Mapped};
use super::result::{Cell, Series};
use super::subquery;
use super::{Context, SeriesMeta, Source, SourceError, StatementOutcome, TimeRange, FIELD};

/// Runs one `SELECT`.
pub(crate) fn run(s: &SelectStatement, ctx: &Context, source: &mut dyn Source) -> StatementOutcome {
    // Every read under a subquery stays within the range InfluxDB maps for the statement.
    let mut mapped;
    let source: &mut dyn Source = if subquery::reads_subquery(s) {
        let range = match mapped::range(s, ctx.now) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e.into())),
        };
        mapped = Mapped {
            inner: source,
            range,
        };
        &mut mapped
    } else {
        source
    };
    let mut outcome = run_bounded(s, ctx, source, Bounds::default());
    // Under `ORDER BY time DESC` InfluxDB answers the series in descending order too (after
    // SLIMIT and SOFFSET chose them in ascending order); the joined calls order theirs already.
    if s.is_descending() && !super::joined::applies(s) {
        if let Ok(Ok(series)) = &mut outcome {
            series.reverse();
        }
    }
    outcome
}

/// Runs one `SELECT` within the time bounds of the statements around it (a subquery's).
pub(super) fn run_bounded(
    s: &SelectStatement,
    ctx: &Context,
    source: &mut dyn Source,
    outer: Bounds,
) -> StatementOutcome {
    if super::joined::applies(s) {
        return super::joined::run(s, ctx, source, outer);
    }
    run_alone(s, ctx, source, outer, false)
}

/// A call of a statement with several ([`super::joined`]), run alone: a selector among
/// other calls answers the time of its bucket (or of the range), not its point's.
pub(super) fn run_beside_others(
    call: &SelectStatement,
    ctx: &Context,
    source: &mut dyn Source,
    outer: Bounds,
) -> StatementOutcome {
    run_alone(call, ctx, source, outer, true)
}

/// One statement's plan over the measurements or its subquery, within `outer`.
fn run_alone(
    s: &SelectStatement,
    ctx: &Context,
    source: &mut dyn Source,
    outer: Bounds,
    beside_others: bool,
) -> StatementOutcome {
    if subquery::reads_subquery(s) {
        return subquery::run(s, ctx, source, outer, beside_others);
    }
    let mut plan = match Plan::new(s, ctx) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    if beside_others {
        plan.lone_selector = false;
    }
    plan.bounds = subquery::intersect(plan.bounds, outer);
    let from: Vec<&MeasurementName> = plan.sources.iter().collect();
    // Series that fail the condition's tag conjuncts need not be listed, unless the statement
    // names keys by pattern (`*`, `/re/`: the keys of every series of its measurements).
    let tags = match &plan.rest {
        Some(rest) if !names_keys_by_pattern(s, &plan) => cond::tag_values(rest),
        _ => Vec::new(),
    };
    let all = super::series_matching(
        source,
        &plan.database,
        Some(&plan.retention_policy),
        &from,
        &tags,
    )?;
    if !super::typed::model_shaped(&all) {
        return super::typed::run(s, &plan, ctx, source, all);
    }
    plan.execute_over(ctx, source, all)
}

/// Whether the statement selects or groups by keys by wildcard or regex (its plan's dimensions
/// are resolved per measurement).
fn names_keys_by_pattern(s: &SelectStatement, plan: &Plan) -> bool {
    matches!(plan.dims, Dims::Dynamic { .. })
        || s.fields.iter().any(|f| {
            f.expr
                .any(|e| matches!(e, Expr::Wildcard(_) | Expr::Regex(_)))
        })
}

impl Plan {
    /// Runs the plan over the series of its measurements (channels of the model).
    pub(super) fn execute(&self, ctx: &Context, source: &mut dyn Source) -> StatementOutcome {
        let from: Vec<&MeasurementName> = self.sources.iter().collect();
        let all = super::series_of(source, &self.database, Some(&self.retention_policy), &from)?;
        self.execute_over(ctx, source, all)
    }

    /// Runs the plan over these series (of its measurements, in [`super::series_of`]'s
    /// order): those with a float `value` are read.
    pub(super) fn execute_over(
        &self,
        ctx: &Context,
        source: &mut dyn Source,
        mut all: Vec<SeriesMeta>,
    ) -> StatementOutcome {
        // `*` (in the field list and in GROUP BY) stands for the tag keys of every measurement
        // of the statement together.
        let mut tag_keys: Vec<String> = all
            .iter()
            .flat_map(|s| s.tags.iter().map(|(k, _)| k.clone()))
            .collect();
        tag_keys.sort();
        tag_keys.dedup();
        // Only the series with points of the field are read; those without it matter where
        // sum() and mean() merge series as InfluxDB's engine does, and where selectors pick
        // among them (`Group::without`).
        let without: Vec<SeriesMeta>;
        (all, without) = all.into_iter().partition(|s| s.float_key(FIELD).is_some());
        let merges_series = self.sums_series() || self.selects_by_engine();

        // Per measurement: its series that pass the tag condition, grouped by the dimensions.
        let range = self.bounds.range();
        if range.min > range.max {
            return Ok(Ok(Vec::new()));
        }
        let dims = self.dims_of(&tag_keys);
        let mut groups: Vec<Group<'_>> = Vec::new();
        // `all` is ordered by measurement: one run per measurement.
        // A series' group (by the dimensions' tags) when the tag condition does not rule it
        // out, and whether its points must be checked against the condition.
        let group_key = |s: &SeriesMeta| -> Option<(Vec<String>, bool)> {
            let check = match &self.rest {
                None => Truth::True,
                Some(c) => cond::eval(c, s, None),
            };
            (check != Truth::False).then(|| {
                let key = (dims.iter())
                    .map(|d| s.tag(d).unwrap_or_default().to_owned())
                    .collect();
                (key, check == Truth::Unknown)
            })
        };
        for members in all.chunk_by(|a, b| a.measurement == b.measurement) {
            let m = &members[0].measurement;
            let mut by_key: BTreeMap<Vec<String>, Vec<(&SeriesMeta, bool)>> = BTreeMap::new();
            for s in members {
                if let Some((key, filter)) = group_key(s) {
                    by_key.entry(key).or_default().push((s, filter));
                }
            }
            let mut without_by_key: BTreeMap<Vec<String>, Vec<&SeriesMeta>> = BTreeMap::new();
            let of_m = without
                .iter()
                .filter(|s| merges_series && s.measurement == *m);
            for s in of_m {
                if let Some((key, _)) = group_key(s) {
                    without_by_key.entry(key).or_default().push(s);
                }
            }
            for (key, series) in by_key {
                groups.push(Group {
                    tag_keys: &tag_keys,
                    measurement: m.clone(),
                    without: without_by_key.remove(&key).unwrap_or_default(),
                    tags: dims.iter().cloned().zip(key).collect(),
                    grouped: !dims.is_empty(),
                    series,
                });
            }
        }
        let groups = match series_window(groups, self.soffset, self.slimit, source, range)? {
            Ok(groups) => groups,
            Err(e) => return Ok(Err(e.into())),
        };

        let mut out = Vec::new();
        let mut rows = 0usize;
        // GROUP BY time without a lower bound starts at the first point of the statement.
        let mut range = range;
        if self.interval.is_some() {
            if self.bounds.min.is_none() {
                let first = source
                    .edge_points(&series_keys(&groups), range, false)?
                    .into_iter()
                    .flatten()
                    .map(|p| p.0)
                    .min();
                match first {
                    Some(f) => range.min = f,
                    None => return Ok(Ok(Vec::new())),
                }
            }
            if self.bounds.max.is_none() {
                range.max = ctx.now;
            }
            if range.min > range.max {
                return Ok(Ok(Vec::new()));
            }
        }
        // `first()` and `last()` without GROUP BY time need one point per series: ask for all of
        // them at once rather than series by series.
        let mut prefetched;
        let source: &mut dyn Source = match self.edge_directions() {
            Some(directions) => {
                prefetched = EdgePoints::load(source, &series_keys(&groups), range, &directions)?;
                &mut prefetched
            }
            None => source,
        };
        let mut closing = Vec::new();
        for g in &groups {
            let series = if self.multi.is_some() {
                self.multi_group(g, range, source)?
            } else if self.transform.is_some() {
                match self.transform_group(g, range, source, &mut closing)? {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e)),
                }
            } else if self.aggregate {
                match self.aggregate_group(g, range, source)? {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e.into())),
                }
            } else {
                self.raw_group(g, range, source)?
            };
            if let Some(s) = series {
                rows += s.values.len();
                if rows > ctx.max_rows {
                    return Ok(Err(format!(
                        "the answer would have more than {} rows; use a larger GROUP BY time \
                         interval, a shorter time range or LIMIT",
                        ctx.max_rows
                    )
                    .into()));
                }
                out.push(s);
            }
        }
        self.close_groups(&mut out, closing);
        Ok(Ok(out))
    }

    /// The tag keys a measurement's series are grouped by.
    pub(super) fn dims_of(&self, tag_keys: &[String]) -> Vec<String> {
        match &self.dims {
            // Groups are ordered by their tags in key order, however GROUP BY lists them.
            Dims::Tags(names) => {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                names
            }
            Dims::Dynamic {
                names,
                all,
                regexes,
            } => {
                let mut keys: Vec<String> = tag_keys
                    .iter()
                    .filter(|k| *all || regexes.iter().any(|r| r.is_match(k)))
                    .cloned()
                    .collect();
                for n in names {
                    if !keys.contains(n) {
                        keys.push(n.clone());
                    }
                }
                keys.sort();
                keys
            }
        }
    }

    /// How many rows of a series LIMIT lets through (all of them without one).
    pub(super) fn row_limit(&self) -> usize {
        if self.limit > 0 {
            self.limit
        } else {
            usize::MAX
        }
    }

    /// `time` and the field list's column names: the columns of a series of rows.
    pub(super) fn time_and_columns(&self) -> Vec<String> {
        std::iter::once("time".to_owned())
            .chain(self.columns.iter().map(|c| c.name.clone()))
            .collect()
    }

    pub(super) fn series_shell(&self, g: &Group<'_>, columns: Vec<String>) -> Series {
        Series {
            name: Some(g.measurement.clone()),
            tags: g.grouped.then(|| g.tags.clone()),
            columns,
            values: Vec::new(),
            partial: false,
            tz: self.tz,
        }
    }

    /// The group's points in `range`, merged in time order (then series order); with the
    /// series' index. Filtered by the condition's field comparisons.
    pub(super) fn merged_points(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        limit: Option<usize>,
        desc: bool,
        source: &mut dyn Source,
    ) -> Result<Vec<GroupPoint>, SourceError> {
        let mut merged = Vec::new();
        for (i, (s, filter)) in g.series.iter().enumerate() {
            let points = source.points(key(s), range, desc, if *filter { None } else { limit })?;
            for (t, v) in points {
                if *filter {
                    if let Some(c) = &self.rest {
                        if cond::eval(c, s, Some(v)) != Truth::True {
                            continue;
                        }
                    }
                }
                merged.push((t, v, i));
            }
        }
        merged.sort_by_key(|p| (p.0, p.2));
        if desc {
            merged.reverse();
        }
        Ok(merged)
    }

    /// The group's points in `range` as InfluxDB's sorted merge iterator streams them to its
    /// functions ([`super::merge`]): what transformations and selectors of several points read.
    pub(super) fn streamed_points(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        desc: bool,
        source: &mut dyn Source,
    ) -> Result<Vec<GroupPoint>, SourceError> {
        self.streamed_points_with(g, range, desc, &[], source)
    }

    /// [`Plan::streamed_points`] where the points carry the auxiliary names `aux` (in name
    /// order, [`super::check::aux_names`]): InfluxDB's sorted merge breaks a tie of time by
    /// their strings, up to the first that is no string (a tag the series lacks, a field).
    pub(super) fn streamed_points_with(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        desc: bool,
        aux: &[String],
        source: &mut dyn Source,
    ) -> Result<Vec<GroupPoint>, SourceError> {
        // In the order InfluxDB's index lists the series, mapped back to the group's.
        let metas: Vec<&SeriesMeta> = g.series.iter().map(|(s, _)| *s).collect();
        let order = super::merge::key_order(&metas);
        let mut all = Vec::with_capacity(g.series.len());
        for (at, (s, filter)) in order.iter().map(|&i| &g.series[i]).enumerate() {
            let mut points = source.points(key(s), range, desc, None)?;
            if *filter {
                if let Some(c) = &self.rest {
                    points.retain(|p| cond::eval(c, s, Some(p.1)) == Truth::True);
                }
            }
            all.push(points.into_iter().map(|(t, v)| (t, v, at)).collect());
        }
        let strings = aux_strings(g, aux);
        let tie_less = |x: &GroupPoint, y: &GroupPoint| {
            aux_less(&strings[order[x.2]], &strings[order[y.2]], desc)
        };
        Ok(super::merge::merge_series(all, |p| p.0, tie_less, desc)
            .into_iter()
            .map(|(_, (t, v, at))| (t, v, order[at]))
            .collect())
    }

    /// Whether `sum()` or `mean()` of the field is asked: InfluxDB's engine adds each series on
    /// its own and merges them ([`super::engine_merge`]).
    pub(super) fn sums_series(&self) -> bool {
        (self.calls.iter()).any(|c| {
            c.on_field
                && matches!(
                    c.func,
                    super::functions::Func::Sum | super::functions::Func::Mean
                )
        })
    }

    /// Whether a selector of the field picks among the series' own selections as InfluxDB's
    /// engine merges them ([`super::engine_merge`]): `min()` and `max()`, and `first()` and
    /// `last()` under GROUP BY time (without it, its engine reads their points instead).
    pub(super) fn selects_by_engine(&self) -> bool {
        use super::functions::Func;
        (self.calls.iter()).any(|c| {
            c.on_field
                && (matches!(c.func, Func::Min | Func::Max)
                    || (self.interval.is_some() && matches!(c.func, Func::First | Func::Last)))
        })
    }

    fn expanded_columns(&self, g: &Group<'_>) -> Vec<Column> {
        // `*` and `/re/` in a raw field list: the field and the tags (not those grouped by),
        // merged in name order.
        let tag_keys: Vec<&String> = g
            .tag_keys
            .iter()
            .filter(|k| !g.tags.iter().any(|(d, _)| d == *k))
            .collect();
        let mut out: Vec<(Expr, Option<String>)> = Vec::new();
        for c in &self.columns {
            let (kind, re) = match c.expr.unparen() {
                Expr::Wildcard(k) => (Some(*k), None),
                Expr::Regex(re) => (Some(WildcardKind::All), Some(re.clone())),
                _ => (None, None),
            };
            match kind {
                Some(kind) => {
                    let mut names: Vec<(String, bool)> = Vec::new();
                    if kind != WildcardKind::Tags {
                        names.push((FIELD.to_owned(), true));
                    }
                    if kind != WildcardKind::Fields {
                        names.extend(tag_keys.iter().map(|k| ((*k).clone(), false)));
                    }
                    names.sort();
                    for (n, is_field) in names {
                        if re.as_ref().is_some_and(|r| !r.is_match(&n)) {
                            continue;
                        }
                        out.push((
                            Expr::VarRef(VarRef {
                                name: n,
                                data_type: Some(if is_field {
                                    DataType::Field
                                } else {
                                    DataType::Tag
                                }),
                            }),
                            None,
                        ));
                    }
                }
                None => out.push((c.expr.clone(), Some(c.name.clone()))),
            }
        }
        let names = column_names(&out);
        names
            .into_iter()
            .zip(out)
            .map(|(name, (expr, _))| Column { name, expr })
            .collect()
    }

    fn raw_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Option<Series>, SourceError> {
        let columns = self.expanded_columns(g);
        // Rows come from the field's points; columns of tags alone make no rows.
        if !columns.iter().any(|c| reads_field(&c.expr)) {
            return Ok(None);
        }
        let want = (self.limit > 0).then(|| self.limit + self.offset);
        let mut points: Vec<(i64, Option<f64>, usize)> = self
            .merged_points(g, range, want, self.desc, source)?
            .into_iter()
            .map(|(t, v, i)| (t, Some(v), i))
            .collect();
        // A subquery's rows without the column are rows too, of nulls (unless a condition on
        // the column would have to pass them).
        let mut have: Option<std::collections::HashSet<(usize, i64)>> = None;
        for (i, (s, filter)) in g.series.iter().enumerate() {
            let Some(times) = source.emitted_rows(key(s), range).filter(|_| !*filter) else {
                continue;
            };
            let have = have.get_or_insert_with(|| points.iter().map(|p| (p.2, p.0)).collect());
            points.extend(
                times
                    .into_iter()
                    .filter(|t| !have.contains(&(i, *t)))
                    .map(|t| (t, None, i)),
            );
        }
        // A subquery's aggregates come in the order its answer emits them.
        points = in_emitted_order(points, |p| {
            source.emitted_rank(key(g.series[p.2].0), p.0, self.desc)
        });
        let mut series = self.series_shell(
            g,
            std::iter::once("time".to_owned())
                .chain(columns.iter().map(|c| c.name.clone()))
                .collect(),
        );
        for (t, v, i) in points.into_iter().skip(self.offset).take(self.row_limit()) {
            let s = g.series[i].0;
            let mut row = Vec::with_capacity(columns.len() + 1);
            row.push(Cell::Time(t));
            for c in &columns {
                row.push(match v {
                    Some(v) => eval_raw(&c.expr, t, v, s),
                    None if reads_field(&c.expr) => Cell::Null,
                    None => eval_raw(&c.expr, t, 0.0, s),
                });
            }
            series.values.push(row);
        }
        Ok((!series.values.is_empty()).then_some(series))
    }

    fn aggregate_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Result<Option<Series>, String>, SourceError> {
        let columns: Vec<String> = std::iter::once("time".to_owned())
            .chain(self.columns.iter().map(|c| c.name.clone()))
            .chain(
                (super::check::ORIGIN.iter())
                    .filter(|_| self.origins)
                    .map(|c| (*c).to_owned()),
            )
            .collect();
        let series = self.series_shell(g, columns);
        if !self.calls.iter().any(|c| c.on_field) {
            return Ok(Ok(None));
        }
        let (first, data) = match self.buckets(g, range, source)? {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.finish_aggregate(g, range, first, &data, series)))
    }

    /// The start of the first bucket of `range` and the reduced values of the buckets with
    /// points.
    pub(super) fn buckets(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Result<Buckets, String>, SourceError> {
        // Buckets are never all materialized: only those with points are computed, and empty
        // ones are produced while the answer is written (and only when `fill` emits them).
        let first = match self.interval {
            None => self.bounds.min.unwrap_or(0),
            Some((interval, offset)) => {
                let first = self.window_start(range.min, interval, offset);
                if self.fill != Fill::None {
                    let last = self.window_start(range.max, interval, offset);
                    let buckets = (last - first) / interval + 1;
                    if usize::try_from(buckets).map_or(true, |b| b > self.max_rows) {
                        return Ok(Err(format!(
                            "GROUP BY time({}) over this range makes {buckets} buckets, more \
                             than the {} rows an answer may have; use a larger interval, a \
                             shorter time range, or fill(none)",
                            super::format::go_duration(interval),
                            self.max_rows
                        )));
                    }
                }
                first
            }
        };
        let data = match self.stats_buckets(g, range, first, source)? {
            Some(data) => data,
            None => self.point_buckets(g, range, first, source)?,
        };
        Ok(Ok((first, data)))
    }
}

/// The start of the first bucket of a range and the reduced values of its buckets with points.
pub(super) type Buckets = (i64, BTreeMap<i64, Bucket>);

/// A point of a group: time, value, index of its series in the group.
pub(super) type GroupPoint = (i64, f64, usize);

/// Per series of the group (by its index), the strings of the auxiliary names `aux` (in name
/// order, [`super::check::aux_names`]): its tag's value, `None` for a name that is no tag of
/// it (a field, or a tag it lacks).
pub(super) fn aux_strings<'g>(g: &Group<'g>, aux: &[String]) -> Vec<Vec<Option<&'g str>>> {
    g.series
        .iter()
        .map(|(s, _)| {
            aux.iter()
                .map(|name| {
                    (s.tags.iter())
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                        .filter(|v| !v.is_empty())
                })
                .collect()
        })
        .collect()
}

/// InfluxDB's sorted merge heap's order of two points of one time by their auxiliary strings
/// (`x` before `y`): the first that differ decide (descending under `desc`); a name that is no
/// string to either ends the comparison, as equal.
pub(super) fn aux_less(x: &[Option<&str>], y: &[Option<&str>], desc: bool) -> bool {
    for (a, b) in x.iter().zip(y) {
        match (a, b) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => return if desc { a > b } else { a < b },
            _ => return false,
        }
    }
    false
}

/// `rows` in the order their source emits them ([`Source::emitted_rank`], by `rank`), when it
/// has one for every row; as they are otherwise.
pub(super) fn in_emitted_order<T>(
    rows: Vec<T>,
    rank: impl Fn(&T) -> Option<(i64, usize)>,
) -> Vec<T> {
    let Some(ranks) = rows.iter().map(rank).collect::<Option<Vec<_>>>() else {
        return rows;
    };
    let mut ranked: Vec<_> = ranks.into_iter().zip(rows).collect();
    ranked.sort_by_key(|(r, _)| *r);
    ranked.into_iter().map(|(_, row)| row).collect()
}

/// The key of the field a series is read by (the engine keeps only series that have it).
pub(super) fn key(s: &SeriesMeta) -> i64 {
    s.float_key(FIELD).unwrap_or_default()
}

/// The keys of every series of `groups`.
fn series_keys(groups: &[Group<'_>]) -> Vec<i64> {
    groups
        .iter()
        .flat_map(|g| g.series.iter().map(|(s, _)| key(s)))
        .collect()
}

/// One output series: a measurement's series sharing the dimensions' tag values.
pub(super) struct Group<'a> {
    /// The tag keys of the statement's measurements (what `*` expands to).
    pub(super) tag_keys: &'a [String],
    pub(super) measurement: String,
    pub(super) tags: Vec<(String, String)>,
    pub(super) grouped: bool,
    /// With whether each needs its points checked against the condition.
    pub(super) series: Vec<(&'a SeriesMeta, bool)>,
    /// The series of the group's tag set without the field: InfluxDB's storage engine counts
    /// them where it shares a shard's series among its goroutines
    /// ([`super::engine_merge`]).
    pub(super) without: Vec<&'a SeriesMeta>,
}

/// The starts of the shard groups (a week each) within `shards` in which the series has
/// points: one seek per shard group with points.
pub(super) fn shard_weeks(
    source: &mut dyn Source,
    s: &SeriesMeta,
    shards: TimeRange,
) -> Result<Vec<i64>, SourceError> {
    let mut weeks = Vec::new();
    let mut at = shards.min;
    while at <= shards.max {
        let range = TimeRange {
            min: at,
            max: shards.max,
        };
        let Some(t) = super::edge_time(source, s, range, false)? else {
            break;
        };
        let week = super::cardinality::shard_group_start(t);
        weeks.push(week);
        at = week.saturating_add(super::show::SHARD_GROUP_DURATION);
        if at == i64::MAX {
            break;
        }
    }
    Ok(weeks)
}

/// SOFFSET and SLIMIT: the groups InfluxDB keeps, in their order, or why Fieldline cannot
/// answer as InfluxDB would.
///
/// InfluxDB's storage engine applies them in each shard the range reads (a shard group, a
/// week each here) to that shard's tag sets of each measurement (its series with points
/// there), ordered by their key (`MakeTagsKey`: the keys of the tags a group has, then their
/// values, `|`-separated, so a group with more tags may come first), and reads a kept group's
/// points of that shard only. So `SLIMIT 1` over two weeks may keep a group of each, and
/// SOFFSET without SLIMIT keeps nothing (1.6's `LimitTagSets` cuts `a[soffset:soffset+0]`).
/// A group kept in some of its weeks and not in others would be read in part: refused.
pub(super) fn series_window<'a>(
    groups: Vec<Group<'a>>,
    soffset: usize,
    slimit: usize,
    source: &mut dyn Source,
    range: TimeRange,
) -> Result<Result<Vec<Group<'a>>, String>, SourceError> {
    if soffset == 0 && slimit == 0 {
        return Ok(Ok(groups));
    }
    if slimit == 0 {
        return Ok(Ok(Vec::new()));
    }
    fn tags_key(g: &Group<'_>) -> String {
        let mut present: Vec<&(String, String)> =
            g.tags.iter().filter(|(_, v)| !v.is_empty()).collect();
        present.sort();
        let keys = present.iter().map(|(k, _)| k.as_str());
        let values = present.iter().map(|(_, v)| v.as_str());
        keys.chain(values).collect::<Vec<_>>().join("|")
    }
    let shards = TimeRange {
        min: super::cardinality::shard_group_start(range.min),
        max: super::cardinality::shard_group_start(range.max)
            .saturating_add(super::show::SHARD_GROUP_DURATION - 1),
    };
    let mut weeks: Vec<BTreeSet<i64>> = Vec::with_capacity(groups.len());
    for g in &groups {
        let mut w = BTreeSet::new();
        for (s, _) in &g.series {
            w.extend(shard_weeks(source, s, shards)?);
        }
        weeks.push(w);
    }
    let mut order: Vec<(&str, String, usize)> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.measurement.as_str(), tags_key(g), i))
        .collect();
    order.sort();
    let mut kept_in: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); groups.len()];
    for measurement in order.chunk_by(|a, b| a.0 == b.0) {
        let all_weeks: BTreeSet<i64> = measurement
            .iter()
            .flat_map(|(_, _, i)| weeks[*i].iter().copied())
            .collect();
        for week in all_weeks {
            let present = measurement
                .iter()
                .filter(|(_, _, i)| weeks[*i].contains(&week));
            for (_, _, i) in present.skip(soffset).take(slimit) {
                kept_in[*i].insert(week);
            }
        }
    }
    if kept_in
        .iter()
        .zip(&weeks)
        .any(|(k, w)| !k.is_empty() && k != w)
    {
        return Ok(Err(
            "SLIMIT or SOFFSET that keeps a series in some shard groups (weeks) of the range and \
             not in others is not supported by Fieldline"
                .to_owned(),
        ));
    }
    Ok(Ok(groups
        .into_iter()
        .zip(kept_in)
        .filter(|(_, k)| !k.is_empty())
        .map(|(g, _)| g)
        .collect()))
}

fn reads_field(e: &Expr) -> bool {
    e.any(|x| matches!(x, Expr::VarRef(v) if v.name == FIELD && v.data_type != Some(DataType::Tag)))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{execute, Context, SeriesMeta, Source, SourceError, TimeRange};
    use crate::influxql::parse_query;

    /// Ten series of one measurement, `device` = d0..d9, points at 1..=5 s with value
    /// `10·series + second`; counts what the engine asks for. Shared with the edge cache's
    /// tests, which count the same requests.
    #[derive(Default)]
    pub(in crate::query) struct Counting {
        pub(in crate::query) points_calls: usize,
        pub(in crate::query) edge_calls: usize,
        pub(in crate::query) batched: bool,
    }

    fn series_points(key: i64) -> Vec<(i64, f64)> {
        (1..=5)
            .map(|s| (s * 1_000_000_000, (10 * key + s) as f64))
            .collect()
    }

    /// Channels 0..n of measurement `m`, tagged `device` = d0, d1...
    fn devices(n: i64) -> Vec<SeriesMeta> {
        (0..n)
            .map(|k| SeriesMeta::channel(k, "m".into(), vec![("device".into(), format!("d{k}"))]))
            .collect()
    }

    /// The answer to `q` over `source` at `now`, as the engine's debug form.
    fn answer(q: &str, source: &mut dyn Source, now: i64) -> String {
        let ctx = Context {
            db: Some("db".into()),
            ..Context::model("db", 0, now, 10_000)
        };
        let statements = parse_query(q).expect("parses");
        format!("{:?}", execute(&statements, &ctx, source).expect("runs"))
    }

    impl Source for Counting {
        fn series(
            &mut self,
            _: &str,
            _: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok(devices(10))
        }

        fn points(
            &mut self,
            key: i64,
            range: TimeRange,
            desc: bool,
            limit: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            self.points_calls += 1;
            Ok(range.read(&series_points(key), desc, limit))
        }

        fn edge_points(
            &mut self,
            keys: &[i64],
            range: TimeRange,
            desc: bool,
        ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
            // The trait's own answer, series by series; counted as one request when batched.
            let before = self.points_calls;
            let out = keys
                .iter()
                .map(|&k| Ok(self.points(k, range, desc, Some(1))?.first().copied()))
                .collect();
            if self.batched {
                self.edge_calls += 1;
                self.points_calls = before;
            }
            out
        }
    }

    pub(in crate::query) fn run(q: &str, source: &mut Counting) -> String {
        answer(q, source, 10_000_000_000)
    }

    /// d0 has a point in the first week of 1970 only, d1 one in that week and one ten days
    /// later (the next shard group).
    struct TwoWeeks;

    const DAY: i64 = 86_400_000_000_000;

    impl Source for TwoWeeks {
        fn series(
            &mut self,
            _: &str,
            _: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok(devices(2))
        }

        fn points(
            &mut self,
            key: i64,
            range: TimeRange,
            desc: bool,
            limit: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            let all: &[(i64, f64)] = if key == 0 {
                &[(DAY, 1.0)]
            } else {
                &[(DAY, 2.0), (11 * DAY, 3.0)]
            };
            Ok(range.read(all, desc, limit))
        }
    }

    fn run_two_weeks(q: &str) -> String {
        answer(q, &mut TwoWeeks, 100 * DAY)
    }

    /// InfluxDB applies SLIMIT in each shard group: d0 is the first of the first week, d1
    /// the first of the second. Kept in one week of two, d1 would be read in part: refused.
    #[test]
    fn slimit_chooses_in_each_shard_group_and_refuses_a_series_cut_in_one() {
        let first_week = run_two_weeks(
            "SELECT count(value) FROM m WHERE time >= 0 AND time < 7d GROUP BY device SLIMIT 1",
        );
        assert!(
            first_week.contains("\"d0\"") && !first_week.contains("\"d1\""),
            "{first_week}"
        );
        let second_week = run_two_weeks(
            "SELECT count(value) FROM m WHERE time >= 7d AND time < 14d GROUP BY device SLIMIT 1",
        );
        assert!(second_week.contains("\"d1\""), "{second_week}");
        let both = run_two_weeks(
            "SELECT count(value) FROM m WHERE time >= 0 AND time < 14d GROUP BY device SLIMIT 1",
        );
        assert!(
            both.contains(
                "keeps a series in some shard groups (weeks) of the range and not in \
                           others is not supported by Fieldline"
            ),
            "{both}"
        );
        // A refusal is its statement's answer: the statements after it run, as in InfluxDB,
        // which would have answered it.
        let then = run_two_weeks(
            "SELECT count(value) FROM m WHERE time >= 0 AND time < 14d GROUP BY device SLIMIT 1; \
             SELECT count(value) FROM m WHERE time >= 0 AND time < 14d",
        );
        assert!(
            then.contains("not supported by Fieldline")
                && then.contains("statement_id: 1")
                && then.contains("Integer(3)")
                && !then.contains("not executed"),
            "{then}"
        );
        // Without SLIMIT, SOFFSET keeps nothing, as InfluxDB 1.6 does.
        let offset = run_two_weeks("SELECT count(value) FROM m GROUP BY device SOFFSET 1");
        assert!(!offset.contains("\"d"), "{offset}");
    }

    #[test]
    fn group_by_time_without_a_lower_bound_finds_the_first_point_in_one_request() {
        let q = "SELECT count(value) FROM m GROUP BY time(1s) fill(none)";
        let mut batched = Counting {
            batched: true,
            ..Counting::default()
        };
        let answer = run(q, &mut batched);
        assert_eq!(answer, run(q, &mut Counting::default()));
        assert_eq!(batched.edge_calls, 1);
    }
}
