//! The InfluxDB 1.x line protocol (`/write` bodies), read as influxdb's `models/points.go` reads
//! it: the same escapes, the same quirks, and the same reasons in
//! `unable to parse '<line>': <reason>`.
//!
//! [`parse`] reads every line and returns those that parse and an error for each that does not,
//! because InfluxDB writes the good lines and reports the bad ones. The HTTP layer answers, as
//! InfluxDB does, with the errors joined by `\n`: alone when no line parsed, else as
//! `partial write: <errors> dropped=<n>`.
//!
//! ```text
//! measurement[,tag=value...] field=value[,field=value...] [timestamp]
//! ```
//!
//! A `\r` is an ordinary byte, as InfluxDB 1.6 reads it: a body with CRLF line endings is
//! refused line by line (`bad timestamp`, `invalid number`, …, the `\r` quoted in the line),
//! except lines ending in a string field value or whose `\r` falls in a name or tag value.
//!
//! As in InfluxDB 1.6, unsigned integers (`1u`) are refused as `invalid number`, a leading `+`
//! is read as a boolean (`invalid boolean`), integers are exact int64s (range-checked with
//! `strconv.ParseInt`'s words), and tags are sorted by their escaped keys, as InfluxDB sorts the
//! series key.

use std::borrow::Cow;
use std::collections::hash_map::Entry;

use crate::hash::{keyed_map, KeyedMap};

/// InfluxDB's limit on a series key (measurement, tags and field key) in bytes.
pub const MAX_KEY_LENGTH: usize = 65535;

/// How many distinct series keys [`parse_at_most`] keeps to read again without parsing: a
/// body of more series parses the others in full.
const MAX_KEYS_KEPT: usize = 4096;

/// How many lines [`parse_at_most`] looks up by their key before it stops looking in a body
/// where fewer than a quarter of them had a key seen before.
const KEY_TRIAL: usize = 64;

/// The unit of the timestamps: the `precision` query parameter of `/write`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

/// A `precision` InfluxDB 1.x does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid precision {0:?} (use n, u, ms, s, m or h)")]
pub struct InvalidPrecision(pub String);

impl Precision {
    /// Reads the `precision` query parameter: absent (empty), `n` or `ns`, `u`, `ms`, `s`, `m`
    /// or `h`, as InfluxDB 1.x accepts them. InfluxDB 1.6 does not refuse another one: it reads
    /// the timestamps as nanoseconds, which `Precision::parse(p).unwrap_or_default()` gives.
    pub fn parse(s: &str) -> Result<Precision, InvalidPrecision> {
        match s {
            "" | "n" | "ns" => Ok(Precision::Nanoseconds),
            "u" => Ok(Precision::Microseconds),
            "ms" => Ok(Precision::Milliseconds),
            "s" => Ok(Precision::Seconds),
            "m" => Ok(Precision::Minutes),
            "h" => Ok(Precision::Hours),
            _ => Err(InvalidPrecision(s.into())),
        }
    }

    /// Nanoseconds in one unit.
    pub fn nanos(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }
}

/// A field's value, typed as the line protocol types it: `1.5` (float), `1i`, `"text"`,
/// `t`/`false`.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Float(f64),
    Integer(i64),
    String(String),
    Boolean(bool),
}

/// One parsed line (a point), unescaped. Names without escapes are borrowed from the body
/// (most are: a line of five tags and four fields would cost fourteen allocations otherwise);
/// lines built from scratch (`SELECT INTO`) own theirs.
#[derive(Clone, Debug, PartialEq)]
pub struct Line<'a> {
    pub measurement: Cow<'a, str>,
    /// Sorted by key; keys are unique.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// In the order written; a repeated key keeps its first place and its last value, while
    /// its values have the type of its first: a line where a repeated key changes type ends
    /// there, with that occurrence as its last field (InfluxDB checks each occurrence's type
    /// in turn and refuses the point as a field type conflict, having created the fields before
    /// it; see [`type_clash`]).
    pub fields: Vec<(Cow<'a, str>, FieldValue)>,
    pub timestamp_ns: i64,
}

impl Line<'_> {
    /// The line with its names copied, to outlive the body it was read from.
    pub fn into_owned(self) -> Line<'static> {
        let own = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        Line {
            measurement: own(self.measurement),
            tags: (self.tags.into_iter())
                .map(|(k, v)| (own(k), own(v)))
                .collect(),
            fields: self.fields.into_iter().map(|(k, v)| (own(k), v)).collect(),
            timestamp_ns: self.timestamp_ns,
        }
    }
}

/// The distinct series (measurement and tags) of a body's lines, numbered in order of first
/// appearance: a body repeats few series over many lines, and what is known of a series (its
/// stored key, its device) is worked out once. Up to [`SeriesIndex::LINEAR`] series are searched
/// in order, comparing names by address before their text (the lines of a key [`parse`] read
/// before share that line's names), more through a randomly keyed hash.
#[derive(Default)]
pub struct SeriesIndex<'l> {
    /// The series in order, while there are at most [`SeriesIndex::LINEAR`]; then empty.
    seen: Vec<SeriesOf<'l>>,
    /// Every series with its number, once there are more.
    hashed: Option<KeyedMap<SeriesOf<'l>, usize>>,
}

/// A series as a line gives it. Equal by text; names at the same address are equal at once.
#[derive(Clone, Copy, Hash)]
struct SeriesOf<'l>(&'l str, &'l [(Cow<'l, str>, Cow<'l, str>)]);

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

impl PartialEq for SeriesOf<'_> {
    fn eq(&self, other: &Self) -> bool {
        same(self.0, other.0)
            && self.1.len() == other.1.len()
            && (self.1.iter().zip(other.1)).all(|((k, v), (ok, ov))| same(k, ok) && same(v, ov))
    }
}

impl Eq for SeriesOf<'_> {}

impl<'l> SeriesIndex<'l> {
    /// Up to this many series, a line finds its own by comparing, not by hashing.
    pub const LINEAR: usize = 16;

    /// The number of the series of `measurement` and `tags`, and whether it is new.
    pub fn number(
        &mut self,
        measurement: &'l str,
        tags: &'l [(Cow<'l, str>, Cow<'l, str>)],
    ) -> (usize, bool) {
        let series = SeriesOf(measurement, tags);
        let found = match &self.hashed {
            None => self.seen.iter().position(|s| *s == series),
            Some(index) => index.get(&series).copied(),
        };
        if let Some(n) = found {
            return (n, false);
        }
        let n = self.len();
        if let Some(index) = &mut self.hashed {
            index.insert(series, n);
        } else {
            self.seen.push(series);
            if self.seen.len() > Self::LINEAR {
                let mut index = keyed_map();
                index.extend(self.seen.drain(..).enumerate().map(|(i, s)| (s, i)));
                self.hashed = Some(index);
            }
        }
        (n, true)
    }

    /// How many series were numbered.
    pub fn len(&self) -> usize {
        self.hashed
            .as_ref()
            .map_or(self.seen.len(), |index| index.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a line was not written. `Display` gives InfluxDB's text:
/// `unable to parse 'cpu value=': missing field value`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse '{text}': {reason}")]
pub struct LineError {
    /// 1-based number of the line in the body (where it starts, for a line that a quoted
    /// string continues over several).
    pub line: usize,
    /// The line as written, without leading whitespace and line break.
    pub text: String,
    /// influxdb's reason: `missing fields`, `invalid number`, `bad timestamp`, ….
    pub reason: String,
}

/// Parses a `/write` body. Lines without a timestamp take `now_ns`, truncated to the precision
/// as InfluxDB truncates its clock. Blank lines and lines starting with `#` are skipped.
pub fn parse(body: &str, precision: Precision, now_ns: i64) -> (Vec<Line<'_>>, Vec<LineError>) {
    match parse_at_most(body, precision, now_ns, usize::MAX) {
        Ok(parsed) => parsed,
        Err(TooManyLines(_)) => unreachable!("no body has more than usize::MAX lines"),
    }
}

/// A body with more than this many lines (points and lines that do not parse, not counting
/// blank lines and comments): [`parse_at_most`] stopped reading it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more than {0} lines")]
pub struct TooManyLines(pub usize);

/// [`parse`], giving up as soon as the body has more than `max` lines, points and unparsable
/// lines alike: what it keeps is bounded by `max` lines whatever the size of the body.
pub fn parse_at_most(
    body: &str,
    precision: Precision,
    now_ns: i64,
    max: usize,
) -> Result<(Vec<Line<'_>>, Vec<LineError>), TooManyLines> {
    let b = body.as_bytes();
    let default_time = now_ns - now_ns.rem_euclid(precision.nanos());
    let (mut lines, mut errors) = (Vec::new(), Vec::new());
    let (mut pos, mut line_number) = (0, 1);
    // The first line of each key (measurement and tags) read so far, by the key's text: a body
    // that repeats its series line after line reads a line of a known key from its fields on.
    // A body whose first lines bring no repeats (Telegraf sends each series once a flush) stops
    // looking, so that it does not pay for the lookups. (A randomly keyed hasher: keys chosen
    // to collide cannot make a body cost more than its lines.)
    let mut keys: KeyedMap<&str, usize> = keyed_map();
    let (mut looked, mut found) = (0usize, 0usize);
    while pos < b.len() {
        let end = scan_line(b, pos);
        let block = &body[pos..end];
        let number = line_number;
        line_number += 1 + memchr::memchr_iter(b'\n', block.as_bytes()).count();
        pos = end + 1;

        let text = block.trim_start_matches([' ', '\t', '\0']);
        // A block ends before its `\n`, except the last one of a body whose quotes do not
        // close: influxdb strips that `\n` from the line it reports.
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if lines.len() + errors.len() >= max {
            return Err(TooManyLines(max));
        }
        let memo = looked < KEY_TRIAL || found * 4 >= looked;
        let key_at = if memo { key_end(text.as_bytes()) } else { None };
        let known = key_at.and_then(|at| keys.get(&text[..at]));
        looked += usize::from(key_at.is_some());
        found += usize::from(known.is_some());
        let (parsed, new_key) = match (key_at, known) {
            (Some(key_len), Some(&first)) => {
                let first: &Line<'_> = &lines[first];
                let key = (first.measurement.clone(), first.tags.clone());
                (
                    parse_after_key(text, key_len, key, precision, default_time),
                    None,
                )
            }
            _ => match parse_key(text) {
                Ok((key_len, key)) => (
                    parse_after_key(text, key_len, key, precision, default_time),
                    (key_at == Some(key_len) && keys.len() < MAX_KEYS_KEPT).then_some(key_len),
                ),
                Err(reason) => (Err(reason), None),
            },
        };
        match parsed {
            Ok(line) => {
                if let Some(key_len) = new_key {
                    keys.insert(&text[..key_len], lines.len());
                }
                lines.push(line);
            }
            Err(reason) => errors.push(LineError {
                line: number,
                text: text.into(),
                reason,
            }),
        }
    }
    Ok((lines, errors))
}

/// The end of the line starting at `i`: the next `\n` outside a quoted field value
/// (influxdb's `scanLine`).
fn scan_line(b: &[u8], i: usize) -> usize {
    // A line without quotes or backslashes (most are) ends at the first `\n`.
    let first = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
    if memchr::memchr2(b'"', b'\\', &b[i..first]).is_none() {
        return first;
    }
    scan_line_bytes(b, i)
}

/// [`scan_line`] byte by byte, as influxdb's `scanLine` reads: for lines with quotes or
/// backslashes.
fn scan_line_bytes(b: &[u8], mut i: usize) -> usize {
    let (mut quoted, mut fields) = (false, false);
    let (mut equals, mut commas) = (0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 2 < b.len() {
            i += 2;
            continue;
        }
        if c == b' ' {
            fields = true;
        }
        if fields {
            if !quoted && c == b'=' {
                equals += 1;
            } else if !quoted && c == b',' {
                commas += 1;
            } else if c == b'"' && equals > commas {
                quoted = !quoted;
            }
        }
        if c == b'\n' && !quoted {
            break;
        }
        i += 1;
    }
    i
}

/// Whether `b[i]` is preceded by a backslash (influxdb's test for an escaped character).
fn escaped(b: &[u8], i: usize) -> bool {
    i > 0 && b[i - 1] == b'\\'
}

/// A line's measurement and tags (its series key), unescaped, the tags sorted.
type SeriesKey<'a> = (Cow<'a, str>, Vec<(Cow<'a, str>, Cow<'a, str>)>);

/// A line read alone, its key parsed (what [`parse_at_most`] does for a key it has not seen).
#[cfg(test)]
fn parse_line(text: &str, precision: Precision, default_time: i64) -> Result<Line<'_>, String> {
    let (key_len, key) = parse_key(text)?;
    parse_after_key(text, key_len, key, precision, default_time)
}

/// Where a line's key (measurement and tags) ends if it parses: its first space not preceded by
/// a backslash, after the first byte. [`parse_key`] reads nothing past that space, so two lines
/// with the same bytes up to it have the same key (or the same error).
fn key_end(b: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b' ', b).find(|&i| i > 0 && b[i - 1] != b'\\')
}

/// The measurement and tags of a line, and where they end.
fn parse_key(text: &str) -> Result<(usize, SeriesKey<'_>), String> {
    let b = text.as_bytes();

    // The measurement (influxdb's scanMeasurement).
    if b.first().is_none_or(|&c| c == b',') {
        return Err("missing measurement".into());
    }
    let mut i = 0;
    let has_tags = loop {
        i += 1;
        if i >= b.len() {
            return Err("missing fields".into());
        }
        if escaped(b, i) {
            continue;
        }
        match b[i] {
            b',' => break true,
            b' ' => break false,
            _ => {}
        }
    };
    let measurement = unescape(&text[..i], b",\" =");

    // The tags (scanTagsKey, scanTagsValue), kept escaped until sorted.
    let mut raw_tags: Vec<(&str, &str)> = Vec::new();
    if has_tags {
        i += 1;
        loop {
            if b.get(i).is_none_or(|c| matches!(c, b' ' | b',' | b'=')) {
                return Err("missing tag key".into());
            }
            let key_start = i;
            loop {
                i += 1;
                if i >= b.len() || (matches!(b[i], b' ' | b',') && !escaped(b, i)) {
                    return Err("missing tag value".into());
                }
                if b[i] == b'=' && !escaped(b, i) {
                    break;
                }
            }
            let key = &text[key_start..i];
            i += 1;
            if b.get(i).is_none_or(|c| matches!(c, b' ' | b',')) {
                return Err("missing tag value".into());
            }
            let value_start = i;
            let more = loop {
                i += 1;
                if i >= b.len() {
                    return Err("missing fields".into());
                }
                if escaped(b, i) {
                    continue;
                }
                match b[i] {
                    b'=' => return Err("invalid tag format".into()),
                    b',' => break true,
                    b' ' => break false,
                    _ => {}
                }
            };
            raw_tags.push((key, &text[value_start..i]));
            if !more {
                break;
            }
            i += 1;
        }
    }
    raw_tags.sort_by(|a, b| a.0.cmp(b.0));
    if raw_tags.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err("duplicate tags".into());
    }
    let key_len = i;
    if key_len > MAX_KEY_LENGTH {
        return Err(format!(
            "max key length exceeded: {key_len} > {MAX_KEY_LENGTH}"
        ));
    }
    let tags = raw_tags
        .into_iter()
        .map(|(k, v)| (unescape(k, b", ="), unescape(v, b", =")))
        .collect();
    Ok((key_len, (measurement, tags)))
}

/// The rest of a line whose key, `key`, ends at `key_len`: its fields and timestamp.
fn parse_after_key<'a>(
    text: &'a str,
    key_len: usize,
    (measurement, tags): SeriesKey<'a>,
    precision: Precision,
    default_time: i64,
) -> Result<Line<'a>, String> {
    let b = text.as_bytes();
    let i = key_len;

    // The fields: checked as influxdb's scanFields checks them, then read as its field
    // iterator reads them.
    let fields_start = skip_whitespace(b, i);
    let fields_end = scan_fields(b, fields_start)?;
    let fields = read_fields(&text[fields_start..fields_end], key_len)?;

    // The timestamp (scanTime).
    let ts_start = skip_whitespace(b, fields_end);
    let mut j = ts_start;
    while j < b.len() && !matches!(b[j], b'\n' | b' ') {
        if !(b[j].is_ascii_digit() || (j == ts_start && b[j] == b'-')) {
            return Err("bad timestamp".into());
        }
        j += 1;
    }
    let timestamp_ns = if j == ts_start {
        default_time
    } else {
        let ts = &text[ts_start..j];
        let n: i64 = ts.parse().map_err(|e: std::num::ParseIntError| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            format!("strconv.ParseInt: parsing \"{ts}\": {why}")
        })?;
        let t = timestamp(n, precision.nanos())?;
        if b[j..].iter().any(|&c| c != b' ') {
            return Err("point is invalid".into());
        }
        t
    };

    Ok(Line {
        measurement,
        tags,
        fields,
        timestamp_ns,
    })
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\0')) {
        i += 1;
    }
    i
}

/// influxdb's `scanFields`: the end of the field set starting at `i`, or why it is malformed.
fn scan_fields(b: &[u8], mut i: usize) -> Result<usize, String> {
    let mut quoted = false;
    let (mut equals, mut commas) = (0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            i += 2;
            continue;
        }
        if c == b'"' && equals > commas {
            quoted = !quoted;
            i += 1;
            continue;
        }
        if c == b'=' && !quoted {
            equals += 1;
            let before = |n: usize| i.checked_sub(n).map(|k| b[k]);
            if matches!(before(1), Some(b' ' | b',')) && before(2) != Some(b'\\') {
                return Err("missing field key".into());
            }
            match b.get(i + 1) {
                None | Some(b',' | b' ') => return Err("missing field value".into()),
                Some(c) if c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'N' | b'n') => {
                    i = scan_number(b, i + 1)?;
                    continue;
                }
                Some(b'"') => {}
                Some(_) => {
                    i = scan_boolean(b, i + 1)?;
                    continue;
                }
            }
        }
        if c == b',' && !quoted {
            commas += 1;
        }
        if c == b' ' && !quoted {
            break;
        }
        i += 1;
    }
    if quoted {
        return Err("unbalanced quotes".into());
    }
    if equals == 0 || commas + 1 != equals {
        return Err("invalid field format".into());
    }
    Ok(i)
}

/// influxdb's `scanNumber`: the end of the number starting at `start`, checked as influxdb
/// checks it (the value itself is read in [`read_fields`]).
fn scan_number(b: &[u8], start: usize) -> Result<usize, String> {
    const INVALID: &str = "invalid number";
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
        if i == b.len() {
            return Err(INVALID.into());
        }
    }
    let (mut is_int, mut decimal, mut scientific) = (false, false, false);
    while i < b.len() && !matches!(b[i], b',' | b' ') {
        let c = b[i];
        if i > start && !is_int && c == b'i' {
            is_int = true;
            i += 1;
            continue;
        }
        if c == b'.' {
            if decimal {
                return Err(INVALID.into());
            }
            decimal = true;
        }
        if i > start && matches!(c, b'e' | b'E') {
            scientific = true;
            i += 1;
            continue;
        }
        if matches!(c, b'+' | b'-') && matches!(b[i - 1], b'e' | b'E') {
            i += 1;
            continue;
        }
        // NaN, an unsigned `u` and anything else that is not a digit or a dot.
        if !(c.is_ascii_digit() || c == b'.') {
            return Err(INVALID.into());
        }
        i += 1;
    }
    if is_int && (decimal || scientific) {
        return Err(INVALID.into());
    }
    let digits =
        i - start - usize::from(is_int) - usize::from(decimal) - usize::from(b[start] == b'-');
    if digits == 0 {
        return Err(INVALID.into());
    }
    if is_int && b[i - 1] != b'i' {
        return Err(INVALID.into());
    }
    // Range checks, where influxdb makes them (on long numbers only: shorter ones fit).
    let text = || std::str::from_utf8(&b[start..i]).unwrap_or_default();
    if is_int && i - 1 - start >= 19 {
        let text = text();
        int_value(&text[..text.len() - 1])?;
    } else if !is_int && (scientific || i - start >= 25) {
        float_value(text())?;
    }
    Ok(i)
}

fn int_value(digits: &str) -> Result<i64, String> {
    digits.parse().map_err(|_| {
        format!(
            "unable to parse integer {digits}: strconv.ParseInt: parsing \"{digits}\": value out of range"
        )
    })
}

fn float_value(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err("invalid float".into()),
    }
}

/// influxdb's `scanBoolean`: `t`, `T`, `true`, `True`, `TRUE` and the same for false.
fn scan_boolean(b: &[u8], start: usize) -> Result<usize, String> {
    let end = start
        + b[start..]
            .iter()
            .take_while(|c| !matches!(c, b',' | b' '))
            .count();
    match parse_bool(&b[start..end]) {
        Some(_) => Ok(end),
        None => Err("invalid boolean".into()),
    }
}

fn parse_bool(value: &[u8]) -> Option<bool> {
    match value {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => Some(true),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => Some(false),
        _ => None,
    }
}

/// Reads the keys and values of a field set that [`scan_fields`] accepted.
fn read_fields(set: &str, key_len: usize) -> Result<Vec<(Cow<'_, str>, FieldValue)>, String> {
    let b = set.as_bytes();
    let mut fields: Vec<(Cow<'_, str>, FieldValue)> = Vec::new();
    // Where each key stands in `fields`, for a repeated key to find its place: searching the
    // fields read so far made a line of n fields cost n² comparisons (minutes for a million).
    // A randomly keyed hasher keeps keys chosen to collide from bringing that back. Filled
    // once a line has `LINEAR_FIELDS` fields: below that a search costs less than hashing
    // (most lines have one to a few fields); keys without escapes are borrowed.
    const LINEAR_FIELDS: usize = 16;
    let mut place: Option<KeyedMap<Cow<'_, str>, usize>> = None;
    // The first occurrence of a key with another type than its first.
    let mut clash: Option<(Cow<'_, str>, FieldValue)> = None;
    let mut i = 0;
    while i < b.len() {
        // The key runs to the first `=` not preceded by a backslash (influxdb's `scanTo`).
        let mut eq = i;
        while eq < b.len() && (b[eq] != b'=' || escaped(b, eq)) {
            eq += 1;
        }
        let raw_key = &set[i..eq];
        if eq + 1 >= b.len() {
            return Err(format!("invalid value: field-key={raw_key}"));
        }
        let size = key_len + 4 + raw_key.len();
        if size > MAX_KEY_LENGTH {
            return Err(format!(
                "max key length exceeded: {size} > {MAX_KEY_LENGTH}"
            ));
        }
        // The value runs to the first `,` outside quotes (influxdb's `scanFieldValue`).
        let (start, mut end, mut quoted) = (eq + 1, eq + 1, false);
        while end < b.len() {
            match b[end] {
                b'\\' if matches!(b.get(end + 1), Some(b'"' | b'\\')) => end += 1,
                b'"' => quoted = !quoted,
                b',' if !quoted => break,
                _ => {}
            }
            end += 1;
        }
        let value = field_value(&set[start..end])?;
        i = end + 1;
        if clash.is_some() {
            // Read on for the errors only: the line ends at its clash.
            continue;
        }
        let key = unescape(raw_key, b",\" =");
        if fields.len() < LINEAR_FIELDS {
            match fields.iter().position(|(k, _)| **k == *key) {
                Some(at) if key != "time" && !same_type(&fields[at].1, &value) => {
                    clash = Some((key, value));
                }
                Some(at) => fields[at].1 = value,
                None => fields.push((key, value)),
            }
        } else {
            let place = place.get_or_insert_with(|| {
                let mut place = keyed_map();
                place.extend((fields.iter().enumerate()).map(|(at, (k, _))| (k.clone(), at)));
                place
            });
            match place.entry(key) {
                Entry::Occupied(e)
                    if e.key() != "time" && !same_type(&fields[*e.get()].1, &value) =>
                {
                    clash = Some((e.key().clone(), value));
                }
                Entry::Occupied(e) => fields[*e.get()].1 = value,
                Entry::Vacant(e) => {
                    fields.push((e.key().clone(), value));
                    e.insert(fields.len() - 1);
                }
            }
        }
    }
    fields.extend(clash);
    Ok(fields)
}

fn same_type(a: &FieldValue, b: &FieldValue) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The field of `line` that repeats an earlier one with another type (the parser ends such a
/// line with it, see [`Line::fields`]), and the type of the earlier one.
pub fn type_clash<'l>(line: &'l Line<'_>) -> Option<(&'l str, &'l FieldValue, &'l FieldValue)> {
    let ((key, value), rest) = line.fields.split_last()?;
    let (_, first) = rest.iter().find(|(k, _)| k == key)?;
    Some((key, value, first))
}

/// A value's type from its first and last characters, as influxdb's field iterator types it.
fn field_value(value: &str) -> Result<FieldValue, String> {
    let b = value.as_bytes();
    match b.first() {
        Some(b'"') => {
            let inner = value.get(1..value.len().saturating_sub(1)).unwrap_or("");
            Ok(FieldValue::String(unescape(inner, b"\"\\").into_owned()))
        }
        Some(c) if b"0123456789-.nNiI".contains(c) => match b.last() {
            Some(b'i') => int_value(&value[..value.len() - 1]).map(FieldValue::Integer),
            _ => float_value(value).map(FieldValue::Float),
        },
        _ => parse_bool(b)
            .map(FieldValue::Boolean)
            .ok_or_else(|| "invalid boolean".into()),
    }
}

/// The earliest time InfluxDB stores (`models.MinNanoTime`).
pub const MIN_TIME_NS: i64 = i64::MIN + 2;
/// The latest time InfluxDB stores (`models.MaxNanoTime`).
pub const MAX_TIME_NS: i64 = i64::MAX - 1;

/// `n` units of `unit_ns` nanoseconds, within InfluxDB's time range (influxdb 1.6's
/// `SafeCalcTime`, with its `ErrTimeOutOfRange` for an overflow and a time outside alike).
fn timestamp(n: i64, unit_ns: i64) -> Result<i64, String> {
    match n.checked_mul(unit_ns) {
        Some(t) if (MIN_TIME_NS..=MAX_TIME_NS).contains(&t) => Ok(t),
        _ => Err(format!("time outside range {MIN_TIME_NS} - {MAX_TIME_NS}")),
    }
}

/// `s` with the backslash removed before each of `chars`.
fn unescape<'a>(s: &'a str, chars: &[u8]) -> Cow<'a, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut from = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' && chars.contains(&b[i + 1]) {
            out.push_str(&s[from..i]);
            from = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[from..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_at_most_stops_after_max_lines() {
        let p = Precision::Nanoseconds;
        let body = "a value=1 1\n\n# comment\nb value=2 2\nc value= 3\n";
        // Three lines, one of which does not parse; blank lines and comments do not count.
        let (lines, errors) = parse_at_most(body, p, 0, 3).expect("three lines");
        assert_eq!((lines.len(), errors.len()), (2, 1));
        assert_eq!((lines, errors), parse(body, p, 0));
        assert_eq!(parse_at_most(body, p, 0, 2), Err(TooManyLines(2)));
        // Unparsable lines count too: what is kept stays bounded.
        let garbage = "x\n".repeat(1_000);
        assert_eq!(parse_at_most(&garbage, p, 0, 999), Err(TooManyLines(999)));
        assert_eq!(
            parse_at_most(&garbage, p, 0, 1_000).map(|(l, e)| (l.len(), e.len())),
            Ok((0, 1_000))
        );
    }

    #[test]
    fn series_are_numbered_by_first_appearance_however_their_names_are_held() {
        // 40 series (more than are searched in order), written three times: the second time
        // with their tags in another order, so that their names are other text than the first
        // lines' (the host's escaped space makes it a copy every time, the region is borrowed
        // from each line); then 40 others.
        let series = |k: usize, swapped: bool| {
            let (host, region) = (format!("host=h\\ {k}"), format!("region=r{}", k % 3));
            match swapped {
                false => format!("cpu,{host},{region}"),
                true => format!("cpu,{region},{host}"),
            }
        };
        let mut body = String::new();
        for (round, swapped) in [(0, false), (1, true), (2, false)] {
            for k in 0..40 {
                body.push_str(&format!("{} v={round} {k}\n", series(k, swapped)));
            }
        }
        for k in 0..40 {
            body.push_str(&format!("cpu,host=g{k} v=3 {k}\n"));
        }
        let (lines, errors) = parse(&body, Precision::Nanoseconds, 0);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(lines[0].tags[0].1, "h 0");
        let mut index = SeriesIndex::default();
        let numbers: Vec<(usize, bool)> = lines
            .iter()
            .map(|l| index.number(&l.measurement, &l.tags))
            .collect();
        let expected: Vec<(usize, bool)> = (0..40)
            .map(|k| (k, true))
            .chain((0..80).map(|k| (k % 40, false)))
            .chain((40..80).map(|k| (k, true)))
            .collect();
        assert_eq!(numbers, expected);
        assert_eq!(index.len(), 80);

        // A measurement alone, and the same tags under another measurement, are other series.
        let body = "cpu v=1\nmem,host=h0 v=1\ncpu,host=h0 v=1\ncpu v=2\n";
        let (lines, _) = parse(body, Precision::Nanoseconds, 0);
        let mut index = SeriesIndex::default();
        let numbers: Vec<(usize, bool)> = lines
            .iter()
            .map(|l| index.number(&l.measurement, &l.tags))
            .collect();
        assert_eq!(numbers, [(0, true), (1, true), (2, true), (0, false)]);
    }

    const NOW: i64 = 1_595_324_700_123_456_789;

    fn one(line: &str) -> Line<'static> {
        let (lines, errors) = parse(line, Precision::Nanoseconds, NOW);
        assert_eq!(errors, [], "{line}");
        assert_eq!(lines.len(), 1, "{line}");
        lines.into_iter().next().unwrap().into_owned()
    }

    fn reason(line: &str) -> String {
        let (lines, errors) = parse(line, Precision::Nanoseconds, NOW);
        assert_eq!(lines, [], "{line}");
        assert_eq!(errors.len(), 1, "{line}");
        errors[0].reason.clone()
    }

    fn tags<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn parses_a_full_line() {
        let l = one("cpu,host=a,region=eu value=1.5,n=3i,s=\"hi\",b=t 1595324700000000000");
        assert_eq!(
            l,
            Line {
                measurement: "cpu".into(),
                tags: tags(&[("host", "a"), ("region", "eu")]),
                fields: vec![
                    ("value".into(), FieldValue::Float(1.5)),
                    ("n".into(), FieldValue::Integer(3)),
                    ("s".into(), FieldValue::String("hi".into())),
                    ("b".into(), FieldValue::Boolean(true)),
                ],
                timestamp_ns: 1_595_324_700_000_000_000,
            }
        );
    }

    #[test]
    fn sorts_tags_by_key() {
        assert_eq!(
            one("m,z=1,a=2,m=3 v=1").tags,
            tags(&[("a", "2"), ("m", "3"), ("z", "1")])
        );
    }

    /// A line whose key the body had before is read from its fields on: every line and every
    /// error is what the line alone gives, whatever the keys around it (escapes, a key that
    /// is a prefix of another, a key with a bad field set, quotes, an unescaped space in a
    /// tag, a duplicate tag).
    #[test]
    fn a_repeated_key_reads_as_the_line_alone() {
        let lines = [
            r"cpu,host=a,region=eu value=1 1",
            r"cpu,host=a,region=eu value=2i,x=t 2",
            r"cpu,host=a,region=eu value= 3",
            r"cpu,host=a,region=eu value=1 x",
            r"cpu,host=a,region=eu",
            r"cpu,host=a,region=eu  value=4 4",
            r"cpu,host=a,region=e value=5 5",
            r"cpu,host=a,region=eu\ x value=6 6",
            r"cpu,host=a,region=eu\ x value=7 7",
            r"cpu,host=a\,b,region=eu value=8 8",
            r"cpu,host=a\,b,region=eu value=9 9",
            r"cpu,region=eu,host=a value=10 10",
            r"cpu,host=a,host=b value=11 11",
            r"cpu,host=a,host=b value=12 12",
            r"cpu,host= value=13 13",
            r"cpu,host=a b=1 value=14 14",
            r"cpu,host=a b=1 value=15 15",
            r#"cpu,host=a value="x y",z=1 16"#,
            r#"cpu,host=a value="x\" y" 17"#,
            r"cpu value=18 18",
            r"cpu value=19",
            r"my\ cpu,t\=k=v\,w value=20 20",
            r"my\ cpu,t\=k=v\,w value=21 21",
            r"cpu,host=a,region=eu value=22 22",
        ];
        let body = lines.join("\n");
        let (got, errors) = parse(&body, Precision::Nanoseconds, 99);
        let (mut want, mut want_errors) = (Vec::new(), Vec::new());
        for line in lines {
            match parse_line(line, Precision::Nanoseconds, 99) {
                Ok(l) => want.push(l),
                Err(reason) => want_errors.push((line.to_owned(), reason)),
            }
        }
        assert_eq!(got, want);
        let errors: Vec<_> = errors.into_iter().map(|e| (e.text, e.reason)).collect();
        assert_eq!(errors, want_errors);
        assert!(got.len() > 10 && errors.len() > 5, "{got:?} {errors:?}");
    }

    #[test]
    fn unescapes_each_part_with_its_own_rules() {
        let l = one(
            r#"my\ meas\,ure\=d,tag\ key\,x\=y=tag\ val\,u\=e field\ k\,e\=y\"="str \"q\" \\ \n",x=1"#,
        );
        assert_eq!(l.measurement, "my meas,ure=d");
        assert_eq!(l.tags, tags(&[("tag key,x=y", "tag val,u=e")]));
        assert_eq!(l.fields[0].0, "field k,e=y\"");
        assert_eq!(l.fields[0].1, FieldValue::String(r#"str "q" \ \n"#.into()));
        // Other backslashes stay.
        assert_eq!(one(r"a\b,t=x\y v=1").measurement, r"a\b");
        assert_eq!(one(r"a,t=x\y v=1").tags, tags(&[("t", r"x\y")]));
        // A comma, a space and an equals sign need no escape inside a string.
        assert_eq!(
            one("m s=\"a, b=c d\"").fields[0].1,
            FieldValue::String("a, b=c d".into())
        );
    }

    #[test]
    fn reads_every_value_type() {
        for (text, value) in [
            ("1", FieldValue::Float(1.0)),
            ("-1.5", FieldValue::Float(-1.5)),
            (".5", FieldValue::Float(0.5)),
            ("5.", FieldValue::Float(5.0)),
            ("1e3", FieldValue::Float(1000.0)),
            ("1.5E-3", FieldValue::Float(0.0015)),
            ("-2e+2", FieldValue::Float(-200.0)),
            ("42i", FieldValue::Integer(42)),
            ("-42i", FieldValue::Integer(-42)),
            ("9223372036854775807i", FieldValue::Integer(i64::MAX)),
            ("-9223372036854775808i", FieldValue::Integer(i64::MIN)),
            ("\"\"", FieldValue::String(String::new())),
        ] {
            assert_eq!(one(&format!("m v={text}")).fields[0].1, value, "{text}");
        }
        for (text, b) in [
            ("t", true),
            ("T", true),
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("f", false),
            ("F", false),
            ("false", false),
            ("False", false),
            ("FALSE", false),
        ] {
            assert_eq!(
                one(&format!("m v={text}")).fields[0].1,
                FieldValue::Boolean(b)
            );
        }
    }

    #[test]
    fn timestamps_and_precision() {
        assert_eq!(one("m v=1").timestamp_ns, NOW);
        assert_eq!(one("m v=1 -1").timestamp_ns, -1);
        assert_eq!(one("m v=1 5  ").timestamp_ns, 5);
        for (p, ts, default) in [
            (Precision::Nanoseconds, 7, NOW),
            (Precision::Microseconds, 7_000, 1_595_324_700_123_456_000),
            (
                Precision::Milliseconds,
                7_000_000,
                1_595_324_700_123_000_000,
            ),
            (Precision::Seconds, 7_000_000_000, 1_595_324_700_000_000_000),
            (
                Precision::Minutes,
                420_000_000_000,
                1_595_324_700_000_000_000,
            ),
            (
                Precision::Hours,
                25_200_000_000_000,
                1_595_322_000_000_000_000,
            ),
        ] {
            let (lines, _) = parse("m v=1 7\nm v=2", p, NOW);
            assert_eq!(lines[0].timestamp_ns, ts, "{p:?}");
            assert_eq!(lines[1].timestamp_ns, default, "{p:?}");
        }
        for (s, p) in [
            ("", Precision::Nanoseconds),
            ("n", Precision::Nanoseconds),
            ("ns", Precision::Nanoseconds),
            ("u", Precision::Microseconds),
            ("ms", Precision::Milliseconds),
            ("s", Precision::Seconds),
            ("m", Precision::Minutes),
            ("h", Precision::Hours),
        ] {
            assert_eq!(Precision::parse(s), Ok(p));
        }
        assert_eq!(
            Precision::parse("us").unwrap_err().to_string(),
            r#"invalid precision "us" (use n, u, ms, s, m or h)"#
        );
    }

    #[test]
    fn skips_comments_and_blank_lines() {
        let body = "# comment\n\n   \n\t# indented comment\r\ncpu v=1\n  cpu v=2 3\n";
        let (lines, errors) = parse(body, Precision::Nanoseconds, NOW);
        assert_eq!(errors, []);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].timestamp_ns, 3);
    }

    /// A `\r` is a byte like another, as InfluxDB 1.6.7 answered each of these bodies.
    #[test]
    fn a_carriage_return_is_an_ordinary_byte() {
        let refused = [
            (
                "m v=1 1614556801000000000\r\n",
                "m v=1 1614556801000000000\r",
                "bad timestamp",
            ),
            ("m v=1\r\n", "m v=1\r", "invalid number"),
            ("m v=1\r", "m v=1\r", "invalid number"),
            ("m v=1i\r\n", "m v=1i\r", "invalid number"),
            ("m b=true\r\n", "m b=true\r", "invalid boolean"),
            (
                "m v=1\r 1614556801000000000\n",
                "m v=1\r 1614556801000000000",
                "invalid number",
            ),
            (
                "m s=\"a\" 1614556801000000000\r\n",
                "m s=\"a\" 1614556801000000000\r",
                "bad timestamp",
            ),
            ("m,t=a\r\n", "m,t=a\r", "missing fields"),
            ("\r\n", "\r", "missing fields"),
            ("  \r\n", "\r", "missing fields"),
            ("m v=1 \r\n", "m v=1 \r", "bad timestamp"),
            (
                "m v=1 1614556801000000000 \r\n",
                "m v=1 1614556801000000000 \r",
                "point is invalid",
            ),
            ("m v=1\r\rn", "m v=1\r\rn", "invalid number"),
        ];
        for (body, text, reason) in refused {
            let (lines, errors) = parse(body, Precision::Nanoseconds, NOW);
            assert_eq!(lines, [], "{body:?}");
            assert_eq!(errors.len(), 1, "{body:?}");
            assert_eq!(
                (errors[0].text.as_str(), errors[0].reason.as_str()),
                (text, reason)
            );
        }
        let s = |v: &str| FieldValue::String(v.into());
        let stored = [
            ("m s=\"a\"\r\n", "m", vec![], vec![("s", s("a\""))]),
            ("m s=\"a\r\"\r\n", "m", vec![], vec![("s", s("a\r\""))]),
            (
                "m,t=a\r v=1\n",
                "m",
                vec![("t", "a\r")],
                vec![("v", FieldValue::Float(1.0))],
            ),
            (
                "m\r v=1\n",
                "m\r",
                vec![],
                vec![("v", FieldValue::Float(1.0))],
            ),
            (
                "\rm v=1\n",
                "\rm",
                vec![],
                vec![("v", FieldValue::Float(1.0))],
            ),
            (
                "m v\r=1\n",
                "m",
                vec![],
                vec![("v\r", FieldValue::Float(1.0))],
            ),
            (
                "m v=1,\rw=2\n",
                "m",
                vec![],
                vec![
                    ("v", FieldValue::Float(1.0)),
                    ("\rw", FieldValue::Float(2.0)),
                ],
            ),
        ];
        for (body, measurement, tags, fields) in stored {
            let (lines, errors) = parse(body, Precision::Nanoseconds, NOW);
            assert_eq!(errors, [], "{body:?}");
            let line = &lines[0];
            assert_eq!(line.measurement, measurement, "{body:?}");
            let tags: Vec<(Cow<'_, str>, Cow<'_, str>)> = tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            assert_eq!(line.tags, tags, "{body:?}");
            let fields: Vec<(Cow<'_, str>, FieldValue)> =
                fields.into_iter().map(|(k, v)| (k.into(), v)).collect();
            assert_eq!(line.fields, fields, "{body:?}");
        }
        // A comment line keeps its `\r`; a blank line of `\r` is a line.
        let (lines, errors) = parse("# c\r\nm v=3\n\r\n", Precision::Nanoseconds, NOW);
        assert_eq!((lines.len(), errors.len()), (1, 1));
    }

    /// A repeated field key: the last value while the type stays, else the line ends at the
    /// occurrence of another type (InfluxDB refuses the point as a field type conflict).
    #[test]
    fn a_repeated_field_that_changes_type_ends_the_line() {
        let f = FieldValue::Float;
        let i = FieldValue::Integer;
        let fields = |body: &str| one(body).fields;
        let named = |v: Vec<(&'static str, FieldValue)>| -> Vec<(Cow<'_, str>, FieldValue)> {
            v.into_iter().map(|(k, v)| (k.into(), v)).collect()
        };
        assert_eq!(fields("m v=1,v=2,v=3"), named(vec![("v", f(3.0))]));
        assert_eq!(type_clash(&one("m v=1,v=2,v=3")), None);
        assert_eq!(
            fields("m v=1,v=2i,v=3"),
            named(vec![("v", f(1.0)), ("v", i(2))])
        );
        assert_eq!(
            fields("m w=1,v=1,v=2i,z=1"),
            named(vec![("w", f(1.0)), ("v", f(1.0)), ("v", i(2))])
        );
        assert_eq!(
            type_clash(&one("m w=1,v=1,v=2i,z=1")),
            Some(("v", &i(2), &f(1.0)))
        );
        assert_eq!(
            fields("m w=1i,v=1,w=2"),
            named(vec![("w", i(1)), ("v", f(1.0)), ("w", f(2.0))])
        );
        // `time` is not checked (InfluxDB skips it); a later error still refuses the line.
        assert_eq!(
            fields("m time=1,time=2i,v=1"),
            named(vec![("time", i(2)), ("v", f(1.0))])
        );
        let (lines, errors) = parse("m v=1,v=2i,w=1x\n", Precision::Nanoseconds, NOW);
        assert_eq!(
            (lines.len(), errors[0].reason.as_str()),
            (0, "invalid number")
        );
        // Past the linear search, the same.
        let many: String = (0..20).map(|n| format!("f{n}=1,")).collect();
        assert_eq!(
            type_clash(&one(&format!("m {many}f3=\"x\",f21=1"))),
            Some(("f3", &FieldValue::String("x".into()), &f(1.0)))
        );
    }

    #[test]
    fn an_unterminated_string_is_reported_to_the_end_of_the_body() {
        let (lines, errors) = parse("m s=\"open 1\nm v=7 2\n", Precision::Nanoseconds, NOW);
        assert_eq!(lines, []);
        assert_eq!(
            errors[0].to_string(),
            "unable to parse 'm s=\"open 1\nm v=7 2': unbalanced quotes"
        );
    }

    #[test]
    fn a_quoted_string_may_span_lines() {
        let (lines, errors) = parse("m s=\"a\nb\" 1\nbad\nm v=1", Precision::Nanoseconds, NOW);
        assert_eq!(lines[0].fields[0].1, FieldValue::String("a\nb".into()));
        assert_eq!(lines.len(), 2);
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn repeated_fields_keep_the_last_value() {
        assert_eq!(
            one("m a=1,b=2,a=3").fields,
            [
                (Cow::from("a"), FieldValue::Float(3.0)),
                (Cow::from("b"), FieldValue::Float(2.0))
            ]
        );
    }

    #[test]
    fn repeated_fields_far_apart_or_spelled_with_escapes_are_one_field() {
        assert_eq!(
            one("m a=1,a=2").fields,
            [(Cow::from("a"), FieldValue::Float(2.0))]
        );
        let set: Vec<String> = (0..1000).map(|i| format!("f{i}={i}i")).collect();
        let l = one(&format!("m {},f0=-1i,f999=\"last\"", set.join(",")));
        // The string is another type: the line ends with it, after the first `f999`.
        assert_eq!(l.fields.len(), 1001);
        assert_eq!(l.fields[0], (Cow::from("f0"), FieldValue::Integer(-1)));
        assert_eq!(l.fields[500], (Cow::from("f500"), FieldValue::Integer(500)));
        assert_eq!(l.fields[999], (Cow::from("f999"), FieldValue::Integer(999)));
        assert_eq!(
            l.fields[1000],
            (Cow::from("f999"), FieldValue::String("last".into()))
        );
        // Keys are compared unescaped.
        assert_eq!(
            one(r#"m a\"b=1,c=2,a"b=3"#).fields,
            [
                (Cow::from("a\"b"), FieldValue::Float(3.0)),
                (Cow::from("c"), FieldValue::Float(2.0))
            ]
        );
    }

    #[test]
    fn lines_end_where_the_byte_scan_ends_them() {
        // Every body of up to six bytes over the characters that matter to a line's end, from
        // every start: the search for `\n` agrees with influxdb's byte-by-byte scan.
        const ALPHABET: &[u8] = b"a ,=\"\\\n";
        for len in 0..=6u32 {
            for mut n in 0..ALPHABET.len().pow(len) {
                let body: Vec<u8> = (0..len)
                    .map(|_| {
                        let c = ALPHABET[n % ALPHABET.len()];
                        n /= ALPHABET.len();
                        c
                    })
                    .collect();
                for start in 0..body.len() {
                    assert_eq!(
                        scan_line(&body, start),
                        scan_line_bytes(&body, start),
                        "{:?} from {start}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }
    }

    #[test]
    fn repeated_fields_keep_their_first_place_around_the_lookup_table() {
        // Lines of 14 to 18 fields repeating their first and last key: found by a search below
        // 16 fields, by the table from there on; the same answer either way.
        for n in 14..=18 {
            let set: Vec<String> = (0..n).map(|i| format!("f{i}={i}i")).collect();
            let l = one(&format!("m {},f0=-1i,f{}=-2i", set.join(","), n - 1));
            assert_eq!(l.fields.len(), n, "{n} fields");
            assert_eq!(l.fields[0], (Cow::from("f0"), FieldValue::Integer(-1)));
            assert_eq!(
                l.fields[n - 1],
                (Cow::from(format!("f{}", n - 1)), FieldValue::Integer(-2))
            );
            assert_eq!(l.fields[1], (Cow::from("f1"), FieldValue::Integer(1)));
        }
    }

    #[test]
    fn a_line_with_a_million_fields_keeps_each_field() {
        // InfluxDB 1.x takes any number of fields on a line, and so must this parser, in time
        // proportional to the line (it once took minutes here).
        const N: i64 = 1_000_000;
        let set: Vec<String> = (0..N).map(|i| format!("f{i}={i}i")).collect();
        let l = one(&format!("m,host=a {} 7", set.join(",")));
        assert_eq!((&*l.measurement, l.timestamp_ns), ("m", 7));
        assert_eq!(l.fields.len(), 1_000_000);
        for (i, (key, value)) in (0..N).zip(&l.fields) {
            assert_eq!(key, &format!("f{i}"));
            assert_eq!(value, &FieldValue::Integer(i));
        }
    }

    #[test]
    fn partial_writes_report_each_bad_line() {
        let body = "cpu v=1\ncpu\ncpu v=2\ncpu,host= v=1\n";
        let (lines, errors) = parse(body, Precision::Nanoseconds, NOW);
        assert_eq!(lines.len(), 2);
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "unable to parse 'cpu': missing fields",
                "unable to parse 'cpu,host= v=1': missing tag value"
            ]
        );
        assert_eq!((errors[0].line, errors[1].line), (2, 4));
    }

    #[test]
    fn errors_use_influxdb_reasons() {
        for (line, why) in [
            (",tag=a v=1", "missing measurement"),
            ("cpu", "missing fields"),
            ("cpu,host=a", "missing fields"),
            ("cpu,host==", "missing fields"),
            ("=", "missing fields"),
            // An empty field set: influxdb's scanFields finds no `=`.
            ("cpu ", "invalid field format"),
            ("cpu,host=a ", "invalid field format"),
            ("cpu,host=f\\==o,", "invalid tag format"),
            ("cpu,host=a\\,,=b v=1", "missing tag key"),
            ("m f=\"blah\"=123,r 1531703600000000000", "invalid value: field-key=r"),
            ("cpu v=-e-e-e", "invalid float"),
            ("cpu v=42+3", "invalid number"),
            ("cpu, v=1", "missing tag key"),
            ("cpu,=a v=1", "missing tag key"),
            ("cpu,host v=1", "missing tag value"),
            ("cpu,host= v=1", "missing tag value"),
            ("cpu,host=a=b v=1", "invalid tag format"),
            ("cpu,host=a,host=b v=1", "duplicate tags"),
            ("cpu,b=1,a=2,b=3 v=1", "duplicate tags"),
            ("cpu v", "invalid field format"),
            ("cpu v=1,w", "invalid field format"),
            ("cpu v=1,", "invalid field format"),
            ("cpu =1", "missing field key"),
            ("cpu v=1,=2", "missing field key"),
            ("cpu v=", "missing field value"),
            ("cpu v=,w=1", "missing field value"),
            ("cpu v=1.1.1", "invalid number"),
            ("cpu v=1x", "invalid number"),
            ("cpu v=-", "invalid number"),
            ("cpu v=NaN", "invalid number"),
            ("cpu v=1.5i", "invalid number"),
            ("cpu v=1e3i", "invalid number"),
            ("cpu v=9i10", "invalid number"),
            ("cpu v=-1u", "invalid number"),
            ("cpu v=1u", "invalid number"),
            ("cpu v=18446744073709551615u", "invalid number"),
            ("cpu v=+1", "invalid boolean"),
            ("cpu v=+1i", "invalid boolean"),
            ("cpu v=.", "invalid number"),
            ("cpu v=1e", "invalid float"),
            ("cpu v=1e400", "invalid float"),
            ("cpu v=tru", "invalid boolean"),
            ("cpu v=yes", "invalid boolean"),
            ("cpu v=tRUE", "invalid boolean"),
            ("cpu v=\"abc", "unbalanced quotes"),
            ("cpu v=\"abc\\\"", "unbalanced quotes"),
            ("cpu v=1 12a", "bad timestamp"),
            ("cpu v=1 1.5", "bad timestamp"),
            ("cpu v=1 --1", "bad timestamp"),
            ("cpu v=1 1 2", "point is invalid"),
            ("cpu v=1 -", "strconv.ParseInt: parsing \"-\": invalid syntax"),
            (
                "cpu v=1 99999999999999999999",
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
            ),
            (
                "cpu v=9223372036854775808i,w=x",
                "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing \"9223372036854775808\": value out of range",
            ),
            (
                "cpu v=-9223372036854775809i",
                "unable to parse integer -9223372036854775809: strconv.ParseInt: parsing \"-9223372036854775809\": value out of range",
            ),
            (
                "cpu v=1 9223372036854775807",
                "time outside range -9223372036854775806 - 9223372036854775806",
            ),
            (
                "cpu v=1 -9223372036854775807",
                "time outside range -9223372036854775806 - 9223372036854775806",
            ),
        ] {
            assert_eq!(reason(line), why, "{line}");
        }
        let (_, errors) = parse("cpu v=1 9223372036854775", Precision::Seconds, NOW);
        assert_eq!(
            errors[0].reason,
            "time outside range -9223372036854775806 - 9223372036854775806"
        );
        // The earliest and the latest times are taken.
        assert_eq!(one("m v=1 -9223372036854775806").timestamp_ns, MIN_TIME_NS);
        assert_eq!(one("m v=1 9223372036854775806").timestamp_ns, MAX_TIME_NS);
        let long = format!("{} v=1", "m".repeat(MAX_KEY_LENGTH + 1));
        assert_eq!(reason(&long), "max key length exceeded: 65536 > 65535");
    }
}
