//! The edge-point cache: the first and last points of many series fetched in one request per
//! direction, so that `first()` and `last()` over many series do not pay a round trip each.

use std::collections::HashMap;

use super::check::Plan;
use super::functions::Func;
use super::{IntervalStats, SeriesMeta, Source, SourceError, TimeRange, Value};

/// A source that already holds the first and/or last point in one range of a set of series,
/// fetched together; everything else goes to the source behind it.
pub(super) struct EdgePoints<'s> {
    inner: &'s mut dyn Source,
    range: TimeRange,
    known: HashMap<(i64, bool), Option<(i64, f64)>>,
}

impl<'s> EdgePoints<'s> {
    pub(super) fn load(
        inner: &'s mut dyn Source,
        keys: &[i64],
        range: TimeRange,
        directions: &[bool],
    ) -> Result<Self, SourceError> {
        let mut known = HashMap::new();
        for &desc in directions {
            let points = inner.edge_points(keys, range, desc)?;
            known.extend(keys.iter().zip(points).map(|(&k, p)| ((k, desc), p)));
        }
        Ok(EdgePoints {
            inner,
            range,
            known,
        })
    }
}

impl Source for EdgePoints<'_> {
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
        tags: &[super::TagValues],
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
        match self.known.get(&(key, desc)) {
            Some(p) if range == self.range && limit == Some(1) => Ok(p.iter().copied().collect()),
            _ => self.inner.points(key, range, desc, limit),
        }
    }

    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        self.inner.values(key, range, desc, limit)
    }

    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        self.inner.edge_points(keys, range, desc)
    }

    fn interval_stats(
        &mut self,
        key: i64,
        range: TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<IntervalStats>>, SourceError> {
        self.inner.interval_stats(key, range, base, interval)
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        self.inner.range_stats(key, range)
    }

    fn extreme(
        &mut self,
        key: i64,
        range: TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, SourceError> {
        self.inner.extreme(key, range, largest)
    }
}

impl Plan {
    /// Which ends of each series [`Self::decisive_points`] will ask for (`true`: the last
    /// point), when it will be used and some of its calls are `first` or `last`.
    pub(super) fn edge_directions(&self) -> Option<Vec<bool>> {
        if !self.aggregate || self.interval.is_some() || self.filter_points || !self.reads_store {
            return None;
        }
        let on_field = || self.calls.iter().filter(|c| c.on_field);
        if !on_field().all(|c| matches!(c.func, Func::First | Func::Last | Func::Min | Func::Max)) {
            return None;
        }
        let mut directions: Vec<bool> = on_field()
            .filter_map(|c| match c.func {
                Func::First => Some(false),
                Func::Last => Some(true),
                _ => None,
            })
            .collect();
        directions.sort_unstable();
        directions.dedup();
        (!directions.is_empty()).then_some(directions)
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::tests::{run, Counting};

    #[test]
    fn first_and_last_of_many_series_are_one_request_per_direction() {
        let q = "SELECT first(value), last(value), max(value) FROM m \
                 WHERE time >= 2s AND time <= 4s GROUP BY device";
        let mut batched = Counting {
            batched: true,
            ..Counting::default()
        };
        let mut one_by_one = Counting::default();
        let answer = run(q, &mut batched);
        assert_eq!(
            answer,
            run(q, &mut one_by_one),
            "the same answer either way"
        );
        assert!(answer.contains("d9") && answer.contains("94.0"), "{answer}");
        assert_eq!(batched.edge_calls, 2, "one request for first, one for last");
        // max() still reads each series' range (the default `extreme` reads its points).
        assert_eq!(batched.points_calls, 10);
        assert_eq!(one_by_one.points_calls, 30);
    }
}
