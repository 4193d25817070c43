//! Host bindings for the Spin interfaces beyond WASI (one `bindgen!` over `wit/`), and the cron
//! trigger plugin's guest world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "fieldline:host/imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::kv::StoreHandle,
        "fermyon:spin/sqlite.connection": crate::sqlite::ConnectionHandle,
        "fermyon:spin/mqtt.connection": crate::mqtt::ConnectionHandle,
    },
});

/// The world of spin-trigger-cron guests (`fermyon:spin-cron@2.0.0`).
pub mod cron {
    wasmtime::component::bindgen!({
        path: "../wit/deps/spin-cron",
        world: "spin-cron",
        exports: { default: async },
    });
}

/// The world of spin-trigger-mqtt guests (`spin:mqtt-trigger`).
pub mod mqtt_trigger {
    wasmtime::component::bindgen!({
        path: "../wit/deps/spin-mqtt-trigger",
        world: "spin-mqtt",
        exports: { default: async },
    });
}

pub use fermyon::spin::{key_value, mqtt, sqlite, variables};
