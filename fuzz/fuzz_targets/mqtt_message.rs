//! A Conduit MQTT message: the topic (`{token}/{id}/publish/v4`, `.../0/data`,
//! `.../{channel}/data`) and the payload its kind decodes. Input: topic, a NUL byte, payload.
#![no_main]
use fieldline_domain::conduit::Topic;
use fieldline_domain::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(topic) = std::str::from_utf8(topic) else {
        return;
    };
    if let Ok(t) = Topic::parse(topic) {
        let now = Timestamp::from_millis(1_700_000_000_000).expect("time");
        let _ = t.kind.decode(payload, now);
    }
});
