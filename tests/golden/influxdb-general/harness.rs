//! Replays the recorded `/query` cases of the general corpus (`tests/golden/influxdb-general`)
//! that read database `general` without changing it, against Fieldline's InfluxQL engine over
//! any [`Source`] holding `dataset.lp`, and compares each answer with the one the real InfluxDB
//! 1.6 gave. Included (`#[path]`) by the engine's test in `shared/domain` (an in-memory source);
//! a storage test can include it the same way over its own source.
//!
//! It reuses the request decoding of the model-shaped corpus' harness (included here as
//! [`influxql`]), and compares numbers as that one does, but integers exactly (the corpus has
//! int64 values above 2^53).

// Test support: a missing or malformed recording is a failed test.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../influxql/harness.rs"]
pub mod influxql;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fieldline_domain::line_protocol::{self, Line, Precision};
use fieldline_domain::query::ddl::Catalog;
use fieldline_domain::query::http::answer;
use fieldline_domain::query::{Context, Source};
use serde_json::Value;

/// The database the data set is written to.
pub const DATABASE: &str = "general";

/// The case-name prefixes of the cases that read `general` without changing it (`into_` and
/// `ddl_` change state; `write_` cases are in `writes.toml`).
pub const PREFIXES: &[&str] = &[
    "raw", "where", "gb", "agg", "arith", "err", "tf", "sel", "sub", "show", "db",
];

/// `tests/golden/influxdb-general` of the workspace, from whichever crate includes this file.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/golden/influxdb-general"))
        .find(|dir| dir.join("dataset.lp").is_file())
        .unwrap()
}

/// The recorded data set, parsed by Fieldline's own line-protocol parser (every line parses).
pub fn dataset() -> Vec<Line<'static>> {
    let text = std::fs::read_to_string(golden_dir().join("dataset.lp")).unwrap();
    let (lines, errors) = line_protocol::parse(&text, Precision::Nanoseconds, 0);
    assert!(errors.is_empty(), "dataset.lp does not parse: {errors:?}");
    lines.into_iter().map(Line::into_owned).collect()
}

/// The prefix of a case's name (before its first `_`), if it is one [`replay`] runs.
pub fn prefix_of(name: &str) -> Option<&'static str> {
    let p = name.split('_').next()?;
    PREFIXES.iter().copied().find(|x| *x == p)
}

/// The recorded cases [`replay`] runs, by name, in name order.
pub fn cases() -> Vec<(String, Value)> {
    let dir = golden_dir().join("answers");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            prefix_of(&name)?;
            let case: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (case.get("time_dependent").is_none()).then_some((name, case))
        })
        .collect()
}

/// Compares JSON values: integers exactly, other numbers to within 1e-9 relative; returns
/// where they differ.
pub fn diff(path: &str, want: &Value, got: &Value) -> Option<String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                return (x != y).then(|| format!("{path}: want {x}, got {y}"));
            }
            influxql::diff(path, want, got)
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

/// The answer with the rows of every series that share a time in a canonical order: InfluxDB
/// lists the rows of several series at one time in its own series order (README.md).
fn rows_of_equal_time_sorted(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let x = match (k.as_str(), x) {
                        ("values", Value::Array(rows)) => Value::Array(sort_runs(rows.clone())),
                        _ => rows_of_equal_time_sorted(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(rows_of_equal_time_sorted).collect()),
        other => other.clone(),
    }
}

/// Rows sorted by their text within each run of equal first cells, runs kept in place.
fn sort_runs(rows: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(rows.len());
    let mut run: Vec<Value> = Vec::new();
    for r in rows {
        if run.first().is_some_and(|f| f[0] != r[0]) {
            run.sort_by_key(Value::to_string);
            out.append(&mut run);
        }
        run.push(r);
    }
    run.sort_by_key(Value::to_string);
    out.append(&mut run);
    out
}

/// Where an answer (status, body) differs from the recorded one, rows of equal time taken as
/// unordered.
pub fn compare(case: &Value, status: u16, body: &str) -> Option<String> {
    if u64::from(status) != case["status"].as_u64().unwrap() {
        return Some(format!("status {status} != {}: {body}", case["status"]));
    }
    if let Some(docs) = case.get("body_documents").and_then(Value::as_array) {
        let ours: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(body)
            .into_iter::<Value>()
            .collect();
        return match ours {
            Ok(ours) => {
                let (want, got) = (Value::Array(docs.clone()), Value::Array(ours));
                diff("", &want, &got).and_then(|d| {
                    diff(
                        "",
                        &rows_of_equal_time_sorted(&want),
                        &rows_of_equal_time_sorted(&got),
                    )
                    .map(|_| d)
                })
            }
            Err(e) => Some(format!("not JSON documents ({e}): {body}")),
        };
    }
    if let Some(text) = case["body"].as_str() {
        return (text != body).then(|| format!("want {text:?}, got {body:?}"));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(got) => diff("", &case["body"], &got)
            .and_then(|d| {
                diff(
                    "",
                    &rows_of_equal_time_sorted(&case["body"]),
                    &rows_of_equal_time_sorted(&got),
                )
                .map(|_| d)
            })
            .or_else(|| {
                // A case about the last bits of floats (the order InfluxDB adds them in).
                let exact = case.get("exact_floats").is_some_and(|e| e == true);
                exact.then(|| same_bits("", &case["body"], &got)).flatten()
            }),
        Err(e) => Some(format!("not JSON ({e}): {body}")),
    }
}

/// Where two JSON values (equal within [`diff`]'s tolerance) differ in any bit of a number.
fn same_bits(path: &str, want: &Value, got: &Value) -> Option<String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => (a.as_f64() != b.as_f64()
            || a.as_i64() != b.as_i64())
        .then(|| format!("{path}: want {a}, got {b} (to the last bit)")),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| same_bits(&format!("{path}[{i}]"), x, y)),
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .find_map(|(k, v)| same_bits(&format!("{path}.{k}"), v, b.get(k)?)),
        _ => None,
    }
}

/// Replays every case of [`cases`] over `source` (holding [`dataset`] as database
/// `general`); prints the equal and total count per prefix and the cases that differ, and
/// panics if fewer than `floor` are equal, if a case of `different` (with the reason it
/// differs by design) is equal, or if a case differs that `different` does not list. Answers
/// the number equal.
pub fn replay(source: &mut dyn Source, floor: usize, different: &[(&str, &str)]) -> usize {
    let ctx = Context {
        db: None,
        // No case depends on the clock (README.md): any `now` gives the same answers.
        ..Context::model(DATABASE, 0, 1_700_000_000_000_000_000, 1_000_000)
    };
    let mut per_prefix: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut equal, mut failures) = (0, Vec::new());
    for (name, case) in cases() {
        let request = &case["request"];
        let got = answer(&influxql::params_of(request), &ctx, source).unwrap();
        let mismatch = compare(&case, got.status, &got.text());
        let counts = per_prefix.entry(prefix_of(&name).unwrap()).or_default();
        counts.1 += 1;
        let reason = different.iter().find(|(n, _)| *n == name).map(|(_, r)| r);
        match (mismatch, reason) {
            (None, None) => {
                equal += 1;
                counts.0 += 1;
            }
            (None, Some(r)) => {
                panic!("{name} is listed as different ({r}) but now matches InfluxDB: remove it")
            }
            (Some(_), Some(_)) => {}
            (Some(m), None) => failures.push(format!(
                "{name}: {} [got {}]\n    q = {}",
                m.chars().take(400).collect::<String>(),
                got.text().chars().take(300).collect::<String>(),
                request["params"]["q"].as_str().unwrap_or("")
            )),
        }
    }
    for (prefix, (eq, total)) in &per_prefix {
        eprintln!("{prefix:>6}: {eq:>3} of {total:>3} equal");
    }
    let total: usize = per_prefix.values().map(|c| c.1).sum();
    eprintln!(
        "{equal} of {total} cases equal to InfluxDB 1.6; {} differ by design; {} differ:\n{}",
        different.len(),
        failures.len(),
        failures.join("\n")
    );
    assert!(
        equal >= floor,
        "only {equal} cases equal to InfluxDB 1.6, fewer than the {floor} that were"
    );
    assert!(
        failures.is_empty(),
        "{} cases differ from InfluxDB 1.6 and are not listed as different by design",
        failures.len()
    );
    equal
}

// ---- The sections that change state: writes.toml, `into_` and `ddl_`

/// The `/write` cases of writes.toml that differ by design, and why.
pub const WRITES_DIFFERENT: &[(&str, &str)] = &[
    (
        "write_edge_dup_check_fields",
        "InfluxDB lists the fields a point refused for a repeated key of another type created \
         (`w` of e_dup2, every field of e_dup3 and e_dup4); Fieldline's measurement has the fields \
         its series hold (the write plan's new fields are checked against this answer in \
         write_plan's tests)",
    ),
    (
        "write_edge_dup_check_select",
        "the column `w` of e_dup2, a field only a refused point created \
         (write_edge_dup_check_fields)",
    ),
    (
        "write_conflict_other_shard",
        "field types are per measurement in Fieldline, per shard group in InfluxDB: the 1980 \
         point of another type is refused",
    ),
    (
        "write_conflict_other_shard_check",
        "the 1980 point of another type was refused (write_conflict_other_shard)",
    ),
    (
        "write_conflict_other_shard_field_keys",
        "a field has one type in Fieldline; InfluxDB lists `i` twice, once per shard group",
    ),
    (
        "write_final_series_cardinality",
        "InfluxDB counts the series of `types` in the 1980 shard group and that of a point it \
         refused for a type conflict (types,t=b: its series is created before its fields are \
         checked); Fieldline stores neither",
    ),
    (
        "write_del_drop_series_tag_check_select",
        "InfluxDB keeps a measurement's fields while any series of it is left (`g` was only the \
         dropped series'); Fieldline's measurement has the fields its series hold",
    ),
    (
        "write_del_drop_series_tag_check_fields",
        "the field `g` only the dropped series had (write_del_drop_series_tag_check_select)",
    ),
    (
        "write_del_drop_series_get_check_fields",
        "the field `g` only the dropped series had (write_del_drop_series_tag_check_select)",
    ),
    (
        "write_del_drop_series_retype_check",
        "InfluxDB creates the series of a point it refuses for a type conflict; Fieldline \
         stores nothing of a refused point",
    ),
    (
        "write_del_delete_retype_check",
        "the series of a refused point (write_del_drop_series_retype_check)",
    ),
    (
        "write_del_delete_conflict_series_check",
        "the series of a refused point (write_del_drop_series_retype_check)",
    ),
    (
        "write_del_own_db_setup_check",
        "the series of a refused point (write_del_drop_series_retype_check)",
    ),
    (
        "write_del_drop_series_field",
        "InfluxDB names the shard that refused the field condition (`shard 9: `); Fieldline has \
         no shards to name",
    ),
    (
        "write_del_delete_field",
        "the shard InfluxDB names (write_del_drop_series_field)",
    ),
];

/// A [`Source`] that also stores what `/write` requests send and keeps the catalog the
/// statements leave (through [`Source::store_database`] and [`Source::drop_database`]), as
/// storage does: what [`replay_in_order`] runs against.
pub trait Store {
    /// The organization's catalog as stored, the model's database first.
    fn catalog(&mut self) -> Catalog;
    /// A `POST /write` (the body already decompressed): status and body of the answer.
    fn write(
        &mut self,
        db: Option<&str>,
        rp: Option<&str>,
        precision: &str,
        body: &str,
    ) -> (u16, String);
    /// The store as the engine reads it.
    fn source(&mut self) -> &mut dyn Source;
}

/// The names of the cases of `file` of the corpus in `dir` in the file's order.
pub fn case_names(dir: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("name = '")?.strip_suffix('\''))
        .map(str::to_owned)
        .collect()
}

/// `now`, nanoseconds: `ddl_write_rp_beyond_retention` is refused only once the clock is past
/// 2021-03-08, as it was when it was recorded.
fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_nanos()).unwrap()
}

/// One case over `store`: `None` when it is the HTTP layer's alone (a `GET /write`, a path
/// other than `/write` and `/query`), else where its answer differs from InfluxDB's
/// (`Some(None)`: equal).
fn replay_case(store: &mut dyn Store, case: &Value) -> Option<Option<String>> {
    let request = &case["request"];
    let params = &request["params"];
    let method = request["method"].as_str();
    if request["path"] == "/write" {
        if method != Some("POST") {
            return None;
        }
        let (status, body) = store.write(
            params["db"].as_str(),
            params["rp"].as_str(),
            params["precision"].as_str().unwrap_or(""),
            request["body"].as_str().unwrap_or(""),
        );
        let want = case["body_raw"].as_str().unwrap_or("");
        let equal = u64::from(status) == case["status"].as_u64().unwrap() && body == want;
        return Some(
            (!equal).then(|| format!("want {} {want:?}, got {status} {body:?}", case["status"])),
        );
    }
    if request["path"] != "/query" || !matches!(method, Some("GET" | "POST")) {
        return None;
    }
    let ctx = Context {
        catalog: store.catalog(),
        ..Context::model(DATABASE, 0, now_ns(), 1_000_000)
    };
    let mut params = influxql::params_of(request);
    params.get = request["method"] == "GET";
    let got = answer(&params, &ctx, store.source()).unwrap();
    Some(compare(case, got.status, &got.text()).map(|m| {
        format!(
            "{} [got {}]\n    q = {}",
            m.chars().take(400).collect::<String>(),
            got.text().chars().take(400).collect::<String>(),
            params.q.unwrap_or_default()
        )
    }))
}

/// Replays, in order, the cases of `file` whose name starts with `prefix` over `store` (which
/// holds [`dataset`] as `general`, and keeps what they write): see [`replay_selected`].
pub fn replay_in_order(
    store: &mut dyn Store,
    file: &str,
    prefix: &str,
    counts: (usize, usize),
    different: &[(&str, &str)],
) {
    let select = |name: &str, _: &Value| name.starts_with(prefix);
    let label = format!("{file} {prefix}*");
    replay_selected(
        store,
        &golden_dir(),
        file,
        &select,
        &label,
        counts,
        different,
    );
}

/// Replays, in order, the cases of `file` of the corpus in `dir` that `select` keeps (by name
/// and recorded case) over `store`; prints the counts and the cases that differ, and panics
/// unless exactly `equal` cases give InfluxDB's answer and `http_only` are the HTTP layer's
/// alone, if a case of `different` (with the reason it differs by design) is equal, or if a
/// case differs that `different` does not list.
pub fn replay_selected(
    store: &mut dyn Store,
    dir: &Path,
    file: &str,
    select: &dyn Fn(&str, &Value) -> bool,
    label: &str,
    (equal, http_only): (usize, usize),
    different: &[(&str, &str)],
) {
    let (mut equal_now, mut http, mut failures) = (0, 0, Vec::new());
    let mut names = Vec::new();
    for name in case_names(dir, file) {
        let path = dir.join("answers").join(format!("{name}.json"));
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        if select(&name, &case) {
            names.push((name, case));
        }
    }
    for (name, case) in &names {
        let reason = different.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        match (replay_case(store, case), reason) {
            (None, _) => http += 1,
            (Some(None), None) => equal_now += 1,
            (Some(None), Some(r)) => {
                panic!("{name} is listed as different ({r}) but now matches InfluxDB: remove it")
            }
            (Some(Some(_)), Some(_)) => {}
            (Some(Some(m)), None) => failures.push(format!("{name}: {m}")),
        }
    }
    eprintln!(
        "{label}: {equal_now} of {} equal to InfluxDB 1.6, {http} the HTTP layer's, {} \
         differ by design; {} differ:\n{}",
        names.len(),
        different.len(),
        failures.len(),
        failures.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} cases of {label} differ from InfluxDB 1.6 and are not listed as different",
        failures.len()
    );
    assert_eq!(
        (equal_now, http, names.len()),
        (equal, http_only, equal + http_only + different.len()),
        "{label}: (equal, the HTTP layer's, cases)"
    );
}
