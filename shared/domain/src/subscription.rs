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

    /// Raw points older than this may be deleted.
    pub fn detailed_cutoff(&self, now: Timestamp) -> Timestamp {
        now.add_secs(-i64::from(self.detailed_retention_days) * 86_400)
    }

    /// Rollups older than this may be deleted.
    pub fn aggregated_cutoff(&self, now: Timestamp) -> Timestamp {
        now.add_secs(-i64::from(self.aggregated_retention_days) * 86_400)
    }
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
}
