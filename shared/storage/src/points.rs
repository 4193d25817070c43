//! Points and hourly rollups: batched writes, the latest value of channels, ranges, rollup and
//! retention.

use std::fmt::Write as _;

use fieldline_domain::{HourlyRollup, Point, Timestamp};

use crate::db::{placeholders, saturating, transaction, Db, Dialect, Value};
use crate::devices::ChannelRef;
use crate::error::{Error, Result};
use crate::orgs::Tenant;
use fieldline_service::ports::{Reservation, Reserved};

/// Rows per INSERT: 3 parameters each stays under SQLite's default limit of 32766 parameters.
pub const WRITE_CHUNK_ROWS: usize = 10_000;
/// Channels per `IN (...)` list.
pub(crate) const IN_CHUNK: usize = 500;
/// A day in milliseconds: the points of a write that found no partition are grouped by day.
const DAY_MS: i64 = 24 * Timestamp::HOUR_MS;

/// PostgreSQL's statement of [`write_points`] (its `points` marks the hours pending by trigger).
fn insert_sql(rows: usize) -> String {
    insert_with_controls_sql(0, false, rows)
}

/// SQLite's statement of one chunk of [`write_points`] and [`write_points_within`]: a control
/// row per reservation, the points, then the row that marks their hours pending and queues
/// those of channels with alarms.
fn write_sqlite_chunk(
    db: &dyn Db,
    chunk: &[(ChannelRef, Point)],
    reservations: &[Reservation],
) -> Result<()> {
    let mut params = Vec::with_capacity(reservations.len() + 1 + chunk.len() * 3);
    params.extend(reservations.iter().map(control_value));
    push_points(&mut params, chunk);
    params.push(written_value(chunk));
    let sql = insert_with_controls_sql(reservations.len(), true, chunk.len());
    db.execute(&sql, &params)?;
    Ok(())
}

/// [`insert_sql`] led by `controls` control rows (`points_control`, SQLite's schema versions 19
/// to 21): reservation `i` is the row (-1 - i, 0, its JSON); with `written`, the points are
/// followed by the row (-3, 0, [`written_value`]) that marks their hours pending for the
/// roll-up and queues those of channels with alarms.
fn insert_with_controls_sql(controls: usize, written: bool, rows: usize) -> String {
    let mut sql = String::with_capacity(80 + (controls + rows) * 8);
    sql.push_str("INSERT INTO points (channel_key, ts, value) VALUES ");
    for i in 0..controls {
        sql.push_str(&format!("({}, 0, ?),", -1 - i as i64));
    }
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?)");
    }
    if written {
        sql.push_str(",(-3, 0, ?)");
    }
    // Last write wins: the same (channel, time) again replaces the value, also within one batch.
    sql.push_str(" ON CONFLICT (channel_key, ts) DO UPDATE SET value = excluded.value");
    sql
}

/// What `chunk` writes, as the value (JSON text) of the control row after its points:
/// `[[[channel, hour], ...], [channel, ...], [[time, ...], ...]]`, the (channel, hour) pairs
/// the roll-up job must compute again, then the channels written and the distinct times written
/// to each, which the trigger queues for the notifier (for channels with alarms only) with the
/// values stored.
fn written_value(chunk: &[(ChannelRef, Point)]) -> Value {
    let mut written: Vec<(i64, Timestamp)> = chunk.iter().map(|(c, p)| (c.key, p.ts())).collect();
    written.sort_unstable();
    written.dedup();
    let mut hours = String::with_capacity(2 + written.len() * 24);
    let mut channels = String::with_capacity(2 + written.len() * 8);
    let mut times = String::with_capacity(2 + written.len() * 15);
    // Sorted by (channel, time), the hours come sorted too: a repeat follows its first.
    let (mut hour_before, mut channel_before) = (None, None);
    for &(channel, ts) in &written {
        let hour = ts.hour_start().as_millis();
        if hour_before != Some((channel, hour)) {
            let comma = if hour_before.is_some() { "," } else { "" };
            let _ = write!(hours, "{comma}[{channel},{hour}]");
            hour_before = Some((channel, hour));
        }
        let ts = ts.as_millis();
        if channel_before == Some(channel) {
            let _ = write!(times, ",{ts}");
        } else {
            // A new channel: its entry in the channels, and its list of times opened.
            let (comma, close) = match channel_before {
                Some(_) => (",", "],"),
                None => ("", ""),
            };
            let _ = write!(channels, "{comma}{channel}");
            let _ = write!(times, "{close}[{ts}");
            channel_before = Some(channel);
        }
    }
    if !written.is_empty() {
        times.push(']');
    }
    Value::Text(format!("[[{hours}],[{channels}],[{times}]]"))
}

/// The (channel, time, value) parameters of `chunk`'s rows, as [`insert_sql`]'s `VALUES` and
/// [`insert_within_sql`]'s take them.
fn push_points(params: &mut Vec<Value>, chunk: &[(ChannelRef, Point)]) {
    for (channel, p) in chunk {
        params.push(Value::Integer(channel.key));
        params.push(Value::Integer(p.ts().as_millis()));
        params.push(Value::Real(p.value()));
    }
}

/// A reservation as its control row's value: `[counter, units, limit, window end]`, JSON.
fn control_value(r: &Reservation) -> Value {
    let (units, limit) = (saturating(r.units), saturating(r.limit));
    Value::Text(serde_json::json!([r.key, units, limit, r.expires_at.as_millis()]).to_string())
}

/// Writes points, each to its channel; returns how many. One multi-row statement per
/// [`WRITE_CHUNK_ROWS`] points, so that a request's batch costs one round trip and (under the
/// host's group commit) shares a commit with concurrent requests. A batch of several chunks runs
/// in one transaction, so it lands whole or not at all.
pub fn write_points(db: &dyn Db, tenant: &Tenant, points: &[(ChannelRef, Point)]) -> Result<usize> {
    for (channel, _) in points {
        channel.check(tenant)?;
    }
    let written = points.len();
    let points = &stored_once(db, points)[..];
    let write_chunk = |db: &dyn Db, chunk: &[(ChannelRef, Point)]| -> Result<()> {
        if db.dialect() == Dialect::Sqlite {
            return write_sqlite_chunk(db, chunk, &[]);
        }
        let mut params = Vec::with_capacity(chunk.len() * 3);
        push_points(&mut params, chunk);
        db.execute(&insert_sql(chunk.len()), &params)?;
        Ok(())
    };
    with_partitions(db, points, |db| match points.len() {
        0 => Ok(()),
        n if n <= WRITE_CHUNK_ROWS => write_chunk(db, points),
        _ => transaction(db, |db| {
            points
                .chunks(WRITE_CHUNK_ROWS)
                .try_for_each(|chunk| write_chunk(db, chunk))
        }),
    })?;
    Ok(written)
}

/// On PostgreSQL, the last of each (channel, time) of `points`, standing for the others as
/// SQLite's successive upserts leave it: PostgreSQL refuses to upsert one row twice in a
/// statement, and its trigger would queue each for the notifier where SQLite's control row
/// queues the value stored. `points` itself elsewhere.
fn stored_once<'a>(
    db: &dyn Db,
    points: &'a [(ChannelRef, Point)],
) -> std::borrow::Cow<'a, [(ChannelRef, Point)]> {
    if db.dialect() == Dialect::Postgres && has_repeats(points) {
        std::borrow::Cow::Owned(last_of_each(points))
    } else {
        std::borrow::Cow::Borrowed(points)
    }
}

fn has_repeats(points: &[(ChannelRef, Point)]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(points.len());
    !points
        .iter()
        .all(|(c, p)| seen.insert((c.key, p.ts().as_millis())))
}

/// The points with only the last of each (channel, time), in their order.
fn last_of_each(points: &[(ChannelRef, Point)]) -> Vec<(ChannelRef, Point)> {
    let mut seen = std::collections::HashSet::with_capacity(points.len());
    let mut out: Vec<_> = points
        .iter()
        .rev()
        .filter(|(c, p)| seen.insert((c.key, p.ts().as_millis())))
        .copied()
        .collect();
    out.reverse();
    out
}

/// Runs `write`; on PostgreSQL, when a point's month has no partition yet, creates the
/// partitions of the points' months ([`prepare_partitions`]) and runs it again (a failed
/// write left nothing: it was one statement, or one transaction rolled back).
fn with_partitions(
    db: &dyn Db,
    points: &[(ChannelRef, Point)],
    write: impl Fn(&dyn Db) -> Result<()>,
) -> Result<()> {
    match write(db) {
        Err(e) if db.dialect() == Dialect::Postgres && no_partition(&e) => {
            let mut days: Vec<i64> = points
                .iter()
                .map(|(_, p)| p.ts().as_millis().div_euclid(DAY_MS) * DAY_MS)
                .collect();
            days.sort_unstable();
            days.dedup();
            prepare_partitions(db, &days)?;
            write(db)
        }
        other => other,
    }
}

/// PostgreSQL's "no partition of relation "points" found for row" (SQLSTATE 23514, shared
/// with CHECK constraints, hence the text as well).
fn no_partition(e: &Error) -> bool {
    matches!(e, Error::Backend { message, .. }
        if message.contains("SQLSTATE 23514") && message.contains("no partition"))
}

/// PostgreSQL: creates the monthly partitions of `points` that hold the times `at` (ms), where
/// missing. The maintenance run calls it with now and a month ahead, a write that finds no
/// partition with its points' days. Nothing on SQLite.
pub fn prepare_partitions(db: &dyn Db, at: &[i64]) -> Result<()> {
    if db.dialect() != Dialect::Postgres || at.is_empty() {
        return Ok(());
    }
    for chunk in at.chunks(IN_CHUNK) {
        let values: Vec<String> = chunk.iter().map(|_| "(?)".to_owned()).collect();
        db.execute(
            &format!(
                "SELECT fl_points_partition(v.column1) FROM (VALUES {}) v",
                values.join(",")
            ),
            &chunk.iter().map(|&t| Value::Integer(t)).collect::<Vec<_>>(),
        )?;
    }
    Ok(())
}

/// PostgreSQL: drops the partitions of `points` that end before `cutoff` (the earliest
/// detailed-retention cut-off of every organization) and hold no pending hour; returns how many
/// points they held. Nothing on SQLite (retention deletes rows, [`delete_expired`]).
pub fn drop_expired_partitions(db: &dyn Db, cutoff: Timestamp) -> Result<usize> {
    if db.dialect() != Dialect::Postgres {
        return Ok(0);
    }
    let rows = db.execute("SELECT fl_drop_points_partitions(?)", &[cutoff.into()])?;
    let n = rows.first().map(|r| r.u64(0)).transpose()?.unwrap_or(0);
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// PostgreSQL's statement of [`write_points_within`] for `rows` points, through its
/// `ingest_rows` view: the points as `VALUES` rows of (channel, time, value, first), the
/// reservations' eight parameters joined to every row.
fn insert_within_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(200 + rows * 10);
    sql.push_str(
        "INSERT INTO ingest_rows (channel_key, ts, value, first, k1, u1, l1, e1, k2, u2, l2, e2) \
         SELECT v.column1, v.column2, v.column3, v.column4, r.* FROM (VALUES ",
    );
    for i in 0..rows {
        sql.push_str(if i == 0 { "(?,?,?,1)" } else { ",(?,?,?,0)" });
    }
    // Typed, so that PostgreSQL knows the types of the NULLs of an absent reservation.
    sql.push_str(
        ") v, (SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), \
         CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)) r",
    );
    sql
}

/// The index of the reservation a refused [`write_points_within`] names, from the trigger's
/// `RAISE(ABORT, 'fieldline-over-limit:<index>')` (Spin's interface gives errors as text).
pub(crate) fn over_limit(e: &Error) -> Option<usize> {
    let Error::Backend { message, .. } = e else {
        return None;
    };
    let rest = &message[message.find("fieldline-over-limit:")? + "fieldline-over-limit:".len()..];
    rest.get(..1)?.parse().ok()
}

/// Writes the points and counts the reservations (at most two) in one statement per
/// [`WRITE_CHUNK_ROWS`] points, so that an upload that fits in one chunk costs one commit,
/// shared with concurrent requests under the host's group commit. A reservation that would pass
/// its limit aborts the statement: nothing written, nothing counted.
pub fn write_points_within(
    db: &dyn Db,
    tenant: &Tenant,
    points: &[(ChannelRef, Point)],
    reservations: &[Reservation],
) -> Result<Reserved> {
    if reservations.len() > 2 {
        return Err(Error::Corrupt(format!(
            "{} reservations in one write; at most 2",
            reservations.len()
        )));
    }
    if points.is_empty() {
        return Ok(Reserved::Written(0));
    }
    for (channel, _) in points {
        channel.check(tenant)?;
    }
    let counted = points.len();
    let points = &stored_once(db, points)[..];
    let write_chunk = |db: &dyn Db, chunk: &[(ChannelRef, Point)], first: bool| -> Result<()> {
        let reservations = if first { reservations } else { &[] };
        if db.dialect() == Dialect::Sqlite {
            return write_sqlite_chunk(db, chunk, reservations);
        }
        let mut params = Vec::with_capacity(chunk.len() * 3 + 8);
        push_points(&mut params, chunk);
        for i in 0..2 {
            match reservations.get(i) {
                Some(r) => params.extend([
                    Value::Text(r.key.clone()),
                    Value::saturating(r.units),
                    Value::saturating(r.limit),
                    r.expires_at.into(),
                ]),
                None => params.extend([Value::Null, Value::Null, Value::Null, Value::Null]),
            }
        }
        db.execute(&insert_within_sql(chunk.len()), &params)?;
        Ok(())
    };
    let written = with_partitions(db, points, |db| {
        if points.len() <= WRITE_CHUNK_ROWS {
            write_chunk(db, points, true)
        } else {
            transaction(db, |db| {
                points
                    .chunks(WRITE_CHUNK_ROWS)
                    .enumerate()
                    .try_for_each(|(i, chunk)| write_chunk(db, chunk, i == 0))
            })
        }
    });
    match written {
        Ok(()) => Ok(Reserved::Written(counted)),
        Err(e) => match over_limit(&e) {
            Some(i) => Ok(Reserved::OverLimit(i)),
            None => Err(e),
        },
    }
}

/// [`latest_points`]' statement for `n` channels. The channels are found by key; the
/// organization is a check on them (`+`: not an index to walk all of its channels by).
pub(crate) fn latest_points_sql(n: usize) -> String {
    format!(
        "SELECT c.key, p.ts, p.value FROM channels c \
         JOIN points p ON p.channel_key = c.key \
             AND p.ts = (SELECT max(ts) FROM points WHERE channel_key = c.key) \
         WHERE +c.org_key = ? AND c.key IN ({})",
        placeholders(n)
    )
}

/// The most recent point of each channel that has one, in one statement: for each channel,
/// `max(ts)` is the last entry of its primary-key range, then one key lookup.
pub fn latest_points(
    db: &dyn Db,
    tenant: &Tenant,
    channels: &[ChannelRef],
) -> Result<Vec<(ChannelRef, Point)>> {
    for channel in channels {
        channel.check(tenant)?;
    }
    let mut out = Vec::with_capacity(channels.len());
    for chunk in channels.chunks(IN_CHUNK) {
        let sql = latest_points_sql(chunk.len());
        let mut params: Vec<Value> = vec![tenant.key.into()];
        params.extend(chunk.iter().map(|c| Value::Integer(c.key)));
        for r in db.execute(&sql, &params)?.iter() {
            let channel = ChannelRef {
                org_key: tenant.key,
                key: r.i64(0)?,
            };
            out.push((channel, point(r.ts(1)?, r.f64(2)?)?));
        }
    }
    Ok(out)
}

fn point(ts: Timestamp, value: f64) -> Result<Point> {
    Point::new(ts, value).map_err(crate::error::corrupt)
}

pub use fieldline_service::Order;

/// Points of one channel with `from <= ts < to`, at most `limit`, in time order.
pub fn points_in_range(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    from: Timestamp,
    to: Timestamp,
    order: Order,
    limit: usize,
) -> Result<Vec<Point>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let last = to.add_millis(-1);
    crate::series::points_between(db, tenant, channel, from, last, order, Some(limit))?
        .into_iter()
        .map(|(ms, v)| {
            point(
                Timestamp::from_millis(ms).map_err(crate::error::corrupt)?,
                v,
            )
        })
        .collect()
}

/// Recomputes the hourly rollups of every channel of the organization for the hours that
/// overlap `[from, to)`, from the raw points. Idempotent: run it again after late points arrive.
/// Returns the number of (channel, hour) rows written.
pub fn rollup_hours(db: &dyn Db, tenant: &Tenant, from: Timestamp, to: Timestamp) -> Result<usize> {
    let from = from.hour_start();
    let to = if to.hour_start() == to {
        to
    } else {
        to.hour_start().add_millis(Timestamp::HOUR_MS)
    };
    let rows = db.execute(
        "INSERT INTO rollups (channel_key, hour, count, sum, min, max) \
         SELECT p.channel_key, p.ts - p.ts % 3600000, count(*), sum(p.value), min(p.value), max(p.value) \
         FROM channels c JOIN points p ON p.channel_key = c.key \
         WHERE c.org_key = ? AND p.ts >= ? AND p.ts < ? \
         GROUP BY p.channel_key, p.ts - p.ts % 3600000 \
         ON CONFLICT (channel_key, hour) DO UPDATE SET count = excluded.count, \
             sum = excluded.sum, min = excluded.min, max = excluded.max \
         RETURNING hour",
        &[tenant.key.into(), from.into(), to.into()],
    )?;
    db.execute(
        &format!(
            "INSERT INTO rollups_minute (channel_key, minute, count, sum, min, max) \
             SELECT p.channel_key, {MINUTE}, count(*), sum(p.value), min(p.value), max(p.value) \
             FROM channels c JOIN points p ON p.channel_key = c.key \
             WHERE c.org_key = ? AND p.ts >= ? AND p.ts < ? \
             GROUP BY p.channel_key, {MINUTE} {UPSERT_MINUTE}"
        ),
        &[tenant.key.into(), from.into(), to.into()],
    )?;
    Ok(rows.len())
}

/// The minute of a point `p`, in milliseconds (times are never negative).
const MINUTE: &str = "p.ts - p.ts % 60000";

/// Ends an insert into `rollups_minute`: a minute computed again replaces its row.
const UPSERT_MINUTE: &str = "ON CONFLICT (channel_key, minute) DO UPDATE SET \
    count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max";

/// Inserts the minute rollups of the (channel, hour) pairs `batch` selects (columns
/// `channel_key`, `hour`), from the points.
fn minute_rollups_sql(batch: &str) -> String {
    format!(
        "INSERT INTO rollups_minute (channel_key, minute, count, sum, min, max) \
         SELECT b.channel_key, {MINUTE}, count(*), sum(p.value), min(p.value), max(p.value) \
         FROM ({batch}) b JOIN points p ON p.channel_key = b.channel_key \
             AND p.ts >= b.hour AND p.ts < b.hour + 3600000 \
         GROUP BY b.channel_key, {MINUTE} {UPSERT_MINUTE}"
    )
}

/// A roll-up batch on SQLite (`?1` pairs, `?2` the last ended hour): read in the key's order,
/// with no sort ([`roll_up_pending`]).
pub(crate) const ROLLUP_BATCH_SQL: &str = "SELECT channel_key, hour FROM rollup_pending \
    WHERE hour <= ?2 ORDER BY channel_key, hour LIMIT ?1";

/// Recomputes the hourly rollups of up to `max_hours` pending (channel, hour) pairs of hours
/// that ended by `ended_by`, from the raw points, and clears them; returns how many were rolled
/// up (fewer than `max_hours`: nothing is left). One transaction, so that no write lands
/// between the computation and the clearing (the host gives a transaction its writer); keep
/// `max_hours` small enough that ingestion does not wait long (the maintenance job sizes it by
/// how long the last batch took).
///
/// The pairs are taken in the order of `rollup_pending`'s key, channel then hour, so that a
/// batch is a seek and a short scan of that key's index however many pairs are pending: in
/// the order of hours, it was a scan and a sort of all of them, three times a batch (49 ms
/// each at 720,000 pending pairs, a month's backfill of 1,000 channels). Which pairs go first
/// changes no answer: reads sum a pending hour's points.
///
/// The hour being written stays pending: rolled up every tick, it would be summed again from
/// all its points so far each time (30 times a point on average at a tick a minute), holding
/// the writer that ingestion waits for. Reads sum a pending hour's points, as they must between
/// ticks anyway.
pub fn roll_up_pending(db: &dyn Db, max_hours: usize, ended_by: Timestamp) -> Result<usize> {
    let limit = i64::try_from(max_hours).unwrap_or(i64::MAX);
    // The last hour start whose hour has ended.
    let last_hour = ended_by.as_millis().saturating_sub(Timestamp::HOUR_MS);
    if db.dialect() == Dialect::Postgres {
        // One statement: take the batch (rows another replica is taking are skipped, so
        // concurrent runs share the work and never do an hour twice), delete it and write its
        // rollups. A point written meanwhile into a taken hour waits on the deleted row's lock
        // and marks the hour pending again once this commits, so no write is missed.
        let rows = db.execute(
            &format!(
                "WITH b AS (DELETE FROM rollup_pending WHERE (channel_key, hour) IN ( \
                 SELECT channel_key, hour FROM rollup_pending WHERE hour <= ?2 \
                 ORDER BY channel_key, hour LIMIT ?1 FOR UPDATE SKIP LOCKED) \
                 RETURNING channel_key, hour), \
             r AS (INSERT INTO rollups (channel_key, hour, count, sum, min, max) \
                 SELECT b.channel_key, b.hour, count(*), sum(p.value), min(p.value), \
                     max(p.value) \
                 FROM b JOIN points p ON p.channel_key = b.channel_key \
                     AND p.ts >= b.hour AND p.ts < b.hour + 3600000 \
                 GROUP BY b.channel_key, b.hour \
                 ON CONFLICT (channel_key, hour) DO UPDATE SET count = excluded.count, \
                     sum = excluded.sum, min = excluded.min, max = excluded.max), \
             m AS ({}) \
             SELECT count(*) FROM b",
                minute_rollups_sql("SELECT channel_key, hour FROM b")
            ),
            &[limit.into(), last_hour.into()],
        )?;
        let n = rows.first().map(|r| r.u64(0)).transpose()?.unwrap_or(0);
        return Ok(usize::try_from(n).unwrap_or(usize::MAX));
    }
    transaction(db, |db| {
        const BATCH: &str = ROLLUP_BATCH_SQL;
        let params = [limit.into(), last_hour.into()];
        db.execute(
            &format!(
                "INSERT INTO rollups (channel_key, hour, count, sum, min, max) \
                 SELECT b.channel_key, b.hour, count(*), sum(p.value), min(p.value), \
                     max(p.value) \
                 FROM ({BATCH}) b JOIN points p ON p.channel_key = b.channel_key \
                     AND p.ts >= b.hour AND p.ts < b.hour + 3600000 \
                 GROUP BY b.channel_key, b.hour \
                 ON CONFLICT (channel_key, hour) DO UPDATE SET count = excluded.count, \
                     sum = excluded.sum, min = excluded.min, max = excluded.max"
            ),
            &params,
        )?;
        db.execute(&minute_rollups_sql(BATCH), &params)?;
        // The same rows: nothing else writes inside this transaction.
        let cleared = db.execute(
            &format!(
                "DELETE FROM rollup_pending WHERE (channel_key, hour) IN ({BATCH}) RETURNING 1"
            ),
            &params,
        )?;
        Ok(cleared.len())
    })
}

/// Rollups of one channel for the hours starting in `[from, to)`.
pub fn rollups_in_range(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<HourlyRollup>> {
    channel.check(tenant)?;
    let rows = db.execute(
        "SELECT hour, count, sum, min, max FROM rollups WHERE channel_key = ?1 AND hour >= ?2 \
         AND hour < ?3 AND EXISTS (SELECT 1 FROM channels WHERE key = ?1 AND org_key = ?4) \
         ORDER BY hour",
        &[
            channel.key.into(),
            from.into(),
            to.into(),
            tenant.key.into(),
        ],
    )?;
    rows.iter()
        .map(|r| {
            Ok(HourlyRollup {
                hour: r.ts(0)?,
                count: r.u64(1)?,
                sum: r.f64(2)?,
                min: r.f64(3)?,
                max: r.f64(4)?,
            })
        })
        .collect()
}

/// Deletes the organization's raw points older than `cutoff` (detailed retention).
pub fn purge_points_before(db: &dyn Db, tenant: &Tenant, cutoff: Timestamp) -> Result<()> {
    db.execute(
        "DELETE FROM points WHERE channel_key IN (SELECT key FROM channels WHERE org_key = ?) \
         AND ts < ?",
        &[tenant.key.into(), cutoff.into()],
    )?;
    db.execute(
        "DELETE FROM rollups_minute WHERE channel_key IN \
         (SELECT key FROM channels WHERE org_key = ?) AND minute < ?",
        &[tenant.key.into(), cutoff.into()],
    )?;
    Ok(())
}

/// Deletes the organization's rollups of hours before `cutoff` (aggregated retention).
pub fn purge_rollups_before(db: &dyn Db, tenant: &Tenant, cutoff: Timestamp) -> Result<()> {
    db.execute(
        "DELETE FROM rollups WHERE channel_key IN (SELECT key FROM channels WHERE org_key = ?) \
         AND hour < ?",
        &[tenant.key.into(), cutoff.into()],
    )?;
    Ok(())
}

/// Retention, one bounded batch ([`fieldline_service::ports::Points::delete_expired`]): up to
/// `batch` of the organization's raw points before `points_before` whose hour is not pending
/// (its rollup is current, so the hour's aggregate outlives its points exactly), up to `batch`
/// minute rollups before `points_before` (they summarize the points, and go with them), and up
/// to `batch` hourly rollups of hours before `rollups_before` (and the discard counts of those
/// hours). Each is its own short write; the rollups counted are hourly and minute ones.
pub fn delete_expired(
    db: &dyn Db,
    tenant: &Tenant,
    points_before: Timestamp,
    rollups_before: Timestamp,
    batch: usize,
) -> Result<(usize, usize)> {
    let batch = i64::try_from(batch).unwrap_or(i64::MAX);
    let points = db
        .execute(
            "DELETE FROM points WHERE (channel_key, ts) IN ( \
                SELECT p.channel_key, p.ts FROM channels c \
                JOIN points p ON p.channel_key = c.key AND p.ts < ?2 \
                WHERE c.org_key = ?1 AND NOT EXISTS (SELECT 1 FROM rollup_pending q \
                    WHERE q.channel_key = p.channel_key AND q.hour = p.ts - p.ts % 3600000) \
                LIMIT ?3) RETURNING 1",
            &[tenant.key.into(), points_before.into(), batch.into()],
        )?
        .len();
    let rollups = delete_rollups_before(db, tenant, "rollups", "hour", rollups_before, batch)?;
    let minutes =
        delete_rollups_before(db, tenant, "rollups_minute", "minute", points_before, batch)?;
    db.execute(
        "DELETE FROM discarded_points WHERE org_key = ? AND hour < ?",
        &[tenant.key.into(), rollups_before.into()],
    )?;
    Ok((points, rollups + minutes))
}

/// Up to `batch` of the organization's rows of a rollup table (`rollups` by `hour`,
/// `rollups_minute` by `minute`) before `before`; returns how many.
fn delete_rollups_before(
    db: &dyn Db,
    tenant: &Tenant,
    table: &str,
    column: &str,
    before: Timestamp,
    batch: i64,
) -> Result<usize> {
    Ok(db
        .execute(
            &format!(
                "DELETE FROM {table} WHERE (channel_key, {column}) IN ( \
                    SELECT r.channel_key, r.{column} FROM channels c \
                    JOIN {table} r ON r.channel_key = c.key AND r.{column} < ?2 \
                    WHERE c.org_key = ?1 LIMIT ?3) RETURNING 1"
            ),
            &[tenant.key.into(), before.into(), batch.into()],
        )?
        .len())
}
