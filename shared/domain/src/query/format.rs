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
        let (negative, digits, point) = shortest_digits(v);
        let digits = digits.as_str();
        if negative {
            out.push('-');
        }
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp = point - 1;
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(itoa::Buffer::new().format(exp.unsigned_abs()));
    } else {
        plain_float(out, v);
    }
}

/// The shortest digits that read back as `v` (finite, not 0), of the two nearest equally the
/// even one as Go's `strconv` (Ryu) chooses (`{}` takes the upper: 1405261779120832.25 is
/// `…832.3` there, `…832.2` in Go): its sign, its digits without leading or trailing zeros, and
/// where the decimal point goes (`0.0125` is `125` and -1).
fn shortest_digits(v: f64) -> (bool, Digits, i32) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mantissa, exp) = match text.iter().position(|&c| c == b'e') {
        Some(i) => (
            &text[..i],
            (std::str::from_utf8(&text[i + 1..]).ok())
                .and_then(|e| e.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (text, 0),
    };
    let int_len = mantissa
        .iter()
        .position(|&c| c == b'.')
        .unwrap_or(mantissa.len());
    let mut point = i32::try_from(int_len).unwrap_or(0) + exp;
    let mut d = Digits {
        buf: [0; 24],
        len: 0,
    };
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        if d.len == 0 && c == b'0' {
            // A leading zero (`0.00125`) moves the point instead.
            point -= 1;
        } else if d.len < d.buf.len() {
            d.buf[d.len] = c;
            d.len += 1;
        }
    }
    while d.len > 0 && d.buf[d.len - 1] == b'0' {
        d.len -= 1;
    }
    (negative, d, point)
}

/// Decimal digits on the stack (at most 17 of a double's shortest text).
struct Digits {
    buf: [u8; 24],
    len: usize,
}

impl Digits {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A float in decimal without exponent, as Go's `'f', -1` writes it: its shortest round-trip
/// digits (Rust's `{}` too, but for the choice between two equally near). Most telemetry values are short decimals: for them
/// the digits are found with float arithmetic, cheap in WebAssembly where the general algorithms
/// (`{}`'s Grisu, ryu's 128-bit products) are slow. If `m / 10^k` with `m` an integer of at most
/// 15 digits is `v` (one correctly rounded division), its digits are `v`'s shortest: decimals of
/// at most 15 digits are distinct doubles (`DBL_DIG`), so no shorter one is `v` too; the
/// smallest such `k` has no trailing zero. Other values are written from ryu's shortest digits.
fn plain_float(out: &mut String, v: f64) {
    const POW10: [f64; 9] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
    if v != 0.0 {
        for (k, &p) in POW10.iter().enumerate() {
            let m = (v * p).round();
            if m.abs() >= 1e15 {
                break;
            }
            if m / p == v {
                // |m| < 1e15: exact as an integer.
                let m = m as i64;
                let mut buf = itoa::Buffer::new();
                let digits = buf.format(m.unsigned_abs());
                if m < 0 {
                    out.push('-');
                }
                match digits.len().checked_sub(k) {
                    Some(0) | None => {
                        out.push_str("0.");
                        (digits.len()..k).for_each(|_| out.push('0'));
                        out.push_str(digits);
                    }
                    Some(int) => {
                        out.push_str(&digits[..int]);
                        if k > 0 {
                            out.push('.');
                            out.push_str(&digits[int..]);
                        }
                    }
                }
                return;
            }
        }
    }
    if v == 0.0 || !v.is_finite() {
        let _ = write!(out, "{v}");
        return;
    }
    let (negative, digits, point) = shortest_digits(v);
    let digits = digits.as_str();
    if negative {
        out.push('-');
    }
    match usize::try_from(point) {
        Ok(0) | Err(_) => {
            out.push_str("0.");
            (0..point.unsigned_abs()).for_each(|_| out.push('0'));
            out.push_str(digits);
        }
        Ok(int) if int >= digits.len() => {
            out.push_str(digits);
            (digits.len()..int).for_each(|_| out.push('0'));
        }
        Ok(int) => {
            out.push_str(&digits[..int]);
            out.push('.');
            out.push_str(&digits[int..]);
        }
    }
}

/// An integer in decimal.
fn integer(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
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
            Cell::Integer(v) => integer(&mut self.out, *v),
            Cell::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Cell::Str(s) => go_string(&mut self.out, s),
            Cell::Time(ns) => match self.format.epoch {
                Epoch::Rfc3339 => go_string(&mut self.out, &rfc3339_nano(*ns, tz)),
                Epoch::Unit(unit) => integer(&mut self.out, ns / unit),
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
                        Cell::Time(ns) | Cell::Integer(ns) => integer(&mut out, *ns),
                        Cell::Float(v) => plain_float(&mut out, *v),
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

/// The documents of a `chunked=true` answer, whatever their encoding: one result per series (and
/// per statement without series), each series cut into pieces of at most `chunk_size` rows;
/// `partial` marks a series, and a statement, continued in the next document.
pub fn chunks(results: &QueryResults, chunk_size: usize) -> Vec<StatementResult> {
    let chunk_size = chunk_size.max(1);
    let mut out = Vec::new();
    for r in &results.0 {
        if let (Some((first, after)), Some(error)) = (&r.stopped, &r.error) {
            out.push(StatementResult::error(r.statement_id, first.clone()));
            for _ in 0..*after {
                out.push(StatementResult::error(r.statement_id, error.clone()));
            }
            continue;
        }
        if r.error.is_some() || r.series.is_empty() {
            out.push(r.clone());
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
            // Another SHOW's documents (one per measurement) are not marked partial.
            doc.partial = r.chunk_rows && i + 1 < count;
            out.push(doc);
        }
    }
    out
}

/// The body of a `chunked=true` answer: one `{"results":[...]}` document per [`chunks`] item.
pub fn encode_chunked(results: &QueryResults, format: &Format, chunk_size: usize) -> String {
    let mut out = String::new();
    for r in chunks(results, chunk_size) {
        out.push_str(&encode(&QueryResults(vec![r]), format));
    }
    out
}

/// MessagePack (`Accept: application/x-msgpack`) as InfluxDB 1.x's `msgpackFormatter` writes it
/// with tinylib/msgp: no pretty form, no trailing newline; a statement that failed is
/// `{"error": ...}` alone (no `statement_id`); any other has `statement_id`, `messages` when
/// there are some, `series` always (`[]` when none) and `partial` when set; a series has `name`
/// when not empty, `tags` when there are some, `columns` and `values` always, and `partial`
/// when set. Integers in their smallest signed form, floats always as float64, times as
/// extension 5 (big-endian seconds as i64, then nanoseconds as u32; UTC, `tz()` ignored) unless
/// `epoch=` makes them integers.
pub mod msgpack {
    use rmp::encode as mp;

    use super::{chunks, Epoch};
    use crate::query::result::{Cell, QueryResults, Series, StatementResult};

    /// msgp's time extension type.
    pub const TIME_EXTENSION: i8 = 5;

    /// Writes into a `Vec`, which cannot fail: rmp's results are dropped.
    struct Writer {
        out: Vec<u8>,
        epoch: Epoch,
    }

    impl Writer {
        fn map(&mut self, len: usize) {
            let _ = mp::write_map_len(&mut self.out, len32(len));
        }

        fn array(&mut self, len: usize) {
            let _ = mp::write_array_len(&mut self.out, len32(len));
        }

        fn str(&mut self, s: &str) {
            let _ = mp::write_str(&mut self.out, s);
        }

        /// tinylib/msgp's `WriteInt64`: a fixint, or the smallest *signed* form (`int16` for
        /// 128, where rmp's `write_sint` would pick `uint8`).
        fn int(&mut self, v: i64) {
            let w = &mut self.out;
            // Both fixints fit an i8, whose byte is the fixint's.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let byte = v as i8;
            let _ = if (0..=127).contains(&v) {
                mp::write_pfix(w, byte as u8).is_ok()
            } else if (-32..0).contains(&v) {
                mp::write_nfix(w, byte).is_ok()
            } else if let Ok(v) = i8::try_from(v) {
                mp::write_i8(w, v).is_ok()
            } else if let Ok(v) = i16::try_from(v) {
                mp::write_i16(w, v).is_ok()
            } else if let Ok(v) = i32::try_from(v) {
                mp::write_i32(w, v).is_ok()
            } else {
                mp::write_i64(w, v).is_ok()
            };
        }

        fn cell(&mut self, cell: &Cell) {
            match cell {
                Cell::Null => {
                    let _ = mp::write_nil(&mut self.out);
                }
                Cell::Float(v) => {
                    let _ = mp::write_f64(&mut self.out, *v);
                }
                Cell::Integer(v) => self.int(*v),
                Cell::Bool(b) => {
                    let _ = mp::write_bool(&mut self.out, *b);
                }
                Cell::Str(s) => self.str(s),
                Cell::Time(ns) => match self.epoch {
                    Epoch::Unit(unit) => self.int(ns / unit),
                    Epoch::Rfc3339 => {
                        // Go's `t.Unix()` and `t.Nanosecond()`: seconds rounded down.
                        let secs = ns.div_euclid(1_000_000_000);
                        let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
                        let _ = mp::write_ext_meta(&mut self.out, 12, TIME_EXTENSION);
                        self.out.extend_from_slice(&secs.to_be_bytes());
                        self.out.extend_from_slice(&nanos.to_be_bytes());
                    }
                },
            }
        }

        fn series(&mut self, s: &Series) {
            let name = s.name.as_deref().filter(|n| !n.is_empty());
            let tags = s.tags.as_deref().filter(|t| !t.is_empty());
            self.map(
                2 + usize::from(name.is_some())
                    + usize::from(tags.is_some())
                    + usize::from(s.partial),
            );
            if let Some(name) = name {
                self.str("name");
                self.str(name);
            }
            if let Some(tags) = tags {
                self.str("tags");
                self.map(tags.len());
                for (k, v) in tags {
                    self.str(k);
                    self.str(v);
                }
            }
            self.str("columns");
            self.array(s.columns.len());
            for c in &s.columns {
                self.str(c);
            }
            self.str("values");
            self.array(s.values.len());
            for row in &s.values {
                self.array(row.len());
                for c in row {
                    self.cell(c);
                }
            }
            if s.partial {
                self.str("partial");
                let _ = mp::write_bool(&mut self.out, true);
            }
        }

        fn statement(&mut self, r: &StatementResult) {
            if let Some(e) = &r.error {
                self.map(1);
                self.str("error");
                self.str(e);
                return;
            }
            self.map(2 + usize::from(!r.messages.is_empty()) + usize::from(r.partial));
            self.str("statement_id");
            self.int(i64::try_from(r.statement_id).unwrap_or(i64::MAX));
            if !r.messages.is_empty() {
                self.str("messages");
                self.array(r.messages.len());
                for m in &r.messages {
                    self.map(2);
                    self.str("level");
                    self.str("warning");
                    self.str("text");
                    self.str(m);
                }
            }
            self.str("series");
            self.array(r.series.len());
            for s in &r.series {
                self.series(s);
            }
            if r.partial {
                self.str("partial");
                let _ = mp::write_bool(&mut self.out, true);
            }
        }

        fn results(&mut self, results: &[StatementResult]) {
            self.map(1);
            self.str("results");
            self.array(results.len());
            for r in results {
                self.statement(r);
            }
        }
    }

    fn len32(len: usize) -> u32 {
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    /// The body of a `/query` answer in MessagePack: `{"results": [...]}` (`[]` for a query
    /// of only `;`).
    pub fn encode(results: &QueryResults, epoch: Epoch) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::with_capacity(256),
            epoch,
        };
        w.results(&results.0);
        w.out
    }

    /// A `chunked=true` answer: one MessagePack document per [`chunks`] item, one after the other.
    pub fn encode_chunked(results: &QueryResults, epoch: Epoch, chunk_size: usize) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::with_capacity(256),
            epoch,
        };
        for r in chunks(results, chunk_size) {
            w.results(std::slice::from_ref(&r));
        }
        w.out
    }

    /// `{"error": message}` (a request InfluxDB refuses as a whole: 400s, and the 401s of
    /// authentication, which InfluxDB writes through the same formatter).
    pub fn encode_error(message: &str) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::new(),
            epoch: Epoch::Rfc3339,
        };
        w.map(1);
        w.str("error");
        w.str(message);
        w.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Floats are written with Rust's shortest round-trip digits, as `{}` writes them (and
    /// Go's `'f', -1`), for every kind of value between 1e-6 and 1e21: decimals like telemetry's
    /// (the fast path), integers, tiny and huge magnitudes, and pseudo-random bit patterns of
    /// the whole range (`{}` itself).
    #[test]
    fn floats_are_laid_out_as_displayed() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            57.96,
            211304.58,
            0.1 + 0.2,
            1e-6,
            1.5e-6,
            0.000123,
            123456.789,
            1e15,
            1e16,
            1e17,
            9.999999999999999e20,
            123456789012345680000.0,
            f64::EPSILON * 1e10,
            4503599627370497.0,
            2f64.powi(53),
            0.3,
            100.0,
            1e20,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            // xorshift: every bit pattern of a finite double in range, and short decimals
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(f64::from_bits(x));
            values.push((x % 10_000_000) as f64 / 100.0);
            values.push((x % 1000) as f64 * 10f64.powi((x >> 40) as i32 % 27 - 6));
            values.push(((x % 2_000_000_000) as f64 - 1e9) / 10f64.powi((x >> 50) as i32 % 10));
        }
        for &v in &values {
            // CSV answers write every value this way, whatever its magnitude.
            let mut plain = String::new();
            plain_float(&mut plain, v);
            as_displayed_or_the_even_of_a_tie(&plain, v);
        }
        for v in values {
            if !v.is_finite() || (v != 0.0 && !(1e-6..1e21).contains(&v.abs())) {
                continue;
            }
            let mut got = String::new();
            go_float(&mut got, v);
            as_displayed_or_the_even_of_a_tie(&got, v);
        }
    }

    /// `got` is `{}`'s text of `v`, or (where `v` lies exactly between two shortest texts,
    /// which `{}` rounds up) the other one, whose last digit is even.
    fn as_displayed_or_the_even_of_a_tie(got: &str, v: f64) {
        let shown = format!("{v}");
        if got == shown {
            return;
        }
        let what = format!("{v:e} ({:#x}): {got} against {shown}", v.to_bits());
        assert_eq!(got.parse::<f64>().ok(), Some(v), "{what}");
        assert_eq!(got.len(), shown.len(), "{what}");
        let (g, d) = (got.as_bytes(), shown.as_bytes());
        let last = g.iter().zip(d).rposition(|(a, b)| a != b).unwrap();
        assert!(
            g[..last] == d[..last] && g[last] + 1 == d[last] && g[last] % 2 == 0,
            "{what}"
        );
        assert!(g[last + 1..].iter().all(|c| *c == b'0'), "{what}");
    }

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
        assert_eq!(f(0.30000000000000004), "0.30000000000000004");
        assert_eq!(f(-1.0000000000000002e-6), "-0.0000010000000000000002");
        // Exactly between two shortest texts: the even one, as Go (`{}` writes …832.3).
        let tie = f64::from_bits(0x4313_F850_04A4_CB01); // 1405261779120832.25 exactly
        assert_eq!(f(tie), "1405261779120832.2");
        assert_eq!(f(-tie), "-1405261779120832.2");
        assert_eq!(f(1.2345678901234566e-7), "1.2345678901234566e-7");
        assert_eq!(f(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(f(5e-324), "5e-324");
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

    fn mp_cell(cell: Cell, epoch: Epoch) -> Vec<u8> {
        let mut s = Series {
            name: Some(String::new()),
            tags: Some(Vec::new()),
            columns: vec!["c".into()],
            values: vec![vec![cell]],
            ..Series::default()
        };
        s.tz = "Europe/Paris".parse().ok();
        let mut r = StatementResult::new(0);
        r.series = vec![s];
        let all = msgpack::encode(&QueryResults(vec![r]), epoch);
        // `{"results": [{"statement_id": 0, "series": [{"columns": ["c"], "values": [[`
        let head: &[u8] = b"\x81\xa7results\x91\x82\xacstatement_id\x00\xa6series\x91\x82\xa7columns\x91\xa1c\xa6values\x91\x91";
        assert_eq!(
            &all[..head.len()],
            head,
            "an empty name and no tags are left out"
        );
        all[head.len()..].to_vec()
    }

    #[test]
    fn msgpack_integers_as_tinylib_msgp_writes_them() {
        let int = |v: i64| mp_cell(Cell::Integer(v), Epoch::Rfc3339);
        assert_eq!(int(0), [0x00]);
        assert_eq!(int(127), [0x7f]);
        assert_eq!(int(128), [0xd1, 0x00, 0x80]);
        assert_eq!(int(32_767), [0xd1, 0x7f, 0xff]);
        assert_eq!(int(32_768), [0xd2, 0, 0, 0x80, 0]);
        assert_eq!(int(2_147_483_648), [0xd3, 0, 0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(int(-1), [0xff]);
        assert_eq!(int(-32), [0xe0]);
        assert_eq!(int(-33), [0xd0, 0xdf]);
        assert_eq!(int(-129), [0xd1, 0xff, 0x7f]);
        assert_eq!(int(i64::MIN), [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            mp_cell(Cell::Float(1.0), Epoch::Rfc3339),
            [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(mp_cell(Cell::Null, Epoch::Rfc3339), [0xc0]);
        assert_eq!(mp_cell(Cell::Bool(false), Epoch::Rfc3339), [0xc2]);
    }

    #[test]
    fn msgpack_times_are_extension_5_in_utc_or_epoch_integers() {
        // -1.5 s: seconds rounded down (-2), then 0.5 s; the series' tz() changes nothing.
        assert_eq!(
            mp_cell(Cell::Time(-1_500_000_000), Epoch::Rfc3339),
            [0xc7, 12, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x1d, 0xcd, 0x65, 0x00]
        );
        assert_eq!(
            mp_cell(
                Cell::Time(1_614_556_800_000_000_000),
                Epoch::Unit(1_000_000_000)
            ),
            [0xd2, 0x60, 0x3c, 0x2e, 0x80]
        );
    }

    #[test]
    fn msgpack_errors_and_panics_are_the_error_alone() {
        let results = QueryResults(vec![StatementResult::panic("boom")]);
        assert_eq!(
            msgpack::encode(&results, Epoch::Rfc3339),
            b"\x81\xa7results\x91\x81\xa5error\xa4boom"
        );
        assert_eq!(msgpack::encode_error("x"), b"\x81\xa5error\xa1x");
    }
}
