//! Host bindings for the Spin interfaces beyond WASI (one `bindgen!` over `wit/`), and the guest
//! worlds of the cron and MQTT trigger plugins.
//!
//! Every custom interface the host *implements* is in the one `imports` world below. The two
//! trigger worlds cannot join it: `bindgen!` binds exactly one world per invocation, and a world's
//! generated `*Pre::new` looks up every export of that world, failing for a component that lacks
//! one, while a cron component exports only `handle-cron-event` and an MQTT component only
//! `handle-message`. A combined world would make every trigger component export both (and the two
//! worlds' `use`d `error` and `metadata` types would collide by name). Importing only the trigger
//! *types* here and calling the exports by hand (`get_export_index`, `get_typed_func`,
//! `call_async`) would replace generated, type-checked code with a hand-written copy of it; so
//! each export world keeps its own small `bindgen!`.
//!
//! `app.rs` links each interface of `imports` on its own, against a [`View`] of its capability's
//! state (variables: against the component's variables), so that each `Host` impl sees that state
//! rather than the whole store.

use std::marker::PhantomData;
use wasmtime::component::{HasData, ResourceTable};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "fieldline:host/imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::kv::StoreHandle,
        "fermyon:spin/sqlite.connection": crate::sqlite::ConnectionHandle,
        "fermyon:spin/mqtt.connection": crate::mqtt::ConnectionHandle,
        "spin:postgres/postgres.connection": crate::postgres::ConnectionHandle,
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
/// `spin:postgres/postgres@4.0.0`.
pub use spin::postgres::postgres as pg;

/// What the `Host` impl of a capability with resources works on: the capability's state, and the
/// store's resource table, which holds the handles it gives out beside WASI's, as wasmtime-wasi's
/// own views share it.
pub struct View<'a, S> {
    pub state: &'a S,
    pub table: &'a mut ResourceTable,
}

/// The [`HasData`] that links an interface against a [`View`] of state `S`.
pub struct WithTable<S>(PhantomData<fn() -> S>);

impl<S: 'static> HasData for WithTable<S> {
    type Data<'a> = View<'a, S>;
}
