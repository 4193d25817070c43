//! Which scheduled tick a cron event belongs to, so that of several replicas running the same
//! schedule exactly one does each tick's work (they claim it in the store; the first claim
//! wins).
//!
//! Spin's cron trigger passes the time it fired (`SystemTime::now()` in seconds), not the time
//! it was scheduled for, so replicas that fire for the same tick can pass times a second or two
//! apart. The scheduled jobs run every minute at second 0 (spin.toml), so a tick is the whole
//! minute nearest the time passed: replicas up to 29 s apart agree. A schedule more frequent
//! than once a minute runs at most once a minute across replicas, which loses nothing: each
//! run works through everything pending.

/// The time a run on demand passes (`fieldline trigger cron` without `--timestamp`): it is
/// never skipped.
pub const ON_DEMAND: u64 = 0;

/// The tick, in seconds since 1970 (a whole minute), that an event fired at `timestamp`
/// belongs to; `None` for a run on demand.
pub fn scheduled_tick(timestamp: u64) -> Option<u64> {
    (timestamp != ON_DEMAND).then(|| timestamp.saturating_add(30) / 60 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_firing_a_few_seconds_apart_agree_on_the_tick() {
        let minute = 1_796_428_800; // 2026-12-05T00:00:00Z
        for late in [0, 1, 2, 29] {
            assert_eq!(scheduled_tick(minute + late), Some(minute), "{late} s late");
        }
        // A second early (a clock slightly ahead) is still that minute's tick.
        assert_eq!(scheduled_tick(minute - 1), Some(minute));
        // The next minute's schedule is the next tick.
        assert_eq!(scheduled_tick(minute + 60), Some(minute + 60));
        assert_eq!(scheduled_tick(minute + 31), Some(minute + 60));
    }

    #[test]
    fn a_run_on_demand_has_no_tick() {
        assert_eq!(scheduled_tick(ON_DEMAND), None);
        assert_eq!(scheduled_tick(u64::MAX), Some(u64::MAX / 60 * 60));
    }
}
