//! One field of typed series presented to the model's engine as the float `value` of its
//! channels ([`super::typed_calls`]): integers as themselves (or by rank), booleans as 0 and 1,
//! strings by rank; the answer's values read back as the field's type.

use std::collections::BTreeSet;

use crate::influxql::Expr;

use super::check::Plan;
use super::cond::Truth;
use super::result::{Cell, Series};
use super::typed::Fields;
use super::typed_calls::{answers_an_integer, field_names, keeps_integers, selects_a_value, EXACT};
use super::{FieldType, IntervalStats, SeriesMeta, Source, SourceError, TimeRange, Value};

/// The series as channels of the model read by the field's key; those without the field with
/// no field at all (their tags are still among those `GROUP BY *` stands for; they are not
/// read).
pub(super) fn channels_of(all: &[SeriesMeta], field: &str) -> Vec<SeriesMeta> {
    all.iter()
        .map(|s| match s.field(field) {
            Some(f) => SeriesMeta::channel(f.key, s.measurement.clone(), s.tags.clone()),
            None => SeriesMeta {
                measurement: s.measurement.clone(),
                tags: s.tags.clone(),
                fields: Vec::new(),
            },
        })
        .collect()
}

/// One field of each series presented as a channel of the model: its values as floats
/// (integers as themselves, booleans as 0 and 1, strings as their rank among the field's
/// strings).
pub(super) struct Bridge<'a> {
    pub(super) inner: &'a mut dyn Source,
    pub(super) channels: Vec<SeriesMeta>,
    pub(super) ty: FieldType,
    /// The field's values, sorted, when they are presented by their rank (their index here).
    pub(super) ranks: Option<Vec<Value>>,
    /// An integer beyond ±2^53 was read, or computed, as a float.
    pub(super) beyond: bool,
    /// The sum of the magnitudes of the integers read as floats.
    pub(super) magnitude: u64,
    /// The field's name, and each channel's series by key.
    pub(super) field: String,
    pub(super) series: std::collections::BTreeMap<i64, SeriesMeta>,
    /// A condition on fields: only the points at whose time it holds are presented.
    pub(super) filter: Option<(Expr, Fields)>,
}

impl<'a> Bridge<'a> {
    pub(super) fn new(
        inner: &'a mut dyn Source,
        all: &[SeriesMeta],
        field: &str,
        range: TimeRange,
        by_rank: bool,
    ) -> Result<Bridge<'a>, SourceError> {
        let mut ty = FieldType::Float;
        let mut channels = Vec::new();
        let mut keys = Vec::new();
        let mut series = std::collections::BTreeMap::new();
        for s in all {
            if let Some(f) = s.field(field) {
                ty = f.ty;
                keys.push(f.key);
                series.insert(f.key, s.clone());
            }
        }
        channels.extend(channels_of(all, field));
        // Strings have no other presentation.
        let ranked = ty == FieldType::String || (by_rank && ty == FieldType::Integer);
        let ranks = if ranked {
            let mut values: Vec<Value> = Vec::new();
            for k in keys {
                values.extend(
                    inner
                        .values(k, range, false, None)?
                        .into_iter()
                        .map(|p| p.1),
                );
            }
            values.sort_by(order);
            values.dedup();
            Some(values)
        } else {
            None
        };
        Ok(Bridge {
            inner,
            channels,
            ty,
            ranks,
            beyond: false,
            magnitude: 0,
            field: field.to_owned(),
            series,
            filter: None,
        })
    }

    /// A value as the model's engine reads it.
    fn encode(&mut self, v: Value) -> f64 {
        if let Some(ranks) = &self.ranks {
            let i = ranks.binary_search_by(|r| order(r, &v)).unwrap_or_default();
            #[allow(clippy::cast_precision_loss)]
            return i as f64;
        }
        match v {
            Value::Float(f) => f,
            Value::Integer(i) => {
                // Beyond 2^53 an integer, or a sum of them, is rounded as a float.
                self.magnitude = self.magnitude.saturating_add(i.unsigned_abs());
                if self.magnitude > 1 << 53 {
                    self.beyond = true;
                }
                #[allow(clippy::cast_precision_loss)]
                let x = i as f64;
                x
            }
            Value::Boolean(b) => f64::from(u8::from(b)),
            // Strings are always ranked.
            Value::String(_) => 0.0,
        }
    }

    /// The answer's values read back as the field's type, where the column's call gives one
    /// of its values (or, of integers, an integer).
    pub(super) fn decode(&mut self, series: &mut Series, plan: &Plan) {
        let ty = self.ty;
        for (i, c) in plan.columns.iter().enumerate() {
            let Expr::Call { name, args } = c.expr.unparen() else {
                continue;
            };
            let back = selects_a_value(name)
                || (ty == FieldType::Integer && keeps_integers(name) && integer_arg(args));
            if !back || ty == FieldType::Float {
                continue;
            }
            for row in &mut series.values {
                let Some(cell) = row.get_mut(i + 1) else {
                    continue;
                };
                let Some(x) = cell.as_f64() else {
                    continue;
                };
                *cell = match (&self.ranks, ty) {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    (Some(ranks), _) => ranks
                        .get(x as usize)
                        .cloned()
                        .map_or(Cell::Null, super::value::cell),
                    (None, FieldType::Boolean) => Cell::Bool(x != 0.0),
                    _ => {
                        if x.abs() > EXACT {
                            self.beyond = true;
                        }
                        Cell::Integer(super::value::go_int(x))
                    }
                };
            }
        }
        // Integers computed beyond 2^53 as floats (a sum) cannot be told from rounded ones.
        if ty == FieldType::Integer && self.ranks.is_none() {
            let big = |c: &Cell| c.as_f64().is_some_and(|x| x.abs() > EXACT);
            if series.values.iter().any(|r| r.iter().skip(1).any(big)) {
                self.beyond = true;
            }
        }
    }
}

/// Whether a transformation that keeps integers reads integers: raw values, or an aggregate
/// that keeps them (`cumulative_sum(mean(rpm))` is a float in InfluxDB).
fn integer_arg(args: &[Expr]) -> bool {
    match args.first().map(Expr::unparen) {
        Some(Expr::Call { name, .. }) => answers_an_integer(name),
        _ => true,
    }
}

/// The order of values of one type.
fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Boolean(x), Value::Boolean(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

impl Source for Bridge<'_> {
    fn series(
        &mut self,
        _: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        Ok(self
            .channels
            .iter()
            .filter(|s| measurements.is_none_or(|m| m.contains(&s.measurement)))
            .cloned()
            .collect())
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        if let Some((cond, fields)) = &self.filter {
            let Some(s) = self.series.get(&key) else {
                return Ok(Vec::new());
            };
            let mut names: BTreeSet<&str> = BTreeSet::new();
            names.insert(self.field.as_str());
            let read = field_names(std::iter::once(cond), fields);
            names.extend(read.iter().map(String::as_str));
            let rows = super::typed::series_rows(self.inner, s, &names, range, None, false)?;
            let mut kept: Vec<(i64, Value)> = Vec::new();
            for (t, row) in rows {
                let Some(v) = row.get(self.field.as_str()).and_then(super::value::of_cell) else {
                    continue;
                };
                if super::typed::eval_cond(cond, s, fields, Some(&row)) == Truth::True {
                    kept.push((t, v));
                }
            }
            if desc {
                kept.reverse();
            }
            kept.truncate(limit.unwrap_or(usize::MAX));
            return Ok(kept.into_iter().map(|(t, v)| (t, self.encode(v))).collect());
        }
        if self.ty == FieldType::Float && self.ranks.is_none() {
            return self.inner.points(key, range, desc, limit);
        }
        let values = self.inner.values(key, range, desc, limit)?;
        Ok(values
            .into_iter()
            .map(|(t, v)| (t, self.encode(v)))
            .collect())
    }

    // A float field keeps the source's own summaries and batched lookups.
    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        if self.ty == FieldType::Float && self.filter.is_none() {
            return self.inner.edge_points(keys, range, desc);
        }
        keys.iter()
            .map(|&k| Ok(self.points(k, range, desc, Some(1))?.first().copied()))
            .collect()
    }

    fn interval_stats(
        &mut self,
        key: i64,
        range: TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<IntervalStats>>, SourceError> {
        if self.ty == FieldType::Float && self.filter.is_none() {
            return self.inner.interval_stats(key, range, base, interval);
        }
        Ok(None)
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        if self.ty == FieldType::Float && self.filter.is_none() {
            return self.inner.range_stats(key, range);
        }
        Ok(None)
    }

    fn extreme(
        &mut self,
        key: i64,
        range: TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, SourceError> {
        if self.ty == FieldType::Float && self.filter.is_none() {
            return self.inner.extreme(key, range, largest);
        }
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
