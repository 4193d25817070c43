//! `SELECT ... FROM (SELECT ...)`: the inner statement runs first (within the outer statement's
//! time range, inheriting its GROUP BY interval when it has none, `fill(null)` read as
//! `fill(none)`, as InfluxDB 1.x's compiler does), and its answer becomes the series and points
//! the outer statement reads: each inner series a series (its measurement and grouped tags),
//! the one column the outer statement names its field.

use std::collections::BTreeSet;

use crate::influxql::{
    DataType, Dimension, Expr, Fill, Order, SelectStatement, Source as FromSource, TimeOffset,
};

mod answer;

use answer::{Answer, Emission, TypedAnswer};

use super::check::{column_names, Plan};
use super::cond::{self, Bounds};
use super::result::{Cell, Series};
use super::transform;
use super::{Context, Source, StatementError, StatementOutcome, FIELD};

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
    // previous or next bucket, the order in which sum() and mean() add), it runs backwards;
    // otherwise its rows are the same either way.
    let ordered = inner.limit.is_some()
        || inner.offset.is_some()
        || matches!(inner.fill, Fill::Previous | Fill::Linear)
        || transforms(&inner)
        || calls_any(&inner, |name| matches!(name, "sum" | "mean"));
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
        Ok(series) => series,
        Err(e) => return Ok(Err(e)),
    };
    // The inner statement's plan, for what follows of its answer.
    let inner_plan = Plan::new(&inner, ctx).ok();
    let series =
        super::inner_selector::as_under(&inner, inner_plan.as_ref(), s, source, bounds, series)?;
    let emission = Emission::of(&inner, inner_plan);
    if emission.0.is_some() && scans_apart(s, &inner, &series) {
        return refuse(
            "a raw statement over a subquery's several aggregates, grouped by tags it does not \
             group by, where some of them are missing",
        );
    }

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

/// Whether InfluxDB 1.6 would answer a raw `outer` statement's rows over several aggregates of
/// `inner` otherwise than aligned by time and group: its cursor takes, of the next point of
/// each aggregate, the one of the smallest tags first (then time), but each aggregate's points
/// come window by window when the outer statement does not group by all the inner tags. Where
/// one aggregate lacks a point another has (a null in the answer), the rows split and come out
/// of order, which Fieldline does not reproduce.
fn scans_apart(outer: &SelectStatement, inner: &SelectStatement, answer: &[Series]) -> bool {
    let raw = !outer
        .fields
        .iter()
        .any(|f| f.expr.any(|e| matches!(e, Expr::Call { .. })));
    let beyond = inner
        .group_by
        .iter()
        .any(|d| !matches!(d, Dimension::Time { .. }) && !outer.group_by.contains(d));
    raw && beyond
        && inner.fields.len() > 1
        && answer.iter().any(|s| {
            s.values
                .iter()
                .any(|row| row.iter().skip(1).any(|c| *c == Cell::Null))
        })
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
    fn rows_of_several_aggregates_some_missing_are_told_apart_when_the_outer_mixes_groups() {
        let inner = "SELECT mean(a) AS a, min(b) AS b FROM m GROUP BY time(1m), host";
        let answer = |b: Cell| {
            vec![Series {
                name: Some("m".into()),
                tags: Some(vec![("host".into(), "h1".into())]),
                columns: vec!["time".into(), "a".into(), "b".into()],
                values: vec![vec![Cell::Time(0), Cell::Float(1.0), b]],
                ..Series::default()
            }]
        };
        let (outer, i) = outer_and_inner(&format!("SELECT a - b FROM ({inner})"));
        // One aggregate missing where another has a point: InfluxDB's cursor splits the rows.
        assert!(scans_apart(&outer, &i, &answer(Cell::Null)));
        // Every aggregate present: the rows align as Fieldline answers them.
        assert!(!scans_apart(&outer, &i, &answer(Cell::Float(2.0))));
        // Grouped by the same tags outside, or aggregating outside: aligned.
        let (outer, i) = outer_and_inner(&format!("SELECT a - b FROM ({inner}) GROUP BY host"));
        assert!(!scans_apart(&outer, &i, &answer(Cell::Null)));
        let (outer, i) = outer_and_inner(&format!("SELECT max(a) FROM ({inner})"));
        assert!(!scans_apart(&outer, &i, &answer(Cell::Null)));
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
}
