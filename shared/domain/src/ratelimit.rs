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
