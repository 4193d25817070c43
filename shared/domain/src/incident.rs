//! Incidents: a deviation of a channel that starts, may be confirmed by people, and ends
//! (elproMONITOR deviations; Sensorbis threshold notifications are raised from them).

use serde::{Deserialize, Serialize};

use crate::ids::ChannelId;
use crate::text::Unit;
use crate::time::Timestamp;

/// elproMONITOR's message types; each has a routing-key suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IncidentKind {
    /// A value beyond a threshold (`InputLimitDeviation`).
    Limit,
    Failure,
    BatteryLowLevel,
    RadioStrength,
    NoConnection,
    DigitalInput,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 6] = [
        IncidentKind::Limit,
        IncidentKind::Failure,
        IncidentKind::BatteryLowLevel,
        IncidentKind::RadioStrength,
        IncidentKind::NoConnection,
        IncidentKind::DigitalInput,
    ];

    /// The name stored and shown (`"Limit"`).
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Limit => "Limit",
            IncidentKind::Failure => "Failure",
            IncidentKind::BatteryLowLevel => "BatteryLowLevel",
            IncidentKind::RadioStrength => "RadioStrength",
            IncidentKind::NoConnection => "NoConnection",
            IncidentKind::DigitalInput => "DigitalInput",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// elpro `MessageType` (`"InputLimitDeviation"`, `"DigitalInputDeviation"`).
    pub fn message_type(self) -> &'static str {
        match self {
            IncidentKind::Limit => "InputLimitDeviation",
            IncidentKind::Failure => "InputFailureDeviation",
            IncidentKind::BatteryLowLevel => "InputBatteryLowLevelDeviation",
            IncidentKind::RadioStrength => "InputRadioStrengthDeviation",
            IncidentKind::NoConnection => "InputNoConnectionDeviation",
            IncidentKind::DigitalInput => "DigitalInputDeviation",
        }
    }

    /// The last segment of the routing key (`limit`, `noconnection`).
    pub fn routing_suffix(self) -> &'static str {
        match self {
            IncidentKind::Limit => "limit",
            IncidentKind::Failure => "failure",
            IncidentKind::BatteryLowLevel => "batterylowlevel",
            IncidentKind::RadioStrength => "radiostrength",
            IncidentKind::NoConnection => "noconnection",
            IncidentKind::DigitalInput => "digitalinput",
        }
    }
}

/// elpro `InputLimitDeviationType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviationType {
    AlarmUpper,
    AlarmLower,
    WarningUpper,
    WarningLower,
}

impl DeviationType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviationType::AlarmUpper => "AlarmUpper",
            DeviationType::AlarmLower => "AlarmLower",
            DeviationType::WarningUpper => "WarningUpper",
            DeviationType::WarningLower => "WarningLower",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DeviationType::AlarmUpper,
            DeviationType::AlarmLower,
            DeviationType::WarningUpper,
            DeviationType::WarningLower,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// The routing key (AMQP) of a deviation message; MQTT subscribers use `/` for `.`.
pub fn routing_key(io_module_id: i64, input_id: i64, kind: IncidentKind) -> String {
    format!(
        "v1.inputdeviations.{io_module_id}.{input_id}.{}",
        kind.routing_suffix()
    )
}

/// What opens an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewIncident {
    pub kind: IncidentKind,
    pub deviation: Option<DeviationType>,
    /// The limit that was exceeded.
    pub limit: Option<f64>,
    /// The measurement that exceeded it.
    pub measurement: Option<f64>,
    pub unit: Unit,
    pub start: Timestamp,
}

/// A stored incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// Numeric id (elpro `IncidentId`).
    pub id: i64,
    pub channel: ChannelId,
    #[serde(flatten)]
    pub opened: NewIncident,
    pub end: Option<Timestamp>,
    pub confirm1: Option<Timestamp>,
    pub confirm2: Option<Timestamp>,
}

impl Incident {
    /// Active until it ends (elpro `IsActive`).
    pub fn is_active(&self) -> bool {
        self.end.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_routing_keys() {
        for k in IncidentKind::ALL {
            assert_eq!(IncidentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            routing_key(12, 3, IncidentKind::Limit),
            "v1.inputdeviations.12.3.limit"
        );
        assert_eq!(
            IncidentKind::BatteryLowLevel.message_type(),
            "InputBatteryLowLevelDeviation"
        );
        assert_eq!(
            DeviationType::parse("WarningLower"),
            Some(DeviationType::WarningLower)
        );
        assert_eq!(DeviationType::parse("x"), None);
    }
}
