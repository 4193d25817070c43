//! The selectors that answer several points per bucket — `top`, `bottom` and `distinct` —
//! checked with InfluxDB 1.x's compiler's errors and chosen as its reducers choose them
//! (`query/functions.go`): the same ordering of equal values, the same order of the rows.

use crate::influxql::Expr;

/// A selector of several points and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Multi {
    /// `top(field, [tag, ...,] N)` (`largest`) or `bottom(...)`: the N largest (smallest)
    /// values; with tags, of the largest (smallest) value per combination of their values.
    TopBottom {
        largest: bool,
        n: usize,
        tags: Vec<String>,
    },
    /// `distinct(field)`: each value once.
    Distinct,
    /// `sample(field, N)`: N points chosen at random (all of them when there are no more).
    Sample(usize),
}

/// Whether `name` is a selector of several points this module runs.
pub(crate) fn is_multi(name: &str) -> bool {
    matches!(name, "top" | "bottom" | "distinct" | "sample")
}

/// Checks a `top`, `bottom` or `distinct` call as InfluxDB's compiler does; `limit` is the
/// statement's LIMIT (0: none). Returns the selector and the field expression it reads.
pub(crate) fn check(name: &str, args: &[Expr], limit: u64) -> Result<(Multi, Expr), String> {
    if name == "sample" {
        if args.len() != 2 {
            return Err(format!(
                "invalid number of arguments for sample, expected 2, got {}",
                args.len()
            ));
        }
        let n = match &args[1] {
            Expr::Integer(n) if *n > 0 => *n,
            Expr::Integer(n) => {
                return Err(format!("sample window must be greater than 1, got {n}"))
            }
            _ => return Err("expected integer argument in sample()".into()),
        };
        let n = usize::try_from(n).map_err(|_| format!("sample window {n} is too large"))?;
        return match &args[0] {
            f @ (Expr::VarRef(_) | Expr::Wildcard(_) | Expr::Regex(_)) => {
                Ok((Multi::Sample(n), f.clone()))
            }
            _ => Err("expected field argument in sample()".into()),
        };
    }
    if name == "distinct" {
        return match args {
            [] => Err("distinct function requires at least one argument".into()),
            [arg @ Expr::VarRef(_)] => Ok((Multi::Distinct, arg.clone())),
            [_] => Err("expected field argument in distinct()".into()),
            _ => Err("distinct function can only have one argument".into()),
        };
    }
    if args.len() < 2 {
        return Err(format!(
            "invalid number of arguments for {name}, expected at least 2, got {}",
            args.len()
        ));
    }
    let last = &args[args.len() - 1];
    let Expr::Integer(n) = last else {
        // InfluxDB writes a float literal with three decimals here.
        let found = match last {
            Expr::Number(f) => format!("{f:.3}"),
            other => other.to_string(),
        };
        return Err(format!(
            "expected integer as last argument in {name}(), found {found}"
        ));
    };
    if *n <= 0 {
        return Err(format!("limit ({n}) in {name} function must be at least 1"));
    }
    if limit > 0 && n.unsigned_abs() > limit {
        return Err(format!(
            "limit ({n}) in {name} function can not be larger than the LIMIT ({limit}) in the \
             select statement"
        ));
    }
    let field = match &args[0] {
        f @ Expr::VarRef(_) => f.clone(),
        other => {
            return Err(format!(
                "expected first argument to be a field in {name}(), found {other}"
            ))
        }
    };
    let mut tags = Vec::new();
    for a in &args[1..args.len() - 1] {
        match a {
            Expr::VarRef(v) => tags.push(v.name.clone()),
            other => {
                return Err(format!(
                    "only fields or tags are allowed in {name}(), found {other}"
                ))
            }
        }
    }
    let n = usize::try_from(*n).map_err(|_| format!("limit ({n}) in {name} is too large"))?;
    Ok((
        Multi::TopBottom {
            largest: name == "top",
            n,
            tags,
        },
        field,
    ))
}

/// A point a selector reads or chooses: time, value, and which series of the group it is of.
pub(crate) type Pick = (i64, f64, usize);

/// `top` (`largest`) or `bottom` of one bucket's candidates (in time order): the `n` best by
/// value, the earlier of equal values first, as InfluxDB's bounded heap keeps them; answered in
/// time order, equal times best first (InfluxDB's stable sort of its sorted heap).
pub(crate) fn top_bottom(candidates: &[Pick], n: usize, largest: bool) -> Vec<Pick> {
    // Better first: larger (smaller) value, then earlier time, then the one read first.
    let better = |a: &Pick, b: &Pick| -> std::cmp::Ordering {
        let by_value = if largest {
            b.1.total_cmp(&a.1)
        } else {
            a.1.total_cmp(&b.1)
        };
        by_value.then(a.0.cmp(&b.0))
    };
    let mut chosen: Vec<Pick> = candidates.to_vec();
    chosen.sort_by(better);
    chosen.truncate(n);
    chosen.sort_by_key(|p| p.0);
    chosen
}

/// `top` (`largest`) or `bottom` of candidates in the order InfluxDB 1.6 hands them to its
/// reducer, step for step: a Go heap of capacity `n` whose root is the worst point kept (the
/// smaller value, of equal values the later time), which a candidate replaces only when it is
/// strictly better; then emitted best first by an insertion sort of the heap's array (Go's
/// `sort.Sort` below 13 elements; this sorts more the same way), and in time order (a stable
/// sort). So which of equal candidates are kept, and their order, follow the heap's history.
pub(crate) fn top_bottom_heap(candidates: &[Pick], n: usize, largest: bool) -> Vec<Pick> {
    let worse = |a: &Pick, b: &Pick| {
        if a.1 != b.1 {
            if largest {
                a.1 < b.1
            } else {
                a.1 > b.1
            }
        } else {
            a.0 > b.0
        }
    };
    let mut heap: Vec<Pick> = Vec::with_capacity(n);
    for p in candidates {
        if heap.len() == n {
            if n == 0 || !worse(&heap[0], p) {
                continue;
            }
            heap[0] = *p;
            // heap.Fix(h, 0): down, and up when it did not move (it cannot, at the root).
            super::merge::go_heap_down(&mut heap, 0, n, worse);
            continue;
        }
        heap.push(*p);
        let last = heap.len() - 1;
        super::merge::go_heap_up(&mut heap, last, worse);
    }
    // sort.Sort(sort.Reverse(h)): best first.
    for i in 1..heap.len() {
        let mut j = i;
        while j > 0 && worse(&heap[j - 1], &heap[j]) {
            heap.swap(j, j - 1);
            j -= 1;
        }
    }
    heap.sort_by_key(|p| p.0);
    heap
}

/// `distinct` of one bucket's points (in time order): each value at its first point, in time
/// order (equal times by value), as InfluxDB's distinct reducer sorts them. `-0` and `0` are
/// one value, as in InfluxDB's map of floats.
pub(crate) fn distinct(points: &[Pick]) -> Vec<Pick> {
    let mut seen: Vec<f64> = Vec::new();
    let mut out: Vec<Pick> = Vec::new();
    for p in points {
        if !seen.contains(&p.1) {
            seen.push(p.1);
            out.push(*p);
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    out
}

/// `sample` of one bucket's points: `n` of them chosen at random with equal chances
/// (reservoir sampling, as InfluxDB does), answered in time order (equal times by value). All
/// of them when there are no more than `n`.
pub(crate) fn sample(points: &[Pick], n: usize) -> Vec<Pick> {
    let mut chosen: Vec<Pick> = Vec::with_capacity(n.min(points.len()));
    if points.len() <= n {
        chosen.extend_from_slice(points);
    } else {
        // xorshift64* seeded by the system's random source: the choice need not be secret.
        let mut state = u64::from_le_bytes(crate::random::bytes::<8>().unwrap_or([7; 8])) | 1;
        let mut next = move |bound: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            // `bound` is at most the number of points: the modulo's bias is negligible.
            usize::try_from(r % u64::try_from(bound).unwrap_or(u64::MAX)).unwrap_or(0)
        };
        for (i, p) in points.iter().enumerate() {
            if i < n {
                chosen.push(*p);
            } else {
                let j = next(i + 1);
                if j < n {
                    chosen[j] = *p;
                }
            }
        }
    }
    chosen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    chosen
}

/// How many distinct values a bucket holds (`count(distinct(field))`).
pub(crate) fn count_distinct(values: &[f64]) -> usize {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    // `==`, not the bits: -0 and 0 are one value.
    v.dedup_by(|a, b| a == b);
    v.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_keeps_the_first_of_equal_candidates_and_answers_in_its_order() {
        // Four hosts' last points at one time, fed in tag order (InfluxDB's `top("v", "host",
        // 3)` over a subquery answers server04, server03, server01).
        let t = 1_000;
        let fed = [(t, 117.0, 1), (t, 110.0, 2), (t, 119.0, 3), (t, 119.0, 4)];
        let top = top_bottom_heap(&fed, 3, true);
        let hosts: Vec<usize> = top.iter().map(|p| p.2).collect();
        assert_eq!(hosts, vec![4, 3, 1]);
        // Of equal values, the first fed is kept.
        let bottom = top_bottom_heap(&[(t, 5.0, 7), (t, 5.0, 8), (t, 6.0, 9)], 1, false);
        assert_eq!(bottom, vec![(t, 5.0, 7)]);
        // Answered in time order.
        let spread = top_bottom_heap(&[(30, 1.0, 0), (10, 3.0, 1), (20, 2.0, 2)], 2, true);
        assert_eq!(spread, vec![(10, 3.0, 1), (20, 2.0, 2)]);
    }

    #[test]
    fn top_prefers_the_earlier_of_equal_values_and_answers_in_time_order() {
        let p = [
            (1, 5.0, 0),
            (2, 7.0, 0),
            (3, 7.0, 0),
            (4, 1.0, 0),
            (5, 6.0, 0),
        ];
        assert_eq!(top_bottom(&p, 2, true), vec![(2, 7.0, 0), (3, 7.0, 0)]);
        assert_eq!(
            top_bottom(&p, 3, true),
            vec![(2, 7.0, 0), (3, 7.0, 0), (5, 6.0, 0)]
        );
        assert_eq!(top_bottom(&p, 2, false), vec![(1, 5.0, 0), (4, 1.0, 0)]);
        // More asked for than there are points: all of them.
        assert_eq!(top_bottom(&p[..1], 3, true), vec![(1, 5.0, 0)]);
    }

    #[test]
    fn distinct_keeps_first_occurrences() {
        let p = [
            (1, 2.0, 0),
            (2, 1.0, 0),
            (3, 2.0, 0),
            (4, -0.0, 0),
            (5, 0.0, 0),
        ];
        assert_eq!(distinct(&p), vec![(1, 2.0, 0), (2, 1.0, 0), (4, -0.0, 0)]);
        assert_eq!(count_distinct(&[2.0, 1.0, 2.0, -0.0, 0.0]), 3);
        assert_eq!(count_distinct(&[]), 0);
    }

    /// InfluxDB 1.6, `d,s=a v=1 1s`, `d,s=b v=2 1s`, `d,s=a v=3 2s`, `d,s=a v=1 3s`,
    /// `d,s=b v=4 3s`: `SELECT distinct(v) FROM d ORDER BY time DESC` answers 2, 3, 1, 4 (each
    /// value at its latest time, met first newest first), without DESC 1, 2, 3, 4.
    #[test]
    fn distinct_of_points_newest_first_answers_as_influxdb_under_desc() {
        let oldest_first = [
            (1, 1.0, 0),
            (1, 2.0, 1),
            (2, 3.0, 0),
            (3, 1.0, 0),
            (3, 4.0, 1),
        ];
        let values = |picks: Vec<Pick>| picks.iter().map(|p| p.1).collect::<Vec<f64>>();
        assert_eq!(values(distinct(&oldest_first)), vec![1.0, 2.0, 3.0, 4.0]);
        let newest_first: Vec<Pick> = oldest_first.iter().rev().copied().collect();
        assert_eq!(values(distinct(&newest_first)), vec![2.0, 3.0, 1.0, 4.0]);
    }

    #[test]
    fn sample_answers_n_distinct_members_in_time_order() {
        let p: Vec<Pick> = (0..100).map(|i| (i, f64::from(i as i32), 0)).collect();
        for _ in 0..20 {
            let s = sample(&p, 7);
            assert_eq!(s.len(), 7);
            assert!(
                s.windows(2).all(|w| w[0].0 < w[1].0),
                "distinct, in time order"
            );
            assert!(s.iter().all(|x| p.contains(x)), "members");
        }
        // No more points than asked for: all of them.
        assert_eq!(sample(&p[..5], 5), p[..5].to_vec());
        assert_eq!(sample(&p[..3], 9), p[..3].to_vec());
        // Every point can be chosen.
        let mut seen = [false; 100];
        for _ in 0..400 {
            for x in sample(&p, 10) {
                seen[usize::try_from(x.0).unwrap()] = true;
            }
        }
        assert!(seen.iter().filter(|s| **s).count() > 90);
    }

    #[test]
    fn errors_are_influxdbs() {
        let v = || {
            Expr::VarRef(crate::influxql::VarRef {
                name: "value".into(),
                data_type: None,
            })
        };
        assert_eq!(
            check("top", &[v()], 0).unwrap_err(),
            "invalid number of arguments for top, expected at least 2, got 1"
        );
        assert_eq!(
            check("bottom", &[v(), Expr::Integer(0)], 0).unwrap_err(),
            "limit (0) in bottom function must be at least 1"
        );
        assert_eq!(
            check("top", &[v(), Expr::Integer(5)], 3).unwrap_err(),
            "limit (5) in top function can not be larger than the LIMIT (3) in the select \
             statement"
        );
        assert_eq!(
            check("distinct", &[], 0).unwrap_err(),
            "distinct function requires at least one argument"
        );
    }
}
