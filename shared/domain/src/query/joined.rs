//! A transformation beside other functions in one `SELECT`
//! (`SELECT mean(value), derivative(mean(value), 1m) … GROUP BY time(1m)`), answered as
//! InfluxDB 1.6's multi-scanner cursor (`query/cursor.go`) answers it: one iterator per distinct
//! call of the field list, each with the statement's `LIMIT` and `OFFSET`, read together by
//! series (in the statement's time order, descending too under `DESC`) and time. A row takes one
//! point of every call iterator standing at its series and time, so a timestamp that one call
//! answers twice (a raw `elapsed()` over two merged series) gives two rows, paired in order
//! with the other calls' points at that time. A call without a point in a row takes the
//! statement's fill value: the number of `fill(N)`, the call's last value in the series with
//! `fill(previous)`, else null. The field expressions are then evaluated over the row's calls.
//!
//! Here each call runs as a statement of its own, over the measurements or the subquery
//! ([`super::select::run_beside_others`]: a selector stands at its bucket's or the range's
//! start, not at its point), and the answers are joined. Fields or tags beside the calls,
//! `top`, `bottom`, `distinct` and `sample`, and two columns of a subquery keep the errors and
//! refusals of a single statement ([`super::check`], [`super::subquery`]).

use std::collections::BTreeMap;

use crate::influxql::{Expr, Fill, SelectStatement};

use super::check::{column_names, raw_var};
use super::cond::Bounds;
use super::eval::eval_calls;
use super::functions::{self, Kind};
use super::result::{Cell, Series};
use super::transform::is_transform;
use super::{Context, Source, StatementOutcome};

/// Functions that answer several points per bucket, or random ones: not joined here.
const MULTI: &[&str] = &["top", "bottom", "distinct", "sample"];

fn is_math(name: &str) -> bool {
    name == "now" || matches!(functions::kind(name), Ok(Kind::Math))
}

/// The calls of `e` that InfluxDB reads with an iterator each: every call but the math
/// functions around them, without what is inside them.
pub(super) fn scanned_calls(e: &Expr) -> Vec<&Expr> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        match e {
            Expr::Call { name, args } if is_math(name) => {
                args.iter().for_each(|a| walk(a, out));
            }
            Expr::Call { .. } => out.push(e),
            Expr::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            Expr::Paren(inner) => walk(inner, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(e, &mut out);
    out
}

fn call_name(e: &Expr) -> &str {
    match e {
        Expr::Call { name, .. } => name,
        _ => "",
    }
}

/// The distinct scanned calls of `fields`, in the order they first appear: one iterator each.
fn distinct_calls<'a>(fields: impl IntoIterator<Item = &'a Expr>) -> Vec<&'a Expr> {
    let mut calls: Vec<&Expr> = Vec::new();
    for e in fields {
        for call in scanned_calls(e) {
            if !calls.contains(&call) {
                calls.push(call);
            }
        }
    }
    calls
}

/// Whether a statement over a subquery reads more than one of its columns.
fn reads_several_columns(s: &SelectStatement) -> bool {
    let mut columns: Vec<&str> = Vec::new();
    for f in &s.fields {
        f.expr.walk(&mut |x| {
            if let Expr::VarRef(v) = x {
                if v.name != "time" && !columns.contains(&v.name.as_str()) {
                    columns.push(&v.name);
                }
            }
        });
    }
    columns.len() > 1
}

/// Whether the statement is a transformation beside other functions that this module answers.
pub(super) fn applies(s: &SelectStatement) -> bool {
    if s.into.is_some() {
        return false;
    }
    // Over a subquery each call reads the column it names: one column only, as a single
    // statement does.
    if super::subquery::reads_subquery(s) && reads_several_columns(s) {
        return false;
    }
    let mut transforms = 0;
    for f in &s.fields {
        let calls = scanned_calls(&f.expr);
        // Fields or tags beside the calls, and calls of several points, keep the errors and
        // refusals of a single statement.
        if calls.is_empty()
            || raw_var(&f.expr)
            || calls.iter().any(|c| MULTI.contains(&call_name(c)))
        {
            return false;
        }
        transforms += calls.iter().filter(|c| is_transform(call_name(c))).count();
    }
    // One call alone is a statement of its own.
    transforms > 0
        && (s.fields.len() > 1 || distinct_calls(s.fields.iter().map(|f| &f.expr)).len() > 1)
}

/// Whether InfluxDB types the call's values as integers (a fill value is cast to its type).
fn integer_typed(call: &Expr) -> bool {
    match call {
        Expr::Call { name, args } => match name.as_str() {
            "count" | "elapsed" => true,
            "difference" | "non_negative_difference" | "cumulative_sum" => {
                args.first().is_some_and(integer_typed)
            }
            _ => false,
        },
        Expr::Paren(inner) => integer_typed(inner),
        _ => false,
    }
}

/// The value a call without a point in a row takes: its fill value.
fn missing_value(fill: Fill, call: &Expr, previous: Option<&Cell>) -> Cell {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    match (fill, integer_typed(call)) {
        (Fill::Integer(i), true) => Cell::Integer(i),
        (Fill::Integer(i), false) => Cell::Float(i as f64),
        (Fill::Float(f), true) => Cell::Integer(f as i64),
        (Fill::Float(f), false) => Cell::Float(f),
        (Fill::Previous, _) => previous.cloned().unwrap_or(Cell::Null),
        _ => Cell::Null,
    }
}

/// A series of the answer: per time, its rows, each with one point (or none) per call.
type Rows = BTreeMap<i64, Vec<Vec<Option<Cell>>>>;

/// Runs each call as a statement of its own and joins the answers by series and time.
pub(super) fn run(
    s: &SelectStatement,
    ctx: &Context,
    source: &mut dyn Source,
    outer: Bounds,
) -> StatementOutcome {
    let fields: Vec<(Expr, Option<String>)> = s
        .fields
        .iter()
        .map(|f| (f.expr.clone(), f.alias.clone()))
        .collect();
    let names = column_names(&fields);
    let calls = distinct_calls(fields.iter().map(|(e, _)| e));
    let mut joined: Vec<(Series, Rows)> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let mut one = s.clone();
        one.fields = vec![crate::influxql::Field {
            expr: (*call).clone(),
            alias: None,
        }];
        let answer = match super::select::run_beside_others(&one, ctx, source, outer)? {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        for series in answer {
            let at = match joined
                .iter()
                .position(|(j, _)| j.name == series.name && j.tags == series.tags)
            {
                Some(at) => at,
                None => {
                    let mut head = series.clone();
                    head.values = Vec::new();
                    head.columns = std::iter::once("time".to_owned())
                        .chain(names.iter().cloned())
                        .collect();
                    head.partial = false;
                    joined.push((head, BTreeMap::new()));
                    joined.len() - 1
                }
            };
            let rows = &mut joined[at].1;
            // The k-th point of a call at a time goes to the k-th row of that time.
            let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
            for row in series.values {
                let (Some(Cell::Time(t)), Some(v)) = (row.first(), row.get(1)) else {
                    continue;
                };
                let k = seen.entry(*t).or_insert(0);
                let at_time = rows.entry(*t).or_default();
                if at_time.len() <= *k {
                    at_time.push(vec![None; calls.len()]);
                }
                at_time[*k][i] = Some(v.clone());
                *k += 1;
            }
        }
    }
    let desc = s.is_descending();
    joined.sort_by(|(a, _), (b, _)| {
        let order = (&a.name, &a.tags).cmp(&(&b.name, &b.tags));
        if desc {
            order.reverse()
        } else {
            order
        }
    });
    Ok(Ok(joined
        .into_iter()
        .map(|(mut series, rows)| {
            let by_time: Vec<(i64, Vec<Vec<Option<Cell>>>)> = if desc {
                rows.into_iter().rev().collect()
            } else {
                rows.into_iter().collect()
            };
            // fill(previous): a call's last value in the series.
            let mut last: Vec<Option<Cell>> = vec![None; calls.len()];
            for (time, rows_at) in by_time {
                for points in rows_at {
                    let values: Vec<Cell> = points
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| match p {
                            Some(v) if v != Cell::Null => {
                                last[i] = Some(v.clone());
                                v
                            }
                            _ => missing_value(s.fill, calls[i], last[i].as_ref()),
                        })
                        .collect();
                    let lookup = |e: &Expr| {
                        calls
                            .iter()
                            .position(|c| *c == e)
                            .map(|i| values[i].clone())
                    };
                    let row = std::iter::once(Cell::Time(time))
                        .chain(fields.iter().map(|(e, _)| eval_calls(e, &lookup)))
                        .collect();
                    series.values.push(row);
                }
            }
            series
        })
        .collect()))
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::{run, Counting};
    use super::*;
    use crate::influxql::{parse_query, Statement};

    fn select(q: &str) -> SelectStatement {
        match parse_query(q).unwrap().remove(0) {
            Statement::Select(s) => *s,
            other => panic!("not a SELECT: {other:?}"),
        }
    }

    #[test]
    fn transformations_beside_aggregates_are_joined() {
        for q in [
            "SELECT mean(value), elapsed(mean(value), 1m) FROM m GROUP BY time(1m)",
            "SELECT count(value), integral(value) FROM m",
            "SELECT max(value), elapsed(value) FROM m",
            "SELECT mean(value), holt_winters(mean(value), 3, 0) FROM m GROUP BY time(1m)",
            "SELECT exponential_moving_average(value, 2), mean(value) * 2 FROM m",
            "SELECT abs(derivative(value)), derivative(value) + difference(value) FROM m",
            "SELECT derivative(value) + mean(value) FROM m",
            "SELECT derivative(value), count(distinct(value)) FROM m",
            "SELECT mean(value), derivative(mean(value), 1m) FROM (SELECT value FROM m) \
             GROUP BY time(1m)",
        ] {
            assert!(applies(&select(q)), "{q}");
        }
        for q in [
            "SELECT top(value, 2), integral(value) FROM m",
            "SELECT value, elapsed(value) FROM m",
            "SELECT derivative(value) + value, mean(value) FROM m",
            "SELECT sample(value, 2), derivative(value) FROM m",
            "SELECT mean(value), max(value) FROM m GROUP BY time(1m)",
            "SELECT derivative(mean(value), 1m) * 2 FROM m GROUP BY time(1m)",
            // Two columns of a subquery: refused by name, as in a single statement.
            "SELECT mean(a), derivative(mean(b), 1m) FROM (SELECT value AS a, value AS b FROM m) \
             GROUP BY time(1m)",
        ] {
            assert!(!applies(&select(q)), "{q}");
        }
    }

    #[test]
    fn a_call_without_a_point_in_a_row_answers_the_fill_value() {
        // d1 has points at 1 s to 5 s: the buckets at 6 s and 8 s have no integral.
        let a = run(
            "SELECT count(value), integral(value) FROM m WHERE device = 'd1' AND time >= 0s \
             AND time < 10s GROUP BY time(2s) fill(7)",
            &mut Counting::default(),
        );
        assert!(
            a.contains("[Time(6000000000), Integer(7), Float(7.0)], [Time(8000000000), Integer(7), Float(7.0)]"),
            "{a}"
        );
    }

    #[test]
    fn points_of_one_time_pair_up_in_order() {
        // Two series merged: elapsed() answers each second twice (1 s, then 0 s); the count
        // stands beside the first row of the range's start only.
        let a = run(
            "SELECT elapsed(value, 1s), count(value) FROM m WHERE (device = 'd1' OR device = 'd2') \
             AND time >= 1s AND time <= 5s",
            &mut Counting::default(),
        );
        assert!(
            a.contains("[Time(1000000000), Integer(0), Integer(10)], [Time(2000000000), Integer(1), Null], [Time(2000000000), Integer(0), Null]"),
            "{a}"
        );
    }

    #[test]
    fn a_missing_point_takes_the_fill_value_cast_to_the_calls_type() {
        let count = select("SELECT count(value) FROM m").fields.remove(0).expr;
        let mean = select("SELECT mean(value) FROM m").fields.remove(0).expr;
        assert_eq!(
            missing_value(Fill::Float(7.5), &count, None),
            Cell::Integer(7)
        );
        assert_eq!(
            missing_value(Fill::Integer(7), &mean, None),
            Cell::Float(7.0)
        );
        assert_eq!(
            missing_value(Fill::Previous, &mean, Some(&Cell::Float(2.0))),
            Cell::Float(2.0)
        );
        assert_eq!(missing_value(Fill::Previous, &mean, None), Cell::Null);
        assert_eq!(missing_value(Fill::Linear, &mean, None), Cell::Null);
    }
}
