//! A transformation beside other functions in one `SELECT`
//! (`SELECT mean(value), derivative(mean(value), 1m) … GROUP BY time(1m)`): InfluxDB 1.6 builds
//! one iterator per field, each with the statement's `LIMIT` and `OFFSET`, and joins their
//! points by series and time, a field without a point at a time answering null. So does this:
//! each field runs as a statement of its own, and the answers are joined.
//!
//! Only the forms the golden corpus checks take this way: `derivative`,
//! `non_negative_derivative`, `difference`, `non_negative_difference`, `moving_average` and
//! `cumulative_sum` beside other calls, one transformation per field; without `GROUP BY time`
//! the other fields must be aggregates that are no selectors (a lone selector would answer its
//! point's time, which beside other fields it does not). Everything else keeps the refusal of
//! [`super::check`].

use std::collections::BTreeMap;

use crate::influxql::{Expr, Field, SelectStatement};

use super::check::column_names;
use super::cond::Bounds;
use super::result::{Cell, Series};
use super::{Context, Source, StatementOutcome};

const JOINED_TRANSFORMS: &[&str] = &[
    "derivative",
    "non_negative_derivative",
    "difference",
    "non_negative_difference",
    "moving_average",
    "cumulative_sum",
];

/// Aggregates that answer the range's start as their time, alone as beside other fields.
const PLAIN_AGGREGATES: &[&str] = &["count", "sum", "mean", "median", "spread", "stddev"];

fn calls(e: &Expr) -> Vec<&str> {
    let mut out = Vec::new();
    e.walk(&mut |x| {
        if let Expr::Call { name, .. } = x {
            out.push(name.as_str());
        }
    });
    out
}

/// Whether the statement is a transformation beside other functions that this module answers.
pub(super) fn applies(s: &SelectStatement) -> bool {
    if s.fields.len() < 2 || s.into.is_some() {
        return false;
    }
    let grouped_by_time = s.group_by_time().is_some();
    let mut transforms = 0;
    for f in &s.fields {
        let names = calls(&f.expr);
        if names.is_empty() {
            return false;
        }
        let t = names
            .iter()
            .filter(|n| super::transform::is_transform(n))
            .count();
        if t > 1
            || names
                .iter()
                .any(|n| super::transform::is_transform(n) && !JOINED_TRANSFORMS.contains(n))
        {
            return false;
        }
        if names
            .iter()
            .any(|n| matches!(*n, "top" | "bottom" | "distinct" | "sample"))
        {
            return false;
        }
        if t == 0
            && !grouped_by_time
            && names
                .iter()
                .any(|n| !PLAIN_AGGREGATES.contains(n) && *n != "now")
        {
            return false;
        }
        transforms += t;
    }
    transforms > 0
}

/// Runs each field as a statement of its own and joins the answers by series and time.
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
    let width = names.len();
    // Per series (name, tags), in the order of the answers: its rows by time.
    type Rows = BTreeMap<i64, Vec<Cell>>;
    let mut joined: Vec<(Series, Rows)> = Vec::new();
    for (i, (f, name)) in s.fields.iter().zip(&names).enumerate() {
        let mut one = s.clone();
        one.fields = vec![Field {
            expr: f.expr.clone(),
            alias: Some(name.clone()),
        }];
        let answer = match super::select::run_bounded(&one, ctx, source, outer)? {
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
            for row in series.values {
                let (Some(Cell::Time(t)), Some(v)) = (row.first(), row.get(1)) else {
                    continue;
                };
                rows.entry(*t).or_insert_with(|| vec![Cell::Null; width])[i] = v.clone();
            }
        }
    }
    joined.sort_by(|(a, _), (b, _)| (&a.name, &a.tags).cmp(&(&b.name, &b.tags)));
    let desc = s.is_descending();
    Ok(Ok(joined
        .into_iter()
        .map(|(mut series, rows)| {
            let rows: Vec<Vec<Cell>> = rows
                .into_iter()
                .map(|(t, cells)| std::iter::once(Cell::Time(t)).chain(cells).collect())
                .collect();
            series.values = if desc {
                rows.into_iter().rev().collect()
            } else {
                rows
            };
            series
        })
        .collect()))
}
