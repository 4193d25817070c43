//! Scheduled housekeeping, on Spin's cron trigger (`fermyon:spin-cron`, `[[trigger.cron]]` in
//! spin.toml, every minute):
//! - rolls up the hours written since the last tick (the `rollup_pending` marks every write
//!   leaves) into hourly rollups, which answer aggregate queries over whole hours;
//! - deletes the rate-limit and quota counters whose window has ended, which nothing else
//!   removes (a one-second Conduit write window leaves a row per active token per second).
//!
//! A failure is reported to the trigger, which logs it; the next tick tries again.

use std::time::{Duration, Instant};

use fieldline_domain::Timestamp;
use fieldline_service::prelude::*;

/// (channel, hour) pairs rolled up per transaction: at 1 Hz, 100 hours are 360,000 points, a
/// fraction of a second of the writer, which ingestion waits for meanwhile.
const ROLLUP_BATCH: usize = 100;
/// How long one tick may roll up; the rest waits for the next tick (a minute later).
const ROLLUP_BUDGET: Duration = Duration::from_secs(20);

wit_bindgen::generate!({
    world: "spin-cron",
    path: "../../wit/deps/spin-cron",
});

struct Maintenance;

impl Guest for Maintenance {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
        // The clock, not the tick's time: a late tick must not purge less, and a tick time from
        // elsewhere must not purge counters that are still counting.
        let now = Timestamp::now();
        let store = fieldline_component::open_store()
            .map_err(|e| Error::Other(format!("opening the database: {e}")))?;
        let started = Instant::now();
        let mut rolled = 0;
        loop {
            let n = store
                .roll_up_pending(ROLLUP_BATCH)
                .map_err(|e| Error::Other(format!("rolling up hours: {e}")))?;
            rolled += n;
            if n < ROLLUP_BATCH || started.elapsed() > ROLLUP_BUDGET {
                break;
            }
        }
        let purged = store
            .purge_expired_counters(now)
            .map_err(|e| Error::Other(format!("purging expired counters: {e}")))?;
        println!("maintenance: rolled up {rolled} channel-hours, purged {purged} expired counters");
        Ok(())
    }
}

export!(Maintenance);
