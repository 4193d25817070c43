//! The per-instance store data: WASI, wasi:http, and each Spin capability's state.

use crate::bindings::variables::{self, Error as VarError};
use crate::kv::KvState;
use crate::mqtt::MqttState;
use crate::outbound_http::OutboundHttp;
use crate::sqlite::SqliteState;
use crate::variables::{ComponentVariables, GetError};
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

impl variables::Host for Ctx {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, VarError>> {
        Ok(self.variables.get(&name).map_err(|e| match e {
            GetError::InvalidName(m) => VarError::InvalidName(m),
            GetError::Undefined(m) => VarError::Undefined(m),
            GetError::Provider(m) => VarError::Provider(m),
            GetError::Other(m) => VarError::Other(m),
        }))
    }
}
