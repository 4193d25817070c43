//! Test fixture: a streamed response, as the export component sends one, for the host's
//! deadline tests. `GET /stream/...?chunks=N&pause_ms=M&then=E` sets a 200 response, writes
//! `N` lines (`chunk 0\n`, `chunk 1\n`, ...) with `M` ms between them, and then:
//! - `end`: finishes the body;
//! - `stall`: waits on the host forever (a sleep);
//! - `spin`: computes forever;
//! - `drop`: returns with the body unfinished.

use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use std::time::Duration;

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let query = req
        .path_with_query()
        .and_then(|p| p.split_once('?').map(|(_, q)| q.to_owned()))
        .unwrap_or_default();
    let chunks: u32 = param(&query, "chunks")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let pause = Duration::from_millis(
        param(&query, "pause_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let then = param(&query, "then").unwrap_or_else(|| "end".into());
    let resp = OutgoingResponse::new(Fields::new());
    let _ = resp.set_status_code(200);
    let Ok(body) = resp.body() else { return };
    let Ok(stream) = body.write() else { return };
    out.set(resp);
    for i in 0..chunks {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if stream
            .blocking_write_and_flush(format!("chunk {i}\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
    match then.as_str() {
        "stall" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "spin" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "drop" => {}
        _ => {
            drop(stream);
            let _ = OutgoingBody::finish(body, None);
        }
    }
}
