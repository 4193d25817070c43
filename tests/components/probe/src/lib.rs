//! Test fixture: one HTTP component whose routes each exercise a single host capability, so
//! that the integration tests can check the host's behaviour (and limits) from inside a guest.

mod api;

use spin_sdk::http::{Method, Request, Response, Router};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> Response {
    // Benchmarks use this route to time the host alone, so it answers before the router is built.
    if req.path() == "/probe/const" && *req.method() == Method::Get {
        return Response::new(200, "ok");
    }
    let mut router = Router::new();
    router.get("/probe/const", api::constant);
    router.post("/probe/insert32", api::insert32);
    router.get("/probe/count", api::count);
    router.get("/probe/trap", api::trap);
    router.get("/probe/loop", api::spin_forever);
    router.get("/probe/kv", api::key_value);
    router.get("/probe/sqlite", api::sqlite);
    router.get("/probe/var", api::variable);
    router.get("/probe/env", api::env);
    router.get("/probe/headers", api::headers);
    router.get("/probe/headers/*", api::headers);
    router.get_async("/probe/outbound", api::outbound);
    router.get("/probe/file", api::file);
    router.post("/probe/echo", api::echo);
    router.get("/probe/mqtt", api::mqtt);
    router.post("/probe/tx", api::transaction);
    router.handle_async(req).await
}
