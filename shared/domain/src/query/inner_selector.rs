//! `first()` and `last()` without `GROUP BY time` in a subquery grouped by tags its outer
//! statement does not group by, as InfluxDB 1.6 picks among points of one time.
//!
//! InfluxDB compiles such an inner statement with the outer statement's dimensions: its storage
//! engine lists the series in tag sets of the *outer* dimensions (one heap for all the inner
//! groups of a tag set), limits each series to one point (`tsm1`'s limit iterator lets two
//! through), merges them in its sorted merge heap ([`super::merge`]), and then its query limit
//! iterator keeps one point per run of points of one inner group (its count restarts where the
//! tags change). The reducer takes, of the points that passed, the first (or last) time and of
//! that time the greatest value. So which series' point an inner group answers when several
//! share its first (last) time depends on the other groups' series, not on its own alone: of
//! `net`'s `eth0` series at 01:59, `last()` in `SELECT * FROM (SELECT last("bytes_recv") ...
//! GROUP BY "interface")` is server01's, where the statement alone answers server02's.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::influxql::{
    DataType, Dimension, Expr, MeasurementName, SelectStatement, Source as From,
};

use super::check::Plan;
use super::cond::{Bounds, Truth};
use super::result::{Cell, Series};
use super::show::SHARD_GROUP_DURATION;
use super::{FieldType, SeriesMeta, Source, SourceError, TimeRange, Value};

/// The inner answer `answer` of `inner` (planned as `plan`, run under `outer` within
/// `bounds`), its `first()`/`last()` values chosen among points of one time as InfluxDB chooses
/// them under `outer`'s dimensions. The answer unchanged when the statements are of another
/// shape.
pub(super) fn as_under(
    inner: &SelectStatement,
    plan: Option<&Plan>,
    outer: &SelectStatement,
    source: &mut dyn Source,
    bounds: Bounds,
    mut answer: Vec<Series>,
) -> Result<Vec<Series>, SourceError> {
    let (Some(shape), Some(plan)) = (Shape::of(inner, outer), plan) else {
        return Ok(answer);
    };
    let range = super::subquery::intersect(plan.bounds, bounds).range();
    let from = [&shape.measurement];
    let all = super::series_matching(
        source,
        &plan.database,
        Some(&plan.retention_policy),
        &from,
        &[],
    )?;
    // A condition on tags only: the series it passes (InfluxDB's tag sets hold no others).
    if let Some(c) = &plan.rest {
        let mut on_fields = false;
        c.walk(&mut |e| {
            if let Expr::VarRef(v) = e {
                on_fields |= v.data_type == Some(DataType::Field)
                    || all.iter().any(|s| s.field(&v.name).is_some());
            }
        });
        if on_fields {
            return Ok(answer);
        }
    }
    // The series with the field, each with its field's key, by their outer tag set.
    let mut sets: BTreeMap<Vec<String>, Vec<(&SeriesMeta, i64)>> = BTreeMap::new();
    for s in &all {
        let Some(f) = s.field(&shape.field) else {
            continue;
        };
        match plan.rest.as_ref().map(|c| super::cond::eval(c, s, None)) {
            None | Some(Truth::True) => {}
            Some(Truth::False) => continue,
            Some(Truth::Unknown) => return Ok(answer),
        }
        if !matches!(f.ty, FieldType::Float | FieldType::Integer) {
            return Ok(answer);
        }
        sets.entry(tags_of(&shape.outer_dims, |k| s.tag(k)))
            .or_default()
            .push((s, f.key));
    }
    // The points that pass, per outer tag set and shard group: each read once for all groups.
    let mut passing: HashMap<(Vec<String>, i64), Vec<Passed>> = HashMap::new();
    for series in &mut answer {
        let tag = |k: &str| {
            series
                .tags
                .iter()
                .flatten()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let group = tags_of(&shape.inner_dims, tag);
        let outer_key = tags_of(&shape.outer_dims, tag);
        let Some(set) = sets.get(&outer_key) else {
            continue;
        };
        let [row] = series.values.as_mut_slice() else {
            continue;
        };
        let (Some(Cell::Time(t)), Some(cell)) = (row.first().cloned(), row.get_mut(1)) else {
            continue;
        };
        // The shard group holding `t`: each shard's engine runs its own heap.
        let start = super::cardinality::shard_group_start(t);
        let passed = match passing.entry((outer_key, start)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(passed(&shape, set, start, range, source)?),
        };
        if let Some(v) = chosen(passed, &group, t) {
            *cell = v;
        }
    }
    Ok(answer)
}

/// A point that passed the query's limit iterator: its inner group, time and value.
type Passed = (Vec<String>, i64, Value);

/// What the statements must be for [`as_under`] to apply.
struct Shape {
    measurement: MeasurementName,
    field: String,
    last: bool,
    /// The inner statement's tag dimensions, and the outer's (fewer).
    inner_dims: Vec<String>,
    outer_dims: Vec<String>,
}

impl Shape {
    fn of(inner: &SelectStatement, outer: &SelectStatement) -> Option<Shape> {
        let [field] = inner.fields.as_slice() else {
            return None;
        };
        let Expr::Call { name, args } = field.expr.unparen() else {
            return None;
        };
        let last = match name.as_str() {
            "first" => false,
            "last" => true,
            _ => return None,
        };
        let [Expr::VarRef(v)] = args.as_slice() else {
            return None;
        };
        if v.data_type == Some(DataType::Tag) {
            return None;
        }
        let [From::Measurement(m)] = inner.from.as_slice() else {
            return None;
        };
        if !matches!(m.name, MeasurementName::Name(_)) {
            return None;
        }
        if inner.limit.is_some()
            || inner.offset.is_some()
            || inner.slimit.is_some()
            || inner.soffset.is_some()
        {
            return None;
        }
        let tags = |s: &SelectStatement| -> Option<Vec<String>> {
            let mut keys = Vec::new();
            for d in &s.group_by {
                match d {
                    Dimension::Tag(k) => keys.push(k.name.clone()),
                    // GROUP BY time outside is GROUP BY time inside too.
                    _ => return None,
                }
            }
            keys.sort();
            keys.dedup();
            Some(keys)
        };
        let inner_dims = tags(inner)?;
        let outer_dims = tags(outer)?;
        if inner_dims.iter().all(|k| outer_dims.contains(k)) {
            // The same dimensions: the statement's own choice (`super::buckets`).
            return None;
        }
        Some(Shape {
            measurement: m.name.clone(),
            field: v.name.clone(),
            last,
            inner_dims,
            outer_dims,
        })
    }
}

fn tags_of<'a>(keys: &[String], tag: impl Fn(&str) -> Option<&'a str>) -> Vec<String> {
    keys.iter()
        .map(|k| tag(k).unwrap_or_default().to_owned())
        .collect()
}

/// The points of the outer tag set `set` in the shard group starting at `start` that pass:
/// the series in the index's order (reversed for `last`) each limited to one point (two let
/// through), merged by InfluxDB's heap, then the first point of each run of one group's points.
fn passed(
    shape: &Shape,
    set: &[(&SeriesMeta, i64)],
    start: i64,
    range: TimeRange,
    source: &mut dyn Source,
) -> Result<Vec<Passed>, SourceError> {
    let shard = TimeRange {
        min: range.min.max(start),
        max: range
            .max
            .min(start.saturating_add(SHARD_GROUP_DURATION - 1)),
    };
    let metas: Vec<&SeriesMeta> = set.iter().map(|(s, _)| *s).collect();
    let mut lists = Vec::with_capacity(set.len());
    let mut groups = Vec::with_capacity(set.len());
    for i in super::merge::key_order(&metas) {
        let (s, key) = set[i];
        lists.push(source.values(key, shard, shape.last, Some(2))?);
        groups.push(tags_of(&shape.inner_dims, |k| s.tag(k)));
    }
    let merged = super::merge::merge_series(lists, |p| p.0, |_, _| false, shape.last);
    let mut out = Vec::new();
    let mut before: Option<usize> = None;
    for (i, (time, value)) in merged {
        if before.is_none_or(|b| groups[b] != groups[i]) {
            out.push((groups[i].clone(), time, value));
        }
        before = Some(i);
    }
    Ok(out)
}

/// The value InfluxDB answers for the inner group `group` whose first (last) time is `t`: of
/// its points of that time that passed, the greatest (the reducer's rule for ties). `None`
/// when none passed (which cannot be) or the values are not numbers.
fn chosen(passed: &[Passed], group: &[String], t: i64) -> Option<Cell> {
    let mut best: Option<Cell> = None;
    for (g, time, value) in passed {
        if g.as_slice() != group || *time != t {
            continue;
        }
        let cell = super::value::cell(value.clone());
        let greater = match (&best, &cell) {
            (None, _) => true,
            (Some(Cell::Integer(a)), Cell::Integer(b)) => b > a,
            (Some(a), b) => b.as_f64()? > a.as_f64()?,
        };
        if greater {
            best = Some(cell);
        }
    }
    best.filter(|c| c.as_f64().is_some())
}
