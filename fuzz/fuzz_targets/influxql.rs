//! InfluxQL (`/query?q=`): the parser, and the query layer's statement checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = fieldline_domain::influxql::parse_query(text);
    let _ = fieldline_domain::influxql::parse_expr(text);
    let _ = fieldline_domain::influxql::parse_time_string(text);
    let _ = fieldline_domain::query::http::parse(text);
});
