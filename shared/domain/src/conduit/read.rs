//! Reads: the query arguments of `GET /conduitv4` and `/conduitv6` (`token`, `id`, `ch`, `fcdt`,
//! `tcdt`, and Fieldline's `cursor`), how a read is cut into pages, and the records they answer
//! with, in the document's field names and spellings.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

use crate::channel::{Channel, CommunicationId};
use crate::device::Device;
use crate::error::ParseError;
use crate::point::Point;
use crate::text::ShortText;
use crate::time::Timestamp;

/// Without `fcdt` and `tcdt`: the last hour.
pub const DEFAULT_WINDOW_SECS: i64 = 3600;

/// A parsed read request. The range is `from <= ts < to` in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadQuery {
    pub token: Option<String>,
    /// `id`: a network id (or, for a device registered without one, its 13-character id).
    pub id: Option<String>,
    /// `ch`: a channel's communicationId (`"4"`).
    pub channel: Option<CommunicationId>,
    pub from: Timestamp,
    pub to: Timestamp,
    /// `cursor` (Fieldline's): the page continues after this record.
    pub cursor: Option<PageCursor>,
}

/// Where a page ended: the last record's time and channel (the storage key of the channel), in
/// the order pages are read, `(timestamp, channel)`. Opaque to clients: a base64url string that
/// the `X-Conduit-Cursor` header gives and the `cursor` argument takes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor {
    pub ts: Timestamp,
    pub channel: i64,
}

impl PageCursor {
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.ts.as_millis().to_be_bytes());
        bytes[8..].copy_from_slice(&self.channel.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn parse(s: &str) -> Result<PageCursor, ParseError> {
        let bad = || {
            ParseError::new(
                "cursor",
                "is not a cursor this server gave (send the X-Conduit-Cursor header's value)",
            )
        };
        let bytes: [u8; 16] = URL_SAFE_NO_PAD
            .decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        let (ts, channel) = bytes.split_at(8);
        let ms = i64::from_be_bytes(ts.try_into().map_err(|_| bad())?);
        Ok(PageCursor {
            ts: Timestamp::from_millis(ms).map_err(|_| bad())?,
            channel: i64::from_be_bytes(channel.try_into().map_err(|_| bad())?),
        })
    }
}

fn seconds(name: &'static str, v: &str) -> Result<Timestamp, ParseError> {
    let secs: i64 = v
        .trim()
        .parse()
        .map_err(|_| ParseError::new(name, format!("{v:?} is not a whole number of seconds")))?;
    Timestamp::from_secs(secs).map_err(|e| ParseError::new(name, e.message))
}

impl ReadQuery {
    /// Parses a URL query string. `fcdt` and `tcdt` are seconds and go together (each "requires"
    /// the other); `tcdt` is inclusive, so a range ends at the end of its last second. `cursor`
    /// continues a read after the page that gave it. Unknown arguments are ignored; a repeated
    /// one counts once, the last.
    pub fn parse(query: &str, now: Timestamp) -> Result<ReadQuery, ParseError> {
        let (mut token, mut id, mut ch, mut fcdt, mut tcdt) = (None, None, None, None, None);
        let mut cursor = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "token" => token = v,
                "id" => id = v,
                "ch" => ch = v,
                "fcdt" => fcdt = v,
                "tcdt" => tcdt = v,
                "cursor" => cursor = v,
                _ => {}
            }
        }
        let channel = ch
            .filter(|c| !c.is_empty())
            .map(|c| CommunicationId::parse(&c))
            .transpose()
            .map_err(|e| ParseError::new("ch", e.message))?;
        let (from, to) = match (fcdt, tcdt) {
            (None, None) => (now.add_secs(-DEFAULT_WINDOW_SECS), now.add_millis(1)),
            (Some(f), Some(t)) => {
                let (from, to) = (seconds("fcdt", &f)?, seconds("tcdt", &t)?.add_secs(1));
                if from >= to {
                    return Err(ParseError::new(
                        "fcdt",
                        format!("{f} is after tcdt {t}: the range is empty"),
                    ));
                }
                (from, to)
            }
            (Some(_), None) => return Err(ParseError::new("tcdt", "is missing: fcdt needs tcdt")),
            (None, Some(_)) => return Err(ParseError::new("fcdt", "is missing: tcdt needs fcdt")),
        };
        Ok(ReadQuery {
            token: token.filter(|t| !t.is_empty()),
            id: id.filter(|i| !i.is_empty()),
            channel,
            from,
            to,
            cursor: cursor
                .filter(|c| !c.is_empty())
                .map(|c| PageCursor::parse(&c))
                .transpose()?,
        })
    }
}

/// How a read's records are cut into a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCut {
    /// How many records the page holds.
    pub keep: usize,
    /// Whether records remain after them (then the last kept record is the page's cursor).
    pub more: bool,
    /// The `fcdt` that continues the read without skipping or repeating a record, when one
    /// does: when more remain and the page ends on a whole second.
    pub next_fcdt: Option<i64>,
}

/// How many of `ts` (record times in ms, in page order, one more than `limit` fetched when there
/// are more) make a page.
///
/// A page ends on a whole second when it can: when records were left over, the records of the
/// page's last second are dropped too (unless that would leave none), so that a client paging
/// by `fcdt = last val_date + 1` neither repeats nor skips a record. When more than `limit`
/// records share the page's first second, the page is cut inside it: no `fcdt` continues that
/// losslessly, only the cursor of the last kept record does.
pub fn cut_page(ts: &[i64], limit: usize) -> PageCut {
    let limit = limit.max(1);
    if ts.len() <= limit {
        return PageCut {
            keep: ts.len(),
            more: false,
            next_fcdt: None,
        };
    }
    let secs = |t: i64| t.div_euclid(1000);
    let last = secs(ts[limit - 1]);
    let keep = if secs(ts[limit]) == last {
        ts[..limit].iter().take_while(|&&t| secs(t) < last).count()
    } else {
        limit
    };
    if keep == 0 {
        return PageCut {
            keep: limit,
            more: true,
            next_fcdt: None,
        };
    }
    PageCut {
        keep,
        more: true,
        next_fcdt: Some(secs(ts[keep - 1]) + 1),
    }
}

/// One point with its channel and device: what a record is made from.
#[derive(Clone, Copy, Debug)]
pub struct RecordSource<'a> {
    pub device: &'a Device,
    pub channel: &'a Channel,
    pub point: Point,
}

/// A channel number as AlphaX shows it: a number, or the communicationId as text for a channel
/// named otherwise by another API (`auto~watt`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChannelNumber {
    Number(u32),
    Text(String),
}

/// `{"channel":4,"networkID":"21eea42dd37b","value":0.278,"timestamp":"1537406384"}`. `value`
/// is the calibrated value; `timestamp` is seconds, as a string, as printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct V4Record {
    pub channel: ChannelNumber,
    #[serde(rename = "networkID")]
    pub network_id: String,
    pub value: f64,
    pub timestamp: String,
}

/// The v6 record, every field of the document's example.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct V6Record {
    pub val_date: i64,
    pub dev_netid: String,
    pub dev_chid: ChannelNumber,
    pub val_raw: f64,
    pub val_type: Option<String>,
    pub dev_tag: Option<String>,
    pub val_description: Option<String>,
    pub dev_site: Option<String>,
    pub val_cal: f64,
    pub val_offset: f64,
    pub dev_type: Option<String>,
    pub dev_label: Option<String>,
    pub dev_powersource: Option<String>,
    pub dev_network: Option<String>,
    pub loc_lat: Option<f64>,
    pub loc_lng: Option<f64>,
    pub dev_category: Option<String>,
    pub dev_supplier: Option<String>,
    pub dev_model: Option<String>,
    pub dev_manufacturer: Option<String>,
    pub val_calibrated: f64,
}

fn text(t: &ShortText) -> Option<String> {
    (!t.is_empty()).then(|| t.as_str().to_owned())
}

impl RecordSource<'_> {
    /// The device's network id, or its 13-character id when it was registered without one.
    pub fn network_id(&self) -> String {
        self.device
            .fields
            .network_id
            .as_ref()
            .map_or_else(|| self.device.id.to_string(), |n| n.to_string())
    }

    fn channel_number(&self) -> ChannelNumber {
        let c = &self.channel.communication_id;
        c.as_number()
            .map_or_else(|| ChannelNumber::Text(c.to_string()), ChannelNumber::Number)
    }

    pub fn v4(&self) -> V4Record {
        V4Record {
            channel: self.channel_number(),
            network_id: self.network_id(),
            value: self.channel.fields.calibration.apply(self.point.value()),
            timestamp: self.point.ts().as_secs().to_string(),
        }
    }

    /// `val_cal` is the calibration factor and `val_offset` its offset (`val_calibrated =
    /// val_raw × val_cal + val_offset`), except that an uncalibrated channel shows `val_cal` 0,
    /// as in the document's example (raw 14, cal 0, offset 0, calibrated 14). `val_type` is the
    /// channel's unit, `val_description` its name; empty texts are `null`.
    pub fn v6(&self) -> V6Record {
        let (d, c) = (&self.device.fields, &self.channel.fields);
        let cal = c.calibration;
        let identity = cal == crate::channel::Calibration::IDENTITY;
        V6Record {
            val_date: self.point.ts().as_secs(),
            dev_netid: self.network_id(),
            dev_chid: self.channel_number(),
            val_raw: self.point.value(),
            val_type: (!c.unit.is_empty()).then(|| c.unit.to_string()),
            dev_tag: text(&d.meta.tag),
            val_description: (!c.name.as_str().is_empty()).then(|| c.name.to_string()),
            dev_site: text(&d.meta.site),
            val_cal: if identity { 0.0 } else { cal.scale() },
            val_offset: cal.offset(),
            dev_type: text(&d.meta.kind),
            dev_label: text(&d.meta.label),
            dev_powersource: text(&d.meta.power_source),
            dev_network: text(&d.meta.network),
            loc_lat: d.location.map(|l| l.lat()),
            loc_lng: d.location.map(|l| l.lon()),
            dev_category: text(&d.meta.category),
            dev_supplier: text(&d.meta.supplier),
            dev_model: text(&d.meta.model),
            dev_manufacturer: text(&d.meta.manufacturer),
            val_calibrated: cal.apply(self.point.value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Calibration, ChannelFields};
    use crate::device::{DeviceFields, DeviceMeta, Location, NetworkId};
    use crate::ids::{ChannelId, DeviceId, SensorId, Uuid};
    use crate::text::Name;

    fn now() -> Timestamp {
        Timestamp::from_secs(1_539_840_604).unwrap()
    }

    #[test]
    fn the_documents_queries() {
        let q = ReadQuery::parse("token=xxxxxxxxxxxxxxxxxxxxxx", now()).unwrap();
        assert_eq!(q.token.as_deref(), Some("xxxxxxxxxxxxxxxxxxxxxx"));
        assert_eq!(
            (q.from.as_secs(), q.to.as_millis()),
            (1_539_837_004, 1_539_840_604_001)
        );
        let q =
            ReadQuery::parse("id=21eea42dd37b&ch=4&token=xxxxxxxxxxxxxxxxxxxxxx", now()).unwrap();
        assert_eq!(q.id.as_deref(), Some("21eea42dd37b"));
        assert_eq!(q.channel.unwrap().as_str(), "4");
        let q = ReadQuery::parse(
            "token=xxxxxxxxxxxxxxxxxxxxxx&fcdt=1539792000&tcdt=1539840604",
            now(),
        )
        .unwrap();
        assert_eq!(q.from.as_millis(), 1_539_792_000_000);
        assert_eq!(q.to.as_millis(), 1_539_840_605_000);
        let q =
            ReadQuery::parse("id=21xxx42xx37x&ch=1&token=xxxxxxxxxxxxxxxxxxxxxx", now()).unwrap();
        assert_eq!(q.id.as_deref(), Some("21xxx42xx37x"));
    }

    #[test]
    fn bad_ranges() {
        let e = ReadQuery::parse("token=t&fcdt=1539792000", now()).unwrap_err();
        assert!(e.message.contains("fcdt needs tcdt"), "{e}");
        assert!(ReadQuery::parse("token=t&tcdt=1539792000", now()).is_err());
        assert!(ReadQuery::parse("token=t&fcdt=2&tcdt=1", now()).is_err());
        assert!(ReadQuery::parse("token=t&fcdt=x&tcdt=1", now()).is_err());
        assert!(ReadQuery::parse("token=t&ch=a%2Fb", now()).is_err());
        // the same second for both is one second's worth
        let q = ReadQuery::parse("fcdt=5&tcdt=5", now()).unwrap();
        assert_eq!(q.to.as_millis() - q.from.as_millis(), 1000);
    }

    fn cut(keep: usize, more: bool, next_fcdt: Option<i64>) -> PageCut {
        PageCut {
            keep,
            more,
            next_fcdt,
        }
    }

    #[test]
    fn pages_end_on_whole_seconds() {
        assert_eq!(cut_page(&[1, 2, 3], 3), cut(3, false, None));
        assert_eq!(cut_page(&[], 3), cut(0, false, None));
        // 1000 and 1500 share a second with the 4th (left over): they wait for the next page
        assert_eq!(cut_page(&[0, 1000, 1500, 1700], 3), cut(1, true, Some(1)));
        assert_eq!(cut_page(&[0, 1000, 2500, 3700], 3), cut(3, true, Some(3)));
        // the next second starts right after the page: the whole page is kept
        assert_eq!(cut_page(&[0, 1000, 1500, 2000], 3), cut(3, true, Some(2)));
    }

    #[test]
    fn a_second_larger_than_a_page_is_cut_inside_without_an_fcdt() {
        // More records in one second than a page holds: only a cursor continues the read.
        assert_eq!(cut_page(&[5, 5, 5, 5], 3), cut(3, true, None));
        assert_eq!(cut_page(&[5, 6, 7, 8], 3), cut(3, true, None));
        // Pages read through the cursor make progress whatever the seconds look like.
        let ts: Vec<i64> = (0..2500)
            .map(|i| if i < 1200 { 7000 } else { 8000 + i })
            .collect();
        let (mut at, mut pages) = (0, 0);
        while at < ts.len() {
            let end = (at + 1001).min(ts.len());
            let page = cut_page(&ts[at..end], 1000);
            assert!(page.keep > 0);
            at += page.keep;
            pages += 1;
            assert_eq!(page.more, at < ts.len());
        }
        assert_eq!((at, pages), (2500, 3));
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = PageCursor {
            ts: Timestamp::from_millis(1_700_000_000_123).unwrap(),
            channel: 4711,
        };
        let s = c.encode();
        assert!(s
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
        assert_eq!(PageCursor::parse(&s).unwrap(), c);
        let q = ReadQuery::parse(&format!("token=t&cursor={s}"), now()).unwrap();
        assert_eq!(q.cursor, Some(c));
        assert_eq!(
            ReadQuery::parse("token=t&cursor=", now()).unwrap().cursor,
            None
        );
        for bad in [
            "x",
            "AAAA",
            &s[1..],
            &format!("{s}AA"),
            "!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            let e = ReadQuery::parse(&format!("token=t&cursor={bad}"), now()).unwrap_err();
            assert_eq!(e.what, "cursor", "{bad}");
        }
    }

    fn device(meta: DeviceMeta) -> Device {
        let mut fields = DeviceFields::named(Name::parse("PAX03").unwrap());
        fields.network_id = Some(NetworkId::parse("842D8Y118754").unwrap());
        fields.location = Some(Location::new(145.116588, -38.146664).unwrap());
        fields.meta = meta;
        Device {
            key: 1,
            id: DeviceId::generate().unwrap(),
            uuid: Uuid::generate().unwrap(),
            fields,
            notification_verified: false,
            created_at: Timestamp::MIN,
            updated_at: Timestamp::MIN,
        }
    }

    fn channel(calibration: Calibration) -> Channel {
        let mut fields = ChannelFields::named(Name::parse("Count").unwrap());
        fields.unit = crate::text::Unit::parse("Count").unwrap();
        fields.calibration = calibration;
        Channel {
            key: 1,
            id: ChannelId::generate().unwrap(),
            device: DeviceId::generate().unwrap(),
            sensor: SensorId::generate().unwrap(),
            communication_id: CommunicationId::from_number(1),
            fields,
            created_at: Timestamp::MIN,
        }
    }

    #[test]
    fn the_documents_v6_record() {
        let st = |s: &str| ShortText::parse(s).unwrap();
        let meta = DeviceMeta {
            kind: st("device"),
            tag: st("PAX03"),
            site: st("City"),
            label: st("Active"),
            power_source: st("Battery"),
            network: st("LTE CatM1"),
            category: st("Device"),
            supplier: st("Minnovation"),
            manufacturer: st("Minnovation"),
            ..DeviceMeta::default()
        };
        let d = device(meta);
        let c = channel(Calibration::IDENTITY);
        let src = RecordSource {
            device: &d,
            channel: &c,
            point: Point::new(Timestamp::from_secs(1_608_171_093).unwrap(), 14.0).unwrap(),
        };
        let got = serde_json::to_value(src.v6()).unwrap();
        let want: serde_json::Value = serde_json::from_str(
            r#"{"val_date":1608171093,"dev_netid":"842D8Y118754","dev_chid":1,"val_raw":14.0,
            "val_type":"Count","dev_tag":"PAX03","val_description":"Count","dev_site":"City",
            "val_cal":0.0,"val_offset":0.0,"dev_type":"device","dev_label":"Active",
            "dev_powersource":"Battery","dev_network":"LTE CatM1","loc_lat":-38.146664,
            "loc_lng":145.116588,"dev_category":"Device","dev_supplier":"Minnovation",
            "dev_model":null,"dev_manufacturer":"Minnovation","val_calibrated":14.0}"#,
        )
        .unwrap();
        assert_eq!(got, want);
        // calibrated: raw × cal + offset
        let c = channel(Calibration::new(2.0, 1.0).unwrap());
        let src = RecordSource { channel: &c, ..src };
        let v6 = src.v6();
        assert_eq!(
            (v6.val_cal, v6.val_offset, v6.val_calibrated),
            (2.0, 1.0, 29.0)
        );
    }

    #[test]
    fn the_documents_v4_record() {
        let d = device(DeviceMeta::default());
        let mut c = channel(Calibration::IDENTITY);
        c.communication_id = CommunicationId::from_number(4);
        let src = RecordSource {
            device: &d,
            channel: &c,
            point: Point::new(Timestamp::from_millis(1_537_406_384_250).unwrap(), 0.278).unwrap(),
        };
        let got = serde_json::to_string(&src.v4()).unwrap();
        assert_eq!(
            got,
            r#"{"channel":4,"networkID":"842D8Y118754","value":0.278,"timestamp":"1537406384"}"#
        );
        let mut c2 = c.clone();
        c2.communication_id = CommunicationId::parse("auto~watt").unwrap();
        let src = RecordSource {
            channel: &c2,
            ..src
        };
        assert_eq!(src.v4().channel, ChannelNumber::Text("auto~watt".into()));
    }
}
