//! Rate limits and quotas, decided in one place: fixed windows aligned to the epoch (so a
//! 1-day window is a UTC day), a counter per (policy, principal, window) that storage increments
//! atomically, and this module's verdict on the count it returns. The policies themselves, and
//! whom each counts for, are `fieldline_service::limits`.

use crate::time::Timestamp;

/// A limit of `limit` units (requests, points, e-mails) per `window_secs` for one principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// Names the limit in the counter key and in the 429 body (`"admin-api"`).
    pub name: &'static str,
    pub limit: u64,
    pub window_secs: u32,
}

/// The counter a request increments: its key and the window it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub key: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A limit was hit: which, and when to come back (HTTP `Retry-After`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "rate limit \"{policy}\" exceeded: at most {limit} per {window_secs} s; retry after {retry_after_secs} s"
)]
pub struct RateLimited {
    pub policy: &'static str,
    pub limit: u64,
    pub window_secs: u32,
    pub retry_after_secs: u32,
}

impl RateLimitPolicy {
    fn window_ms(&self) -> i64 {
        i64::from(self.window_secs.max(1)) * 1000
    }

    /// The window holding `now` for `principal` (a user or token id, an e-mail address, an org).
    pub fn window(&self, principal: &str, now: Timestamp) -> Window {
        let len = self.window_ms();
        let start = now.as_millis() - now.as_millis().rem_euclid(len);
        Window {
            key: format!("{}|{}|{}", self.name, principal, start / 1000),
            start: Timestamp::MIN.add_millis(start),
            end: Timestamp::MIN.add_millis(start + len),
        }
    }

    /// The two windows holding `now` for `principal`: the aligned one of [`Self::window`], and
    /// one shifted by half a window (its key names the policy with `/half`). A limit counted in
    /// both and refused when either is full stops any `limit + 1` units that come within half a
    /// window of each other, wherever a window boundary falls between them; the aligned window
    /// alone lets `2 × limit` through in a moment around each boundary. For limits on failures
    /// (password guesses), where that burst is the attack.
    pub fn staggered_windows(&self, principal: &str, now: Timestamp) -> [Window; 2] {
        let len = self.window_ms();
        let half = len / 2;
        let shifted = now.as_millis() - half;
        let start = shifted - shifted.rem_euclid(len) + half;
        [
            self.window(principal, now),
            Window {
                key: format!(
                    "{}/half|{}|{}",
                    self.name,
                    principal,
                    start.div_euclid(1000)
                ),
                start: Timestamp::MIN.add_millis(start),
                end: Timestamp::MIN.add_millis(start + len),
            },
        ]
    }

    /// Whether `count`, the counter's value after this request added its units, is within the
    /// limit.
    pub fn check(&self, window: &Window, count: u64, now: Timestamp) -> Result<(), RateLimited> {
        if count <= self.limit {
            return Ok(());
        }
        let ms_left = (window.end.as_millis() - now.as_millis()).max(0);
        // Rounded up and at least 1: a client that waits this long lands in the next window.
        let secs = (ms_left + 999) / 1000;
        Err(RateLimited {
            policy: self.name,
            limit: self.limit,
            window_secs: self.window_secs,
            retry_after_secs: u32::try_from(secs.max(1)).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN_API: RateLimitPolicy = RateLimitPolicy {
        name: "admin-api",
        limit: 100,
        window_secs: 60,
    };

    #[test]
    fn windows_are_fixed_and_aligned() {
        let p = ADMIN_API;
        let now = Timestamp::from_millis(120_000 + 59_500).unwrap();
        let w = p.window("user:abc", now);
        assert_eq!(w.start.as_millis(), 120_000);
        assert_eq!(w.end.as_millis(), 180_000);
        assert_eq!(w.key, "admin-api|user:abc|120");
        // the same window for the whole minute, the next one after
        assert_eq!(p.window("user:abc", w.start).key, w.key);
        assert_ne!(p.window("user:abc", w.end).key, w.key);
        assert_ne!(p.window("user:xyz", now).key, w.key);
    }

    #[test]
    fn staggered_windows_overlap_by_half() {
        let p = ADMIN_API;
        let at = |ms| Timestamp::from_millis(ms).unwrap();
        let [aligned, shifted] = p.staggered_windows("u", at(120_000 + 59_500));
        assert_eq!(aligned, p.window("u", at(179_500)));
        assert_eq!(
            (shifted.start.as_millis(), shifted.end.as_millis()),
            (150_000, 210_000)
        );
        assert_eq!(shifted.key, "admin-api/half|u|150");
        // Just past the aligned boundary the shifted window is the same one: a burst either
        // side of the boundary is counted together there.
        let [next, same] = p.staggered_windows("u", at(180_100));
        assert_ne!(next.key, aligned.key);
        assert_eq!(same, shifted);
        // and just past the shifted boundary, the aligned window holds the burst
        let [a, s] = p.staggered_windows("u", at(209_900));
        let [b, t] = p.staggered_windows("u", at(210_100));
        assert_eq!(a, b);
        assert_ne!(s.key, t.key);
        // one-second windows keep distinct keys
        let q = RateLimitPolicy {
            window_secs: 1,
            ..p
        };
        let keys: std::collections::HashSet<_> = (0..8)
            .flat_map(|i| q.staggered_windows("u", at(i * 250)).map(|w| w.key))
            .collect();
        assert_eq!(keys.len(), 2 + 3);
    }

    #[test]
    fn limit_and_retry_after() {
        let p = ADMIN_API;
        let now = Timestamp::from_millis(120_000 + 59_500).unwrap();
        let w = p.window("u", now);
        assert!(p.check(&w, 100, now).is_ok());
        let e = p.check(&w, 101, now).unwrap_err();
        assert_eq!(e.retry_after_secs, 1);
        assert_eq!(e.policy, "admin-api");
        assert_eq!(
            e.to_string(),
            "rate limit \"admin-api\" exceeded: at most 100 per 60 s; retry after 1 s"
        );
        let early = Timestamp::from_millis(120_001).unwrap();
        assert_eq!(p.check(&w, 101, early).unwrap_err().retry_after_secs, 60);
    }

    #[test]
    fn day_windows_are_utc_days() {
        let p = RateLimitPolicy {
            name: "emails",
            limit: 1,
            window_secs: 86_400,
        };
        let t = Timestamp::parse_rfc3339("2024-03-05T23:59:59Z").unwrap();
        assert_eq!(p.window("o", t).start.to_string(), "2024-03-05T00:00:00Z");
    }
}
