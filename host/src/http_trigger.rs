//! The HTTP trigger: serves the application's routes, a fresh instance per request, with Spin's
//! request headers, a bounded number of requests in flight, bounded bodies, a deadline, one log
//! line per request, and graceful shutdown.
//!
//! Slow clients cannot starve the others. A request's headers must arrive within
//! [`Limits::header_timeout`] and its body within [`Limits::body_timeout`], and the body is read
//! into memory *before* the request takes one of the [`Limits::max_concurrent`] slots: a client
//! sending a byte a second holds a connection and a task, never a slot that others wait for.
//! Bodies held at once are bounded by [`Limits::max_buffered_bytes`], connections by
//! [`Limits::max_connections`] (more wait in the listen backlog).

use crate::app::App;
use crate::deadline::Deadline;
use crate::metrics::{
    recording, strip_points, ComponentLabels, InFlight, RequestLabels, RouteLabels,
};
use crate::telemetry::Span;
use anyhow::Result;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

/// Serving limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests handled at once; more wait for a slot.
    pub max_concurrent: usize,
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Request bodies held in memory at once, in bytes; a request whose body would exceed it
    /// waits while it reads. At least `max_body_bytes` (raised to it), so any one body fits.
    pub max_buffered_bytes: usize,
    /// Connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// How long a request's headers may take to arrive (also how long an idle keep-alive
    /// connection stays open); the connection is closed after it.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive once its headers have: 408 after it.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent: 256,
            max_body_bytes: 16 << 20,
            max_buffered_bytes: 256 << 20,
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// The labels of requests that matched no route (404s, `/.well-known/spin/...`): empty, which
/// Prometheus reads as absent.
static UNROUTED: std::sync::LazyLock<RouteLabels> = std::sync::LazyLock::new(|| RouteLabels {
    component: "".into(),
    route: "".into(),
});

/// The unit in which [`Limits::max_buffered_bytes`] is handed out.
const BUFFER_UNIT: usize = 1024;

struct Server {
    app: Arc<App>,
    limits: Limits,
    slots: Semaphore,
    buffers: Arc<Semaphore>,
    local: SocketAddr,
}

/// Why a request body could not be read.
enum BodyError {
    TooLarge,
    TimedOut,
    Broken(hyper::Error),
}

impl Server {
    /// Reads a request body whole, within the body deadline and the size limit, holding a share
    /// of the buffer budget for every byte it keeps (released when the request is answered).
    async fn read_body(
        &self,
        mut incoming: Incoming,
    ) -> Result<(Bytes, Vec<OwnedSemaphorePermit>), BodyError> {
        let read = async {
            let mut data = bytes::BytesMut::new();
            let mut held = Vec::new();
            let mut reserved = 0usize;
            while let Some(frame) = incoming.frame().await {
                let frame = frame.map_err(BodyError::Broken)?;
                let Ok(chunk) = frame.into_data() else {
                    continue; // trailers: a guest of Spin's HTTP trigger never sees them
                };
                if data.len() + chunk.len() > self.limits.max_body_bytes {
                    return Err(BodyError::TooLarge);
                }
                let needed = (data.len() + chunk.len()).div_ceil(BUFFER_UNIT);
                if needed > reserved {
                    let more = u32::try_from(needed - reserved).unwrap_or(u32::MAX);
                    let permit = self
                        .buffers
                        .clone()
                        .acquire_many_owned(more)
                        .await
                        .expect("the buffer semaphore is never closed");
                    held.push(permit);
                    reserved = needed;
                }
                data.extend_from_slice(&chunk);
            }
            Ok((data.freeze(), held))
        };
        tokio::time::timeout(self.limits.body_timeout, read)
            .await
            .unwrap_or(Err(BodyError::TimedOut))
    }
}

fn body(text: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn status(code: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    let mut r = Response::new(body(text));
    *r.status_mut() = code;
    r
}

impl Server {
    async fn handle(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let mut span = Span::http_request(&method, &path, req.headers());
        let mut routed = None;
        let mut response = self.route(req, client, &mut routed, &mut span).await;
        if let Some(mut span) = span {
            if let Some(r) = &routed {
                span.routed(&r.component, &r.route);
            }
            span.end_http(response.status().as_u16());
        }
        let labels = routed.unwrap_or_else(|| UNROUTED.clone());
        if let Some(m) = recording() {
            m.take_points(&labels.component, &labels.route, response.headers_mut());
            m.requests
                .get_or_create(&RequestLabels {
                    component: labels.component,
                    route: labels.route,
                    status: response.status().as_u16(),
                })
                .observe(started.elapsed().as_secs_f64());
        } else {
            strip_points(response.headers_mut());
        }
        tracing::info!(
            target: "fieldline::request",
            "{method} {path} {} {:.2}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        response
    }

    /// Answers a request; sets `routed` to its component and route once it has matched one, and
    /// lets `span` follow the instance that serves it.
    async fn route(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
        routed: &mut Option<RouteLabels>,
        span: &mut Option<Span>,
    ) -> Response<HyperOutgoingBody> {
        let path = req.uri().path().to_string();
        if let Some(which) = path.strip_prefix("/.well-known/spin/") {
            return match which {
                "health" => Response::new(body("OK")),
                "info" => {
                    let info = serde_json::json!({
                        "name": self.app.manifest.application.name,
                        "version": self.app.manifest.application.version,
                        "host": format!("fieldline {}", env!("CARGO_PKG_VERSION")),
                    });
                    let mut r =
                        Response::new(body(serde_json::to_vec_pretty(&info).unwrap_or_default()));
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/json"));
                    r
                }
                _ => status(StatusCode::NOT_FOUND, ""),
            };
        }
        let Some(m) = self.app.router.route(&path) else {
            return status(StatusCode::NOT_FOUND, "");
        };
        *routed = Some(RouteLabels::from(m.labels));
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body_bytes) {
            return status(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }
        let (mut parts, incoming) = req.into_parts();
        let (data, _buffered) = match self.read_body(incoming).await {
            Ok(x) => x,
            Err(BodyError::TooLarge) => {
                tracing::info!(
                    "{}: request body over {} bytes; answered 413",
                    m.component,
                    self.limits.max_body_bytes
                );
                return status(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
            }
            Err(BodyError::TimedOut) => {
                tracing::info!(
                    "{}: request body not received within {:?}; answered 408",
                    m.component,
                    self.limits.body_timeout
                );
                let mut r = status(StatusCode::REQUEST_TIMEOUT, "request body too slow\n");
                r.headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
            Err(BodyError::Broken(e)) => {
                tracing::debug!("{}: request body unreadable: {e}", m.component);
                return status(StatusCode::BAD_REQUEST, "");
            }
        };
        let Ok(_slot) = self.slots.acquire().await else {
            return status(StatusCode::SERVICE_UNAVAILABLE, "");
        };
        let component = match self.app.component(m.component) {
            Ok(c) => c,
            Err(_) => return status(StatusCode::INTERNAL_SERVER_ERROR, ""),
        };
        let Some(proxy) = self.app.proxy(component).cloned() else {
            return status(StatusCode::INTERNAL_SERVER_ERROR, "");
        };

        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| self.local.to_string());
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let full_url = format!("http://{host}{path_and_query}");
        let mut spin_headers: Vec<(String, String)> = vec![
            ("spin-full-url".into(), full_url.clone()),
            ("spin-path-info".into(), m.path_info.clone()),
            ("spin-matched-route".into(), m.matched_route.to_string()),
            ("spin-base-path".into(), "/".into()),
            ("spin-raw-component-route".into(), m.raw_route.to_string()),
            ("spin-component-route".into(), m.component_route.clone()),
            ("spin-client-addr".into(), client.to_string()),
        ];
        for (name, value) in &m.params {
            spin_headers.push((
                format!("spin-path-match-{}", name.to_ascii_lowercase()),
                value.clone(),
            ));
        }
        for (k, v) in spin_headers {
            if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(k), HeaderValue::try_from(v)) {
                parts.headers.insert(k, v);
            }
        }
        if parts.uri.authority().is_none() {
            if let Ok(uri) = full_url.parse() {
                parts.uri = uri;
            }
        }
        let body = Full::new(data).map_err(|never| -> wasmtime_wasi_http::Error { match never {} });
        let req = Request::from_parts(parts, body);

        let mut store = self.app.store(component);
        let deadline = Deadline::new(self.app.options.request_timeout);
        deadline.watch(&mut store);
        if let Some(span) = span {
            span.watch(store.data_mut());
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = (|| -> wasmtime::Result<_> {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, req)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((req, out))
        })();
        let (wasi_req, out) = match prepared {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("bad request to {}: {e:#}", m.component);
                return status(StatusCode::BAD_REQUEST, "");
            }
        };
        let id = m.component.to_string();
        let instantiated = recording().map(|m| {
            m.instantiation
                .get_or_create(&ComponentLabels {
                    component: id.clone(),
                })
                .clone()
        });
        let watching = deadline.clone();
        let task = tokio::spawn(async move {
            let _running = InFlight::start("http");
            let run = async {
                let started = Instant::now();
                let proxy = proxy.instantiate_async(&mut store).await?;
                if let Some(h) = &instantiated {
                    h.observe(started.elapsed().as_secs_f64());
                }
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, wasi_req, out)
                    .await
            };
            let result = watching.run(run).await;
            drop(store);
            if let Err(e) = &result {
                tracing::error!("component {id} failed: {e:?}");
            }
            result
        });
        let answer = receiver.await;
        match answer {
            Ok(Ok(resp)) => {
                deadline.moved();
                resp.map(|b| deadline.body(b))
            }
            Ok(Err(code)) => {
                tracing::error!("component {} answered with an error: {code:?}", m.component);
                status(StatusCode::INTERNAL_SERVER_ERROR, "")
            }
            Err(_) => {
                // A failed run is logged by its task.
                match task.await {
                    Ok(Ok(())) => tracing::error!(
                        "component {} failed: returned without setting a response",
                        m.component
                    ),
                    Ok(Err(_)) => {}
                    Err(e) => tracing::error!("component {} failed: {e}", m.component),
                }
                status(StatusCode::INTERNAL_SERVER_ERROR, "")
            }
        }
    }
}

/// Binds the listener (so callers learn the port before serving).
pub async fn bind(listen: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))
}

/// Serves until `shutdown` resolves, then waits (bounded) for requests in flight.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let local = listener.local_addr()?;
    let max_buffered = limits.max_buffered_bytes.max(limits.max_body_bytes);
    let units = max_buffered
        .div_ceil(BUFFER_UNIT)
        .min(Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let server = Arc::new(Server {
        app,
        slots: Semaphore::new(limits.max_concurrent),
        buffers: Arc::new(Semaphore::new(units)),
        limits,
        local,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Waits for a free connection before accepting: past the limit, clients wait in the
        // kernel's backlog instead of costing a task each.
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p.expect("the connection semaphore is never closed"),
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, client) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(server.limits.header_timeout)
                    .keep_alive(true)
                    .serve_connection(
                        TokioIo::new(stream),
                        hyper::service::service_fn(move |req| {
                            let server = server.clone();
                            async move { Ok::<_, std::convert::Infallible>(server.handle(req, client).await) }
                        }),
                    );
                let conn = graceful.watch(conn);
                let open = recording().map(|m| m.connections.clone());
                if let Some(open) = &open {
                    open.inc();
                }
                tokio::spawn(async move {
                    let result = conn.await;
                    if let Some(open) = &open {
                        open.dec();
                    }
                    if let Err(e) = result {
                        tracing::debug!("connection from {client}: {e}");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(std::time::Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 10s; stopping anyway");
    }
    Ok(())
}
