//! Values between `spin:postgres@4.0.0` and tokio-postgres, converted as Spin's
//! `spin-factor-outbound-pg` converts them, so that a component sees the same values and the same
//! refusals under both hosts:
//!
//! - a parameter is bound with the Rust type of its WIT case, and tokio-postgres checks that type
//!   against the statement's parameter type (an `int32` for a `bigint` placeholder is refused,
//!   as under Spin: cast in SQL, `$1::bigint`, or send `int64`); `db-null` binds to any type;
//! - `datetime` is a `timestamp` (without time zone) and `timestamp` (seconds since the epoch) a
//!   `timestamptz`; `decimal` is a base-10 string, read and written as `numeric`;
//! - a column of a type the WIT has no case for comes back as `unsupported` with the server's
//!   binary encoding of the value, and its column type as `other(type name)`.

use crate::bindings::pg::{DbDataType, DbValue, Interval, ParameterValue, RangeBoundKind};
use bytes::{Buf, BufMut, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use postgres_range::{BoundSided, BoundType, Normalizable, Range, RangeBound};
use rust_decimal::Decimal;
use std::error::Error as StdError;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter bound for tokio-postgres.
pub type SqlParam = Box<dyn ToSql + Send + Sync>;

/// The WIT type of a column of PostgreSQL type `ty`.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Column `i` of `row` as the WIT value, `db-null` for SQL NULL.
pub fn value(row: &Row, i: usize) -> Result<DbValue, BoxError> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        i: usize,
        f: impl FnOnce(T) -> Result<DbValue, BoxError>,
    ) -> Result<DbValue, BoxError> {
        match row.try_get::<_, Option<T>>(i)? {
            Some(v) => f(v),
            None => Ok(DbValue::DbNull),
        }
    }
    let ty = row.columns()[i].type_().clone();
    match ty {
        Type::BOOL => get(row, i, |v| Ok(DbValue::Boolean(v))),
        Type::BYTEA => get(row, i, |v| Ok(DbValue::Binary(v))),
        Type::FLOAT4 => get(row, i, |v| Ok(DbValue::Floating32(v))),
        Type::FLOAT8 => get(row, i, |v| Ok(DbValue::Floating64(v))),
        Type::INT2 => get(row, i, |v| Ok(DbValue::Int16(v))),
        Type::INT4 => get(row, i, |v| Ok(DbValue::Int32(v))),
        Type::INT8 => get(row, i, |v| Ok(DbValue::Int64(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, i, |v| Ok(DbValue::Str(v))),
        // As Spin: read as a timestamp without time zone, which tokio-postgres refuses for a
        // timestamptz column (the query fails; select `col AT TIME ZONE 'UTC'` instead).
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, i, |v: NaiveDateTime| {
            Ok(DbValue::Datetime(datetime_out(v)))
        }),
        Type::DATE => get(row, i, |v: NaiveDate| Ok(DbValue::Date(date_out(v)))),
        Type::TIME => get(row, i, |v: NaiveTime| Ok(DbValue::Time(time_out(v)))),
        Type::UUID => get(row, i, |v: uuid::Uuid| Ok(DbValue::Uuid(v.to_string()))),
        Type::JSONB => get(row, i, |v: serde_json::Value| {
            Ok(DbValue::Jsonb(serde_json::to_vec(&v)?))
        }),
        Type::NUMERIC => get(row, i, |v: Decimal| Ok(DbValue::Decimal(v.to_string()))),
        Type::INT4_RANGE => get(row, i, |v: Range<i32>| {
            Ok(DbValue::RangeInt32(range_out(&v, |x| *x)))
        }),
        Type::INT8_RANGE => get(row, i, |v: Range<i64>| {
            Ok(DbValue::RangeInt64(range_out(&v, |x| *x)))
        }),
        Type::NUM_RANGE => get(row, i, |v: Range<RangeDecimal>| {
            Ok(DbValue::RangeDecimal(range_out(&v, |d| d.0.to_string())))
        }),
        Type::INT4_ARRAY => get(row, i, |v| Ok(DbValue::ArrayInt32(v))),
        Type::INT8_ARRAY => get(row, i, |v| Ok(DbValue::ArrayInt64(v))),
        Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Decimal>>| {
            Ok(DbValue::ArrayDecimal(
                v.into_iter().map(|d| d.map(|d| d.to_string())).collect(),
            ))
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, i, |v| Ok(DbValue::ArrayStr(v)))
        }
        Type::INTERVAL => get(row, i, |v: PgInterval| Ok(DbValue::Interval(v.0))),
        _ => get(row, i, |v: Raw| Ok(DbValue::Unsupported(v.0))),
    }
}

/// Bytes a value holds, counted against the limit on one query's result.
pub fn size(v: &DbValue) -> usize {
    let base = std::mem::size_of::<DbValue>();
    base + match v {
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
        DbValue::ArrayInt32(a) => a.len() * std::mem::size_of::<Option<i32>>(),
        DbValue::ArrayInt64(a) => a.len() * std::mem::size_of::<Option<i64>>(),
        DbValue::ArrayDecimal(a) | DbValue::ArrayStr(a) => a
            .iter()
            .map(|s| std::mem::size_of::<Option<String>>() + s.as_ref().map_or(0, String::len))
            .sum(),
        _ => 0,
    }
}

/// The parameter bound as Spin binds it; `Err` says what is wrong with the value.
pub fn param(p: &ParameterValue) -> Result<SqlParam, String> {
    Ok(match p {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date(v) => Box::new(date_in(*v)?),
        ParameterValue::Time(v) => Box::new(time_in(*v)?),
        ParameterValue::Datetime(v) => Box::new(datetime_in(*v)?),
        ParameterValue::Timestamp(s) => Box::new(
            chrono::DateTime::from_timestamp(*s, 0)
                .ok_or_else(|| format!("invalid epoch timestamp {s}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).map_err(|e| format!("invalid UUID {v}: {e}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|e| format!("invalid JSON {}: {e}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal_in(v)?),
        ParameterValue::RangeInt32(r) => Box::new(range_in(r, |x| Ok(*x))?),
        ParameterValue::RangeInt64(r) => Box::new(range_in(r, |x| Ok(*x))?),
        ParameterValue::RangeDecimal(r) => {
            Box::new(range_in(r, |d| decimal_in(d).map(RangeDecimal))?)
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal_in).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(PgInterval(*v)),
        ParameterValue::DbNull => Box::new(Null),
    })
}

fn decimal_in(s: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(s).map_err(|e| format!("invalid decimal {s}: {e}"))
}

fn date_in((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}"))
}

fn time_in((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns:09}"))
}

fn datetime_in(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
) -> Result<NaiveDateTime, String> {
    Ok(NaiveDateTime::new(
        date_in((y, mo, d))?,
        time_in((h, mi, s, ns))?,
    ))
}

// chrono's month, day, hour, minute and second always fit a u8.
fn narrow(n: u32) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

fn date_out(v: NaiveDate) -> (i32, u8, u8) {
    (v.year(), narrow(v.month()), narrow(v.day()))
}

fn time_out(v: NaiveTime) -> (u8, u8, u8, u32) {
    (
        narrow(v.hour()),
        narrow(v.minute()),
        narrow(v.second()),
        v.nanosecond(),
    )
}

fn datetime_out(v: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = date_out(v.date());
    let (h, mi, s, ns) = time_out(v.time());
    (y, mo, d, h, mi, s, ns)
}

type WitBound<T> = Option<(T, RangeBoundKind)>;

fn kind_in(k: RangeBoundKind) -> BoundType {
    match k {
        RangeBoundKind::Inclusive => BoundType::Inclusive,
        RangeBoundKind::Exclusive => BoundType::Exclusive,
    }
}

fn kind_out(k: BoundType) -> RangeBoundKind {
    match k {
        BoundType::Inclusive => RangeBoundKind::Inclusive,
        BoundType::Exclusive => RangeBoundKind::Exclusive,
    }
}

fn range_in<W, T: Normalizable + PartialOrd>(
    (lower, upper): &(WitBound<W>, WitBound<W>),
    f: impl Fn(&W) -> Result<T, String>,
) -> Result<Range<T>, String> {
    fn bound<S: BoundSided, W, T: PartialOrd>(
        b: &WitBound<W>,
        f: &impl Fn(&W) -> Result<T, String>,
    ) -> Result<Option<RangeBound<S, T>>, String> {
        b.as_ref()
            .map(|(v, k)| Ok(RangeBound::new(f(v)?, kind_in(*k))))
            .transpose()
    }
    Ok(Range::new(bound(lower, &f)?, bound(upper, &f)?))
}

fn range_out<T: Normalizable + PartialOrd, W>(
    r: &Range<T>,
    f: impl Fn(&T) -> W,
) -> (WitBound<W>, WitBound<W>) {
    (
        r.lower().map(|b| (f(&b.value), kind_out(b.type_))),
        r.upper().map(|b| (f(&b.value), kind_out(b.type_))),
    )
}

/// `numeric` inside a `numrange`: postgres_range needs its bound type to be [`Normalizable`],
/// which a foreign type cannot be made here (a continuous type: bounds are kept as they are).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct RangeDecimal(pub Decimal);

impl Normalizable for RangeDecimal {
    fn normalize<S: BoundSided>(bound: RangeBound<S, Self>) -> RangeBound<S, Self> {
        bound
    }
}

impl ToSql for RangeDecimal {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.0.to_sql(ty, out)
    }
    fn accepts(ty: &Type) -> bool {
        <Decimal as ToSql>::accepts(ty)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for RangeDecimal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Decimal::from_sql(ty, raw).map(RangeDecimal)
    }
    fn accepts(ty: &Type) -> bool {
        <Decimal as FromSql>::accepts(ty)
    }
}

/// `interval` in PostgreSQL's binary form: microseconds, days, months (each kept apart, as the
/// server keeps them: a month is not a number of days).
#[derive(Debug)]
pub struct PgInterval(pub Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, mut raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err(format!("an interval is 16 bytes, not {}", raw.len()).into());
        }
        Ok(PgInterval(Interval {
            micros: raw.get_i64(),
            days: raw.get_i32(),
            months: raw.get_i32(),
        }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// SQL NULL for a placeholder of any type (`Option::<T>::None` would be checked against `T`).
#[derive(Debug)]
pub struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// A value of a type the WIT has no case for: the server's binary encoding, as it came.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_refused_with_the_value_named() {
        let bad = [
            ParameterValue::Date((2026, 2, 30)),
            ParameterValue::Time((24, 0, 0, 0)),
            ParameterValue::Datetime((2026, 13, 1, 0, 0, 0, 0)),
            ParameterValue::Uuid("not-a-uuid".into()),
            ParameterValue::Jsonb(b"{".to_vec()),
            ParameterValue::Decimal("1.2.3".into()),
            ParameterValue::ArrayDecimal(vec![Some("1".into()), Some("x".into())]),
            ParameterValue::RangeDecimal((Some(("y".into(), RangeBoundKind::Inclusive)), None)),
        ];
        for p in bad {
            let e = param(&p)
                .err()
                .unwrap_or_else(|| panic!("{p:?} was accepted"));
            assert!(e.starts_with("invalid "), "{p:?}: {e}");
        }
    }

    #[test]
    fn values_bind_to_the_types_spin_binds_them_to() {
        let cases = [
            (ParameterValue::Boolean(true), Type::BOOL),
            (ParameterValue::Int16(1), Type::INT2),
            (ParameterValue::Int32(1), Type::INT4),
            (ParameterValue::Int64(1), Type::INT8),
            (ParameterValue::Floating32(1.0), Type::FLOAT4),
            (ParameterValue::Floating64(1.0), Type::FLOAT8),
            (ParameterValue::Str("a".into()), Type::TEXT),
            (ParameterValue::Binary(vec![1]), Type::BYTEA),
            (ParameterValue::Date((2026, 12, 4)), Type::DATE),
            (ParameterValue::Time((1, 2, 3, 4)), Type::TIME),
            (
                ParameterValue::Datetime((2026, 12, 4, 1, 2, 3, 4)),
                Type::TIMESTAMP,
            ),
            (ParameterValue::Timestamp(1), Type::TIMESTAMPTZ),
            (
                ParameterValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
                Type::UUID,
            ),
            (ParameterValue::Jsonb(b"{\"a\":1}".to_vec()), Type::JSONB),
            (ParameterValue::Decimal("1.50".into()), Type::NUMERIC),
            (
                ParameterValue::ArrayInt64(vec![Some(1), None]),
                Type::INT8_ARRAY,
            ),
            (ParameterValue::ArrayStr(vec![None]), Type::TEXT_ARRAY),
            (
                ParameterValue::Interval(Interval {
                    micros: 1,
                    days: 2,
                    months: 3,
                }),
                Type::INTERVAL,
            ),
        ];
        for (p, ty) in cases {
            let b = param(&p).expect("valid");
            let mut out = BytesMut::new();
            assert!(
                matches!(b.to_sql_checked(&ty, &mut out), Ok(IsNull::No)),
                "{p:?} as {ty}"
            );
            // ... and to no other kind of number: no silent widening a real Spin would refuse.
            if ty != Type::INT8 {
                assert!(b.to_sql_checked(&Type::INT8, &mut out).is_err(), "{p:?}");
            }
        }
        let null = param(&ParameterValue::DbNull).expect("null");
        let mut out = BytesMut::new();
        assert!(matches!(
            null.to_sql_checked(&Type::UUID, &mut out),
            Ok(IsNull::Yes)
        ));
    }

    #[test]
    fn interval_round_trips_in_the_binary_form() {
        let i = Interval {
            micros: -5,
            days: 7,
            months: -2,
        };
        let mut out = BytesMut::new();
        PgInterval(i)
            .to_sql(&Type::INTERVAL, &mut out)
            .expect("encode");
        let back = PgInterval::from_sql(&Type::INTERVAL, &out).expect("decode");
        assert_eq!(
            (back.0.micros, back.0.days, back.0.months),
            (i.micros, i.days, i.months)
        );
        assert!(PgInterval::from_sql(&Type::INTERVAL, &out[..8]).is_err());
    }

    #[test]
    fn unknown_types_are_named_in_the_column_type() {
        assert!(matches!(data_type(&Type::INET), DbDataType::Other(n) if n == "inet"));
        assert!(matches!(
            data_type(&Type::TIMESTAMPTZ),
            DbDataType::Datetime
        ));
    }
}
