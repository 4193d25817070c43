//! Channels as the time-series APIs see them (Proficloud EPTS, InfluxDB 1.x): a series is a
//! channel, named by its communicationId (the measurement, `auto~watt`) and tagged with its
//! device (UUID, name, network id) and sensor. Also the per-interval summaries an aggregate
//! query reads instead of raw points.

use std::collections::BTreeMap;

use fieldline_domain::{Timestamp, Uuid};

use crate::db::{numbered_placeholders, placeholders, Db, Value};
use crate::devices::ChannelRef;
use crate::error::Result;
use crate::orgs::Tenant;
use crate::points::{Order, IN_CHUNK};

pub use fieldline_service::{SeriesFilter, SeriesInfo};

/// A channel as a series: the columns [`series_info`] reads, of `channels c`, `devices d` and
/// `sensors s`.
const SERIES_COLUMNS: &str = "c.key, c.communication_id, d.uuid, d.name, d.network_id, s.name, \
    c.unit, c.written_tags, c.written_measurement, c.written_field";

/// [`list_series`]' statement: `uuids` device UUIDs and `names` measurements as parameters
/// after the organization (none of either: no restriction). Measurements by InfluxDB name
/// (`influx_names`) match a channel's written measurement, else its communicationId; each of
/// the two has an index with the organization, and the statement seeks both (a `COALESCE` of
/// the two would walk every channel of the organization), then keeps the channels whose
/// InfluxDB name it is. The parameters are then the organization and the UUIDs, the
/// organization and the names, twice, and the names once more.
pub(crate) fn list_series_sql(uuids: Option<usize>, names: Option<usize>, influx: bool) -> String {
    // With the channels found by the measurements' seeks, the organization is a check on them
    // (`+`): not an index to walk its channels in order by.
    let org = if influx && names.is_some() {
        "+c.org_key"
    } else {
        "c.org_key"
    };
    let mut sql = format!(
        "SELECT {SERIES_COLUMNS} \
         FROM channels c JOIN devices d ON d.key = c.device_key \
         JOIN sensors s ON s.key = c.sensor_key WHERE {org} = ?"
    );
    if let Some(n) = uuids {
        sql.push_str(&format!(" AND d.uuid IN ({})", placeholders(n)));
    }
    if let Some(n) = names {
        let p = placeholders(n);
        if influx {
            sql.push_str(&format!(
                " AND c.key IN (SELECT key FROM channels WHERE org_key = ? \
                     AND communication_id IN ({p}) \
                 UNION ALL SELECT key FROM channels WHERE org_key = ? \
                     AND written_measurement IN ({p})) \
                 AND COALESCE(c.written_measurement, c.communication_id) IN ({p})"
            ));
        } else {
            sql.push_str(&format!(" AND c.communication_id IN ({p})"));
        }
    }
    sql.push_str(" ORDER BY c.communication_id, d.uuid, c.key");
    sql
}

/// The organization's series, optionally restricted to some devices and measurements, ordered
/// by measurement, then device UUID (seeks on the organization's channels of the
/// measurements, or one indexed scan of all of them).
pub fn list_series(
    db: &dyn Db,
    tenant: &Tenant,
    filter: SeriesFilter<'_>,
) -> Result<Vec<SeriesInfo>> {
    if filter.uuids.is_some_and(<[_]>::is_empty) || filter.measurements.is_some_and(<[_]>::is_empty)
    {
        return Ok(Vec::new());
    }
    let sql = list_series_sql(
        filter.uuids.map(<[_]>::len),
        filter.measurements.map(<[_]>::len),
        filter.influx_names,
    );
    let mut params: Vec<Value> = vec![tenant.key.into()];
    if let Some(uuids) = filter.uuids {
        params.extend(uuids.iter().map(|u| Value::from(*u)));
    }
    if let Some(names) = filter.measurements {
        let names = names.iter().map(|n| Value::from(n.as_str()));
        if filter.influx_names {
            for _ in 0..2 {
                params.push(tenant.key.into());
                params.extend(names.clone());
            }
        }
        params.extend(names);
    }
    db.execute(&sql, &params)?
        .iter()
        .map(|r| series_info(tenant, r))
        .collect()
}

/// The channels of the devices `uuids` among the series of InfluxDB measurements `names`, in
/// [`list_series`]'s order, each row with whether those measurements have series other than
/// channels of the one field `value` (a channel that a `/write` line gave another field, or a
/// general series of the database): seeks of the devices, their channels, the channels with
/// a written measurement, and the database's general series. The parameters are the
/// organization, the UUIDs, the names, then the database.
pub(crate) fn device_series_sql(uuids: usize, names: usize) -> String {
    let u = numbered_placeholders(2, uuids);
    let n = numbered_placeholders(2 + uuids, names);
    let database = 2 + uuids + names;
    // A channel's field is other than `value` only where a line wrote both its measurement and
    // its field (`series_info`), so its InfluxDB measurement is the written one.
    format!(
        "SELECT {SERIES_COLUMNS}, \
         EXISTS (SELECT 1 FROM channels WHERE org_key = ?1 AND written_measurement IN ({n}) \
             AND written_field <> 'value') \
         OR EXISTS (SELECT 1 FROM series WHERE org_key = ?1 AND database = ?{database} \
             AND measurement IN ({n})) \
         FROM devices d JOIN channels c ON c.device_key = d.key \
         JOIN sensors s ON s.key = c.sensor_key \
         WHERE d.org_key = ?1 AND d.uuid IN ({u}) AND +c.org_key = ?1 \
         AND COALESCE(c.written_measurement, c.communication_id) IN ({n}) \
         ORDER BY c.communication_id, d.uuid, c.key"
    )
}

/// The series of InfluxDB measurements `names` of the devices `uuids`, when the measurements
/// have no other kind of series in `database` (the model's): no channel with a field other
/// than `value`, no general series. So the series of other devices would add no field to a
/// statement's measurements. `None` otherwise, or when there are none (which does not tell).
pub fn device_series(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    uuids: &[Uuid],
    names: &[String],
) -> Result<Option<Vec<SeriesInfo>>> {
    if uuids.is_empty() || names.is_empty() {
        return Ok(None);
    }
    let mut params: Vec<Value> = vec![tenant.key.into()];
    params.extend(uuids.iter().map(|u| Value::from(*u)));
    params.extend(names.iter().map(|n| Value::from(n.as_str())));
    params.push(database.into());
    let rows = db.execute(&device_series_sql(uuids.len(), names.len()), &params)?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    if first.bool(10)? {
        return Ok(None);
    }
    rows.iter()
        .map(|r| series_info(tenant, r))
        .collect::<Result<_>>()
        .map(Some)
}

/// A row of [`SERIES_COLUMNS`].
fn series_info(tenant: &Tenant, r: crate::db::Row<'_>) -> Result<SeriesInfo> {
    Ok(SeriesInfo {
        channel: ChannelRef {
            org_key: tenant.key,
            key: r.i64(0)?,
        },
        measurement: r.text(1)?.to_owned(),
        uuid: r.parse(2, Uuid::parse)?,
        device: r.text(3)?.to_owned(),
        network_id: r.opt_text(4)?.map(str::to_owned),
        sensor: r.text(5)?.to_owned(),
        unit: r.text(6)?.to_owned(),
        written_tags: r
            .opt_text(7)?
            .map(crate::general::decode_tags)
            .transpose()?,
        written_field: match (r.opt_text(8)?, r.opt_text(9)?) {
            (Some(m), Some(f)) => Some((m.to_owned(), f.to_owned())),
            _ => None,
        },
    })
}

/// The points of one channel in one interval, summarized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntervalStats {
    /// Start of the interval, in milliseconds.
    pub start_ms: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// Count, sum, min and max of one channel's points with `from <= ts <= last`, per interval of
/// `interval_ms` starting at `base_ms + k * interval_ms` (`base_ms <= from`). SQLite computes
/// them in one pass over the channel's primary-key range; only the summaries cross the
/// interface. Intervals without points are absent.
pub fn interval_stats(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    from: Timestamp,
    last: Timestamp,
    base_ms: i64,
    interval_ms: i64,
) -> Result<Vec<IntervalStats>> {
    channel.check(tenant)?;
    if interval_ms <= 0 || base_ms > from.as_millis() {
        return Err(crate::error::Error::Corrupt(format!(
            "interval_stats: interval {interval_ms} ms must be positive and base {base_ms} \
             at or before {}",
            from.as_millis()
        )));
    }
    let rows = db.execute(
        "SELECT (ts - ?1) / ?2, count(*), sum(value), min(value), max(value) FROM points \
         WHERE channel_key = ?3 AND ts >= ?4 AND ts <= ?5 \
         AND EXISTS (SELECT 1 FROM channels WHERE key = ?3 AND org_key = ?6) \
         GROUP BY 1 ORDER BY 1",
        &[
            base_ms.into(),
            interval_ms.into(),
            channel.key.into(),
            from.into(),
            last.into(),
            tenant.key.into(),
        ],
    )?;
    rows.iter()
        .map(|r| stats_of(&r, base_ms, interval_ms))
        .collect()
}

/// A row `(interval number, count, sum, min, max)` of intervals from `base_ms`.
fn stats_of(r: &crate::db::Row<'_>, base_ms: i64, interval_ms: i64) -> Result<IntervalStats> {
    Ok(IntervalStats {
        start_ms: base_ms + r.i64(0)? * interval_ms,
        count: r.u64(1)?,
        sum: r.f64(2)?,
        min: r.f64(3)?,
        max: r.f64(4)?,
    })
}

pub(crate) const NS_PER_MS: i64 = 1_000_000;
const HOUR_MS: i64 = Timestamp::HOUR_MS;
const MINUTE_MS: i64 = 60_000;

/// Adds one interval's summary to the per-interval accumulation.
fn merge(acc: &mut BTreeMap<i64, IntervalStats>, s: IntervalStats) {
    acc.entry(s.start_ms)
        .and_modify(|a| {
            a.count += s.count;
            a.sum += s.sum;
            a.min = a.min.min(s.min);
            a.max = a.max.max(s.max);
        })
        .or_insert(s);
}

/// [`interval_summaries`]' statement, one snapshot of the points, the rollups and the pending
/// marks. The range `[?2, ?3]` is cut at whole minutes `[?4, ?5)` and, within them, at the
/// whole hours `[?6, ?7)` that hourly rollups may answer (empty, `?6 = ?7`, where they may
/// not). Summarized per interval (base `?8`, length `?9`; `?1` the channel, `?10` the
/// organization), in five parts:
///
/// 1. the points of the partial minute before `?4`;
/// 2. the minute rollups of `[?4, ?6)` and of `[?7, ?5)`, of hours that are not pending;
/// 3. the hourly rollups of `[?6, ?7)`, of hours that are not pending;
/// 4. the points of the pending hours' parts of `[?4, ?5)`, each a seek into the channel's
///    points (bounded by the pending hour, so that the planner cannot scan the points of the
///    whole range and look each one's hour up instead: with the range's own bounds on the
///    points it did, and a query of rolled-up hours read every point of them);
/// 5. the points of the partial minute from `?5`.
///
/// One statement because the host runs each read statement on its own snapshot: a roll-up
/// committed between a read of the rollups and a read of the marks dropped its hours from the
/// answer (pending for the first, cleared for the second), and a point written between them
/// counted its hour twice (rolled up for the first, pending for the second).
pub(crate) const SUMMARIES_SQL: &str = "\
SELECT k, n, s, lo, hi FROM ( \
    SELECT (ts - ?8) / ?9 AS k, count(*) AS n, sum(value) AS s, min(value) AS lo, \
        max(value) AS hi \
    FROM points WHERE channel_key = ?1 AND ts >= ?2 AND ts < ?4 GROUP BY 1 \
    UNION ALL \
    SELECT (minute - ?8) / ?9, sum(count), sum(sum), min(min), max(max) FROM rollups_minute r \
    WHERE channel_key = ?1 AND minute >= ?4 AND minute < ?6 AND NOT EXISTS (SELECT 1 \
        FROM rollup_pending q WHERE q.channel_key = ?1 AND q.hour = r.minute - r.minute % 3600000) \
    GROUP BY 1 \
    UNION ALL \
    SELECT (minute - ?8) / ?9, sum(count), sum(sum), min(min), max(max) FROM rollups_minute r \
    WHERE channel_key = ?1 AND minute >= ?7 AND minute < ?5 AND NOT EXISTS (SELECT 1 \
        FROM rollup_pending q WHERE q.channel_key = ?1 AND q.hour = r.minute - r.minute % 3600000) \
    GROUP BY 1 \
    UNION ALL \
    SELECT (hour - ?8) / ?9, count, sum, min, max FROM rollups r \
    WHERE channel_key = ?1 AND hour >= ?6 AND hour < ?7 AND NOT EXISTS \
        (SELECT 1 FROM rollup_pending q WHERE q.channel_key = ?1 AND q.hour = r.hour) \
    UNION ALL \
    SELECT (p.ts - ?8) / ?9, count(*), sum(p.value), min(p.value), max(p.value) \
    FROM rollup_pending q JOIN points p ON p.channel_key = ?1 \
        AND p.ts >= CASE WHEN q.hour > ?4 THEN q.hour ELSE ?4 END \
        AND p.ts < CASE WHEN q.hour + 3600000 < ?5 THEN q.hour + 3600000 ELSE ?5 END \
    WHERE q.channel_key = ?1 AND q.hour > ?4 - 3600000 AND q.hour < ?5 GROUP BY 1 \
    UNION ALL \
    SELECT (ts - ?8) / ?9, count(*), sum(value), min(value), max(value) \
    FROM points WHERE channel_key = ?1 AND ts >= ?5 AND ts <= ?3 GROUP BY 1 \
) u WHERE EXISTS (SELECT 1 FROM channels WHERE key = ?1 AND org_key = ?10)";

/// [`interval_stats`], with rollups standing in for the raw points wherever the intervals
/// allow (see schema versions 4 and 17): when the intervals are whole minutes aligned on
/// minutes (or the range is one interval), each whole minute of the range that is rolled up and
/// not pending is one row of the minute rollups instead of its points (60 at 1 Hz); when they
/// are whole hours aligned on hours (or one interval), each whole hour is one row of the hourly
/// rollups (3,600 points at 1 Hz). Pending hours and the partial minutes at the range's ends
/// are summed from the points, in the same statement ([`SUMMARIES_SQL`]): one snapshot,
/// whatever a roll-up or a write commits meanwhile.
pub fn interval_summaries(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    from: Timestamp,
    last: Timestamp,
    base_ms: i64,
    interval_ms: i64,
) -> Result<Vec<IntervalStats>> {
    let (f, l) = (from.as_millis(), last.as_millis());
    let valid = interval_ms > 0 && base_ms <= f;
    let one_interval = valid && l - base_ms < interval_ms;
    let aligned =
        |unit: i64| one_interval || (interval_ms % unit == 0 && base_ms.rem_euclid(unit) == 0);
    // Whole units of the range: [first, end).
    let whole = |unit: i64| {
        let first = f.div_euclid(unit) * unit + if f % unit == 0 { 0 } else { unit };
        (first, (l + 1).div_euclid(unit) * unit)
    };
    let (first_minute, end_minute) = whole(MINUTE_MS);
    if !valid || !aligned(MINUTE_MS) || first_minute >= end_minute {
        // interval_stats answers, or refuses the arguments.
        return interval_stats(db, tenant, channel, from, last, base_ms, interval_ms);
    }
    let (first_hour, end_hour) = match whole(HOUR_MS) {
        (first, end) if aligned(HOUR_MS) && first < end => (first, end),
        // No hourly rollups: the minutes' range takes every whole minute.
        _ => (end_minute, end_minute),
    };
    channel.check(tenant)?;
    let rows = db.execute(
        SUMMARIES_SQL,
        &[
            channel.key.into(),
            f.into(),
            l.into(),
            first_minute.into(),
            end_minute.into(),
            first_hour.into(),
            end_hour.into(),
            base_ms.into(),
            interval_ms.into(),
            tenant.key.into(),
        ],
    )?;
    let mut acc = BTreeMap::new();
    for r in rows.iter() {
        merge(&mut acc, stats_of(&r, base_ms, interval_ms)?);
    }
    Ok(acc.into_values().collect())
}

/// Times and values of one channel's points with `from <= ts <= last`, in time order.
pub fn points_between(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    from: Timestamp,
    last: Timestamp,
    order: Order,
    limit: Option<usize>,
) -> Result<Vec<(i64, f64)>> {
    channel.check(tenant)?;
    let dir = match order {
        Order::OldestFirst => "ASC",
        Order::NewestFirst => "DESC",
    };
    // No limit: the largest one (PostgreSQL refuses the -1 SQLite reads as none).
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let rows = db.execute(
        &format!(
            "SELECT ts, value FROM points WHERE channel_key = ?1 AND ts >= ?2 AND ts <= ?3 \
             AND EXISTS (SELECT 1 FROM channels WHERE key = ?1 AND org_key = ?4) \
             ORDER BY ts {dir} LIMIT ?5"
        ),
        &[
            channel.key.into(),
            from.into(),
            last.into(),
            tenant.key.into(),
            limit.into(),
        ],
    )?;
    rows.iter().map(|r| Ok((r.i64(0)?, r.f64(1)?))).collect()
}

/// [`edge_points_between`]' statement for `n` channels, seeking the first point of each
/// ([`Order::OldestFirst`]) or the last: parameters `?1` the organization, `?2` and `?3` the
/// range, then the channel keys. The channels are found by key; the organization
/// is a check on them (`+`: not an index to walk all of its channels by).
pub(crate) fn edge_points_sql(order: Order, n: usize) -> String {
    let f = match order {
        Order::OldestFirst => "min",
        Order::NewestFirst => "max",
    };
    format!(
        "SELECT c.key, p.ts, p.value FROM channels c \
         JOIN points p ON p.channel_key = c.key AND p.ts = \
             (SELECT {f}(ts) FROM points WHERE channel_key = c.key AND ts >= ?2 AND ts <= ?3) \
         WHERE +c.org_key = ?1 AND c.key IN ({})",
        placeholders(n)
    )
}

/// The earliest (or, with [`Order::NewestFirst`], the latest) point with `from <= ts <= last` of
/// each channel of `keys` that has one, in one statement per 500 channels: each is a `min(ts)`
/// or `max(ts)` seek in the channel's primary-key range, then one key lookup. Channels of other
/// organizations have none.
pub fn edge_points_between(
    db: &dyn Db,
    tenant: &Tenant,
    keys: &[i64],
    from: Timestamp,
    last: Timestamp,
    order: Order,
) -> Result<Vec<(i64, i64, f64)>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(IN_CHUNK) {
        let sql = edge_points_sql(order, chunk.len());
        let mut params: Vec<Value> = vec![tenant.key.into(), from.into(), last.into()];
        params.extend(chunk.iter().map(|&k| Value::Integer(k)));
        for r in db.execute(&sql, &params)?.iter() {
            out.push((r.i64(0)?, r.i64(1)?, r.f64(2)?));
        }
    }
    Ok(out)
}

/// The point of one channel with `from <= ts <= last` with the largest (or smallest) value, the
/// earliest of equal ones: SQLite scans the channel's range, the component gets one row.
pub fn extreme_point(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    from: Timestamp,
    last: Timestamp,
    largest: bool,
) -> Result<Option<(i64, f64)>> {
    channel.check(tenant)?;
    let dir = if largest { "DESC" } else { "ASC" };
    let rows = db.execute(
        &format!(
            "SELECT ts, value FROM points WHERE channel_key = ?1 AND ts >= ?2 AND ts <= ?3 \
             AND EXISTS (SELECT 1 FROM channels WHERE key = ?1 AND org_key = ?4) \
             ORDER BY value {dir}, ts ASC LIMIT 1"
        ),
        &[
            channel.key.into(),
            from.into(),
            last.into(),
            tenant.key.into(),
        ],
    )?;
    rows.first().map(|r| Ok((r.i64(0)?, r.f64(1)?))).transpose()
}

/// Keeps the tag set of the `/write` line that registered a channel, and the measurement and
/// field it was written as when not its communicationId and `value`.
pub fn set_written(
    db: &dyn Db,
    tenant: &Tenant,
    channel: &fieldline_domain::ChannelId,
    tags: &[(String, String)],
    field: Option<&(String, String)>,
) -> Result<()> {
    let (measurement, field) = match field {
        Some((m, f)) => (Value::from(m.as_str()), Value::from(f.as_str())),
        None => (Value::Null, Value::Null),
    };
    db.execute(
        "UPDATE channels SET written_tags = ?, written_measurement = ?, written_field = ? \
         WHERE id = ? AND org_key = ?",
        &[
            crate::general::encode_tags(tags).into(),
            measurement,
            field,
            channel.as_str().into(),
            tenant.key.into(),
        ],
    )?;
    Ok(())
}
