//! Request bodies as the document's Request tables nest them, read field by field so that every
//! refusal names the field by its path (`devices[2].sensors[0].channels[1].grouping`): JSON
//! types, required flags (JSON `null` counts as absent, as WCF clients send it), array bounds.
//! Lengths and characters are the domain types' (`Name` 1-30, `Description` 0-1000, `ShortText`
//! 0-100, `Unit` 0-1000, `Purpose` 0-10, ...), the same rules the admin API applies.

use fieldline_domain::sensorbis::kind;
use fieldline_domain::{
    ChannelFields, CommunicationId, Description, DeviceFields, Email, Grouping, Location, Name,
    NotificationInterval, ParseError, Purpose, SensorFields, ShortText, Thresholds, Unit,
    UtcOffset, ValueRange,
};
use serde_json::{Map, Value};

use crate::error::{SbError, SbResult};

/// Arrays of the Request tables hold at most this many elements ("max 10 elements").
pub const MAX_ELEMENTS: usize = 10;

/// An object of the request at `path`.
#[derive(Debug)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

fn bad(path: &str, message: impl std::fmt::Display) -> SbError {
    SbError::bad_request(format!("{path}: {message}"))
}

impl<'a> Obj<'a> {
    /// The request body (an empty body is an empty object: GetFederation's request is empty).
    pub fn root(v: &'a Value) -> SbResult<Obj<'a>> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: String::new(),
            }),
            other => Err(SbError::bad_request(format!(
                "the request body must be a JSON object, not {}",
                kind(other)
            ))),
        }
    }

    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The member, `None` when absent or null.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str) -> SbError {
        bad(&self.path_of(name), "is required")
    }

    pub fn object(&self, name: &str) -> SbResult<Option<Obj<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.path_of(name),
            })),
            Some(other) => Err(bad(
                &self.path_of(name),
                format!("must be an object, not {}", kind(other)),
            )),
        }
    }

    pub fn required_object(&self, name: &str) -> SbResult<Obj<'a>> {
        self.object(name)?.ok_or_else(|| self.missing(name))
    }

    /// An array of objects of at most [`MAX_ELEMENTS`]; absent is empty unless `required`.
    pub fn array(&self, name: &str, required: bool) -> SbResult<Vec<Obj<'a>>> {
        let path = self.path_of(name);
        let items = match self.get(name) {
            None if required => return Err(self.missing(name)),
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(bad(&path, format!("must be an array, not {}", kind(other))))
            }
        };
        if items.len() > MAX_ELEMENTS {
            return Err(bad(
                &path,
                format!(
                    "has {} elements; at most {MAX_ELEMENTS} are allowed",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(map) => Ok(Obj {
                    map,
                    path: format!("{path}[{i}]"),
                }),
                other => Err(bad(
                    &format!("{path}[{i}]"),
                    format!("must be an object, not {}", kind(other)),
                )),
            })
            .collect()
    }

    pub fn string(&self, name: &str) -> SbResult<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad(
                &self.path_of(name),
                format!("must be a string, not {}", kind(other)),
            )),
        }
    }

    /// A string parsed by a domain type, the refusal naming the field.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> SbResult<Option<T>> {
        self.string(name)?
            .map(|s| parse(s).map_err(|e| bad(&self.path_of(name), e.message)))
            .transpose()
    }

    pub fn required_parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> SbResult<T> {
        self.parsed(name, parse)?.ok_or_else(|| self.missing(name))
    }

    pub fn f64(&self, name: &str) -> SbResult<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| bad(&self.path_of(name), format!("{n} is not a finite double"))),
            Some(other) => Err(bad(
                &self.path_of(name),
                format!("must be a number (double), not {}", kind(other)),
            )),
        }
    }

    pub fn int(&self, name: &str) -> SbResult<Option<i32>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| {
                    bad(
                        &self.path_of(name),
                        format!("{n} is not an int (a 32-bit whole number)"),
                    )
                }),
            Some(other) => Err(bad(
                &self.path_of(name),
                format!("must be an int, not {}", kind(other)),
            )),
        }
    }

    pub fn bool(&self, name: &str) -> SbResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(bad(
                &self.path_of(name),
                format!("must be a boolean, not {}", kind(other)),
            )),
        }
    }

    pub fn required_bool(&self, name: &str) -> SbResult<bool> {
        self.bool(name)?.ok_or_else(|| self.missing(name))
    }

    /// An `id` (`string (13)`): `None` when absent or null; a string of another shape is a bad
    /// request.
    pub fn id<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> SbResult<Option<T>> {
        self.parsed(name, parse)
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// A device's Sensorbis fields; on `base` (ModifyDevice) what Sensorbis does not set (AlphaX
/// network id, metadata) is kept. `notification_required`: ModifyDevice's `notificationUri` is
/// required (it may be empty: no notifications).
pub fn device_fields(
    o: &Obj<'_>,
    base: Option<&DeviceFields>,
    notification_required: bool,
) -> SbResult<DeviceFields> {
    let mut f = match base {
        Some(b) => b.clone(),
        None => DeviceFields::named(o.required_parsed("name", Name::parse)?),
    };
    f.name = o.required_parsed("name", Name::parse)?;
    f.vendor_id = o.parsed("vendorId", ShortText::parse)?.unwrap_or_default();
    f.customer_id = o
        .parsed("customerId", ShortText::parse)?
        .unwrap_or_default();
    f.descr = o.parsed("descr", Description::parse)?.unwrap_or_default();
    f.time_zone = match o.int("timeZone")? {
        Some(m) => {
            UtcOffset::from_minutes(m).map_err(|e| bad(&o.path_of("timeZone"), e.message))?
        }
        None => UtcOffset::default(),
    };
    f.uses_dst = o.bool("usesDst")?.unwrap_or(false);
    f.location = match (o.f64("lon")?, o.f64("lat")?) {
        (None, None) => None,
        (Some(lon), Some(lat)) => {
            Some(Location::new(lon, lat).map_err(|e| bad(&o.path_of(e.what), e.message))?)
        }
        _ => {
            return Err(bad(
                &o.path_of("lon"),
                "lon and lat must be given together (or neither)",
            ))
        }
    };
    if notification_required && !o.map.contains_key("notificationUri") {
        return Err(o.missing("notificationUri"));
    }
    f.notification_email = o.parsed("notificationUri", notification_address)?.flatten();
    f.notifications_min_interval = match o.int("notificationsMinInterval")? {
        Some(s) => u32::try_from(s)
            .map_err(|_| pe("notificationsMinInterval", "is negative"))
            .and_then(NotificationInterval::from_secs)
            .map_err(|e| bad(&o.path_of("notificationsMinInterval"), e.message))?,
        None => NotificationInterval::default(),
    };
    Ok(f)
}

fn pe(what: &'static str, message: impl Into<String>) -> ParseError {
    ParseError {
        what,
        message: message.into(),
        offset: None,
    }
}

/// `notificationUri` (0-1000): an e-mail address, bare or as a `mailto:` URI; empty means none.
fn notification_address(s: &str) -> Result<Option<Email>, ParseError> {
    if s.chars().count() > 1000 {
        return Err(pe("notificationUri", "must have at most 1000 characters"));
    }
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let address = s
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .map_or(s, |_| &s[7..]);
    Email::parse(address).map(Some).map_err(|e| {
        pe(
            "notificationUri",
            format!(
                "must be an e-mail address (notifications are e-mails): {}",
                e.message
            ),
        )
    })
}

/// A sensor's fields.
pub fn sensor_fields(o: &Obj<'_>) -> SbResult<SensorFields> {
    Ok(SensorFields {
        name: o.required_parsed("name", Name::parse)?,
        descr: o.parsed("descr", Description::parse)?.unwrap_or_default(),
        customer_id: o
            .parsed("customerId", ShortText::parse)?
            .unwrap_or_default(),
    })
}

/// A channel's `communicationId` (0-32): `None` when absent or empty (the channel's id is
/// taken). Characters other than letters, digits, `-`, `.`, `_`, `~` are error 140; more than
/// 32 characters a bad request.
pub fn communication_id(o: &Obj<'_>) -> SbResult<Option<CommunicationId>> {
    let Some(s) = o.string("communicationId")? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    match CommunicationId::parse(s) {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.offset.is_some() => Err(SbError::new(
            140,
            format!(
                "invalid characters in channel communicationId ({}): {}",
                o.path_of("communicationId"),
                e.message
            ),
        )),
        Err(e) => Err(bad(&o.path_of("communicationId"), e.message)),
    }
}

/// A channel's fields (the calibration, which Sensorbis does not set, from `base`).
pub fn channel_fields(o: &Obj<'_>, base: Option<&ChannelFields>) -> SbResult<ChannelFields> {
    let name = o.required_parsed("name", Name::parse)?;
    let mut f = match base {
        Some(b) => b.clone(),
        None => ChannelFields::named(name.clone()),
    };
    f.name = name;
    f.enumerated = o.required_bool("enumerated")?;
    f.unit = o.parsed("unit", Unit::parse)?.unwrap_or_default();
    f.range = ValueRange::new(o.f64("min")?, o.f64("max")?)
        .map_err(|e| bad(&o.path_of("min"), e.message))?;
    f.purpose = o.parsed("purpose", Purpose::parse)?.unwrap_or_default();
    f.grouping = o.required_parsed("grouping", Grouping::parse)?;
    let op = |n: &str| -> SbResult<Option<&str>> {
        let s = o.string(n)?;
        if s.is_some_and(|s| s.chars().count() > 3) {
            return Err(bad(&o.path_of(n), "must have at most 3 characters"));
        }
        Ok(s)
    };
    f.thresholds = Thresholds::from_parts(
        op("thresholdOperator1")?,
        o.f64("thresholdValue1")?,
        op("thresholdOperator2")?,
        o.f64("thresholdValue2")?,
    )
    .map_err(|e| bad(&o.path_of("thresholdOperator1"), e.to_string()))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code<T: std::fmt::Debug>(r: SbResult<T>) -> (u16, String) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn communication_ids_characters_are_140_length_is_10_empty_is_none() {
        let v = json!({ "communicationId": "a b" });
        assert_eq!(code(communication_id(&Obj::root(&v).unwrap())).0, 140);
        let v = json!({ "communicationId": "x".repeat(33) });
        assert_eq!(code(communication_id(&Obj::root(&v).unwrap())).0, 10);
        for empty in [
            json!({ "communicationId": "" }),
            json!({ "communicationId": null }),
            json!({}),
        ] {
            assert_eq!(communication_id(&Obj::root(&empty).unwrap()).unwrap(), None);
        }
        let v = json!({ "communicationId": 5 });
        assert_eq!(code(communication_id(&Obj::root(&v).unwrap())).0, 10);
    }

    #[test]
    fn refusals_name_the_nested_path() {
        let v = json!({ "devices": [{ "name": "d", "sensors": [{ "name": "s",
            "channels": [{ "name": "c", "enumerated": false, "grouping": "X" }] }] }] });
        let root = Obj::root(&v).unwrap();
        let d = &root.array("devices", true).unwrap()[0];
        let s = &d.array("sensors", false).unwrap()[0];
        let c = &s.array("channels", false).unwrap()[0];
        let (n, m) = code(channel_fields(c, None));
        assert_eq!(n, 10);
        assert!(
            m.starts_with("devices[0].sensors[0].channels[0].grouping:"),
            "{m}"
        );
        let eleven = json!({ "devices": vec![json!({}); 11] });
        let (_, m) = code(Obj::root(&eleven).unwrap().array("devices", true));
        assert!(m.contains("at most 10"), "{m}");
    }

    #[test]
    fn device_fields_as_the_table_says() {
        let v = json!({ "name": "Boiler", "timeZone": 60, "lon": 1.5, "lat": 2.5,
            "notificationUri": "mailto:Ops@Example.com", "notificationsMinInterval": 900 });
        let f = device_fields(&Obj::root(&v).unwrap(), None, false).unwrap();
        assert_eq!(f.time_zone.minutes(), 60);
        assert_eq!(f.location.unwrap().lat(), 2.5);
        assert_eq!(f.notification_email.unwrap().as_str(), "ops@example.com");
        assert_eq!(f.notifications_min_interval.secs(), 900);
        let v = json!({ "name": "x" });
        assert_eq!(
            code(device_fields(&Obj::root(&v).unwrap(), None, true)).0,
            10
        );
        let v = json!({ "name": "x", "notificationUri": "" });
        let f = device_fields(&Obj::root(&v).unwrap(), None, true).unwrap();
        assert_eq!(f.notification_email, None);
        for bad in [
            json!({ "name": "x", "lat": 1.0 }),
            json!({ "name": "x", "timeZone": 1.5 }),
            json!({ "name": "x", "notificationsMinInterval": 599 }),
            json!({ "name": "x", "usesDst": 1 }),
        ] {
            assert_eq!(
                code(device_fields(&Obj::root(&bad).unwrap(), None, false)).0,
                10,
                "{bad}"
            );
        }
    }
}
