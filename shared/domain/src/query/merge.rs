//! Merging a group's series into one stream in time order as InfluxDB 1.x's sorted merge
//! iterator does: a binary heap of the series' next points (Go's `container/heap`), so that
//! points of several series at one timestamp come out in the order InfluxDB's do. That order
//! decides which point of a timestamp `derivative` and `difference` keep (the first) and
//! `integral` keeps (the last).

use std::collections::VecDeque;

use super::SeriesMeta;

/// InfluxDB's key of a series (`models.MakeKey`): the measurement, then its tags sorted by
/// key, with commas, spaces and (in tags) equals signs escaped. InfluxDB's index lists the
/// series of a tag set in the byte order of these keys (`query.TagSet`'s sort).
pub(crate) fn series_key(s: &SeriesMeta) -> String {
    fn escape(out: &mut String, text: &str, equals: bool) {
        for c in text.chars() {
            if c == ',' || c == ' ' || (equals && c == '=') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut key = String::new();
    escape(&mut key, &s.measurement, false);
    let mut tags: Vec<&(String, String)> = s.tags.iter().filter(|(_, v)| !v.is_empty()).collect();
    tags.sort();
    for (k, v) in tags {
        key.push(',');
        escape(&mut key, k, true);
        key.push('=');
        escape(&mut key, v, true);
    }
    key
}

/// The positions of `series` in the order InfluxDB's index lists them (by [`series_key`]).
pub(crate) fn key_order(series: &[&SeriesMeta]) -> Vec<usize> {
    let keys: Vec<String> = series.iter().map(|s| series_key(s)).collect();
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_by(|a, b| keys[*a].as_bytes().cmp(keys[*b].as_bytes()));
    order
}

/// InfluxDB 1.6's sorted merge of a group's series (`query.SortedMergeIterator` over the
/// series of each shard, then over the shards): `series` in the order InfluxDB's index lists
/// them, each in stream order (oldest first, newest first when `desc`), `tie_less` InfluxDB's
/// comparison of points of one time (their auxiliary strings). Under `desc` the series come in
/// reverse order (`TagSet.Reverse`). Each shard group (a week from Monday) is merged by a heap
/// of its own, so which point of a time comes first depends on the heap's history since the
/// shard's first point: Go's `container/heap`, step for step. Answers (series, item).
pub(crate) fn merge_series<T>(
    series: Vec<Vec<T>>,
    time: impl Fn(&T) -> i64,
    tie_less: impl Fn(&T, &T) -> bool,
    desc: bool,
) -> Vec<(usize, T)> {
    let n = series.len();
    // (index of the series, its items) in the order the heap receives them.
    let mut inputs: Vec<(usize, VecDeque<T>)> = series
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i, s.into()))
        .collect();
    if desc {
        inputs.reverse();
    }
    let total = inputs.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(total);
    let shard = |t: i64| super::cardinality::shard_group_start(t);
    loop {
        // The next shard: the earliest (latest under DESC) of the inputs' next points.
        let next = inputs
            .iter()
            .filter_map(|(_, s)| s.front().map(|p| shard(time(p))));
        let current = if desc { next.max() } else { next.min() };
        let Some(current) = current else { break };
        // This shard's points of each input, in input order.
        let (mut ids, mut lists) = (Vec::new(), Vec::new());
        for (i, s) in &mut inputs {
            let k = s.iter().take_while(|p| shard(time(p)) == current).count();
            if k > 0 {
                ids.push(*i);
                lists.push(s.drain(..k).collect());
            }
        }
        // Point by point, by time, then by `tie_less`.
        let less = |x: &T, y: &T| {
            let (tx, ty) = (time(x), time(y));
            if tx != ty {
                return if desc { tx > ty } else { tx < ty };
            }
            tie_less(x, y)
        };
        go_heap_drain(&mut lists, less, |_, _| false, |l, p| out.push((ids[l], p)));
    }
    debug_assert!(out.iter().all(|(i, _)| *i < n));
    out
}

/// Go's `container/heap` `down`: moves `items[i0]` down the heap of the first `n` items until
/// no child is `less`, the left child winning a tie between the children, step for step as Go
/// does it (which point of a time comes first depends on these steps).
pub(crate) fn go_heap_down<I>(items: &mut [I], i0: usize, n: usize, less: impl Fn(&I, &I) -> bool) {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(&items[j1 + 1], &items[j1]) {
            j = j1 + 1;
        }
        if !less(&items[j], &items[i]) {
            break;
        }
        items.swap(i, j);
        i = j;
    }
}

/// Go's `container/heap` `up`: moves `items[j]` up the heap while it is `less` than its
/// parent, step for step as Go does it.
pub(crate) fn go_heap_up<I>(items: &mut [I], mut j: usize, less: impl Fn(&I, &I) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&items[j], &items[i]) {
            break;
        }
        items.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` over queues, as InfluxDB 1.6's merge iterators use it: `Init` over
/// the queues with items, then `Pop` of the queue whose front is least (`less`), which gives
/// its front (to `emit`, with the queue's index) and the items after it while `same_run` holds
/// between one and the next, then `Push` of the queue back while it has items.
fn go_heap_drain<T>(
    queues: &mut [VecDeque<T>],
    less: impl Fn(&T, &T) -> bool,
    same_run: impl Fn(&T, &T) -> bool,
    mut emit: impl FnMut(usize, T),
) {
    let fronts_less =
        |queues: &[VecDeque<T>], a: usize, b: usize| less(&queues[a][0], &queues[b][0]);
    let mut heap: Vec<usize> = (0..queues.len())
        .filter(|&i| !queues[i].is_empty())
        .collect();
    let n = heap.len();
    for i in (0..n / 2).rev() {
        go_heap_down(&mut heap, i, n, |a, b| fronts_less(queues, *a, *b));
    }
    while !heap.is_empty() {
        let last = heap.len() - 1;
        heap.swap(0, last);
        go_heap_down(&mut heap, 0, last, |a, b| fronts_less(queues, *a, *b));
        let Some(top) = heap.pop() else { break };
        while let Some(item) = queues[top].pop_front() {
            let more = queues[top]
                .front()
                .is_some_and(|next| same_run(&item, next));
            emit(top, item);
            if !more {
                break;
            }
        }
        if !queues[top].is_empty() {
            heap.push(top);
            let j = heap.len() - 1;
            go_heap_up(&mut heap, j, |a, b| fronts_less(queues, *a, *b));
        }
    }
}

/// The goroutines InfluxDB 1.6's storage engine merges a tag set's series with
/// (`runtime.GOMAXPROCS`): the cores of the machine its answers were recorded on.
pub(crate) const PARALLELISM: usize = 2;

/// The order in which InfluxDB 1.6 merges the aggregates of a shard's series, window by window
/// (`query.NewParallelMergeIterator`): the series, in the order its index lists them
/// (reversed under DESC), are split into [`PARALLELISM`] runs, each merged by its own
/// `MergeIterator`, and those merged by another. `windows[i]`: the windows (their starts, in
/// the query's order) in which series `i` has an aggregate; an empty list is a series of the
/// shard without points, which counts in the split. Answers, window by window in the order
/// they are merged, each window's series in the order merged.
pub(crate) fn aggregate_order(windows: &[Vec<i64>], desc: bool) -> Vec<(i64, Vec<usize>)> {
    let mut inputs: Vec<usize> = (0..windows.len()).collect();
    if desc {
        inputs.reverse();
    }
    let streams: Vec<Vec<(i64, usize)>> = inputs
        .iter()
        .map(|&i| windows[i].iter().map(|&w| (w, i)).collect())
        .collect();
    let merged = if streams.len() <= 1 {
        streams.into_iter().next().unwrap_or_default()
    } else {
        let parallelism = PARALLELISM.min(streams.len());
        let n = streams.len() / parallelism;
        let mut runs = Vec::with_capacity(parallelism);
        let mut rest = streams;
        for _ in 0..parallelism - 1 {
            let tail = rest.split_off(n);
            runs.push(merge_iterator(rest, desc));
            rest = tail;
        }
        runs.push(merge_iterator(rest, desc));
        merge_iterator(runs, desc)
    };
    let mut out: Vec<(i64, Vec<usize>)> = Vec::new();
    for (w, i) in merged {
        match out.last_mut() {
            Some((last, series)) if *last == w => series.push(i),
            _ => out.push((w, vec![i])),
        }
    }
    out
}

/// InfluxDB 1.6's `MergeIterator` over streams of (window, item) of one name and tag set: a
/// Go heap of the streams by their next window (ties stay where the heap leaves them); it
/// reads the stream at the top until its window ends, then puts it back.
pub(crate) fn merge_iterator<T>(streams: Vec<Vec<(i64, T)>>, desc: bool) -> Vec<(i64, T)> {
    let mut streams: Vec<VecDeque<(i64, T)>> = streams.into_iter().map(Into::into).collect();
    let mut out = Vec::with_capacity(streams.iter().map(VecDeque::len).sum());
    let less = |x: &(i64, T), y: &(i64, T)| if desc { x.0 > y.0 } else { x.0 < y.0 };
    let same_window = |x: &(i64, T), y: &(i64, T)| x.0 == y.0;
    go_heap_drain(&mut streams, less, same_window, |_, p| out.push(p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merges `series` (each in time order: oldest first, newest first when `desc`) into one
    /// stream of (time, value, index of its series). `series` must be in the order InfluxDB's
    /// index lists them ([`key_order`]).
    fn go_heap_merge(series: &[Vec<(i64, f64)>], desc: bool) -> Vec<(i64, f64, usize)> {
        let lists: Vec<Vec<(i64, f64)>> = series.to_vec();
        merge_series(lists, |p| p.0, |_, _| false, desc)
            .into_iter()
            .map(|(s, (t, v))| (t, v, s))
            .collect()
    }

    #[test]
    fn merges_in_time_order_with_go_heap_ties() {
        let a = vec![(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0)];
        let b = vec![(0, -1.0), (10, -2.0), (25, -2.5), (30, -4.0)];
        let m = go_heap_merge(&[a.clone(), b.clone()], false);
        let times: Vec<i64> = m.iter().map(|p| p.0).collect();
        assert_eq!(times, vec![0, 0, 10, 10, 20, 25, 30, 30]);
        // The order of ties is the heap's (checked against InfluxDB 1.6's integral() of two
        // series in the golden corpus, `agg_integral`, which the series order alone misses).
        let series: Vec<usize> = m.iter().map(|p| p.2).collect();
        assert_eq!(series, vec![0, 1, 0, 1, 0, 1, 0, 1]);
        let d = go_heap_merge(
            &[a.into_iter().rev().collect(), b.into_iter().rev().collect()],
            true,
        );
        assert!(d.windows(2).all(|w| w[0].0 >= w[1].0));
        assert_eq!(d.len(), 8);
        // Newest first, the later series first at a tie.
        let series: Vec<usize> = d.iter().map(|p| p.2).collect();
        assert_eq!(series, vec![1, 0, 1, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn merges_aggregates_of_series_as_influxdb_does() {
        // Six series, one window: two runs of three, each taken from its heap as 0, 2, 1
        // (checked against InfluxDB 1.6's sum() and mean() of six cpu series, whose last
        // digits follow this order and not the series' order).
        let one = vec![vec![0]; 6];
        assert_eq!(
            aggregate_order(&one, false),
            vec![(0, vec![0, 2, 1, 3, 5, 4])]
        );
        assert_eq!(
            aggregate_order(&one, true),
            vec![(0, vec![5, 3, 4, 2, 0, 1])]
        );
        // A series without points counts in the split and is merged by no one.
        let mut gap = one.clone();
        gap[2] = Vec::new();
        assert_eq!(aggregate_order(&gap, false), vec![(0, vec![0, 1, 3, 5, 4])]);
        // Windows in time order, each window's series as the heaps leave them.
        let w = vec![vec![0, 10], vec![0, 10], vec![10]];
        let order = aggregate_order(&w, false);
        assert_eq!(order.iter().map(|o| o.0).collect::<Vec<_>>(), vec![0, 10]);
        assert_eq!(order[0].1, vec![0, 1]);
        let mut later = order[1].1.clone();
        later.sort_unstable();
        assert_eq!(later, vec![0, 1, 2]);
    }
}
