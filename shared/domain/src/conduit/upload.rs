//! Uploads: `POST /post/v1` (hex byte array), `POST /post/v2` (JSON channels), and the payloads
//! of the MQTT topics, all decoded to one [`Upload`]: a device, a time and channel values.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::channel::CommunicationId;
use crate::device::NetworkId;
use crate::error::ParseError;
use crate::time::Timestamp;

/// An AlphaX channel number: dynamic `1..=32`, or reserved `252..=255` (error code, message id,
/// signal strength, device voltage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConduitChannel(u8);

impl ConduitChannel {
    pub const VOLTAGE: ConduitChannel = ConduitChannel(255);
    pub const SIGNAL: ConduitChannel = ConduitChannel(254);
    pub const MESSAGE_ID: ConduitChannel = ConduitChannel(253);
    pub const ERROR_CODE: ConduitChannel = ConduitChannel(252);
    pub const MAX_DYNAMIC: u8 = 32;

    pub fn new(n: i64) -> Result<Self, ParseError> {
        match u8::try_from(n) {
            Ok(n @ (1..=Self::MAX_DYNAMIC | 252..=255)) => Ok(ConduitChannel(n)),
            _ => Err(ParseError::new(
                "channelId",
                format!("{n} is not an AlphaX channel: use 1 to 32, or 252 to 255 (reserved)"),
            )),
        }
    }

    pub fn number(self) -> u8 {
        self.0
    }

    pub fn is_reserved(self) -> bool {
        self.0 > Self::MAX_DYNAMIC
    }

    /// The channel's `communicationId` in the shared model (`"1"`, `"255"`).
    pub fn communication_id(self) -> CommunicationId {
        CommunicationId::from_number(u32::from(self.0))
    }

    /// The name and unit a channel gets when registered automatically.
    pub fn default_name_and_unit(self) -> (String, &'static str) {
        match self.0 {
            255 => ("Device voltage".into(), "mV"),
            254 => ("Signal strength".into(), "RSSI"),
            253 => ("Message ID".into(), ""),
            252 => ("Error code".into(), ""),
            n => (format!("Channel {n}"), ""),
        }
    }
}

/// One value of one channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub channel: ConduitChannel,
    pub value: f64,
}

/// The most readings one upload carries: 32 dynamic channels and the 4 reserved ones.
pub const MAX_READINGS: usize = 36;

/// A decoded upload. `token` is `None` when the body has none (a 401, not a 400).
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    pub token: Option<String>,
    pub network_id: NetworkId,
    pub timestamp: Timestamp,
    pub readings: Vec<Reading>,
}

/// Decodes v1 `data`: 8 bytes of device data, then one 4-byte integer per dynamic channel.
///
/// Byte order is little-endian, fixed by the MQTT section's worked example (`0A10` is 4106 mV,
/// `A00F0000` is 4000). The reserved fields are 16-bit: voltage (255), message id (253) and
/// error code (252) unsigned, signal strength (254) signed, as RSSI is negative dBm. The reserved
/// values are stored as sent; channel values are signed 32-bit and divided by 1000.
///
/// A channel part that is not a whole number of 4-byte groups (the document's own v1 example
/// ends in `A00FA00F0000`, 6 bytes) is not refused: the last, short group is read as if padded
/// with `00` bytes at its high end (the document's "pad using 0000"), so no byte sent is dropped.
/// Odd-length or non-hex text, fewer than 8 bytes, or more than 32 channels is an error.
pub fn decode_v1_data(text: &str) -> Result<Vec<Reading>, ParseError> {
    const WHAT: &str = "data";
    let bytes = hex::decode(text).map_err(|e| match e {
        hex::FromHexError::InvalidHexCharacter { c, index } => ParseError::at(
            WHAT,
            index,
            format!("{c:?} is not a hex digit; data is a byte array written as hex"),
        ),
        hex::FromHexError::OddLength => ParseError::new(
            WHAT,
            format!(
                "has {} hex digits, an odd number: each byte is two digits",
                text.len()
            ),
        ),
        other => ParseError::new(WHAT, other.to_string()),
    })?;
    if bytes.len() < 8 {
        return Err(ParseError::new(
            WHAT,
            format!(
                "has {} bytes; the first 8 (voltage, signal, message id, error code) are mandatory, \
                 pad missing ones with 0000",
                bytes.len()
            ),
        ));
    }
    let (device, channels) = bytes.split_at(8);
    let groups = channels.len().div_ceil(4);
    if groups > usize::from(ConduitChannel::MAX_DYNAMIC) {
        return Err(ParseError::new(
            WHAT,
            format!("carries {groups} channels; AlphaX has at most 32 per device"),
        ));
    }
    let u16_at = |i: usize| f64::from(u16::from_le_bytes([device[i], device[i + 1]]));
    let mut readings = vec![
        Reading {
            channel: ConduitChannel::VOLTAGE,
            value: u16_at(0),
        },
        Reading {
            channel: ConduitChannel::SIGNAL,
            value: f64::from(i16::from_le_bytes([device[2], device[3]])),
        },
        Reading {
            channel: ConduitChannel::MESSAGE_ID,
            value: u16_at(4),
        },
        Reading {
            channel: ConduitChannel::ERROR_CODE,
            value: u16_at(6),
        },
    ];
    for (i, group) in channels.chunks(4).enumerate() {
        let raw = match *group {
            [a, b, c, d] => f64::from(i32::from_le_bytes([a, b, c, d])),
            _ => {
                let mut padded = [0u8; 4];
                padded[..group.len()].copy_from_slice(group);
                f64::from(u32::from_le_bytes(padded))
            }
        };
        readings.push(Reading {
            channel: ConduitChannel(u8::try_from(i + 1).unwrap_or(ConduitChannel::MAX_DYNAMIC)),
            value: raw / 1000.0,
        });
    }
    Ok(readings)
}

#[derive(Deserialize)]
struct Envelope<D> {
    token: Option<serde_json::Value>,
    #[serde(rename = "networkId")]
    network_id: Option<serde_json::Value>,
    timestamp: Option<serde_json::Value>,
    data: Option<D>,
}

pub(super) fn json_error(e: serde_json::Error) -> ParseError {
    ParseError::new(
        "JSON body",
        format!("{e} (line {}, column {})", e.line(), e.column()),
    )
}

fn envelope_fields<D>(
    env: Envelope<D>,
) -> Result<(Option<String>, NetworkId, Timestamp, D), ParseError> {
    let token = match env.token {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(ParseError::new("token", "must be a string")),
    };
    let network_id = match env.network_id {
        Some(serde_json::Value::String(s)) => NetworkId::parse(&s)?,
        Some(_) => return Err(ParseError::new("networkId", "must be a string")),
        None => return Err(ParseError::new("networkId", "is missing")),
    };
    let timestamp = parse_timestamp(env.timestamp.as_ref())?;
    let data = env
        .data
        .ok_or_else(|| ParseError::new("data", "is missing"))?;
    Ok((token, network_id, timestamp, data))
}

/// `timestamp`: "13 digit UTC timestamp", milliseconds. A 10-digit (seconds) value would land in
/// January 1970, so anything below 10^12 (before 2001-09-09) is refused rather than misfiled.
pub(super) fn parse_timestamp(v: Option<&serde_json::Value>) -> Result<Timestamp, ParseError> {
    const WHAT: &str = "timestamp";
    let v = v.ok_or_else(|| ParseError::new(WHAT, "is missing"))?;
    let ms = v.as_i64().ok_or_else(|| {
        ParseError::new(
            WHAT,
            format!("{v} is not an integer; send the 13-digit UTC time in milliseconds"),
        )
    })?;
    if ms < 1_000_000_000_000 {
        return Err(ParseError::new(
            WHAT,
            format!("{ms} is not a 13-digit UTC time in milliseconds"),
        ));
    }
    Timestamp::from_millis(ms)
}

/// The document prints its v1 example with `data` unquoted (`"data": 0A10...`), which is not
/// JSON. Such a body is accepted: a bare run of letters and digits as the top-level `data` value
/// is read as the string it stands for. This also keeps the leading zeros of an all-digit payload
/// (`"data": 0000...`), which a JSON number would lose.
fn quote_bare_data(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
    let (mut str_start, mut last_key) = (0usize, None::<(usize, usize)>);
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
                if depth == 1 {
                    last_key = Some((str_start, i));
                }
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                str_start = i + 1;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b',' => last_key = None,
            b':' if depth == 1 => {
                let Some((a, z)) = last_key.take() else {
                    continue;
                };
                if &s[a..z] != "data" {
                    continue;
                }
                let start = i
                    + 1
                    + b[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_whitespace())
                        .count();
                let len = b[start..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let token = &s[start..start + len];
                let ends_cleanly = b
                    .get(start + len)
                    .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b',' | b'}'));
                if len == 0 || !ends_cleanly || matches!(token, "true" | "false" | "null") {
                    return None;
                }
                return Some(format!("{}\"{token}\"{}", &s[..start], &s[start + len..]));
            }
            _ => {}
        }
    }
    None
}

/// A v1 upload: `{token, networkId, timestamp, data}` with `data` the hex byte array, quoted or
/// (as the document prints it) bare.
pub fn parse_v1(body: &[u8]) -> Result<Upload, ParseError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ParseError::at("JSON body", e.valid_up_to(), "is not UTF-8"))?;
    let quoted = quote_bare_data(text);
    let env: Envelope<serde_json::Value> =
        serde_json::from_str(quoted.as_deref().unwrap_or(text)).map_err(json_error)?;
    let (token, network_id, timestamp, data) = envelope_fields(env)?;
    let serde_json::Value::String(hex) = data else {
        return Err(ParseError::new(
            "data",
            "must be the byte array as a string of hex digits",
        ));
    };
    Ok(Upload {
        token,
        network_id,
        timestamp,
        readings: decode_v1_data(&hex)?,
    })
}

#[derive(Deserialize)]
pub(super) struct V2Item {
    #[serde(rename = "channelId")]
    channel_id: Option<serde_json::Value>,
    value: Option<Box<RawValue>>,
}

/// The most significant digits a v2 value may have ("16 digit maximum length").
const MAX_VALUE_DIGITS: usize = 16;

/// A channel value as JSON number text: at most 16 digits (sign, point and exponent not
/// counted), finite. Strings are refused: the document types `value` as a number.
pub fn parse_channel_value(raw: &str) -> Result<f64, ParseError> {
    const WHAT: &str = "value";
    let raw = raw.trim();
    let number_like = raw.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    let value: f64 = if number_like { raw.parse().ok() } else { None }
        .ok_or_else(|| ParseError::new(WHAT, format!("{raw} is not a number")))?;
    let mantissa = raw.split(['e', 'E']).next().unwrap_or(raw);
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    if digits > MAX_VALUE_DIGITS {
        return Err(ParseError::new(
            WHAT,
            format!("{raw} has {digits} digits; at most 16 are allowed"),
        ));
    }
    if !value.is_finite() {
        return Err(ParseError::new(WHAT, format!("{raw} is not finite")));
    }
    Ok(value)
}

fn channel_number(v: &serde_json::Value) -> Result<ConduitChannel, ParseError> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        // "channelId": "4" is accepted too: channel ids are strings in the v4 query (`ch=4`).
        serde_json::Value::String(s) if !s.starts_with('+') => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ParseError::new("channelId", format!("{v} is not an integer")))?;
    ConduitChannel::new(n)
}

/// The `data` array of v2 (and of the MQTT bulk topic): `[{channelId, value}]`, 1 to 36 entries,
/// each channel at most once.
pub fn parse_values_json(items: &[u8]) -> Result<Vec<Reading>, ParseError> {
    let items: Vec<V2Item> = serde_json::from_slice(items).map_err(json_error)?;
    readings_from(items)
}

pub(super) fn readings_from(items: Vec<V2Item>) -> Result<Vec<Reading>, ParseError> {
    if items.is_empty() {
        return Err(ParseError::new("data", "is empty: send at least one value"));
    }
    if items.len() > MAX_READINGS {
        return Err(ParseError::new(
            "data",
            format!(
                "has {} values; a device has at most 32 channels plus the 4 reserved ones",
                items.len()
            ),
        ));
    }
    let mut readings: Vec<Reading> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let channel =
            channel_number(item.channel_id.as_ref().ok_or_else(|| {
                ParseError::new("channelId", format!("is missing in data[{i}]"))
            })?)?;
        let raw = item
            .value
            .ok_or_else(|| ParseError::new("value", format!("is missing in data[{i}]")))?;
        let value = parse_channel_value(raw.get())?;
        if readings.iter().any(|r| r.channel == channel) {
            return Err(ParseError::new(
                "data",
                format!("channel {} appears twice", channel.number()),
            ));
        }
        readings.push(Reading { channel, value });
    }
    Ok(readings)
}

/// A v2 upload: `{token, networkId, timestamp, data: [{channelId, value}]}`.
pub fn parse_v2(body: &[u8]) -> Result<Upload, ParseError> {
    let env: Envelope<Vec<V2Item>> = serde_json::from_slice(body).map_err(json_error)?;
    let (token, network_id, timestamp, items) = envelope_fields(env)?;
    Ok(Upload {
        token,
        network_id,
        timestamp,
        readings: readings_from(items)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(r: &[Reading]) -> Vec<(u8, f64)> {
        r.iter().map(|r| (r.channel.number(), r.value)).collect()
    }

    #[test]
    fn the_mqtt_sections_worked_example() {
        // Payload: 0A10010001000000A00F0000 -> fixed 4106 1 1 0, dynamic 4000 (/1000 = 4).
        let r = decode_v1_data("0A10010001000000A00F0000").unwrap();
        assert_eq!(
            values(&r),
            [(255, 4106.0), (254, 1.0), (253, 1.0), (252, 0.0), (1, 4.0)]
        );
    }

    #[test]
    fn the_v1_example_as_printed_with_bare_data() {
        let body = br#"{
  "token": "5b131223c23a7abcd81b0617",
  "networkId": "70B3D32111BD648F7",
  "timestamp": 1660962091000,
  "data": 0A10010001000000A00FA00F0000
}"#;
        let u = parse_v1(body).unwrap();
        assert_eq!(u.token.as_deref(), Some("5b131223c23a7abcd81b0617"));
        assert_eq!(u.network_id.as_str(), "70B3D32111BD648F7");
        assert_eq!(u.timestamp.as_millis(), 1_660_962_091_000);
        // 6 channel bytes: A00FA00F (0x0FA00FA0) then the short group 0000 (padded: 0).
        assert_eq!(
            values(&u.readings),
            [
                (255, 4106.0),
                (254, 1.0),
                (253, 1.0),
                (252, 0.0),
                (1, 262_148.0),
                (2, 0.0)
            ]
        );
    }

    #[test]
    fn quoted_data_and_all_digit_data() {
        let quoted = br#"{"token":"t","networkId":"n","timestamp":1660962091000,"data":"0A10010001000000A00F0000"}"#;
        assert_eq!(parse_v1(quoted).unwrap().readings.len(), 5);
        // a bare all-digit payload keeps its leading zeros
        let digits = br#"{"networkId":"n","timestamp":1660962091000,"data": 0000000000000000}"#;
        let u = parse_v1(digits).unwrap();
        assert_eq!(u.token, None);
        assert_eq!(u.readings.len(), 4);
        // "data" inside a string is not the key
        let tricky = br#"{"token":"data: x","networkId":"n","timestamp":1660962091000,"data":0A10010001000000}"#;
        assert_eq!(parse_v1(tricky).unwrap().readings[0].value, 4106.0);
    }

    #[test]
    fn short_groups_are_zero_padded() {
        let r = decode_v1_data("0000000000000000FF").unwrap();
        assert_eq!(values(&r)[4], (1, 0.255));
        let r = decode_v1_data("0000000000000000FFFFFFFF").unwrap();
        assert_eq!(values(&r)[4], (1, -0.001), "full groups are signed");
        let r = decode_v1_data("0000C4FF00000000").unwrap();
        assert_eq!(values(&r)[1], (254, -60.0), "RSSI is signed");
    }

    #[test]
    fn bad_v1_data() {
        let odd = decode_v1_data("0A1001000100000").unwrap_err();
        assert!(odd.message.contains("odd"), "{odd}");
        let nonhex = decode_v1_data("0A10010001000000ZZ").unwrap_err();
        assert_eq!(nonhex.offset, Some(16));
        assert!(decode_v1_data("0A10").is_err());
        assert!(decode_v1_data("").is_err());
        let max = format!("{}{}", "00".repeat(8), "00".repeat(4 * 32));
        assert_eq!(decode_v1_data(&max).unwrap().len(), 36);
        assert!(decode_v1_data(&format!("{max}00")).is_err());
        let body = br#"{"networkId":"n","timestamp":1660962091000,"data":[1,2]}"#;
        assert!(parse_v1(body).is_err());
        let body = br#"{"networkId":"n","timestamp":1660962091,"data":"0000000000000000"}"#;
        assert!(parse_v1(body).unwrap_err().to_string().contains("13-digit"));
        let body = br#"{"networkId":"a/b","timestamp":1660962091000,"data":"0000000000000000"}"#;
        assert_eq!(parse_v1(body).unwrap_err().what, "networkId");
    }

    #[test]
    fn the_v2_example_as_printed() {
        let body = br#"{
 "token": "5b131223c67e7abcd81b0617",
 "networkId": "70B3D32111BD648F7",
 "timestamp": 1660962091000,
 "data": [
  {
   "channelId": 1,
   "value": 462.467835
   },
   {
   "channelId": 255,
   "value": 3.976
   }
  ]
 }"#;
        let u = parse_v2(body).unwrap();
        assert_eq!(u.token.as_deref(), Some("5b131223c67e7abcd81b0617"));
        assert_eq!(u.timestamp.as_millis(), 1_660_962_091_000);
        assert_eq!(values(&u.readings), [(1, 462.467835), (255, 3.976)]);
    }

    #[test]
    fn v2_value_digits_and_channels() {
        assert_eq!(
            parse_channel_value("1234567890.123456").unwrap(),
            1234567890.123456
        );
        assert!(parse_channel_value("1234567890.1234567").is_err());
        assert_eq!(parse_channel_value("-1.5e3").unwrap(), -1500.0);
        assert!(parse_channel_value("\"1\"").is_err());
        assert!(parse_channel_value("null").is_err());
        assert!(ConduitChannel::new(0).is_err());
        assert!(ConduitChannel::new(33).is_err());
        assert!(ConduitChannel::new(251).is_err());
        assert!(ConduitChannel::new(256).is_err());
        assert!(ConduitChannel::new(252).unwrap().is_reserved());
        let dup = br#"[{"channelId":1,"value":1},{"channelId":"1","value":2}]"#;
        assert!(parse_values_json(dup)
            .unwrap_err()
            .message
            .contains("twice"));
        assert!(parse_values_json(b"[]").is_err());
        let too_many: Vec<String> = (1..=37)
            .map(|i| format!(r#"{{"channelId":{i},"value":1}}"#))
            .collect();
        assert!(parse_values_json(format!("[{}]", too_many.join(",")).as_bytes()).is_err());
        let all: Vec<String> = (1..=32)
            .chain(252..=255)
            .map(|i| format!(r#"{{"channelId":{i},"value":{i}.5}}"#))
            .collect();
        assert_eq!(
            parse_values_json(format!("[{}]", all.join(",")).as_bytes())
                .unwrap()
                .len(),
            36
        );
    }
}
