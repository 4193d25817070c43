//! The Sensorbis device push packet (`POST /V0100/push/{deviceId}`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fieldline_domain::sensorbis::PushPacket::parse(data);
});
