//! Go's `sort.Sort` as the Go 1.19 runtime InfluxDB 1.6 is built with (Debian's `influxd`:
//! go1.19.8) runs it: pattern-defeating quicksort (`pdqsort` in `sort/zsortinterface.go`),
//! insertion sort up to 12 items, heapsort after too many bad pivots. It is not stable, and
//! InfluxDB sorts a window's points by value alone before `mode()` and `percentile()` read them,
//! so which of several points of one value comes first (the time `mode()` breaks ties by, the
//! point `percentile()` selects) is whatever these steps leave. They are followed step for
//! step here: every comparison and swap in Go's order.

/// Sorts `items` by `less` exactly as Go's `sort.Sort` does.
pub(crate) fn sort<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let limit = usize::BITS - n.leading_zeros();
    let mut s = Sorter { items, less };
    s.pdqsort(0, n, limit);
}

struct Sorter<'a, T, L> {
    items: &'a mut [T],
    less: L,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

impl<T, L: Fn(&T, &T) -> bool> Sorter<'_, T, L> {
    fn less(&self, i: usize, j: usize) -> bool {
        (self.less)(&self.items[i], &self.items[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.items.swap(i, j);
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                break;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let (first, lo, hi) = (a, 0, b - a);
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(i, hi, first);
        }
        for i in (0..hi).rev() {
            self.swap(first, first + i);
            self.sift_down(lo, i, first);
        }
    }

    fn pdqsort(&mut self, mut a: usize, mut b: usize, mut limit: u32) {
        const MAX_INSERTION: usize = 12;
        let (mut was_balanced, mut was_partitioned) = (true, true);
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            if a > 0 && !self.less(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }
            let (mid, already) = self.partition(a, b, pivot);
            was_partitioned = already;
            let (left, right) = (mid - a, b - mid);
            let balance_threshold = length / 8;
            if left < right {
                was_balanced = left >= balance_threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= balance_threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition(&mut self, a: usize, b: usize, pivot: usize) -> (usize, bool) {
        self.swap(a, pivot);
        // i and j are inclusive; j may pass below a + 1 (Go's ints), so they are kept signed.
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        while i <= j && self.less(i as usize, a) {
            i += 1;
        }
        while i <= j && !self.less(j as usize, a) {
            j -= 1;
        }
        if i > j {
            self.swap(j as usize, a);
            return (j as usize, true);
        }
        self.swap(i as usize, j as usize);
        let below = |s: &Self, k: usize| s.less(k, a);
        let (_, j) = self.sweep(i + 1, j - 1, below, |s, k| !below(s, k));
        self.swap(j as usize, a);
        (j as usize, false)
    }

    fn partition_equal(&mut self, a: usize, b: usize, pivot: usize) -> usize {
        self.swap(a, pivot);
        let above = |s: &Self, k: usize| s.less(a, k);
        let (i, _) = self.sweep(a as isize + 1, b as isize - 1, |s, k| !above(s, k), above);
        i as usize
    }

    /// The loop of both partitions: `i` moves up past the items `left` keeps, `j` down past
    /// those `right` keeps, the two that stop them are swapped, until they cross.
    fn sweep(
        &mut self,
        mut i: isize,
        mut j: isize,
        left: impl Fn(&Self, usize) -> bool,
        right: impl Fn(&Self, usize) -> bool,
    ) -> (isize, isize) {
        loop {
            while i <= j && left(self, i as usize) {
                i += 1;
            }
            while i <= j && right(self, j as usize) {
                j -= 1;
            }
            if i > j {
                return (i, j);
            }
            self.swap(i as usize, j as usize);
            i += 1;
            j -= 1;
        }
    }

    fn partial_insertion_sort(&mut self, a: usize, b: usize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.less(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.swap(i, i - 1);
            // Shift the smaller one to the left (Go's loop runs down to index 1, not a + 1).
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j -= 1;
                }
            }
            // Shift the greater one to the right.
            if b - i >= 2 {
                for j in i + 1..b {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                }
            }
        }
        false
    }

    fn break_patterns(&mut self, a: usize, b: usize) {
        let length = b - a;
        if length >= 8 {
            let mut random = length as u64;
            let modulus = 1usize << (usize::BITS - length.leading_zeros());
            let mid = a + (length / 4) * 2;
            for idx in mid - 1..=mid + 1 {
                // Go's xorshift (13, 17, 5).
                random ^= random << 13;
                random ^= random >> 17;
                random ^= random << 5;
                let mut other = (random as usize) & (modulus - 1);
                if other >= length {
                    other -= length;
                }
                self.swap(idx, a + other);
            }
        }
    }

    fn choose_pivot(&mut self, a: usize, b: usize) -> (usize, Hint) {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median(i - 1, i, i + 1, &mut swaps);
                j = self.median(j - 1, j, j + 1, &mut swaps);
                k = self.median(k - 1, k, k + 1, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2(&self, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
        if self.less(b, a) {
            *swaps += 1;
            (b, a)
        } else {
            (a, b)
        }
    }

    fn median(&self, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, _) = self.order2(b, c, swaps);
        let (_, b) = self.order2(a, b, swaps);
        b
    }

    fn reverse_range(&mut self, a: usize, b: usize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test inputs.
    fn values(n: usize, distinct: u64, mut seed: u64) -> Vec<(u64, usize)> {
        (0..n)
            .map(|i| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 33) % distinct, i)
            })
            .collect()
    }

    #[test]
    fn sorts_every_shape_it_is_given() {
        for n in [0, 1, 2, 7, 12, 13, 49, 50, 51, 200, 1000, 5000] {
            for distinct in [1, 2, 3, 10, 1_000_000] {
                for seed in 0..4 {
                    let mut v = values(n, distinct, seed);
                    sort(&mut v, |a, b| a.0 < b.0);
                    assert!(v.windows(2).all(|w| w[0].0 <= w[1].0), "n {n}");
                    let mut idx: Vec<usize> = v.iter().map(|p| p.1).collect();
                    idx.sort_unstable();
                    assert_eq!(idx, (0..n).collect::<Vec<_>>(), "a permutation");
                }
            }
            // Already sorted, reversed, and organ-pipe inputs (the pivot hints' paths).
            let mut up: Vec<(u64, usize)> = (0..n).map(|i| (i as u64, i)).collect();
            sort(&mut up, |a, b| a.0 < b.0);
            assert!(up.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut down: Vec<(u64, usize)> = (0..n).map(|i| ((n - i) as u64, i)).collect();
            sort(&mut down, |a, b| a.0 < b.0);
            assert!(down.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut pipe: Vec<(u64, usize)> = (0..n).map(|i| (i.min(n - i) as u64, i)).collect();
            sort(&mut pipe, |a, b| a.0 < b.0);
            assert!(pipe.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    /// Up to 12 items Go sorts by insertion, which keeps equal items in their order; past
    /// that, pdqsort's partitions move equal items around.
    #[test]
    fn up_to_twelve_items_equal_ones_keep_their_order() {
        let mut v = values(12, 3, 7);
        let mut stable = v.clone();
        stable.sort_by_key(|p| p.0);
        sort(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, stable);
        let mut long: Vec<(u64, usize)> = (0..40).map(|i| ((i % 2) as u64, i)).collect();
        let mut stable = long.clone();
        stable.sort_by_key(|p| p.0);
        sort(&mut long, |a, b| a.0 < b.0);
        assert_ne!(long, stable, "40 items of two values are not kept in order");
    }
}
