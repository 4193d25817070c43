//! `GROUP BY time(…)` in a rewritten `SHOW … CARDINALITY`, as InfluxDB 1.6 answers it: the
//! counted values stand at time 0, and its fill iterator walks the windows of the statement's
//! range (from time 0 without a lower bound, to `now()` without an upper one). The window at
//! time 0 holds the count and every other window answers 0; when the range starts after time
//! 0, the count takes the range's first window. `GROUP BY time(0s)` groups by nothing.

use super::super::cond::Bounds;

/// The statement's `GROUP BY time(interval, offset)`, nanoseconds, the interval positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Windows {
    pub(super) interval: i64,
    pub(super) offset: i64,
}

/// The rows of a group's answer: how many, and which one holds the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rows {
    pub(super) len: i64,
    pub(super) count_at: i64,
}

impl Windows {
    fn start(self, t: i64) -> i64 {
        let t = t.saturating_sub(self.offset);
        t.saturating_sub(t.rem_euclid(self.interval))
            .saturating_add(self.offset)
    }

    pub(super) fn rows(self, bounds: &Bounds, now: i64) -> Rows {
        let first = self.start(bounds.min.unwrap_or(0));
        let last = self.start(bounds.max.unwrap_or(now)).max(first);
        let len = (last - first) / self.interval + 1;
        let zero = self.start(0);
        let count_at = if zero > first {
            ((zero - first) / self.interval).min(len - 1)
        } else {
            0
        };
        Rows { len, count_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;
    const JULY: i64 = 1_595_325_600_000_000_000; // 2020-07-21T10:00:00Z

    #[test]
    fn the_count_stands_in_the_window_of_time_zero_or_the_first() {
        let hourly = Windows {
            interval: HOUR,
            offset: 0,
        };
        // 10:00 to 12:59:59.999999999: three windows, the count in the first.
        let range = Bounds {
            min: Some(JULY),
            max: Some(JULY + 3 * HOUR - 1),
        };
        assert_eq!(
            hourly.rows(&range, 0),
            Rows {
                len: 3,
                count_at: 0
            }
        );
        // Without bounds: from time 0 to now.
        let open = Bounds::default();
        assert_eq!(
            hourly.rows(&open, 5 * HOUR + 1),
            Rows {
                len: 6,
                count_at: 0
            }
        );
        // A range from before time 0: the windows before it answer 0.
        let before = Bounds {
            min: Some(-2 * HOUR),
            max: Some(HOUR),
        };
        assert_eq!(
            hourly.rows(&before, 0),
            Rows {
                len: 4,
                count_at: 2
            }
        );
        // An offset moves the windows.
        let shifted = Windows {
            interval: HOUR,
            offset: HOUR / 2,
        };
        assert_eq!(
            shifted.rows(&range, 0),
            Rows {
                len: 4,
                count_at: 0
            }
        );
    }
}
