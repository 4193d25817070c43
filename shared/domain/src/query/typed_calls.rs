//! Calls (aggregates, selectors, transformations) over typed series: InfluxDB's type errors
//! for calls of types they do not take (`unsupported mean iterator type:
//! *query.stringInterruptIterator`); calls over one field of any type run on the model's engine
//! with the field presented as its float `value` ([`Bridge`]) and read back as the field's type,
//! a condition on other fields (or on a field that is not a float) checked on each point's typed
//! values first; integers beyond ±2^53 reduced exactly ([`super::exact`]) or refused. Calls of
//! `*` and `/re/` expand to the fields they match; calls over several fields run column by
//! column, joined by series and time; fields beside a selector are read at the point it
//! selected.

use std::collections::BTreeSet;

use crate::influxql::{BinaryOp, DataType, Expr, Fill, SelectStatement, VarRef};

use super::bridge::{channels_of, Bridge};
use super::check::{column_names, Plan};
use super::cond::Truth;
use super::result::{Cell, Series};
use super::typed::Fields;
use super::value;
use super::{
    Context, FieldType, SeriesMeta, Source, SourceError, StatementError, StatementOutcome,
    TimeRange, FIELD,
};

/// The largest magnitude a float holds every integer up to.
pub(super) const EXACT: f64 = 9_007_199_254_740_992.0;

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
pub(super) fn selects_a_value(call: &str) -> bool {
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
pub(super) fn keeps_integers(call: &str) -> bool {
    matches!(
        call,
        "sum" | "spread" | "difference" | "non_negative_difference" | "cumulative_sum"
    )
}

/// Calls whose value, over integers, is an integer: one of them, one computed from them, or a
/// count.
pub(super) fn answers_an_integer(call: &str) -> bool {
    selects_a_value(call) || keeps_integers(call) || call == "count"
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
    // SLIMIT and SOFFSET choose among each shard group's series with points of any field (its
    // tag sets), the field's or not: chosen here over all their fields, then the chosen
    // series alone are read (the others keep their tags, which `GROUP BY *` stands for).
    let all = if plan.slimit > 0 || plan.soffset > 0 {
        let keys = super::typed::tag_keys(&all);
        let range = plan.bounds.range();
        let kept: BTreeSet<(&str, &[(String, String)])> =
            match super::typed::groups(plan, &all, &keys, fields, source, range)? {
                Ok(groups) => groups
                    .iter()
                    .flat_map(|g| g.series.iter())
                    .map(|(s, _)| (s.measurement.as_str(), s.tags.as_slice()))
                    .collect(),
                Err(e) => return Ok(Err(e.into())),
            };
        all.iter()
            .map(|s| SeriesMeta {
                measurement: s.measurement.clone(),
                tags: s.tags.clone(),
                fields: if kept.contains(&(s.measurement.as_str(), s.tags.as_slice())) {
                    s.fields.clone()
                } else {
                    Vec::new()
                },
            })
            .collect()
    } else {
        all
    };

    // The statement over the field presented as the model's `value`, its columns keeping the
    // names they had.
    let mut renamed = s.clone();
    let integer_field = {
        let mut types = all.iter().filter_map(|s| s.field(&field)).map(|f| f.ty);
        types.next().is_some_and(|t| t == FieldType::Integer)
            && types.all(|t| t == FieldType::Integer)
    };
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
        if integer_field {
            unchanged_integers(&mut f.expr);
        }
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
    (bridged_plan.slimit, bridged_plan.soffset) = (0, 0);
    bridged_plan.lone_selector = plan.lone_selector;
    bridged_plan.reads_store = plan.reads_store;
    bridged_plan.origins = selector_with_fields;

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
    // InfluxDB reduces integers in int64 (a mean divides their exact sum): beyond 2^53 the
    // model's floats answer only columns that InfluxDB computes in floats too.
    let exact = !s.fields.iter().all(|f| as_over_floats(&f.expr));

    // A fill value or a line between buckets is no string or boolean (and no rank).
    let text_or_bool = all
        .iter()
        .filter_map(|s| s.field(&field))
        .any(|f| matches!(f.ty, FieldType::String | FieldType::Boolean));
    // A call inside another (`count(distinct(x))`) keeps no value of the field.
    let keeps_values = s
        .fields
        .iter()
        .flat_map(|f| super::joined::scanned_calls(&f.expr))
        .any(|c| matches!(c, Expr::Call { name, .. } if selects_a_value(name)));
    if text_or_bool
        && keeps_values
        && !matches!(plan.fill, Fill::Null | Fill::None | Fill::Previous)
    {
        return refuse("fill() with a value or linear over a string or boolean field");
    }
    let mut bridge = Bridge::new(source, &all, &field, plan.bounds.range(), by_rank)?;
    let filtered = field_condition.is_some();
    bridge.filter = field_condition.map(|c| (c, fields.clone()));
    bridged_plan.integer_field = bridge.ty == FieldType::Integer;
    bridged_plan.boolean_field = bridge.ty == FieldType::Boolean;
    let channels = bridge.channels.clone();
    let mut answer = match bridged_plan.execute_over(ctx, &mut bridge, channels)? {
        Ok(series) => series,
        Err(e) => return Ok(Err(e)),
    };
    // The point each row's selector selected (its series and time), its last two cells, taken off.
    let origins: Vec<Vec<Option<(i64, i64)>>> = answer
        .iter_mut()
        .map(|series| {
            let n = series.columns.len();
            if n < 2 || series.columns[n - 2..] != super::check::ORIGIN {
                return Vec::new();
            }
            series.columns.truncate(n - 2);
            (series.values.iter_mut())
                .map(|row| match (row.pop(), row.pop()) {
                    (Some(Cell::Time(at)), Some(Cell::Integer(key))) => Some((key, at)),
                    _ => None,
                })
                .collect()
        })
        .collect();
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
        for (series, origins) in answer.iter_mut().zip(&origins) {
            fill_beside(series, origins, s, plan, source, &all, fields, &field)?;
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
/// the series and time of the point it selected (`origins`, by row: the key of its field and
/// the time), else the first series of the output series' group (by the condition's tags) whose
/// field has the selected value at the row's time, and that no earlier row of that time
/// selected.
#[allow(clippy::too_many_arguments)]
fn fill_beside(
    series: &mut Series,
    origins: &[Option<(i64, i64)>],
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
    let tags_after = match &plan.multi {
        Some(super::check::MultiCall {
            multi: super::selectors::Multi::TopBottom { tags, .. },
            ..
        }) => tags.len(),
        _ => 0,
    };
    let mut used: BTreeSet<(i64, usize)> = BTreeSet::new();
    for (r, row) in series.values.iter_mut().enumerate() {
        let (Some(Cell::Time(t)), Some(selected)) = (row.first().cloned(), row.get(selector + 1))
        else {
            continue;
        };
        let selected = selected.clone();
        let origin = origins.get(r).copied().flatten();
        // The selected point's time (under GROUP BY time the row's is its window's).
        let t = origin.map_or(t, |(_, at)| at);
        let at = TimeRange { min: t, max: t };
        for (k, m) in candidates.iter().enumerate() {
            if used.contains(&(t, k)) {
                continue;
            }
            if origin.is_some_and(|(key, _)| m.field(field).map(|f| f.key) != Some(key)) {
                continue;
            }
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
                // The tags `top(field, tag, N)` answers stand right after it.
                let column = if *i > selector {
                    i + 1 + tags_after
                } else {
                    i + 1
                };
                if let Some(cell) = row.get_mut(column) {
                    *cell = super::typed::eval_row(exprs[*i], t, values, m, fields);
                }
            }
            used.insert((t, k));
            break;
        }
    }
    Ok(())
}

/// The fields of the statement's measurements the expressions read.
pub(super) fn field_names<'e>(
    exprs: impl Iterator<Item = &'e Expr>,
    fields: &Fields,
) -> BTreeSet<String> {
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
    // SLIMIT and SOFFSET: each column's statement chooses the same series, among those with
    // points of any field ([`run`]), as InfluxDB chooses them once for all its iterators.
    // Calls of several rows at one time (as beside other calls) are not joined by time; inside
    // another call (`count(distinct(x))`) they give that call's one value.
    let several_rows = s.fields.iter().any(|f| {
        let mut several = false;
        walk_outside_calls(&f.expr, &mut |e| {
            several |= matches!(e, Expr::Distinct(_))
                || matches!(e, Expr::Call { name, .. }
                    if matches!(name.as_str(), "distinct" | "top" | "bottom" | "sample"));
        });
        several
    });
    if several_rows {
        return refuse("distinct(), top(), bottom() or sample() beside calls of other fields");
    }
    let names = column_names(&listed);
    // What is run: a column over one field as a statement of its own; a column of calls over
    // several fields (`mean("used") / mean("total")`) as a statement per call that InfluxDB
    // reads with an iterator of its own, the column evaluated on the joined row as InfluxDB
    // evaluates it on its row of those calls.
    let mut units: Vec<Expr> = Vec::new();
    let mut columns: Vec<Vec<usize>> = Vec::with_capacity(listed.len());
    for (expr, _) in &listed {
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
        let parts: Vec<Expr> = if field_names(std::iter::once(expr), fields).len() > 1 {
            let parts = super::joined::scanned_calls(expr);
            if parts
                .iter()
                .any(|c| field_names(std::iter::once(*c), fields).len() > 1)
            {
                return refuse("a call over several fields");
            }
            parts.into_iter().cloned().collect()
        } else {
            vec![expr.clone()]
        };
        let mut of_column = Vec::with_capacity(parts.len());
        for part in parts {
            let at = units.iter().position(|u| *u == part).unwrap_or_else(|| {
                units.push(part);
                units.len() - 1
            });
            of_column.push(at);
        }
        columns.push(of_column);
    }
    let mut joined: std::collections::BTreeMap<(String, Vec<(String, String)>), Joined> =
        std::collections::BTreeMap::new();
    for (i, expr) in units.iter().enumerate() {
        let mut one = s.clone();
        one.fields = vec![crate::influxql::Field {
            expr: expr.clone(),
            alias: Some(format!("u{i}")),
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
                answered: BTreeSet::new(),
            });
            j.answered.insert(i);
            for row in series.values {
                let Some(Cell::Time(t)) = row.first() else {
                    continue;
                };
                let cells = j
                    .rows
                    .entry(*t)
                    .or_insert_with(|| vec![Cell::Null; units.len()]);
                cells[i] = row.get(1).cloned().unwrap_or(Cell::Null);
            }
        }
    }
    // A call whose field has no point in a series (and range) is filled there too, with a
    // fill value: InfluxDB fills every call of the row.
    let fill = match plan.fill {
        Fill::Integer(n) => Some(Cell::Integer(n)),
        Fill::Float(f) => Some(Cell::Float(f)),
        _ => None,
    };
    let mut out = Vec::with_capacity(joined.len());
    for (_, mut j) in joined {
        if let Some(fill) = &fill {
            for (i, expr) in units.iter().enumerate() {
                if j.answered.contains(&i) {
                    continue;
                }
                let value = filled(expr, fill);
                for cells in j.rows.values_mut() {
                    cells[i] = value.clone();
                }
            }
        }
        let mut series = j.shell;
        series.columns = std::iter::once("time".to_owned())
            .chain(names.iter().cloned())
            .collect();
        let mut rows: Vec<Vec<Cell>> = j
            .rows
            .into_iter()
            .map(|(t, cells)| {
                let values = listed
                    .iter()
                    .zip(&columns)
                    .map(|((expr, _), at)| match at[..] {
                        [one] if units[one] == *expr => cells[one].clone(),
                        _ => super::eval::eval_calls(expr, &|e| {
                            at.iter()
                                .find(|&&u| units[u] == *e)
                                .map(|&u| cells[u].clone())
                        }),
                    });
                std::iter::once(Cell::Time(t)).chain(values).collect()
            })
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

/// One output series of [`split`]: its name and tags, its rows by time, and the columns that
/// answered it.
struct Joined {
    shell: Series,
    rows: std::collections::BTreeMap<i64, Vec<Cell>>,
    answered: BTreeSet<usize>,
}

/// A column's value where each of its calls is the fill value (null where a call is not one
/// of a field).
fn filled(e: &Expr, fill: &Cell) -> Cell {
    match e {
        Expr::Paren(inner) => filled(inner, fill),
        Expr::Call { args, .. }
            if !args
                .iter()
                .any(|a| a.any(|x| matches!(x, Expr::Call { .. }))) =>
        {
            fill.clone()
        }
        Expr::Binary { op, lhs, rhs } => value::binary(*op, &filled(lhs, fill), &filled(rhs, fill)),
        Expr::Integer(n) => Cell::Integer(*n),
        Expr::Number(f) => Cell::Float(*f),
        _ => Cell::Null,
    }
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

/// Whether InfluxDB 1.6 answers a column over an integer field as it answers it over the
/// field's values converted to float64 (`float64(v)`, which the model's engine reads): counts
/// and times; the calls that convert every value before computing (`stddev()`, `integral()`,
/// `holt_winters()`, the technical-analysis family) and the math functions that answer floats
/// (`exp()`, `ln()`, `sin()`, ...: not `abs()`, `floor()`, `ceil()`, `round()`, which keep
/// integers), over the raw field or over a selector of one of its values (two integers that
/// are one float give that float either way), and arithmetic of such columns and numbers. A
/// column without calls (a tag or field beside a selector) is read apart.
fn as_over_floats(e: &Expr) -> bool {
    fn floats(e: &Expr) -> bool {
        match e.unparen() {
            Expr::Call { name, .. } if matches!(name.as_str(), "count" | "elapsed") => true,
            Expr::Call { name, args } if converts_values(name) || float_math(name) => {
                args.iter().all(floated)
            }
            Expr::Binary { lhs, rhs, .. } => floats(lhs) && floats(rhs),
            Expr::Integer(_) | Expr::Number(_) | Expr::Duration(_) | Expr::String(_) => true,
            e => is_time(e),
        }
    }
    // An argument whose float64 is what the call reads.
    fn floated(a: &Expr) -> bool {
        match a.unparen() {
            Expr::VarRef(_) => true,
            Expr::Call { name, .. }
                if matches!(
                    name.as_str(),
                    "first" | "last" | "min" | "max" | "percentile"
                ) =>
            {
                true
            }
            a => floats(a),
        }
    }
    fn converts_values(name: &str) -> bool {
        matches!(
            name,
            "stddev" | "integral" | "holt_winters" | "holt_winters_with_fit"
        ) || super::technical::kind_of(name).is_some()
    }
    fn float_math(name: &str) -> bool {
        matches!(
            name,
            "sin"
                | "cos"
                | "tan"
                | "asin"
                | "acos"
                | "atan"
                | "atan2"
                | "exp"
                | "log"
                | "ln"
                | "log2"
                | "log10"
                | "sqrt"
                | "pow"
        )
    }
    !e.any(|x| matches!(x, Expr::Call { .. })) || floats(e)
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name == "time")
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

/// `abs()`, `ceil()`, `floor()` and `round()` of a call answering an integer give it back
/// unchanged in InfluxDB 1.6 (`abs(min(n))` of -1 is -1): over the field presented as floats,
/// they are left out.
fn unchanged_integers(e: &mut Expr) {
    match e {
        Expr::Call { name, args } => {
            args.iter_mut().for_each(unchanged_integers);
            let keeps = |inner: &Expr| matches!(inner.unparen(), Expr::Call { name, .. } if answers_an_integer(name));
            if matches!(name.as_str(), "abs" | "ceil" | "floor" | "round")
                && args.len() == 1
                && keeps(&args[0])
            {
                *e = args[0].clone();
            }
        }
        Expr::Binary { lhs, rhs, .. } => {
            unchanged_integers(lhs);
            unchanged_integers(rhs);
        }
        Expr::Paren(inner) => unchanged_integers(inner),
        _ => {}
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
