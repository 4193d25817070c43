//! Conduit `POST /post/v2`: the JSON body, its channel values, and MQTT's bulk values.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fieldline_domain::conduit::parse_v2(data);
    let _ = fieldline_domain::conduit::parse_values_json(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fieldline_domain::conduit::parse_channel_value(text);
    }
});
