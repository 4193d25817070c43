//! How InfluxDB 1.6's storage engine merges the aggregates of several series (`sum()`,
//! `mean()`): each series of each shard (a week) is reduced on its own; a shard merges its
//! series' sums, or their means weighted by their counts (`FloatMeanReducer`), in the order
//! its parallel merge of them gives ([`super::merge::aggregate_order`]); the shards are
//! merged the same way, and the query merges that once more. Floats added in another order
//! differ in their last bits (beyond 2^53, in their last digits).

use std::collections::BTreeMap;

use super::SeriesMeta;

/// Each series' sum (or mean) and count in a window, by shard (week) and series.
pub(super) type Parts = BTreeMap<(i64, usize), (f64, usize)>;

/// The order in which InfluxDB 1.6's engine merges the aggregates of a group's series: per
/// shard (week) and window, the series (their index in the group); per window, the shards, as
/// its merge of the shards' iterators takes them.
pub(super) struct EngineOrder {
    series: BTreeMap<(i64, i64), Vec<usize>>,
    shards: BTreeMap<i64, Vec<i64>>,
}

impl EngineOrder {
    /// Where the engine merged series `series`'s aggregate of `window` among the shard's
    /// (`week`'s); past all the others when it is not known.
    pub(super) fn rank(&self, week: i64, window: i64, series: usize) -> usize {
        (self.series.get(&(week, window)))
            .and_then(|order| order.iter().position(|&i| i == series))
            .unwrap_or(usize::MAX)
    }
}

/// [`EngineOrder`] of a group's series (`metas`) from the times of their points (with the
/// index of their series; each series' in time order) and the window of a time. A shard's
/// index is taken to hold the group's series with points of the field there, and every series
/// of the tag set without the field (`without`: InfluxDB shares those among its goroutines
/// too, although they have no points to merge).
pub(super) fn engine_order(
    metas: &[&SeriesMeta],
    without: &[&SeriesMeta],
    points: impl DoubleEndedIterator<Item = (i64, usize)>,
    desc: bool,
    window_of: impl Fn(i64) -> i64,
) -> EngineOrder {
    // Per week, per series of `metas`, its windows in the query's order.
    let mut weeks: BTreeMap<i64, Vec<Vec<i64>>> = BTreeMap::new();
    let mut add = |(t, i): (i64, usize)| {
        let week = super::cardinality::shard_group_start(t);
        let windows = &mut weeks
            .entry(week)
            .or_insert_with(|| vec![Vec::new(); metas.len()])[i];
        let w = window_of(t);
        if windows.last() != Some(&w) {
            windows.push(w);
        }
    };
    if desc {
        points.rev().for_each(&mut add);
    } else {
        points.for_each(&mut add);
    }
    let mut series = BTreeMap::new();
    let mut shard_streams = Vec::with_capacity(weeks.len());
    for (week, windows) in weeks {
        // The shard's series in key order: those with points, and those without the field.
        let mut index: Vec<(&SeriesMeta, Option<usize>, Vec<i64>)> = windows
            .into_iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, w)| (metas[i], Some(i), w))
            .chain(without.iter().map(|s| (*s, None, Vec::new())))
            .collect();
        let keys: Vec<&SeriesMeta> = index.iter().map(|e| e.0).collect();
        let order = super::merge::key_order(&keys);
        let mut slots: Vec<Option<(Option<usize>, Vec<i64>)>> =
            index.drain(..).map(|(_, i, w)| Some((i, w))).collect();
        let (of, windows): (Vec<Option<usize>>, Vec<Vec<i64>>) =
            order.iter().filter_map(|&k| slots[k].take()).unzip();
        let merged = super::merge::aggregate_order(&windows, desc);
        let mut stream = Vec::with_capacity(merged.len());
        for (window, order) in merged {
            let order = order.iter().filter_map(|&k| of[k]).collect();
            series.insert((week, window), order);
            stream.push((window, week));
        }
        shard_streams.push(stream);
    }
    let mut shards: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (window, week) in super::merge::merge_iterator(shard_streams, desc) {
        shards.entry(window).or_default().push(week);
    }
    EngineOrder { series, shards }
}

/// The sum (or mean) of one window from each series' sum (or mean) and count per shard
/// (`parts`, by week and series), merged level by level in the order of `engine` (in week
/// and series order without it); `None` without parts.
pub(super) fn merge_parts(
    mean: bool,
    parts: &Parts,
    window: i64,
    engine: Option<&EngineOrder>,
) -> Option<f64> {
    if parts.is_empty() {
        return None;
    }
    // One merge of partial results: (sum or mean, count) each.
    let merge = |parts: &mut dyn Iterator<Item = (f64, usize)>| {
        let (mut sum, mut count) = (0.0f64, 0usize);
        for (value, n) in parts {
            #[allow(clippy::cast_precision_loss)]
            let weighted = if mean && n >= 2 {
                value * n as f64
            } else {
                value
            };
            sum += weighted;
            count += n;
        }
        #[allow(clippy::cast_precision_loss)]
        let value = if mean { sum / count as f64 } else { sum };
        (value, count)
    };
    let weeks: Vec<i64> = {
        let mut w: Vec<i64> = parts.keys().map(|k| k.0).collect();
        w.dedup();
        match engine.and_then(|e| e.shards.get(&window)) {
            Some(order) if order.len() == w.len() => order.clone(),
            _ => w,
        }
    };
    let mut of_shards = weeks.iter().map(|&week| {
        let mut of_week: Vec<(usize, (f64, usize))> = parts
            .range((week, 0)..=(week, usize::MAX))
            .map(|(k, v)| (k.1, *v))
            .collect();
        if let Some(order) = engine.and_then(|e| e.series.get(&(week, window))) {
            if order.len() == of_week.len() {
                let rank: BTreeMap<usize, usize> =
                    order.iter().enumerate().map(|(r, &i)| (i, r)).collect();
                of_week.sort_by_key(|(i, _)| rank.get(i).copied());
            }
        }
        merge(&mut of_week.into_iter().map(|(_, v)| v))
    });
    let all = merge(&mut of_shards);
    Some(merge(&mut std::iter::once(all)).0)
}
