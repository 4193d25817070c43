//! `/write`: what a line-protocol point means in Fieldline's model, and the answer InfluxDB 1.x
//! gives for a body (204; 400 with the unparsable lines; `partial write: ... dropped=n`).
//!
//! A point names its device by the `uuid` tag (or `network_id`), its channel by the
//! measurement (the communicationId), and carries one float field, `value`. The tags `device`,
//! `sensor` and `unit` name what automatic registration creates; on a known device and
//! channel they are not compared with what is stored. Times are stored in milliseconds, so a
//! finer timestamp is truncated to its millisecond.

use crate::channel::CommunicationId;
use crate::device::NetworkId;
use crate::ids::Uuid;
use crate::line_protocol::{FieldValue, Line, LineError};
use crate::point::Point;
use crate::text::{Name, Unit};
use crate::time::Timestamp;

/// The tags a point may carry.
pub const TAGS: &[&str] = &["device", "network_id", "sensor", "unit", "uuid"];

/// How a point names its device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKey {
    Uuid(Uuid),
    NetworkId(NetworkId),
}

/// A point of a `/write` body in the model's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPoint {
    pub device: DeviceKey,
    /// Both when the point has `uuid` and `network_id` (for a device to register).
    pub network_id: Option<NetworkId>,
    pub device_name: Option<Name>,
    pub sensor: Option<Name>,
    pub unit: Option<Unit>,
    pub channel: CommunicationId,
    pub point: Point,
}

/// Why a parsed point is not written, worded after InfluxDB's write errors.
pub fn to_series_point(line: &Line) -> Result<SeriesPoint, String> {
    let m = &line.measurement;
    let channel = CommunicationId::parse(m).map_err(|_| {
        format!(
            "invalid measurement: {m:?} is not a Fieldline channel (communicationId): 1 to 32 \
             letters, digits, '-', '.', '_' or '~'"
        )
    })?;
    let mut uuid = None;
    let mut network_id = None;
    let mut device_name = None;
    let mut sensor = None;
    let mut unit = None;
    for (k, v) in &line.tags {
        let bad = |e: crate::ParseError| {
            format!("invalid tag: input tag {k:?} on measurement {m:?}: {e}")
        };
        match k.as_str() {
            "uuid" => uuid = Some(Uuid::parse(v).map_err(bad)?),
            "network_id" => network_id = Some(NetworkId::parse(v).map_err(bad)?),
            "device" => device_name = Some(Name::parse(v).map_err(bad)?),
            "sensor" => sensor = Some(Name::parse(v).map_err(bad)?),
            "unit" => unit = Some(Unit::parse(v).map_err(bad)?),
            "time" => {
                return Err(format!(
                    "invalid tag key: input tag \"time\" on measurement {m:?} is invalid"
                ))
            }
            other => {
                return Err(format!(
                    "invalid tag key: input tag {other:?} on measurement {m:?} is not supported: \
                     Fieldline's tags are device, network_id, sensor, unit and uuid"
                ))
            }
        }
    }
    let mut value = None;
    for (k, v) in &line.fields {
        if k == "time" {
            return Err(format!(
                "invalid field name: input field \"time\" on measurement {m:?} is invalid"
            ));
        }
        if k != crate::query::FIELD {
            return Err(format!(
                "invalid field name: input field {k:?} on measurement {m:?} is not supported: \
                 Fieldline stores one field, value, per measurement"
            ));
        }
        #[allow(clippy::cast_precision_loss)]
        let number = match v {
            FieldValue::Float(f) => *f,
            FieldValue::Integer(i) => *i as f64,
            FieldValue::String(_) | FieldValue::Boolean(_) => {
                let kind = if matches!(v, FieldValue::String(_)) {
                    "string"
                } else {
                    "boolean"
                };
                return Err(format!(
                    "field type conflict: input field \"value\" on measurement {m:?} is type \
                     {kind}, already exists as type float"
                ));
            }
        };
        value = Some(number);
    }
    let value = value
        .ok_or_else(|| format!("invalid field name: measurement {m:?} has no field \"value\""))?;
    let device = match (uuid, &network_id) {
        (Some(u), _) => DeviceKey::Uuid(u),
        (None, Some(n)) => DeviceKey::NetworkId(n.clone()),
        (None, None) => {
            return Err(format!(
                "missing tag: a point of measurement {m:?} needs a uuid (or network_id) tag \
                 naming its device"
            ))
        }
    };
    let ms = line.timestamp_ns.div_euclid(1_000_000);
    let ts = Timestamp::from_millis(ms).map_err(|_| {
        format!(
            "invalid timestamp: {} ns is outside 1970-01-01 ..= 9999-12-31, the times \
             Fieldline stores",
            line.timestamp_ns
        )
    })?;
    let point = Point::new(ts, value).map_err(|e| format!("invalid value: {e}"))?;
    Ok(SeriesPoint {
        network_id: if matches!(device, DeviceKey::Uuid(_)) {
            network_id
        } else {
            None
        },
        device,
        device_name,
        sensor,
        unit,
        channel,
        point,
    })
}

/// The answer to a `/write`: status and, for 400, InfluxDB's message. `parse_errors` are the
/// lines that did not parse, `parsed` how many did, `rejected` why parsed points were not
/// written (each dropped).
pub fn outcome(parse_errors: &[LineError], parsed: usize, rejected: &[String]) -> Option<String> {
    let mut errors: Vec<String> = parse_errors.iter().map(ToString::to_string).collect();
    if parsed == 0 && !errors.is_empty() {
        return Some(errors.join("\n"));
    }
    if errors.is_empty() && rejected.is_empty() {
        return None;
    }
    // InfluxDB names the first rejection of a batch (they are usually alike) and counts them all.
    if let Some(first) = rejected.first() {
        errors.push(first.clone());
    }
    Some(format!(
        "partial write: {} dropped={}",
        errors.join("\n"),
        rejected.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::{parse, Precision};

    fn one(text: &str) -> Result<SeriesPoint, String> {
        let (lines, errors) = parse(text, Precision::Milliseconds, 0);
        assert!(errors.is_empty(), "{errors:?}");
        to_series_point(&lines[0])
    }

    #[test]
    fn a_point_of_the_model() {
        let p = one(
            r"auto~watt,device=Press\ 1,sensor=Meter,unit=W,uuid=355f6856-e9a4-469f-8f22-3f8b037d064a value=5000 1595325600000",
        )
        .unwrap();
        assert_eq!(p.channel.as_str(), "auto~watt");
        assert_eq!(p.device_name.unwrap().as_str(), "Press 1");
        assert_eq!(p.unit.unwrap().as_str(), "W");
        assert_eq!(p.point.ts().as_millis(), 1_595_325_600_000);
        assert_eq!(p.point.value(), 5000.0);
        let p = one("1,network_id=line-2 value=5i 1595325600000").unwrap();
        assert_eq!(
            p.device,
            DeviceKey::NetworkId(NetworkId::parse("line-2").unwrap())
        );
        assert_eq!(p.point.value(), 5.0);
    }

    #[test]
    fn what_does_not_fit_the_model_is_refused_with_a_reason() {
        let u = "uuid=355f6856-e9a4-469f-8f22-3f8b037d064a";
        for (line, reason) in [
            (format!("cpu,host=a,{u} value=1 1"), "input tag \"host\""),
            (format!("cpu,{u} usage=1 1"), "input field \"usage\""),
            (format!("cpu,{u} value=\"x\" 1"), "is type string"),
            (format!("cpu,{u} value=t 1"), "is type boolean"),
            ("cpu value=1 1".to_owned(), "needs a uuid"),
            (format!("cpu\\ load,{u} value=1 1"), "invalid measurement"),
            (format!("cpu,{u} value=1 -5"), "invalid timestamp"),
            ("cpu,uuid=nope value=1 1".to_owned(), "input tag \"uuid\""),
        ] {
            let e = one(&line).unwrap_err();
            assert!(e.contains(reason), "{line}: {e}");
        }
    }

    #[test]
    fn answers_as_influxdb_words_them() {
        let (_, errors) = parse("bad\nm value= 1\n", Precision::Nanoseconds, 0);
        assert_eq!(
            outcome(&errors, 0, &[]).unwrap(),
            "unable to parse 'bad': missing fields\nunable to parse 'm value= 1': missing field value"
        );
        assert_eq!(
            outcome(&errors[..1], 2, &[]).unwrap(),
            "partial write: unable to parse 'bad': missing fields dropped=0"
        );
        assert_eq!(
            outcome(&[], 3, &["field type conflict: x".into(), "y".into()]).unwrap(),
            "partial write: field type conflict: x dropped=2"
        );
        assert_eq!(outcome(&[], 3, &[]), None);
    }
}
