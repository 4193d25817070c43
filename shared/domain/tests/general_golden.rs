//! The InfluxQL engine against the answers the real InfluxDB 1.6 gave over the general data
//! set (`tests/golden/influxdb-general/`: several measurements, tags, and fields of every type),
//! over that data set in memory.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/golden/influxdb-general/harness.rs"]
mod harness;

mod mem;

use mem::Mem;

/// The cases that differ from InfluxDB's answer by design, and why.
const DIFFERENT: &[(&str, &str)] = &[];

/// How many cases give InfluxDB's answer: the count must not drop.
const FLOOR: usize = 517;

#[test]
fn the_engine_gives_influxdbs_answers_over_general_data() {
    let mut mem = Mem::new();
    let equal = harness::replay(&mut mem, FLOOR, DIFFERENT);
    assert!(equal >= FLOOR);
}

/// writes.toml in order: its `/write`s through the write plan into the store, its reads
/// through the engine.
#[test]
fn the_write_cases_get_influxdbs_answers() {
    harness::replay_in_order(
        &mut Mem::new(),
        "writes.toml",
        "write_",
        // 184 equal, the GET /write (405) the HTTP layer's; 200 with the 15 different.
        (184, 1),
        harness::WRITES_DIFFERENT,
    );
}

/// The `into_` cases that differ by design, and why.
const INTO_DIFFERENT: &[(&str, &str)] = &[];

/// The `into_` section of queries.toml in order: SELECT INTO another database and
/// measurement, each read back.
#[test]
fn the_into_cases_get_influxdbs_answers() {
    harness::replay_in_order(
        &mut Mem::new(),
        "queries.toml",
        "into_",
        // All 27 equal.
        (27, 0),
        INTO_DIFFERENT,
    );
}

/// The `ddl_` cases that differ by design, and why.
const DDL_DIFFERENT: &[(&str, &str)] = &[];

/// The `ddl_` section of queries.toml in order: databases and retention policies created,
/// altered, written to, read and dropped.
#[test]
fn the_ddl_cases_get_influxdbs_answers() {
    harness::replay_in_order(
        &mut Mem::new(),
        "queries.toml",
        "ddl_",
        // All 49 equal.
        (49, 0),
        DDL_DIFFERENT,
    );
}
