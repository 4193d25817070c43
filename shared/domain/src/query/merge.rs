//! Merging a group's series into one stream in time order as InfluxDB 1.x's sorted merge
//! iterator does: a binary heap of the series' next points (Go's `container/heap`), so that
//! points of several series at one timestamp come out in the order InfluxDB's do. That order
//! decides which point of a timestamp `derivative` and `difference` keep (the first) and
//! `integral` keeps (the last).

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
    let mut inputs: Vec<(usize, std::collections::VecDeque<T>)> = series
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
        let mut lists: Vec<(usize, std::collections::VecDeque<T>)> = Vec::new();
        for (i, s) in &mut inputs {
            let k = s.iter().take_while(|p| shard(time(p)) == current).count();
            if k > 0 {
                lists.push((*i, s.drain(..k).collect()));
            }
        }
        heap_run(&mut lists, &time, &tie_less, desc, &mut out);
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

fn heap_run<T>(
    lists: &mut [(usize, std::collections::VecDeque<T>)],
    time: &impl Fn(&T) -> i64,
    tie_less: &impl Fn(&T, &T) -> bool,
    desc: bool,
    out: &mut Vec<(usize, T)>,
) {
    // Heap items: indices into `lists`, each standing for its list's front point.
    let mut items: Vec<usize> = (0..lists.len())
        .filter(|&i| !lists[i].1.is_empty())
        .collect();
    let less = |lists: &[(usize, std::collections::VecDeque<T>)], a: usize, b: usize| {
        let (x, y) = (&lists[a].1[0], &lists[b].1[0]);
        let (tx, ty) = (time(x), time(y));
        if tx != ty {
            return if desc { tx > ty } else { tx < ty };
        }
        tie_less(x, y)
    };
    let n = items.len();
    for i in (0..n / 2).rev() {
        go_heap_down(&mut items, i, n, |a, b| less(lists, *a, *b));
    }
    while !items.is_empty() {
        let last = items.len() - 1;
        items.swap(0, last);
        go_heap_down(&mut items, 0, last, |a, b| less(lists, *a, *b));
        let Some(l) = items.pop() else { break };
        let Some(p) = lists[l].1.pop_front() else {
            break;
        };
        out.push((lists[l].0, p));
        if !lists[l].1.is_empty() {
            items.push(l);
            let j = items.len() - 1;
            go_heap_up(&mut items, j, |a, b| less(lists, *a, *b));
        }
    }
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
}
