//! Test fixture: one HTTP component whose routes each exercise a single host capability, so
//! that the integration tests can check the host's behaviour (and limits) from inside a guest.

mod api;

use spin_sdk::http::{Method, Request, Response, Router};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> Response {
    // Benchmarks use this route to time the host alone, so it answers before the router is built.
    if req.path().ends_with("/const") && *req.method() == Method::Get {
        return Response::new(200, "ok");
    }
    // Routed on the part after the manifest route, so the same probe works under any route.
    let mut router = Router::suffix();
    router.get("/const", api::constant);
    router.post("/insert32", api::insert32);
    router.get("/count", api::count);
    router.get("/trap", api::trap);
    router.get("/loop", api::spin_forever);
    router.get("/kv", api::key_value);
    router.get("/sqlite", api::sqlite);
    router.get("/var", api::variable);
    router.get("/env", api::env);
    router.get("/headers", api::headers);
    router.get("/headers/*", api::headers);
    router.get_async("/outbound", api::outbound);
    router.get("/file", api::file);
    router.post("/echo", api::echo);
    router.get("/mqtt", api::mqtt);
    router.post("/tx", api::transaction);
    router.get("/sleep", api::sleep);
    router.get("/leftover", api::leftover);
    router.handle_async(req).await
}
