//! Calls (aggregates, selectors, transformations) over the general data model: InfluxDB's type
//! errors for calls of types they do not take (`unsupported mean iterator type:
//! *query.stringInterruptIterator`), and calls over one field of any type run on the model's
//! engine, the field presented as the model's float `value` ([`Bridge`]) and the answer's
//! values read back as the field's type. Integers are exact through a float below 2^53: an
//! answer that reads or computes one beyond is refused rather than rounded. Calls over several
//! fields, or `*` and regexes in calls, are refused by name.

use std::collections::BTreeSet;

use crate::influxql::{DataType, Expr, SelectStatement, VarRef};

use super::check::{column_names, Plan};
use super::result::{Cell, Series};
use super::typed::{read_field, Fields};
use super::{
    Context, FieldType, IntervalStats, SeriesMeta, Source, SourceError, StatementError,
    StatementOutcome, TimeRange, Value, FIELD,
};

/// The largest magnitude a float holds every integer up to.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn refuse(what: &str) -> StatementOutcome {
    Ok(Err(StatementError::Failed(format!(
        "{what} is not supported by Fieldline"
    ))))
}

/// InfluxDB's name of a call in its "unsupported … iterator type" error, and whether it takes
/// booleans: the calls that take numbers only (and `min`/`max`, which take booleans too).
fn numeric_only(call: &str) -> Option<(&'static str, bool)> {
    Some(match call {
        "mean" => ("mean", false),
        "median" => ("median", false),
        "stddev" => ("stddev", false),
        "spread" => ("spread", false),
        "sum" => ("sum", false),
        "percentile" => ("percentile", false),
        "integral" => ("integral", false),
        "derivative" | "non_negative_derivative" => ("derivative", false),
        "difference" | "non_negative_difference" => ("difference", false),
        "moving_average" => ("moving average", false),
        "cumulative_sum" => ("cumulative sum", false),
        "top" => ("top", false),
        "bottom" => ("bottom", false),
        "min" => ("min", true),
        "max" => ("max", true),
        _ => return None,
    })
}

/// Calls whose value is one of the field's values (read back as the field's type).
fn selects_a_value(call: &str) -> bool {
    matches!(
        call,
        "first"
            | "last"
            | "min"
            | "max"
            | "mode"
            | "distinct"
            | "sample"
            | "top"
            | "bottom"
            | "percentile"
    )
}

/// Calls of integers whose value is an integer in InfluxDB.
fn keeps_integers(call: &str) -> bool {
    matches!(
        call,
        "sum" | "spread" | "difference" | "non_negative_difference" | "cumulative_sum"
    )
}

pub(super) fn run(
    s: &SelectStatement,
    plan: &Plan,
    ctx: &Context,
    source: &mut dyn Source,
    all: Vec<SeriesMeta>,
    fields: &Fields,
) -> StatementOutcome {
    // The type errors InfluxDB's compiler gives, whatever else the statement does.
    let mut error = None;
    for f in &s.fields {
        f.expr.walk(&mut |e| {
            if let Expr::Call { name, args } = e {
                if let (Some((label, booleans)), Some(Expr::VarRef(v))) =
                    (numeric_only(name), args.first().map(Expr::unparen))
                {
                    let t = fields.any(v);
                    let bad = match t {
                        Some(FieldType::String) => Some("string"),
                        Some(FieldType::Boolean) if !booleans => Some("boolean"),
                        _ => None,
                    };
                    if let (Some(bad), None) = (bad, &error) {
                        error = Some(format!(
                            "unsupported {label} iterator type: *query.{bad}InterruptIterator"
                        ));
                    }
                }
            }
        });
    }
    if let Some(e) = error {
        return Ok(Err(StatementError::Failed(e)));
    }
    let mut wildcard = false;
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut note = |e: &Expr| match e {
        Expr::Call { args, .. }
            if args
                .first()
                .is_some_and(|a| matches!(a.unparen(), Expr::Wildcard(_) | Expr::Regex(_))) =>
        {
            wildcard = true;
        }
        Expr::Wildcard(_) => wildcard = true,
        Expr::VarRef(v) if fields.any(v).is_some() => {
            names.insert(v.name.clone());
        }
        _ => {}
    };
    for f in &s.fields {
        f.expr.walk(&mut note);
    }
    if let Some(c) = &s.condition {
        c.walk(&mut note);
    }
    if wildcard {
        return refuse("a wildcard or regex in a call over series of several fields");
    }
    let Some(field) = names.iter().next().cloned() else {
        // No field of these measurements: no points.
        return Ok(Ok(Vec::new()));
    };
    if names.len() > 1 {
        return refuse("a statement with calls over several fields");
    }

    // The statement over the field presented as the model's `value`, its columns keeping the
    // names they had.
    let mut renamed = s.clone();
    let listed: Vec<(Expr, Option<String>)> = s
        .fields
        .iter()
        .filter(|f| !is_time(&f.expr) || f.alias.is_some())
        .map(|f| (f.expr.clone(), f.alias.clone()))
        .collect();
    let mut named = column_names(&listed).into_iter();
    for f in &mut renamed.fields {
        if is_time(&f.expr) && f.alias.is_none() {
            continue;
        }
        f.alias = named.next();
        rename(&mut f.expr, &field);
    }
    if let Some(c) = &mut renamed.condition {
        rename(c, &field);
    }
    let mut bridged_plan = match Plan::new(&renamed, ctx) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    bridged_plan.bounds = plan.bounds;
    bridged_plan.lone_selector = plan.lone_selector;

    let mut bridge = Bridge::new(source, &all, &field, plan.bounds.range())?;
    let channels = bridge.channels.clone();
    let ty = bridge.ty;
    let mut answer = match bridged_plan.execute_over(ctx, &mut bridge, channels)? {
        Ok(series) => series,
        Err(e) => return Ok(Err(e)),
    };
    for series in &mut answer {
        decode(
            series,
            &bridged_plan,
            ty,
            &bridge.strings,
            &mut bridge.beyond,
        );
    }
    if bridge.beyond {
        return refuse("an aggregate or transformation reading or giving an integer beyond ±2^53");
    }
    Ok(Ok(answer))
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name == "time")
}

/// Renames the field `from` (not a tag) to the model's field.
fn rename(e: &mut Expr, from: &str) {
    match e {
        Expr::VarRef(v) if v.name == from && v.data_type != Some(DataType::Tag) => {
            *v = VarRef {
                name: FIELD.to_owned(),
                data_type: v.data_type.filter(|t| *t != DataType::Field),
            };
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

/// The answer's values read back as the field's type, where the column's call gives one of
/// its values (or, of integers, an integer).
fn decode(series: &mut Series, plan: &Plan, ty: FieldType, strings: &[String], beyond: &mut bool) {
    for (i, c) in plan.columns.iter().enumerate() {
        let Expr::Call { name, .. } = c.expr.unparen() else {
            continue;
        };
        let back = selects_a_value(name) || (ty == FieldType::Integer && keeps_integers(name));
        if !back {
            continue;
        }
        for row in &mut series.values {
            let Some(cell) = row.get_mut(i + 1) else {
                continue;
            };
            let Some(x) = cell.as_f64() else {
                continue;
            };
            *cell = match ty {
                FieldType::Float => continue,
                FieldType::Integer => {
                    if x.abs() > EXACT {
                        *beyond = true;
                    }
                    Cell::Integer(super::value::go_int(x))
                }
                FieldType::Boolean => Cell::Bool(x != 0.0),
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                FieldType::String => strings
                    .get(x as usize)
                    .map_or(Cell::Null, |s| Cell::Str(s.clone())),
            };
        }
    }
    // Integers computed beyond 2^53 (a sum) cannot be told from rounded ones.
    if ty == FieldType::Integer {
        for row in &series.values {
            if row
                .iter()
                .skip(1)
                .any(|c| c.as_f64().is_some_and(|x| x.abs() > EXACT))
            {
                *beyond = true;
            }
        }
    }
}

/// One field of each series presented as a channel of the model: its values as floats
/// (integers as themselves, booleans as 0 and 1, strings as their rank among the field's
/// strings).
struct Bridge<'a> {
    inner: &'a mut dyn Source,
    channels: Vec<SeriesMeta>,
    ty: FieldType,
    /// The field's strings, sorted (a string field's values are their indexes here).
    strings: Vec<String>,
    /// An integer beyond ±2^53 was read.
    beyond: bool,
}

impl<'a> Bridge<'a> {
    fn new(
        inner: &'a mut dyn Source,
        all: &[SeriesMeta],
        field: &str,
        range: TimeRange,
    ) -> Result<Bridge<'a>, SourceError> {
        let mut ty = FieldType::Float;
        let mut channels = Vec::new();
        let mut strings = BTreeSet::new();
        for s in all {
            if let Some(f) = s.field(field) {
                ty = f.ty;
                if f.ty == FieldType::String {
                    for (_, c) in read_field(inner, f, range, false, None)? {
                        if let Cell::Str(x) = c {
                            strings.insert(x);
                        }
                    }
                }
                channels.push(SeriesMeta::channel(
                    f.key,
                    s.measurement.clone(),
                    s.tags.clone(),
                ));
            }
        }
        Ok(Bridge {
            inner,
            channels,
            ty,
            strings: strings.into_iter().collect(),
            beyond: false,
        })
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
        if self.ty == FieldType::Float {
            return self.inner.points(key, range, desc, limit);
        }
        let values = self.inner.values(key, range, desc, limit)?;
        let mut out = Vec::with_capacity(values.len());
        for (t, v) in values {
            #[allow(clippy::cast_precision_loss)]
            let x = match v {
                Value::Float(f) => f,
                Value::Integer(i) => {
                    if i.unsigned_abs() > 1 << 53 {
                        self.beyond = true;
                    }
                    i as f64
                }
                Value::Boolean(b) => f64::from(u8::from(b)),
                Value::String(s) => {
                    let i = self.strings.binary_search(&s).unwrap_or_default();
                    i as f64
                }
            };
            out.push((t, x));
        }
        Ok(out)
    }

    // A float field keeps the source's own summaries and batched lookups.
    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        if self.ty == FieldType::Float {
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
        if self.ty == FieldType::Float {
            return self.inner.interval_stats(key, range, base, interval);
        }
        Ok(None)
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        if self.ty == FieldType::Float {
            return self.inner.range_stats(key, range);
        }
        Ok(None)
    }
}
