//! InfluxQL duration literals (`10s`, `1h30m`, `1595324700000ms`), as influxql's
//! `ParseDuration` and `FormatDuration` read and write them. Values are nanoseconds in an `i64`.

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;

/// Parses a duration literal into nanoseconds: one or more `<integer><unit>` parts with the units
/// `ns`, `u` or `µ` (microseconds), `ms`, `s`, `m`, `h`, `d` and `w`, optionally preceded by `-`.
/// Like influxql, `1us`, `1n` and `1.5h` are invalid. The error is influxql's message:
/// `invalid duration`, or `overflowed duration 1000000w: choose a smaller duration or INF`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const INVALID: &str = "invalid duration";
    if s.len() < 2 {
        return Err(INVALID.into());
    }
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits == rest.len() {
            return Err(INVALID.into());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| INVALID.to_string())?;
        rest = &rest[digits..];
        let (unit, len, unit_ns) = if rest.starts_with("ns") {
            ("ns", 2, NS)
        } else if rest.starts_with("ms") {
            ("ms", 2, MS)
        } else if rest.starts_with('u') {
            ("u", 1, US)
        } else if rest.starts_with('µ') {
            ("µ", 'µ'.len_utf8(), US)
        } else {
            match rest.as_bytes()[0] {
                b'm' => ("m", 1, M),
                b's' => ("s", 1, S),
                b'h' => ("h", 1, H),
                b'd' => ("d", 1, D),
                b'w' => ("w", 1, W),
                _ => return Err(INVALID.into()),
            }
        };
        rest = &rest[len..];
        total = n
            .checked_mul(unit_ns)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| {
                format!("overflowed duration {n}{unit}: choose a smaller duration or INF")
            })?;
    }
    Ok(if negative { -total } else { total })
}

/// Formats nanoseconds in the largest unit that divides them exactly (`90m`, `1500ms`, `0s`),
/// as influxql's `FormatDuration` does; microseconds are written `u`.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    for (unit, name) in [
        (W, "w"),
        (D, "d"),
        (H, "h"),
        (M, "m"),
        (S, "s"),
        (MS, "ms"),
        (US, "u"),
    ] {
        if ns % unit == 0 {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_compound_forms() {
        for (text, ns) in [
            ("1ns", 1),
            ("2u", 2 * US),
            ("2µ", 2 * US),
            ("3ms", 3 * MS),
            ("4s", 4 * S),
            ("5m", 5 * M),
            ("6h", 6 * H),
            ("7d", 7 * D),
            ("8w", 8 * W),
            ("1h30m", 90 * M),
            ("1m1s1ms", M + S + MS),
            ("-15m", -15 * M),
            ("1595324700000ms", 1_595_324_700_000 * MS),
        ] {
            assert_eq!(parse_duration(text), Ok(ns), "{text}");
        }
    }

    #[test]
    fn rejects_what_influxql_rejects() {
        for text in [
            "", "1", "s", "1n", "1us", "1µs", "1x", "1.5h", "1h30", "h1", "1e3", "-",
        ] {
            assert_eq!(
                parse_duration(text),
                Err("invalid duration".into()),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("100000000w"),
            Err("overflowed duration 100000000w: choose a smaller duration or INF".into())
        );
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        for (ns, text) in [
            (0, "0s"),
            (W, "1w"),
            (2 * D, "2d"),
            (90 * M, "90m"),
            (1500 * MS, "1500ms"),
            (3 * US, "3u"),
            (7, "7ns"),
            (-15 * M, "-15m"),
        ] {
            assert_eq!(format_duration(ns), text);
            assert_eq!(parse_duration(text), Ok(ns));
        }
    }
}
