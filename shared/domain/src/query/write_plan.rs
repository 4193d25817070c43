//! `/write` for any measurement, tags and typed fields: which points of a body are stored, which
//! fields they create, and InfluxDB 1.6's answer, decided as its HTTP handler, points writer and
//! shard decide them (`services/httpd/handler.go`, `coordinator/points_writer.go`,
//! `tsdb/shard.go`'s `validateSeriesAndFields`).
//!
//! [`plan`] is pure: the caller parses the body ([`crate::line_protocol::parse`]), says where it
//! goes ([`Destination`]) and how to look up the type a field already has in the target
//! database, then stores [`WritePlan::points`] (without their `time` fields, see
//! [`stored_fields`]), records [`WritePlan::new_fields`] and answers [`WritePlan::answer`].
//!
//! What InfluxDB 1.6 does, in order:
//! - no `db` (or an empty one): 400 `database is required`; a database that does not exist:
//!   404 `database not found: "db"`; both before the body is read;
//! - a body none of whose lines parse: 400 with the parse errors joined by `\n`;
//! - a retention policy that does not exist: 500 `retention policy not found: rp` (an empty
//!   body too);
//! - points older than the retention policy keeps are dropped (`points beyond retention
//!   policy`);
//! - a point with a tag `time` is dropped (`invalid tag key`), then a point whose only fields
//!   are named `time` (`invalid field name`); other fields named `time` are not stored;
//! - a field keeps the type it was first written with, per measurement: a point with a field of
//!   another type is dropped whole (`field type conflict`). A field new to its measurement takes
//!   the type of its first point in the body, in body order, even when a later field of that
//!   point conflicts and the point is dropped (InfluxDB creates it all the same);
//! - the answer is `partial write: <reason> dropped=<n>`: the first tag, field or type refusal
//!   and the number of points so refused, all reasons together; else the points beyond
//!   retention; else the parse errors, `dropped=0`. A refusal hides the parse errors and the
//!   points beyond retention of the same body.
//!
//! Where Fieldline differs from InfluxDB 1.6:
//! - Field types belong to the measurement, not to a shard (a week's shard group in InfluxDB,
//!   where the same field may have another type in another week: InfluxDB takes `i=1.5` in
//!   1980 when `i` is an integer in 2021, and SHOW FIELD KEYS then lists `i` twice). Fieldline
//!   refuses it as a conflict, so that a field has one type. For the same reason a body is
//!   checked as one whole, where InfluxDB checks the points of each shard group apart.
//!
//! A field repeated in a line is one field, with its last value, while its type stays; an
//! occurrence of another type ends the line ([`crate::line_protocol::Line::fields`]) and is a
//! conflict with the first, as InfluxDB checks each occurrence's type in turn: the point is
//! dropped, the fields before it created.

use std::collections::HashMap;

use crate::line_protocol::{FieldValue, Line, LineError};

use super::format::encode_error;

pub use super::FieldType;

/// The type of a written value.
pub fn field_type(value: &FieldValue) -> FieldType {
    match value {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::String(_) => FieldType::String,
        FieldValue::Boolean(_) => FieldType::Boolean,
    }
}

/// Where a `/write` goes, as far as the catalog knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination<'a> {
    /// No `db` parameter, or an empty one.
    NoDatabase,
    /// The `db` parameter names no database.
    MissingDatabase(&'a str),
    /// The database exists, the `rp` parameter names none of its retention policies.
    MissingRetentionPolicy(&'a str),
    /// The database and the retention policy (the `rp` parameter, else the default one) exist.
    Found {
        /// The earliest time the policy keeps (now minus its duration); `None` for a policy
        /// that keeps everything (`INF`).
        earliest_ns: Option<i64>,
    },
}

/// A field a write creates: its measurement's first point with it gave its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewField {
    pub measurement: String,
    pub field: String,
    pub field_type: FieldType,
}

/// InfluxDB's answer to a `/write`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteAnswer {
    /// 204, 400, 404 or 500.
    pub status: u16,
    /// The message of `{"error": …}`, which InfluxDB repeats in `X-Influxdb-Error`; `None` for
    /// a 204.
    pub error: Option<String>,
}

impl WriteAnswer {
    fn error(status: u16, message: String) -> WriteAnswer {
        WriteAnswer {
            status,
            error: Some(message),
        }
    }

    /// `X-Influxdb-Error`: the message cut as InfluxDB cuts it ([`error_header`]).
    pub fn header(&self) -> Option<String> {
        self.error.as_deref().map(error_header)
    }

    /// The body: empty for a 204, else `{"error":"…"}` and a line break, as InfluxDB encodes it.
    pub fn body(&self) -> String {
        self.error
            .as_deref()
            .map(|e| encode_error(e, false))
            .unwrap_or_default()
    }
}

/// The most bytes of a message InfluxDB 1.6 repeats in `X-Influxdb-Error` (its `httpError`
/// keeps `errmsg[:1024]`); the body keeps the whole message.
pub const ERROR_HEADER_MAX: usize = 1024;

/// `X-Influxdb-Error` for an error answer's message: its first [`ERROR_HEADER_MAX`] bytes, with
/// line breaks made spaces, as Go's HTTP server writes a header value. InfluxDB cuts at the
/// byte, even within a character; Fieldline cuts before a character the limit would split.
/// The limit also keeps an answer's headers small: 3,000 bad lines made a header of 150 KB,
/// which the component could not send.
pub fn error_header(message: &str) -> String {
    let mut end = message.len().min(ERROR_HEADER_MAX);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].replace(['\n', '\r'], " ")
}

/// What to do with a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePlan {
    /// The indexes in `lines` of the points to store, in body order.
    pub points: Vec<usize>,
    /// The fields the body creates, in the order InfluxDB creates them; the caller records
    /// them with the points.
    pub new_fields: Vec<NewField>,
    /// Parsed points not stored (beyond retention, refused tags or fields, type conflicts).
    pub dropped: usize,
    pub answer: WriteAnswer,
}

impl WritePlan {
    fn refused(answer: WriteAnswer) -> WritePlan {
        WritePlan {
            points: Vec::new(),
            new_fields: Vec::new(),
            dropped: 0,
            answer,
        }
    }
}

/// The most fields one point may carry (Fieldline's limit; InfluxDB 1.6 has none): a point
/// with more is refused whole, so that one line cannot make a request store a million values.
pub const MAX_FIELDS_PER_POINT: usize = 1_000;

/// The fields of a point that are stored: all but those named `time`, which InfluxDB skips.
pub fn stored_fields<'l>(line: &'l Line<'_>) -> impl Iterator<Item = (&'l str, &'l FieldValue)> {
    line.fields
        .iter()
        .filter(|(k, _)| k != "time")
        .map(|(k, v)| (&**k, v))
}

/// Decides a body's fate (see the module's documentation). `lines` and `parse_errors` are what
/// the line-protocol parser gave for the body; `stored(measurement, field)` is the type the
/// field already has in the target database (the caller loads the fields of the measurements
/// `lines` name).
pub fn plan(
    lines: &[Line],
    parse_errors: &[LineError],
    destination: Destination<'_>,
    stored: &dyn Fn(&str, &str) -> Option<FieldType>,
) -> WritePlan {
    let earliest_ns = match destination {
        Destination::NoDatabase => {
            return WritePlan::refused(WriteAnswer::error(400, "database is required".into()))
        }
        Destination::MissingDatabase(db) => {
            return WritePlan::refused(WriteAnswer::error(
                404,
                format!("database not found: {}", go_quote(db)),
            ))
        }
        _ if lines.is_empty() && !parse_errors.is_empty() => {
            return WritePlan::refused(WriteAnswer::error(400, joined(parse_errors)))
        }
        Destination::MissingRetentionPolicy(rp) => {
            return WritePlan::refused(WriteAnswer::error(
                500,
                format!("retention policy not found: {rp}"),
            ))
        }
        Destination::Found { earliest_ns } => earliest_ns,
    };

    // The points writer: points older than the policy keeps have no shard group.
    let (mut kept, beyond): (Vec<usize>, Vec<usize>) =
        (0..lines.len()).partition(|&i| earliest_ns.is_none_or(|t| lines[i].timestamp_ns >= t));

    // The shard: first the series with a tag `time`, then each point's fields.
    let mut refused = 0;
    let mut reason: Option<String> = None;
    kept.retain(|&i| {
        let line = &lines[i];
        let bad = line.tags.iter().any(|(k, _)| k == "time");
        if bad {
            refused += 1;
            reason.get_or_insert_with(|| {
                format!(
                    "invalid tag key: input tag \"time\" on measurement \"{}\" is invalid",
                    line.measurement
                )
            });
        }
        !bad
    });
    // The types the body gives fields new to their measurement, as it goes.
    let mut created: HashMap<&str, HashMap<&str, FieldType>> = HashMap::new();
    let mut new_fields = Vec::new();
    kept.retain(|&i| {
        let line = &lines[i];
        let m = &*line.measurement;
        if line.fields.len() > MAX_FIELDS_PER_POINT {
            refused += 1;
            reason.get_or_insert_with(|| {
                format!(
                    "too many fields: a point of measurement \"{m}\" has {} fields, at most \
                     {MAX_FIELDS_PER_POINT} are stored",
                    line.fields.len()
                )
            });
            return false;
        }
        if stored_fields(line).next().is_none() {
            refused += 1;
            reason.get_or_insert_with(|| {
                format!(
                    "invalid field name: input field \"time\" on measurement \"{m}\" is invalid"
                )
            });
            return false;
        }
        for (field, value) in stored_fields(line) {
            let written = field_type(value);
            let known = created
                .get(m)
                .and_then(|fields| fields.get(field).copied())
                .or_else(|| stored(m, field));
            match known {
                Some(t) if t == written => {}
                Some(t) => {
                    refused += 1;
                    reason.get_or_insert_with(|| {
                        format!(
                            "field type conflict: input field \"{field}\" on measurement \"{m}\" \
                             is type {}, already exists as type {}",
                            written.name(),
                            t.name()
                        )
                    });
                    return false;
                }
                None => {
                    created.entry(m).or_default().insert(field, written);
                    new_fields.push(NewField {
                        measurement: m.to_owned(),
                        field: field.to_owned(),
                        field_type: written,
                    });
                }
            }
        }
        true
    });

    let answer = if let Some(reason) = reason {
        partial(&reason, refused)
    } else if !beyond.is_empty() {
        partial("points beyond retention policy", beyond.len())
    } else if !parse_errors.is_empty() {
        partial(&joined(parse_errors), 0)
    } else {
        WriteAnswer {
            status: 204,
            error: None,
        }
    };
    WritePlan {
        points: kept,
        new_fields,
        dropped: refused + beyond.len(),
        answer,
    }
}

/// influxdb's `PartialWriteError`.
fn partial(reason: &str, dropped: usize) -> WriteAnswer {
    WriteAnswer::error(400, format!("partial write: {reason} dropped={dropped}"))
}

/// The parse errors as influxdb's `ParsePointsWithPrecision` joins them.
fn joined(errors: &[LineError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// `s` as Go's `%q` writes it: in double quotes, with `"` and `\` escaped, control characters
/// as `\n`, `\t`, `\xNN`…, other characters as they are.
fn go_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
pub(crate) mod tests;
