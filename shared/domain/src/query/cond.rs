//! `WHERE`: the time range taken out of a condition (as influxql's `ConditionExpr` does it), and
//! what is left evaluated against a series' tags and, per point, its value.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::influxql::{BinaryOp, DataType, Expr, VarRef};

use super::{SeriesMeta, TagValues, TimeRange, FIELD};

/// InfluxDB's representable times: 1677-09-21T00:12:43.145224194Z ..= 2262-04-11T23:47:16.854775806Z.
pub(crate) const MIN_TIME: i64 = i64::MIN + 2;
pub(crate) const MAX_TIME: i64 = i64::MAX - 1;

/// The time bounds a condition gives, each absent when it gives none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Bounds {
    fn raise_min(&mut self, t: i64) {
        self.min = Some(self.min.map_or(t, |m| m.max(t)));
    }

    fn lower_max(&mut self, t: i64) {
        self.max = Some(self.max.map_or(t, |m| m.min(t)));
    }

    pub fn range(&self) -> TimeRange {
        TimeRange {
            min: self.min.unwrap_or(MIN_TIME),
            max: self.max.unwrap_or(MAX_TIME),
        }
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(VarRef { name, .. }) if name.eq_ignore_ascii_case("time"))
}

/// Splits a condition into its time bounds and the rest. Every comparison with `time` narrows
/// the bounds wherever it stands and is removed from the tree (an `AND`/`OR` left with one side
/// becomes that side): InfluxDB 1.x does the same, so `time < X OR device = 'a'` reads as if
/// the `OR` were an `AND`.
pub(crate) fn split(cond: Option<&Expr>, now: i64) -> Result<(Option<Expr>, Bounds), String> {
    split_checked(cond, now, false)
}

/// [`split`] for a `SELECT`, whose condition is refused, as InfluxDB's `ConditionExpr` refuses
/// it, where a part joined by `AND`/`OR` (or in parentheses) is neither a binary expression
/// nor a boolean: `WHERE "running"` is `invalid condition expression: running`.
pub(crate) fn split_select(
    cond: Option<&Expr>,
    now: i64,
) -> Result<(Option<Expr>, Bounds), String> {
    split_checked(cond, now, true)
}

fn split_checked(
    cond: Option<&Expr>,
    now: i64,
    shape: bool,
) -> Result<(Option<Expr>, Bounds), String> {
    let mut bounds = Bounds::default();
    let rest = match cond {
        Some(c) => strip(c, now, &mut bounds, shape)?,
        None => None,
    };
    Ok((rest, bounds))
}

fn strip(e: &Expr, now: i64, b: &mut Bounds, shape: bool) -> Result<Option<Expr>, String> {
    match e.unparen() {
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::And | BinaryOp::Or) => {
            let l = strip(lhs, now, b, shape)?;
            let r = strip(rhs, now, b, shape)?;
            Ok(match (l, r) {
                (None, None) => None,
                (Some(x), None) | (None, Some(x)) => Some(x),
                (Some(l), Some(r)) => Some(Expr::Binary {
                    op: *op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }),
            })
        }
        Expr::Binary { op, lhs, rhs } if is_time(lhs) || is_time(rhs) => {
            let (op, other) = if is_time(lhs) {
                (*op, rhs.as_ref())
            } else {
                (flip(*op), lhs.as_ref())
            };
            let t = time_value(other, now)?;
            match op {
                BinaryOp::Gt => b.raise_min(t.saturating_add(1)),
                BinaryOp::GtEq => b.raise_min(t),
                BinaryOp::Lt => b.lower_max(t.saturating_sub(1)),
                BinaryOp::LtEq => b.lower_max(t),
                BinaryOp::Eq => {
                    b.raise_min(t);
                    b.lower_max(t);
                }
                other => {
                    return Err(format!(
                        "invalid time comparison operator: {}",
                        other.as_str()
                    ))
                }
            }
            Ok(None)
        }
        other @ (Expr::Binary { .. } | Expr::Boolean(_)) => Ok(Some(other.clone())),
        other if shape => Err(format!("invalid condition expression: {other}")),
        other => Ok(Some(other.clone())),
    }
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        other => other,
    }
}

/// The instant a time comparison's other side stands for, in nanoseconds.
pub(crate) fn time_value(e: &Expr, now: i64) -> Result<i64, String> {
    match e.unparen() {
        Expr::Call { name, args } if name == "now" && args.is_empty() => Ok(now),
        Expr::Duration(ns) | Expr::Integer(ns) => Ok(*ns),
        #[allow(clippy::cast_possible_truncation)]
        Expr::Number(f) => Ok(*f as i64),
        Expr::String(s) => parse_time_string(s),
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::Add | BinaryOp::Sub) => {
            let l = time_value(lhs, now)?;
            let r = match rhs.unparen() {
                Expr::Duration(ns) | Expr::Integer(ns) => *ns,
                _ => time_value(rhs, now)?,
            };
            Ok(if *op == BinaryOp::Add {
                l.saturating_add(r)
            } else {
                l.saturating_sub(r)
            })
        }
        Expr::Boolean(_) => {
            Err("invalid operation: time and *influxql.BooleanLiteral are not compatible".into())
        }
        Expr::Regex(_) => {
            Err("invalid operation: time and *influxql.RegexLiteral are not compatible".into())
        }
        Expr::VarRef(_) => {
            Err("invalid operation: time and *influxql.VarRef are not compatible".into())
        }
        _ => Err("invalid time condition".into()),
    }
}

/// A time as InfluxQL writes it in a string: RFC 3339 (with nanoseconds or an offset),
/// `2020-07-21 12:00:00[.fraction]` or `2020-07-21` (UTC).
pub(crate) fn parse_time_string(s: &str) -> Result<i64, String> {
    // A string that starts like a date is one InfluxDB tries to parse, and refuses as an
    // invalid timestamp; any other is no time at all.
    let looks_like_date = s.len() >= 10
        && s.as_bytes()[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let incompatible = || {
        if looks_like_date {
            "invalid timestamp string".to_owned()
        } else {
            "invalid operation: time and *influxql.StringLiteral are not compatible".to_owned()
        }
    };
    let naive = if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        dt.naive_utc()
    } else if let Ok(dt) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        dt
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).ok_or_else(incompatible)?
    } else {
        return Err(incompatible());
    };
    let utc = naive.and_utc();
    match utc.timestamp_nanos_opt() {
        Some(ns) if (MIN_TIME..=MAX_TIME).contains(&ns) => Ok(ns),
        _ if utc.timestamp() < 0 => Err(format!("time {s} underflows time literal")),
        _ => Err(format!("time {s} overflows time literal")),
    }
}

/// True, false, or not known until the point's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

#[derive(Clone, Debug)]
enum Val {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    Regex(crate::influxql::Regex),
    /// The field, not bound yet.
    Unknown,
}

/// Evaluates a (time-free) condition for one series, with its point's value when known.
pub(crate) fn eval(cond: &Expr, series: &SeriesMeta, value: Option<f64>) -> Truth {
    match cond.unparen() {
        Expr::Binary { op, lhs, rhs } => match op {
            BinaryOp::And => {
                let l = eval(lhs, series, value);
                if l == Truth::False {
                    return Truth::False;
                }
                match (l, eval(rhs, series, value)) {
                    (_, Truth::False) => Truth::False,
                    (Truth::True, Truth::True) => Truth::True,
                    _ => Truth::Unknown,
                }
            }
            BinaryOp::Or => {
                let l = eval(lhs, series, value);
                if l == Truth::True {
                    return Truth::True;
                }
                match (l, eval(rhs, series, value)) {
                    (_, Truth::True) => Truth::True,
                    (Truth::False, Truth::False) => Truth::False,
                    _ => Truth::Unknown,
                }
            }
            op if op.is_condition() => {
                if let (Expr::VarRef(a), Expr::VarRef(b)) = (lhs.unparen(), rhs.unparen()) {
                    if let Some(t) = identifiers(*op, a, b, series, is_field) {
                        return t;
                    }
                }
                compare(
                    *op,
                    operand(lhs, series, value),
                    operand(rhs, series, value),
                )
            }
            // Arithmetic standing as a condition passes every point in InfluxDB 1.x.
            _ => Truth::True,
        },
        other => truthy(&operand(other, series, value)),
    }
}

/// Two names compared, as InfluxDB 1.x's index answers it: two tags are equal only where
/// both are present with one value (`!=` everywhere else, no other operator ever true); a tag
/// the series lacks against a field is never true. `None`: compared as values (two fields, or
/// a tag the series has against a field). `is_field`: whether a name is a field of the series'
/// measurement.
pub(crate) fn identifiers(
    op: BinaryOp,
    a: &VarRef,
    b: &VarRef,
    series: &SeriesMeta,
    is_field: impl Fn(&VarRef) -> bool,
) -> Option<Truth> {
    let field = |v: &VarRef| is_field(v) || v.data_type.is_some_and(|t| t != DataType::Tag);
    let tag = |v: &VarRef| series.tag(&v.name).filter(|t| !t.is_empty());
    match (field(a), field(b)) {
        (false, false) => {
            let same = tag(a).is_some() && tag(a) == tag(b);
            Some(Truth::from_bool(match op {
                BinaryOp::Eq => same,
                BinaryOp::NotEq => !same,
                _ => false,
            }))
        }
        (false, true) if tag(a).is_none() => Some(Truth::False),
        (true, false) if tag(b).is_none() => Some(Truth::False),
        _ => None,
    }
}

fn truthy(v: &Val) -> Truth {
    match v {
        Val::Bool(b) => Truth::from_bool(*b),
        Val::Unknown => Truth::Unknown,
        _ => Truth::False,
    }
}

fn compare(op: BinaryOp, l: Val, r: Val) -> Truth {
    if matches!(l, Val::Unknown) || matches!(r, Val::Unknown) {
        return Truth::Unknown;
    }
    let b = match (op, &l, &r) {
        (BinaryOp::EqRegex, Val::Str(s), Val::Regex(re)) => re.is_match(s),
        (BinaryOp::NotEqRegex, Val::Str(s), Val::Regex(re)) => !re.is_match(s),
        (BinaryOp::Eq, Val::Str(a), Val::Str(b)) => a == b,
        (BinaryOp::NotEq, Val::Str(a), Val::Str(b)) => a != b,
        (BinaryOp::Eq, Val::Bool(a), Val::Bool(b)) => a == b,
        (BinaryOp::NotEq, Val::Bool(a), Val::Bool(b)) => a != b,
        (op, Val::Num(a), Val::Num(b)) => match op {
            BinaryOp::Eq => a == b,
            BinaryOp::NotEq => a != b,
            BinaryOp::Lt => a < b,
            BinaryOp::LtEq => a <= b,
            BinaryOp::Gt => a > b,
            BinaryOp::GtEq => a >= b,
            _ => false,
        },
        // Anything else (a tag against a number, strings ordered, a regex on a number) is
        // false in InfluxDB 1.x.
        _ => false,
    };
    Truth::from_bool(b)
}

fn is_field(v: &VarRef) -> bool {
    v.name == FIELD && v.data_type != Some(DataType::Tag)
}

fn operand(e: &Expr, series: &SeriesMeta, value: Option<f64>) -> Val {
    match e.unparen() {
        Expr::VarRef(v) if is_field(v) => value.map_or(Val::Unknown, Val::Num),
        // A name that is no field is a tag; an absent tag is the empty string.
        Expr::VarRef(v) if v.data_type == Some(DataType::Field) => Val::Null,
        Expr::VarRef(v) => Val::Str(series.tag(&v.name).unwrap_or_default().to_owned()),
        Expr::String(s) => Val::Str(s.clone()),
        #[allow(clippy::cast_precision_loss)]
        Expr::Integer(i) => Val::Num(*i as f64),
        #[allow(clippy::cast_precision_loss)]
        Expr::Unsigned(u) => Val::Num(*u as f64),
        Expr::Number(f) => Val::Num(*f),
        #[allow(clippy::cast_precision_loss)]
        Expr::Duration(d) => Val::Num(*d as f64),
        Expr::Boolean(b) => Val::Bool(*b),
        Expr::Regex(re) => Val::Regex(re.clone()),
        Expr::Binary { op, lhs, rhs } if !op.is_condition() => {
            match (operand(lhs, series, value), operand(rhs, series, value)) {
                (Val::Unknown, _) | (_, Val::Unknown) => Val::Unknown,
                (Val::Num(a), Val::Num(b)) => {
                    super::eval::arith(*op, a, b).map_or(Val::Null, Val::Num)
                }
                _ => Val::Null,
            }
        }
        Expr::Binary { .. } => match eval(e, series, value) {
            Truth::True => Val::Bool(true),
            Truth::False => Val::Bool(false),
            Truth::Unknown => Val::Unknown,
        },
        _ => Val::Null,
    }
}

/// The conjuncts of a (time-free) condition that hold only for series whose tag has one of a
/// few values: `tag = 'v'`, `tag =~ /^(v|w)$/` (a regex that is a set of strings), and `OR`s
/// of those on one tag. None with an empty value, which an absent tag has.
pub(crate) fn tag_values(cond: &Expr) -> Vec<TagValues> {
    fn one_tag(e: &Expr) -> Option<(&str, Vec<String>)> {
        match e.unparen() {
            Expr::Binary {
                op: BinaryOp::Or,
                lhs,
                rhs,
            } => {
                let (k, mut values) = one_tag(lhs)?;
                let (other, more) = one_tag(rhs)?;
                (k == other).then(|| {
                    values.extend(more);
                    (k, values)
                })
            }
            Expr::Binary { op, lhs, rhs } => {
                let (tag, value) = match (lhs.unparen(), rhs.unparen()) {
                    (Expr::VarRef(v), other) | (other, Expr::VarRef(v)) => (v, other),
                    _ => return None,
                };
                if tag.data_type.is_some_and(|t| t != DataType::Tag) {
                    return None;
                }
                let values = match (op, value) {
                    (BinaryOp::Eq, Expr::String(s)) => vec![s.clone()],
                    (BinaryOp::EqRegex, Expr::Regex(re)) => re.strings()?,
                    _ => return None,
                };
                Some((tag.name.as_str(), values))
            }
            _ => None,
        }
    }
    fn conjuncts(e: &Expr, out: &mut Vec<TagValues>) {
        match e.unparen() {
            Expr::Binary {
                op: BinaryOp::And,
                lhs,
                rhs,
            } => {
                conjuncts(lhs, out);
                conjuncts(rhs, out);
            }
            other => {
                if let Some((key, values)) = one_tag(other) {
                    if values.iter().all(|v| !v.is_empty()) {
                        out.push(TagValues {
                            key: key.to_owned(),
                            values,
                        });
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    conjuncts(cond, &mut out);
    out
}

/// Whether a condition refers to the field, so that it must be checked point by point.
pub(crate) fn uses_field(cond: &Expr) -> bool {
    cond.any(|e| matches!(e, Expr::VarRef(v) if is_field(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_strings() {
        assert_eq!(
            parse_time_string("2020-07-21T10:00:00Z").unwrap(),
            1_595_325_600_000_000_000
        );
        assert_eq!(
            parse_time_string("2020-07-21 10:00:00").unwrap(),
            1_595_325_600_000_000_000
        );
        assert_eq!(
            parse_time_string("2020-07-21").unwrap(),
            1_595_289_600_000_000_000
        );
        assert_eq!(
            parse_time_string("2020-07-21T12:00:00.000000001+02:00").unwrap(),
            1_595_325_600_000_000_001
        );
        assert!(parse_time_string("yesterday").is_err());
        assert_eq!(
            parse_time_string("1600-01-01T00:00:00Z").unwrap_err(),
            "time 1600-01-01T00:00:00Z underflows time literal"
        );
    }
}
