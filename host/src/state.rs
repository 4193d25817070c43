//! The per-instance store data: WASI, wasi:http, and each Spin capability's state, with the views
//! through which each capability's `Host` impl sees its part of it.

use crate::bindings::View;
use crate::kv::KvState;
use crate::mqtt::MqttState;
use crate::outbound_http::OutboundHttp;
use crate::postgres::PgState;
use crate::sqlite::SqliteState;
use crate::variables::ComponentVariables;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct Ctx {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound: OutboundHttp,
    pub kv: KvState,
    pub sqlite: SqliteState,
    pub mqtt: MqttState,
    pub postgres: PgState,
    pub variables: Arc<ComponentVariables>,
    pub limits: StoreLimits,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

impl Ctx {
    pub fn kv_view(&mut self) -> View<'_, KvState> {
        View {
            state: &self.kv,
            table: &mut self.table,
        }
    }

    pub fn sqlite_view(&mut self) -> View<'_, SqliteState> {
        View {
            state: &self.sqlite,
            table: &mut self.table,
        }
    }

    pub fn mqtt_view(&mut self) -> View<'_, MqttState> {
        View {
            state: &self.mqtt,
            table: &mut self.table,
        }
    }

    pub fn postgres_view(&mut self) -> View<'_, PgState> {
        View {
            state: &self.postgres,
            table: &mut self.table,
        }
    }

    pub fn variables_view(&mut self) -> &ComponentVariables {
        &self.variables
    }
}
