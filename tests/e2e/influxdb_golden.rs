//! The general corpus recorded from the real InfluxDB 1.6 (`tests/golden/influxdb-general/`)
//! over HTTP: the data set written through `/write` into a database created with `CREATE
//! DATABASE`, then every recorded request sent as it was recorded, in order (the read-only
//! cases, then `writes.toml`, `into_` and `ddl_`), each answer compared with InfluxDB's.

#[allow(dead_code)]
#[path = "../golden/influxdb-general/harness.rs"]
mod harness;

use fieldline_tests::{client, replay_request, Start};
use serde_json::Value;

const EMAIL: &str = "golden@example.com";

/// Why a retention policy's duration differs: Fieldline keeps data at most as long as the
/// subscription's detailed retention (here 100,000 days), so a policy written without a
/// duration keeps that long and `INF` is refused, where InfluxDB keeps forever.
const FINITE: &str = "retention policies keep at most the subscription's retention (not INF)";

/// Why a read through another retention policy differs (docs/epts.md).
const POLICIES_SHARE: &str = "a database's retention policies share its points in Fieldline";

/// The cases whose answer over HTTP differs from InfluxDB's by design, and why.
const DIFFERENT: &[(&str, &str)] = &[
    ("write_far_past", FINITE),
    ("write_far_past_check", FINITE),
    ("ddl_create_rp_default", FINITE),
    ("ddl_read_qualified_rp", FINITE),
    ("ddl_read_field_keys", POLICIES_SHARE),
    ("ddl_read_after_default_change", POLICIES_SHARE),
];

/// What differs over HTTP for a reason every case of its kind shares.
fn differs_by_design(name: &str, case: &Value) -> Option<&'static str> {
    if harness::WRITES_DIFFERENT.iter().any(|(n, _)| *n == name) {
        return Some("as in the native replay (harness::WRITES_DIFFERENT)");
    }
    let q = case["request"]["params"]["q"].as_str().unwrap_or("");
    if q.contains("SHOW DATABASES") {
        return Some("the organization's model database (fieldline) is listed first");
    }
    if q.contains("SHOW RETENTION POLICIES") {
        return Some(FINITE);
    }
    DIFFERENT.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

#[test]
fn influxdb_answers_the_general_corpus_over_http() {
    let h = Start::app().start().expect("host starts");
    // Raw data kept long enough for the corpus' points of 1970 and 1980 (not for those of
    // 1677); a retention policy written without a duration keeps that long too, where
    // InfluxDB's keeps forever.
    let (_, token) = crate::influxdb::org_keeping(&h, EMAIL, 100_000);
    let r = client()
        .post(h.url("/query"))
        .basic_auth(EMAIL, Some(&token))
        .form(&[("q", "CREATE DATABASE general")])
        .send()
        .expect("create");
    assert_eq!(
        r.text().expect("body"),
        "{\"results\":[{\"statement_id\":0}]}\n"
    );
    let dataset =
        std::fs::read_to_string(harness::golden_dir().join("dataset.lp")).expect("dataset");
    let r = client()
        .post(h.url("/write?db=general"))
        .basic_auth(EMAIL, Some(&token))
        .body(dataset)
        .send()
        .expect("write");
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());

    let dir = harness::golden_dir();
    let mut cases: Vec<(String, Value)> = harness::cases();
    for (file, prefix) in [
        ("writes.toml", "write_"),
        ("queries.toml", "into_"),
        ("queries.toml", "ddl_"),
    ] {
        for name in harness::case_names(&dir, file) {
            if name.starts_with(prefix) {
                let path = dir.join("answers").join(format!("{name}.json"));
                let case = serde_json::from_str(&std::fs::read_to_string(path).expect("case"))
                    .expect("JSON");
                cases.push((name, case));
            }
        }
    }
    let (mut equal, mut by_design, mut failures) = (0, Vec::new(), Vec::new());
    for (name, case) in &cases {
        let (status, body, _) = replay_request(&h, &case["request"], EMAIL, &token);
        let mismatch = harness::compare(case, status, &body);
        match (mismatch, differs_by_design(name, case)) {
            (None, _) => equal += 1,
            (Some(_), Some(why)) => by_design.push(format!("{name}: {why}")),
            (Some(m), None) => failures.push(format!(
                "{name}: {} [got {status} {}]",
                m.chars().take(300).collect::<String>(),
                body.chars().take(300).collect::<String>()
            )),
        }
    }
    eprintln!(
        "{equal} of {} equal to InfluxDB 1.6 over HTTP; {} differ by design:\n{}",
        cases.len(),
        by_design.len(),
        by_design.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} cases differ from InfluxDB 1.6 over HTTP:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(equal > 400, "only {equal} cases equal");
}
