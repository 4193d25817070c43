//! The transformations of InfluxQL — `derivative`, `non_negative_derivative`, `difference`,
//! `non_negative_difference`, `moving_average`, `cumulative_sum`, `elapsed` and `integral`, and
//! those of [`super::technical`] and [`super::holt_winters`] —
//! checked with InfluxDB 1.x's compiler's errors and computed as its stream reducers do
//! (`query/functions.go`): the same skipping of repeated timestamps, the same running sums, the
//! same order of float operations, so that answers match it to the last bit.
//!
//! A transformation reads one stream per output series: the raw points of the group, or, in the
//! nested form (`derivative(mean(value), 1m)`), the group's `GROUP BY time` buckets (with `fill`,
//! null buckets skipped), in the statement's time order.

use crate::influxql::{format_duration, Expr};

use super::cond::MIN_TIME;
use super::holt_winters::{self, HoltWinters};
use super::result::Cell;
use super::technical::{self, Indicator};

/// One second, in nanoseconds: the default unit of `derivative` (without GROUP BY time) and
/// `integral`.
const SECOND: i64 = 1_000_000_000;

/// A transformation and its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Transform {
    /// `derivative` (`non_negative`: `non_negative_derivative`): the change per `unit`.
    Derivative {
        unit: i64,
        non_negative: bool,
    },
    /// `difference` (`non_negative`: `non_negative_difference`).
    Difference {
        non_negative: bool,
    },
    /// `moving_average(x, N)`: the mean of the last N values.
    MovingAverage(usize),
    CumulativeSum,
    /// `elapsed(x, unit)`: the time between successive points, in whole units.
    Elapsed {
        unit: i64,
    },
    /// `integral(x, unit)`: the area under the points (trapezium rule), per bucket.
    Integral {
        unit: i64,
    },
    /// `exponential_moving_average` and the other indicators of [`super::technical`].
    Technical(Indicator),
    /// `holt_winters(aggregate, N, S)`, `holt_winters_with_fit` ([`super::holt_winters`]).
    HoltWinters(HoltWinters),
}

/// Whether `name` is a transformation this module runs.
pub(crate) fn is_transform(name: &str) -> bool {
    matches!(
        name,
        "derivative"
            | "non_negative_derivative"
            | "difference"
            | "non_negative_difference"
            | "moving_average"
            | "cumulative_sum"
            | "elapsed"
            | "integral"
            | "holt_winters"
            | "holt_winters_with_fit"
    ) || technical::kind_of(name).is_some()
}

/// Whether InfluxDB 1.6 feeds transformation `name` one interval more of buckets than its
/// range (`buildCallIterator`): every transformation but `cumulative_sum`, `integral` and the
/// forecasts.
pub(crate) fn reads_an_interval_more(name: &str) -> bool {
    is_transform(name)
        && !matches!(
            name,
            "cumulative_sum" | "integral" | "holt_winters" | "holt_winters_with_fit"
        )
}

/// Whether `name` smooths over a period of N points, its second argument: `moving_average`
/// and the exponential and technical-analysis family.
pub(crate) fn smooths_over_a_period(name: &str) -> bool {
    name == "moving_average" || technical::kind_of(name).is_some()
}

/// The Go type InfluxDB names in its errors about an argument (`got *influxql.IntegerLiteral`).
fn go_type(e: &Expr) -> &'static str {
    match e {
        Expr::VarRef(_) => "*influxql.VarRef",
        Expr::Call { .. } => "*influxql.Call",
        Expr::Binary { .. } => "*influxql.BinaryExpr",
        Expr::Paren(_) => "*influxql.ParenExpr",
        Expr::Wildcard(_) => "*influxql.Wildcard",
        Expr::Distinct(_) => "*influxql.Distinct",
        Expr::Integer(_) => "*influxql.IntegerLiteral",
        Expr::Unsigned(_) => "*influxql.UnsignedLiteral",
        Expr::Number(_) => "*influxql.NumberLiteral",
        Expr::String(_) => "*influxql.StringLiteral",
        Expr::Boolean(_) => "*influxql.BooleanLiteral",
        Expr::Duration(_) => "*influxql.DurationLiteral",
        Expr::Regex(_) => "*influxql.RegexLiteral",
    }
}

/// What a checked transformation call reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Input {
    /// The raw points of a field (or tag, or unknown name: no points).
    Var(Expr),
    /// The buckets of an aggregate call under GROUP BY time.
    Call(Expr),
}

/// The optional duration argument (`derivative(x, 1m)`), checked as InfluxDB's compiler does.
fn duration_arg(name: &str, args: &[Expr], integral: bool) -> Result<Option<i64>, String> {
    match args.get(1) {
        None => Ok(None),
        Some(Expr::Duration(d)) if *d > 0 => Ok(Some(*d)),
        Some(Expr::Duration(d)) => Err(format!(
            "duration argument must be positive, got {}",
            format_duration(*d)
        )),
        Some(_) if integral => Err("second argument must be a duration".into()),
        Some(other) => Err(format!(
            "second argument to {name} must be a duration, got {}",
            go_type(other)
        )),
    }
}

/// Checks a transformation call as InfluxDB 1.x's compiler does (same errors, same order);
/// `interval` is the statement's GROUP BY time interval.
pub(crate) fn check(
    name: &str,
    args: &[Expr],
    interval: Option<i64>,
) -> Result<(Transform, Input), String> {
    let transform = match name {
        "derivative" | "non_negative_derivative" | "elapsed" | "integral" => {
            if args.is_empty() || args.len() > 2 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected at least 1 but no more \
                     than 2, got {}",
                    args.len()
                ));
            }
            let unit = duration_arg(name, args, name == "integral")?;
            match name {
                "elapsed" => Transform::Elapsed {
                    unit: unit.unwrap_or(1),
                },
                "integral" => Transform::Integral {
                    unit: unit.unwrap_or(SECOND),
                },
                _ => Transform::Derivative {
                    // The call's unit, else the GROUP BY interval, else a second.
                    unit: unit.or(interval).unwrap_or(SECOND),
                    non_negative: name == "non_negative_derivative",
                },
            }
        }
        "difference" | "non_negative_difference" | "cumulative_sum" => {
            if args.len() != 1 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected 1, got {}",
                    args.len()
                ));
            }
            if name == "cumulative_sum" {
                Transform::CumulativeSum
            } else {
                Transform::Difference {
                    non_negative: name == "non_negative_difference",
                }
            }
        }
        "moving_average" => {
            if args.len() != 2 {
                return Err(format!(
                    "invalid number of arguments for moving_average, expected 2, got {}",
                    args.len()
                ));
            }
            match &args[1] {
                Expr::Integer(n) if *n > 1 => {
                    Transform::MovingAverage(usize::try_from(*n).map_err(|_| {
                        format!("moving_average window {n} is larger than Fieldline allows")
                    })?)
                }
                Expr::Integer(n) => {
                    return Err(format!(
                        "moving_average window must be greater than 1, got {n}"
                    ))
                }
                other => {
                    return Err(format!(
                        "second argument for moving_average must be an integer, got {}",
                        go_type(other)
                    ))
                }
            }
        }
        "holt_winters" | "holt_winters_with_fit" => {
            let hw = holt_winters::check(name, args)?;
            if !matches!(&args[0], Expr::Call { .. }) {
                return Err(format!("must use aggregate function with {name}"));
            }
            Transform::HoltWinters(hw)
        }
        n => match technical::kind_of(n) {
            Some(kind) => Transform::Technical(technical::check(name, kind, args)?),
            None => return Err(format!("undefined function {name}()")),
        },
    };
    let input = match (&args[0], transform) {
        // integral() reads a field, with or without GROUP BY time.
        (arg, Transform::Integral { .. }) => match arg {
            Expr::VarRef(_) | Expr::Wildcard(_) | Expr::Regex(_) => Input::Var(arg.clone()),
            _ => return Err("expected field argument in integral()".into()),
        },
        (call @ Expr::Call { .. }, _) => {
            if interval.is_none() {
                return Err(format!("{name} aggregate requires a GROUP BY interval"));
            }
            Input::Call(call.clone())
        }
        (arg, _) => {
            if interval.is_some() {
                return Err(format!(
                    "aggregate function required inside the call to {name}"
                ));
            }
            match arg {
                Expr::VarRef(_) | Expr::Wildcard(_) | Expr::Regex(_) => Input::Var(arg.clone()),
                _ => return Err(format!("expected field argument in {name}()")),
            }
        }
    };
    if let Transform::Technical(indicator) = transform {
        indicator.runnable(name)?;
    }
    Ok((transform, input))
}

/// `a - b` as InfluxDB computes it for the stream's type: integers stay integers (wrapping as
/// Go's int64 does), anything else is a float.
fn minus(a: &Cell, b: &Cell) -> Option<Cell> {
    match (a, b) {
        (Cell::Integer(a), Cell::Integer(b)) => Some(Cell::Integer(a.wrapping_sub(*b))),
        _ => Some(Cell::Float(a.as_f64()? - b.as_f64()?)),
    }
}

/// Whether a difference is negative (what the `non_negative_` forms drop).
fn negative(c: &Cell) -> bool {
    match c {
        Cell::Integer(i) => *i < 0,
        Cell::Float(f) => *f < 0.0,
        _ => false,
    }
}

impl Transform {
    /// Applies the transformation (all but `integral`) to one stream, given in the order the
    /// statement reads it (newest first under `ORDER BY time DESC`); null values are skipped, as
    /// InfluxDB's stream iterators skip nil points.
    ///
    /// Types follow InfluxDB: `difference` and `cumulative_sum` of integers are integers,
    /// `derivative` and `moving_average` are floats, `elapsed` is an integer.
    pub(crate) fn apply(self, stream: &[(i64, Cell)], ascending: bool) -> Vec<(i64, Cell)> {
        let points: Vec<(i64, &Cell)> = stream
            .iter()
            .filter(|(_, c)| !matches!(c, Cell::Null))
            .map(|(t, c)| (*t, c))
            .collect();
        let mut out = Vec::new();
        match self {
            Transform::Derivative { unit, non_negative } => {
                for (prev, curr) in advancing_pairs(&points) {
                    let Some(diff) = minus(curr.1, prev.1) else {
                        continue;
                    };
                    // An integer difference is taken in int64, then converted (as Go does).
                    let Some(diff) = diff.as_f64() else { continue };
                    let mut elapsed = curr.0 - prev.0;
                    if !ascending {
                        elapsed = -elapsed;
                    }
                    #[allow(clippy::cast_precision_loss)]
                    let value = diff / (elapsed as f64 / unit as f64);
                    if non_negative && diff < 0.0 {
                        continue;
                    }
                    out.push((curr.0, Cell::Float(value)));
                }
            }
            Transform::Difference { non_negative } => {
                for (prev, curr) in advancing_pairs(&points) {
                    if let Some(diff) = minus(curr.1, prev.1) {
                        if !(non_negative && negative(&diff)) {
                            out.push((curr.0, diff));
                        }
                    }
                }
            }
            Transform::MovingAverage(n) => moving_average(&points, n, &mut out),
            Transform::CumulativeSum => {
                let mut acc: Option<Cell> = None;
                for (t, c) in points {
                    let next = match (&acc, c) {
                        (None, c) => c.clone(),
                        (Some(Cell::Integer(a)), Cell::Integer(b)) => {
                            Cell::Integer(a.wrapping_add(*b))
                        }
                        (Some(a), b) => match (a.as_f64(), b.as_f64()) {
                            (Some(a), Some(b)) => Cell::Float(a + b),
                            _ => continue,
                        },
                    };
                    out.push((t, next.clone()));
                    acc = Some(next);
                }
            }
            Transform::Elapsed { unit } => {
                // Every point counts here, repeated timestamps included (an elapsed of 0).
                for w in points.windows(2) {
                    out.push((w[1].0, Cell::Integer((w[1].0 - w[0].0) / unit)));
                }
            }
            Transform::Technical(indicator) => return indicator.apply(stream),
            Transform::Integral { .. } | Transform::HoltWinters(_) => {}
        }
        out
    }
}

/// A point of a stream: its time and value.
type TimedCell<'a> = (i64, &'a Cell);

/// Successive pairs of points, a point at the time of the one before it skipped (InfluxDB's
/// derivative and difference keep the first point of a timestamp). Each point is the second of
/// one pair at most: a pair is consumed when it is emitted.
fn advancing_pairs<'a>(points: &[TimedCell<'a>]) -> Vec<(TimedCell<'a>, TimedCell<'a>)> {
    let mut out = Vec::new();
    let mut curr: Option<(i64, &Cell)> = None;
    for &p in points {
        if let Some(c) = curr {
            if c.0 == p.0 {
                continue;
            }
            out.push((c, p));
        }
        curr = Some(p);
    }
    out
}

/// InfluxDB's moving average: a ring buffer of the last `n` values and a running sum (from which
/// the value leaving the window is subtracted: the same rounding as InfluxDB's). Integer
/// streams sum in int64, as InfluxDB's integer reducer does.
fn moving_average(points: &[(i64, &Cell)], n: usize, out: &mut Vec<(i64, Cell)>) {
    let integers = points.iter().all(|(_, c)| matches!(c, Cell::Integer(_)));
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    if integers {
        let mut buf: Vec<i64> = Vec::with_capacity(n);
        let (mut pos, mut sum) = (0usize, 0i64);
        for (t, c) in points {
            let Cell::Integer(v) = c else { continue };
            if buf.len() < n {
                buf.push(*v);
            } else {
                sum = sum.wrapping_sub(buf[pos]);
                buf[pos] = *v;
            }
            sum = sum.wrapping_add(*v);
            pos = (pos + 1) % n;
            if buf.len() == n {
                #[allow(clippy::cast_precision_loss)]
                out.push((*t, Cell::Float(sum as f64 / nf)));
            }
        }
    } else {
        let mut buf: Vec<f64> = Vec::with_capacity(n);
        let (mut pos, mut sum) = (0usize, 0.0f64);
        for (t, c) in points {
            let Some(v) = c.as_f64() else { continue };
            if buf.len() < n {
                buf.push(v);
            } else {
                sum -= buf[pos];
                buf[pos] = v;
            }
            sum += v;
            pos = (pos + 1) % n;
            if buf.len() == n {
                out.push((*t, Cell::Float(sum / nf)));
            }
        }
    }
}

/// The value at `t` on the line between two points (InfluxDB's `linearFloat`).
#[allow(clippy::cast_precision_loss)]
fn linear(t: i64, (t0, v0): (i64, f64), (t1, v1): (i64, f64)) -> f64 {
    let m = (v1 - v0) / (t1 - t0) as f64;
    let x = (t - t0) as f64;
    m * x + v0
}

/// `integral(x, unit)` of one stream of points (in the statement's order): InfluxDB's
/// trapezium rule, per window when `window` gives a time's window (start, end), interpolating
/// the value at each window's boundary, and stamped at the window's start (its end under DESC,
/// as InfluxDB swaps them). Without windows, one value at time 0 (as InfluxDB answers). A window
/// whose last point is at its start has no area and no row. Integer fields are integrated as
/// floats, as InfluxDB does, with its integer reducer's arithmetic at a window's end
/// (`integers`): the interpolated value stands for the next point in the next window's first
/// trapezium, beside the previous point's value. The integer reducer always has a window:
/// without GROUP BY time it is the statement's range, so under DESC a point at the range's start
/// closes it, and a row of 0 follows (InfluxDB 1.6 does the same).
pub(crate) fn integral(
    points: &[(i64, f64)],
    unit: i64,
    ascending: bool,
    window: Option<&dyn Fn(i64) -> (i64, i64)>,
    integers: bool,
) -> Vec<(i64, f64)> {
    // Under DESC InfluxDB swaps the window's ends: the "start" it reports is the window's end.
    let oriented = |t: i64| {
        window.map(|w| {
            let (s, e) = w(t);
            if ascending {
                (s, e)
            } else {
                (e, s)
            }
        })
    };
    #[allow(clippy::cast_precision_loss)]
    let unit = unit as f64;
    let mut out = Vec::new();
    let (mut start, mut end) = (0i64, 0i64);
    let mut sum = 0.0f64;
    let mut prev: Option<(i64, f64)> = None;
    for &(t, v) in points {
        let Some(mut p) = prev else {
            prev = Some((t, v));
            if let Some(w) = oriented(t) {
                (start, end) = w;
            }
            // The integer reducer stamps a window from the earliest time at time 0, "so we
            // don't break the default returned time for aggregate queries without times".
            if integers && start == MIN_TIME {
                start = 0;
            }
            continue;
        };
        if p.0 == t {
            prev = Some((t, v));
            continue;
        }
        // The value beside the previous one in the next trapezium.
        let mut next = v;
        if window.is_some() && ((ascending && t >= end) || (!ascending && t <= end)) {
            if p.0 != end {
                let value = linear(end, p, (t, v));
                #[allow(clippy::cast_precision_loss)]
                let elapsed = (end - p.0) as f64 / unit;
                sum += 0.5 * (value + p.1) * elapsed;
                if integers {
                    p = (end, p.1);
                    next = value;
                } else {
                    p = (end, value);
                }
            }
            out.push((start, sum));
            if let Some(w) = oriented(t) {
                (start, end) = w;
            }
            sum = 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let elapsed = (t - p.0) as f64 / unit;
        sum += 0.5 * (next + p.1) * elapsed;
        prev = Some((t, v));
    }
    if let Some(p) = prev {
        if p.0 != start {
            out.push((start, sum));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(points: &[(i64, f64)]) -> Vec<(i64, Cell)> {
        points.iter().map(|&(t, v)| (t, Cell::Float(v))).collect()
    }

    fn ints(points: &[(i64, i64)]) -> Vec<(i64, Cell)> {
        points.iter().map(|&(t, v)| (t, Cell::Integer(v))).collect()
    }

    const D: Transform = Transform::Derivative {
        unit: SECOND,
        non_negative: false,
    };

    #[test]
    fn one_point_has_no_derivative_difference_elapsed_or_average() {
        let one = floats(&[(SECOND, 5.0)]);
        assert!(D.apply(&one, true).is_empty());
        for t in [
            Transform::Difference {
                non_negative: false,
            },
            Transform::Elapsed { unit: 1 },
            Transform::MovingAverage(2),
        ] {
            assert!(t.apply(&one, true).is_empty(), "{t:?}");
        }
        assert_eq!(
            Transform::CumulativeSum.apply(&one, true),
            floats(&[(SECOND, 5.0)])
        );
        assert!(integral(&[(SECOND, 5.0)], SECOND, true, None, false) == vec![(0, 0.0)]);
    }

    #[test]
    fn a_repeated_timestamp_keeps_its_first_point() {
        let p = floats(&[(0, 1.0), (SECOND, 3.0), (SECOND, 100.0), (2 * SECOND, 4.0)]);
        assert_eq!(
            D.apply(&p, true),
            floats(&[(SECOND, 2.0), (2 * SECOND, 1.0)])
        );
        // elapsed counts every point.
        assert_eq!(
            Transform::Elapsed { unit: 1 }.apply(&p, true),
            ints(&[(SECOND, SECOND), (SECOND, 0), (2 * SECOND, SECOND)])
        );
    }

    #[test]
    fn non_negative_forms_drop_decreases_but_move_on() {
        let p = floats(&[(0, 5.0), (SECOND, 2.0), (2 * SECOND, 4.0)]);
        let nn = Transform::Derivative {
            unit: 60 * SECOND,
            non_negative: true,
        };
        assert_eq!(nn.apply(&p, true), floats(&[(2 * SECOND, 120.0)]));
        let nd = Transform::Difference { non_negative: true };
        assert_eq!(nd.apply(&p, true), floats(&[(2 * SECOND, 2.0)]));
        let d = Transform::Difference {
            non_negative: false,
        };
        assert_eq!(
            d.apply(&p, true),
            floats(&[(SECOND, -3.0), (2 * SECOND, 2.0)])
        );
    }

    #[test]
    fn descending_streams_divide_by_the_time_back() {
        let p = floats(&[(2 * SECOND, 4.0), (0, 0.0)]);
        // (0 - 4) / (2 s): the derivative as read backwards.
        assert_eq!(D.apply(&p, false), floats(&[(0, -2.0)]));
    }

    #[test]
    fn integers_stay_integers_where_influxdb_keeps_them() {
        let p = ints(&[(0, i64::MAX - 1), (SECOND, i64::MAX), (2 * SECOND, 1)]);
        let d = Transform::Difference {
            non_negative: false,
        };
        // Exact int64 arithmetic, above 2^53.
        assert_eq!(
            d.apply(&p, true),
            ints(&[(SECOND, 1), (2 * SECOND, 1 - i64::MAX)])
        );
        let c = ints(&[(0, 1 << 53), (SECOND, 1)]);
        assert_eq!(
            Transform::CumulativeSum.apply(&c, true),
            ints(&[(0, 1 << 53), (SECOND, (1 << 53) + 1)])
        );
        assert_eq!(
            Transform::MovingAverage(2).apply(&ints(&[(0, 1), (1, 2)]), true),
            floats(&[(1, 1.5)])
        );
    }

    #[test]
    fn nulls_are_skipped_and_results_are_never_nan() {
        let p = vec![
            (0, Cell::Float(1.0)),
            (SECOND, Cell::Null),
            (2 * SECOND, Cell::Float(3.0)),
        ];
        let out = D.apply(&p, true);
        assert_eq!(out, floats(&[(2 * SECOND, 1.0)]));
        assert!(out
            .iter()
            .all(|(_, c)| c.as_f64().is_some_and(f64::is_finite)));
    }

    #[test]
    fn moving_average_subtracts_what_leaves_the_window() {
        let p = floats(&[(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0)]);
        assert_eq!(
            Transform::MovingAverage(3).apply(&p, true),
            floats(&[(2, 7.0 / 3.0), (3, ((1.0 + 2.0 + 4.0) - 1.0 + 8.0) / 3.0)])
        );
    }

    #[test]
    fn integral_interpolates_at_window_boundaries() {
        let w = |t: i64| {
            let s = t - t.rem_euclid(10 * SECOND);
            (s, s + 10 * SECOND)
        };
        // A line from 0 at 0 s to 20 at 20 s, sampled at 5 s and 15 s: the 10 s boundary is
        // interpolated, each window keeps its own area.
        let p = [(5 * SECOND, 5.0), (15 * SECOND, 15.0)];
        let out = integral(&p, SECOND, true, Some(&w), false);
        assert_eq!(out, vec![(0, 37.5), (10 * SECOND, 62.5)]);
        // A window whose only point is at its start has no row.
        let p = [(5 * SECOND, 5.0), (10 * SECOND, 10.0)];
        assert_eq!(integral(&p, SECOND, true, Some(&w), false), vec![(0, 37.5)]);
    }

    #[test]
    fn an_integer_integral_over_the_range_as_its_window() {
        // The statement's range, 1 s to 3 s, as InfluxDB's integer reducer windows it.
        let range = |_: i64| (SECOND, 3 * SECOND + 1);
        let up = [(SECOND, 1.0), (2 * SECOND, 2.0), (3 * SECOND, 3.0)];
        assert_eq!(
            integral(&up, SECOND, true, Some(&range), true),
            vec![(SECOND, 4.0)]
        );
        // Under DESC the point at the range's start closes the window: its area, stamped after
        // the range's end, then a row of 0.
        let down: Vec<_> = up.iter().rev().copied().collect();
        assert_eq!(
            integral(&down, SECOND, false, Some(&range), true),
            vec![(3 * SECOND + 1, -4.0), (3 * SECOND + 1, 0.0)]
        );
        // Points only at the range's start: no area, no row (a row of 0 under DESC).
        let start = [(SECOND, 1.0), (SECOND, 5.0)];
        assert!(integral(&start, SECOND, true, Some(&range), true).is_empty());
        assert_eq!(
            integral(&start, SECOND, false, Some(&range), true),
            vec![(3 * SECOND + 1, 0.0)]
        );
        // Without a lower bound the window starts at time 0.
        let open = |_: i64| (MIN_TIME, 3 * SECOND + 1);
        assert_eq!(
            integral(&up, SECOND, true, Some(&open), true),
            vec![(0, 4.0)]
        );
    }
}
