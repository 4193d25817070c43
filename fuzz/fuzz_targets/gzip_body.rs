//! Request bodies with `Content-Encoding: gzip` (Conduit, `/write`): inflated within a bound.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fieldline_http::inflate(data, Some("gzip"), 1 << 20);
});
