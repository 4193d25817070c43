//! Devices and their sensors. A device is one thing on the network, seen as a Sensorbis device
//! (13-character id), a Proficloud device (UUID), an AlphaX device (`networkId`) and an elpro
//! IoModule (numeric id); a sensor is one of its inputs.

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::ids::{DeviceId, SensorId, Uuid};
use crate::text::{Description, Email, Name, ShortText};
use crate::time::Timestamp;

/// An AlphaX network id (`70B3D32111BD648F7`, `21eea42dd37b`): 1–64 of letters, digits and
/// `- . _ :`, never `/`, `+` or `#`, as it is a segment of MQTT topics. Unique per organization.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(String);

impl NetworkId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "networkId";
        if let Some((i, c)) = s
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':')))
        {
            return Err(ParseError::at(
                WHAT,
                i,
                format!("{c:?} is not allowed; use letters, digits, '-', '.', '_' or ':'"),
            ));
        }
        if s.is_empty() || s.len() > 64 {
            return Err(ParseError::new(WHAT, "must have 1 to 64 characters"));
        }
        Ok(NetworkId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_type!(NetworkId);

/// A device's offset from UTC in minutes (Sensorbis `timeZone`), −12:00 to +14:00.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub struct UtcOffset(i32);

impl UtcOffset {
    pub fn from_minutes(m: i32) -> Result<Self, ParseError> {
        if (-720..=840).contains(&m) {
            Ok(UtcOffset(m))
        } else {
            Err(ParseError::new(
                "timeZone",
                format!("{m} minutes is outside -720 ..= 840 (UTC-12:00 to UTC+14:00)"),
            ))
        }
    }

    pub fn minutes(self) -> i32 {
        self.0
    }
}

impl TryFrom<i32> for UtcOffset {
    type Error = ParseError;
    fn try_from(m: i32) -> Result<Self, ParseError> {
        UtcOffset::from_minutes(m)
    }
}

impl From<UtcOffset> for i32 {
    fn from(o: UtcOffset) -> i32 {
        o.0
    }
}

/// A fixed position in WGS 84 degrees (Sensorbis `lon`, `lat`; AlphaX `loc_lng`, `loc_lat`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LocationRepr")]
pub struct Location {
    lon: f64,
    lat: f64,
}

#[derive(Deserialize)]
struct LocationRepr {
    lon: f64,
    lat: f64,
}

impl TryFrom<LocationRepr> for Location {
    type Error = ParseError;
    fn try_from(r: LocationRepr) -> Result<Self, ParseError> {
        Location::new(r.lon, r.lat)
    }
}

impl Location {
    pub fn new(lon: f64, lat: f64) -> Result<Self, ParseError> {
        if !(-180.0..=180.0).contains(&lon) {
            return Err(ParseError::new(
                "lon",
                format!("{lon} is outside -180 ..= 180"),
            ));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(ParseError::new(
                "lat",
                format!("{lat} is outside -90 ..= 90"),
            ));
        }
        Ok(Location { lon, lat })
    }

    pub fn lon(&self) -> f64 {
        self.lon
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }
}

/// Minimum time between two notifications for the same channel, in seconds (at least 600).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct NotificationInterval(u32);

impl NotificationInterval {
    pub const MIN_SECS: u32 = 600;

    pub fn from_secs(s: u32) -> Result<Self, ParseError> {
        if s >= Self::MIN_SECS {
            Ok(NotificationInterval(s))
        } else {
            Err(ParseError::new(
                "notificationsMinInterval",
                format!("{s} seconds is below the minimum of 600"),
            ))
        }
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

impl Default for NotificationInterval {
    fn default() -> Self {
        NotificationInterval(Self::MIN_SECS)
    }
}

impl TryFrom<u32> for NotificationInterval {
    type Error = ParseError;
    fn try_from(s: u32) -> Result<Self, ParseError> {
        NotificationInterval::from_secs(s)
    }
}

impl From<NotificationInterval> for u32 {
    fn from(n: NotificationInterval) -> u32 {
        n.0
    }
}

/// A device's state of health, Proficloud's traffic light.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Unknown,
    Green,
    Yellow,
    Red,
}

/// Descriptive metadata, as AlphaX Conduit v6 and Proficloud report it. Only displayed, never
/// queried, so it is stored as one JSON document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceMeta {
    /// Device type (Proficloud device type, AlphaX `dev_type`).
    #[serde(rename = "type")]
    pub kind: ShortText,
    pub firmware: ShortText,
    pub health: Health,
    pub tag: ShortText,
    pub site: ShortText,
    pub label: ShortText,
    pub power_source: ShortText,
    pub network: ShortText,
    pub category: ShortText,
    pub supplier: ShortText,
    pub model: ShortText,
    pub manufacturer: ShortText,
}

/// What a person sets on a device (create and update).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceFields {
    pub name: Name,
    #[serde(default)]
    pub descr: Description,
    #[serde(default)]
    pub vendor_id: ShortText,
    #[serde(default)]
    pub customer_id: ShortText,
    #[serde(default)]
    pub network_id: Option<NetworkId>,
    #[serde(default)]
    pub time_zone: UtcOffset,
    #[serde(default)]
    pub uses_dst: bool,
    #[serde(default)]
    pub location: Option<Location>,
    /// Where threshold notifications go (Sensorbis `notificationUri`).
    #[serde(default)]
    pub notification_email: Option<Email>,
    #[serde(default)]
    pub notifications_min_interval: NotificationInterval,
    #[serde(default)]
    pub meta: DeviceMeta,
}

impl DeviceFields {
    /// A device with only a name; everything else at its default.
    pub fn named(name: Name) -> Self {
        DeviceFields {
            name,
            descr: Description::default(),
            vendor_id: ShortText::default(),
            customer_id: ShortText::default(),
            network_id: None,
            time_zone: UtcOffset::default(),
            uses_dst: false,
            location: None,
            notification_email: None,
            notifications_min_interval: NotificationInterval::default(),
            meta: DeviceMeta::default(),
        }
    }
}

/// A stored device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Numeric id: the storage key, and elproMONITOR's `IoModuleId`.
    pub key: i64,
    pub id: DeviceId,
    pub uuid: Uuid,
    #[serde(flatten)]
    pub fields: DeviceFields,
    /// The notification address has been confirmed by its owner.
    pub notification_verified: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a person sets on a sensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorFields {
    pub name: Name,
    #[serde(default)]
    pub descr: Description,
    #[serde(default)]
    pub customer_id: ShortText,
}

impl SensorFields {
    pub fn named(name: Name) -> Self {
        SensorFields {
            name,
            descr: Description::default(),
            customer_id: ShortText::default(),
        }
    }
}

/// A stored sensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sensor {
    pub key: i64,
    pub id: SensorId,
    pub device: DeviceId,
    #[serde(flatten)]
    pub fields: SensorFields,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_ids() {
        for ok in [
            "70B3D32111BD648F7",
            "21eea42dd37b",
            "842D8Y118754",
            "a:b-c.d_e",
        ] {
            let n = NetworkId::parse(ok).unwrap();
            assert_eq!(n.to_string().parse::<NetworkId>().unwrap(), n);
        }
        assert_eq!(NetworkId::parse("dev/1").unwrap_err().offset, Some(3));
        assert!(NetworkId::parse("a+b").is_err());
        assert!(NetworkId::parse("").is_err());
        assert!(NetworkId::parse(&"n".repeat(65)).is_err());
    }

    #[test]
    fn bounded_numbers() {
        assert!(UtcOffset::from_minutes(-720).is_ok());
        assert!(UtcOffset::from_minutes(841).is_err());
        assert!(Location::new(145.1, -38.1).is_ok());
        assert!(Location::new(181.0, 0.0).is_err());
        assert!(Location::new(0.0, f64::NAN).is_err());
        assert!(NotificationInterval::from_secs(599).is_err());
        assert_eq!(NotificationInterval::default().secs(), 600);
        assert!(serde_json::from_str::<NotificationInterval>("60").is_err());
    }

    #[test]
    fn device_fields_json() {
        let json = r#"{"name":"Boiler","networkId":"70B3D32111BD648F7","location":{"lon":1.5,"lat":2.5},
                       "meta":{"type":"device","health":"green"}}"#;
        let f: DeviceFields = serde_json::from_str(json).unwrap();
        assert_eq!(f.network_id.as_ref().unwrap().as_str(), "70B3D32111BD648F7");
        assert_eq!(f.meta.health, Health::Green);
        assert_eq!(f.meta.kind.as_str(), "device");
        let back: DeviceFields = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert!(serde_json::from_str::<DeviceFields>(r#"{"name":""}"#).is_err());
        assert!(serde_json::from_str::<DeviceFields>(r#"{"name":"x","timeZone":9999}"#).is_err());
    }
}
