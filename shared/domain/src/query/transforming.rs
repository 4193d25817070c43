//! `SELECT` with a transformation (`derivative(value, 1s)`, `derivative(mean(value), 1m)`,
//! `integral(value)`): per group, the stream it reads (raw points, or GROUP BY time buckets over
//! one more interval before the range, as InfluxDB reads them), the transformation
//! ([`super::transform`]), then OFFSET and LIMIT on its rows and the field expression around it.

use crate::influxql::Expr;

use super::check::Plan;
use super::cond::{MAX_TIME, MIN_TIME};
use super::eval::eval_calls;
use super::result::{Cell, Series};
use super::select::Group;
use super::transform::{integral, Transform};
use super::{Source, SourceError, StatementError, TimeRange};

impl Plan {
    /// The group's series. Rows InfluxDB emits only once every group has been read (those of
    /// `integral()` without GROUP BY time) go to `closing`, not yet cut by OFFSET and LIMIT:
    /// [`Plan::close_groups`] places and cuts them.
    pub(super) fn transform_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
        closing: &mut Vec<Series>,
    ) -> Result<Result<Option<Series>, StatementError>, SourceError> {
        let Some(t) = &self.transform else {
            return Ok(Ok(None));
        };
        let ascending = !self.desc;
        // How many of the rows InfluxDB emits as it reads (all but the closing ones).
        let mut streamed = usize::MAX;
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
                    let buckets = self.interval.map(|(interval, offset)| {
                        move |t: i64| {
                            let start = self.window_start(t, interval, offset);
                            (start, start.saturating_add(interval))
                        }
                    });
                    // Without GROUP BY time, InfluxDB 1.6's integer reducer takes the whole
                    // range as its window (`Window`: start to end + 1); its float one has none.
                    let range_window = |_: i64| {
                        (
                            self.bounds.min.unwrap_or(MIN_TIME),
                            self.bounds.max.unwrap_or(MAX_TIME).saturating_add(1),
                        )
                    };
                    let window: Option<&dyn Fn(i64) -> (i64, i64)> = match &buckets {
                        Some(w) => Some(w),
                        None if self.integer_field => Some(&range_window),
                        None => None,
                    };
                    let rows = integral(&values, unit, ascending, window, self.integer_field);
                    // Without buckets, the reducer's last row waits for the stream's end.
                    if buckets.is_none() {
                        streamed = rows.len().saturating_sub(1);
                    }
                    rows.into_iter()
                        .map(|(time, v)| (time, Cell::Float(v)))
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
        let mut closed = self.series_shell(g, self.time_and_columns());
        // Rows that wait for the end are limited as the statement's series are written.
        let (offset, limit) = if streamed == usize::MAX {
            (self.offset, self.row_limit())
        } else {
            (0, usize::MAX)
        };
        for (i, (time, value)) in rows.into_iter().enumerate().skip(offset).take(limit) {
            let lookup = |e: &Expr| (*e == t.expr).then(|| value.clone());
            let mut row = Vec::with_capacity(self.columns.len() + 1);
            row.push(Cell::Time(time));
            for c in &self.columns {
                row.push(eval_calls(&c.expr, &lookup));
            }
            if i < streamed {
                &mut series
            } else {
                &mut closed
            }
            .values
            .push(row);
        }
        if !closed.values.is_empty() {
            closing.push(closed);
        }
        Ok(Ok((!series.values.is_empty()).then_some(series)))
    }
}

impl Plan {
    /// Places the rows InfluxDB's reducers emit when they close (`closing`, in group order)
    /// after the rows emitted while reading (`out`), as InfluxDB's emitter writes them: one
    /// group's rows next to each other are one series. Its closing order is its map's; this
    /// one is the groups'. Under DESC `out` is later answered in reverse, so the closing rows
    /// go first. OFFSET and LIMIT then count each such series apart, as InfluxDB's limit
    /// iterator counts the points of a series from where its tags change.
    pub(super) fn close_groups(&self, out: &mut Vec<Series>, closing: Vec<Series>) {
        if closing.is_empty() {
            return;
        }
        let same = |a: &Series, b: &Series| a.name == b.name && a.tags == b.tags;
        if self.desc {
            let mut all = closing;
            let mut rest = std::mem::take(out).into_iter();
            if let Some(first) = rest.next() {
                match all.last_mut() {
                    Some(last) if same(last, &first) => {
                        let closed = std::mem::replace(&mut last.values, first.values);
                        last.values.extend(closed);
                    }
                    _ => all.push(first),
                }
            }
            all.extend(rest);
            *out = all;
        } else {
            for s in closing {
                match out.last_mut() {
                    Some(last) if same(last, &s) => last.values.extend(s.values),
                    _ => out.push(s),
                }
            }
        }
        for s in out.iter_mut() {
            let kept: Vec<_> = std::mem::take(&mut s.values)
                .into_iter()
                .skip(self.offset)
                .take(self.row_limit())
                .collect();
            s.values = kept;
        }
        out.retain(|s| !s.values.is_empty());
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
