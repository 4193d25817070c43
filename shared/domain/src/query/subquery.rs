//! `SELECT ... FROM (SELECT ...)`: the inner statement runs first (within the outer statement's
//! time range, inheriting its GROUP BY interval when it has none, `fill(null)` read as
//! `fill(none)`, as InfluxDB 1.x's compiler does), and its answer becomes the series and points
//! the outer statement reads: each inner series a series (its measurement and grouped tags),
//! the one column the outer statement names its field.

use std::collections::{BTreeSet, HashMap};

use crate::influxql::{
    DataType, Dimension, Expr, Fill, Order, SelectStatement, Source as FromSource, TimeOffset,
};

use super::check::{column_names, Plan};
use super::cond::{self, Bounds};
use super::result::{Cell, Series};
use super::transform;
use super::{
    Context, FieldType, SeriesMeta, Source, SourceError, StatementError, StatementOutcome,
    TimeRange, Value, FIELD,
};

/// Whether a statement reads a subquery.
pub(super) fn reads_subquery(s: &SelectStatement) -> bool {
    s.from.iter().any(|f| matches!(f, FromSource::Subquery(_)))
}

/// The intersection of two sets of time bounds.
pub(super) fn intersect(a: Bounds, b: Bounds) -> Bounds {
    let pick = |x: Option<i64>, y: Option<i64>, f: fn(i64, i64) -> i64| match (x, y) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    };
    Bounds {
        min: pick(a.min, b.min, i64::max),
        max: pick(a.max, b.max, i64::min),
    }
}

fn refuse(what: &str) -> StatementOutcome {
    Ok(Err(StatementError::Failed(format!(
        "{what} is not supported by Fieldline"
    ))))
}

/// Runs a statement whose source is a subquery; `outer` bounds the times (those of the
/// statements around it). `beside_others`: the statement is a call of one with several
/// ([`super::joined`]), where a selector answers the time of its bucket (or of the range), not
/// its point's.
pub(super) fn run(
    s: &SelectStatement,
    ctx: &Context,
    source: &mut dyn Source,
    outer: Bounds,
    beside_others: bool,
) -> StatementOutcome {
    let [FromSource::Subquery(inner)] = s.from.as_slice() else {
        return refuse("a subquery beside other sources");
    };
    if s.into.is_some() {
        return Ok(Err("SELECT INTO is not supported by Fieldline".into()));
    }
    let (_, own) = match cond::split(s.condition.as_ref(), ctx.now) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e.into())),
    };
    let mut bounds = intersect(own, outer);

    // The inner statement as InfluxDB compiles it under this one: in this one's order.
    let mut inner = (**inner).clone();
    let desc = s.is_descending();
    if inner.order_by.is_some() && inner.is_descending() != desc {
        return Ok(Err(StatementError::Failed(
            "subqueries must be ordered in the same direction as the query itself".into(),
        )));
    }
    // Where the order changes the inner answer (its LIMIT, a transformation, a fill from the
    // previous or next bucket), it runs backwards; otherwise its rows are the same either way.
    let ordered = inner.limit.is_some()
        || inner.offset.is_some()
        || matches!(inner.fill, Fill::Previous | Fill::Linear)
        || transforms(&inner);
    if desc && ordered {
        inner.order_by = Some(Order::Desc);
    }
    let outer_interval = s.group_by.iter().find_map(|d| match d {
        Dimension::Time { interval, offset } if *interval > 0 => Some((*interval, *offset)),
        _ => None,
    });
    // A transformation of this statement's buckets reads one interval more (before the range,
    // after it under DESC), and so does the inner statement under it.
    if let Some((interval, _)) = outer_interval {
        if reads_an_interval_more(s) {
            if desc {
                bounds.max = bounds.max.map(|t| t.saturating_add(interval));
            } else {
                bounds.min = bounds.min.map(|t| t.saturating_sub(interval));
            }
        }
    }
    let inner_interval = inner
        .group_by
        .iter()
        .any(|d| matches!(d, Dimension::Time { interval, .. } if *interval > 0));
    if inner_interval && inner.fill == Fill::Null {
        inner.fill = Fill::None;
    }
    if let (Some((interval, offset)), false) = (outer_interval, inner_interval) {
        let calls = inner.fields.iter().any(|f| {
            f.expr
                .any(|x| matches!(x, Expr::Call { name, .. } if name != "now"))
        });
        if calls {
            let probe = match Plan::new(&inner, ctx) {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            if probe.transform.as_ref().is_some_and(|t| !t.nested) {
                // InfluxDB would read the raw points one interval early and take the interval
                // as the transformation's unit.
                return refuse("a transformation of raw points in a subquery under GROUP BY time");
            }
            let offset = match offset {
                Some(TimeOffset::Now) => Some(TimeOffset::Duration(ctx.now.rem_euclid(interval))),
                o => o,
            };
            inner.group_by.push(Dimension::Time { interval, offset });
            if inner.fill == Fill::Null {
                inner.fill = Fill::None;
            }
        }
    }
    // The outer statement's GROUP BY tags are the inner one's too (InfluxDB propagates the
    // dimensions into the subquery), so that its rows carry them.
    for d in &s.group_by {
        let pushed = matches!(
            d,
            Dimension::Tag(_) | Dimension::Wildcard | Dimension::Regex(_)
        );
        if pushed && !inner.group_by.contains(d) {
            inner.group_by.push(d.clone());
        }
    }
    if fills_apart(s, &inner) && spans_windows(&inner, bounds, ctx.now) {
        return refuse(
            "a subquery that fills its GROUP BY time buckets (fill(previous), fill(linear) or \
             fill(<value>)) grouped by tags the outer statement does not group by",
        );
    }
    let series = match super::select::run_bounded(&inner, ctx, source, bounds)? {
        Ok(series) => super::inner_selector::as_under(&inner, s, ctx, source, bounds, series)?,
        Err(e) => return Ok(Err(e)),
    };

    let emission = Emission::of(&inner, ctx);

    // The column the outer statement reads as its field.
    let tag_keys: BTreeSet<&str> = series
        .iter()
        .flat_map(|s| s.tags.iter().flatten().map(|(k, _)| k.as_str()))
        .collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut wildcard = false;
    let mut note = |e: &Expr| match e {
        Expr::VarRef(v)
            if v.name != "time"
                && v.data_type != Some(DataType::Tag)
                && !tag_keys.contains(v.name.as_str()) =>
        {
            names.insert(v.name.clone());
        }
        Expr::Wildcard(_) | Expr::Regex(_) | Expr::Distinct(_) => wildcard = true,
        _ => {}
    };
    for f in &s.fields {
        f.expr.walk(&mut note);
    }
    if let Some(c) = &s.condition {
        c.walk(&mut note);
    }
    let several = names.len() > 1;
    let column = names.into_iter().next();

    // The outer statement over the inner answer: its field renamed to the engine's, its
    // columns keeping the names they had.
    let mut outer_stmt = s.clone();
    outer_stmt.from = Vec::new();
    let fields: Vec<(Expr, Option<String>)> = s
        .fields
        .iter()
        .filter(|f| !is_time(&f.expr) || f.alias.is_some())
        .map(|f| (f.expr.clone(), f.alias.clone()))
        .collect();
    let mut named = column_names(&fields).into_iter();
    for f in &mut outer_stmt.fields {
        if is_time(&f.expr) && f.alias.is_none() {
            continue;
        }
        f.alias = named.next();
        if let Some(col) = &column {
            rename(&mut f.expr, col);
        }
    }
    if let (Some(col), Some(c)) = (&column, &mut outer_stmt.condition) {
        rename(c, col);
    }
    let mut plan = match Plan::new(&outer_stmt, ctx) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    if beside_others {
        plan.lone_selector = false;
    }
    plan.reads_store = false;
    plan.bounds = intersect(plan.bounds, outer);
    // The model's engine reads the column as floats: integers beyond 2^53 (but for a count)
    // are read as typed fields instead, as are several columns.
    let counts_only = s.condition.is_none()
        && s.fields.iter().all(|f| {
            is_time(&f.expr)
                || matches!(f.expr.unparen(), Expr::Call { name, .. } if name == "count" || name == "elapsed")
        });
    let beyond = column.as_ref().is_some_and(|col| {
        !counts_only
            && series.iter().any(|s| {
                let i = s.columns.iter().position(|c| c == col);
                i.is_some_and(|i| {
                    s.values.iter().any(|row| {
                        matches!(row.get(i), Some(Cell::Integer(v)) if v.unsigned_abs() > 1 << 53)
                    })
                })
            })
    });
    if wildcard || several || beyond {
        // Every column of the inner answer a typed field of its series, read as fields are.
        let mut outer_stmt = s.clone();
        outer_stmt.from = Vec::new();
        let mut plan = match Plan::new(&outer_stmt, ctx) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if beside_others {
            plan.lone_selector = false;
        }
        plan.reads_store = false;
        plan.bounds = intersect(plan.bounds, outer);
        let mut answer = TypedAnswer::new(series, emission);
        let all = answer.series.clone();
        return super::typed::run(&outer_stmt, &plan, ctx, &mut answer, all);
    }
    let mut answer = Answer::new(series, column.as_deref(), emission);
    plan.execute(ctx, &mut answer)
}

/// Whether InfluxDB 1.6 would fill the inner statement's buckets series by series in time
/// order: its fill iterator sees the inner groups' points time by time (ordered by the outer
/// statement's dimensions only) and starts the fill again, from the start of the range, at
/// every point of another group, then answers rows out of time order. Fieldline fills each
/// group once, so it refuses the statement rather than answer otherwise.
fn fills_apart(outer: &SelectStatement, inner: &SelectStatement) -> bool {
    let fills = matches!(
        inner.fill,
        Fill::Previous | Fill::Linear | Fill::Integer(_) | Fill::Float(_)
    );
    let buckets = inner
        .group_by
        .iter()
        .any(|d| matches!(d, Dimension::Time { interval, .. } if *interval > 0));
    let tags = |s: &SelectStatement| -> Vec<Dimension> {
        s.group_by
            .iter()
            .filter(|d| !matches!(d, Dimension::Time { .. }))
            .cloned()
            .collect()
    };
    let own = tags(outer);
    fills && buckets && tags(inner).iter().any(|d| !own.contains(d))
}

fn calls_any(s: &SelectStatement, pred: impl Fn(&str) -> bool) -> bool {
    s.fields.iter().any(|f| {
        f.expr
            .any(|e| matches!(e, Expr::Call { name, .. } if pred(name)))
    })
}

/// Whether the inner statement's buckets within `bounds` (and its own time range) are more
/// than one: in one, each group's point is its own fill, as Fieldline fills it.
fn spans_windows(inner: &SelectStatement, bounds: Bounds, now: i64) -> bool {
    let Some((interval, offset)) = inner.group_by.iter().find_map(|d| match d {
        Dimension::Time { interval, offset } if *interval > 0 => Some((*interval, *offset)),
        _ => None,
    }) else {
        return false;
    };
    // The inner statement answers its own error.
    let Ok((_, own)) = cond::split(inner.condition.as_ref(), now) else {
        return false;
    };
    let b = intersect(own, bounds);
    let (Some(min), None) = (b.min, &inner.tz) else {
        return true;
    };
    let max = b.max.unwrap_or(now);
    let offset = match offset {
        Some(TimeOffset::Duration(d)) => d,
        Some(TimeOffset::Now) => now,
        None => 0,
    };
    let window = |t: i64| t.saturating_sub(t.saturating_sub(offset).rem_euclid(interval));
    window(min) != window(max)
}

/// Whether a call of the statement reads one interval more of buckets.
fn reads_an_interval_more(s: &SelectStatement) -> bool {
    calls_any(s, transform::reads_an_interval_more)
}

/// Whether the statement transforms a stream (but for the forecasts), whose answer depends on
/// its order.
fn transforms(s: &SelectStatement) -> bool {
    calls_any(s, |name| {
        transform::reads_an_interval_more(name) || matches!(name, "cumulative_sum" | "integral")
    })
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name == "time")
}

/// Renames the variable `from` (not a tag) to the engine's field.
fn rename(e: &mut Expr, from: &str) {
    match e {
        Expr::VarRef(v) if v.name == from && v.data_type != Some(DataType::Tag) => {
            v.name = FIELD.to_owned();
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|a| rename(a, from)),
        Expr::Binary { lhs, rhs, .. } => {
            rename(lhs, from);
            rename(rhs, from);
        }
        Expr::Paren(inner) => rename(inner, from),
        _ => {}
    }
}

/// The order in which InfluxDB 1.6 emits an aggregating inner statement's rows: window by
/// window (the newest first under DESC; without GROUP BY time, one window) and, in a window,
/// its series in order, as the merge of its reducers hands them over. `SELECT "v" FROM (SELECT
/// max(...) AS "v" ... GROUP BY "line")` lists L1's row at 01:18 before L2's at 01:17. A raw
/// inner statement's rows (and a transformation's, several a window) are merged by time: `None`.
struct Emission(Option<Plan>);

impl Emission {
    fn of(inner: &SelectStatement, ctx: &Context) -> Emission {
        let aggregates = inner.fields.iter().all(|f| {
            f.expr.any(|e| matches!(e, Expr::Call { .. }))
                && !f.expr.any(|e| {
                    matches!(e, Expr::Call { name, .. } if transform::is_transform(name)
                        || matches!(name.as_str(), "top" | "bottom" | "distinct" | "sample"))
                })
        });
        let plan = Plan::new(inner, ctx).ok();
        Emission(plan.filter(|p| aggregates && p.aggregate && p.tz.is_none()))
    }

    /// The times of `rows` within `range` ([`Source::emitted_rows`]): every row of an
    /// aggregating inner statement is a row of a raw outer one, all of its columns null too.
    fn rows(&self, rows: Option<&Vec<i64>>, range: TimeRange) -> Option<Vec<i64>> {
        self.0.as_ref()?;
        // As the points are read: a row stamped before the range (at the start of its
        // bucket) is still read.
        Some(rows?.iter().copied().filter(|t| *t <= range.max).collect())
    }

    /// The rank of series `position`'s row at `t` ([`Source::emitted_rank`]).
    fn rank(&self, position: usize, t: i64, desc: bool) -> Option<(i64, usize)> {
        let plan = self.0.as_ref()?;
        let window = match plan.interval {
            Some((interval, offset)) => plan.window_start(t, interval, offset),
            None => 0,
        };
        Some((
            if desc {
                window.saturating_neg()
            } else {
                window
            },
            position,
        ))
    }
}

/// The inner statement's answer as a [`Source`]: one series per answered series, its points the
/// rows' times and their numbers in the column read (rows without one are no points).
struct Answer {
    series: Vec<SeriesMeta>,
    points: Vec<Vec<(i64, f64)>>,
    /// By series: the times of its rows, oldest first.
    rows: Vec<Vec<i64>>,
    emission: Emission,
}

/// The times of a series' rows, oldest first.
fn row_times(s: &Series) -> Vec<i64> {
    let mut times: Vec<i64> = s
        .values
        .iter()
        .filter_map(|row| match row.first() {
            Some(Cell::Time(t)) => Some(*t),
            _ => None,
        })
        .collect();
    times.sort_unstable();
    times
}

impl Answer {
    fn new(answer: Vec<Series>, column: Option<&str>, emission: Emission) -> Answer {
        let mut series = Vec::with_capacity(answer.len());
        let mut points = Vec::with_capacity(answer.len());
        let mut rows = Vec::with_capacity(answer.len());
        for (key, s) in answer.into_iter().enumerate() {
            let col = column.and_then(|c| s.columns.iter().position(|x| x == c));
            // A column the inner statement does not answer makes no rows (InfluxDB has no
            // iterator to drive them).
            rows.push(if col.is_some() {
                row_times(&s)
            } else {
                Vec::new()
            });
            let mut p: Vec<(i64, f64)> = match col {
                Some(col) => s
                    .values
                    .iter()
                    .filter_map(|row| match (row.first(), row.get(col)) {
                        (Some(Cell::Time(t)), Some(v)) => v.as_f64().map(|v| (*t, v)),
                        _ => None,
                    })
                    .collect(),
                None => Vec::new(),
            };
            // Rows may come newest first (ORDER BY time DESC inside): points are oldest first.
            p.sort_by_key(|x| x.0);
            let mut tags = s.tags.unwrap_or_default();
            tags.sort();
            series.push(SeriesMeta::channel(
                i64::try_from(key).unwrap_or(i64::MAX),
                s.name.unwrap_or_default(),
                tags,
            ));
            points.push(p);
        }
        Answer {
            series,
            points,
            rows,
            emission,
        }
    }
}

impl Source for Answer {
    fn series(&mut self, _: &str, _: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError> {
        Ok(self.series.clone())
    }

    fn emitted_rank(&self, key: i64, t: i64, desc: bool) -> Option<(i64, usize)> {
        self.emission.rank(usize::try_from(key).ok()?, t, desc)
    }

    fn emitted_rows(&self, s: &SeriesMeta, range: TimeRange) -> Option<Vec<i64>> {
        let key = usize::try_from(s.fields.first()?.key).ok()?;
        self.emission.rows(self.rows.get(key), range)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        let all = usize::try_from(key)
            .ok()
            .and_then(|k| self.points.get(k))
            .map_or(&[][..], Vec::as_slice);
        // The inner statement ran within the range already: a row stamped before it (at the
        // start of its bucket) is still read, as InfluxDB reads it.
        let within = TimeRange {
            min: i64::MIN,
            max: range.max,
        };
        Ok(within.read(all, desc, limit))
    }
}

/// The inner statement's answer as a [`Source`] of typed fields: each answered series a
/// series (its measurement and grouped tags), each column but `time` a field, typed by its
/// values (a column of integers and floats is a float one), its points the rows with a value.
struct TypedAnswer {
    series: Vec<SeriesMeta>,
    /// By field key: the points, oldest first.
    values: Vec<Vec<(i64, Value)>>,
    /// By field key: the position of its series.
    positions: Vec<usize>,
    /// By series: the times of its rows, oldest first.
    rows: Vec<Vec<i64>>,
    emission: Emission,
}

impl TypedAnswer {
    fn new(answer: Vec<Series>, emission: Emission) -> TypedAnswer {
        let mut series = Vec::with_capacity(answer.len());
        let mut values: Vec<Vec<(i64, Value)>> = Vec::new();
        for s in answer.into_iter().flat_map(layers) {
            let times = row_times(&s);
            let mut fields = Vec::new();
            for (i, name) in s.columns.iter().enumerate().skip(1) {
                let cells = s
                    .values
                    .iter()
                    .filter_map(|row| match (row.first(), row.get(i)) {
                        (Some(Cell::Time(t)), Some(c)) => Some((*t, c)),
                        _ => None,
                    });
                let typed: Vec<(i64, Value)> = cells
                    .filter_map(|(t, c)| super::value::of_cell(c).map(|v| (t, v)))
                    .collect();
                let any_float = typed.iter().any(|(_, v)| matches!(v, Value::Float(_)));
                let Some(first) = typed.first().map(|(_, v)| v.field_type()) else {
                    continue;
                };
                let ty = if any_float { FieldType::Float } else { first };
                let mut points: Vec<(i64, Value)> = typed
                    .into_iter()
                    .filter_map(|(t, v)| match (ty, v) {
                        #[allow(clippy::cast_precision_loss)]
                        (FieldType::Float, Value::Integer(i)) => Some((t, Value::Float(i as f64))),
                        (ty, v) if v.field_type() == ty => Some((t, v)),
                        _ => None,
                    })
                    .collect();
                // Rows may come newest first (ORDER BY time DESC inside).
                points.sort_by_key(|p| p.0);
                fields.push(super::FieldMeta {
                    name: name.clone(),
                    ty,
                    key: i64::try_from(values.len()).unwrap_or(i64::MAX),
                });
                values.push(points);
            }
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            let mut tags = s.tags.unwrap_or_default();
            tags.sort();
            series.push((
                SeriesMeta {
                    measurement: s.name.unwrap_or_default(),
                    tags,
                    fields,
                },
                times,
            ));
        }
        series.sort_by(|(a, _), (b, _)| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
        let (series, rows): (Vec<SeriesMeta>, Vec<Vec<i64>>) = series.into_iter().unzip();
        let mut positions = vec![0; values.len()];
        for (position, s) in series.iter().enumerate() {
            for f in &s.fields {
                if let Some(p) = usize::try_from(f.key)
                    .ok()
                    .and_then(|k| positions.get_mut(k))
                {
                    *p = position;
                }
            }
        }
        TypedAnswer {
            series,
            values,
            positions,
            rows,
            emission,
        }
    }

    fn read(
        &self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Vec<(i64, Value)> {
        let all = usize::try_from(key)
            .ok()
            .and_then(|k| self.values.get(k))
            .map_or(&[][..], Vec::as_slice);
        // As [`Answer`] reads: a row stamped before the range (at the start of its bucket)
        // is still read, as InfluxDB reads it.
        let mut out: Vec<(i64, Value)> = all
            .iter()
            .filter(|(t, _)| *t <= range.max)
            .cloned()
            .collect();
        if desc {
            out.reverse();
        }
        out.truncate(limit.unwrap_or(usize::MAX));
        out
    }
}

/// A series of the inner answer as series that each hold one row a time: the k-th row of each
/// time in the k-th (rows of several inner series at one time, as a raw inner statement
/// answers them, are each a point of the outer statement, which reads a field's row a time).
fn layers(mut s: Series) -> Vec<Series> {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let depth: Vec<usize> = s
        .values
        .iter()
        .map(|row| match row.first() {
            Some(Cell::Time(t)) => {
                let k = seen.entry(*t).or_insert(0);
                *k += 1;
                *k - 1
            }
            _ => 0,
        })
        .collect();
    let n = depth.iter().max().map_or(1, |d| d + 1);
    if n == 1 {
        return vec![s];
    }
    let rows = std::mem::take(&mut s.values);
    let mut layered: Vec<Series> = vec![s; n];
    for (row, k) in rows.into_iter().zip(depth) {
        layered[k].values.push(row);
    }
    layered
}

impl Source for TypedAnswer {
    fn series(&mut self, _: &str, _: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError> {
        Ok(self.series.clone())
    }

    fn emitted_rank(&self, key: i64, t: i64, desc: bool) -> Option<(i64, usize)> {
        let position = *self.positions.get(usize::try_from(key).ok()?)?;
        self.emission.rank(position, t, desc)
    }

    fn emitted_rows(&self, s: &SeriesMeta, range: TimeRange) -> Option<Vec<i64>> {
        // An aggregating inner statement answers each series once (no layers).
        let position = self
            .series
            .iter()
            .position(|x| x.measurement == s.measurement && x.tags == s.tags)?;
        self.emission.rows(self.rows.get(position), range)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        Ok(self
            .read(key, range, desc, limit)
            .into_iter()
            .filter_map(|(t, v)| match v {
                Value::Float(f) => Some((t, f)),
                _ => None,
            })
            .collect())
    }

    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        Ok(self.read(key, range, desc, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_intersect() {
        let a = Bounds {
            min: Some(1),
            max: None,
        };
        let b = Bounds {
            min: Some(3),
            max: Some(9),
        };
        assert_eq!(
            intersect(a, b),
            Bounds {
                min: Some(3),
                max: Some(9)
            }
        );
        assert_eq!(
            intersect(Bounds::default(), Bounds::default()),
            Bounds::default()
        );
    }

    fn outer_and_inner(q: &str) -> (SelectStatement, SelectStatement) {
        let Some(crate::influxql::Statement::Select(s)) =
            crate::influxql::parse_query(q).unwrap().pop()
        else {
            panic!("{q}");
        };
        let [FromSource::Subquery(inner)] = s.from.as_slice() else {
            panic!("{q}");
        };
        let inner = (**inner).clone();
        (*s, inner)
    }

    #[test]
    fn filling_buckets_of_tags_the_outer_statement_does_not_group_by_is_told_apart() {
        let apart = |q: &str| {
            let (outer, inner) = outer_and_inner(q);
            fills_apart(&outer, &inner)
        };
        let sub = |fill: &str| {
            format!("(SELECT last(v) AS v FROM m WHERE time > 0 GROUP BY time(1m), host {fill})")
        };
        // What InfluxDB fills series by series: every filling fill, the outer statement
        // grouping by fewer tags.
        for fill in ["fill(previous)", "fill(linear)", "fill(0)", "fill(2.5)"] {
            assert!(apart(&format!(
                "SELECT sum(v) FROM {} GROUP BY time(1m)",
                sub(fill)
            )));
            assert!(apart(&format!("SELECT v FROM {}", sub(fill))));
        }
        // Not so without a filling fill, with the outer statement grouping by the same tags,
        // or without buckets inside.
        for fill in ["", "fill(none)", "fill(null)"] {
            assert!(!apart(&format!(
                "SELECT sum(v) FROM {} GROUP BY time(1m)",
                sub(fill)
            )));
        }
        assert!(!apart(&format!(
            "SELECT sum(v) FROM {} GROUP BY time(1m), host",
            sub("fill(0)")
        )));
        assert!(!apart(
            "SELECT sum(v) FROM (SELECT v FROM m GROUP BY host) GROUP BY time(1m)"
        ));
    }

    #[test]
    fn one_window_of_filled_buckets_is_filled_alike() {
        let spans = |q: &str| {
            let (outer, inner) = outer_and_inner(q);
            let (_, own) = cond::split(outer.condition.as_ref(), 0).unwrap();
            spans_windows(&inner, own, 7_200_000_000_000)
        };
        let q = |inner_range: &str, outer_range: &str| {
            format!(
                "SELECT sum(v) FROM (SELECT last(v) AS v FROM m WHERE {inner_range} \
                 GROUP BY time(1m), host fill(0)) {outer_range}"
            )
        };
        assert!(!spans(&q("time >= 60s AND time < 120s", "")));
        assert!(spans(&q("time >= 60s AND time <= 120s", "")));
        // The outer statement's range narrows the inner one's; without an end, now() ends it.
        assert!(!spans(&q("time >= 60s", "WHERE time < 120s")));
        assert!(spans(&q("time >= 60s", "")));
        assert!(spans(&q("time < 60s", "")));
    }

    #[test]
    fn rows_of_one_time_are_each_a_point_of_the_typed_answer() {
        let s = Series {
            name: Some("m".into()),
            columns: vec!["time".into(), "v".into()],
            values: vec![
                vec![Cell::Time(1), Cell::Integer(1)],
                vec![Cell::Time(1), Cell::Integer(9_007_199_254_741_178)],
                vec![Cell::Time(2), Cell::Integer(3)],
                vec![Cell::Time(1), Cell::Integer(4)],
            ],
            ..Series::default()
        };
        let mut a = TypedAnswer::new(vec![s], Emission(None));
        let all = TimeRange {
            min: i64::MIN,
            max: i64::MAX,
        };
        // Every value is kept, and each series holds one a time (the typed engine reads a
        // series' fields row by row, by time).
        let metas = a.series("", None).unwrap();
        let mut read: Vec<(i64, Value)> = Vec::new();
        for m in &metas {
            let values = a.values(m.fields[0].key, all, false, None).unwrap();
            let mut times: Vec<i64> = values.iter().map(|p| p.0).collect();
            times.dedup();
            assert_eq!(times.len(), values.len(), "{values:?}");
            read.extend(values);
        }
        read.sort_by_key(|(t, v)| (*t, format!("{v:?}")));
        assert_eq!(
            read,
            vec![
                (1, Value::Integer(1)),
                (1, Value::Integer(4)),
                (1, Value::Integer(9_007_199_254_741_178)),
                (2, Value::Integer(3)),
            ]
        );
    }

    #[test]
    fn an_answer_reads_one_column_and_skips_rows_without_a_number() {
        let s = Series {
            name: Some("m".into()),
            tags: Some(vec![("uuid".into(), "a".into())]),
            columns: vec!["time".into(), "max".into(), "n".into()],
            values: vec![
                vec![Cell::Time(2), Cell::Float(1.5), Cell::Integer(3)],
                vec![Cell::Time(1), Cell::Null, Cell::Integer(4)],
            ],
            ..Series::default()
        };
        let mut a = Answer::new(vec![s.clone()], Some("n"), Emission(None));
        let all = TimeRange {
            min: i64::MIN,
            max: i64::MAX,
        };
        assert_eq!(
            a.points(0, all, false, None).unwrap(),
            vec![(1, 4.0), (2, 3.0)]
        );
        let mut a = Answer::new(vec![s], Some("max"), Emission(None));
        assert_eq!(a.points(0, all, true, None).unwrap(), vec![(2, 1.5)]);
        assert_eq!(
            a.series("", None).unwrap()[0].tags,
            vec![("uuid".into(), "a".into())]
        );
    }
}
