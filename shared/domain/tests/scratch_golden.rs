//! The cases of the model-shaped corpus (`tests/golden/influxql/`) that write, in a throwaway
//! database `scratch`, and read back what they wrote (`write_*`, `get_*_deprecated`,
//! `post_select_into`, `cli_insert`…), replayed in order over an organization held in memory:
//! the `/write`s through the write plan, the queries through the engine. The other cases of
//! that corpus read its data set (`influxql_golden.rs`).

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // its replay of the general data set is general_golden.rs'
#[path = "../../../tests/golden/influxdb-general/harness.rs"]
mod harness;

mod mem;

use harness::influxql;
use serde_json::Value;

/// The cases that differ from InfluxDB's answer by design, and why.
const DIFFERENT: &[(&str, &str)] = &[
    (
        "write_gzip_header_not_gzipped",
        "decompressing is the HTTP layer's: the replay takes a body as sent before compression",
    ),
    (
        "write_show_series_scratch",
        "the series of the body InfluxDB refused as not gzipped was stored \
         (write_gzip_header_not_gzipped)",
    ),
];

/// Whether a case writes to `scratch` or reads what was written there (not the data set).
fn about_writes(name: &str, case: &Value) -> bool {
    !influxql::reads_the_data_set(name, case) && case.get("time_dependent").is_none()
}

#[test]
fn the_write_and_read_back_cases_get_influxdbs_answers() {
    let mut store = mem::Mem::empty("fieldline");
    harness::replay_selected(
        &mut store,
        &influxql::golden_dir(),
        "queries.toml",
        &about_writes,
        "influxql scratch",
        // 118 equal; 14 the HTTP layer's (/ping, other paths and methods); 134 with the 2
        // different.
        (118, 14),
        DIFFERENT,
    );
}
