//! Credentials as clients send them: the `Authorization` header (Basic, Bearer, Token), access
//! JWTs, and token secrets (`flc_...`).
#![no_main]
use fieldline_domain::{JwtKey, Timestamp, TokenSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = fieldline_http::authorization(Some(text));
    let _ = fieldline_http::client_ip(Some(text));
    let _ = TokenSecret::parse(text);
    let key = JwtKey::from_secret(b"fuzz-secret-0123456789abcdef-0123456789abcdef").expect("key");
    let now = Timestamp::from_millis(1_700_000_000_000).expect("time");
    let _ = key.verify(text, now);
});
