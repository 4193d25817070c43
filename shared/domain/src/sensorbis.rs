//! The Sensorbis device push (`POST <uri>`, `{"t": <ms>, "c": [{"i": .., "v": ..}]}`): the
//! packet as the document defines it, checked whole before anything is stored, and the rule
//! that keeps every channel's hourly sum inside the double range.

use std::collections::HashSet;

use serde_json::Value;

use crate::channel::CommunicationId;
use crate::error::ParseError;
use crate::time::Timestamp;

/// At most this many items in one packet ("max. 100 array items").
pub const MAX_PUSH_ITEMS: usize = 100;

/// A value above this magnitude makes the push check the stored values of its channel's hour.
/// Below it no check is needed: a channel-hour holds at most 3,600,000 points (one per
/// millisecond), and 3.6e6 × 1e300 is far inside the double range.
pub const LARGE_VALUE: f64 = 1e300;

/// What the sum of magnitudes of a channel-hour may reach with large values in it, leaving room
/// for a whole hour of values up to [`LARGE_VALUE`]: so every sum of all or part of an hour's
/// values stays finite, whatever arrives later.
pub const HOURLY_MAGNITUDE_CAP: f64 = f64::MAX - 3.6e6 * LARGE_VALUE;

/// A checked push packet.
#[derive(Clone, Debug, PartialEq)]
pub struct PushPacket {
    /// `t`, when sent (milliseconds since the epoch, stored as sent).
    pub t: Option<Timestamp>,
    /// The items in order: communicationId and value (a finite double).
    pub items: Vec<(CommunicationId, f64)>,
}

fn bad(message: impl Into<String>) -> ParseError {
    ParseError::new("packet", message)
}

impl PushPacket {
    /// Parses a packet; the error names the item and field that is wrong.
    pub fn parse(body: &[u8]) -> Result<PushPacket, ParseError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(bad(
                r#"the body must be a JSON object {"t": <ms>, "c": [...]}"#,
            ));
        };
        for k in obj.keys() {
            if k != "t" && k != "c" {
                return Err(bad(format!(
                    "unknown member {k:?}; a packet has \"t\" (optional) and \"c\""
                )));
            }
        }
        let t = match obj.get("t") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                let ms = n.as_i64().ok_or_else(|| {
                    bad(format!(
                        "t must be a whole number of milliseconds since 1970-01-01 UTC, not {n}"
                    ))
                })?;
                Some(Timestamp::from_millis(ms).map_err(|e| bad(format!("t: {}", e.message)))?)
            }
            Some(other) => {
                return Err(bad(format!(
                    "t must be a number of milliseconds, not {}",
                    kind(other)
                )))
            }
        };
        let items = match obj.get("c") {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => return Err(bad("c (the array of items) is missing")),
            Some(other) => return Err(bad(format!("c must be an array, not {}", kind(other)))),
        };
        if items.is_empty() {
            return Err(bad("c is empty: send 1 to 100 items"));
        }
        if items.len() > MAX_PUSH_ITEMS {
            return Err(bad(format!(
                "c has {} items; a packet carries at most {MAX_PUSH_ITEMS}",
                items.len()
            )));
        }
        let mut seen = HashSet::with_capacity(items.len());
        let mut out = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let Value::Object(item) = item else {
                return Err(bad(format!(
                    "c[{n}] must be an object {{\"i\": .., \"v\": ..}}, not {}",
                    kind(item)
                )));
            };
            if let Some(k) = item.keys().find(|k| *k != "i" && *k != "v") {
                return Err(bad(format!("c[{n}] has unknown member {k:?}")));
            }
            let i = match item.get("i") {
                Some(Value::String(s)) => CommunicationId::parse(s)
                    .map_err(|e| bad(format!("c[{n}].i {s:?}: {}", e.message)))?,
                None | Some(Value::Null) => {
                    return Err(bad(format!("c[{n}].i (the communicationId) is missing")))
                }
                Some(other) => {
                    return Err(bad(format!(
                        "c[{n}].i must be a string (the channel's communicationId), not {}",
                        kind(other)
                    )))
                }
            };
            let v = match item.get("v") {
                Some(Value::Number(x)) => x
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad(format!("c[{n}].v {x} is not a finite 64-bit number")))?,
                None | Some(Value::Null) => return Err(bad(format!("c[{n}].v is missing"))),
                Some(other) => {
                    return Err(bad(format!(
                        "c[{n}].v must be a number, not {}",
                        kind(other)
                    )))
                }
            };
            if !seen.insert(i.clone()) {
                return Err(bad(format!(
                    "c[{n}].i {:?} appears twice: one packet has one time, so a second value \
                     would overwrite the first",
                    i.as_str()
                )));
            }
            out.push((i, v));
        }
        Ok(PushPacket { t, items: out })
    }
}

/// What a JSON value is, as the error messages of the Sensorbis API name it ("a string").
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The refusal of a packet naming channels its device does not have (the whole packet is
/// refused, nothing is stored).
pub fn unknown_channels(device: &str, names: &[&str]) -> ParseError {
    bad(format!(
        "device {device} has no channel with communicationId {}; nothing of the packet was \
         stored (add the channels with AddChannels or AddSensors first)",
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The refusal of a value that would take its channel's hourly sum out of the double range.
pub fn hourly_sum_overflow(communication_id: &str, hour: Timestamp) -> ParseError {
    bad(format!(
        "the value of {communication_id:?} would take the channel's sum for the hour from {} \
         out of the range of a 64-bit number; nothing of the packet was stored",
        hour.to_rfc3339()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PushPacket, ParseError> {
        PushPacket::parse(s.as_bytes())
    }

    #[test]
    fn packets() {
        let p =
            parse(r#"{"t":1700000000000,"c":[{"i":"temp","v":21.5},{"i":"hum","v":-3}]}"#).unwrap();
        assert_eq!(p.t.unwrap().as_millis(), 1_700_000_000_000);
        assert_eq!(p.items[1].0.as_str(), "hum");
        assert_eq!(p.items[1].1, -3.0);
        assert_eq!(parse(r#"{"c":[{"i":"a","v":1}]}"#).unwrap().t, None);
        let max = parse(r#"{"c":[{"i":"a","v":1.7976931348623157e308}]}"#).unwrap();
        assert_eq!(max.items[0].1, f64::MAX);
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let msg = |s: &str| parse(s).unwrap_err().message;
        assert!(msg("nope").contains("not JSON"));
        assert!(msg("[]").contains("JSON object"));
        assert!(msg(r#"{"t":1}"#).contains("missing"));
        assert!(msg(r#"{"c":[]}"#).contains("empty"));
        assert!(msg(r#"{"t":"x","c":[{"i":"a","v":1}]}"#).contains("t must be"));
        assert!(msg(r#"{"t":1.5,"c":[{"i":"a","v":1}]}"#).contains("whole number"));
        assert!(msg(r#"{"t":-1,"c":[{"i":"a","v":1}]}"#).starts_with("t:"));
        assert!(msg(r#"{"c":[{"i":"a","v":"1"}]}"#).contains("c[0].v must be a number"));
        assert!(msg(r#"{"c":[{"i":"a"}]}"#).contains("c[0].v is missing"));
        assert!(msg(r#"{"c":[{"i":"a","v":1},{"i":"a/b","v":1}]}"#).contains("c[1].i"));
        assert!(msg(r#"{"c":[{"i":"a","v":1},{"i":"a","v":2}]}"#).contains("twice"));
        assert!(msg(r#"{"c":[{"i":"a","v":1e999}]}"#).contains("not JSON"));
        assert!(msg(r#"{"x":1,"c":[{"i":"a","v":1}]}"#).contains("unknown member"));
        let many: Vec<String> = (0..101)
            .map(|n| format!(r#"{{"i":"c{n}","v":1}}"#))
            .collect();
        assert!(msg(&format!(r#"{{"c":[{}]}}"#, many.join(","))).contains("101 items"));
        let hundred: Vec<String> = (0..100)
            .map(|n| format!(r#"{{"i":"c{n}","v":1}}"#))
            .collect();
        assert_eq!(
            parse(&format!(r#"{{"c":[{}]}}"#, hundred.join(",")))
                .unwrap()
                .items
                .len(),
            100
        );
    }

    #[test]
    fn the_cap_leaves_room_for_an_hour_of_ordinary_values() {
        const { assert!(HOURLY_MAGNITUDE_CAP < f64::MAX) };
        assert!((HOURLY_MAGNITUDE_CAP + 3.6e6 * LARGE_VALUE).is_finite());
    }
}
