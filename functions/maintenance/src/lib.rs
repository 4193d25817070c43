//! Scheduled housekeeping, on Spin's cron trigger (`fermyon:spin-cron`, `[[trigger.cron]]` in
//! spin.toml, every minute):
//! - rolls up the hours written since the last tick (the `rollup_pending` marks every write
//!   leaves) into hourly rollups, which answer aggregate queries over whole hours;
//! - deletes the rate-limit and quota counters whose window has ended, which nothing else
//!   removes (a one-second Conduit write window leaves a row per active token per second);
//! - retention: deletes each organization's raw points older than its subscription's detailed
//!   retention (whole hours whose rollup is current) and rollups older than its aggregated
//!   retention, in batches of [`RETENTION_BATCH`] rows, each its own short write. Runs after
//!   the roll-up, so an hour's points go only once its aggregate holds them.
//!
//! A failure is reported to the trigger, which logs it; the next tick tries again.
//!
//! `POST /maintenance/run` with the operator's credential (the secret variable `operator_token`)
//! or the scheduler's (`cron_token`), or `GET /maintenance/run?token=<cron_token>`, runs one
//! tick on demand and answers what it did, for platforms without a cron trigger (Akamai
//! Functions' `spin aka cron`, a Kubernetes CronJob in front of SpinKube; docs/deploy.md).

use std::time::{Duration, Instant};

use fieldline_component::json_answer;
use fieldline_domain::Timestamp;
use fieldline_service::prelude::*;
use serde_json::json;
use spin_sdk::http::{Request, Response};

/// How long one roll-up transaction should hold the writer, which ingestion waits for
/// meanwhile: the number of (channel, hour) pairs a transaction takes follows it ([`Batch`]).
const ROLLUP_HOLD: Duration = Duration::from_millis(25);
/// (channel, hour) pairs in the first roll-up transaction of a tick: at 1 Hz, 8 hours are
/// 28,800 points.
const ROLLUP_FIRST: usize = 8;
/// The fewest pairs a roll-up transaction takes: a batch's time includes its wait for the
/// writer, and under heavy ingestion that wait alone would shrink batches to one pair, so that
/// the roll-up fell behind the hours being written.
const ROLLUP_LEAST: usize = 4;
/// The most pairs a roll-up transaction takes, only ever for sparse hours that roll up quickly.
const ROLLUP_MOST: usize = 1000;
/// How long one tick may roll up; the rest waits for the next tick (a minute later).
const ROLLUP_BUDGET: Duration = Duration::from_secs(20);
/// Rows one retention statement deletes: a short hold of the writer, which ingestion waits for.
const RETENTION_BATCH: usize = 5000;
/// How long one tick may delete; the rest waits for the next tick.
const RETENTION_BUDGET: Duration = Duration::from_secs(20);

wit_bindgen::generate!({
    world: "spin-cron",
    path: "../../wit/deps/spin-cron",
});

/// What one tick did.
#[derive(Debug, Default)]
struct Report {
    rolled: usize,
    purged: usize,
    points: usize,
    rollups: usize,
}

/// One tick: roll up, purge counters, apply retention. The error names the step that failed.
fn work(store: &fieldline_component::Store) -> Result<Report, String> {
    // The clock, not the tick's time: a late tick must not purge less, and a tick time from
    // elsewhere must not purge counters that are still counting.
    let now = Timestamp::now();
    let mut report = Report::default();
    let started = Instant::now();
    let mut batch = Batch::new(ROLLUP_FIRST, ROLLUP_LEAST..=ROLLUP_MOST, ROLLUP_HOLD);
    loop {
        let size = batch.size();
        let batch_started = Instant::now();
        let n = store
            .roll_up_pending(size, now)
            .map_err(|e| format!("rolling up hours: {e}"))?;
        report.rolled += n;
        if n < size || started.elapsed() > ROLLUP_BUDGET {
            break;
        }
        batch.took(batch_started.elapsed());
    }
    report.purged = store
        .purge_expired_counters(now)
        .map_err(|e| format!("purging expired counters: {e}"))?;
    let started = Instant::now();
    let tenants = store
        .all_tenants()
        .map_err(|e| format!("listing organizations: {e}"))?;
    // Whole partitions first (PostgreSQL): what every organization's retention has passed.
    let earliest_cutoff = tenants
        .iter()
        .map(|(_, subscription)| subscription.detailed_cutoff_hour(now))
        .min();
    if let Some(cutoff) = earliest_cutoff {
        report.points += store
            .maintain_partitions(now, cutoff)
            .map_err(|e| format!("points partitions: {e}"))?;
    }
    'orgs: for (tenant, subscription) in tenants {
        let points_before = subscription.detailed_cutoff_hour(now);
        let rollups_before = subscription.aggregated_cutoff(now).hour_start();
        loop {
            let (p, r) = store
                .delete_expired(&tenant, points_before, rollups_before, RETENTION_BATCH)
                .map_err(|e| format!("retention of {}: {e}", tenant.id()))?;
            // The values of the organization's general series (InfluxDB's databases) keep
            // to the same detailed retention as its channels' points.
            let v = store
                .delete_expired_values(&tenant, points_before, RETENTION_BATCH)
                .map_err(|e| format!("retention of {}: {e}", tenant.id()))?;
            report.points += p + v;
            report.rollups += r;
            if started.elapsed() > RETENTION_BUDGET {
                break 'orgs;
            }
            if p < RETENTION_BATCH && r < RETENTION_BATCH && v < RETENTION_BATCH {
                break;
            }
        }
    }
    Ok(report)
}

/// The size of the next batch of a job done in transactions that each hold the writer: sized
/// so that one takes about `hold`, from how long the last one took. Data differ by orders of
/// magnitude in how long an item takes (an hour of 1 Hz points against an hour with a point a
/// minute, or a backfill of hours at 1 kHz), so a fixed count either holds ingestion up for
/// seconds or makes thousands of tiny transactions. Grows at most twofold a batch.
#[derive(Debug)]
struct Batch {
    size: usize,
    least: usize,
    most: usize,
    hold: Duration,
}

impl Batch {
    /// `first` items first, then as many as fit in `hold` within `sizes`.
    fn new(first: usize, sizes: std::ops::RangeInclusive<usize>, hold: Duration) -> Self {
        let least = (*sizes.start()).max(1);
        let most = (*sizes.end()).max(least);
        Batch {
            size: first.clamp(least, most),
            least,
            most,
            hold,
        }
    }

    fn size(&self) -> usize {
        self.size
    }

    /// The last batch, of [`Batch::size`] items, took `took`.
    fn took(&mut self, took: Duration) {
        let per_item = took.as_secs_f64() / self.size as f64;
        let fits = if per_item > 0.0 {
            self.hold.as_secs_f64() / per_item
        } else {
            f64::INFINITY
        };
        // `as` saturates; at most twice the last size, within the bounds.
        let next = (fits.floor() as usize).min(self.size.saturating_mul(2));
        self.size = next.clamp(self.least, self.most);
    }
}

struct Maintenance;

impl Guest for Maintenance {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        // Of several replicas on one database, one does each tick (docs/deploy.md).
        let Some(store) = fieldline_component::store_for_tick("maintenance", metadata.timestamp)
            .map_err(Error::Other)?
        else {
            return Ok(());
        };
        let r = work(&store).map_err(Error::Other)?;
        println!(
            "maintenance: rolled up {} channel-hours, purged {} expired counters, \
             retention deleted {} points and {} rollups",
            r.rolled, r.purged, r.points, r.rollups
        );
        Ok(())
    }
}

/// `POST /maintenance/run`: one tick on demand, for the operator's own scheduler.
#[spin_sdk::http_component]
fn handle(req: Request) -> Response {
    if req.path() != "/maintenance/run" {
        return json_answer(
            404,
            &json!({"code": "not_found", "message": "the maintenance component has POST /maintenance/run"}),
        );
    }
    if let Err(refused) =
        fieldline_component::operator_gate(&req, "/maintenance/run", "fieldline-maintenance")
    {
        return refused;
    }
    match fieldline_component::open_job_store().and_then(|store| work(&store)) {
        Ok(r) => json_answer(
            200,
            &json!({
                "rolledUpChannelHours": r.rolled,
                "purgedCounters": r.purged,
                "retentionDeletedPoints": r.points,
                "retentionDeletedRollups": r.rollups,
            }),
        ),
        Err(e) => {
            eprintln!("maintenance: {e}");
            json_answer(500, &json!({"code": "internal", "message": e}))
        }
    }
}

export!(Maintenance);

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_batch_that_held_the_writer_too_long_is_followed_by_a_smaller_one() {
        let mut b = Batch::new(100, 1..=1000, 25 * MS);
        // 100 items in 600 ms: 6 ms an item, so 4 fit into 25 ms.
        b.took(600 * MS);
        assert_eq!(b.size(), 4);
        // One item alone over the hold: still one, never none.
        let mut b = Batch::new(8, 0..=1000, 25 * MS);
        b.took(8 * 2000 * MS);
        assert_eq!(b.size(), 1);
        b.took(2000 * MS);
        assert_eq!(b.size(), 1);
        // Never fewer than the least.
        let mut b = Batch::new(8, 4..=1000, 25 * MS);
        b.took(8 * 2000 * MS);
        assert_eq!(b.size(), 4);
    }

    #[test]
    fn quick_batches_grow_at_most_twofold_up_to_the_most() {
        let mut b = Batch::new(8, 1..=100, 25 * MS);
        b.took(MS);
        assert_eq!(b.size(), 16);
        b.took(Duration::ZERO);
        assert_eq!(b.size(), 32);
        for _ in 0..10 {
            b.took(MS);
        }
        assert_eq!(b.size(), 100);
        // Just under the hold: it stays about where it is.
        let mut b = Batch::new(10, 1..=100, 25 * MS);
        b.took(20 * MS);
        assert_eq!(b.size(), 12);
    }
}
