//! elproMONITOR External API v1 (`elpromonitor-external-api.txt`): the deviation messages an
//! incident causes, and the per-channel and per-device settings of the conditions that raise
//! them. Pure: the service builds a message when an incident starts, is confirmed or ends, and
//! writes it to the outbox with a fresh `MessageId` that every retry keeps.
//!
//! - **Frame**: `MessageId` (GUID), `MessageDateTimeUtc`, `OrganizationId` (the organization's
//!   GUID), `ApiVersion` `v1`, `MessageType`, `Content`; no other property (the document's
//!   schemas say `additionalProperties: false`).
//! - **Content**, by type: [`LimitContent`] (`InputLimitDeviation`), [`InputContent`] (failure,
//!   battery low level, radio strength, no connection: the document gives these four the same
//!   table and no schema of their own), [`DigitalContent`] (`DigitalInputDeviation`: its table
//!   has no serial number, `IsActive` or confirmations, but a limit and a measurement).
//! - **Ids** (int32): `IncidentId` is the incident's row key, `InputId` the channel's,
//!   `IoModuleId` the device's: never reused, stable for the life of the object. A key beyond
//!   int32 is an error, not a wrapped number.
//! - **Topic**: `v1/inputdeviations/{ioModuleId}/{inputId}/{kind}` over MQTT, which RabbitMQ's
//!   MQTT plugin turns into the routing key `v1.inputdeviations.{ioModuleId}.{inputId}.{kind}`
//!   on its `mqtt.exchange` (`ex.elproMONITOR`).

use serde::{Deserialize, Serialize};

use crate::channel::{Threshold, ThresholdOp};
use crate::error::{Error, ParseError, Result};
use crate::incident::{Incident, IncidentKind};
use crate::time::Timestamp;

/// `ApiVersion` of every message, and the first segment of every topic.
pub const API_VERSION: &str = "v1";
/// The topic exchange consumers bind to in their organization's vhost.
pub const EXCHANGE: &str = "ex.elproMONITOR";

/// The MQTT topic of a deviation message (`/` separators; the broker routes it with `.`).
pub fn mqtt_topic(io_module_id: i32, input_id: i32, kind: IncidentKind) -> String {
    format!(
        "{API_VERSION}/inputdeviations/{io_module_id}/{input_id}/{}",
        kind.routing_suffix()
    )
}

/// An elpro int32 id from a row key.
pub fn int32_id(what: &str, key: i64) -> Result<i32> {
    i32::try_from(key).map_err(|_| Error::Internal(format!("{what} {key} exceeds int32")))
}

/// The frame of every message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Frame {
    pub message_id: String,
    pub message_date_time_utc: String,
    pub organization_id: String,
    pub api_version: String,
    pub message_type: String,
    pub content: Content,
}

/// A message's content, by its type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Limit(LimitContent),
    Input(InputContent),
    Digital(DigitalContent),
}

/// `InputLimitDeviationMessage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LimitContent {
    pub incident_id: i32,
    pub input_id: i32,
    pub input_name: String,
    pub io_module_id: i32,
    pub io_module_name: String,
    pub io_module_serial_number: String,
    pub input_limit_deviation_type: String,
    pub limit: f64,
    pub measurement: f64,
    pub unit_of_measurement: String,
    pub start_time_utc: String,
    pub end_time_utc: Option<String>,
    pub is_active: bool,
    pub confirm_time1_utc: Option<String>,
    pub confirm_time2_utc: Option<String>,
}

/// `InputFailureDeviationMessage`, `InputBatteryLowLevelDeviationMessage`,
/// `InputRadioStrengthDeviationMessage`, `InputNoConnectionDeviationMessage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InputContent {
    pub incident_id: i32,
    pub input_id: i32,
    pub input_name: String,
    pub io_module_id: i32,
    pub io_module_name: String,
    pub io_module_serial_number: String,
    pub start_time_utc: String,
    pub end_time_utc: Option<String>,
    pub is_active: bool,
    pub confirm_time1_utc: Option<String>,
    pub confirm_time2_utc: Option<String>,
}

/// `DigitalInputDeviationMessage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DigitalContent {
    pub incident_id: i32,
    pub input_id: i32,
    pub input_name: String,
    pub io_module_id: i32,
    pub io_module_name: String,
    pub start_time_utc: String,
    pub end_time_utc: Option<String>,
    pub limit: f64,
    pub measurement: f64,
}

/// What a message names besides the incident: the channel (input) and its device (IO module).
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// The device's key (`IoModuleId`).
    pub io_module_key: i64,
    pub io_module_name: String,
    /// The device's network id where it has one (AlphaX serial number), else its public id.
    pub io_module_serial_number: String,
    /// The channel's key (`InputId`).
    pub input_key: i64,
    pub input_name: String,
}

/// One message ready for the outbox: its topic and JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub topic: String,
    pub frame: Frame,
}

impl Message {
    /// The message about `incident` as it is now (started, confirmed or ended).
    pub fn about(
        incident: &Incident,
        input: &Input,
        organization_id: &str,
        message_id: &str,
        at: Timestamp,
    ) -> Result<Message> {
        let incident_id = int32_id("incident", incident.id)?;
        let input_id = int32_id("channel", input.input_key)?;
        let io_module_id = int32_id("device", input.io_module_key)?;
        let kind = incident.opened.kind;
        let ts = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
        let start = incident.opened.start.to_rfc3339();
        let number = |v: Option<f64>, what: &str| {
            v.ok_or_else(|| Error::Internal(format!("{what} missing on incident {}", incident.id)))
        };
        let content = match kind {
            IncidentKind::Limit => Content::Limit(LimitContent {
                incident_id,
                input_id,
                input_name: input.input_name.clone(),
                io_module_id,
                io_module_name: input.io_module_name.clone(),
                io_module_serial_number: input.io_module_serial_number.clone(),
                input_limit_deviation_type: incident
                    .opened
                    .deviation
                    .ok_or_else(|| {
                        Error::Internal(format!("limit incident {} has no type", incident.id))
                    })?
                    .as_str()
                    .to_owned(),
                limit: number(incident.opened.limit, "limit")?,
                measurement: number(incident.opened.measurement, "measurement")?,
                unit_of_measurement: incident.opened.unit.as_str().to_owned(),
                start_time_utc: start,
                end_time_utc: ts(incident.end),
                is_active: incident.is_active(),
                confirm_time1_utc: ts(incident.confirm1),
                confirm_time2_utc: ts(incident.confirm2),
            }),
            IncidentKind::DigitalInput => Content::Digital(DigitalContent {
                incident_id,
                input_id,
                input_name: input.input_name.clone(),
                io_module_id,
                io_module_name: input.io_module_name.clone(),
                start_time_utc: start,
                end_time_utc: ts(incident.end),
                limit: number(incident.opened.limit, "limit")?,
                measurement: number(incident.opened.measurement, "measurement")?,
            }),
            _ => Content::Input(InputContent {
                incident_id,
                input_id,
                input_name: input.input_name.clone(),
                io_module_id,
                io_module_name: input.io_module_name.clone(),
                io_module_serial_number: input.io_module_serial_number.clone(),
                start_time_utc: start,
                end_time_utc: ts(incident.end),
                is_active: incident.is_active(),
                confirm_time1_utc: ts(incident.confirm1),
                confirm_time2_utc: ts(incident.confirm2),
            }),
        };
        Ok(Message {
            topic: mqtt_topic(io_module_id, input_id, kind),
            frame: Frame {
                message_id: message_id.to_owned(),
                message_date_time_utc: at.to_rfc3339(),
                organization_id: organization_id.to_owned(),
                api_version: API_VERSION.to_owned(),
                message_type: kind.message_type().to_owned(),
                content,
            },
        })
    }
}

/// What the outbox holds for the publisher: the topic and the message's JSON, as one JSON
/// document (the message bytes are published as they were written, whatever the retry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    pub topic: String,
    /// The incident the message is about: messages of one incident are sent in order.
    pub incident: i64,
    pub body: String,
}

impl Outgoing {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Internal(format!("outbox payload: {e}")))
    }

    pub fn from_json(s: &str) -> Result<Outgoing, ParseError> {
        serde_json::from_str(s)
            .map_err(|e| ParseError::new("deviation outbox payload", e.to_string()))
    }

    pub fn new(message: &Message, incident: i64) -> Result<Outgoing> {
        Ok(Outgoing {
            topic: message.topic.clone(),
            incident,
            body: serde_json::to_string(&message.frame)
                .map_err(|e| Error::Internal(format!("deviation message: {e}")))?,
        })
    }
}

/// Defaults of the device conditions.
pub const DEFAULT_NO_CONNECTION_SECS: u32 = 3600;
/// AlphaX reports the device voltage (channel 255) in mV.
pub const DEFAULT_BATTERY_LOW_MV: f64 = 3000.0;
/// AlphaX reports the signal strength (channel 254) as RSSI in dBm.
pub const DEFAULT_RADIO_BELOW_DBM: f64 = -100.0;

/// A device's deviation settings (admin API `PUT /api/v1/devices/{id}/deviation-settings`).
/// Every field absent takes its default; `null` turns that condition off.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceSettings {
    /// `InputNoConnectionDeviation` after this many seconds without data (≥ 60).
    #[serde(default = "default_no_connection")]
    pub no_connection_secs: Option<u32>,
    /// `InputBatteryLowLevelDeviation` while the voltage channel (255) is below this.
    #[serde(default = "default_battery")]
    pub battery_low_below: Option<f64>,
    /// `InputRadioStrengthDeviation` while the signal channel (254) is below this.
    #[serde(default = "default_radio")]
    pub radio_strength_below: Option<f64>,
    /// `InputFailureDeviation` while the error-code channel (252) is not zero.
    #[serde(default = "default_true")]
    pub failure: bool,
}

fn default_no_connection() -> Option<u32> {
    Some(DEFAULT_NO_CONNECTION_SECS)
}
fn default_battery() -> Option<f64> {
    Some(DEFAULT_BATTERY_LOW_MV)
}
fn default_radio() -> Option<f64> {
    Some(DEFAULT_RADIO_BELOW_DBM)
}
fn default_true() -> bool {
    true
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            no_connection_secs: default_no_connection(),
            battery_low_below: default_battery(),
            radio_strength_below: default_radio(),
            failure: true,
        }
    }
}

impl DeviceSettings {
    /// Checks what JSON cannot: a finite limit, a period of at least a minute.
    pub fn validate(&self) -> Result<(), ParseError> {
        if let Some(secs) = self.no_connection_secs {
            crate::alarm::Condition::no_connection(secs)?;
        }
        for (what, v) in [
            ("batteryLowBelow", self.battery_low_below),
            ("radioStrengthBelow", self.radio_strength_below),
        ] {
            if let Some(v) = v {
                if !v.is_finite() {
                    return Err(ParseError::new(what, "must be a finite number"));
                }
            }
        }
        Ok(())
    }
}

/// A channel's deviation settings: its optional warning limits (the alarm limits are its
/// thresholds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelSettings {
    /// `WarningUpper` while a value is above this.
    #[serde(default)]
    pub warning_upper: Option<f64>,
    /// `WarningLower` while a value is below this.
    #[serde(default)]
    pub warning_lower: Option<f64>,
}

impl ChannelSettings {
    pub fn validate(&self) -> Result<(), ParseError> {
        self.warnings().map(drop)
    }

    /// The warning limits as thresholds (`> upper`, `< lower`).
    pub fn warnings(&self) -> Result<Vec<Threshold>, ParseError> {
        let mut out = Vec::new();
        if let Some(v) = self.warning_upper {
            out.push(Threshold::new(ThresholdOp::Gt, v)?);
        }
        if let Some(v) = self.warning_lower {
            out.push(Threshold::new(ThresholdOp::Lt, v)?);
        }
        if let (Some(u), Some(l)) = (self.warning_upper, self.warning_lower) {
            if l >= u {
                return Err(ParseError::new(
                    "warningLower",
                    format!("{l} must be below warningUpper {u}"),
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{DeviationType, NewIncident};
    use crate::text::Unit;
    use crate::ChannelId;

    fn incident(kind: IncidentKind) -> Incident {
        Incident {
            id: 7,
            channel: ChannelId::parse("c000000000001").unwrap(),
            opened: NewIncident {
                kind,
                deviation: (kind == IncidentKind::Limit).then_some(DeviationType::AlarmUpper),
                limit: Some(8.0),
                measurement: Some(9.5),
                unit: Unit::parse("°C").unwrap(),
                start: Timestamp::from_secs(1_700_000_000).unwrap(),
            },
            end: None,
            confirm1: None,
            confirm2: None,
        }
    }

    fn input() -> Input {
        Input {
            io_module_key: 3,
            io_module_name: "Fridge".into(),
            io_module_serial_number: "SN1".into(),
            input_key: 12,
            input_name: "Temperature".into(),
        }
    }

    #[test]
    fn frames_and_contents_have_the_documented_properties() {
        let at = Timestamp::from_secs(1_700_000_100).unwrap();
        let m = Message::about(&incident(IncidentKind::Limit), &input(), "o", "m", at).unwrap();
        assert_eq!(m.topic, "v1/inputdeviations/3/12/limit");
        let json = serde_json::to_value(&m.frame).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys.len(),
            6,
            "MessageId MessageDateTimeUtc OrganizationId ApiVersion MessageType Content"
        );
        assert_eq!(json["ApiVersion"], "v1");
        assert_eq!(json["MessageType"], "InputLimitDeviation");
        assert_eq!(json["Content"]["InputLimitDeviationType"], "AlarmUpper");
        assert_eq!(json["Content"]["StartTimeUtc"], "2023-11-14T22:13:20Z");
        assert_eq!(json["Content"]["EndTimeUtc"], serde_json::Value::Null);
        assert_eq!(json["Content"]["IsActive"], true);
        assert_eq!(json["Content"].as_object().unwrap().len(), 15);

        let d = Message::about(
            &incident(IncidentKind::DigitalInput),
            &input(),
            "o",
            "m",
            at,
        )
        .unwrap();
        let json = serde_json::to_value(&d.frame).unwrap();
        assert_eq!(json["Content"].as_object().unwrap().len(), 9);
        assert!(json["Content"].get("IsActive").is_none());
        for kind in [
            IncidentKind::Failure,
            IncidentKind::BatteryLowLevel,
            IncidentKind::RadioStrength,
            IncidentKind::NoConnection,
        ] {
            let mut i = incident(kind);
            i.end = Some(at);
            i.confirm1 = Some(at);
            let m = Message::about(&i, &input(), "o", "m", at).unwrap();
            let json = serde_json::to_value(&m.frame).unwrap();
            assert_eq!(json["MessageType"], kind.message_type());
            assert_eq!(json["Content"].as_object().unwrap().len(), 11);
            assert_eq!(json["Content"]["IsActive"], false);
            assert_eq!(json["Content"]["ConfirmTime1Utc"], "2023-11-14T22:15:00Z");
            assert!(m.topic.ends_with(kind.routing_suffix()));
        }
    }

    #[test]
    fn ids_beyond_int32_are_refused() {
        let mut i = incident(IncidentKind::Failure);
        i.id = i64::from(i32::MAX) + 1;
        let at = Timestamp::from_secs(0).unwrap();
        assert!(Message::about(&i, &input(), "o", "m", at).is_err());
    }

    #[test]
    fn settings_defaults_and_checks() {
        let d: DeviceSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(d, DeviceSettings::default());
        let off: DeviceSettings =
            serde_json::from_str(r#"{"noConnectionSecs":null,"failure":false}"#).unwrap();
        assert_eq!(off.no_connection_secs, None);
        assert!(!off.failure);
        assert_eq!(off.battery_low_below, Some(DEFAULT_BATTERY_LOW_MV));
        assert!(serde_json::from_str::<DeviceSettings>(r#"{"x":1}"#).is_err());
        let short: DeviceSettings = serde_json::from_str(r#"{"noConnectionSecs":59}"#).unwrap();
        assert!(short.validate().is_err());
        let c = ChannelSettings {
            warning_upper: Some(6.0),
            warning_lower: Some(2.0),
        };
        assert_eq!(c.warnings().unwrap().len(), 2);
        let bad = ChannelSettings {
            warning_upper: Some(1.0),
            warning_lower: Some(2.0),
        };
        assert!(bad.validate().is_err());
    }
}
