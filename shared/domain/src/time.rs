//! Time: milliseconds since the Unix epoch, UTC, as every ingestion API sends it.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::ParseError;

/// A point in time in milliseconds since 1970-01-01T00:00:00Z, from the epoch to the end of
/// year 9999 (so that it always has an RFC 3339 form and never goes negative).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(0);
    /// 9999-12-31T23:59:59.999Z
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);
    pub const HOUR_MS: i64 = 3_600_000;

    /// The current time from the system clock (WASI `wall-clock` in a component).
    pub fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(ms.clamp(Self::MIN.0, Self::MAX.0))
    }

    /// The current time as [`Timestamp::now`] reads it and, from the same reading, in
    /// nanoseconds since the epoch: what InfluxDB stamps a line written without a time with.
    pub fn now_with_ns() -> (Timestamp, i64) {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let ms = ns.div_euclid(1_000_000);
        (Timestamp(ms.clamp(Self::MIN.0, Self::MAX.0)), ns)
    }

    pub fn from_millis(ms: i64) -> Result<Timestamp, ParseError> {
        if (Self::MIN.0..=Self::MAX.0).contains(&ms) {
            Ok(Timestamp(ms))
        } else {
            Err(ParseError::new(
                "timestamp",
                format!(
                    "{ms} is outside 0 (1970) ..= {} (year 9999) milliseconds",
                    Self::MAX.0
                ),
            ))
        }
    }

    /// From seconds since the epoch (AlphaX `fcdt`/`tcdt`, JWT `exp`).
    pub fn from_secs(secs: i64) -> Result<Timestamp, ParseError> {
        secs.checked_mul(1000)
            .ok_or_else(|| ParseError::new("timestamp", format!("{secs} seconds is out of range")))
            .and_then(Timestamp::from_millis)
    }

    /// Parses RFC 3339 (`2020-07-21T11:43:05Z`, `2017-04-20T00:00:00.000+02:00`); sub-millisecond
    /// digits are truncated.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, ParseError> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|e| {
            ParseError::new(
                "timestamp",
                format!("{s:?} is not an RFC 3339 date-time such as 2020-07-21T11:43:05Z: {e}"),
            )
        })?;
        Timestamp::from_millis(dt.timestamp_millis())
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded down.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The start of the UTC hour holding this instant (the key of an hourly rollup).
    pub fn hour_start(self) -> Timestamp {
        Timestamp(self.0 - self.0.rem_euclid(Self::HOUR_MS))
    }

    /// Adds (or with a negative argument subtracts) milliseconds, saturating at the bounds.
    pub fn add_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms).clamp(Self::MIN.0, Self::MAX.0))
    }

    pub fn add_secs(self, secs: i64) -> Timestamp {
        self.add_millis(secs.saturating_mul(1000))
    }

    /// RFC 3339 in UTC with `Z`, with milliseconds only when there are any
    /// (`2020-07-21T11:43:05Z`, `2020-07-21T11:43:05.250Z`), as Proficloud and InfluxDB answer.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .map(|dt| dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    }

    /// The start of the UTC day holding this instant (the key of a per-day quota).
    pub fn day_start(self) -> Timestamp {
        const DAY_MS: i64 = 24 * Timestamp::HOUR_MS;
        Timestamp(self.0 - self.0.rem_euclid(DAY_MS))
    }

    /// The date in UTC, `2020-07-21`.
    pub fn utc_date(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .map(|dt| dt.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }

    /// For people: `2020-07-21 13:43:05 CEST (Europe/Rome)` in the IANA zone `zone`, or in UTC
    /// (`2020-07-21 11:43:05 UTC`) when the zone is unknown or UTC.
    pub fn display_in_zone(self, zone: &str) -> String {
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(self.0) else {
            return String::new();
        };
        match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) if tz != chrono_tz::UTC => format!(
                "{} ({zone})",
                utc.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z")
            ),
            _ => utc.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({} = {})", self.0, self.to_rfc3339())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Timestamp::parse_rfc3339(s)
    }
}

/// In JSON a timestamp is its number of milliseconds, as the ingestion APIs send it.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ms = i64::deserialize(deserializer)?;
        Timestamp::from_millis(ms).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(Timestamp::from_millis(-1).is_err());
        assert!(Timestamp::from_millis(0).is_ok());
        assert!(Timestamp::from_millis(Timestamp::MAX.as_millis() + 1).is_err());
        assert!(Timestamp::from_secs(i64::MAX).is_err());
        assert_eq!(
            Timestamp::from_secs(1_539_792_000).unwrap().as_millis(),
            1_539_792_000_000
        );
        assert!(Timestamp::now() > Timestamp::from_secs(1_700_000_000).unwrap());
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::from_millis(1_660_962_091_000).unwrap();
        assert_eq!(t.to_string(), "2022-08-20T02:21:31Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        let t = Timestamp::from_millis(1_660_962_091_250).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-08-20T02:21:31.250Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        assert_eq!(
            Timestamp::parse_rfc3339("2020-07-21T13:01:30+02:00").unwrap(),
            Timestamp::parse_rfc3339("2020-07-21T11:01:30Z").unwrap()
        );
        assert_eq!(Timestamp::MAX.to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert!(Timestamp::parse_rfc3339("2020-07-21 11:43").is_err());
        assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn hours_and_arithmetic() {
        let t = Timestamp::parse_rfc3339("2020-07-21T11:43:05.123Z").unwrap();
        assert_eq!(t.hour_start().to_string(), "2020-07-21T11:00:00Z");
        assert_eq!(t.hour_start().hour_start(), t.hour_start());
        assert_eq!(t.add_secs(60).as_millis() - t.as_millis(), 60_000);
        assert_eq!(Timestamp::MIN.add_millis(-5), Timestamp::MIN);
        assert_eq!(t.as_secs(), 1_595_331_785);
    }

    #[test]
    fn days_and_zones() {
        let t = Timestamp::parse_rfc3339("2020-07-21T23:43:05.123Z").unwrap();
        assert_eq!(t.day_start().to_string(), "2020-07-21T00:00:00Z");
        assert_eq!(t.utc_date(), "2020-07-21");
        assert_eq!(t.display_in_zone("UTC"), "2020-07-21 23:43:05 UTC");
        assert_eq!(
            t.display_in_zone("Europe/Rome"),
            "2020-07-22 01:43:05 CEST (Europe/Rome)"
        );
        assert_eq!(t.display_in_zone("Not/AZone"), "2020-07-21 23:43:05 UTC");
    }

    #[test]
    fn json_is_milliseconds() {
        let t = Timestamp::from_millis(1_660_962_091_000).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "1660962091000");
        assert_eq!(
            serde_json::from_str::<Timestamp>("1660962091000").unwrap(),
            t
        );
        assert!(serde_json::from_str::<Timestamp>("-1").is_err());
    }
}
