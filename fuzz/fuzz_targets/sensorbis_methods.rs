//! The Sensorbis management methods' request bodies, read field by field by the component's own
//! `fields.rs` (included as is; its error type, which the component turns into a Spin response,
//! is replaced by the same struct without the response).
#![no_main]
use libfuzzer_sys::fuzz_target;

mod error {
    #[derive(Debug)]
    #[allow(dead_code)]
    pub struct SbError {
        pub code: u16,
        pub message: String,
    }
    impl SbError {
        pub fn new(code: u16, message: impl Into<String>) -> Self {
            SbError {
                code,
                message: message.into(),
            }
        }
        pub fn bad_request(message: impl Into<String>) -> Self {
            SbError::new(400, message)
        }
    }
    pub type SbResult<T> = Result<T, SbError>;
}

#[allow(dead_code)]
#[path = "../../functions/sensorbis/src/fields.rs"]
mod fields;

use fields::Obj;

fn walk(o: &Obj<'_>) -> error::SbResult<()> {
    for name in ["device", "federation"] {
        if let Some(d) = o.object(name)? {
            let _ = fields::device_fields(&d, None, true);
            let _ = d.string("id");
        }
    }
    for d in o.array("devices", false)? {
        let _ = fields::device_fields(&d, None, false);
        for s in d.array("sensors", false)? {
            let _ = fields::sensor_fields(&s);
            for c in s.array("channels", false)? {
                let _ = fields::communication_id(&c);
                let _ = fields::channel_fields(&c, None);
            }
        }
    }
    if let Some(s) = o.object("sensor")? {
        let _ = fields::sensor_fields(&s);
    }
    for c in o.array("channels", false)? {
        let _ = fields::channel_fields(&c, None);
    }
    if let Some(c) = o.object("channel")? {
        let _ = fields::communication_id(&c);
        let _ = fields::channel_fields(&c, None);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(root) = Obj::root(&v) {
        let _ = walk(&root);
    }
});
