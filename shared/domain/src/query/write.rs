//! `/write`: what a line-protocol point means in Fieldline's model, and the answer InfluxDB 1.x
//! gives for a body (204; 400 with the unparsable lines; `partial write: ... dropped=n`).
//!
//! A point of the model's shape names its device by the `uuid` tag (or `network_id`) and
//! carries only the model's tags and numeric fields. Each field is one of the device's
//! channels: `value` the channel named by the measurement (the communicationId), any other
//! field `f` the channel `<measurement>.f`, which InfluxQL reads back as field `f` of the
//! measurement. The tags `device`, `sensor` and `unit` name what automatic registration
//! creates; on a known device and channel they are not compared with what is stored. Times are
//! stored in milliseconds, so a finer timestamp is truncated to its millisecond.

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

/// The tags of a line of the model's shape: its device, and what automatic registration names
/// a new device, sensor and channel by. Every line of one series (measurement and tag set) has
/// the same, so a body's writer works them out once a series ([`model_tags`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTags {
    pub device: DeviceKey,
    /// Both when the point has `uuid` and `network_id` (for a device to register).
    pub network_id: Option<NetworkId>,
    pub device_name: Option<Name>,
    pub sensor: Option<Name>,
    pub unit: Option<Unit>,
}

/// One field of a line of the model's shape: a point of one channel.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldPoint {
    pub channel: CommunicationId,
    /// The measurement and field the channel is read back as by InfluxQL, when they are not
    /// the channel's communicationId and `value` (a field other than `value`).
    pub written: Option<(String, String)>,
    pub point: Point,
}

/// The channel a field of measurement `m` is a point of: `m` for `value`, else `m.field`.
fn channel_of(m: &str, field: &str) -> Result<CommunicationId, String> {
    if field == crate::query::FIELD {
        return CommunicationId::parse(m).map_err(|_| {
            format!(
                "invalid measurement: {m:?} is not a Fieldline channel (communicationId): 1 to \
                 32 letters, digits, '-', '.', '_' or '~'"
            )
        });
    }
    CommunicationId::parse(&format!("{m}.{field}")).map_err(|_| {
        format!(
            "invalid field name: field {field:?} of measurement {m:?} is no Fieldline channel: \
             \"{m}.{field}\" is not a communicationId (1 to 32 letters, digits, '-', '.', '_' \
             or '~')"
        )
    })
}

/// The tag keys a line of the model's shape may have.
const MODEL_TAGS: [&str; 5] = ["uuid", "network_id", "device", "sensor", "unit"];

/// [`to_series_points`] for a caller that only needs to know whether the line is of the
/// model's shape: a line whose tag keys cannot be the model's (a general series, such as every
/// line Telegraf sends) is answered `None` without building the reason.
pub fn series_points(line: &Line) -> Option<(ModelTags, Vec<FieldPoint>)> {
    let tags = model_tags(line)?;
    Some((tags, field_points(line).ok()?))
}

/// The tags of `line` if they are of the model's shape, without building the reason when they
/// are not. A line is of the model's shape when these are `Some` and its [`field_points`] are
/// `Ok` ([`series_points`]).
pub fn model_tags(line: &Line) -> Option<ModelTags> {
    let named = |k: &str| line.tags.iter().any(|(key, _)| key == k);
    let tags_fit = line.tags.iter().all(|(k, _)| MODEL_TAGS.contains(&&**k));
    if !tags_fit || !(named("uuid") || named("network_id")) {
        return None;
    }
    tags_of(line).ok()
}

/// The tags and the points of a line of the model's shape, a point per field, or why it is not
/// of that shape (worded after InfluxDB's write errors): [`tags_of`], then [`field_points`].
pub fn to_series_points(line: &Line) -> Result<(ModelTags, Vec<FieldPoint>), String> {
    let tags = tags_of(line)?;
    Ok((tags, field_points(line)?))
}

/// What the tags of a line of the model's shape say, or why they are not of that shape.
pub fn tags_of(line: &Line) -> Result<ModelTags, String> {
    let m = &line.measurement;
    let mut uuid = None;
    let mut network_id = None;
    let mut device_name = None;
    let mut sensor = None;
    let mut unit = None;
    for (k, v) in &line.tags {
        let bad = |e: crate::ParseError| {
            format!("invalid tag: input tag {k:?} on measurement {m:?}: {e}")
        };
        match &**k {
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
    let network_id = if matches!(device, DeviceKey::Uuid(_)) {
        network_id
    } else {
        None
    };
    Ok(ModelTags {
        device,
        network_id,
        device_name,
        sensor,
        unit,
    })
}

/// The points of the fields of a line of the model's shape, one per field, or why its time or
/// fields are not of that shape.
pub fn field_points(line: &Line) -> Result<Vec<FieldPoint>, String> {
    let m = &line.measurement;
    let ms = line.timestamp_ns.div_euclid(1_000_000);
    let ts = Timestamp::from_millis(ms).map_err(|_| {
        format!(
            "invalid timestamp: {} ns is outside 1970-01-01 ..= 9999-12-31, the times \
             Fieldline stores",
            line.timestamp_ns
        )
    })?;
    if line.fields.len() > crate::query::write_plan::MAX_FIELDS_PER_POINT {
        // The general series refuse it as InfluxDB's limit says (`write_plan`).
        return Err(format!(
            "too many fields: a point of measurement {m:?} has {} fields",
            line.fields.len()
        ));
    }
    if let Some((k, v, first)) = crate::line_protocol::type_clash(line) {
        use crate::query::write_plan::field_type;
        return Err(format!(
            "field type conflict: input field {k:?} on measurement {m:?} is type {}, already \
             exists as type {}",
            field_type(v).name(),
            field_type(first).name()
        ));
    }
    let mut points = Vec::with_capacity(line.fields.len());
    for (k, v) in &line.fields {
        if k == "time" {
            return Err(format!(
                "invalid field name: input field \"time\" on measurement {m:?} is invalid"
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
                    "field type conflict: input field {k:?} on measurement {m:?} is type \
                     {kind}: a device's channels are float"
                ));
            }
        };
        points.push(FieldPoint {
            channel: channel_of(m, k)?,
            written: (k != crate::query::FIELD).then(|| (m.to_string(), k.to_string())),
            point: Point::new(ts, number).map_err(|e| format!("invalid value: {e}"))?,
        });
    }
    if points.is_empty() {
        return Err(format!(
            "invalid field name: measurement {m:?} has no field"
        ));
    }
    Ok(points)
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

    fn one(text: &str) -> Result<(ModelTags, FieldPoint), String> {
        let (tags, mut points) = all(text)?;
        assert_eq!(points.len(), 1, "{text}");
        Ok((tags, points.remove(0)))
    }

    fn all(text: &str) -> Result<(ModelTags, Vec<FieldPoint>), String> {
        let (lines, errors) = parse(text, Precision::Milliseconds, 0);
        assert!(errors.is_empty(), "{errors:?}");
        to_series_points(&lines[0])
    }

    #[test]
    fn a_point_of_the_model() {
        let (tags, p) = one(
            r"auto~watt,device=Press\ 1,sensor=Meter,unit=W,uuid=355f6856-e9a4-469f-8f22-3f8b037d064a value=5000 1595325600000",
        )
        .unwrap();
        assert_eq!(p.channel.as_str(), "auto~watt");
        assert_eq!(p.written, None);
        assert_eq!(tags.device_name.unwrap().as_str(), "Press 1");
        assert_eq!(tags.unit.unwrap().as_str(), "W");
        assert_eq!(p.point.ts().as_millis(), 1_595_325_600_000);
        assert_eq!(p.point.value(), 5000.0);
        let (tags, p) = one("1,network_id=line-2 value=5i 1595325600000").unwrap();
        assert_eq!(
            tags.device,
            DeviceKey::NetworkId(NetworkId::parse("line-2").unwrap())
        );
        assert_eq!(p.point.value(), 5.0);
    }

    /// A field repeated with another type is refused as InfluxDB refuses it (a type conflict
    /// with its first occurrence), not stored twice; repeated with its type, the last value.
    #[test]
    fn a_field_repeated_with_another_type_is_a_conflict() {
        let uuid = "uuid=355f6856-e9a4-469f-8f22-3f8b037d064a";
        assert_eq!(
            all(&format!("plant,{uuid} rpm=1,rpm=2i 1595325600000")).unwrap_err(),
            "field type conflict: input field \"rpm\" on measurement \"plant\" is type integer, \
             already exists as type float"
        );
        let (_, p) = one(&format!("plant,{uuid} rpm=1,rpm=2 1595325600000")).unwrap();
        assert_eq!(p.point.value(), 2.0);
    }

    #[test]
    fn each_numeric_field_of_a_device_is_one_of_its_channels() {
        let (_, points) = all(
            "plant,uuid=355f6856-e9a4-469f-8f22-3f8b037d064a temp=71.5,rpm=1200i,value=3 1595325600000",
        )
        .unwrap();
        type Got<'a> = (&'a str, Option<(String, String)>, f64);
        let got: Vec<Got<'_>> = points
            .iter()
            .map(|p| (p.channel.as_str(), p.written.clone(), p.point.value()))
            .collect();
        assert_eq!(
            got,
            [
                ("plant.temp", Some(("plant".into(), "temp".into())), 71.5),
                ("plant.rpm", Some(("plant".into(), "rpm".into())), 1200.0),
                ("plant", None, 3.0),
            ]
        );
        assert!(points
            .iter()
            .all(|p| p.point.ts().as_millis() == 1_595_325_600_000));
    }

    #[test]
    fn what_does_not_fit_the_model_is_refused_with_a_reason() {
        let u = "uuid=355f6856-e9a4-469f-8f22-3f8b037d064a";
        for (line, reason) in [
            (format!("cpu,host=a,{u} value=1 1"), "input tag \"host\""),
            (format!("cpu,{u} usage=1,on=t 1"), "is type boolean"),
            (format!("cpu,{u} value=\"x\" 1"), "is type string"),
            (format!("cpu,{u} value=t 1"), "is type boolean"),
            ("cpu value=1 1".to_owned(), "needs a uuid"),
            (format!("cpu\\ load,{u} value=1 1"), "invalid measurement"),
            (
                format!("cpu\\ load,{u} usage=1 1"),
                "is not a communicationId",
            ),
            (
                format!("a_measurement_of_thirty_chars,{u} usage=1 1"),
                "is not a communicationId",
            ),
            (format!("cpu,{u} value=1 -5"), "invalid timestamp"),
            (
                format!(
                    "cpu,{u} {} 1",
                    (0..1001)
                        .map(|i| format!("f{i}=1"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                "too many fields",
            ),
            ("cpu,uuid=nope value=1 1".to_owned(), "input tag \"uuid\""),
        ] {
            let e = all(&line).unwrap_err();
            assert!(e.contains(reason), "{line}: {e}");
        }
    }

    #[test]
    fn series_points_are_what_to_series_points_accepts() {
        let u = "uuid=355f6856-e9a4-469f-8f22-3f8b037d064a";
        for text in [
            format!("cpu,{u} value=1 1"),
            format!("cpu,device=a,network_id=n-1,sensor=s,unit=W,{u} value=1,temp=2 1"),
            "cpu,network_id=n-1 value=1 1".to_owned(),
            format!("cpu,host=a,{u} value=1 1"),
            format!("cpu,time=a,{u} value=1 1"),
            format!("cpu,{u} value=\"x\" 1"),
            "cpu,device=a value=1 1".to_owned(),
            "cpu,cpu=cpu0,host=h value=1 1".to_owned(),
            "cpu value=1 1".to_owned(),
            "cpu,uuid=nope value=1 1".to_owned(),
        ] {
            let (lines, errors) = parse(&text, Precision::Milliseconds, 0);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(
                series_points(&lines[0]),
                to_series_points(&lines[0]).ok(),
                "{text}"
            );
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
