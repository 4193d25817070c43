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

/// (channel, hour) pairs rolled up per transaction: at 1 Hz, 100 hours are 360,000 points, a
/// fraction of a second of the writer, which ingestion waits for meanwhile.
const ROLLUP_BATCH: usize = 100;
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
    loop {
        let n = store
            .roll_up_pending(ROLLUP_BATCH, now)
            .map_err(|e| format!("rolling up hours: {e}"))?;
        report.rolled += n;
        if n < ROLLUP_BATCH || started.elapsed() > ROLLUP_BUDGET {
            break;
        }
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
