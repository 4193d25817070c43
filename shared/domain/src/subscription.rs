//! Subscriptions: what an organization may use (Sensorbis subscription limits, AlphaX tiers).

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::time::Timestamp;

/// AlphaX Conduit tier: sets the read and write rate limits of a Conduit token. Ordered from
/// Basic to Enterprise, so that a token's tier can be checked against the subscription's.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ConduitTier {
    #[default]
    Basic,
    Premium,
    Enterprise,
}

impl ConduitTier {
    /// The most records one Conduit read returns.
    pub const RECORD_LIMIT: usize = 1000;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "basic" => Ok(ConduitTier::Basic),
            "premium" => Ok(ConduitTier::Premium),
            "enterprise" => Ok(ConduitTier::Enterprise),
            _ => Err(ParseError::new(
                "tier",
                format!("{s:?} is not one of basic, premium, enterprise"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConduitTier::Basic => "basic",
            ConduitTier::Premium => "premium",
            ConduitTier::Enterprise => "enterprise",
        }
    }
}

/// An organization's limits. Checked by [`Subscription::validate`], which storage calls before
/// every write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Points accepted per UTC hour, all devices together.
    pub points_per_hour: u64,
    /// Days raw points are kept.
    pub detailed_retention_days: u32,
    /// Days hourly rollups are kept (at least as long as raw points).
    pub aggregated_retention_days: u32,
    /// Members of the organization, administrators included.
    pub max_users: u32,
    /// Threshold notification e-mails per UTC day.
    pub notification_emails_per_day: u32,
    pub conduit_tier: ConduitTier,
    /// End of the contract; `None` runs until changed.
    pub expires_at: Option<Timestamp>,
}

impl Default for Subscription {
    /// What a new organization gets: 100 points a second, 90 days raw, 2 years aggregated.
    fn default() -> Self {
        Subscription {
            points_per_hour: 360_000,
            detailed_retention_days: 90,
            aggregated_retention_days: 730,
            max_users: 10,
            notification_emails_per_day: 100,
            conduit_tier: ConduitTier::Basic,
            expires_at: None,
        }
    }
}

impl Subscription {
    pub fn validate(&self) -> Result<(), ParseError> {
        const WHAT: &str = "subscription";
        if self.points_per_hour == 0 || self.points_per_hour > i64::MAX as u64 {
            return Err(ParseError::new(WHAT, "pointsPerHour must be at least 1"));
        }
        if self.detailed_retention_days == 0 {
            return Err(ParseError::new(
                WHAT,
                "detailedRetentionDays must be at least 1",
            ));
        }
        if self.aggregated_retention_days < self.detailed_retention_days {
            return Err(ParseError::new(
                WHAT,
                format!(
                    "aggregatedRetentionDays ({}) must be at least detailedRetentionDays ({})",
                    self.aggregated_retention_days, self.detailed_retention_days
                ),
            ));
        }
        if self.max_users == 0 {
            return Err(ParseError::new(WHAT, "maxUsers must be at least 1"));
        }
        Ok(())
    }

    /// Whether the subscription is in force at `now` (Sensorbis error 30 when not).
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }

    /// A Sensorbis month: always 31 days.
    pub const MONTH_SECS: i64 = 31 * 86_400;

    /// The most months one renewal may add (ten years).
    pub const MAX_MONTHS: u32 = 120;

    /// Renewed for `months` months of 31 days, with `limits`' limits (which may be anything
    /// valid: a renewal is a new contract). The new period starts when the current one ends if
    /// it is still running (renewing early loses nothing), else now.
    pub fn renewed(
        &self,
        limits: &Subscription,
        months: u32,
        now: Timestamp,
    ) -> Result<Self, ParseError> {
        if months == 0 || months > Self::MAX_MONTHS {
            return Err(ParseError::new(
                "months",
                format!(
                    "a subscription runs 1 to {} months of 31 days",
                    Self::MAX_MONTHS
                ),
            ));
        }
        let start = match self.expires_at {
            Some(end) if end > now => end,
            _ => now,
        };
        let renewed = Subscription {
            expires_at: Some(start.add_secs(i64::from(months) * Self::MONTH_SECS)),
            ..*limits
        };
        renewed.validate()?;
        Ok(renewed)
    }

    /// `new` as an extension of this subscription while it is in force: no limit lower, no
    /// earlier end (lowering waits for the renewal). An expired subscription is renewed, not
    /// extended.
    pub fn extended(&self, new: &Subscription, now: Timestamp) -> Result<Self, ParseError> {
        const WHAT: &str = "subscription";
        if !self.is_active(now) {
            return Err(ParseError::new(
                WHAT,
                "the subscription has expired: renew it (POST .../subscription/renewal)",
            ));
        }
        new.validate()?;
        let lower = [
            ("pointsPerHour", new.points_per_hour < self.points_per_hour),
            (
                "detailedRetentionDays",
                new.detailed_retention_days < self.detailed_retention_days,
            ),
            (
                "aggregatedRetentionDays",
                new.aggregated_retention_days < self.aggregated_retention_days,
            ),
            ("maxUsers", new.max_users < self.max_users),
            (
                "notificationEmailsPerDay",
                new.notification_emails_per_day < self.notification_emails_per_day,
            ),
            ("conduitTier", new.conduit_tier < self.conduit_tier),
            (
                "expiresAt",
                match (self.expires_at, new.expires_at) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => b < a,
                },
            ),
        ];
        if let Some((field, _)) = lower.iter().find(|(_, lower)| *lower) {
            return Err(ParseError::new(
                WHAT,
                format!(
                    "{field} may only be raised while the subscription is in force; a lower \
                     value takes effect at the renewal"
                ),
            ));
        }
        Ok(*new)
    }

    /// Adds `months` months of 31 days to a running subscription's end (an extension of its
    /// duration); a subscription without an end is unchanged.
    pub fn extend_months(&self, months: u32) -> Result<Self, ParseError> {
        if months > Self::MAX_MONTHS {
            return Err(ParseError::new(
                "months",
                format!("at most {} months at a time", Self::MAX_MONTHS),
            ));
        }
        Ok(Subscription {
            expires_at: self
                .expires_at
                .map(|end| end.add_secs(i64::from(months) * Self::MONTH_SECS)),
            ..*self
        })
    }

    /// Raw points older than this may be deleted.
    pub fn detailed_cutoff(&self, now: Timestamp) -> Timestamp {
        now.add_secs(-i64::from(self.detailed_retention_days) * 86_400)
    }

    /// Raw points of the hours before this one may be deleted: the detailed cutoff, rounded
    /// down to its UTC hour, so that retention removes whole hours (each one's rollup stays
    /// exact) and ingestion refuses exactly what retention would remove.
    pub fn detailed_cutoff_hour(&self, now: Timestamp) -> Timestamp {
        self.detailed_cutoff(now).hour_start()
    }

    /// Whether a point at `ts` may still be written at `now`: not before the detailed
    /// retention's cutoff hour ([`Subscription::detailed_cutoff_hour`]). Retention deletes
    /// those hours' points once they are rolled up; a point written into one afterwards would
    /// make the roll-up recompute the hour from it alone. InfluxDB drops such points too
    /// ("points beyond retention policy").
    pub fn check_retained(&self, ts: Timestamp, now: Timestamp) -> Result<(), ParseError> {
        let cutoff = self.detailed_cutoff_hour(now);
        if ts >= cutoff {
            return Ok(());
        }
        Err(ParseError::new(
            "timestamp",
            format!(
                "points beyond retention policy: {} is older than the subscription's detailed \
                 retention of {} days (points from {} on are kept)",
                ts.to_rfc3339(),
                self.detailed_retention_days,
                cutoff.to_rfc3339()
            ),
        ))
    }

    /// Rollups older than this may be deleted.
    pub fn aggregated_cutoff(&self, now: Timestamp) -> Timestamp {
        now.add_secs(-i64::from(self.aggregated_retention_days) * 86_400)
    }
}

/// The subscription calculator: the points per hour that `devices` devices of `channels`
/// channels each produce, each channel sending `values_per_hour` values an hour (`None`: more
/// than any subscription counts).
pub fn points_per_hour_for(devices: u64, channels: u64, values_per_hour: u64) -> Option<u64> {
    devices
        .checked_mul(channels)?
        .checked_mul(values_per_hour)
        .filter(|&n| n <= i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        for t in [
            ConduitTier::Basic,
            ConduitTier::Premium,
            ConduitTier::Enterprise,
        ] {
            assert_eq!(ConduitTier::parse(t.as_str()).unwrap(), t);
        }
        assert!(ConduitTier::parse("gold").is_err());
        assert!(ConduitTier::Basic < ConduitTier::Premium);
        assert!(ConduitTier::Premium < ConduitTier::Enterprise);
    }

    #[test]
    fn validation_and_expiry() {
        let s = Subscription::default();
        assert!(s.validate().is_ok());
        let bad = Subscription {
            aggregated_retention_days: 1,
            ..s
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .message
            .contains("aggregatedRetentionDays"));
        assert!(Subscription { max_users: 0, ..s }.validate().is_err());
        let now = Timestamp::from_secs(1_000).unwrap();
        assert!(s.is_active(now));
        let expiring = Subscription {
            expires_at: Some(now),
            ..s
        };
        assert!(!expiring.is_active(now));
        assert_eq!(
            s.detailed_cutoff(Timestamp::from_secs(90 * 86_400 + 5).unwrap())
                .as_secs(),
            5
        );
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["conduitTier"], "basic");
        assert_eq!(json["pointsPerHour"], 360_000);
    }
    #[test]
    fn renewal_extension_and_calculator() {
        let now = Timestamp::from_secs(1_000_000).unwrap();
        let month = Subscription::MONTH_SECS;
        let s = Subscription::default();
        // No end yet, or expired: the new period starts now.
        let r = s.renewed(&s, 2, now).unwrap();
        assert_eq!(r.expires_at, Some(now.add_secs(2 * month)));
        let expired = Subscription {
            expires_at: Some(now.add_secs(-5)),
            ..s
        };
        assert_eq!(
            expired.renewed(&s, 1, now).unwrap().expires_at,
            Some(now.add_secs(month))
        );
        // Still running: it continues from the current end.
        let running = expired.renewed(&s, 1, now).unwrap();
        let later = now.add_secs(86_400);
        assert_eq!(
            running.renewed(&s, 1, later).unwrap().expires_at,
            Some(now.add_secs(2 * month))
        );
        assert!(s.renewed(&s, 0, now).is_err());
        // A renewal may lower limits; an extension may not.
        let smaller = Subscription {
            points_per_hour: 10,
            ..s
        };
        assert_eq!(
            running.renewed(&smaller, 1, later).unwrap().points_per_hour,
            10
        );
        let e = running.extended(&smaller, later).unwrap_err();
        assert!(e.message.contains("pointsPerHour"), "{e}");
        let bigger = Subscription {
            points_per_hour: 1_000_000,
            max_users: 20,
            ..running
        };
        assert_eq!(running.extended(&bigger, later).unwrap(), bigger);
        let shorter = Subscription {
            expires_at: Some(now),
            ..running
        };
        assert!(running.extended(&shorter, later).is_err());
        assert!(expired.extended(&expired, now).is_err());
        assert_eq!(
            running.extend_months(3).unwrap().expires_at,
            Some(now.add_secs(4 * month))
        );
        assert_eq!(points_per_hour_for(10, 4, 60), Some(2400));
        assert_eq!(points_per_hour_for(u64::MAX, 2, 1), None);
        let t = Timestamp::from_secs(90 * 86_400 + 3_700).unwrap();
        assert_eq!(s.detailed_cutoff_hour(t).as_secs(), 3_600);
        assert!(s
            .check_retained(Timestamp::from_secs(3_600).unwrap(), t)
            .is_ok());
        let e = s
            .check_retained(Timestamp::from_secs(3_599).unwrap(), t)
            .unwrap_err();
        assert!(e.message.contains("beyond retention policy"), "{e}");
    }
}
