//! Calls (aggregates, selectors, transformations) over the general data model: InfluxDB's type
//! errors for calls of types they do not take (`unsupported mean iterator type:
//! *query.stringInterruptIterator`), and calls over one field of any type run on the model's
//! engine, the field presented as the model's float `value` ([`Bridge`]) and the answer's
//! values read back as the field's type. Integers are exact through a float below 2^53: an
//! answer that reads or computes one beyond is refused rather than rounded. Calls over several
//! fields, or `*` and regexes in calls, are refused by name.

use std::collections::BTreeSet;

use crate::influxql::{BinaryOp, DataType, Expr, Fill, SelectStatement, VarRef};

use super::check::{column_names, Plan};
use super::cond::Truth;
use super::result::{Cell, Series};
use super::typed::Fields;
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
    let expanded;
    let s = match expand_wildcards(s, fields) {
        Err(what) => return refuse(what),
        Ok(Some(e)) => {
            expanded = e;
            &expanded
        }
        Ok(None) => s,
    };
    let names = field_names(s.fields.iter().map(|f| &f.expr), fields);
    // A selector's point with fields of its own beside it (`max(rpm), temp`): the selector
    // runs over its field, and the other fields are read at the point it selected.
    let in_calls = fields_in_calls(s, fields);
    let beside: BTreeSet<String> = names.difference(&in_calls).cloned().collect();
    let selector_with_fields =
        in_calls.len() == 1 && !beside.is_empty() && (plan.lone_selector || plan.multi.is_some());
    if names.len() > 1 && !selector_with_fields {
        return split(s, plan, ctx, source, fields);
    }
    let names = if selector_with_fields {
        in_calls
    } else {
        names
    };
    let Some(field) = names.iter().next().cloned() else {
        // No field of these measurements: no points.
        return Ok(Ok(Vec::new()));
    };

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
    // A condition on fields is checked point by point by the bridge, on the typed values;
    // the model's engine sees its comparisons of fields as true.
    // (A condition on a float field alone is the model's own: its engine checks it.)
    let field_condition = plan
        .rest
        .as_ref()
        .filter(|c| {
            let read = field_names(std::iter::once(*c), fields);
            let own = read.iter().all(|n| *n == field)
                && all
                    .iter()
                    .filter_map(|s| s.field(&field))
                    .all(|f| f.ty == FieldType::Float);
            !read.is_empty() && !own
        })
        .cloned();
    if let Some(c) = &mut renamed.condition {
        if field_condition.is_some() {
            *c = without_fields(c, fields);
        } else {
            rename(c, &field);
        }
    }
    let mut bridged_plan = match Plan::new(&renamed, ctx) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    bridged_plan.bounds = plan.bounds;
    bridged_plan.lone_selector = plan.lone_selector;

    // Integers and strings are presented by their rank among the field's values when every
    // column is a call answering one of them (exact for any int64); else integers as floats.
    let mut calls: Vec<&str> = Vec::new();
    for f in &s.fields {
        f.expr.walk(&mut |e| {
            if let Expr::Call { name, .. } = e {
                calls.push(name);
            }
        });
    }
    let by_rank = s.fields.iter().all(|f| {
        let no_call = !f.expr.any(|e| matches!(e, Expr::Call { .. }));
        is_time(&f.expr)
            || matches!(f.expr.unparen(), Expr::Call { name, .. } if selects_a_value(name) || name == "count")
            // Tags and other fields beside a selector are not read from the ranks.
            || (no_call && !field_names(std::iter::once(&f.expr), fields).contains(&field))
    }) && calls
        .iter()
        .all(|c| selects_a_value(c) || *c == "count" || *c == "elapsed")
        // A fill value or a line between buckets is no rank.
        && matches!(plan.fill, Fill::Null | Fill::None | Fill::Previous);
    // InfluxDB reduces integers in int64 (a mean divides their exact sum): only counts and
    // times are exact over floats beyond 2^53.
    let exact = calls.iter().any(|c| !matches!(*c, "count" | "elapsed"));

    let mut bridge = Bridge::new(source, &all, &field, plan.bounds.range(), by_rank)?;
    let filtered = field_condition.is_some();
    bridge.filter = field_condition.map(|c| (c, fields.clone()));
    bridged_plan.integer_field = bridge.ty == FieldType::Integer;
    let channels = bridge.channels.clone();
    let mut answer = match bridged_plan.execute_over(ctx, &mut bridge, channels)? {
        Ok(series) => series,
        Err(e) => return Ok(Err(e)),
    };
    for series in &mut answer {
        bridge.decode(series, &bridged_plan);
    }
    if bridge.beyond && exact {
        // Over floats, integers beyond 2^53 are not told apart: reduced exactly instead,
        // where that is done.
        let integers = bridge.ty == FieldType::Integer && !filtered;
        if integers {
            if let Some(series) =
                super::exact::run(&bridged_plan, source, &channels_of(&all, &field), fields)?
            {
                return Ok(Ok(series));
            }
        }
        return refuse(
            "an aggregate, selector or transformation over integers beyond ±2^53 (exact in \
             InfluxDB)",
        );
    }
    if selector_with_fields {
        for series in &mut answer {
            fill_beside(series, s, plan, source, &all, fields, &field)?;
        }
    }
    Ok(Ok(answer))
}

/// The fields read inside calls.
fn fields_in_calls(s: &SelectStatement, fields: &Fields) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in &s.fields {
        f.expr.walk(&mut |e| {
            if let Expr::Call { args, .. } = e {
                out.extend(field_names(args.iter(), fields));
            }
        });
    }
    out
}

/// The columns beside a selector that read other fields, evaluated at the point it selected:
/// the first series of the output series' group (by the condition's tags) whose field has the
/// selected value at the row's time.
fn fill_beside(
    series: &mut Series,
    s: &SelectStatement,
    plan: &Plan,
    source: &mut dyn Source,
    all: &[SeriesMeta],
    fields: &Fields,
    field: &str,
) -> Result<(), SourceError> {
    let exprs: Vec<&Expr> = s
        .fields
        .iter()
        .filter(|f| !is_time(&f.expr) || f.alias.is_some())
        .map(|f| &f.expr)
        .collect();
    let Some(selector) = exprs
        .iter()
        .position(|e| matches!(e.unparen(), Expr::Call { .. }))
    else {
        return Ok(());
    };
    let others: Vec<usize> = (0..exprs.len())
        .filter(|i| {
            *i != selector
                && field_names(std::iter::once(exprs[*i]), fields)
                    .iter()
                    .any(|n| n != field)
        })
        .collect();
    let name = series.name.clone().unwrap_or_default();
    let tags = series.tags.clone().unwrap_or_default();
    let candidates: Vec<&SeriesMeta> = all
        .iter()
        .filter(|m| {
            m.measurement == name
                && m.field(field).is_some()
                && tags
                    .iter()
                    .all(|(k, v)| m.tag(k).unwrap_or_default() == v.as_str())
                && plan
                    .rest
                    .as_ref()
                    .is_none_or(|c| super::typed::eval_cond(c, m, fields, None) != Truth::False)
        })
        .collect();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for i in &others {
        exprs[*i].walk(&mut |e| {
            if let Expr::VarRef(v) = e {
                names.insert(v.name.as_str());
            }
        });
    }
    names.insert(field);
    for row in &mut series.values {
        let (Some(Cell::Time(t)), Some(selected)) = (row.first().cloned(), row.get(selector + 1))
        else {
            continue;
        };
        let selected = selected.clone();
        let at = TimeRange { min: t, max: t };
        for m in &candidates {
            let rows = super::typed::series_rows(source, m, &names, at, None, false)?;
            let Some(values) = rows.get(&t) else {
                continue;
            };
            let same = values
                .get(field)
                .is_some_and(|v| super::value::compare(BinaryOp::Eq, v, &selected));
            if !same {
                continue;
            }
            for i in &others {
                if let Some(cell) = row.get_mut(i + 1) {
                    *cell = super::typed::eval_row(exprs[*i], t, values, m, fields);
                }
            }
            break;
        }
    }
    Ok(())
}

/// The fields of the statement's measurements the expressions read.
fn field_names<'e>(exprs: impl Iterator<Item = &'e Expr>, fields: &Fields) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in exprs {
        e.walk(&mut |x| {
            if let Expr::VarRef(v) = x {
                if fields.any(v).is_some() {
                    names.insert(v.name.clone());
                }
            }
        });
    }
    names
}

/// The statement with each call of `*` or `/re/` (`count(*)`, `max(/^usage_/)`) replaced by
/// the call of each field it matches (of a type the call takes), named `call_field`; `None`
/// when it has none; a refusal where such a call is not the whole of its column.
fn expand_wildcards(
    s: &SelectStatement,
    fields: &Fields,
) -> Result<Option<SelectStatement>, &'static str> {
    let is_pattern = |e: &Expr| matches!(e.unparen(), Expr::Wildcard(_) | Expr::Regex(_));
    let mut any = false;
    let mut out = s.clone();
    out.fields = Vec::new();
    for f in &s.fields {
        let mut nested = false;
        f.expr.walk(&mut |e| {
            if let Expr::Call { args, .. } = e {
                nested |= args.first().is_some_and(is_pattern);
            }
        });
        let Expr::Call { name, args } = f.expr.unparen() else {
            if nested {
                return Err("a wildcard or regex in a call inside an expression");
            }
            out.fields.push(f.clone());
            continue;
        };
        let Some(pattern) = args.first().filter(|a| is_pattern(a)) else {
            if nested {
                return Err("a wildcard or regex in a nested call");
            }
            out.fields.push(f.clone());
            continue;
        };
        any = true;
        let takes_booleans = numeric_only(name).map(|(_, b)| b);
        for field in fields.names() {
            if let Expr::Regex(re) = pattern.unparen() {
                if !re.is_match(field) {
                    continue;
                }
            }
            let var = VarRef {
                name: field.to_owned(),
                data_type: None,
            };
            let takes = match (fields.any(&var), takes_booleans) {
                (_, None) => true,
                (Some(FieldType::Float | FieldType::Integer), Some(_)) => true,
                (Some(FieldType::Boolean), Some(b)) => b,
                _ => false,
            };
            if !takes {
                continue;
            }
            let mut call_args = args.clone();
            call_args[0] = Expr::VarRef(var);
            out.fields.push(crate::influxql::Field {
                expr: Expr::Call {
                    name: name.clone(),
                    args: call_args,
                },
                alias: Some(match &f.alias {
                    Some(a) => format!("{a}_{field}"),
                    None => format!("{name}_{field}"),
                }),
            });
        }
    }
    Ok(any.then_some(out))
}

/// A statement of calls over several fields: each column run as a statement of its own (a
/// selector answering its bucket's time, as beside other calls), the answers joined by series
/// and time, null where a column has no row.
fn split(
    s: &SelectStatement,
    plan: &Plan,
    ctx: &Context,
    source: &mut dyn Source,
    fields: &Fields,
) -> StatementOutcome {
    let listed: Vec<(Expr, Option<String>)> = s
        .fields
        .iter()
        .filter(|f| !is_time(&f.expr) || f.alias.is_some())
        .map(|f| (f.expr.clone(), f.alias.clone()))
        .collect();
    if plan.slimit > 0 || plan.soffset > 0 {
        // Each field's series would be windowed apart.
        return refuse("SLIMIT or SOFFSET over calls of several fields");
    }
    // Calls of several rows at one time (as beside other calls) are not joined by time.
    let several_rows = s.fields.iter().any(|f| {
        f.expr.any(|e| {
            matches!(e, Expr::Distinct(_))
                || matches!(e, Expr::Call { name, .. }
                    if matches!(name.as_str(), "distinct" | "top" | "bottom" | "sample"))
        })
    });
    if several_rows {
        return refuse("distinct(), top(), bottom() or sample() beside calls of other fields");
    }
    let names = column_names(&listed);
    let mut joined: std::collections::BTreeMap<(String, Vec<(String, String)>), Joined> =
        std::collections::BTreeMap::new();
    for (i, ((expr, _), name)) in listed.iter().zip(&names).enumerate() {
        // Fields beside calls would be those of a selected point, of another field.
        let mut outside = false;
        let mut calls = 0;
        walk_outside_calls(expr, &mut |e| match e {
            Expr::VarRef(v) if v.name != "time" => outside = true,
            Expr::Call { .. } => calls += 1,
            _ => {}
        });
        if outside || calls == 0 {
            return refuse("fields or tags beside calls over several fields");
        }
        if field_names(std::iter::once(expr), fields).len() > 1 {
            return refuse("a column of calls over several fields");
        }
        let mut one = s.clone();
        one.fields = vec![crate::influxql::Field {
            expr: expr.clone(),
            alias: Some(name.clone()),
        }];
        let answer = match super::select::run_beside_others(&one, ctx, source, plan.bounds)? {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        for series in answer {
            let key = (
                series.name.clone().unwrap_or_default(),
                series.tags.clone().unwrap_or_default(),
            );
            let j = joined.entry(key).or_insert_with(|| Joined {
                shell: Series {
                    values: Vec::new(),
                    ..series.clone()
                },
                rows: std::collections::BTreeMap::new(),
            });
            for row in series.values {
                let Some(Cell::Time(t)) = row.first() else {
                    continue;
                };
                let cells = j
                    .rows
                    .entry(*t)
                    .or_insert_with(|| vec![Cell::Null; names.len()]);
                cells[i] = row.get(1).cloned().unwrap_or(Cell::Null);
            }
        }
    }
    let mut out = Vec::with_capacity(joined.len());
    for (_, j) in joined {
        let mut series = j.shell;
        series.columns = std::iter::once("time".to_owned())
            .chain(names.iter().cloned())
            .collect();
        let mut rows: Vec<Vec<Cell>> = j
            .rows
            .into_iter()
            .map(|(t, cells)| std::iter::once(Cell::Time(t)).chain(cells).collect())
            .collect();
        if plan.desc {
            rows.reverse();
        }
        rows.truncate(plan.row_limit());
        series.values = rows;
        out.push(series);
    }
    Ok(Ok(out))
}

/// One output series of [`split`]: its name and tags, and its rows by time.
struct Joined {
    shell: Series,
    rows: std::collections::BTreeMap<i64, Vec<Cell>>,
}

/// Calls `f` on the parts of an expression outside calls, and on each call (not inside it).
fn walk_outside_calls<'e>(e: &'e Expr, f: &mut impl FnMut(&'e Expr)) {
    f(e);
    match e {
        Expr::Binary { lhs, rhs, .. } => {
            walk_outside_calls(lhs, f);
            walk_outside_calls(rhs, f);
        }
        Expr::Paren(inner) => walk_outside_calls(inner, f),
        _ => {}
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name == "time")
}

/// The series as channels of the model read by the field's key; those without the field with
/// no field at all (their tags are still among those `GROUP BY *` stands for; they are not
/// read).
fn channels_of(all: &[SeriesMeta], field: &str) -> Vec<SeriesMeta> {
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

/// A condition with each comparison that reads a field made `true` (those are checked on the
/// points before).
fn without_fields(e: &Expr, fields: &Fields) -> Expr {
    match e {
        Expr::Paren(inner) => Expr::Paren(Box::new(without_fields(inner, fields))),
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::And | BinaryOp::Or) => {
            Expr::Binary {
                op: *op,
                lhs: Box::new(without_fields(lhs, fields)),
                rhs: Box::new(without_fields(rhs, fields)),
            }
        }
        other if !field_names(std::iter::once(other), fields).is_empty() => Expr::Boolean(true),
        other => other.clone(),
    }
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

/// One field of each series presented as a channel of the model: its values as floats
/// (integers as themselves, booleans as 0 and 1, strings as their rank among the field's
/// strings).
struct Bridge<'a> {
    inner: &'a mut dyn Source,
    channels: Vec<SeriesMeta>,
    ty: FieldType,
    /// The field's values, sorted, when they are presented by their rank (their index here).
    ranks: Option<Vec<Value>>,
    /// An integer beyond ±2^53 was read, or computed, as a float.
    beyond: bool,
    /// The sum of the magnitudes of the integers read as floats.
    magnitude: u64,
    /// The field's name, and each channel's series by key.
    field: String,
    series: std::collections::BTreeMap<i64, SeriesMeta>,
    /// A condition on fields: only the points at whose time it holds are presented.
    filter: Option<(Expr, Fields)>,
}

impl<'a> Bridge<'a> {
    fn new(
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
    fn decode(&mut self, series: &mut Series, plan: &Plan) {
        let ty = self.ty;
        for (i, c) in plan.columns.iter().enumerate() {
            let Expr::Call { name, .. } = c.expr.unparen() else {
                continue;
            };
            let back = selects_a_value(name) || (ty == FieldType::Integer && keeps_integers(name));
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
