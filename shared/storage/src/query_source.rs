//! The InfluxQL engine's [`query::Source`] over an organization's data: the model's channels
//! (series of the model's own database, one float field `value`, stored in milliseconds) and
//! the series of its InfluxDB databases ([`crate::general`]: the tags as written, typed fields,
//! nanoseconds).
//!
//! The engine asks for points by key: a channel's key as it is, a general series' field key
//! negated (`-key`; both are positive in the database), so one source answers both.

use std::collections::{BTreeMap, HashMap};

use fieldline_domain::query::{self, FieldMeta, FieldType, SeriesMeta, Value as FieldData};
use fieldline_domain::{Timestamp, Uuid};

use crate::db::Db;
use crate::devices::ChannelRef;
use crate::general;
use crate::orgs::Tenant;
use crate::points::Order;
use crate::series::{
    device_series, edge_points_between, extreme_point, interval_summaries, list_series,
    points_between, SeriesFilter, SeriesInfo, NS_PER_MS,
};

/// The organization's series as the InfluxQL engine reads them ([`fieldline_domain::query`]):
/// times in nanoseconds.
pub struct QuerySource<'a> {
    db: &'a dyn Db,
    tenant: &'a Tenant,
    /// The database the channels are series of.
    model_database: &'a str,
    /// Whether general series are listed in the model's database too.
    model_general: bool,
    /// The type of each general field the engine was told of (by its negated key).
    types: HashMap<i64, FieldType>,
}

impl<'a> QuerySource<'a> {
    pub fn new(db: &'a dyn Db, tenant: &'a Tenant, model_database: &'a str) -> Self {
        QuerySource {
            db,
            tenant,
            model_database,
            model_general: true,
            types: HashMap::new(),
        }
    }

    /// Whether the model's database holds general series (it lists them by default): `false`
    /// spares a statement on every query of the channels, where they are the most common.
    pub fn model_general(mut self, has: bool) -> Self {
        self.model_general = has;
        self
    }

    /// The values of a general field (`key` as the engine names it, negative).
    fn general_values(
        &self,
        key: i64,
        range: query::TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, FieldData)>, query::SourceError> {
        let ty = self.types.get(&key).copied().unwrap_or(FieldType::Float);
        general::values(self.db, self.tenant, -key, ty, range, desc, limit).map_err(source_error)
    }

    /// The general series of `database` (of these measurements), their fields' types noted.
    fn general_series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, query::SourceError> {
        let general = general::list_series(self.db, self.tenant, database, measurements)
            .map_err(source_error)?;
        Ok(general
            .into_iter()
            .map(|s| SeriesMeta {
                measurement: s.measurement,
                tags: s.tags,
                fields: s
                    .fields
                    .into_iter()
                    .map(|(name, ty, key)| {
                        self.types.insert(-key, ty);
                        FieldMeta {
                            name,
                            ty,
                            key: -key,
                        }
                    })
                    .collect(),
            })
            .collect())
    }

    fn channel(&self, key: i64) -> ChannelRef {
        // Every query below also checks that the channel belongs to the tenant.
        ChannelRef {
            org_key: self.tenant.key,
            key,
        }
    }
}

/// The millisecond range `[from, to)` holding the nanosecond range `[min, max]`, or `None`
/// when no stored time falls inside it.
fn ms_range(range: query::TimeRange) -> Option<(Timestamp, Timestamp)> {
    let from = range.min.div_euclid(NS_PER_MS) + i64::from(range.min.rem_euclid(NS_PER_MS) != 0);
    let to = range.max.div_euclid(NS_PER_MS).saturating_add(1);
    // Stored times lie in Timestamp::MIN..=MAX; `to` may be one past MAX (exclusive).
    let from = from.max(Timestamp::MIN.as_millis());
    let last = (to - 1).min(Timestamp::MAX.as_millis());
    if from > last {
        return None;
    }
    let from = Timestamp::from_millis(from).ok()?;
    let last = Timestamp::from_millis(last).ok()?;
    Some((from, last))
}

/// Channels as InfluxQL's series: one series per measurement and tag set, a field per channel
/// (`value`, or the field a `/write` line wrote the channel as).
fn channel_series(rows: Vec<SeriesInfo>) -> Vec<SeriesMeta> {
    type Key = (String, Vec<(String, String)>);
    let mut series: BTreeMap<Key, Vec<FieldMeta>> = BTreeMap::new();
    for s in rows {
        let (measurement, field) = s.influx_name();
        let (measurement, field) = (measurement.to_owned(), field.to_owned());
        let tags = match s.written_tags {
            Some(tags) => tags,
            None => {
                // Sorted by key; empty values are absent tags, as in InfluxDB.
                let mut tags = vec![("device".to_owned(), s.device)];
                if let Some(n) = s.network_id.filter(|n| !n.is_empty()) {
                    tags.push(("network_id".to_owned(), n));
                }
                tags.push(("sensor".to_owned(), s.sensor));
                if !s.unit.is_empty() {
                    tags.push(("unit".to_owned(), s.unit));
                }
                tags.push(("uuid".to_owned(), s.uuid.to_string()));
                tags
            }
        };
        series
            .entry((measurement, tags))
            .or_default()
            .push(FieldMeta {
                name: field,
                ty: FieldType::Float,
                key: s.channel.key,
            });
    }
    series
        .into_iter()
        .map(|((measurement, tags), mut fields)| {
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            SeriesMeta {
                measurement,
                tags,
                fields,
            }
        })
        .collect()
}

fn source_error(e: crate::error::Error) -> query::SourceError {
    query::SourceError(e.to_string())
}

impl query::Source for QuerySource<'_> {
    fn series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, query::SourceError> {
        let mut out = Vec::new();
        if database == self.model_database {
            let filter = SeriesFilter {
                uuids: None,
                measurements,
                influx_names: true,
            };
            let rows = list_series(self.db, self.tenant, filter).map_err(source_error)?;
            out.extend(channel_series(rows));
        }
        if database == self.model_database && !self.model_general {
            return Ok(out);
        }
        out.extend(self.general_series(database, measurements)?);
        Ok(out)
    }

    /// The channels of the devices a `uuid` hint names, where every channel of the
    /// measurements has the one field `value` and they have no general series (a tag `uuid` of
    /// a channel is its device's, as written or not; [`device_series`] checks the rest in the
    /// same statement); else every series.
    fn series_matching(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
        tags: &[query::TagValues],
    ) -> Result<Vec<SeriesMeta>, query::SourceError> {
        let hint = tags.iter().find(|t| t.key == "uuid");
        if let (true, Some(hint), Some(names)) =
            (database == self.model_database, hint, measurements)
        {
            // A value that is no UUID is no device's: its series fail the condition.
            let uuids: Vec<Uuid> = hint
                .values
                .iter()
                .filter_map(|v| Uuid::parse(v).ok())
                .collect();
            if let Some(rows) = device_series(self.db, self.tenant, database, &uuids, names)
                .map_err(source_error)?
            {
                return Ok(channel_series(rows));
            }
        }
        self.series_in(database, rp, measurements)
    }

    fn values(
        &mut self,
        key: i64,
        range: query::TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, FieldData)>, query::SourceError> {
        if key < 0 {
            return self.general_values(key, range, desc, limit);
        }
        Ok(self
            .points(key, range, desc, limit)?
            .into_iter()
            .map(|(t, v)| (t, FieldData::Float(v)))
            .collect())
    }

    fn points(
        &mut self,
        key: i64,
        range: query::TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, query::SourceError> {
        if key < 0 {
            return Ok(float_values(self.general_values(key, range, desc, limit)?));
        }
        let Some((from, last)) = ms_range(range) else {
            return Ok(Vec::new());
        };
        let order = if desc {
            Order::NewestFirst
        } else {
            Order::OldestFirst
        };
        let points = points_between(
            self.db,
            self.tenant,
            self.channel(key),
            from,
            last,
            order,
            limit,
        )
        .map_err(source_error)?;
        Ok(points
            .into_iter()
            .map(|(ms, v)| (ms.saturating_mul(NS_PER_MS), v))
            .collect())
    }

    fn edge_points(
        &mut self,
        keys: &[i64],
        range: query::TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, query::SourceError> {
        let mut found: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
        let channels: Vec<i64> = keys.iter().copied().filter(|&k| k >= 0).collect();
        if let (false, Some((from, last))) = (channels.is_empty(), ms_range(range)) {
            let order = if desc {
                Order::NewestFirst
            } else {
                Order::OldestFirst
            };
            found.extend(
                edge_points_between(self.db, self.tenant, &channels, from, last, order)
                    .map_err(source_error)?
                    .into_iter()
                    .map(|(key, ms, v)| (key, (ms.saturating_mul(NS_PER_MS), v))),
            );
        }
        for &k in keys.iter().filter(|&&k| k < 0) {
            if let Some(p) = self.points(k, range, desc, Some(1))?.first() {
                found.insert(k, *p);
            }
        }
        Ok(keys.iter().map(|k| found.get(k).copied()).collect())
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: query::TimeRange,
    ) -> Result<Option<query::IntervalStats>, query::SourceError> {
        if key < 0 {
            return Ok(None);
        }
        let none = query::IntervalStats {
            start: 0,
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
        };
        let Some((from, last)) = ms_range(range) else {
            return Ok(Some(none));
        };
        let stats = interval_summaries(
            self.db,
            self.tenant,
            self.channel(key),
            from,
            last,
            from.as_millis(),
            (last.as_millis() - from.as_millis()).saturating_add(1),
        )
        .map_err(source_error)?;
        Ok(Some(stats.first().map_or(none, |s| query::IntervalStats {
            start: 0,
            count: s.count,
            sum: s.sum,
            min: s.min,
            max: s.max,
        })))
    }

    fn extreme(
        &mut self,
        key: i64,
        range: query::TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, query::SourceError> {
        if key < 0 {
            let points = self.points(key, range, false, None)?;
            return Ok(extreme_of(&points, largest));
        }
        let Some((from, last)) = ms_range(range) else {
            return Ok(None);
        };
        let point = extreme_point(self.db, self.tenant, self.channel(key), from, last, largest)
            .map_err(source_error)?;
        Ok(point.map(|(ms, v)| (ms.saturating_mul(NS_PER_MS), v)))
    }

    fn interval_stats(
        &mut self,
        key: i64,
        range: query::TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<query::IntervalStats>>, query::SourceError> {
        if key < 0 || base % NS_PER_MS != 0 || interval % NS_PER_MS != 0 {
            return Ok(None);
        }
        let Some((from, last)) = ms_range(range) else {
            return Ok(Some(Vec::new()));
        };
        let stats = interval_summaries(
            self.db,
            self.tenant,
            self.channel(key),
            from,
            last,
            (base / NS_PER_MS).min(from.as_millis()),
            interval / NS_PER_MS,
        )
        .map_err(source_error)?;
        Ok(Some(
            stats
                .into_iter()
                .map(|s| query::IntervalStats {
                    start: s.start_ms.saturating_mul(NS_PER_MS),
                    count: s.count,
                    sum: s.sum,
                    min: s.min,
                    max: s.max,
                })
                .collect(),
        ))
    }
}

/// A float field's values as the engine's float points.
fn float_values(values: Vec<(i64, FieldData)>) -> Vec<(i64, f64)> {
    values
        .into_iter()
        .filter_map(|(t, v)| match v {
            FieldData::Float(f) => Some((t, f)),
            _ => None,
        })
        .collect()
}

/// The point with the largest (or smallest) value, the earliest of equal ones.
fn extreme_of(points: &[(i64, f64)], largest: bool) -> Option<(i64, f64)> {
    let mut best: Option<(i64, f64)> = None;
    for &p in points {
        let better = match best {
            None => true,
            Some(b) if largest => p.1 > b.1,
            Some(b) => p.1 < b.1,
        };
        if better {
            best = Some(p);
        }
    }
    best
}
