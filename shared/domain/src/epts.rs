//! Proficloud's time-series REST API ("endpoint time-series", `/epts/*`): the query parameters
//! of `/epts/last` and `/epts/data` and the JSON shapes they answer with. A series is named by
//! a device UUID and a metric (`timeSeriesName`, a channel's communicationId such as
//! `auto~watt`); every point is `{"timestamp": "<RFC 3339>", "values": {"value": <number>}}`.

use crate::error::ParseError;
use crate::ids::Uuid;
use crate::point::Point;
use crate::time::Timestamp;

/// At most this many UUIDs or metric names in one request: the series are looked up with one
/// `IN (...)` list each.
pub const MAX_NAMES: usize = 500;

/// `uuid` and `timeSeriesName` of a request: which series, in the order asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesSelection {
    pub uuids: Vec<Uuid>,
    pub names: Vec<String>,
}

/// `/epts/data`: the series and the time range `fromDate <= t <= toDate` (both ends included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataQuery {
    pub series: SeriesSelection,
    pub from: Timestamp,
    pub to: Timestamp,
}

fn params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn single<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, ParseError> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(ParseError::new(
            name,
            "is given more than once; give one comma-separated list",
        ));
    }
    Ok(first)
}

fn required<'a>(params: &'a [(String, String)], name: &'static str) -> Result<&'a str, ParseError> {
    single(params, name)?
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ParseError::new(name, "is required"))
}

/// A comma-separated list without spaces ("comma separated without spaces"); repeated entries
/// are kept once, in their first position.
fn list<T: PartialEq>(
    value: &str,
    name: &'static str,
    parse: impl Fn(&str) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    let mut out: Vec<T> = Vec::new();
    for (i, item) in value.split(',').enumerate() {
        if item.trim().is_empty() {
            return Err(ParseError::new(
                name,
                format!("entry {} of {value:?} is empty", i + 1),
            ));
        }
        let parsed = parse(item.trim())?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    if out.len() > MAX_NAMES {
        return Err(ParseError::new(
            name,
            format!(
                "lists {} entries; at most {MAX_NAMES} per request",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn selection(params: &[(String, String)]) -> Result<SeriesSelection, ParseError> {
    let uuids = list(required(params, "uuid")?, "uuid", |s| {
        Uuid::parse(s).map_err(|e| ParseError::new("uuid", e.message))
    })?;
    let names = list(required(params, "timeSeriesName")?, "timeSeriesName", |s| {
        Ok(s.to_owned())
    })?;
    Ok(SeriesSelection { uuids, names })
}

/// An ISO-8601 date-time as the document writes them (`2017-04-20T00:00:00.000Z`); an offset
/// other than `Z` is allowed.
fn date(params: &[(String, String)], name: &'static str) -> Result<Timestamp, ParseError> {
    let value = required(params, name)?;
    Timestamp::parse_rfc3339(value.trim()).map_err(|_| {
        ParseError::new(
            name,
            format!("{value:?} is not an ISO-8601 date-time such as 2017-04-20T00:00:00.000Z"),
        )
    })
}

impl SeriesSelection {
    /// The query string of `/epts/last`.
    pub fn parse_last(query: &str) -> Result<SeriesSelection, ParseError> {
        selection(&params(query))
    }
}

impl DataQuery {
    /// The query string of `/epts/data`.
    pub fn parse(query: &str) -> Result<DataQuery, ParseError> {
        let params = params(query);
        let series = selection(&params)?;
        let from = date(&params, "fromDate")?;
        let to = date(&params, "toDate")?;
        if from > to {
            return Err(ParseError::new(
                "fromDate",
                format!("{from} is after toDate {to}"),
            ));
        }
        Ok(DataQuery { series, from, to })
    }
}

/// Writes `"key":` (the key escaped as JSON).
fn key(out: &mut String, k: &str) {
    crate::query::format::go_string(out, k);
    out.push(':');
}

/// Writes `[{"timestamp": .., "values": {"value": ..}}, ...]`: by hand rather than through
/// `serde_json::Value`, because a day at 1 Hz is 86,400 of them in one answer.
fn points_json(out: &mut String, points: &[Point]) {
    out.push('[');
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"timestamp\":\"");
        out.push_str(&p.ts().to_rfc3339());
        out.push_str("\",\"values\":{\"value\":");
        crate::query::format::go_float(out, p.value());
        out.push_str("}}");
    }
    out.push(']');
}

/// The points of one series, as both endpoints list them.
pub struct SeriesPoints<'a> {
    pub uuid: Uuid,
    pub name: &'a str,
    pub points: &'a [Point],
}

/// `/epts/last`: `{uuid: {metric: [point]}}`, devices and metrics in the order asked. Series
/// without a point are left out.
pub fn last_response(series: &[SeriesPoints<'_>]) -> String {
    let mut out = String::from("{");
    let mut current: Option<Uuid> = None;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        if current != Some(s.uuid) {
            if current.is_some() {
                out.push_str("},");
            }
            key(&mut out, &s.uuid.to_string());
            out.push('{');
            current = Some(s.uuid);
        } else {
            out.push(',');
        }
        key(&mut out, s.name);
        points_json(&mut out, s.points);
    }
    if current.is_some() {
        out.push('}');
    }
    out.push('}');
    out
}

/// `/epts/data`: `[{uuid: {metric: [point, ...]}}, ...]`, one element per series with points in
/// the range, in the order asked, points oldest first.
pub fn data_response(series: &[SeriesPoints<'_>]) -> String {
    let total: usize = series.iter().map(|s| s.points.len()).sum();
    let mut out = String::with_capacity(64 + total * 64);
    out.push('[');
    for (i, s) in series.iter().filter(|s| !s.points.is_empty()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        key(&mut out, &s.uuid.to_string());
        out.push('{');
        key(&mut out, s.name);
        points_json(&mut out, s.points);
        out.push_str("}}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const UUID: &str = "355f6856-e9a4-469f-8f22-3f8b037d064a";

    fn point(ts: &str, v: f64) -> Point {
        Point::new(Timestamp::parse_rfc3339(ts).unwrap(), v).unwrap()
    }

    #[test]
    fn the_documents_last_query() {
        let q = format!("uuid={UUID}&timeSeriesName=auto~pressure,auto~temperature,auto~watt");
        let s = SeriesSelection::parse_last(&q).unwrap();
        assert_eq!(s.uuids, [Uuid::parse(UUID).unwrap()]);
        assert_eq!(s.names, ["auto~pressure", "auto~temperature", "auto~watt"]);
    }

    #[test]
    fn the_documents_data_query() {
        let q = format!(
            "uuid={UUID}&timeSeriesName=auto~watt&fromDate=2020-07-21T10:45:00.000Z\
             &toDate=2020-07-21T10:45:05.000Z"
        );
        let d = DataQuery::parse(&q).unwrap();
        assert_eq!(d.from.to_string(), "2020-07-21T10:45:00Z");
        assert_eq!(d.to.to_string(), "2020-07-21T10:45:05Z");
        // `+` in a query string is a space, so an offset must be percent-encoded
        let q = format!(
            "uuid={UUID}&timeSeriesName=a&fromDate=2020-07-21T12:45:00%2B02:00\
             &toDate=2020-07-21T10:46:00Z"
        );
        assert_eq!(
            DataQuery::parse(&q).unwrap().from.to_string(),
            "2020-07-21T10:45:00Z"
        );
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let cases = [
            ("timeSeriesName=a", "uuid"),
            (&format!("uuid={UUID}") as &str, "timeSeriesName"),
            ("uuid=not-a-uuid&timeSeriesName=a", "uuid"),
            (&format!("uuid={UUID},&timeSeriesName=a"), "uuid"),
            (&format!("uuid={UUID}&uuid={UUID}&timeSeriesName=a"), "uuid"),
        ];
        for (q, what) in cases {
            let e = SeriesSelection::parse_last(q).unwrap_err();
            assert_eq!(e.what, what, "{q}: {e}");
        }
        let base = format!("uuid={UUID}&timeSeriesName=a");
        for (extra, what) in [
            ("", "fromDate"),
            ("&fromDate=2020-07-21T10:45:00Z", "toDate"),
            (
                "&fromDate=yesterday&toDate=2020-07-21T10:45:00Z",
                "fromDate",
            ),
            (
                "&fromDate=2020-07-21T10:46:00Z&toDate=2020-07-21T10:45:00Z",
                "fromDate",
            ),
        ] {
            let e = DataQuery::parse(&format!("{base}{extra}")).unwrap_err();
            assert_eq!(e.what, what, "{extra}: {e}");
        }
        let many = (0..=MAX_NAMES).map(|i| format!("m{i}")).collect::<Vec<_>>();
        let q = format!("uuid={UUID}&timeSeriesName={}", many.join(","));
        assert!(SeriesSelection::parse_last(&q).is_err());
    }

    #[test]
    fn duplicates_are_kept_once_in_order() {
        let q = format!("uuid={UUID}&timeSeriesName=b,a,b");
        assert_eq!(SeriesSelection::parse_last(&q).unwrap().names, ["b", "a"]);
    }

    #[test]
    fn the_documents_response_shapes() {
        let uuid = Uuid::parse(UUID).unwrap();
        let p = [point("2020-07-21T11:43:05Z", 1000.0)];
        let w = [point("2020-07-21T11:43:05Z", 5000.0)];
        let last: Value = serde_json::from_str(&last_response(&[
            SeriesPoints {
                uuid,
                name: "auto~pressure",
                points: &p,
            },
            SeriesPoints {
                uuid,
                name: "auto~nothing",
                points: &[],
            },
            SeriesPoints {
                uuid,
                name: "auto~watt",
                points: &w,
            },
        ]))
        .unwrap();
        assert_eq!(
            last,
            json!({ UUID: {
                "auto~pressure": [{"timestamp": "2020-07-21T11:43:05Z", "values": {"value": 1000}}],
                "auto~watt": [{"timestamp": "2020-07-21T11:43:05Z", "values": {"value": 5000}}],
            }})
        );
        let d = [
            point("2020-07-21T10:45:01Z", 10.0),
            point("2020-07-21T10:45:02.5Z", 0.5),
        ];
        let data: Value = serde_json::from_str(&data_response(&[SeriesPoints {
            uuid,
            name: "auto~pressure",
            points: &d,
        }]))
        .unwrap();
        assert_eq!(last_response(&[]), "{}");
        assert_eq!(data_response(&[]), "[]");
        assert_eq!(
            data,
            json!([{ UUID: { "auto~pressure": [
                {"timestamp": "2020-07-21T10:45:01Z", "values": {"value": 10}},
                {"timestamp": "2020-07-21T10:45:02.500Z", "values": {"value": 0.5}},
            ]}}])
        );
    }
}
