//! Conduit `POST /post/v1`: the form-encoded body with its hex byte array, and the hex itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fieldline_domain::conduit::parse_v1(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fieldline_domain::conduit::decode_v1_data(text);
    }
});
