//! The text of InfluxDB 1.x answers: Go's JSON encoding of numbers and strings, RFC 3339 times
//! with nanoseconds, `epoch=` precisions, `pretty=true` indentation and `chunked=true` documents.
//! Written by hand rather than through serde so that numbers, key order and escapes come out
//! byte for byte as InfluxDB writes them (`1e+21`, `5000`, `\u003c`).

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::result::{Cell, QueryResults, Series, StatementResult};

/// How times are written: `epoch=` (an integer in a unit) or RFC 3339, in UTC or in the
/// statement's `tz()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    Rfc3339,
    /// Nanoseconds per unit: `ns` 1, `u` 1000, `ms`, `s`, `m`, `h`.
    Unit(i64),
}

impl Epoch {
    /// The `epoch` query parameter. InfluxDB 1.x reads an unknown unit as nanoseconds, and an
    /// empty one as "no epoch".
    pub fn parse(param: Option<&str>) -> Epoch {
        match param {
            None | Some("") => Epoch::Rfc3339,
            Some("h") => Epoch::Unit(3_600_000_000_000),
            Some("m") => Epoch::Unit(60_000_000_000),
            Some("s") => Epoch::Unit(1_000_000_000),
            Some("ms") => Epoch::Unit(1_000_000),
            Some("u") => Epoch::Unit(1_000),
            Some(_) => Epoch::Unit(1),
        }
    }
}

/// A float as Go's `encoding/json` writes it: the shortest text that reads back the same,
/// without exponent between 1e-6 and 1e21 (`5000`, `0.25`, `166666666687242800000`), with a
/// signed, unpadded one outside (`1e+21`, `1.5e-7`).
pub fn go_float(out: &mut String, v: f64) {
    if !v.is_finite() {
        // JSON cannot carry these; InfluxDB never stores them.
        out.push_str("null");
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                out.push_str(mantissa);
                out.push('e');
                if !exp.starts_with('-') {
                    out.push('+');
                }
                out.push_str(exp);
            }
            None => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A JSON string as Go escapes it: `"`, `\`, control characters, and `<`, `>`, `&`, U+2028 and
/// U+2029 as `\u` escapes (Go's HTML-safe default); other Unicode is written as is.
pub fn go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 with as many fractional digits as needed (Go's `RFC3339Nano`): `2020-07-21T10:42:17.123Z`,
/// or with the zone's offset under `tz()`: `2020-07-21T00:00:00+02:00`.
pub fn rfc3339_nano(ns: i64, tz: Option<Tz>) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
    let Some(utc) = DateTime::<Utc>::from_timestamp(secs, nanos) else {
        return ns.to_string();
    };
    let local: DateTime<FixedOffset> = match tz {
        Some(tz) => utc.with_timezone(&tz).fixed_offset(),
        None => utc.fixed_offset(),
    };
    let mut s = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    // Go's `Z07:00` writes `Z` for any zero offset.
    if local.offset().local_minus_utc() == 0 {
        s.push('Z');
    } else {
        s.push_str(&local.format("%:z").to_string());
    }
    s
}

/// The offset of `tz` from UTC at `ns`, in nanoseconds.
pub fn tz_offset_ns(tz: Tz, ns: i64) -> i64 {
    let utc = Utc.timestamp_nanos(ns);
    i64::from(
        tz.offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc(),
    ) * 1_000_000_000
}

/// A duration as Go's `time.Duration.String` writes it: `0s`, `1.5s`, `168h0m0s`, `500ms`.
pub fn go_duration(ns: i64) -> String {
    fn frac(whole: u128, rest: u128, digits: usize) -> String {
        if rest == 0 {
            whole.to_string()
        } else {
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    }
    let sign = if ns < 0 { "-" } else { "" };
    let d = u128::from(ns.unsigned_abs());
    let s = if d == 0 {
        "0s".to_owned()
    } else if d < 1_000 {
        format!("{d}ns")
    } else if d < 1_000_000 {
        format!("{}µs", frac(d / 1_000, d % 1_000, 3))
    } else if d < 1_000_000_000 {
        format!("{}ms", frac(d / 1_000_000, d % 1_000_000, 6))
    } else {
        let secs = frac((d / 1_000_000_000) % 60, d % 1_000_000_000, 9);
        let (h, m) = (d / 3_600_000_000_000, (d / 60_000_000_000) % 60);
        if h > 0 {
            format!("{h}h{m}m{secs}s")
        } else if m > 0 {
            format!("{m}m{secs}s")
        } else {
            format!("{secs}s")
        }
    };
    format!("{sign}{s}")
}

/// How an answer is written.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    pub epoch: Epoch,
    pub pretty: bool,
}

struct Writer<'a> {
    out: String,
    format: &'a Format,
    depth: usize,
}

impl Writer<'_> {
    fn newline(&mut self) {
        if self.format.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("    ");
            }
        }
    }

    fn open(&mut self, c: char) {
        self.out.push(c);
        self.depth += 1;
    }

    fn close(&mut self, c: char, empty: bool) {
        self.depth -= 1;
        if !empty {
            self.newline();
        }
        self.out.push(c);
    }

    /// Before the `i`-th member of an object or array.
    fn item(&mut self, i: usize) {
        if i > 0 {
            self.out.push(',');
        }
        self.newline();
    }

    fn key(&mut self, i: usize, key: &str) {
        self.item(i);
        go_string(&mut self.out, key);
        self.out.push(':');
        if self.format.pretty {
            self.out.push(' ');
        }
    }

    fn cell(&mut self, cell: &Cell, tz: Option<Tz>) {
        match cell {
            Cell::Null => self.out.push_str("null"),
            Cell::Float(v) => go_float(&mut self.out, *v),
            Cell::Integer(v) => {
                let _ = write!(self.out, "{v}");
            }
            Cell::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Cell::Str(s) => go_string(&mut self.out, s),
            Cell::Time(ns) => match self.format.epoch {
                Epoch::Rfc3339 => go_string(&mut self.out, &rfc3339_nano(*ns, tz)),
                Epoch::Unit(unit) => {
                    let _ = write!(self.out, "{}", ns / unit);
                }
            },
        }
    }

    fn strings(&mut self, items: &[String]) {
        self.open('[');
        for (i, s) in items.iter().enumerate() {
            self.item(i);
            go_string(&mut self.out, s);
        }
        self.close(']', items.is_empty());
    }

    fn series(&mut self, s: &Series) {
        self.open('{');
        let mut n = 0;
        if let Some(name) = &s.name {
            self.key(n, "name");
            go_string(&mut self.out, name);
            n += 1;
        }
        if let Some(tags) = &s.tags {
            self.key(n, "tags");
            self.open('{');
            for (i, (k, v)) in tags.iter().enumerate() {
                self.key(i, k);
                go_string(&mut self.out, v);
            }
            self.close('}', tags.is_empty());
            n += 1;
        }
        self.key(n, "columns");
        self.strings(&s.columns);
        n += 1;
        if !s.values.is_empty() {
            self.key(n, "values");
            self.open('[');
            for (i, row) in s.values.iter().enumerate() {
                self.item(i);
                self.open('[');
                for (j, c) in row.iter().enumerate() {
                    self.item(j);
                    self.cell(c, s.tz);
                }
                self.close(']', row.is_empty());
            }
            self.close(']', false);
            n += 1;
        }
        if s.partial {
            self.key(n, "partial");
            self.out.push_str("true");
        }
        self.close('}', false);
    }

    fn statement(&mut self, r: &StatementResult) {
        self.open('{');
        self.key(0, "statement_id");
        if r.query_panicked {
            self.out.push_str("-1");
        } else {
            let _ = write!(self.out, "{}", r.statement_id);
        }
        let mut n = 1;
        if let Some(e) = &r.error {
            self.key(n, "error");
            go_string(&mut self.out, e);
        } else {
            if !r.series.is_empty() {
                self.key(n, "series");
                self.open('[');
                for (i, s) in r.series.iter().enumerate() {
                    self.item(i);
                    self.series(s);
                }
                self.close(']', false);
                n += 1;
            }
            if !r.messages.is_empty() {
                self.key(n, "messages");
                self.open('[');
                for (i, m) in r.messages.iter().enumerate() {
                    self.item(i);
                    self.open('{');
                    self.key(0, "level");
                    go_string(&mut self.out, "warning");
                    self.key(1, "text");
                    go_string(&mut self.out, m);
                    self.close('}', false);
                }
                self.close(']', false);
                n += 1;
            }
            if r.partial {
                self.key(n, "partial");
                self.out.push_str("true");
            }
        }
        self.close('}', false);
    }

    fn results(&mut self, results: &[StatementResult]) {
        self.open('{');
        self.key(0, "results");
        self.open('[');
        for (i, r) in results.iter().enumerate() {
            self.item(i);
            self.statement(r);
        }
        self.close(']', results.is_empty());
        self.close('}', false);
        self.out.push('\n');
    }
}

/// The body of a `/query` answer: `{"results":[...]}` and a newline.
pub fn encode(results: &QueryResults, format: &Format) -> String {
    let mut w = Writer {
        out: String::with_capacity(256),
        format,
        depth: 0,
    };
    w.results(&results.0);
    w.out
}

/// A `{"error": "..."}` body (a request InfluxDB refuses as a whole).
pub fn encode_error(message: &str, pretty: bool) -> String {
    let format = Format {
        epoch: Epoch::Rfc3339,
        pretty,
    };
    let mut w = Writer {
        out: String::new(),
        format: &format,
        depth: 0,
    };
    w.open('{');
    w.key(0, "error");
    go_string(&mut w.out, message);
    w.close('}', false);
    w.out.push('\n');
    w.out
}

/// A CSV field as Go's `encoding/csv` writes it: quoted when it holds a comma, a quote or a
/// line break, or starts with a space.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) || s.starts_with(' ') {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// The body of an answer with `Accept: application/csv`: per statement a header
/// `name,tags,<columns>` (again when the columns change) and a line per row, times in
/// nanoseconds, numbers without exponent; a blank line between statements. Statements that
/// failed write nothing (InfluxDB answers them with an empty body).
pub fn encode_csv(results: &QueryResults) -> String {
    let mut out = String::new();
    let mut first = true;
    for r in results
        .0
        .iter()
        .filter(|r| r.error.is_none() && !r.series.is_empty())
    {
        if !first {
            out.push('\n');
        }
        first = false;
        let mut columns: Option<&Vec<String>> = None;
        for s in &r.series {
            if columns != Some(&s.columns) {
                out.push_str("name,tags");
                for c in &s.columns {
                    out.push(',');
                    csv_field(&mut out, c);
                }
                out.push('\n');
                columns = Some(&s.columns);
            }
            let tags = s
                .tags
                .as_ref()
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            for row in &s.values {
                csv_field(&mut out, s.name.as_deref().unwrap_or_default());
                out.push(',');
                csv_field(&mut out, &tags);
                for c in row {
                    out.push(',');
                    match c {
                        Cell::Null => {}
                        Cell::Time(ns) | Cell::Integer(ns) => {
                            let _ = write!(out, "{ns}");
                        }
                        Cell::Float(v) => {
                            let _ = write!(out, "{v}");
                        }
                        Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                        Cell::Str(v) => csv_field(&mut out, v),
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

/// The body of a `chunked=true` answer: one `{"results":[...]}` document per series (and per
/// statement without series), each series cut into pieces of at most `chunk_size` rows;
/// `"partial": true` marks a series, and a statement, continued in the next document.
pub fn encode_chunked(results: &QueryResults, format: &Format, chunk_size: usize) -> String {
    let chunk_size = chunk_size.max(1);
    let mut out = String::new();
    let mut emit = |r: StatementResult| {
        out.push_str(&encode(&QueryResults(vec![r]), format));
    };
    for r in &results.0 {
        if r.error.is_some() || r.series.is_empty() {
            emit(r.clone());
            continue;
        }
        let mut pieces: Vec<Series> = Vec::new();
        for s in &r.series {
            let n = s.values.len();
            if n <= chunk_size || !r.chunk_rows {
                pieces.push(s.clone());
                continue;
            }
            let mut start = 0;
            while start < n {
                let end = (start + chunk_size).min(n);
                let mut piece = s.clone();
                piece.values = s.values[start..end].to_vec();
                piece.partial = end < n;
                pieces.push(piece);
                start = end;
            }
        }
        let count = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut doc = StatementResult::new(r.statement_id);
            doc.series = vec![piece];
            doc.messages = if i + 1 == count {
                r.messages.clone()
            } else {
                Vec::new()
            };
            doc.partial = i + 1 < count;
            emit(doc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        go_float(&mut s, v);
        s
    }

    #[test]
    fn floats_as_go_writes_them() {
        assert_eq!(f(5000.0), "5000");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(-7.0), "-7");
        assert_eq!(f(2358.6237384340266), "2358.6237384340266");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(2.25e-14), "2.25e-14");
        assert_eq!(f(1.5241578753153485e22), "1.5241578753153485e+22");
        assert_eq!(f(166666666687242800000.0), "166666666687242800000");
        assert_eq!(f(123456789012.0), "123456789012");
        assert_eq!(f(0.000001), "0.000001");
    }

    #[test]
    fn strings_as_go_writes_them() {
        let mut s = String::new();
        go_string(&mut s, "a<b>&\"c\"\\ °C\n");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"c\"\\ °C\n""#);
    }

    #[test]
    fn times() {
        let ns = 1_595_328_137_123_000_000; // 2020-07-21T10:42:17.123Z
        assert_eq!(rfc3339_nano(ns, None), "2020-07-21T10:42:17.123Z");
        assert_eq!(rfc3339_nano(500_000_000, None), "1970-01-01T00:00:00.5Z");
        assert_eq!(rfc3339_nano(1, None), "1970-01-01T00:00:00.000000001Z");
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            rfc3339_nano(1_595_282_400_000_000_000, Some(paris)),
            "2020-07-21T00:00:00+02:00"
        );
        assert_eq!(
            tz_offset_ns(paris, 1_595_282_400_000_000_000),
            7_200_000_000_000
        );
        assert_eq!(Epoch::parse(Some("ms")), Epoch::Unit(1_000_000));
        assert_eq!(Epoch::parse(Some("x")), Epoch::Unit(1));
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(7 * 24 * 3_600_000_000_000), "168h0m0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(Epoch::parse(Some("")), Epoch::Rfc3339);
    }
}
