//! Test fixture: runs a script of PostgreSQL statements through the host's
//! `spin:postgres/postgres@4.0.0` (spin-sdk's `pg4`) and answers what the host gave back, as
//! JSON, so that the end-to-end tests hold every expectation themselves.
//!
//! `POST` a JSON body `{"address": "...", "statements": [{"op": "execute" | "query", "sql":
//! "...", "params": [...], "conn": 0 | 1}]}`. The statements run in order, each on connection
//! `conn` (0 by default; 1 is a second connection opened on first use, to look from another
//! session); one that fails does not stop the rest. The answer is `{"results": [...]}`, one
//! `{"ok": ...}` or `{"error": ...}` per statement, or `{"open_error": ...}` when a connection
//! could not be opened. Parameters and values are `{"<wit case>": value}`; see [`param`] and
//! [`value`].

use serde_json::{json, Map, Value};
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::{
    Connection, DbDataType, DbValue, Interval, ParameterValue, PgError, QueryError, RangeBoundKind,
};

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    match run(req.body()) {
        Ok(v) => Response::new(200, v.to_string()),
        Err(e) => Response::new(400, e),
    }
}

fn run(body: &[u8]) -> Result<Value, String> {
    let script: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let address = script["address"].as_str().ok_or("no address")?;
    let statements = script["statements"].as_array().ok_or("no statements")?;
    let mut conns: Vec<Connection> = Vec::new();
    let mut results = Vec::new();
    for s in statements {
        let n = s["conn"].as_u64().unwrap_or(0) as usize;
        while conns.len() <= n {
            match Connection::open(address) {
                Ok(c) => conns.push(c),
                Err(e) => return Ok(json!({"results": results, "open_error": error(&e)})),
            }
        }
        let sql = s["sql"].as_str().ok_or("a statement without sql")?;
        let params = s["params"]
            .as_array()
            .map(|ps| ps.iter().map(param).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        let conn = &conns[n];
        let r = match s["op"].as_str() {
            Some("execute") => conn.execute(sql, &params).map(|n| json!(n)),
            Some("query") => conn.query(sql, &params).map(|rs| {
                json!({
                    "columns": rs.columns.iter().map(|c| json!([c.name, data_type(&c.data_type)])).collect::<Vec<_>>(),
                    "rows": rs.rows.iter().map(|r| r.iter().map(value).collect::<Vec<_>>()).collect::<Vec<_>>(),
                })
            }),
            other => return Err(format!("unknown op {other:?}")),
        };
        results.push(match r {
            Ok(v) => json!({ "ok": v }),
            Err(e) => json!({ "error": error(&e) }),
        });
    }
    Ok(json!({ "results": results }))
}

fn error(e: &PgError) -> Value {
    match e {
        PgError::ConnectionFailed(m) => json!({"connection-failed": m}),
        PgError::BadParameter(m) => json!({"bad-parameter": m}),
        PgError::ValueConversionFailed(m) => json!({"value-conversion-failed": m}),
        PgError::Other(m) => json!({"other": m}),
        PgError::QueryFailed(QueryError::Text(m)) => json!({"query-failed": {"text": m}}),
        PgError::QueryFailed(QueryError::DbError(d)) => json!({"query-failed": {"db-error": {
            "as-text": d.as_text,
            "severity": d.severity,
            "code": d.code,
            "message": d.message,
            "detail": d.detail,
            "extras": d.extras.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
        }}}),
    }
}

fn kind(k: RangeBoundKind) -> &'static str {
    match k {
        RangeBoundKind::Inclusive => "inclusive",
        RangeBoundKind::Exclusive => "exclusive",
    }
}

fn data_type(t: &DbDataType) -> String {
    let name = match t {
        DbDataType::Boolean => "boolean",
        DbDataType::Int8 => "int8",
        DbDataType::Int16 => "int16",
        DbDataType::Int32 => "int32",
        DbDataType::Int64 => "int64",
        DbDataType::Floating32 => "floating32",
        DbDataType::Floating64 => "floating64",
        DbDataType::Str => "str",
        DbDataType::Binary => "binary",
        DbDataType::Date => "date",
        DbDataType::Time => "time",
        DbDataType::Datetime => "datetime",
        DbDataType::Timestamp => "timestamp",
        DbDataType::Uuid => "uuid",
        DbDataType::Jsonb => "jsonb",
        DbDataType::Decimal => "decimal",
        DbDataType::RangeInt32 => "range-int32",
        DbDataType::RangeInt64 => "range-int64",
        DbDataType::RangeDecimal => "range-decimal",
        DbDataType::ArrayInt32 => "array-int32",
        DbDataType::ArrayInt64 => "array-int64",
        DbDataType::ArrayDecimal => "array-decimal",
        DbDataType::ArrayStr => "array-str",
        DbDataType::Interval => "interval",
        DbDataType::Other(n) => return format!("other({n})"),
    };
    name.to_string()
}

fn bound<T: Clone + Into<Value>>(b: &Option<(T, RangeBoundKind)>) -> Value {
    match b {
        Some((v, k)) => json!([v.clone().into(), kind(*k)]),
        None => Value::Null,
    }
}

/// A value as `{"<wit case>": value}`; jsonb as the JSON it holds.
fn value(v: &DbValue) -> Value {
    let (k, v) = match v {
        DbValue::Boolean(b) => ("boolean", json!(b)),
        DbValue::Int8(n) => ("int8", json!(n)),
        DbValue::Int16(n) => ("int16", json!(n)),
        DbValue::Int32(n) => ("int32", json!(n)),
        DbValue::Int64(n) => ("int64", json!(n)),
        DbValue::Floating32(f) => ("floating32", json!(f)),
        DbValue::Floating64(f) => ("floating64", json!(f)),
        DbValue::Str(s) => ("str", json!(s)),
        DbValue::Binary(b) => ("binary", json!(b)),
        DbValue::Date(d) => ("date", json!(d)),
        DbValue::Time(t) => ("time", json!(t)),
        DbValue::Datetime(d) => ("datetime", json!(d)),
        DbValue::Timestamp(t) => ("timestamp", json!(t)),
        DbValue::Uuid(u) => ("uuid", json!(u)),
        DbValue::Jsonb(b) => (
            "jsonb",
            serde_json::from_slice(b).unwrap_or_else(|e| json!(format!("invalid: {e}"))),
        ),
        DbValue::Decimal(d) => ("decimal", json!(d)),
        DbValue::RangeInt32((l, u)) => ("range-int32", json!([bound(l), bound(u)])),
        DbValue::RangeInt64((l, u)) => ("range-int64", json!([bound(l), bound(u)])),
        DbValue::RangeDecimal((l, u)) => ("range-decimal", json!([bound(l), bound(u)])),
        DbValue::ArrayInt32(a) => ("array-int32", json!(a)),
        DbValue::ArrayInt64(a) => ("array-int64", json!(a)),
        DbValue::ArrayDecimal(a) => ("array-decimal", json!(a)),
        DbValue::ArrayStr(a) => ("array-str", json!(a)),
        DbValue::Interval(i) => ("interval", json!([i.micros, i.days, i.months])),
        DbValue::DbNull => ("db-null", Value::Null),
        DbValue::Unsupported(b) => ("unsupported", json!(b)),
    };
    json!({ k: v })
}

fn num<T: TryFrom<i64>>(v: &Value) -> Result<T, String> {
    v.as_i64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{v} is not a number of the right size"))
}

fn text(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{v} is not a string"))
}

fn list<T>(v: &Value, f: impl Fn(&Value) -> Result<T, String>) -> Result<Vec<Option<T>>, String> {
    v.as_array()
        .ok_or_else(|| format!("{v} is not an array"))?
        .iter()
        .map(|x| {
            if x.is_null() {
                Ok(None)
            } else {
                f(x).map(Some)
            }
        })
        .collect()
}

type Bound<T> = Option<(T, RangeBoundKind)>;

fn range<T>(
    v: &Value,
    f: impl Fn(&Value) -> Result<T, String>,
) -> Result<(Bound<T>, Bound<T>), String> {
    let b = |x: &Value| -> Result<Bound<T>, String> {
        if x.is_null() {
            return Ok(None);
        }
        let k = match x[1].as_str() {
            Some("inclusive") => RangeBoundKind::Inclusive,
            Some("exclusive") => RangeBoundKind::Exclusive,
            _ => return Err(format!("{x}: no bound kind")),
        };
        Ok(Some((f(&x[0])?, k)))
    };
    Ok((b(&v[0])?, b(&v[1])?))
}

/// A parameter from `{"<wit case>": value}`: `{"int32": 5}`, `{"date": [2026, 12, 4]}`,
/// `{"jsonb": {...}}`, `{"range-int32": [[1, "inclusive"], null]}`, `{"db-null": null}`.
fn param(p: &Value) -> Result<ParameterValue, String> {
    let (k, v) = p
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or_else(|| format!("{p} is not a parameter"))?;
    let at = |i: usize| &v[i];
    Ok(match k.as_str() {
        "boolean" => ParameterValue::Boolean(v.as_bool().ok_or("not a boolean")?),
        "int8" => ParameterValue::Int8(num(v)?),
        "int16" => ParameterValue::Int16(num(v)?),
        "int32" => ParameterValue::Int32(num(v)?),
        "int64" => ParameterValue::Int64(num(v)?),
        "floating32" => ParameterValue::Floating32(v.as_f64().ok_or("not a number")? as f32),
        "floating64" => ParameterValue::Floating64(v.as_f64().ok_or("not a number")?),
        "str" => ParameterValue::Str(text(v)?),
        "binary" => ParameterValue::Binary(list(v, num)?.into_iter().flatten().collect()),
        "date" => ParameterValue::Date((num(at(0))?, num(at(1))?, num(at(2))?)),
        "time" => ParameterValue::Time((num(at(0))?, num(at(1))?, num(at(2))?, num(at(3))?)),
        "datetime" => ParameterValue::Datetime((
            num(at(0))?,
            num(at(1))?,
            num(at(2))?,
            num(at(3))?,
            num(at(4))?,
            num(at(5))?,
            num(at(6))?,
        )),
        "timestamp" => ParameterValue::Timestamp(num(v)?),
        "uuid" => ParameterValue::Uuid(text(v)?),
        // A string is sent as its bytes (to send bytes that are not JSON), anything else as JSON.
        "jsonb" => ParameterValue::Jsonb(match v {
            Value::String(s) => s.as_bytes().to_vec(),
            v => v.to_string().into_bytes(),
        }),
        "decimal" => ParameterValue::Decimal(text(v)?),
        "range-int32" => ParameterValue::RangeInt32(range(v, num)?),
        "range-int64" => ParameterValue::RangeInt64(range(v, num)?),
        "range-decimal" => ParameterValue::RangeDecimal(range(v, text)?),
        "array-int32" => ParameterValue::ArrayInt32(list(v, num)?),
        "array-int64" => ParameterValue::ArrayInt64(list(v, num)?),
        "array-decimal" => ParameterValue::ArrayDecimal(list(v, text)?),
        "array-str" => ParameterValue::ArrayStr(list(v, text)?),
        "interval" => ParameterValue::Interval(Interval {
            micros: num(at(0))?,
            days: num(at(1))?,
            months: num(at(2))?,
        }),
        "db-null" => ParameterValue::DbNull,
        other => return Err(format!("unknown parameter type {other}")),
    })
}
