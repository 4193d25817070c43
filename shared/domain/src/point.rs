//! Measurements and their hourly rollups.

use serde::{Deserialize, Serialize};

use crate::channel::Grouping;
use crate::error::ParseError;
use crate::time::Timestamp;

/// The most points one request may write; larger bodies are refused with 413 by the APIs.
pub const MAX_POINTS_PER_BATCH: usize = 10_000;

/// One measurement of a channel: a time and a finite value. Keyed by (channel, time): a second
/// point at the same time replaces the first.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PointRepr")]
pub struct Point {
    ts: Timestamp,
    value: f64,
}

#[derive(Deserialize)]
struct PointRepr {
    ts: Timestamp,
    value: f64,
}

impl TryFrom<PointRepr> for Point {
    type Error = ParseError;
    fn try_from(r: PointRepr) -> Result<Self, ParseError> {
        Point::new(r.ts, r.value)
    }
}

impl Point {
    pub fn new(ts: Timestamp, value: f64) -> Result<Self, ParseError> {
        if value.is_finite() {
            Ok(Point { ts, value })
        } else {
            Err(ParseError::new(
                "value",
                format!("{value} is not a finite number"),
            ))
        }
    }

    pub fn ts(&self) -> Timestamp {
        self.ts
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

/// The points of one channel in one UTC hour, summarized (Sensorbis aggregated data).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourlyRollup {
    /// Start of the hour.
    pub hour: Timestamp,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl HourlyRollup {
    /// The rollup of a single point.
    pub fn of(point: Point) -> Self {
        HourlyRollup {
            hour: point.ts.hour_start(),
            count: 1,
            sum: point.value,
            min: point.value,
            max: point.value,
        }
    }

    /// Adds a value of the same hour.
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Combines two rollups of the same hour (e.g. partial ones).
    pub fn merge(&mut self, other: &HourlyRollup) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn average(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The single value a chart shows for this hour: the sum or the mean, per the channel.
    pub fn grouped(&self, grouping: Grouping) -> f64 {
        match grouping {
            Grouping::Sum => self.sum,
            Grouping::Mean => self.average(),
        }
    }
}

/// Rolls points (in any order) up into hours, sorted by hour.
pub fn rollup_points(points: impl IntoIterator<Item = Point>) -> Vec<HourlyRollup> {
    let mut hours: std::collections::BTreeMap<Timestamp, HourlyRollup> = Default::default();
    for p in points {
        hours
            .entry(p.ts.hour_start())
            .and_modify(|r| r.add(p.value))
            .or_insert_with(|| HourlyRollup::of(p));
    }
    hours.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ms: i64, v: f64) -> Point {
        Point::new(Timestamp::from_millis(ms).unwrap(), v).unwrap()
    }

    #[test]
    fn points_are_finite() {
        let ts = Timestamp::from_millis(0).unwrap();
        assert!(Point::new(ts, f64::NAN).is_err());
        assert!(Point::new(ts, f64::NEG_INFINITY).is_err());
        assert!(serde_json::from_str::<Point>(r#"{"ts":5,"value":1.5}"#).is_ok());
        assert!(serde_json::from_str::<Point>(r#"{"ts":-5,"value":1.5}"#).is_err());
    }

    #[test]
    fn rollups() {
        let h = Timestamp::HOUR_MS;
        let r = rollup_points([p(h + 5, 4.0), p(10, 1.0), p(h + 1, 2.0), p(20, 3.0)]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].hour.as_millis(), 0);
        assert_eq!(
            (r[0].count, r[0].sum, r[0].min, r[0].max),
            (2, 4.0, 1.0, 3.0)
        );
        assert_eq!(r[0].average(), 2.0);
        assert_eq!(r[1].hour.as_millis(), h);
        assert_eq!(r[1].grouped(Grouping::Sum), 6.0);
        assert_eq!(r[1].grouped(Grouping::Mean), 3.0);
        let mut a = r[0];
        a.merge(&r[1]);
        assert_eq!((a.count, a.min, a.max), (4, 1.0, 4.0));
    }
}
