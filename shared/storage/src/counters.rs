//! Atomic counters for rate limits and quotas, and the one place limits are checked.
//!
//! A counter is incremented with a single upsert that returns the new value, so concurrent
//! requests never lose an increment (a key-value get-then-set lost 82% of them under load).
//! Counters are keyed by principal, not by tenant, and hold nothing but a number.

use fieldline_domain::Timestamp;

use crate::db::Db;
use crate::error::{Error, Result};

/// Adds `by` to the counter `key` and returns its new value. `expires_at` marks when the row
/// may be purged (the end of the counter's window).
pub fn increment_counter(db: &dyn Db, key: &str, by: u64, expires_at: Timestamp) -> Result<u64> {
    let by = i64::try_from(by).unwrap_or(i64::MAX);
    let rows = db.execute(
        "INSERT INTO counters (key, n, expires_at) VALUES (?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET n = counters.n + excluded.n RETURNING n",
        &[key.into(), by.into(), expires_at.into()],
    )?;
    rows.first()
        .ok_or_else(|| Error::Corrupt("counter upsert returned no row".into()))?
        .u64(0)
}

/// Adds `by` to the counter `key` only if the sum stays at most `limit`: the new value, or
/// `None` with nothing added. One statement, so concurrent callers never pass the limit
/// together and a refused request leaves no trace in the count.
pub fn increment_within(
    db: &dyn Db,
    key: &str,
    by: u64,
    limit: u64,
    expires_at: Timestamp,
) -> Result<Option<u64>> {
    let by = i64::try_from(by).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db.execute(
        "INSERT INTO counters (key, n, expires_at) SELECT ?1, ?2, ?3 WHERE ?2 <= ?4 \
         ON CONFLICT (key) DO UPDATE SET n = counters.n + excluded.n WHERE counters.n + excluded.n <= ?4 \
         RETURNING n",
        &[key.into(), by.into(), expires_at.into(), limit.into()],
    )?;
    rows.first().map(|r| r.u64(0)).transpose()
}

/// The counter's value, 0 when it is absent or its window has ended.
pub fn counter(db: &dyn Db, key: &str, now: Timestamp) -> Result<u64> {
    let rows = db.execute(
        "SELECT n FROM counters WHERE key = ? AND expires_at > ?",
        &[key.into(), now.into()],
    )?;
    match rows.first() {
        Some(r) => r.u64(0),
        None => Ok(0),
    }
}

/// How many expired counters one statement deletes: each batch is its own short write, so a
/// large backlog never holds the database's one writer for long.
pub const PURGE_BATCH: usize = 5000;

/// Deletes counters whose window has ended (the `maintenance` component's work, every minute);
/// returns how many. Rate-limit windows of a second leave a row per active token per second.
pub fn purge_expired_counters(db: &dyn Db, now: Timestamp) -> Result<usize> {
    let batch = i64::try_from(PURGE_BATCH).unwrap_or(i64::MAX);
    let mut purged = 0;
    loop {
        let n = db
            .execute(
                "DELETE FROM counters WHERE key IN \
                 (SELECT key FROM counters WHERE expires_at <= ? LIMIT ?) RETURNING 1",
                &[now.into(), batch.into()],
            )?
            .len();
        purged += n;
        if n < PURGE_BATCH {
            break;
        }
    }
    db.execute(
        "DELETE FROM cron_ticks WHERE claimed_at < ?",
        &[now.add_millis(-TICKS_KEPT_MS).into()],
    )?;
    Ok(purged)
}

/// How long a claimed tick is remembered: far longer than any replica's clock or schedule can
/// lag behind another's, so a late replica still finds the tick taken.
const TICKS_KEPT_MS: i64 = 24 * Timestamp::HOUR_MS;

/// Claims the tick `tick` of `job`: one insert that only the first claimant's succeeds, so of
/// any number of replicas that run the same schedule exactly one does each tick's work.
pub fn claim_tick(db: &dyn Db, job: &str, tick: u64, now: Timestamp) -> Result<bool> {
    let tick = i64::try_from(tick).unwrap_or(i64::MAX);
    let rows = db.execute(
        "INSERT INTO cron_ticks (job, tick, claimed_at) VALUES (?, ?, ?) \
         ON CONFLICT (job, tick) DO NOTHING RETURNING 1",
        &[job.into(), tick.into(), now.into()],
    )?;
    Ok(!rows.is_empty())
}

/// Counts `points` discarded for `device` (`None`: not registered yet) in the UTC hour `hour`.
pub fn count_discarded(
    db: &dyn Db,
    tenant: &crate::orgs::Tenant,
    device: Option<fieldline_domain::DeviceId>,
    hour: Timestamp,
    points: u64,
) -> Result<()> {
    let points = i64::try_from(points).unwrap_or(i64::MAX);
    let device: crate::db::Value = match device {
        Some(d) => d.into(),
        None => crate::db::Value::Null,
    };
    db.execute(
        "INSERT INTO discarded_points (org_key, device_key, hour, n) \
         SELECT ?1, coalesce((SELECT key FROM devices WHERE org_key = ?1 AND id = ?2), 0), ?3, ?4 \
         WHERE true \
         ON CONFLICT (org_key, hour, device_key) DO UPDATE SET n = discarded_points.n + excluded.n",
        &[tenant.key.into(), device, hour.into(), points.into()],
    )?;
    Ok(())
}

/// The organization's discarded points for the hours in `[from, to)`, oldest first. Points of
/// a device deleted since are listed as not registered.
pub fn discarded(
    db: &dyn Db,
    tenant: &crate::orgs::Tenant,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<fieldline_service::ports::Discarded>> {
    let rows = db.execute(
        "SELECT d.id, x.hour, x.n FROM discarded_points x \
         LEFT JOIN devices d ON d.key = x.device_key AND d.org_key = x.org_key \
         WHERE x.org_key = ? AND x.hour >= ? AND x.hour < ? ORDER BY x.hour, d.id",
        &[tenant.key.into(), from.into(), to.into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(fieldline_service::ports::Discarded {
                device: r.opt_parse(0, fieldline_domain::DeviceId::parse)?,
                hour: r.ts(1)?,
                points: r.u64(2)?,
            })
        })
        .collect()
}
