//! The store as InfluxDB 1.6 maps it for a statement that reads a subquery. InfluxDB maps the
//! shards of the outermost statement's own time range, widened by that statement's extra
//! intervals (one `GROUP BY time` interval for `derivative()` and its kin, N for
//! `moving_average(…, N)` and the other smoothers; earlier, or later under `ORDER BY time
//! DESC`), and every read of every statement inside it is cut to that range
//! (`LocalShardMapping.CreateIterator`). A subquery's own transformation widens only its own
//! read: so `sum(r) FROM (SELECT derivative(min(v)) AS r … GROUP BY time(1m)) WHERE time >
//! '01:53'` has no 01:54 row, where the subquery alone has one (its 01:53 bucket would need the
//! point at 01:53:00, which the outer statement's range leaves out).

use crate::influxql::{Dimension, Expr, SelectStatement};

use super::cond;
use super::ddl;
use super::transform::{reads_an_interval_more, smooths_over_a_period};
use super::{IntervalStats, SeriesMeta, Source, SourceError, TagValues, TimeRange, Value};

/// The range InfluxDB maps for `s`, the outermost statement (of a query reading a subquery).
pub(super) fn range(s: &SelectStatement, now: i64) -> Result<TimeRange, String> {
    let (_, own) = cond::split(s.condition.as_ref(), now)?;
    let interval = s.group_by.iter().find_map(|d| match d {
        Dimension::Time { interval, .. } if *interval > 0 => Some(*interval),
        _ => None,
    });
    let mut bounds = own;
    if interval.is_some() && bounds.max.is_none() {
        bounds.max = Some(now);
    }
    let mut range = bounds.range();
    let extra = extra_intervals(s);
    if let (Some(interval), true) = (interval, extra > 0) {
        let widen = interval.saturating_mul(extra);
        if s.is_descending() {
            range.max = range.max.saturating_add(widen);
        } else if own.min.is_some() {
            range.min = range.min.saturating_sub(widen);
        }
    }
    Ok(range)
}

/// How many intervals before the range (after it, descending) the statement's own calls read,
/// as InfluxDB's compiler counts them (`ExtraIntervals`): the most any call needs.
fn extra_intervals(s: &SelectStatement) -> i64 {
    let mut extra = 0i64;
    for f in &s.fields {
        f.expr.walk(&mut |e| {
            let Expr::Call { name, args } = e else {
                return;
            };
            let needs = if smooths_over_a_period(name) {
                match args.get(1) {
                    Some(Expr::Integer(n)) => *n,
                    _ => 0,
                }
            } else if reads_an_interval_more(name) || name == "cumulative_sum" {
                1
            } else {
                0
            };
            extra = extra.max(needs);
        });
    }
    extra
}

/// A source whose points are read only within `range`; everything else passes through.
pub(super) struct Mapped<'a> {
    pub inner: &'a mut dyn Source,
    pub range: TimeRange,
}

impl Mapped<'_> {
    /// Reads `range` cut to the mapped one, or answers `none` when nothing of it is mapped.
    fn read<T>(
        &mut self,
        range: TimeRange,
        none: T,
        f: impl FnOnce(&mut dyn Source, TimeRange) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let cut = TimeRange {
            min: range.min.max(self.range.min),
            max: range.max.min(self.range.max),
        };
        if cut.min > cut.max {
            return Ok(none);
        }
        f(&mut *self.inner, cut)
    }
}

impl Source for Mapped<'_> {
    fn series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        self.inner.series(database, measurements)
    }

    fn series_in(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        self.inner.series_in(database, rp, measurements)
    }

    fn series_matching(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
        tags: &[TagValues],
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        self.inner.series_matching(database, rp, measurements, tags)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        self.read(range, Vec::new(), |s, r| s.points(key, r, desc, limit))
    }

    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        self.read(range, Vec::new(), |s, r| s.values(key, r, desc, limit))
    }

    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        self.read(range, vec![None; keys.len()], |s, r| {
            s.edge_points(keys, r, desc)
        })
    }

    fn interval_stats(
        &mut self,
        key: i64,
        range: TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<IntervalStats>>, SourceError> {
        self.read(range, Some(Vec::new()), |s, r| {
            s.interval_stats(key, r, base, interval)
        })
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        // Nothing mapped: the engine reads the (no) points instead.
        self.read(range, None, |s, r| s.range_stats(key, r))
    }

    fn extreme(
        &mut self,
        key: i64,
        range: TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, SourceError> {
        self.read(range, None, |s, r| s.extreme(key, r, largest))
    }

    fn store_database(
        &mut self,
        database: &ddl::Database,
    ) -> Result<Result<(), String>, SourceError> {
        self.inner.store_database(database)
    }

    fn drop_database(&mut self, name: &str) -> Result<Result<(), String>, SourceError> {
        self.inner.drop_database(name)
    }

    fn drop_measurement(
        &mut self,
        database: &str,
        name: &str,
    ) -> Result<Result<(), String>, SourceError> {
        self.inner.drop_measurement(database, name)
    }

    fn delete_series(
        &mut self,
        database: &str,
        series: &[SeriesMeta],
        range: TimeRange,
    ) -> Result<Result<(), String>, SourceError> {
        self.inner.delete_series(database, series, range)
    }

    fn write_points(
        &mut self,
        database: &str,
        rp: &str,
        points: &[crate::line_protocol::Line],
    ) -> Result<Result<usize, String>, SourceError> {
        self.inner.write_points(database, rp, points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influxql::{parse_query, Statement};

    fn select(q: &str) -> SelectStatement {
        match parse_query(q).unwrap().remove(0) {
            Statement::Select(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    const MIN: i64 = 1_000_000_000_000;
    const NOW: i64 = 5_000_000_000_000;

    #[test]
    fn the_outer_statement_maps_its_own_range_widened_by_its_own_extra_intervals() {
        let r = |q: &str| range(&select(q), NOW).unwrap();
        let sub = "(SELECT derivative(min(v)) AS r FROM m GROUP BY time(1m))";
        // Its own range, whatever the subquery's transformation needs.
        let plain = r(&format!(
            "SELECT sum(r) FROM {sub} WHERE time > 1000s GROUP BY time(1m)"
        ));
        assert_eq!((plain.min, plain.max), (MIN + 1, NOW));
        // Widened by its own derivative's one interval, and by moving_average's N.
        let own = r(&format!(
            "SELECT derivative(sum(r)) FROM {sub} WHERE time > 1000s GROUP BY time(1m)"
        ));
        assert_eq!(own.min, MIN + 1 - 60_000_000_000);
        let ma = r(&format!(
            "SELECT moving_average(sum(r), 3) FROM {sub} WHERE time > 1000s GROUP BY time(1m)"
        ));
        assert_eq!(ma.min, MIN + 1 - 180_000_000_000);
        // Under ORDER BY time DESC the end is widened instead.
        let desc = r(&format!(
            "SELECT derivative(sum(r)) FROM {sub} WHERE time > 1000s GROUP BY time(1m) \
             ORDER BY time DESC"
        ));
        assert_eq!((desc.min, desc.max), (MIN + 1, NOW + 60_000_000_000));
        // Without GROUP BY time nothing is widened, and the end is not now().
        let raw = r(&format!(
            "SELECT derivative(r) FROM {sub} WHERE time > 1000s"
        ));
        assert_eq!(raw.min, MIN + 1);
        assert!(raw.max > NOW);
    }
}
