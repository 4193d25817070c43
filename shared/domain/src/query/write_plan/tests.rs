#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::line_protocol::{parse, Precision};

const NOW: i64 = 1_700_000_000_000_000_000;

fn lines(body: &str) -> (Vec<Line<'_>>, Vec<LineError>) {
    parse(body, Precision::Nanoseconds, NOW)
}

fn found() -> Destination<'static> {
    Destination::Found { earliest_ns: None }
}

/// The plan of `body` over the stored types `stored` (`measurement.field` → type).
fn plan_of(body: &str, destination: Destination<'_>, stored: &[(&str, FieldType)]) -> WritePlan {
    let (l, e) = lines(body);
    let stored: HashMap<String, FieldType> =
        stored.iter().map(|(k, t)| ((*k).to_owned(), *t)).collect();
    plan(&l, &e, destination, &|m, f| {
        stored.get(&format!("{m}.{f}")).copied()
    })
}

#[test]
fn a_new_field_takes_the_type_of_its_first_point_even_one_dropped() {
    // x is new and comes before y, which conflicts: the point is dropped, x is created.
    let p = plan_of(
        "m x=1i,y=2i 1\nm x=2.5 2\nm y=1.5 3\n",
        found(),
        &[("m.y", FieldType::Float)],
    );
    assert_eq!(p.points, [2]);
    assert_eq!(
        p.new_fields,
        [NewField {
            measurement: "m".into(),
            field: "x".into(),
            field_type: FieldType::Integer
        }]
    );
    assert_eq!(p.dropped, 2);
    assert_eq!(
        p.answer.error.as_deref(),
        Some(
            "partial write: field type conflict: input field \"y\" on measurement \"m\" is \
             type integer, already exists as type float dropped=2"
        )
    );
    assert_eq!(p.answer.status, 400);
}

/// InfluxDB's shard writes the names into its reasons as they are, between quotes (`"%s"`),
/// not escaped as Go's `%q` would: a client that matches the text sees the measurement it wrote.
#[test]
fn names_in_a_reason_are_written_as_they_are() {
    let p = plan_of(
        "\"quoted\",t=1 f=\"s\" 1\nback\\slash v=1i 2\n",
        found(),
        &[
            ("\"quoted\".f", FieldType::Float),
            ("back\\slash.v", FieldType::String),
        ],
    );
    assert_eq!(
        p.answer.error.as_deref(),
        Some(
            "partial write: field type conflict: input field \"f\" on measurement \"\"quoted\"\" \
             is type string, already exists as type float dropped=2"
        )
    );
    let p = plan_of("a\"b,time=x v=1 1\n", found(), &[]);
    assert_eq!(
        p.answer.error.as_deref(),
        Some(
            "partial write: invalid tag key: input tag \"time\" on measurement \"a\"b\" is \
             invalid dropped=1"
        )
    );
}

#[test]
fn the_time_tag_is_reported_before_a_type_conflict_written_earlier() {
    let p = plan_of(
        "m v=1i 1\nm,time=x v=1 2\nm v=\"s\" 3\nm v=2 4\n",
        found(),
        &[("m.v", FieldType::Float)],
    );
    assert_eq!(p.points, [3]);
    assert_eq!(
        p.answer.error.as_deref(),
        Some(
            "partial write: invalid tag key: input tag \"time\" on measurement \"m\" is invalid \
             dropped=3"
        )
    );
}

#[test]
fn a_time_field_beside_others_is_not_stored() {
    let (l, e) = lines("m time=1,v=2 1\n");
    let p = plan(&l, &e, found(), &|_, _| None);
    assert_eq!((p.points.as_slice(), p.answer.status), (&[0][..], 204));
    let fields: Vec<&str> = stored_fields(&l[0]).map(|(k, _)| k).collect();
    assert_eq!(fields, ["v"]);
    assert_eq!(p.new_fields.len(), 1);
}

#[test]
fn points_beyond_retention_are_dropped_and_hidden_by_a_shard_refusal() {
    let earliest = Destination::Found {
        earliest_ns: Some(10),
    };
    let p = plan_of("m v=1 5\nm v=2 10\nbad\n", earliest, &[]);
    assert_eq!(p.points, [1]);
    assert_eq!(
        p.answer.error.as_deref(),
        Some("partial write: points beyond retention policy dropped=1")
    );
    let p = plan_of(
        "m v=1 5\nm v=2i 10\n",
        earliest,
        &[("m.v", FieldType::Float)],
    );
    assert_eq!((p.points.len(), p.dropped), (0, 2));
    assert!(p.answer.error.unwrap().ends_with(" dropped=1"));
}

#[test]
fn the_destination_is_checked_first_and_a_missing_policy_after_the_parse() {
    let p = plan_of("bad\n", Destination::MissingDatabase("a\"b"), &[]);
    assert_eq!(
        (p.answer.status, p.answer.body()),
        (
            404,
            "{\"error\":\"database not found: \\\"a\\\\\\\"b\\\"\"}\n".into()
        )
    );
    let p = plan_of("bad\n", Destination::MissingRetentionPolicy("x"), &[]);
    assert_eq!(p.answer.status, 400);
    let p = plan_of("", Destination::MissingRetentionPolicy("x"), &[]);
    assert_eq!(
        (p.answer.status, p.answer.error.as_deref()),
        (500, Some("retention policy not found: x"))
    );
    let p = plan_of("", found(), &[]);
    assert_eq!((p.answer.status, p.answer.body()), (204, String::new()));
}

#[test]
fn go_quote_escapes_as_go_does() {
    assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
}

// ---- The golden write cases

/// The general corpus, `tests/golden/influxdb-general`.
const GENERAL: &str = "influxdb-general";

fn golden_dir(corpus: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden")
        .join(corpus)
}

/// The names of the cases of a file of the general corpus, in order.
pub(crate) fn case_names(file: &str) -> Vec<String> {
    case_names_of(GENERAL, file)
}

fn case_names_of(corpus: &str, file: &str) -> Vec<String> {
    std::fs::read_to_string(golden_dir(corpus).join(file))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("name = '")?.strip_suffix('\''))
        .map(str::to_owned)
        .collect()
}

/// The recorded answer of a case of the general corpus.
pub(crate) fn answer_of(name: &str) -> Value {
    answer_in(GENERAL, name)
}

fn answer_in(corpus: &str, name: &str) -> Value {
    let path = golden_dir(corpus)
        .join("answers")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Cases whose recorded answer Fieldline does not give, on purpose, and why.
const DIFFERENT: &[(&str, &str)] = &[(
    "write_conflict_other_shard",
    "field types are per measurement in Fieldline, per shard group in InfluxDB",
)];

/// Replays every `/write` of writes.toml (database `w`, created by the first case and dropped by
/// the last) through the parser and the plan, over the field types the cases before stored,
/// and compares status, body and `X-Influxdb-Error` with InfluxDB's.
#[test]
fn the_write_cases_get_influxdbs_answers() {
    let databases = ["general", "w", "w_del", "w_edge"];
    let mut stored: HashMap<(String, String), FieldType> = HashMap::new();
    let (mut judged, mut failures) = (0, Vec::new());
    let mut not_judged = Vec::new();
    let mut differ = HashSet::new();
    for name in case_names("writes.toml") {
        let case = answer_of(&name);
        let request = &case["request"];
        if request["path"] != "/write" || request["method"] != "POST" {
            // Reads (`*_check`), the set-up and teardown queries, `GET /write` (405). A
            // measurement dropped forgets its field types.
            let q = request["params"]["q"].as_str().unwrap_or_default();
            for statement in crate::influxql::parse_query(q).unwrap_or_default() {
                if let crate::influxql::Statement::DropMeasurement(m) = statement {
                    stored.retain(|(measurement, _), _| *measurement != m);
                }
            }
            not_judged.push(name);
            continue;
        }
        let params = &request["params"];
        let param = |k: &str| params[k].as_str();
        let db = param("db").filter(|d| !d.is_empty());
        let destination = match (db, param("rp")) {
            (None, _) => Destination::NoDatabase,
            (Some(d), _) if !databases.contains(&d) => Destination::MissingDatabase(d),
            (Some(_), Some(rp)) if rp != "autogen" => Destination::MissingRetentionPolicy(rp),
            _ => Destination::Found { earliest_ns: None },
        };
        // InfluxDB reads an unknown precision as nanoseconds. A gzip body is recorded as sent
        // before compression.
        let precision = Precision::parse(param("precision").unwrap_or("")).unwrap_or_default();
        let (l, e) = parse(request["body"].as_str().unwrap(), precision, NOW);
        let p = plan(&l, &e, destination, &|m, f| {
            stored.get(&(m.to_owned(), f.to_owned())).copied()
        });
        let want = (
            case["status"].as_u64().unwrap(),
            case["body_raw"].as_str().unwrap_or("").to_owned(),
            case["headers"]["X-Influxdb-Error"]
                .as_str()
                .map(str::to_owned),
        );
        let got = (
            u64::from(p.answer.status),
            p.answer.body(),
            p.answer.header(),
        );
        judged += 1;
        if DIFFERENT.iter().any(|(n, _)| *n == name) {
            assert_ne!(got, want, "{name} is listed as different but matches");
            differ.insert(name);
            continue;
        }
        if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
        for f in p.new_fields {
            stored.insert((f.measurement, f.field), f.field_type);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(differ.len(), DIFFERENT.len());
    // Every POST /write was judged (84); not the reads, the set-up, teardown and deleting
    // queries (CREATE/DROP DATABASE, DROP MEASUREMENT, DROP SERIES, DELETE) and the GET /write
    // (405, the HTTP layer's).
    assert_eq!((judged, not_judged.len()), (84, 116), "{not_judged:?}");
    // The field types left agree with SHOW FIELD KEYS of the `*_field_keys` and `fresh` cases,
    // and of the repeated field keys (the fields before a conflicting occurrence are created).
    for (name, statement, measurement) in [
        ("write_all_types_field_keys", 0, "types"),
        ("write_conflict_within_body_check", 1, "fresh"),
        ("write_edge_dup_check_fields", 0, "e_dup"),
        ("write_edge_dup_check_fields", 0, "e_dup2"),
        ("write_edge_dup_check_fields", 0, "e_dup3"),
        ("write_edge_dup_check_fields", 0, "e_dup4"),
    ] {
        let answer = answer_of(name);
        let rows = answer["body"]["results"][statement]["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == measurement)
            .unwrap_or_else(|| panic!("{name}: no series {measurement}"))["values"]
            .as_array()
            .unwrap()
            .clone();
        let mut ours: Vec<Value> = stored
            .iter()
            .filter(|((m, _), _)| m == measurement)
            .map(|((_, f), t)| serde_json::json!([f, t.name()]))
            .collect();
        ours.sort_by_key(ToString::to_string);
        assert_eq!(ours, rows, "{name}");
    }
}

/// The series of statement `statement` of a recorded answer.
fn series(name: &str, statement: usize) -> Value {
    answer_of(name)["body"]["results"][statement]["series"][0].clone()
}

fn body_of(name: &str) -> String {
    answer_of(name)["request"]["body"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn rfc3339(ns: i64) -> Value {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn json_of(value: &FieldValue) -> Value {
    match value {
        FieldValue::Float(f) => serde_json::json!(f),
        FieldValue::Integer(i) => serde_json::json!(i),
        FieldValue::String(s) => serde_json::json!(s),
        FieldValue::Boolean(b) => serde_json::json!(b),
    }
}

/// Equal as InfluxDB's JSON means them: integers exactly, floats as numbers (`-0` is `-0.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// What the parser reads from the write cases' bodies is what InfluxDB stored: the `*_check`
/// reads of writes.toml show the values (exact int64s, float forms, string escapes, booleans),
/// the times (every precision, the far past) and the names (escapes, quotes, backslashes,
/// case and non-ASCII) as InfluxDB kept them.
#[test]
fn the_write_cases_read_back_as_influxdb_stored_them() {
    // One field per point, read back by time.
    for (write, check) in [
        ("write_float_forms", "write_float_forms_check"),
        ("write_integers_exact", "write_integers_exact_check"),
        ("write_booleans", "write_booleans_check"),
        ("write_strings", "write_strings_check"),
        ("write_far_past", "write_far_past_check"),
    ] {
        let body = body_of(write);
        let (mut l, e) = lines(&body);
        assert_eq!(e, [], "{write}");
        l.sort_by_key(|l| l.timestamp_ns);
        let ours: Value = l
            .iter()
            .map(|l| serde_json::json!([rfc3339(l.timestamp_ns), json_of(&l.fields[0].1)]))
            .collect();
        let theirs = &series(check, 0)["values"];
        assert!(same(&ours, theirs), "{write}: {ours} != {theirs}");
    }

    // Every precision, by the tag p each case writes.
    let stored = series("write_precision_check_ns", 0)["values"].clone();
    for row in stored.as_array().unwrap() {
        let p = row[2].as_str().unwrap();
        let case = answer_of(&format!("write_precision_{p}"));
        let precision = case["request"]["params"]["precision"].as_str().unwrap();
        let precision = Precision::parse(precision).unwrap_or_default();
        let (l, _) = parse(case["request"]["body"].as_str().unwrap(), precision, NOW);
        assert_eq!(
            serde_json::json!(l[0].timestamp_ns),
            row[0],
            "precision {p}"
        );
    }

    // Names.
    let body = body_of("write_escapes");
    let (l, _) = lines(&body);
    let s = series("write_escapes_check", 0);
    assert_eq!(s["name"], &*l[0].measurement);
    assert_eq!(s["columns"][1], &*l[0].fields[0].0);
    assert_eq!(s["columns"][2], &*l[0].tags[0].0);
    assert_eq!(s["values"][0][2], &*l[0].tags[0].1);
    for (write, check) in [
        (
            "write_unescaped_quotes_and_equals_in_names",
            "write_unescaped_quotes_check",
        ),
        ("write_backslashes", "write_backslashes_check"),
        (
            "write_tag_value_case_and_unicode",
            "write_tag_value_case_check",
        ),
    ] {
        let body = body_of(write);
        let (l, _) = lines(&body);
        let s = series(check, 1);
        assert_eq!(s["name"], &*l[0].measurement, "{write}");
        let mut tags: Vec<Value> = l
            .iter()
            .flat_map(|l| &l.tags)
            .map(|(k, v)| serde_json::json!([k, v]))
            .collect();
        tags.sort_by_key(ToString::to_string);
        tags.dedup();
        let mut theirs = s["values"].as_array().unwrap().clone();
        theirs.sort_by_key(ToString::to_string);
        assert_eq!(tags, theirs, "{write}");
    }
}

/// The `/write` cases of the model-shaped corpus (`tests/golden/influxql`, database `scratch`,
/// created and dropped there), replayed in order with the databases its CREATE/DROP DATABASE
/// cases leave (through [`crate::query::ddl`], whose answers are compared too): parse errors of
/// every kind, partial writes, precisions, type conflicts, a dropped database.
#[test]
fn the_model_corpus_writes_get_influxdbs_answers() {
    use crate::query::ddl::{apply, write_destination, Catalog};
    const CORPUS: &str = "influxql";
    const DIFFERENT: &[&str] = &[];
    let mut catalog = Catalog::default();
    let create = crate::influxql::parse_query("CREATE DATABASE fieldline").unwrap();
    apply(&create[0], &mut catalog, 0).unwrap();
    let mut stored: HashMap<(String, String, String), FieldType> = HashMap::new();
    let (mut judged, mut ddl, mut failures) = (0, 0, Vec::new());
    for name in case_names_of(CORPUS, "queries.toml") {
        let case = answer_in(CORPUS, &name);
        let request = &case["request"];
        let params = &request["params"];
        let want = (
            case["status"].as_u64().unwrap(),
            case["body_raw"].as_str().unwrap_or("").to_owned(),
        );
        if request["path"] == "/query" {
            let q = params["q"].as_str().unwrap_or_default();
            let parsed = crate::influxql::parse_query(q).unwrap_or_default();
            if !parsed.is_empty() && parsed.iter().all(|s| s.ddl_keywords().is_some()) {
                let got = crate::query::ddl::tests::query(&case, &mut catalog);
                ddl += 1;
                if got != want {
                    failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
                }
            }
            continue;
        }
        // Other paths and methods, and gzip, are the HTTP layer's.
        if request["path"] != "/write"
            || request["method"] != "POST"
            || request["headers"]["Content-Encoding"].is_string()
        {
            continue;
        }
        let (db, rp) = (params["db"].as_str(), params["rp"].as_str());
        let destination = write_destination(&catalog, db, rp, NOW);
        let precision = Precision::parse(params["precision"].as_str().unwrap_or(""));
        let (l, e) = parse(
            request["body"].as_str().unwrap_or_default(),
            precision.unwrap_or_default(),
            NOW,
        );
        let db = db.unwrap_or_default();
        let p = plan(&l, &e, destination, &|m, f| {
            stored.get(&(db.into(), m.into(), f.into())).copied()
        });
        for f in p.new_fields {
            stored.insert((db.into(), f.measurement, f.field), f.field_type);
        }
        let got = (u64::from(p.answer.status), p.answer.body());
        judged += 1;
        if DIFFERENT.contains(&name.as_str()) {
            assert_ne!(got, want, "{name} is listed as different but matches");
        } else if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!((judged, ddl), (72, 6));
}

/// A point with more than [`MAX_FIELDS_PER_POINT`] fields is refused whole; the others of the
/// body are stored.
#[test]
fn a_point_with_too_many_fields_is_refused() {
    let many: Vec<String> = (0..=MAX_FIELDS_PER_POINT)
        .map(|i| format!("f{i}=1"))
        .collect();
    let body = format!("m {} 1\nm g=1 2\n", many.join(","));
    let (lines, errors) =
        crate::line_protocol::parse(&body, crate::line_protocol::Precision::Nanoseconds, 0);
    let plan = plan(
        &lines,
        &errors,
        Destination::Found { earliest_ns: None },
        &|_, _| None,
    );
    assert_eq!(plan.points, [1]);
    assert_eq!(plan.answer.status, 400);
    assert_eq!(
        plan.answer.error.as_deref(),
        Some("partial write: too many fields: a point of measurement \"m\" has 1001 fields, at most 1000 are stored dropped=1")
    );
    assert!(plan.new_fields.iter().all(|f| f.field == "g"));
}

/// `X-Influxdb-Error` keeps the first 1024 bytes of the message, line breaks made spaces
/// (InfluxDB's `errmsg[:1024]`), and cuts before a character the limit would split.
#[test]
fn the_error_header_is_cut_at_1024_bytes() {
    let lines: Vec<String> = (0..3000).map(|i| format!("bad{i} x")).collect();
    let body = lines.join("\n") + "\n";
    let (l, e) = parse(&body, Precision::Nanoseconds, NOW);
    let p = plan(&l, &e, Destination::Found { earliest_ns: None }, &|_, _| {
        None
    });
    let message = p.answer.error.clone().unwrap();
    assert!(message.len() > 100_000);
    assert!(p.answer.body().len() > message.len());
    let header = p.answer.header().unwrap();
    assert_eq!(header.len(), ERROR_HEADER_MAX);
    assert_eq!(header, message[..ERROR_HEADER_MAX].replace('\n', " "));
    assert_eq!(error_header("a\r\nb"), "a  b");
    // 1023 bytes, then a character of two: the header stops before it.
    let wide = format!("{}é", "x".repeat(ERROR_HEADER_MAX - 1));
    assert_eq!(error_header(&wide), "x".repeat(ERROR_HEADER_MAX - 1));
    let short = "é".repeat(10);
    assert_eq!(error_header(&short), short);
}
