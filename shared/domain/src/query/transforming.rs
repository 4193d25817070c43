//! `SELECT` with a transformation (`derivative(value, 1s)`, `derivative(mean(value), 1m)`,
//! `integral(value)`): per group, the stream it reads (raw points, or GROUP BY time buckets over
//! one more interval before the range, as InfluxDB reads them), the transformation
//! ([`super::transform`]), then OFFSET and LIMIT on its rows and the field expression around it.

use crate::influxql::Expr;

use super::check::Plan;
use super::eval::eval_calls;
use super::result::{Cell, Series};
use super::select::Group;
use super::transform::{integral, Transform};
use super::{Source, SourceError, StatementError, TimeRange};

impl Plan {
    pub(super) fn transform_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Result<Option<Series>, StatementError>, SourceError> {
        let Some(t) = &self.transform else {
            return Ok(Ok(None));
        };
        let ascending = !self.desc;
        let rows: Vec<(i64, Cell)> = if t.nested {
            if !self.calls.iter().any(|c| c.on_field) {
                return Ok(Ok(None));
            }
            // InfluxDB reads one more bucket, before the range (after it under DESC), so that
            // the first bucket of the range has a predecessor (not for cumulative_sum).
            let mut wide = range;
            let extend = !matches!(
                t.transform,
                Transform::CumulativeSum | Transform::HoltWinters(_)
            );
            if let Some((interval, _)) = self.interval.filter(|_| extend) {
                if self.desc {
                    wide.max = wide.max.saturating_add(interval);
                } else if self.bounds.min.is_some() {
                    wide.min = wide.min.saturating_sub(interval);
                } else {
                    // InfluxDB 1.6 moves its minimum time (math.MinInt64 + 2) back by the
                    // interval, which wraps around past the maximum: it answers no series.
                    return Ok(Ok(None));
                }
            }
            let (first, data) = match self.buckets(g, wide, source)? {
                Ok(b) => b,
                Err(e) => return Ok(Err(e.into())),
            };
            let stream: Vec<(i64, Cell)> = self
                .bucket_rows(wide, first, &data)
                .into_iter()
                .map(|(time, mut values, _)| (time, values.swap_remove(0)))
                .collect();
            match (t.transform, self.interval) {
                // The forecast reads the buckets of the range, nulls skipped.
                (Transform::HoltWinters(hw), Some((interval, _))) => {
                    let points: Vec<(i64, f64)> = stream
                        .iter()
                        .filter_map(|(time, c)| Some((*time, c.as_f64()?)))
                        .collect();
                    match hw.apply(&points, interval, self.max_rows) {
                        Ok(rows) => rows
                            .into_iter()
                            .map(|(time, v)| (time, Cell::Float(v)))
                            .collect(),
                        Err(e) => return Ok(Err(e.into())),
                    }
                }
                (other, _) => {
                    if panics_on(other, &stream) {
                        return Ok(Err(StatementError::InfluxdbPanics));
                    }
                    other.apply(&stream, ascending)
                }
            }
        } else {
            if !t.on_field {
                return Ok(Ok(None));
            }
            let points = self.streamed_points(g, range, self.desc, source)?;
            match t.transform {
                Transform::Integral { unit } => {
                    let values: Vec<(i64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
                    let window = self.interval.map(|(interval, offset)| {
                        move |t: i64| {
                            let start = self.window_start(t, interval, offset);
                            (start, start.saturating_add(interval))
                        }
                    });
                    integral(
                        &values,
                        unit,
                        ascending,
                        window.as_ref().map(|w| w as &dyn Fn(i64) -> (i64, i64)),
                        self.integer_field,
                    )
                    .into_iter()
                    .map(|(time, v)| (self.integral_time(time), Cell::Float(v)))
                    .collect()
                }
                other => {
                    let stream: Vec<(i64, Cell)> =
                        points.iter().map(|p| (p.0, Cell::Float(p.1))).collect();
                    if panics_on(other, &stream) {
                        return Ok(Err(StatementError::InfluxdbPanics));
                    }
                    other.apply(&stream, ascending)
                }
            }
        };

        let mut series = self.series_shell(g, self.time_and_columns());
        for (time, value) in rows.into_iter().skip(self.offset).take(self.row_limit()) {
            let lookup = |e: &Expr| (*e == t.expr).then(|| value.clone());
            let mut row = Vec::with_capacity(self.columns.len() + 1);
            row.push(Cell::Time(time));
            for c in &self.columns {
                row.push(eval_calls(&c.expr, &lookup));
            }
            series.values.push(row);
        }
        Ok(Ok((!series.values.is_empty()).then_some(series)))
    }
}

impl Plan {
    /// The time of an `integral()` row: without `GROUP BY time` InfluxDB 1.6's integer
    /// reducer stamps its one value at the range's start (time 0 without a lower bound), under
    /// `ORDER BY time DESC` just after its end (its window's start and end swapped: the largest
    /// time without an upper bound); its float one at time 0.
    fn integral_time(&self, time: i64) -> i64 {
        match (self.interval, self.integer_field, self.desc) {
            (None, true, false) => self.bounds.min.unwrap_or(time),
            (None, true, true) => self
                .bounds
                .max
                .unwrap_or(super::cond::MAX_TIME)
                .saturating_add(1),
            _ => time,
        }
    }
}

/// Whether InfluxDB 1.6 panics reading `stream` ([`super::influxdb_panic`]).
fn panics_on(transform: Transform, stream: &[(i64, Cell)]) -> bool {
    matches!(transform, Transform::Technical(indicator) if indicator.panics())
        && stream.iter().any(|(_, c)| !matches!(c, Cell::Null))
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::{run, Counting};

    #[test]
    fn a_raw_derivative_of_one_series() {
        // d1's values are 10 + s at s seconds: a slope of 1 per second, 4 per 4 s.
        let a = run(
            "SELECT derivative(value, 4s) FROM m WHERE device = 'd1'",
            &mut Counting::default(),
        );
        assert_eq!(a.matches("Float(4.0)").count(), 4, "{a}");
    }

    #[test]
    fn a_period_1_chande_momentum_oscillator_answers_influxdbs_panic() {
        // Given a value, InfluxDB 1.6 panics; the query's other statements stop there.
        let a = run(
            "SELECT chande_momentum_oscillator(value, 1) FROM m; SELECT count(value) FROM m",
            &mut Counting::default(),
        );
        assert!(a.contains("query_panicked: true"), "{a}");
        assert!(
            a.contains(
                "SELECT chande_momentum_oscillator(value, 1) FROM db.autogen.m;\\nSELECT \
                 count(value) FROM m [panic:runtime error: index out of range [1] with length 0]"
            ),
            "{a}"
        );
        // Without a value it answers nothing.
        let a = run(
            "SELECT chande_momentum_oscillator(value, 1) FROM m WHERE time > 1h",
            &mut Counting::default(),
        );
        assert!(!a.contains("[panic:"), "{a}");
    }

    #[test]
    fn what_is_not_run_is_refused_by_name() {
        let q = "SELECT sample(value, 2), max(value) FROM m";
        let a = run(q, &mut Counting::default());
        assert!(
            a.contains("sample()") && a.contains("not supported"),
            "{q}: {a}"
        );
    }

    #[test]
    fn a_wildcard_over_a_subquery_reads_its_columns_as_fields() {
        let a = run(
            "SELECT * FROM (SELECT mean(value) FROM m)",
            &mut Counting::default(),
        );
        assert!(
            a.contains(r#"columns: ["time", "mean"], values: [[Time(0), Float(48.0)]]"#),
            "{a}"
        );
    }
}
