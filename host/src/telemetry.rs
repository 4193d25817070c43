//! OpenTelemetry traces, the way Spin exports them: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not, the host sends a
//! span per HTTP request, per cron tick and per MQTT message, and a client span per outbound
//! HTTP request a component makes, over OTLP/HTTP with protobuf bodies.
//!
//! - A request's W3C `traceparent` (and `tracestate`) makes its span a child of the caller's; an
//!   outbound request carries a `traceparent` naming its own client span, a child of the
//!   request's, so the trace continues downstream.
//! - Each span says which component ran, on which route, with what status, how long it took and
//!   how much of that was spent in the databases (SQLite, key-value and PostgreSQL host calls,
//!   summed).
//! - Spans never hold a request up: a finished span goes into a bounded queue
//!   ([`Config::queue`]) that one task empties in batches; when the queue is full the span is
//!   dropped and counted (`fieldline_trace_spans_total{outcome="dropped"}`).
//!
//! The spans are built as the SDK's [`SpanData`] and sent by the OpenTelemetry project's own
//! OTLP exporter (`opentelemetry-otlp`, its HTTP client over hyper), which reads the endpoint,
//! headers, timeout and compression variables itself. The SDK's tracer and batch processor are
//! not used: the processor runs its exporter on a thread of its own outside tokio (the hyper
//! client needs tokio) and reports no drops, and the host's four span shapes need nothing of the
//! tracer API.
//!
//! Without the variables nothing is set up: [`enabled`] is one atomic load, and every hook below
//! returns at once.

use crate::metrics::{metrics, SpanLabels};
use anyhow::{bail, Result};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanExporter, SpanLinks,
};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// The variables that switch traces on (either, not empty), as in Spin.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Batching, from the OpenTelemetry batch span processor's variables (same defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Spans waiting to be sent at most (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048); more are dropped.
    pub queue: usize,
    /// Spans per export request at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512).
    pub batch: usize,
    /// How long a span may wait for its batch to fill (`OTEL_BSP_SCHEDULE_DELAY`, ms, 5000).
    pub delay: Duration,
}

impl Config {
    /// The batching the variables ask for (`var` reads one); `None` when traces are off.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Config>> {
        let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            || !ENDPOINT_VARS.iter().any(|k| set(k).is_some())
        {
            return Ok(None);
        }
        for k in ENDPOINT_VARS {
            if let Some(url) = set(k) {
                if !url.trim().starts_with("http://") {
                    bail!("{k}={url}: only http:// endpoints are supported (this host has no TLS client); run a collector on the machine or the local network and point it there");
                }
            }
        }
        let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
        if let Some(p) = protocol {
            if p.trim() != "http/protobuf" {
                bail!("OTEL_EXPORTER_OTLP_PROTOCOL={p}: only http/protobuf is supported");
            }
        }
        let number = |k: &str, default: u64| -> Result<u64> {
            match set(k) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => bail!("{k}={v}: not a positive whole number"),
                },
            }
        };
        let queue = number("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?;
        let batch = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?.min(queue);
        let delay = number("OTEL_BSP_SCHEDULE_DELAY", 5000)?;
        Ok(Some(Config {
            queue: usize::try_from(queue).unwrap_or(usize::MAX),
            batch: usize::try_from(batch).unwrap_or(usize::MAX),
            delay: Duration::from_millis(delay),
        }))
    }
}

enum Message {
    Span(Box<SpanData>),
    Flush(oneshot::Sender<()>),
}

struct Pipeline {
    queue: mpsc::Sender<Message>,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

/// Whether spans are exported.
pub fn enabled() -> bool {
    PIPELINE.get().is_some()
}

/// Sets traces up from the environment, within the tokio runtime; does nothing when the
/// variables are unset. Fails on a variable it cannot honour (an `https://` endpoint, gRPC).
pub fn init() -> Result<()> {
    let Some(config) = Config::from_vars(|k| std::env::var(k).ok())? else {
        return Ok(());
    };
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none_or(|v| v.is_empty()) {
        resource = resource.with_service_name("fieldline");
    }
    exporter.set_resource(&resource.build());
    let (tx, rx) = mpsc::channel(config.queue);
    if PIPELINE.set(Pipeline { queue: tx }).is_ok() {
        tokio::spawn(export(rx, exporter, config.clone()));
        tracing::info!(
            "traces: exporting over OTLP/HTTP (queue {}, batches of {} or every {:?})",
            config.queue,
            config.batch,
            config.delay
        );
    }
    Ok(())
}

/// Sends what is queued and waits for it, at most `timeout`: before the process exits.
pub async fn flush(timeout: Duration) {
    let Some(p) = PIPELINE.get() else { return };
    let (tx, rx) = oneshot::channel();
    let _ = tokio::time::timeout(timeout, async {
        if p.queue.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    })
    .await;
}

fn count(outcome: &'static str, n: usize) {
    metrics()
        .spans
        .get_or_create(&SpanLabels { outcome })
        .inc_by(n as u64);
}

/// The queue's one reader: batches of [`Config::batch`], or what came within [`Config::delay`].
async fn export(
    mut rx: mpsc::Receiver<Message>,
    exporter: opentelemetry_otlp::SpanExporter,
    config: Config,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(config.batch);
    let mut tick = tokio::time::interval(config.delay);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let send = |batch: Vec<SpanData>| {
        let n = batch.len();
        let exporter = &exporter;
        async move {
            if n == 0 {
                return;
            }
            match exporter.export(batch).await {
                Ok(()) => count("exported", n),
                Err(e) => {
                    count("failed", n);
                    tracing::warn!("traces: {n} spans not exported: {e}");
                }
            }
        }
    };
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Span(span)) => {
                    batch.push(*span);
                    if batch.len() >= config.batch {
                        send(std::mem::take(&mut batch)).await;
                        tick.reset();
                    }
                }
                Some(Message::Flush(done)) => {
                    send(std::mem::take(&mut batch)).await;
                    let _ = done.send(());
                }
                None => {
                    send(std::mem::take(&mut batch)).await;
                    return;
                }
            },
            _ = tick.tick() => send(std::mem::take(&mut batch)).await,
        }
    }
}

/// Queues a finished span; never waits.
fn submit(span: SpanData) {
    let Some(p) = PIPELINE.get() else { return };
    if p.queue.try_send(Message::Span(Box::new(span))).is_err() {
        count("dropped", 1);
    }
}

fn scope() -> InstrumentationScope {
    static SCOPE: OnceLock<InstrumentationScope> = OnceLock::new();
    SCOPE
        .get_or_init(|| {
            InstrumentationScope::builder("fieldline")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build()
        })
        .clone()
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::try_from(key),
            http::HeaderValue::try_from(value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// The remote parent a request names in `traceparent`, if a valid one.
pub fn remote_parent(headers: &http::HeaderMap) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// Time spent in database host calls by one instance, summed (shared by its SQLite, key-value
/// and PostgreSQL states). Empty, and free, when traces are off.
#[derive(Clone, Default)]
pub struct DbClock(Option<Arc<AtomicU64>>);

impl DbClock {
    /// A clock for one instance: running only when traces are exported.
    pub fn new() -> Self {
        DbClock(enabled().then(|| Arc::new(AtomicU64::new(0))))
    }

    /// Awaits `f`, adding its time to the clock.
    pub async fn time<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let Some(total) = &self.0 else {
            return f.await;
        };
        let started = Instant::now();
        let out = f.await;
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        total.fetch_add(ns, Ordering::Relaxed);
        out
    }

    fn seconds(&self) -> Option<f64> {
        self.0
            .as_ref()
            .map(|t| t.load(Ordering::Relaxed) as f64 / 1e9)
    }
}

/// What an outbound request needs of the span of the event that makes it.
#[derive(Clone, Debug)]
pub struct Parent(SpanContext);

/// One span being recorded: a request's, a trigger event's, an outbound request's.
pub struct Span {
    context: SpanContext,
    parent: SpanId,
    parent_remote: bool,
    kind: SpanKind,
    name: Cow<'static, str>,
    start: SystemTime,
    attributes: Vec<KeyValue>,
    db: DbClock,
}

impl Span {
    /// Starts a span, a child of `parent` if given (sampled as the parent was), else the root of
    /// a new trace. `None` when traces are off.
    fn start(
        kind: SpanKind,
        name: impl Into<Cow<'static, str>>,
        parent: Option<(&SpanContext, bool)>,
        attributes: Vec<KeyValue>,
    ) -> Option<Span> {
        if !enabled() {
            return None;
        }
        let ids = RandomIdGenerator::default();
        let (trace_id, flags, state, parent_id, remote) = match parent {
            Some((p, remote)) => (
                p.trace_id(),
                p.trace_flags(),
                p.trace_state().clone(),
                p.span_id(),
                remote,
            ),
            None => (
                ids.new_trace_id(),
                TraceFlags::SAMPLED,
                TraceState::default(),
                SpanId::INVALID,
                false,
            ),
        };
        Some(Span {
            context: SpanContext::new(trace_id, ids.new_span_id(), flags, false, state),
            parent: parent_id,
            parent_remote: remote,
            kind,
            name: name.into(),
            start: SystemTime::now(),
            attributes,
            db: DbClock::default(),
        })
    }

    /// An HTTP request's span (`GET /route/...` once routed), a child of the caller's if the
    /// request says so in `traceparent`.
    pub fn http_request(
        method: &http::Method,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Option<Span> {
        if !enabled() {
            return None;
        }
        let parent = remote_parent(headers);
        Span::start(
            SpanKind::Server,
            method.to_string(),
            parent.as_ref().map(|p| (p, true)),
            vec![
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_string()),
                KeyValue::new("network.protocol.name", "http"),
            ],
        )
    }

    /// A cron tick's or MQTT message's span: the root of its own trace.
    pub fn trigger(trigger: &'static str, component: &str) -> Option<Span> {
        let (kind, name) = match trigger {
            "mqtt" => (SpanKind::Consumer, format!("mqtt {component}")),
            _ => (SpanKind::Internal, format!("{trigger} {component}")),
        };
        Span::start(
            kind,
            name,
            None,
            vec![
                KeyValue::new("fieldline.trigger", trigger),
                KeyValue::new("fieldline.component", component.to_string()),
            ],
        )
    }

    /// An outbound request's client span under `parent`, whose `traceparent` it writes into
    /// `headers` (replacing the component's own, as Spin does).
    pub fn outbound(
        parent: &Parent,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
    ) -> Option<Span> {
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("url.full", uri.to_string()),
        ];
        if let Some(host) = uri.host() {
            attributes.push(KeyValue::new("server.address", host.to_string()));
        }
        if let Some(port) = uri.port_u16() {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        let span = Span::start(
            SpanKind::Client,
            method.to_string(),
            Some((&parent.0, false)),
            attributes,
        )?;
        let cx = Context::new().with_remote_span_context(span.context.clone());
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
        Some(span)
    }

    /// What an outbound request made during this span needs to continue the trace.
    pub fn parent(&self) -> Parent {
        Parent(self.context.clone())
    }

    /// The trace id, for logs.
    pub fn trace_id(&self) -> TraceId {
        self.context.trace_id()
    }

    /// Names the component and route the request matched (`GET /api/v1/...`).
    pub fn routed(&mut self, component: &str, route: &str) {
        self.name = format!("{} {route}", self.name).into();
        self.attributes
            .push(KeyValue::new("fieldline.component", component.to_string()));
        self.attributes
            .push(KeyValue::new("http.route", route.to_string()));
    }

    /// Follows the instance that serves this span: its database time goes into the span at the
    /// end (see [`DbClock`]), its outbound requests become children of the span.
    pub fn watch(&mut self, ctx: &mut crate::state::Ctx) {
        self.db = ctx.sqlite.clock.clone();
        ctx.outbound.trace = Some(self.parent());
    }

    pub fn attribute(&mut self, kv: KeyValue) {
        self.attributes.push(kv);
    }

    /// Ends an HTTP span (server or client) with the response's status; 5xx are errors
    /// (4xx too for a client span), as the semantic conventions say.
    pub fn end_http(mut self, status: u16) {
        self.attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        let failed = status >= 500 || (self.kind == SpanKind::Client && status >= 400);
        let outcome = if failed {
            self.attributes
                .push(KeyValue::new("error.type", status.to_string()));
            Status::error("")
        } else {
            Status::Unset
        };
        self.end(outcome);
    }

    /// Ends a span with `error` as its outcome (`None`: success).
    pub fn end_result(mut self, error: Option<&str>) {
        let outcome = match error {
            Some(e) => {
                self.attributes
                    .push(KeyValue::new("error.type", "component"));
                Status::error(e.to_string())
            }
            None => Status::Ok,
        };
        self.end(outcome);
    }

    fn end(mut self, status: Status) {
        if !self.context.is_sampled() {
            return;
        }
        let end = SystemTime::now();
        if let Some(db) = self.db.seconds() {
            self.attributes
                .push(KeyValue::new("fieldline.db.duration", db));
        }
        let duration = end.duration_since(self.start).unwrap_or_default();
        self.attributes
            .push(KeyValue::new("fieldline.duration", duration.as_secs_f64()));
        submit(SpanData {
            span_context: self.context,
            parent_span_id: self.parent,
            parent_span_is_remote: self.parent_remote,
            span_kind: self.kind,
            name: self.name,
            start_time: self.start,
            end_time: end,
            attributes: self.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<Config>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|k| vars.get(k).cloned())
    }

    #[test]
    fn traces_are_off_without_an_endpoint_or_when_disabled() {
        assert_eq!(config(&[]).unwrap(), None);
        assert_eq!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap(),
            None
        );
        assert_eq!(
            config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ])
            .unwrap(),
            None
        );
    }

    #[test]
    fn either_endpoint_variable_turns_them_on_with_the_batch_processor_defaults() {
        for var in ENDPOINT_VARS {
            let c = config(&[(var, "http://127.0.0.1:4318")]).unwrap().unwrap();
            assert_eq!(
                c,
                Config {
                    queue: 2048,
                    batch: 512,
                    delay: Duration::from_secs(5)
                }
            );
        }
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.queue, c.batch), (100, 100), "a batch fits the queue");
        assert_eq!(c.delay, Duration::from_millis(200));
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        for (vars, needle) in [
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT=https://collector:4318",
            ),
            (
                vec![
                    (
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                        "http://127.0.0.1:4317",
                    ),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ],
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
            ),
            (
                vec![
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                    ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
                ],
                "OTEL_BSP_SCHEDULE_DELAY=soon",
            ),
        ] {
            let e = config(&vars).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn a_traceparent_is_read_and_a_bad_one_ignored() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        let p = remote_parent(&h).expect("a parent");
        assert_eq!(p.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(p.span_id().to_string(), "b7ad6b7169203331");
        assert!(p.is_remote() && p.is_sampled());
        h.insert("traceparent", "00-zz-b7ad6b7169203331-01".parse().unwrap());
        assert!(remote_parent(&h).is_none());
        assert!(remote_parent(&http::HeaderMap::new()).is_none());
    }

    #[tokio::test]
    async fn a_clock_off_costs_nothing_and_a_clock_on_sums_its_calls() {
        let off = DbClock::default();
        assert_eq!(off.time(async { 7 }).await, 7);
        assert_eq!(off.seconds(), None);
        let on = DbClock(Some(Arc::new(AtomicU64::new(0))));
        for _ in 0..2 {
            on.time(tokio::time::sleep(Duration::from_millis(5))).await;
        }
        let s = on.seconds().expect("running");
        assert!(s >= 0.010, "{s}");
    }
}
