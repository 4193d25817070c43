//! Merging a group's series into one stream in time order as InfluxDB 1.x's sorted merge
//! iterator does: a binary heap of the series' next points (Go's `container/heap`), so that
//! points of several series at one timestamp come out in the order InfluxDB's do. That order
//! decides which point of a timestamp `derivative` and `difference` keep (the first) and
//! `integral` keeps (the last).

/// Merges `series` (each in time order: oldest first, newest first when `desc`) into one
/// stream of (time, value, index of its series).
pub(crate) fn go_heap_merge(series: &[Vec<(i64, f64)>], desc: bool) -> Vec<(i64, f64, usize)> {
    let slices: Vec<&[(i64, f64)]> = series.iter().map(Vec::as_slice).collect();
    if !desc {
        return heap_merge(&slices, desc);
    }
    // Under DESC InfluxDB's iterators come in reverse series order (checked against the
    // golden corpus: `tf_desc_difference_two_series` keeps Press 2's point of each time).
    let reversed: Vec<&[(i64, f64)]> = slices.into_iter().rev().collect();
    let last = series.len().saturating_sub(1);
    let mut merged = heap_merge(&reversed, desc);
    for p in &mut merged {
        p.2 = last - p.2;
    }
    merged
}

fn heap_merge(series: &[&[(i64, f64)]], desc: bool) -> Vec<(i64, f64, usize)> {
    let total = series.iter().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(total);
    // Heap items: (series index, position of its next point).
    let mut items: Vec<(usize, usize)> = (0..series.len())
        .filter(|&i| !series[i].is_empty())
        .map(|i| (i, 0))
        .collect();
    let time = |item: (usize, usize)| series[item.0][item.1].0;
    let less = |items: &[(usize, usize)], a: usize, b: usize| {
        if desc {
            time(items[a]) > time(items[b])
        } else {
            time(items[a]) < time(items[b])
        }
    };
    // Go's container/heap, step for step.
    let up = |items: &mut Vec<(usize, usize)>, mut j: usize| {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(items, j, i) {
                break;
            }
            items.swap(i, j);
            j = i;
        }
    };
    let down = |items: &mut Vec<(usize, usize)>, i0: usize, n: usize| {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && less(items, j2, j1) {
                j = j2;
            }
            if !less(items, j, i) {
                break;
            }
            items.swap(i, j);
            i = j;
        }
    };
    let n = items.len();
    for i in (0..n / 2).rev() {
        down(&mut items, i, n);
    }
    while !items.is_empty() {
        let last = items.len() - 1;
        items.swap(0, last);
        down(&mut items, 0, last);
        let Some((s, pos)) = items.pop() else { break };
        let (t, v) = series[s][pos];
        out.push((t, v, s));
        if pos + 1 < series[s].len() {
            items.push((s, pos + 1));
            let j = items.len() - 1;
            up(&mut items, j);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
