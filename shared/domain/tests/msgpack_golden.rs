//! `/query` in MessagePack (`Accept: application/x-msgpack`, what the Python client `influxdb`
//! 5.x asks for), byte for byte as InfluxDB 1.6 answered the requests recorded in
//! `tests/golden/msgpack/` (`record.sh`): its data set written to an organization held in
//! memory, each request replayed in the recorded order through the engine and
//! `query::http::answer`, and its status, content type, `X-Influxdb-Error` and body bytes
//! compared with InfluxDB's.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // only its `Store` is used here
#[path = "../../../tests/golden/influxdb-general/harness.rs"]
mod harness;

mod mem;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fieldline_domain::query::format::{msgpack, Epoch};
use fieldline_domain::query::http::{answer, QueryParams};
use fieldline_domain::query::{Context, QueryResults, StatementResult};
use harness::Store as _;

/// The cases whose *results* differ from InfluxDB's (in JSON as well: the engine's, not the
/// encoding's), and why. [`different_cases_are_encoded_as_influxdb_would`] checks their bytes
/// from the results InfluxDB had.
const DIFFERENT: &[(&str, &str)] = &[];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/golden/msgpack"))
        .find(|dir| dir.join("record.sh").is_file())
        .unwrap()
}

/// The recorded cases' names, in the order `record.sh` made them (a `GET` among them creates a
/// database that `SHOW DATABASES` would otherwise list).
fn case_names(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("record.sh"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("rec "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .fold(Vec::new(), |mut names, n| {
            // A `rec` repeated in a loop is one case.
            if !names.contains(&n) {
                names.push(n);
            }
            names
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The Accept header `record.sh` sent for a case.
fn accept_of(dir: &Path, name: &str) -> String {
    let script = std::fs::read_to_string(dir.join("record.sh")).unwrap();
    let line = script
        .lines()
        .find(|l| {
            l.trim_start()
                .strip_prefix("rec ")
                .and_then(|l| l.split(' ').next())
                == Some(name)
        })
        .unwrap();
    let accept = line.split_whitespace().nth(3).unwrap();
    if accept == "$M" {
        "application/x-msgpack".to_owned()
    } else {
        accept.to_owned()
    }
}

/// What InfluxDB answered: status, content type, `X-Influxdb-Error`, body.
struct Recorded {
    status: u16,
    content_type: String,
    error: Option<String>,
    body: Vec<u8>,
}

fn recorded(dir: &Path, name: &str) -> Recorded {
    let meta = std::fs::read_to_string(dir.join(format!("{name}.meta"))).unwrap();
    let field = |key: &str| {
        meta.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
            .map(str::to_owned)
    };
    Recorded {
        status: field("status").unwrap().parse().unwrap(),
        content_type: field("content-type").unwrap(),
        error: field("x-influxdb-error"),
        body: std::fs::read(dir.join(format!("{name}.bin"))).unwrap(),
    }
}

/// The recorded request as the HTTP layer would hand it over: its parameters, the method, and
/// `Accept: application/x-msgpack` as [`QueryParams::msgpack`].
fn params(dir: &Path, name: &str) -> QueryParams {
    let request = std::fs::read_to_string(dir.join(format!("{name}.request"))).unwrap();
    let mut lines = request.lines();
    let method = lines.next().unwrap();
    let mut form = form_urlencoded::Serializer::new(String::new());
    for kv in lines {
        let (k, v) = kv.split_once('=').unwrap();
        form.append_pair(k, v);
    }
    let mut p = QueryParams::parse(&form.finish(), None);
    p.get = method == "GET";
    p
}

#[test]
fn msgpack_answers_are_influxdbs_byte_for_byte() {
    let dir = golden_dir();
    let mut store = mem::Mem::empty("mp");
    let dataset = std::fs::read_to_string(dir.join("dataset.lp")).unwrap();
    let (status, body) = store.write(Some("mp"), None, "", &dataset);
    assert_eq!(
        (status, body.as_str()),
        (204, ""),
        "the data set is written"
    );

    let names = case_names(&dir);
    let requests = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".request")
        })
        .count();
    assert_eq!(
        names.len(),
        requests,
        "every recorded request is a case: {names:?}"
    );
    let mut failures = Vec::new();
    for name in names.iter().filter(|n| !n.starts_with("auth_")) {
        let want = recorded(&dir, name);
        let mut params = params(&dir, name);
        params.set_accept(Some(&accept_of(&dir, name)));
        let ctx = Context {
            catalog: store.catalog(),
            ..Context::model("mp", 0, now_ns(), 1_000_000)
        };
        let got = answer(&params, &ctx, store.source()).unwrap();
        let got_meta = (got.status, got.content_type, got.error.as_deref());
        let want_meta = (
            want.status,
            want.content_type.as_str(),
            want.error.as_deref(),
        );
        let equal = got_meta == want_meta && got.body == want.body;
        if DIFFERENT.iter().any(|(n, _)| n == name) {
            assert!(
                !equal,
                "{name} is listed as different but now matches InfluxDB: remove it from DIFFERENT"
            );
            continue;
        }
        if !equal {
            let at = got
                .body
                .iter()
                .zip(&want.body)
                .position(|(a, b)| a != b)
                .unwrap_or(got.body.len().min(want.body.len()));
            failures.push(format!(
                "{name}: want {want_meta:?}, got {got_meta:?}; bodies differ at byte {at}\n  want {}\n  got  {}",
                hex(&want.body),
                hex(&got.body)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from InfluxDB 1.6:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

#[test]
fn different_cases_are_encoded_as_influxdb_would() {
    let dir = golden_dir();
    // statement_error_first: InfluxDB's results, one failed statement (no `statement_id`).
    let results = QueryResults(vec![StatementResult::error(0, "not executed")]);
    assert_eq!(
        hex(&msgpack::encode(&results, Epoch::Rfc3339)),
        hex(&recorded(&dir, "statement_error_first").body)
    );
}

/// The refusals of authentication (the HTTP layer's, through `format::msgpack::encode_error`):
/// InfluxDB writes them in MessagePack too, without `X-Influxdb-Error`.
#[test]
fn authentication_refusals_are_influxdbs() {
    let dir = golden_dir();
    for (name, message) in [
        (
            "auth_no_credentials",
            "unable to parse authentication credentials",
        ),
        ("auth_wrong_password", "authorization failed"),
    ] {
        let want = recorded(&dir, name);
        assert_eq!(
            (
                want.status,
                want.content_type.as_str(),
                want.error.as_deref()
            ),
            (401, "application/x-msgpack", None),
            "{name}"
        );
        assert_eq!(
            hex(&msgpack::encode_error(message)),
            hex(&want.body),
            "{name}"
        );
    }
}

/// `QueryParams::set_accept` picks the formatter InfluxDB 1.6 picked for each recorded header.
#[test]
fn accept_headers_are_read_as_influxdb_reads_them() {
    let table = std::fs::read_to_string(golden_dir().join("accept.tsv")).unwrap();
    let mut n = 0;
    for line in table.lines() {
        let (accept, want) = line.split_once('\t').unwrap();
        let mut p = QueryParams::default();
        p.set_accept(Some(accept));
        let got = match (p.msgpack, p.csv) {
            (true, _) => "application/x-msgpack",
            (false, true) => "text/csv",
            (false, false) => "application/json",
        };
        assert_eq!(got, want, "Accept: {accept:?}");
        n += 1;
    }
    assert!(n >= 15);
    let mut p = QueryParams::default();
    p.set_accept(None);
    assert!(!p.msgpack && !p.csv);
}
