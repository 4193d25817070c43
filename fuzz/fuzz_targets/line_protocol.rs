//! InfluxDB line protocol (`POST /write`), in every precision, bounded as `/write` bounds it.
#![no_main]
use fieldline_domain::line_protocol::{self, Precision};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&p, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let precision = ["ns", "u", "ms", "s", "m", "h"][usize::from(p) % 6];
    let precision = Precision::parse(precision).expect("precision");
    let _ = line_protocol::parse(body, precision, 1_700_000_000_000_000_000);
});
