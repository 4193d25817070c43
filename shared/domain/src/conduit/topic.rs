//! The MQTT topics: `{token}/{id}/publish/v4` (a v1 hex payload), `{token}/{id}/0/data` (bulk
//! update) and `{token}/{id}/{channel}/data` (one channel).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::device::NetworkId;
use crate::error::ParseError;
use crate::time::Timestamp;

use super::upload::{
    decode_v1_data, json_error, parse_channel_value, parse_timestamp, readings_from,
    ConduitChannel, Reading, V2Item,
};

/// What a topic asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicKind {
    /// `publish/v4`: the payload is the v1 hex byte array.
    PublishV4,
    /// `0/data`: the payload is a `data` array of v2 (`[{channelId, value}]`), or a v2 object
    /// with `timestamp` and `data`.
    Bulk,
    /// `{channel}/data`: the payload is one number, or `{"value": .., "timestamp": ..}`.
    Channel(ConduitChannel),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    pub token: String,
    pub network_id: NetworkId,
    pub kind: TopicKind,
}

impl Topic {
    pub fn parse(topic: &str) -> Result<Topic, ParseError> {
        const WHAT: &str = "topic";
        let parts: Vec<&str> = topic.split('/').collect();
        let [token, id, a, b] = parts[..] else {
            return Err(ParseError::new(
                WHAT,
                format!(
                    "{topic:?} is not {{token}}/{{id}}/publish/v4, {{token}}/{{id}}/0/data or \
                     {{token}}/{{id}}/{{channel}}/data"
                ),
            ));
        };
        if token.is_empty() {
            return Err(ParseError::new(WHAT, "the token segment is empty"));
        }
        let network_id = NetworkId::parse(id)?;
        let kind = match (a, b) {
            ("publish", "v4") => TopicKind::PublishV4,
            ("0", "data") => TopicKind::Bulk,
            (n, "data") => {
                let n: i64 = n
                    .parse()
                    .map_err(|_| ParseError::new(WHAT, format!("{n:?} is not a channel number")))?;
                TopicKind::Channel(ConduitChannel::new(n)?)
            }
            _ => {
                return Err(ParseError::new(
                    WHAT,
                    format!("{a}/{b} is neither publish/v4 nor {{channel}}/data"),
                ))
            }
        };
        Ok(Topic {
            token: token.to_owned(),
            network_id,
            kind,
        })
    }
}

#[derive(Deserialize)]
struct BulkObject {
    timestamp: Option<serde_json::Value>,
    data: Option<Vec<V2Item>>,
}

#[derive(Deserialize)]
struct ChannelObject {
    timestamp: Option<serde_json::Value>,
    value: Option<Box<RawValue>>,
}

fn time_or(v: Option<serde_json::Value>, received: Timestamp) -> Result<Timestamp, ParseError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(received),
        Some(v) => parse_timestamp(Some(&v)),
    }
}

impl TopicKind {
    /// Decodes a message of this topic. The document gives the payload of `publish/v4` only (the
    /// v1 hex byte array, as text); the update topics take the v2 shapes: `0/data` a `data` array
    /// or `{"timestamp", "data"}`, `{channel}/data` a bare number or `{"timestamp", "value"}`.
    /// Without a `timestamp` (always, for `publish/v4`), the time is when it was received.
    pub fn decode(
        self,
        payload: &[u8],
        received: Timestamp,
    ) -> Result<(Timestamp, Vec<Reading>), ParseError> {
        let text = std::str::from_utf8(payload)
            .map_err(|e| ParseError::at("payload", e.valid_up_to(), "is not UTF-8 text"))?
            .trim();
        match self {
            TopicKind::PublishV4 => Ok((received, decode_v1_data(text)?)),
            TopicKind::Bulk if text.starts_with('[') => {
                let items: Vec<V2Item> = serde_json::from_str(text).map_err(json_error)?;
                Ok((received, readings_from(items)?))
            }
            TopicKind::Bulk => {
                let o: BulkObject = serde_json::from_str(text).map_err(json_error)?;
                let items = o
                    .data
                    .ok_or_else(|| ParseError::new("data", "is missing"))?;
                Ok((time_or(o.timestamp, received)?, readings_from(items)?))
            }
            TopicKind::Channel(channel) if text.starts_with('{') => {
                let o: ChannelObject = serde_json::from_str(text).map_err(json_error)?;
                let raw = o
                    .value
                    .ok_or_else(|| ParseError::new("value", "is missing"))?;
                let value = parse_channel_value(raw.get())?;
                Ok((
                    time_or(o.timestamp, received)?,
                    vec![Reading { channel, value }],
                ))
            }
            TopicKind::Channel(channel) => {
                let value = parse_channel_value(text)?;
                Ok((received, vec![Reading { channel, value }]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let now = Timestamp::from_millis(1_700_000_000_000).unwrap();
        // the document's example: Payload: 0A10010001000000A00F0000
        let (ts, r) = TopicKind::PublishV4
            .decode(b"0A10010001000000A00F0000", now)
            .unwrap();
        assert_eq!(ts, now);
        let got: Vec<(u8, f64)> = r.iter().map(|r| (r.channel.number(), r.value)).collect();
        assert_eq!(
            got,
            [(255, 4106.0), (254, 1.0), (253, 1.0), (252, 0.0), (1, 4.0)]
        );
        let (ts, r) = TopicKind::Bulk
            .decode(
                br#"[{"channelId":1,"value":2.5},{"channelId":2,"value":3}]"#,
                now,
            )
            .unwrap();
        assert_eq!((ts, r.len()), (now, 2));
        let (ts, r) = TopicKind::Bulk
            .decode(
                br#"{"timestamp":1660962091000,"data":[{"channelId":255,"value":3.976}]}"#,
                now,
            )
            .unwrap();
        assert_eq!((ts.as_millis(), r[0].value), (1_660_962_091_000, 3.976));
        let seven = TopicKind::Channel(ConduitChannel::new(7).unwrap());
        let (_, r) = seven.decode(b" 21.5\n", now).unwrap();
        assert_eq!((r[0].channel.number(), r[0].value), (7, 21.5));
        let (ts, r) = seven
            .decode(br#"{"value":-1,"timestamp":1660962091000}"#, now)
            .unwrap();
        assert_eq!((ts.as_millis(), r[0].value), (1_660_962_091_000, -1.0));
        for (kind, bad) in [
            (TopicKind::PublishV4, &b"0A1"[..]),
            (TopicKind::PublishV4, &b"\xff\xfe"[..]),
            (TopicKind::Bulk, &b"[]"[..]),
            (TopicKind::Bulk, &b"{}"[..]),
            (seven, &b"abc"[..]),
            (seven, &br#"{"value":"1"}"#[..]),
        ] {
            assert!(kind.decode(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_documents_topics() {
        let t = Topic::parse("xxxxxxxxxxxxxxxxxx/mydevice1234/publish/v4").unwrap();
        assert_eq!(t.token, "xxxxxxxxxxxxxxxxxx");
        assert_eq!(t.network_id.as_str(), "mydevice1234");
        assert_eq!(t.kind, TopicKind::PublishV4);
        assert_eq!(Topic::parse("T/D/0/data").unwrap().kind, TopicKind::Bulk);
        assert_eq!(
            Topic::parse("T/D/7/data").unwrap().kind,
            TopicKind::Channel(ConduitChannel::new(7).unwrap())
        );
        for bad in [
            "T/D/publish",
            "T/D/33/data",
            "/D/0/data",
            "T/D/x/data",
            "T/D/0/dat",
            "T/D/publish/v4/x",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
    }
}
