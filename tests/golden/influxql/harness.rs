//! Replays the recorded `/query` cases against Fieldline's InfluxQL engine over any
//! [`Source`], and compares each answer with the one the real InfluxDB 1.6.7 gave. Included
//! (`#[path]`) by the engine's test in `shared/domain` (an in-memory source) and by the storage
//! test in `shared/storage` (SQLite through `QuerySource`), so both answer the same corpus.

// Test support: a missing or malformed recording is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use fieldline_domain::query::http::{answer, QueryParams};
use fieldline_domain::query::{Context, Source};
use serde_json::Value;

/// Cases whose answer differs from InfluxDB's by design, and why.
pub const DIFFERENT: &[(&str, &str)] = &[
    ("explain_select", "EXPLAIN is not supported"),
    ("err_kill_query", "KILL QUERY is not supported"),
    (
        "show_continuous_queries",
        "continuous queries are not supported",
    ),
    ("show_users", "users are managed by the admin API"),
    ("show_subscriptions", "subscriptions are not supported"),
];

/// `tests/golden/influxql` of the workspace, from whichever crate includes this file.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/golden/influxql"))
        .find(|dir| dir.join("dataset.lp").is_file())
        .unwrap()
}

/// One line of the data set: measurement, tags (sorted), value, milliseconds.
pub struct Line {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub value: f64,
    pub ms: i64,
}

/// Splits `s` at `sep` where it is not escaped by a backslash, unescaping.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                parts.last_mut().unwrap().push(n);
            }
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    parts
}

/// The recorded data set (`dataset.lp`, which only escapes spaces in tag values).
pub fn dataset() -> Vec<Line> {
    let text = std::fs::read_to_string(golden_dir().join("dataset.lp")).unwrap();
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut escaped = false;
        let mut at = 0;
        for (i, c) in line.char_indices() {
            if c == ' ' && !escaped {
                at = i;
                break;
            }
            escaped = c == '\\' && !escaped;
        }
        let (key, rest) = (&line[..at], &line[at + 1..]);
        let mut parts = split_unescaped(key, ',').into_iter();
        let measurement = parts.next().unwrap();
        let mut tags: Vec<(String, String)> = parts
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        tags.sort();
        let (field, ts) = rest.split_once(' ').unwrap();
        out.push(Line {
            measurement,
            tags,
            value: field.strip_prefix("value=").unwrap().parse().unwrap(),
            ms: ts.parse().unwrap(),
        });
    }
    out
}

/// Compares JSON values, numbers to within 1e-9 relative; returns where they differ.
pub fn diff(path: &str, want: &Value, got: &Value) -> Option<String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let close = a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
            (!close).then(|| format!("{path}: want {a}, got {b}"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: want {} items, got {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff(&format!("{path}[{i}]"), x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            if ka != kb {
                return Some(format!("{path}: want keys {ka:?}, got {kb:?}"));
            }
            a.iter()
                .find_map(|(k, v)| diff(&format!("{path}.{k}"), v, &b[k]))
        }
        (a, b) => (a != b).then(|| format!("{path}: want {a}, got {b}")),
    }
}

/// Where an answer (status, body) differs from the recorded one.
pub fn compare(case: &Value, status: u16, body: &str) -> Option<String> {
    if u64::from(status) != case["status"].as_u64().unwrap() {
        Some(format!("status {status} != {}: {body}", case["status"]))
    } else if let Some(docs) = case.get("body_documents").and_then(Value::as_array) {
        let ours: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(body)
            .into_iter::<Value>()
            .collect();
        match ours {
            Ok(ours) => diff("", &Value::Array(docs.clone()), &Value::Array(ours)),
            Err(e) => Some(format!("not JSON documents ({e}): {body}")),
        }
    } else if let Some(text) = case["body"].as_str() {
        (text != body).then(|| format!("want {text:?}, got {body:?}"))
    } else {
        match serde_json::from_str::<Value>(body) {
            Ok(v) => diff("", &case["body"], &v),
            Err(e) => Some(format!("not JSON ({e}): {body}")),
        }
    }
}

/// The parameters of a recorded request, as the component decodes them.
pub fn params_of(request: &Value) -> QueryParams {
    let target = request["target"].as_str().unwrap();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let form = request.get("form").and_then(Value::as_object).map(|f| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                f.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
            )
            .finish()
    });
    let form_ok = request["headers"]
        .get("Content-Type")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body = form.or_else(|| {
        request
            .get("body")
            .and_then(Value::as_str)
            .filter(|_| form_ok)
            .map(str::to_owned)
    });
    let mut params = QueryParams::parse(query, body.as_deref().map(str::as_bytes));
    params.csv = matches!(
        request["headers"].get("Accept").and_then(Value::as_str),
        Some("application/csv" | "text/csv")
    );
    params
}

/// Whether a case is a `/query` that reads the recorded data set (not a write, nor a read of
/// what the write cases wrote, nor dependent on the clock).
pub fn reads_the_data_set(name: &str, case: &Value) -> bool {
    let request = &case["request"];
    let is_query =
        request["path"] == "/query" && matches!(request["method"].as_str(), Some("GET" | "POST"));
    let about_writes = request["target"].as_str().unwrap().contains("db=scratch")
        || name.starts_with("write_")
        || name.starts_with("cli_insert")
        || (name.starts_with("get_") && name.contains("deprecated"))
        || name.ends_with("_check");
    is_query && !about_writes && case.get("time_dependent").is_none()
}

/// The recorded cases, by name, in name order.
pub fn cases() -> Vec<(String, Value)> {
    let dir = golden_dir().join("answers");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let case = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (name, case)
        })
        .collect()
}

/// Replays every `/query` case that reads the recorded data set and panics, listing them,
/// if any answer differs from InfluxDB's other than as [`DIFFERENT`] says.
pub fn replay(source: &mut dyn Source) {
    let ctx = Context {
        db: None,
        ..Context::model(
            "fieldline",
            0,
            fieldline_domain::Timestamp::now().as_millis() * 1_000_000,
            1_000_000,
        )
    };
    let (mut passed, mut failures, mut expected) = (0, Vec::new(), 0);
    for (name, case) in cases() {
        let request = &case["request"];
        if !reads_the_data_set(&name, &case) {
            continue;
        }
        let got = answer(&params_of(request), &ctx, source).unwrap();
        let mismatch = compare(&case, got.status, &got.text());
        let reason = DIFFERENT.iter().find(|(n, _)| *n == name).map(|(_, r)| r);
        match (mismatch, reason) {
            (None, None) => passed += 1,
            (None, Some(r)) => panic!(
                "{name} is listed as different ({r}) but now matches InfluxDB: remove it from DIFFERENT"
            ),
            (Some(_), Some(_)) => expected += 1,
            (Some(m), None) => failures.push(format!(
                "{name}: {m}\n    q = {}",
                request["params"]["q"].as_str().unwrap_or("")
            )),
        }
    }
    eprintln!("{passed} cases match InfluxDB 1.6.7; {expected} differ by design");
    assert!(
        failures.is_empty(),
        "{} cases differ from InfluxDB:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(passed > 300, "only {passed} cases ran");
}
