//! Scheduled housekeeping, on Spin's cron trigger (`fermyon:spin-cron`, `[[trigger.cron]]` in
//! spin.toml, every minute): deletes the rate-limit and quota counters whose window has ended,
//! which nothing else removes (a one-second Conduit write window leaves a row per active token
//! per second). A failure is reported to the trigger, which logs it; the next tick tries again.

use fieldline_domain::Timestamp;

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
        let purged = fieldline_storage::spin::open_default()
            .and_then(|db| fieldline_storage::purge_expired_counters(&db, now))
            .map_err(|e| Error::Other(format!("purging expired counters: {e}")))?;
        println!("maintenance: purged {purged} expired counters");
        Ok(())
    }
}

export!(Maintenance);
