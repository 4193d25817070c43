//! Hexastate's notification topics and do-not-disturb periods, pure and tested here.
//!
//! - A member subscribes to a **topic**: the whole organization, one device or one channel, and
//!   one or more kinds (an alarm, back to normal, a reminder), with or without e-mail.
//!   [`recipients`] answers who gets an alert (in-app) and who also by e-mail.
//! - A member's **do-not-disturb** periods ([`QuietHours`]): a daily window (in the member's or
//!   the organization's time zone, possibly across midnight) and one-off ranges.
//!   [`QuietHours::quiet_until`] says whether an e-mail at a moment is held, and until when
//!   (the end of the period, chained through periods that overlap or touch it).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::notify::MailKind;
use crate::time::Timestamp;

/// What a subscription covers (internal keys, resolved from public ids by storage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Organization,
    Device(i64),
    Channel(i64),
}

/// A set of [`MailKind`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Kinds(u8);

impl Kinds {
    pub const ALL: Kinds = Kinds(0b111);

    fn bit(kind: MailKind) -> u8 {
        match kind {
            MailKind::Alarm => 1,
            MailKind::BackToNormal => 2,
            MailKind::Reminder => 4,
        }
    }

    pub fn contains(self, kind: MailKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// From names (`alarm`, `normal`, `reminder`); at least one, each known.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Kinds, ParseError> {
        let mut bits = 0;
        for n in names {
            bits |= match n.as_ref() {
                "alarm" => 1,
                "normal" => 2,
                "reminder" => 4,
                other => {
                    return Err(ParseError::new(
                        "kinds",
                        format!("{other:?} is not one of alarm, normal, reminder"),
                    ))
                }
            };
        }
        if bits == 0 {
            return Err(ParseError::new("kinds", "at least one kind"));
        }
        Ok(Kinds(bits))
    }

    pub fn names(self) -> Vec<&'static str> {
        [MailKind::Alarm, MailKind::BackToNormal, MailKind::Reminder]
            .into_iter()
            .filter(|k| self.contains(*k))
            .map(MailKind::as_str)
            .collect()
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    /// From stored bits (unknown bits dropped).
    pub fn from_bits(bits: u8) -> Kinds {
        Kinds(bits & Self::ALL.0)
    }
}

/// One member's subscription to a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicSubscription {
    pub user_key: i64,
    pub scope: Scope,
    pub kinds: Kinds,
    /// Whether the alert also goes to the member's e-mail address (in-app always).
    pub email: bool,
}

impl TopicSubscription {
    /// Whether an alert of `kind` about the channel `channel_key` of the device `device_key`
    /// is in this topic.
    pub fn matches(&self, device_key: i64, channel_key: i64, kind: MailKind) -> bool {
        let in_scope = match self.scope {
            Scope::Organization => true,
            Scope::Device(d) => d == device_key,
            Scope::Channel(c) => c == channel_key,
        };
        in_scope && self.kinds.contains(kind)
    }
}

/// The members an alert goes to, by user key, each with whether by e-mail too (one matching
/// subscription with e-mail is enough); each member once, in key order.
pub fn recipients(
    subscriptions: &[TopicSubscription],
    device_key: i64,
    channel_key: i64,
    kind: MailKind,
) -> Vec<(i64, bool)> {
    let mut out: BTreeMap<i64, bool> = BTreeMap::new();
    for s in subscriptions
        .iter()
        .filter(|s| s.matches(device_key, channel_key, kind))
    {
        *out.entry(s.user_key).or_default() |= s.email;
    }
    out.into_iter().collect()
}

/// A time of day, minutes after midnight, written `HH:MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub fn parse(field: &'static str, s: &str) -> Result<TimeOfDay, ParseError> {
        let bad = || ParseError::new(field, format!("{s:?} is not a time HH:MM (00:00-23:59)"));
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(TimeOfDay(h * 60 + m))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    fn naive(self) -> NaiveTime {
        NaiveTime::from_hms_opt(u32::from(self.0 / 60), u32::from(self.0 % 60), 0)
            .unwrap_or_default()
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeOfDay::parse("time", &s).map_err(serde::de::Error::custom)
    }
}

/// A daily window from `from` to `to` (local time); `to` before `from` crosses midnight; equal
/// is refused (it would be all day or nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daily {
    pub from: TimeOfDay,
    pub to: TimeOfDay,
}

/// A one-off period `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// At most this many one-off periods per member.
pub const MAX_PERIODS: usize = 50;

/// A member's do-not-disturb periods (stored as JSON, answered by the admin API as is).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHours {
    #[serde(default)]
    pub daily: Option<Daily>,
    /// The daily window's time zone (IANA); `None`: the organization's.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub periods: Vec<Period>,
}

impl QuietHours {
    /// Checks what JSON cannot: a known time zone, a daily window that is not empty, periods
    /// that end after they start, not too many.
    pub fn validate(&self) -> Result<(), ParseError> {
        if let Some(tz) = &self.time_zone {
            tz.parse::<chrono_tz::Tz>().map_err(|_| {
                ParseError::new("timeZone", format!("{tz:?} is not an IANA time zone"))
            })?;
        }
        if let Some(d) = self.daily {
            if d.from == d.to {
                return Err(ParseError::new(
                    "daily",
                    "from and to must differ (a window of 0 or 24 hours)",
                ));
            }
        }
        if self.periods.len() > MAX_PERIODS {
            return Err(ParseError::new(
                "periods",
                format!("at most {MAX_PERIODS} periods"),
            ));
        }
        if let Some(p) = self.periods.iter().find(|p| p.to <= p.from) {
            return Err(ParseError::new(
                "periods",
                format!(
                    "a period must end after it starts ({} to {})",
                    p.from.as_millis(),
                    p.to.as_millis()
                ),
            ));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.daily.is_none() && self.periods.is_empty()
    }

    /// When the member is in a do-not-disturb period at `now`: its end (chained through
    /// periods that overlap or touch it). `org_zone`: the organization's time zone, for a
    /// daily window without its own.
    pub fn quiet_until(&self, now: Timestamp, org_zone: &str) -> Option<Timestamp> {
        let mut end = self.period_end(now, org_zone)?;
        // Chained periods (a one-off range up to the daily window, ...); bounded.
        for _ in 0..(MAX_PERIODS + 4) {
            match self.period_end(end, org_zone) {
                Some(next) if next > end => end = next,
                _ => break,
            }
        }
        Some(end)
    }

    /// The end of the period (daily or one-off) that covers `at`, the latest if several.
    fn period_end(&self, at: Timestamp, org_zone: &str) -> Option<Timestamp> {
        let one_off = self
            .periods
            .iter()
            .filter(|p| p.from <= at && at < p.to)
            .map(|p| p.to)
            .max();
        let daily = self
            .daily
            .and_then(|d| daily_end(d, at, self.time_zone.as_deref().unwrap_or(org_zone)));
        one_off.max(daily)
    }
}

/// The end of the daily window covering `at` in the zone `zone` (UTC when unknown).
fn daily_end(d: Daily, at: Timestamp, zone: &str) -> Option<Timestamp> {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let local = DateTime::<Utc>::from_timestamp_millis(at.as_millis())?.with_timezone(&tz);
    let date = local.date_naive();
    let minute = local.time().format("%H:%M").to_string();
    let now = TimeOfDay::parse("time", &minute).ok()?;
    let end_date = if d.from < d.to {
        (d.from <= now && now < d.to).then_some(date)?
    } else if now >= d.from {
        date.succ_opt()?
    } else if now < d.to {
        date
    } else {
        return None;
    };
    local_moment(&tz, end_date, d.to)
}

/// The first instant at `time` on `date` in `tz`; a time skipped by a clock change is taken as
/// the first instant after the gap.
fn local_moment(tz: &chrono_tz::Tz, date: NaiveDate, time: TimeOfDay) -> Option<Timestamp> {
    let naive = date.and_time(time.naive());
    for shift in 0..=4 {
        let candidate = naive + Duration::minutes(30 * shift);
        if let Some(dt) = tz.from_local_datetime(&candidate).earliest() {
            return Timestamp::from_millis(dt.timestamp_millis()).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rfc3339: &str) -> Timestamp {
        Timestamp::from_millis(
            DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .timestamp_millis(),
        )
        .unwrap()
    }

    fn daily(from: &str, to: &str) -> QuietHours {
        QuietHours {
            daily: Some(Daily {
                from: TimeOfDay::parse("from", from).unwrap(),
                to: TimeOfDay::parse("to", to).unwrap(),
            }),
            ..QuietHours::default()
        }
    }

    fn sub(user: i64, scope: Scope, kinds: &[&str], email: bool) -> TopicSubscription {
        TopicSubscription {
            user_key: user,
            scope,
            kinds: Kinds::parse(kinds).unwrap(),
            email,
        }
    }

    #[test]
    fn subscriptions_match_by_scope_and_kind() {
        let subs = [
            sub(1, Scope::Organization, &["alarm"], true),
            sub(2, Scope::Device(10), &["alarm", "normal"], false),
            sub(3, Scope::Channel(100), &["reminder"], true),
            sub(4, Scope::Channel(101), &["alarm"], true),
            // user 2 again, with e-mail, on the channel: e-mail wins
            sub(2, Scope::Channel(100), &["alarm"], true),
        ];
        assert_eq!(
            recipients(&subs, 10, 100, MailKind::Alarm),
            vec![(1, true), (2, true)]
        );
        assert_eq!(
            recipients(&subs, 10, 100, MailKind::BackToNormal),
            vec![(2, false)]
        );
        assert_eq!(
            recipients(&subs, 10, 100, MailKind::Reminder),
            vec![(3, true)]
        );
        // another device's channel: only the organization-wide subscription
        assert_eq!(
            recipients(&subs, 11, 101, MailKind::Alarm),
            vec![(1, true), (4, true)]
        );
        assert_eq!(recipients(&subs, 11, 102, MailKind::Reminder), vec![]);
        assert_eq!(recipients(&[], 10, 100, MailKind::Alarm), vec![]);
    }

    #[test]
    fn kinds_parse_and_name() {
        assert_eq!(
            Kinds::parse(&["normal", "alarm"]).unwrap().names(),
            ["alarm", "normal"]
        );
        assert!(Kinds::parse::<&str>(&[]).is_err());
        assert!(Kinds::parse(&["digest"]).is_err());
        assert_eq!(Kinds::from_bits(Kinds::ALL.bits()), Kinds::ALL);
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(TimeOfDay::parse("t", "07:05").unwrap().minutes(), 425);
        for bad in ["7:05", "24:00", "12:60", "12-00", "", "ab:cd"] {
            assert!(TimeOfDay::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_daily_window_across_midnight_in_utc() {
        let q = daily("22:00", "07:00");
        assert_eq!(q.quiet_until(ts("2026-03-10T21:59:59Z"), "UTC"), None);
        assert_eq!(
            q.quiet_until(ts("2026-03-10T22:00:00Z"), "UTC"),
            Some(ts("2026-03-11T07:00:00Z"))
        );
        assert_eq!(
            q.quiet_until(ts("2026-03-11T03:00:00Z"), "UTC"),
            Some(ts("2026-03-11T07:00:00Z"))
        );
        assert_eq!(q.quiet_until(ts("2026-03-11T07:00:00Z"), "UTC"), None);
        assert_eq!(q.quiet_until(ts("2026-03-11T12:00:00Z"), "UTC"), None);
    }

    #[test]
    fn a_daily_window_within_a_day() {
        let q = daily("12:00", "13:30");
        assert_eq!(
            q.quiet_until(ts("2026-03-10T12:10:00Z"), "UTC"),
            Some(ts("2026-03-10T13:30:00Z"))
        );
        assert_eq!(q.quiet_until(ts("2026-03-10T11:59:00Z"), "UTC"), None);
        assert_eq!(q.quiet_until(ts("2026-03-10T23:00:00Z"), "UTC"), None);
    }

    #[test]
    fn the_window_is_in_the_members_zone_else_the_organizations() {
        // 22:00-07:00 in Rome (UTC+1 in winter): 21:00-06:00 UTC.
        let mut q = daily("22:00", "07:00");
        assert_eq!(
            q.quiet_until(ts("2026-01-15T21:30:00Z"), "Europe/Rome"),
            Some(ts("2026-01-16T06:00:00Z"))
        );
        assert_eq!(q.quiet_until(ts("2026-01-15T21:30:00Z"), "UTC"), None);
        // The member's own zone wins over the organization's: New York (UTC-5).
        q.time_zone = Some("America/New_York".into());
        assert_eq!(
            q.quiet_until(ts("2026-01-16T03:30:00Z"), "Europe/Rome"),
            Some(ts("2026-01-16T12:00:00Z"))
        );
        assert_eq!(
            q.quiet_until(ts("2026-01-15T21:30:00Z"), "Europe/Rome"),
            None
        );
        // Summer time (UTC+2 in Rome): the same local window, an hour earlier in UTC.
        let q = daily("22:00", "07:00");
        assert_eq!(
            q.quiet_until(ts("2026-07-15T20:30:00Z"), "Europe/Rome"),
            Some(ts("2026-07-16T05:00:00Z"))
        );
        // The night the clocks go forward (29 March 2026 in Rome): 07:00 is UTC+2.
        assert_eq!(
            q.quiet_until(ts("2026-03-28T22:00:00Z"), "Europe/Rome"),
            Some(ts("2026-03-29T05:00:00Z"))
        );
    }

    #[test]
    fn one_off_periods_and_chaining() {
        let mut q = QuietHours {
            periods: vec![Period {
                from: ts("2026-03-10T10:00:00Z"),
                to: ts("2026-03-10T22:30:00Z"),
            }],
            ..QuietHours::default()
        };
        assert_eq!(q.quiet_until(ts("2026-03-10T09:59:59Z"), "UTC"), None);
        assert_eq!(
            q.quiet_until(ts("2026-03-10T10:00:00Z"), "UTC"),
            Some(ts("2026-03-10T22:30:00Z"))
        );
        assert_eq!(q.quiet_until(ts("2026-03-10T22:30:00Z"), "UTC"), None);
        // With a daily window from 22:00 the period runs on into it: one end, next morning.
        q.daily = daily("22:00", "07:00").daily;
        assert_eq!(
            q.quiet_until(ts("2026-03-10T15:00:00Z"), "UTC"),
            Some(ts("2026-03-11T07:00:00Z"))
        );
    }

    #[test]
    fn validation() {
        assert!(daily("22:00", "07:00").validate().is_ok());
        assert!(daily("07:00", "07:00").validate().is_err());
        let mut q = daily("22:00", "07:00");
        q.time_zone = Some("Mars/Olympus".into());
        assert!(q.validate().is_err());
        let q = QuietHours {
            periods: vec![Period {
                from: ts("2026-03-10T10:00:00Z"),
                to: ts("2026-03-10T10:00:00Z"),
            }],
            ..QuietHours::default()
        };
        assert!(q.validate().is_err());
        let json =
            r#"{"daily":{"from":"22:00","to":"07:00"},"timeZone":"Europe/Rome","periods":[]}"#;
        let q: QuietHours = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), json);
        assert!(
            serde_json::from_str::<QuietHours>(r#"{"daily":{"from":"25:00","to":"07:00"}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<QuietHours>(r#"{"nightly":null}"#).is_err());
    }
}
