//! Data export (Sensorbis "Data export": a comma-separated values file and an HTML data file):
//! the rows of chosen channels, raw or grouped per interval by each channel's grouping (`S`
//! sum, `M` mean), times in the organization's time zone. Pure formatting and grouping, one
//! row at a time, so that an export of any length is produced in pages in bounded memory (the
//! paging is `fieldline_service::export`'s).

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::channel::Grouping;
use crate::error::ParseError;
use crate::ids::ChannelId;
use crate::time::Timestamp;

/// The file an export produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180: comma-separated, double quotes where needed, CRLF line ends, a header row.
    Csv,
    /// One HTML document with one table.
    Html,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "html" => Ok(ExportFormat::Html),
            _ => Err(ParseError::new(
                "format",
                format!("{s:?} is neither \"csv\" nor \"html\""),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8; header=present",
            ExportFormat::Html => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Html => "html",
        }
    }
}

/// The most channels one export names.
pub const MAX_CHANNELS: usize = 100;

/// What to export: `channels=<id>,<id>&from=&to=&format=csv|html&interval=<seconds>` (times
/// RFC 3339 or milliseconds; `to` exclusive; no `interval`: the raw points).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportQuery {
    pub channels: Vec<ChannelId>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub interval_secs: Option<u32>,
    pub format: ExportFormat,
}

fn time(what: &'static str, v: &str) -> Result<Timestamp, ParseError> {
    match v.parse::<i64>() {
        Ok(ms) => Timestamp::from_millis(ms),
        Err(_) => Timestamp::parse_rfc3339(v),
    }
    .map_err(|e| ParseError::new(what, e.message))
}

impl ExportQuery {
    pub fn parse(query: &str) -> Result<Self, ParseError> {
        let (mut channels, mut from, mut to, mut format, mut interval) =
            (None, None, None, ExportFormat::Csv, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "channels" => {
                    channels = Some(
                        v.split(',')
                            .map(|c| ChannelId::parse(c.trim()))
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                }
                "from" => from = Some(time("from", &v)?),
                "to" => to = Some(time("to", &v)?),
                "format" => format = ExportFormat::parse(&v)?,
                "interval" => {
                    interval = Some(v.parse::<u32>().ok().filter(|&s| s > 0).ok_or_else(|| {
                        ParseError::new("interval", "seconds, a whole number from 1")
                    })?)
                }
                _ => {}
            }
        }
        let need = |what: &'static str| ParseError::new(what, "is required");
        let q = ExportQuery {
            channels: channels.ok_or_else(|| need("channels"))?,
            from: from.ok_or_else(|| need("from"))?,
            to: to.ok_or_else(|| need("to"))?,
            interval_secs: interval,
            format,
        };
        if q.channels.is_empty() || q.channels.len() > MAX_CHANNELS {
            return Err(ParseError::new(
                "channels",
                format!("name 1 to {MAX_CHANNELS} channels (comma-separated ids)"),
            ));
        }
        if q.from >= q.to {
            return Err(ParseError::new("from", "from must be before to"));
        }
        Ok(q)
    }
}

/// What a row says of its channel.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLabel {
    pub device: String,
    pub sensor: String,
    pub channel: String,
    pub communication_id: String,
    pub unit: String,
    pub grouping: Grouping,
}

/// One value of an export: a raw point, or an interval's grouped value and how many points it
/// holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportValue {
    pub ts: Timestamp,
    pub value: f64,
    /// `Some` in a grouped export.
    pub count: Option<u64>,
}

/// Writes rows in the export's format into a buffer that [`Formatter::take`] empties.
pub struct Formatter {
    format: ExportFormat,
    tz: Tz,
    grouped: bool,
    csv: csv::Writer<Vec<u8>>,
    html: Vec<u8>,
}

impl Formatter {
    /// `time_zone`: an IANA name (the organization's).
    pub fn new(format: ExportFormat, time_zone: &str, grouped: bool) -> Result<Self, ParseError> {
        let tz: Tz = time_zone.parse().map_err(|_| {
            ParseError::new(
                "time zone",
                format!("{time_zone:?} is not an IANA time zone"),
            )
        })?;
        let csv = csv_writer();
        Ok(Formatter {
            format,
            tz,
            grouped,
            csv,
            html: Vec::new(),
        })
    }

    fn columns(&self) -> Vec<&'static str> {
        let mut c = vec![
            "time",
            "device",
            "sensor",
            "channel",
            "communicationId",
            "unit",
        ];
        if self.grouped {
            c.extend(["grouping", "value", "count"]);
        } else {
            c.push("value");
        }
        c
    }

    /// The header row (CSV) or the document's start and the table's head (HTML).
    pub fn header(&mut self, title: &str) -> Result<(), ParseError> {
        let columns = self.columns();
        match self.format {
            ExportFormat::Csv => self.csv.write_record(&columns).map_err(csv_error)?,
            ExportFormat::Html => {
                self.html.extend_from_slice(
                    b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>",
                );
                escape_into(&mut self.html, title);
                self.html
                    .extend_from_slice(b"</title></head><body>\n<table>\n<thead><tr>");
                for c in columns {
                    self.html.extend_from_slice(b"<th>");
                    escape_into(&mut self.html, c);
                    self.html.extend_from_slice(b"</th>");
                }
                self.html.extend_from_slice(b"</tr></thead>\n<tbody>\n");
            }
        }
        Ok(())
    }

    /// The time as the organization reads it: RFC 3339 with its offset and milliseconds.
    pub fn time(&self, ts: Timestamp) -> String {
        DateTime::<Utc>::from_timestamp_millis(ts.as_millis())
            .map(|dt| {
                dt.with_timezone(&self.tz)
                    .to_rfc3339_opts(SecondsFormat::Millis, true)
            })
            .unwrap_or_default()
    }

    pub fn row(&mut self, label: &SeriesLabel, v: &ExportValue) -> Result<(), ParseError> {
        let time = self.time(v.ts);
        let value = v.value.to_string();
        let count = v.count.map(|n| n.to_string()).unwrap_or_default();
        let mut fields: Vec<&str> = vec![
            &time,
            &label.device,
            &label.sensor,
            &label.channel,
            &label.communication_id,
            &label.unit,
        ];
        if self.grouped {
            fields.extend([label.grouping.as_str(), value.as_str(), count.as_str()]);
        } else {
            fields.push(&value);
        }
        match self.format {
            ExportFormat::Csv => self.csv.write_record(&fields).map_err(csv_error)?,
            ExportFormat::Html => {
                self.html.extend_from_slice(b"<tr>");
                for f in fields {
                    self.html.extend_from_slice(b"<td>");
                    escape_into(&mut self.html, f);
                    self.html.extend_from_slice(b"</td>");
                }
                self.html.extend_from_slice(b"</tr>\n");
            }
        }
        Ok(())
    }

    /// The end of the document (HTML; nothing for CSV).
    pub fn footer(&mut self) {
        if self.format == ExportFormat::Html {
            self.html
                .extend_from_slice(b"</tbody>\n</table>\n</body></html>\n");
        }
    }

    /// What was written since the last call.
    pub fn take(&mut self) -> Result<Vec<u8>, ParseError> {
        match self.format {
            ExportFormat::Csv => std::mem::replace(&mut self.csv, csv_writer())
                .into_inner()
                .map_err(|e| ParseError::new("export", e.to_string())),
            ExportFormat::Html => Ok(std::mem::take(&mut self.html)),
        }
    }
}

/// RFC 4180: CRLF line ends (the crate quotes and escapes as the RFC says).
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn csv_error(e: csv::Error) -> ParseError {
    ParseError::new("export", e.to_string())
}

fn escape_into(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&#39;"),
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// Groups one channel's points, in time order, into intervals of `interval_ms` aligned on the
/// epoch (whole hours and days are UTC's): the sum (`S`) or the mean (`M`) of each interval
/// that has points.
pub struct Grouper {
    interval_ms: i64,
    grouping: Grouping,
    current: Option<(i64, u64, f64)>,
}

impl Grouper {
    pub fn new(interval_ms: i64, grouping: Grouping) -> Self {
        Grouper {
            interval_ms: interval_ms.max(1),
            grouping,
            current: None,
        }
    }

    /// Adds `count` points summing to `sum` at `ts` (a point: 1 and its value; an hourly
    /// rollup: its count and sum); returns the interval this closed, if any.
    pub fn push(&mut self, ts: Timestamp, count: u64, sum: f64) -> Option<ExportValue> {
        let start = ts.as_millis() - ts.as_millis().rem_euclid(self.interval_ms);
        match &mut self.current {
            Some((s, n, total)) if *s == start => {
                *n += count;
                *total += sum;
                None
            }
            _ => {
                let closed = self.finish();
                self.current = Some((start, count, sum));
                closed
            }
        }
    }

    /// The open interval, closed.
    pub fn finish(&mut self) -> Option<ExportValue> {
        let (start, n, sum) = self.current.take()?;
        let value = match self.grouping {
            Grouping::Sum => sum,
            Grouping::Mean => sum / n as f64,
        };
        Some(ExportValue {
            ts: Timestamp::MIN.add_millis(start - Timestamp::MIN.as_millis()),
            value,
            count: Some(n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> SeriesLabel {
        SeriesLabel {
            device: "Tank, \"north\"".into(),
            sensor: "Probe".into(),
            channel: "Temp <in>".into(),
            communication_id: "t1".into(),
            unit: "°C".into(),
            grouping: Grouping::Mean,
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    #[test]
    fn csv_is_rfc_4180_in_the_time_zone() {
        let mut f = Formatter::new(ExportFormat::Csv, "Europe/Rome", false).unwrap();
        f.header("x").unwrap();
        let v = ExportValue {
            ts: at(1_700_000_000_000),
            value: 1.5,
            count: None,
        };
        f.row(&label(), &v).unwrap();
        let text = String::from_utf8(f.take().unwrap()).unwrap();
        assert_eq!(
            text,
            "time,device,sensor,channel,communicationId,unit,value\r\n\
             2023-11-14T23:13:20.000+01:00,\"Tank, \"\"north\"\"\",Probe,Temp <in>,t1,°C,1.5\r\n"
        );
        assert!(f.take().unwrap().is_empty(), "taken once");
        assert!(Formatter::new(ExportFormat::Csv, "Mars/Olympus", false).is_err());
    }

    #[test]
    fn html_is_escaped_and_grouped_rows_say_how() {
        let mut f = Formatter::new(ExportFormat::Html, "UTC", true).unwrap();
        f.header("Export <1>").unwrap();
        let v = ExportValue {
            ts: at(0),
            value: 2.0,
            count: Some(3),
        };
        f.row(&label(), &v).unwrap();
        f.footer();
        let text = String::from_utf8(f.take().unwrap()).unwrap();
        assert!(text.starts_with("<!DOCTYPE html>"), "{text}");
        assert!(text.contains("<title>Export &lt;1&gt;</title>"), "{text}");
        assert!(text.contains(
            "<tr><td>1970-01-01T00:00:00.000Z</td><td>Tank, &quot;north&quot;</td><td>Probe</td>\
             <td>Temp &lt;in&gt;</td><td>t1</td><td>°C</td><td>M</td><td>2</td><td>3</td></tr>"
        ), "{text}");
        assert!(text.ends_with("</table>\n</body></html>\n"), "{text}");
    }

    #[test]
    fn queries_are_checked() {
        let q = ExportQuery::parse(
            "channels=kyaaw44196vfu,n8254az1rnyzq&from=0&to=2024-01-01T00:00:00Z&interval=60",
        )
        .unwrap();
        assert_eq!(q.channels.len(), 2);
        assert_eq!((q.from.as_millis(), q.interval_secs), (0, Some(60)));
        assert_eq!(q.format, ExportFormat::Csv);
        for bad in [
            "from=0&to=1",
            "channels=kyaaw44196vfu&to=1",
            "channels=kyaaw44196vfu&from=5&to=5",
            "channels=kyaaw44196vfu&from=0&to=1&interval=0",
            "channels=kyaaw44196vfu&from=0&to=1&format=xls",
            "channels=kyaaw44196vfu&from=yesterday&to=1",
        ] {
            assert!(ExportQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grouping_sums_or_averages_each_interval() {
        let mut mean = Grouper::new(60_000, Grouping::Mean);
        let mut sum = Grouper::new(60_000, Grouping::Sum);
        let mut out_m = Vec::new();
        let mut out_s = Vec::new();
        for (ms, v) in [(1_000, 1.0), (59_999, 3.0), (60_000, 10.0), (185_000, 4.0)] {
            out_m.extend(mean.push(at(ms), 1, v));
            out_s.extend(sum.push(at(ms), 1, v));
        }
        out_m.extend(mean.finish());
        out_s.extend(sum.finish());
        let m: Vec<_> = out_m
            .iter()
            .map(|v| (v.ts.as_millis(), v.value, v.count))
            .collect();
        let s: Vec<_> = out_s.iter().map(|v| (v.ts.as_millis(), v.value)).collect();
        assert_eq!(
            m,
            vec![
                (0, 2.0, Some(2)),
                (60_000, 10.0, Some(1)),
                (180_000, 4.0, Some(1))
            ]
        );
        assert_eq!(s, vec![(0, 4.0), (60_000, 10.0), (180_000, 4.0)]);
        // an hourly rollup counts as its points
        let mut g = Grouper::new(7_200_000, Grouping::Mean);
        assert!(g.push(at(0), 3, 9.0).is_none());
        assert!(g.push(at(3_600_000), 1, 1.0).is_none());
        assert_eq!(g.finish().map(|v| (v.value, v.count)), Some((2.5, Some(4))));
    }
}
