//! The host's `spin.toml` manifest and its runtime config (`--runtime-config-file`): the same
//! text read as either, as `fieldline up` reads them.
#![no_main]
use std::path::Path;

use fieldline_host_config::runtime_config::RuntimeConfig;
use fieldline_host_config::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Manifest::parse(text, Path::new("/fuzz/spin.toml"));
    let _ = RuntimeConfig::parse(
        text,
        "runtime-config.toml",
        Path::new("/fuzz"),
        Path::new("/fuzz"),
    );
});
