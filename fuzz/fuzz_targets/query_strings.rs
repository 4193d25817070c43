//! Query strings and form bodies: InfluxDB's `/query` parameters (URL and form), Conduit reads
//! (`/conduitv4`, `/conduitv6`, the page cursor), EPTS `/epts/last` and `/epts/data`.
#![no_main]
use fieldline_domain::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (url, form) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(url) = std::str::from_utf8(url) else {
        return;
    };
    let _ = fieldline_domain::query::http::QueryParams::parse(url, form);
    let now = Timestamp::from_millis(1_700_000_000_000).expect("time");
    let _ = fieldline_domain::conduit::ReadQuery::parse(url, now);
    let _ = fieldline_domain::conduit::PageCursor::parse(url);
    let _ = fieldline_domain::epts::SeriesSelection::parse_last(url);
    let _ = fieldline_domain::epts::DataQuery::parse(url);
});
