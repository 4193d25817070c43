//! Channels: one measured quantity of a sensor, named by its `communicationId` in every API
//! (Sensorbis `"i"`, AlphaX channel number `"1"`..`"32"` and reserved `"252"`..`"255"`, Proficloud
//! metric `"auto~watt"`), with thresholds (Sensorbis notifications, elpro limit deviations) and a
//! linear calibration (AlphaX `val_cal`, `val_offset`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::ids::{ChannelId, DeviceId, SensorId};
use crate::incident::DeviationType;
use crate::text::{Name, Purpose, Unit};
use crate::time::Timestamp;

/// How a channel names itself on the wire: 1–32 characters from the URI "unreserved" set
/// (letters, digits, `-`, `.`, `_`, `~`), so that it goes unescaped into URLs, MQTT topics,
/// InfluxQL measurement names and CSV headers. Unique per device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommunicationId(String);

impl CommunicationId {
    pub const MAX_CHARS: usize = 32;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "communicationId";
        if let Some((i, c)) = s
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
        {
            return Err(ParseError::at(
                WHAT,
                i,
                format!("{c:?} is not allowed; use letters, digits, '-', '.', '_' or '~'"),
            ));
        }
        if s.is_empty() || s.len() > Self::MAX_CHARS {
            return Err(ParseError::new(
                WHAT,
                format!("must have 1 to 32 characters, has {}", s.len()),
            ));
        }
        Ok(CommunicationId(s.to_owned()))
    }

    /// The default when none is given: the channel's own id (Sensorbis AddChannels).
    pub fn from_channel_id(id: ChannelId) -> Self {
        CommunicationId(id.as_str().to_owned())
    }

    /// An AlphaX channel number (`1` → `"1"`).
    pub fn from_number(n: u32) -> Self {
        CommunicationId(n.to_string())
    }

    /// The channel number, if this id is a plain decimal number without leading zeros.
    pub fn as_number(&self) -> Option<u32> {
        let s = self.0.as_str();
        if s.starts_with('0') && s != "0" {
            return None;
        }
        s.parse().ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_type!(CommunicationId);

/// How values of a channel combine over an interval: Sensorbis `S` (sum) or `M` (mean).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grouping {
    #[serde(rename = "S")]
    Sum,
    #[default]
    #[serde(rename = "M")]
    Mean,
}

impl Grouping {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "S" => Ok(Grouping::Sum),
            "M" => Ok(Grouping::Mean),
            _ => Err(ParseError::new(
                "grouping",
                format!("{s:?} is neither \"S\" (sum) nor \"M\" (mean)"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Sum => "S",
            Grouping::Mean => "M",
        }
    }
}

/// A threshold comparison, written as in Sensorbis: `=`, `<>`, `<`, `<=`, `>`, `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThresholdOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl ThresholdOp {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "=" => ThresholdOp::Eq,
            "<>" => ThresholdOp::Ne,
            "<" => ThresholdOp::Lt,
            "<=" => ThresholdOp::Le,
            ">" => ThresholdOp::Gt,
            ">=" => ThresholdOp::Ge,
            _ => {
                return Err(ParseError::new(
                    "threshold operator",
                    format!("{s:?} is not one of =, <>, <, <=, >, >="),
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdOp::Eq => "=",
            ThresholdOp::Ne => "<>",
            ThresholdOp::Lt => "<",
            ThresholdOp::Le => "<=",
            ThresholdOp::Gt => ">",
            ThresholdOp::Ge => ">=",
        }
    }

    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            ThresholdOp::Eq => value == limit,
            ThresholdOp::Ne => value != limit,
            ThresholdOp::Lt => value < limit,
            ThresholdOp::Le => value <= limit,
            ThresholdOp::Gt => value > limit,
            ThresholdOp::Ge => value >= limit,
        }
    }
}

impl fmt::Display for ThresholdOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ThresholdOp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ThresholdOp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ThresholdOp::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn finite(what: &'static str, v: f64) -> Result<f64, ParseError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ParseError::new(what, format!("{v} is not a finite number")))
    }
}

/// One alarm condition: the value is abnormal when `value <op> limit` holds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ThresholdRepr")]
pub struct Threshold {
    op: ThresholdOp,
    value: f64,
}

#[derive(Deserialize)]
struct ThresholdRepr {
    op: ThresholdOp,
    value: f64,
}

impl TryFrom<ThresholdRepr> for Threshold {
    type Error = ParseError;
    fn try_from(r: ThresholdRepr) -> Result<Self, ParseError> {
        Threshold::new(r.op, r.value)
    }
}

impl Threshold {
    /// `<> 0`: a code that is not zero, such as the AlphaX error-code channel's (252) failure.
    pub(crate) const NON_ZERO: Threshold = Threshold {
        op: ThresholdOp::Ne,
        value: 0.0,
    };

    pub fn new(op: ThresholdOp, value: f64) -> Result<Self, ParseError> {
        Ok(Threshold {
            op,
            value: finite("threshold value", value)?,
        })
    }

    pub fn op(&self) -> ThresholdOp {
        self.op
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    /// Whether `value` is abnormal by this threshold.
    pub fn is_exceeded_by(&self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }

    /// The elpro deviation type an exceeded threshold raises: below a lower limit is
    /// `AlarmLower`; above an upper limit, or an `=`/`<>` condition, is `AlarmUpper`.
    pub fn deviation(&self) -> DeviationType {
        match self.op {
            ThresholdOp::Lt | ThresholdOp::Le => DeviationType::AlarmLower,
            _ => DeviationType::AlarmUpper,
        }
    }

    fn is_lower(&self) -> bool {
        matches!(self.op, ThresholdOp::Lt | ThresholdOp::Le)
    }

    fn is_upper(&self) -> bool {
        matches!(self.op, ThresholdOp::Gt | ThresholdOp::Ge)
    }
}

/// Up to two thresholds (Sensorbis `thresholdOperator1/Value1`, `...2`). When both are set they
/// must bound a range of normality: `< 0` or `> 10` means normal from 0 to 10.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ThresholdsRepr")]
pub struct Thresholds {
    first: Option<Threshold>,
    second: Option<Threshold>,
}

#[derive(Deserialize)]
struct ThresholdsRepr {
    first: Option<Threshold>,
    second: Option<Threshold>,
}

impl TryFrom<ThresholdsRepr> for Thresholds {
    type Error = ParseError;
    fn try_from(r: ThresholdsRepr) -> Result<Self, ParseError> {
        Thresholds::new(r.first, r.second)
    }
}

impl Thresholds {
    pub const NONE: Thresholds = Thresholds {
        first: None,
        second: None,
    };

    pub fn new(first: Option<Threshold>, second: Option<Threshold>) -> Result<Self, ParseError> {
        const WHAT: &str = "thresholds";
        if let (Some(a), Some(b)) = (first, second) {
            let (lower, upper) = if a.is_lower() && b.is_upper() {
                (a, b)
            } else if b.is_lower() && a.is_upper() {
                (b, a)
            } else {
                return Err(ParseError::new(
                    WHAT,
                    format!(
                        "two thresholds must bound a range of normality, one with < or <= and \
                         one with > or >= (e.g. \"< 0\" and \"> 10\"); got \"{} {}\" and \"{} {}\"",
                        a.op, a.value, b.op, b.value
                    ),
                ));
            };
            let empty = lower.value > upper.value
                || (lower.value == upper.value
                    && (lower.op == ThresholdOp::Le || upper.op == ThresholdOp::Ge));
            if empty {
                return Err(ParseError::new(
                    WHAT,
                    format!(
                        "\"{} {}\" or \"{} {}\" leaves no normal value; the lower limit must \
                         be below the upper one",
                        lower.op, lower.value, upper.op, upper.value
                    ),
                ));
            }
        }
        Ok(Thresholds { first, second })
    }

    /// From the four optional Sensorbis fields; an operator without a value (or the reverse) is
    /// an error, an empty operator string counts as absent.
    pub fn from_parts(
        op1: Option<&str>,
        v1: Option<f64>,
        op2: Option<&str>,
        v2: Option<f64>,
    ) -> Result<Self, ParseError> {
        fn one(n: u8, op: Option<&str>, v: Option<f64>) -> Result<Option<Threshold>, ParseError> {
            match (op.filter(|s| !s.is_empty()), v) {
                (None, None) => Ok(None),
                (Some(op), Some(v)) => Threshold::new(ThresholdOp::parse(op)?, v).map(Some),
                _ => Err(ParseError::new(
                    "thresholds",
                    format!("thresholdOperator{n} and thresholdValue{n} must be given together"),
                )),
            }
        }
        Thresholds::new(one(1, op1, v1)?, one(2, op2, v2)?)
    }

    pub fn first(&self) -> Option<Threshold> {
        self.first
    }

    pub fn second(&self) -> Option<Threshold> {
        self.second
    }

    /// The threshold `value` exceeds, if any.
    pub fn check(&self, value: f64) -> Option<Threshold> {
        [self.first, self.second]
            .into_iter()
            .flatten()
            .find(|t| t.is_exceeded_by(value))
    }
}

/// The expected range of a channel's values (Sensorbis `min`, `max`), each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ValueRangeRepr")]
pub struct ValueRange {
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Deserialize)]
struct ValueRangeRepr {
    min: Option<f64>,
    max: Option<f64>,
}

impl TryFrom<ValueRangeRepr> for ValueRange {
    type Error = ParseError;
    fn try_from(r: ValueRangeRepr) -> Result<Self, ParseError> {
        ValueRange::new(r.min, r.max)
    }
}

impl ValueRange {
    pub fn new(min: Option<f64>, max: Option<f64>) -> Result<Self, ParseError> {
        let min = min.map(|v| finite("min", v)).transpose()?;
        let max = max.map(|v| finite("max", v)).transpose()?;
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err(ParseError::new(
                    "range",
                    format!("min {lo} is greater than max {hi}"),
                ));
            }
        }
        Ok(ValueRange { min, max })
    }

    pub fn min(&self) -> Option<f64> {
        self.min
    }

    pub fn max(&self) -> Option<f64> {
        self.max
    }
}

/// Linear calibration: `calibrated = raw × scale + offset`. The default changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CalibrationRepr")]
pub struct Calibration {
    scale: f64,
    offset: f64,
}

#[derive(Deserialize)]
struct CalibrationRepr {
    scale: f64,
    offset: f64,
}

impl TryFrom<CalibrationRepr> for Calibration {
    type Error = ParseError;
    fn try_from(r: CalibrationRepr) -> Result<Self, ParseError> {
        Calibration::new(r.scale, r.offset)
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration::IDENTITY
    }
}

impl Calibration {
    pub const IDENTITY: Calibration = Calibration {
        scale: 1.0,
        offset: 0.0,
    };

    pub fn new(scale: f64, offset: f64) -> Result<Self, ParseError> {
        Ok(Calibration {
            scale: finite("calibration scale", scale)?,
            offset: finite("calibration offset", offset)?,
        })
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn offset(&self) -> f64 {
        self.offset
    }

    pub fn apply(&self, raw: f64) -> f64 {
        raw * self.scale + self.offset
    }
}

/// What a person sets on a channel (create and update), all validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelFields {
    pub name: Name,
    /// Values are codes of an enumeration (states), not quantities.
    #[serde(default)]
    pub enumerated: bool,
    #[serde(default)]
    pub unit: Unit,
    #[serde(default)]
    pub range: ValueRange,
    #[serde(default)]
    pub purpose: Purpose,
    #[serde(default)]
    pub grouping: Grouping,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub calibration: Calibration,
}

impl ChannelFields {
    /// A plain channel with only a name; everything else at its default.
    pub fn named(name: Name) -> Self {
        ChannelFields {
            name,
            enumerated: false,
            unit: Unit::default(),
            range: ValueRange::default(),
            purpose: Purpose::default(),
            grouping: Grouping::default(),
            thresholds: Thresholds::default(),
            calibration: Calibration::default(),
        }
    }
}

/// A stored channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Numeric id: the storage key, and elproMONITOR's `InputId`.
    pub key: i64,
    pub id: ChannelId,
    pub device: DeviceId,
    pub sensor: SensorId,
    pub communication_id: CommunicationId,
    #[serde(flatten)]
    pub fields: ChannelFields,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(op: &str, v: f64) -> Option<Threshold> {
        Some(Threshold::new(ThresholdOp::parse(op).unwrap(), v).unwrap())
    }

    #[test]
    fn communication_ids() {
        for ok in [
            "1",
            "255",
            "auto~watt",
            "temp_1.avg",
            "a-b",
            &"x".repeat(32),
        ] {
            let c = CommunicationId::parse(ok).unwrap();
            assert_eq!(c.to_string().parse::<CommunicationId>().unwrap(), c);
        }
        let e = CommunicationId::parse("auto/watt").unwrap_err();
        assert_eq!(e.offset, Some(4));
        assert_eq!(e.what, "communicationId");
        assert!(CommunicationId::parse("").is_err());
        assert!(CommunicationId::parse(&"x".repeat(33)).is_err());
        assert!(CommunicationId::parse("a b").is_err());
        assert!(CommunicationId::parse("wätt").is_err());
        assert_eq!(
            CommunicationId::parse("255").unwrap().as_number(),
            Some(255)
        );
        assert_eq!(CommunicationId::parse("007").unwrap().as_number(), None);
        assert_eq!(
            CommunicationId::parse("auto~watt").unwrap().as_number(),
            None
        );
        assert_eq!(CommunicationId::from_number(32).as_str(), "32");
        let id = ChannelId::parse("abcdefghijklm").unwrap();
        assert_eq!(
            CommunicationId::from_channel_id(id).as_str(),
            "abcdefghijklm"
        );
    }

    #[test]
    fn operators_round_trip() {
        for s in ["=", "<>", "<", "<=", ">", ">="] {
            assert_eq!(ThresholdOp::parse(s).unwrap().as_str(), s);
        }
        assert!(ThresholdOp::parse("!=").is_err());
        assert!(ThresholdOp::parse("").is_err());
        assert_eq!(Grouping::parse("S").unwrap(), Grouping::Sum);
        assert!(Grouping::parse("X").is_err());
    }

    #[test]
    fn thresholds_must_bound_a_normal_range() {
        let th = Thresholds::new(t("<", 0.0), t(">", 10.0)).unwrap();
        assert_eq!(th.check(5.0), None);
        assert_eq!(th.check(-1.0), t("<", 0.0));
        assert_eq!(th.check(11.0), t(">", 10.0));
        assert_eq!(th.check(10.0), None);
        // order does not matter
        assert!(Thresholds::new(t(">=", 10.0), t("<=", 0.0)).is_ok());
        // same direction, or no normal value left
        assert!(Thresholds::new(t(">", 0.0), t(">", 10.0)).is_err());
        assert!(Thresholds::new(t("<", 10.0), t(">", 0.0)).is_err());
        assert!(Thresholds::new(t("<=", 5.0), t(">", 5.0)).is_err());
        assert!(Thresholds::new(t("<", 5.0), t(">", 5.0)).is_ok());
        assert!(Thresholds::new(t("=", 1.0), t(">", 5.0)).is_err());
        // a single threshold may use any operator
        let single = Thresholds::new(t("<>", 1.0), None).unwrap();
        assert_eq!(single.check(2.0), t("<>", 1.0));
        assert!(Threshold::new(ThresholdOp::Gt, f64::NAN).is_err());
        assert_eq!(t("<", 0.0).unwrap().deviation(), DeviationType::AlarmLower);
        assert_eq!(t(">=", 0.0).unwrap().deviation(), DeviationType::AlarmUpper);
    }

    #[test]
    fn thresholds_from_sensorbis_parts() {
        let th = Thresholds::from_parts(Some("<"), Some(0.0), Some(">"), Some(10.0)).unwrap();
        assert_eq!(th.first(), t("<", 0.0));
        assert_eq!(
            Thresholds::from_parts(Some(""), None, None, None).unwrap(),
            Thresholds::NONE
        );
        assert!(Thresholds::from_parts(Some("<"), None, None, None).is_err());
        assert!(Thresholds::from_parts(None, None, None, Some(1.0)).is_err());
    }

    #[test]
    fn ranges_and_calibration() {
        assert!(ValueRange::new(Some(0.0), Some(10.0)).is_ok());
        assert!(ValueRange::new(Some(10.0), Some(0.0)).is_err());
        assert!(ValueRange::new(Some(f64::INFINITY), None).is_err());
        let c = Calibration::new(2.0, 1.0).unwrap();
        assert_eq!(c.apply(3.0), 7.0);
        assert_eq!(Calibration::default().apply(3.5), 3.5);
        assert!(Calibration::new(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn channel_fields_json_round_trip_and_validation() {
        let mut f = ChannelFields::named(Name::parse("Temperature").unwrap());
        f.unit = Unit::parse("°C").unwrap();
        f.thresholds = Thresholds::new(t("<", 0.0), t(">", 10.0)).unwrap();
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["grouping"], "M");
        assert_eq!(json["thresholds"]["first"]["op"], "<");
        let back: ChannelFields = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, f);
        let mut bad = json;
        bad["thresholds"]["second"]["op"] = ">".into();
        bad["thresholds"]["first"]["op"] = ">".into();
        assert!(serde_json::from_value::<ChannelFields>(bad).is_err());
        let minimal: ChannelFields = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(minimal, ChannelFields::named(Name::parse("x").unwrap()));
    }
}
