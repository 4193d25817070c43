//! The aggregate and selector functions, reducing the points of one bucket the way InfluxDB
//! 1.x's reducers do (same tie-breaking, same float arithmetic), so that answers match it.

use crate::influxql::Expr;

use super::go_math;
use super::result::Cell;

/// A function of the field list that reduces a bucket's points to one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Func {
    Count,
    Sum,
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Min,
    Max,
    First,
    Last,
    /// `percentile(value, N)`, N in 0..=100 (or above: the maximum).
    Percentile(f64),
    /// `count(distinct(value))`.
    CountDistinct,
}

/// Math functions applied to each row (raw queries) or each aggregate.
pub(crate) const MATH: &[&str] = &[
    "abs", "ceil", "floor", "round", "sqrt", "ln", "log2", "log10", "exp", "sin", "cos", "tan",
    "asin", "acos", "atan", "pow", "log", "atan2",
];

/// What kind of function a call is.
pub(crate) enum Kind {
    Reducer,
    Math,
    /// A transformation ([`super::transform`]).
    Transform,
}

/// Classifies a call by name: a reducer, a math function, or an error worded as InfluxDB's.
pub(crate) fn kind(name: &str) -> Result<Kind, String> {
    match name {
        "count" | "sum" | "mean" | "median" | "mode" | "spread" | "stddev" | "min" | "max"
        | "first" | "last" | "percentile" => Ok(Kind::Reducer),
        n if MATH.contains(&n) => Ok(Kind::Math),
        n if super::transform::is_transform(n) => Ok(Kind::Transform),
        n => Err(format!("undefined function {n}()")),
    }
}

impl Func {
    /// The reducer named `name`; `percentile` takes its N from `arg`.
    pub fn new(name: &str, percentile: Option<f64>) -> Option<Func> {
        Some(match name {
            "count" => Func::Count,
            "sum" => Func::Sum,
            "mean" => Func::Mean,
            "median" => Func::Median,
            "mode" => Func::Mode,
            "spread" => Func::Spread,
            "stddev" => Func::Stddev,
            "min" => Func::Min,
            "max" => Func::Max,
            "first" => Func::First,
            "last" => Func::Last,
            "percentile" => Func::Percentile(percentile?),
            _ => return None,
        })
    }

    /// Whether InfluxDB answers an integer when the function reduces integers (`mean`,
    /// `median` and `stddev` answer floats).
    pub fn keeps_integers(self) -> bool {
        !matches!(self, Func::Mean | Func::Median | Func::Stddev)
    }

    /// Selectors return one of the points (and, alone in a query, its time).
    pub fn is_selector(self) -> bool {
        matches!(
            self,
            Func::Min | Func::Max | Func::First | Func::Last | Func::Percentile(_)
        )
    }

    /// Whether the function can be computed from per-interval count, sum, min and max.
    pub fn summarizable(self) -> bool {
        matches!(
            self,
            Func::Count | Func::Sum | Func::Mean | Func::Spread | Func::Min | Func::Max
        )
    }

    /// The value for a bucket without points: `count` is 0, the rest null.
    pub fn empty(self) -> Cell {
        if matches!(self, Func::Count | Func::CountDistinct) {
            Cell::Integer(0)
        } else {
            Cell::Null
        }
    }

    /// Reduces the points of one bucket (in time order, at least one). Returns the value and,
    /// for a selector, the index of the selected point.
    pub fn reduce(self, points: &[(i64, f64)]) -> (Cell, Option<usize>) {
        let n = points.len();
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        match self {
            Func::Count => (Cell::Integer(i64::try_from(n).unwrap_or(i64::MAX)), None),
            Func::CountDistinct => {
                let values: Vec<f64> = points.iter().map(|p| p.1).collect();
                let distinct = super::selectors::count_distinct(&values);
                (
                    Cell::Integer(i64::try_from(distinct).unwrap_or(i64::MAX)),
                    None,
                )
            }
            Func::Sum => (Cell::Float(points.iter().map(|p| p.1).sum()), None),
            Func::Mean => {
                let sum: f64 = points.iter().map(|p| p.1).sum();
                (Cell::Float(sum / nf), None)
            }
            Func::Spread => {
                let (min, max) = points
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                        (lo.min(p.1), hi.max(p.1))
                    });
                (Cell::Float(max - min), None)
            }
            Func::Stddev => {
                if n < 2 {
                    return (Cell::Null, None);
                }
                // InfluxDB's running mean, then the sum of squares: same rounding as it.
                let mut mean = 0.0;
                for (i, p) in points.iter().enumerate() {
                    #[allow(clippy::cast_precision_loss)]
                    let k = (i + 1) as f64;
                    mean += (p.1 - mean) / k;
                }
                let variance: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
                (Cell::Float((variance / (nf - 1.0)).sqrt()), None)
            }
            Func::Median => {
                let sorted = by_value(points);
                let v = if n % 2 == 1 {
                    points[sorted[n / 2]].1
                } else {
                    let lo = points[sorted[n / 2 - 1]].1;
                    let hi = points[sorted[n / 2]].1;
                    lo + (hi - lo) / 2.0
                };
                (Cell::Float(v), None)
            }
            Func::Mode => (Cell::Float(mode(points)), None),
            Func::Min | Func::Max => {
                let mut best = 0;
                for (i, p) in points.iter().enumerate().skip(1) {
                    let b = points[best];
                    let better = if self == Func::Min {
                        p.1 < b.1
                    } else {
                        p.1 > b.1
                    };
                    if better || (p.1 == b.1 && p.0 < b.0) {
                        best = i;
                    }
                }
                (Cell::Float(points[best].1), Some(best))
            }
            Func::First | Func::Last => {
                let mut best = 0;
                for (i, p) in points.iter().enumerate().skip(1) {
                    let b = points[best];
                    let later = if self == Func::First {
                        p.0 < b.0
                    } else {
                        p.0 > b.0
                    };
                    if later || (p.0 == b.0 && p.1 > b.1) {
                        best = i;
                    }
                }
                (Cell::Float(points[best].1), Some(best))
            }
            Func::Percentile(pct) => {
                #[allow(clippy::cast_possible_truncation)]
                let i = (nf * pct / 100.0 + 0.5).floor() as i64 - 1;
                match usize::try_from(i) {
                    Ok(i) if i < n => {
                        let sorted = go_by_value(points);
                        (Cell::Float(points[sorted[i]].1), Some(sorted[i]))
                    }
                    _ => (Cell::Null, None),
                }
            }
        }
    }

    /// The value from per-interval summaries of one bucket (at least one point in all).
    pub fn reduce_stats(self, count: u64, sum: f64, min: f64, max: f64) -> Cell {
        #[allow(clippy::cast_precision_loss)]
        match self {
            Func::Count => Cell::Integer(i64::try_from(count).unwrap_or(i64::MAX)),
            Func::Sum => Cell::Float(sum),
            Func::Mean => Cell::Float(sum / count as f64),
            Func::Spread => Cell::Float(max - min),
            Func::Min => Cell::Float(min),
            Func::Max => Cell::Float(max),
            _ => Cell::Null,
        }
    }
}

/// Indexes of `points` ordered by value as InfluxDB orders a window's points before
/// `mode()` and `percentile()` read them: Go's `sort.Sort` by value alone, which is not stable
/// ([`super::go_sort`]), so that the point of a value a tie leaves first is InfluxDB's.
fn go_by_value(points: &[(i64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    super::go_sort::sort(&mut idx, |&a, &b| points[a].1 < points[b].1);
    idx
}

/// InfluxDB 1.6's `mode()` of numbers (`FloatModeReduceSlice`, `IntegerModeReduceSlice`):
/// the points sorted by value ([`go_by_value`]), then the longest run of one value; a run as
/// long as the longest so far takes its place unless it began later than the time of the
/// point at which the longest last grew. `points` in the order InfluxDB's reducer receives
/// them.
pub(super) fn mode(points: &[(i64, f64)]) -> f64 {
    if points.len() == 1 {
        return points[0].1;
    }
    let sorted: Vec<(i64, f64)> = go_by_value(points).into_iter().map(|i| points[i]).collect();
    let (mut most_freq, mut curr_freq) = (0usize, 0usize);
    let (mut curr_mode, mut most_mode) = (sorted[0].1, sorted[0].1);
    let (mut curr_time, mut most_time) = (sorted[0].0, sorted[0].0);
    for &(t, v) in &sorted {
        if v != curr_mode {
            (curr_freq, curr_mode, curr_time) = (1, v, t);
            continue;
        }
        curr_freq += 1;
        if most_freq > curr_freq || (most_freq == curr_freq && curr_time > most_time) {
            continue;
        }
        (most_freq, most_mode, most_time) = (curr_freq, v, t);
    }
    most_mode
}

/// InfluxDB 1.6's `mode()` of booleans (`BooleanModeReduceSlice`): true unless false is
/// strictly more frequent (booleans presented as 0 and 1).
pub(super) fn boolean_mode(points: &[(i64, f64)]) -> f64 {
    if let [only] = points {
        return only.1;
    }
    let trues = points.iter().filter(|p| p.1 != 0.0).count();
    if trues * 2 >= points.len() {
        1.0
    } else {
        0.0
    }
}

/// Indexes of `points` ordered by value (stable: equal values keep time order).
fn by_value(points: &[(i64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| points[a].1.total_cmp(&points[b].1));
    idx
}

/// A math call (`exp(x)`, `atan2(y, x)`) whose arguments `eval` gives on a row: each
/// evaluator's call of [`math_cell`].
pub(crate) fn math_call(name: &str, args: &[Expr], eval: impl Fn(&Expr) -> Cell) -> Cell {
    let inner = args.first().map_or(Cell::Null, &eval);
    let second = args.get(1).map(&eval);
    math_cell(name, &inner, second.as_ref())
}

/// A math function of a cell, as InfluxDB 1.6's `MathValuer` answers it: `abs`, `ceil`,
/// `floor` and `round` give an integer back unchanged (`abs(-1)` is -1 there too), every other
/// function a float; null for anything but a number. `second` is the second argument of
/// `pow`, `log` and `atan2` (a number, or a field's value on the row: null where it has none).
fn math_cell(name: &str, inner: &Cell, second: Option<&Cell>) -> Cell {
    let arg = match second.map(Cell::as_f64) {
        None => None,
        Some(Some(v)) => Some(v),
        Some(None) => return Cell::Null,
    };
    match inner {
        Cell::Integer(_) if matches!(name, "abs" | "ceil" | "floor" | "round") => inner.clone(),
        _ => inner
            .as_f64()
            .and_then(|v| math(name, v, arg))
            .map_or(Cell::Null, Cell::Float),
    }
}

/// A math function of one row's value (`abs(value)`, `pow(value, 2)`); `arg` is the second
/// argument of `pow`, `log` and `atan2`.
pub(crate) fn math(name: &str, v: f64, arg: Option<f64>) -> Option<f64> {
    Some(match name {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        // Go's math.Round: half away from zero, as f64::round.
        "round" => v.round(),
        "sqrt" => v.sqrt(),
        // The rest as Go's math package computes them, to the last bit.
        "ln" => go_math::ln(v),
        "log2" => go_math::log2(v),
        "log10" => go_math::log10(v),
        "exp" => go_math::exp(v),
        "sin" => go_math::sin(v),
        "cos" => go_math::cos(v),
        "tan" => go_math::tan(v),
        "asin" => go_math::asin(v),
        "acos" => go_math::acos(v),
        "atan" => go_math::atan(v),
        "pow" => go_math::pow(v, arg?),
        "log" => go_math::ln(v) / go_math::ln(arg?),
        "atan2" => go_math::atan2(v, arg?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[f64]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i64::try_from(i).unwrap(), *v))
            .collect()
    }

    /// The second argument of `atan2`, `pow` and `log` is a row's value like the first: a
    /// field's number, null where the row has none or holds no number (InfluxDB's `asFloats`).
    #[test]
    fn math_takes_its_second_argument_from_the_row() {
        let (x, y) = (Cell::Float(3.0), Cell::Integer(4));
        assert_eq!(
            math_cell("atan2", &x, Some(&y)),
            Cell::Float(3f64.atan2(4.0))
        );
        assert_eq!(math_cell("pow", &y, Some(&x)), Cell::Float(64.0));
        for other in [Cell::Null, Cell::Str("4".into()), Cell::Bool(true)] {
            assert_eq!(math_cell("log", &x, Some(&other)), Cell::Null);
        }
        assert_eq!(
            math_cell("abs", &Cell::Integer(-2), None),
            Cell::Integer(-2)
        );
    }

    /// Answers recorded from InfluxDB 1.6 (values at 1s, 2s, ...): 5, 3, 5, 3 has mode 5 (the
    /// run of 5s began at 1s, before the 3s' last point) and percentile 50 the 3 of 4s; 3, 5,
    /// 3, 5 has mode 5; 3, 3, 5, 5 has mode 3; booleans in a tie answer true.
    #[test]
    fn mode_breaks_ties_as_influxdb_does() {
        let p = vec![(1, 5.0), (2, 3.0), (3, 5.0), (4, 3.0)];
        assert_eq!(Func::Mode.reduce(&p).0, Cell::Float(5.0));
        assert_eq!(
            Func::Percentile(50.0).reduce(&p),
            (Cell::Float(3.0), Some(3))
        );
        // The 5s' run began (2s) before the 3s' last point (3s): 5 again. Where it begins
        // after (3s against 2s), the 3s stay the mode.
        let p = vec![(1, 3.0), (2, 5.0), (3, 3.0), (4, 5.0)];
        assert_eq!(Func::Mode.reduce(&p).0, Cell::Float(5.0));
        let p = vec![(1, 3.0), (2, 3.0), (3, 5.0), (4, 5.0)];
        assert_eq!(Func::Mode.reduce(&p).0, Cell::Float(3.0));
        // A longer run wins whatever its times.
        let p = vec![(1, 5.0), (2, 3.0), (3, 3.0), (4, 5.0), (5, 3.0)];
        assert_eq!(Func::Mode.reduce(&p).0, Cell::Float(3.0));
        assert_eq!(boolean_mode(&[(1, 1.0), (2, 0.0)]), 1.0);
        assert_eq!(boolean_mode(&[(1, 0.0), (2, 0.0), (3, 1.0)]), 0.0);
        assert_eq!(boolean_mode(&[(1, 0.0)]), 0.0);
    }

    #[test]
    fn reducers() {
        let p = pts(&[3.0, 1.0, 4.0, 1.0, 5.0]);
        assert_eq!(Func::Count.reduce(&p).0, Cell::Integer(5));
        assert_eq!(Func::Sum.reduce(&p).0, Cell::Float(14.0));
        assert_eq!(Func::Mean.reduce(&p).0, Cell::Float(2.8));
        assert_eq!(Func::Median.reduce(&p).0, Cell::Float(3.0));
        assert_eq!(Func::Mode.reduce(&p).0, Cell::Float(1.0));
        assert_eq!(Func::Spread.reduce(&p).0, Cell::Float(4.0));
        // the first of equal minima
        assert_eq!(Func::Min.reduce(&p), (Cell::Float(1.0), Some(1)));
        assert_eq!(Func::Max.reduce(&p), (Cell::Float(5.0), Some(4)));
        assert_eq!(Func::First.reduce(&p), (Cell::Float(3.0), Some(0)));
        assert_eq!(Func::Last.reduce(&p), (Cell::Float(5.0), Some(4)));
        assert_eq!(Func::Median.reduce(&pts(&[1.0, 2.0])).0, Cell::Float(1.5));
        assert_eq!(Func::Stddev.reduce(&pts(&[1.0])).0, Cell::Null);
        assert_eq!(
            Func::Stddev
                .reduce(&pts(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]))
                .0,
            Cell::Float((32.0f64 / 7.0).sqrt())
        );
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let p = pts(&[15.0, 20.0, 35.0, 40.0, 50.0]);
        assert_eq!(Func::Percentile(40.0).reduce(&p).0, Cell::Float(20.0));
        assert_eq!(Func::Percentile(100.0).reduce(&p).0, Cell::Float(50.0));
        assert_eq!(Func::Percentile(101.0).reduce(&p).0, Cell::Float(50.0));
        assert_eq!(Func::Percentile(0.0).reduce(&p).0, Cell::Null);
    }
}
