//! Integer fields reduced exactly, as InfluxDB reduces them in int64: where a call over an integer
//! field reads or gives a value beyond ±2^53, which the model's engine (over floats,
//! [`super::typed_calls`]) cannot tell from its neighbours. Covers the reducers that compute
//! (`count`, `sum`, `mean`, `median`, `spread`, `min`, `max`, and arithmetic of them) per group and
//! per `GROUP BY time` bucket with `fill(null)`, `fill(none)`, `fill(<value>)` or (ascending)
//! `fill(previous)`, and the transformations of one series' raw points (`difference`,
//! `cumulative_sum`, `derivative`, `moving_average` and their non-negative forms); [`run`] answers
//! `None` for any other statement.

use std::collections::BTreeMap;

use crate::influxql::{Expr, Fill};

use super::check::Plan;
use super::engine_merge::{engine_order, merge_parts, Parts};
use super::functions::Func;
use super::result::{Cell, Series};
use super::transform::Transform;
use super::typed::Fields;
use super::{SeriesMeta, Source, SourceError, TimeRange, Value};

/// A plan's calls over the integer field `key`s of `channels` (the field's series, presented
/// as channels of the model by [`super::typed_calls`]), answered exactly; `None` when the plan
/// is not one this module answers.
pub(super) fn run(
    plan: &Plan,
    source: &mut dyn Source,
    channels: &[SeriesMeta],
    fields: &Fields,
) -> Result<Option<Vec<Series>>, SourceError> {
    // Under DESC the store's answers are the same, but for the order in which the series'
    // means are merged; a subquery's rows are not read backwards here.
    if (plan.desc && !plan.reads_store) || plan.tz.is_some() || plan.filter_points || plan.raw_vars
    {
        return Ok(None);
    }
    let range = plan.bounds.range();
    if range.min > range.max {
        return Ok(Some(Vec::new()));
    }
    let tag_keys: Vec<String> = {
        let mut k: Vec<String> = channels
            .iter()
            .flat_map(|s| s.tags.iter().map(|(k, _)| k.clone()))
            .collect();
        k.sort();
        k.dedup();
        k
    };
    // A window this module cannot read is refused by the general path, which meets it too.
    let Ok(groups) = super::typed::groups(plan, channels, &tag_keys, fields, source, range)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    if let Some(t) = &plan.transform {
        if t.nested || plan.desc || plan.interval.is_some() || plan.columns.len() != 1 {
            return Ok(None);
        }
        if !matches!(plan.columns[0].expr.unparen(), e if *e == t.expr) {
            return Ok(None);
        }
        for g in &groups {
            let read: Vec<&SeriesMeta> = g
                .series
                .iter()
                .map(|(s, _)| *s)
                .filter(|s| !s.fields.is_empty())
                .collect();
            let s = match read.as_slice() {
                [] => continue,
                [s] => *s,
                _ => return Ok(None),
            };
            let points = integers(source, s, range)?;
            let Some(rows) = transform(t.transform, &points) else {
                return Ok(None);
            };
            push(plan, g, rows, &mut out);
        }
        return Ok(Some(out));
    }
    if !plan.aggregate || plan.lone_selector || plan.multi.is_some() {
        return Ok(None);
    }
    let exact = |f: &Func| {
        matches!(
            f,
            Func::Count
                | Func::Sum
                | Func::Mean
                | Func::Median
                | Func::Spread
                | Func::Min
                | Func::Max
        )
    };
    if !plan.calls.iter().all(|c| exact(&c.func) && c.on_field) {
        return Ok(None);
    }
    let buckets: Option<(i64, i64)> = match plan.interval {
        None => None,
        Some((interval, offset)) => {
            let (Some(_), Some(_)) = (plan.bounds.min, plan.bounds.max) else {
                return Ok(None);
            };
            // fill(previous) walks the windows in the statement's order, read here ascending.
            let fills = match plan.fill {
                Fill::Null | Fill::None | Fill::Integer(_) | Fill::Float(_) => true,
                Fill::Previous => !plan.desc,
                _ => false,
            };
            if !fills {
                return Ok(None);
            }
            Some((interval, offset))
        }
    };
    for g in &groups {
        let mut by_bucket: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        // Per bucket, each series' mean in each shard group (week) and its count, as
        // InfluxDB's storage engine reduces each series of a shard before merging them.
        let mut means: BTreeMap<i64, Parts> = BTreeMap::new();
        let mut times: Vec<(i64, usize)> = Vec::new();
        let bucket_of = |t: i64| match buckets {
            None => plan.bounds.min.unwrap_or(0),
            Some((interval, offset)) => plan.window_start(t, interval, offset),
        };
        for (i, (s, _)) in g.series.iter().enumerate() {
            let mut parts: BTreeMap<(i64, i64), (i64, usize)> = BTreeMap::new();
            for (t, v) in integers(source, s, range)? {
                let b = bucket_of(t);
                by_bucket.entry(b).or_default().push(v);
                times.push((t, i));
                let week = super::cardinality::shard_group_start(t);
                let part = parts.entry((b, week)).or_insert((0i64, 0));
                part.0 = part.0.wrapping_add(v);
                part.1 += 1;
            }
            for ((b, week), (sum, n)) in parts {
                #[allow(clippy::cast_precision_loss)]
                let mean = sum as f64 / n as f64;
                means.entry(b).or_default().insert((week, i), (mean, n));
            }
        }
        let metas: Vec<&SeriesMeta> = g.series.iter().map(|(s, _)| *s).collect();
        let without: Vec<&SeriesMeta> = metas
            .iter()
            .copied()
            .filter(|s| s.fields.is_empty())
            .collect();
        let engine = engine_order(&metas, &without, times.into_iter(), plan.desc, bucket_of);
        if by_bucket.is_empty() {
            continue;
        }
        let starts: Vec<i64> = match buckets {
            None => by_bucket.keys().copied().collect(),
            Some(_) if plan.fill == Fill::None => by_bucket.keys().copied().collect(),
            Some((interval, offset)) => {
                let first = plan.window_start(range.min, interval, offset);
                let last = plan.window_start(range.max, interval, offset);
                let n = (last - first) / interval + 1;
                if usize::try_from(n).map_or(true, |n| n > plan.max_rows) {
                    return Ok(None);
                }
                // InfluxDB's fill iterator, as `Plan::bucket_rows` walks it: a bucket no later
                // than the window expected (a subquery's row stamped before the range) takes
                // that window's place, and the windows after it move on by one.
                let mut starts = Vec::with_capacity(by_bucket.len().max(1));
                let mut window = first;
                let mut keys = by_bucket.keys().copied().peekable();
                loop {
                    match keys.peek() {
                        Some(&t) if t <= window => {
                            starts.push(t);
                            keys.next();
                        }
                        Some(_) => starts.push(window),
                        None if window <= range.max => starts.push(window),
                        None => break,
                    }
                    window = window.saturating_add(interval);
                    if starts.len() > plan.max_rows {
                        return Ok(None);
                    }
                }
                starts
            }
        };
        let mut rows = Vec::with_capacity(starts.len());
        // Each call's value in the last window with points, for fill(previous).
        let mut previous: Vec<Cell> = vec![Cell::Null; plan.calls.len()];
        for start in starts {
            let values = by_bucket.get(&start);
            let reduced: Vec<Cell> = (plan.calls.iter().zip(&previous))
                .map(|(c, prev)| match &values {
                    Some(v) if c.func == Func::Mean && !plan.reads_store => streamed_mean(v),
                    Some(_) if c.func == Func::Mean => means
                        .get(&start)
                        .and_then(|parts| merge_parts(true, parts, start, Some(&engine)))
                        .map_or(Cell::Null, Cell::Float),
                    Some(v) => reduce(&c.func, v),
                    None => filled(&c.func, plan.fill, prev),
                })
                .collect();
            if values.is_some() {
                previous.clone_from(&reduced);
            }
            let cells: Vec<Cell> = plan
                .columns
                .iter()
                .map(|col| {
                    super::eval::eval_calls(&col.expr, &|e: &Expr| {
                        plan.calls
                            .iter()
                            .position(|c| c.expr == *e)
                            .map(|i| reduced[i].clone())
                    })
                })
                .collect();
            rows.push((start, cells));
        }
        if plan.desc {
            rows.reverse();
        }
        push(plan, g, rows, &mut out);
    }
    Ok(Some(out))
}

/// A call's value in a window without points, as InfluxDB's fill iterator of the call's type
/// gives it: a fill value cast to that type (`castToInteger` truncates a float, so `fill(2.5)`
/// of a sum is 2; a mean's or a median's is 2.5), the call's value in the last window with
/// points under `fill(previous)`, else null (0 for `count()`).
fn filled(f: &Func, fill: Fill, previous: &Cell) -> Cell {
    let integer = !matches!(f, Func::Mean | Func::Median);
    match fill {
        #[allow(clippy::cast_precision_loss)]
        Fill::Integer(n) if !integer => Cell::Float(n as f64),
        Fill::Integer(n) => Cell::Integer(n),
        #[allow(clippy::cast_possible_truncation)]
        Fill::Float(x) if integer => Cell::Integer(x as i64),
        Fill::Float(x) => Cell::Float(x),
        Fill::Previous => previous.clone(),
        _ if *f == Func::Count => Cell::Integer(0),
        _ => Cell::Null,
    }
}

/// The mean of a subquery's integers in a bucket as InfluxDB 1.6's `IntegerMeanReducer` takes
/// them from its stream: one int64 sum of them all, converted to a float and divided by their
/// count (no mean per series and shard, as its storage engine reduces a measurement's points).
fn streamed_mean(values: &[i64]) -> Cell {
    if values.is_empty() {
        return Cell::Null;
    }
    let sum = values.iter().fold(0i64, |a, b| a.wrapping_add(*b));
    #[allow(clippy::cast_precision_loss)]
    Cell::Float(sum as f64 / values.len() as f64)
}

/// One output series from its rows, after OFFSET and LIMIT.
fn push(
    plan: &Plan,
    g: &super::select::Group<'_>,
    rows: Vec<(i64, Vec<Cell>)>,
    out: &mut Vec<Series>,
) {
    let mut series = plan.series_shell(g, plan.time_and_columns());
    for (t, cells) in rows.into_iter().skip(plan.offset).take(plan.row_limit()) {
        series
            .values
            .push(std::iter::once(Cell::Time(t)).chain(cells).collect());
    }
    if !series.values.is_empty() {
        out.push(series);
    }
}

/// A series' integer points in `range`, in time order.
fn integers(
    source: &mut dyn Source,
    s: &SeriesMeta,
    range: TimeRange,
) -> Result<Vec<(i64, i64)>, SourceError> {
    let Some(f) = s.fields.first() else {
        return Ok(Vec::new());
    };
    Ok(source
        .values(f.key, range, false, None)?
        .into_iter()
        .filter_map(|(t, v)| match v {
            Value::Integer(i) => Some((t, i)),
            _ => None,
        })
        .collect())
}

/// One reducer over a bucket's integers (not empty), as InfluxDB's integer reducers compute it.
fn reduce(f: &Func, v: &[i64]) -> Cell {
    #[allow(clippy::cast_precision_loss)]
    let n = v.len() as f64;
    match f {
        Func::Count => Cell::Integer(i64::try_from(v.len()).unwrap_or(i64::MAX)),
        Func::Sum => Cell::Integer(v.iter().fold(0i64, |a, b| a.wrapping_add(*b))),
        #[allow(clippy::cast_precision_loss)]
        Func::Mean => Cell::Float(v.iter().fold(0i64, |a, b| a.wrapping_add(*b)) as f64 / n),
        Func::Min => v.iter().min().map_or(Cell::Null, |m| Cell::Integer(*m)),
        Func::Max => v.iter().max().map_or(Cell::Null, |m| Cell::Integer(*m)),
        Func::Spread => match (v.iter().min(), v.iter().max()) {
            (Some(lo), Some(hi)) => Cell::Integer(hi.wrapping_sub(*lo)),
            _ => Cell::Null,
        },
        Func::Median => {
            let mut v = v.to_vec();
            v.sort_unstable();
            let mid = v.len() / 2;
            #[allow(clippy::cast_precision_loss)]
            if v.len() % 2 == 1 {
                Cell::Float(v[mid] as f64)
            } else {
                let (a, b) = (v[mid - 1], v[mid]);
                Cell::Float(a as f64 + b.wrapping_sub(a) as f64 / 2.0)
            }
        }
        _ => Cell::Null,
    }
}

/// A transformation of one series' integer points; `None` for one this module does not run.
fn transform(t: Transform, points: &[(i64, i64)]) -> Option<Vec<(i64, Vec<Cell>)>> {
    let mut out = Vec::new();
    match t {
        Transform::Difference { non_negative } => {
            for w in points.windows(2) {
                let d = w[1].1.wrapping_sub(w[0].1);
                if w[1].0 != w[0].0 && !(non_negative && d < 0) {
                    out.push((w[1].0, vec![Cell::Integer(d)]));
                }
            }
        }
        Transform::CumulativeSum => {
            let mut sum = 0i64;
            for (t, v) in points {
                sum = sum.wrapping_add(*v);
                out.push((*t, vec![Cell::Integer(sum)]));
            }
        }
        Transform::Derivative { unit, non_negative } => {
            for w in points.windows(2) {
                if w[1].0 == w[0].0 {
                    continue;
                }
                #[allow(clippy::cast_precision_loss)]
                let d =
                    w[1].1.wrapping_sub(w[0].1) as f64 / ((w[1].0 - w[0].0) as f64 / unit as f64);
                if !(non_negative && d < 0.0) {
                    out.push((w[1].0, vec![Cell::Float(d)]));
                }
            }
        }
        Transform::MovingAverage(n) => {
            if n == 0 {
                return None;
            }
            for w in points.windows(n) {
                let sum = w.iter().fold(0i64, |a, p| a.wrapping_add(p.1));
                #[allow(clippy::cast_precision_loss)]
                out.push((w[n - 1].0, vec![Cell::Float(sum as f64 / n as f64)]));
            }
        }
        _ => return None,
    }
    Some(out)
}
