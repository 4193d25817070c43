//! OTLP traces (docs/operations.md, "Traces"): the host, with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
//! sends its spans to a small OTLP/HTTP receiver run here, which decodes each export with the
//! OpenTelemetry project's generated messages (`opentelemetry-proto`) and also plays the
//! downstream server of a component's outbound request.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldline_tests::{client, metric, scrape, Start, TestHost};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// What the receiver got: every span (with its resource's `service.name`), and the headers of
/// every other request (the outbound calls it answered).
#[derive(Default)]
struct Seen {
    spans: Vec<(String, Span)>,
    exports: usize,
    downstream: Vec<HashMap<String, String>>,
}

/// An OTLP/HTTP receiver on a port of 3500-3599 (this work's range), serving until the test
/// process ends. `stall`: it takes connections and never answers (a collector that hangs).
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

fn bind_in_range() -> TcpListener {
    (3500..3600)
        .find_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
        .expect("a free port in 3500-3599")
}

impl Receiver {
    fn start(stall: bool) -> Receiver {
        let listener = bind_in_range();
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(serve(listener, record, stall));
        });
        Receiver { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits (20 s at most) for a span that `pick` chooses.
    fn span(&self, what: &str, pick: impl Fn(&Span) -> bool) -> Span {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, s)) = self
                .seen
                .lock()
                .expect("the receiver's record")
                .spans
                .iter()
                .find(|(_, s)| pick(s))
            {
                return s.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no span for {what}; got:\n{}",
                self.names()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spans(&self, pick: impl Fn(&Span) -> bool) -> Vec<Span> {
        let seen = self.seen.lock().expect("the receiver's record");
        seen.spans
            .iter()
            .filter(|(_, s)| pick(s))
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn names(&self) -> String {
        let seen = self.seen.lock().expect("the receiver's record");
        seen.spans
            .iter()
            .map(|(_, s)| format!("  {} trace {}", s.name, hex(&s.trace_id)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn serve(listener: TcpListener, seen: Arc<Mutex<Seen>>, stall: bool) {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let mut held = Vec::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if stall {
            held.push(stream); // read nothing, answer nothing
            continue;
        }
        let seen = seen.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let headers: HashMap<String, String> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut resp = hyper::Response::new(Full::new(bytes::Bytes::new()));
                        if path == "/v1/traces" {
                            let typed = headers.get("content-type").map(String::as_str);
                            assert_eq!(typed, Some("application/x-protobuf"), "OTLP/HTTP protobuf");
                            let export = ExportTraceServiceRequest::decode(body)
                                .expect("an ExportTraceServiceRequest");
                            let mut seen = seen.lock().expect("the receiver's record");
                            seen.exports += 1;
                            for rs in export.resource_spans {
                                let service = rs
                                    .resource
                                    .as_ref()
                                    .and_then(|r| attr(&r.attributes, "service.name"))
                                    .and_then(|v| text(&v))
                                    .unwrap_or_default();
                                for ss in rs.scope_spans {
                                    for s in ss.spans {
                                        seen.spans.push((service.clone(), s));
                                    }
                                }
                            }
                            *resp.body_mut() = Full::new(
                                ExportTraceServiceResponse::default().encode_to_vec().into(),
                            );
                            resp.headers_mut().insert(
                                "content-type",
                                hyper::header::HeaderValue::from_static("application/x-protobuf"),
                            );
                        } else {
                            seen.lock()
                                .expect("the receiver's record")
                                .downstream
                                .push(headers);
                            *resp.body_mut() = Full::new("downstream".into());
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<Any> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone())
}

fn text(v: &Any) -> Option<String> {
    match v {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn s_attr(s: &Span, key: &str) -> String {
    attr(&s.attributes, key)
        .and_then(|v| text(&v))
        .unwrap_or_else(|| panic!("span {} has no text {key}: {:?}", s.name, s.attributes))
}

fn path_of(s: &Span) -> Option<String> {
    attr(&s.attributes, "url.path").and_then(|v| text(&v))
}

fn i_attr(s: &Span, key: &str) -> i64 {
    match attr(&s.attributes, key) {
        Some(Any::IntValue(i)) => i,
        other => panic!("span {} has no integer {key}: {other:?}", s.name),
    }
}

fn f_attr(s: &Span, key: &str) -> f64 {
    match attr(&s.attributes, key) {
        Some(Any::DoubleValue(f)) => f,
        other => panic!("span {} has no number {key}: {other:?}", s.name),
    }
}

fn kind(s: &Span) -> SpanKind {
    SpanKind::try_from(s.kind).unwrap_or(SpanKind::Unspecified)
}

fn status(s: &Span) -> StatusCode {
    s.status
        .as_ref()
        .and_then(|st| StatusCode::try_from(st.code).ok())
        .unwrap_or(StatusCode::Unset)
}

fn get(h: &TestHost, path: &str, traceparent: Option<&str>) -> (u16, String) {
    let mut req = client().get(h.url(path));
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let r = req.send().expect("request");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// Publishes one QoS 1 message to the shared broker (127.0.0.1:1883) and waits for its PUBACK.
fn publish(topic: &str, payload: &str) {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let id = format!("fieldline-traces-{}", std::process::id());
    let (publisher, mut conn) = Client::new(MqttOptions::new(id, "127.0.0.1", 1883), 10);
    publisher
        .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes())
        .expect("publish");
    for e in conn.iter() {
        if let Event::Incoming(Packet::PubAck(_)) = e.expect("broker reachable on 127.0.0.1:1883") {
            break;
        }
    }
}

#[test]
fn spans_reach_an_otlp_receiver_in_the_callers_trace_and_continue_downstream() {
    let rx = Receiver::start(false);
    let h = Start::fixtures()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.url())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start()
        .expect("host starts");

    // A request naming its caller's span in `traceparent`: its span is that span's child.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let (st, body) = get(
        &h,
        "/probe/sqlite?db=default",
        Some(&format!("00-{trace}-{caller}-01")),
    );
    assert_eq!(st, 200, "{body}");
    let s = rx.span("the request", |s| hex(&s.trace_id) == trace);
    assert_eq!(kind(&s), SpanKind::Server);
    assert_eq!(
        hex(&s.parent_span_id),
        caller,
        "the caller's span is the parent"
    );
    assert_eq!(s.name, "GET /probe/...");
    assert_eq!(s_attr(&s, "fieldline.component"), "probe");
    assert_eq!(s_attr(&s, "http.route"), "/probe/...");
    assert_eq!(s_attr(&s, "http.request.method"), "GET");
    assert_eq!(s_attr(&s, "url.path"), "/probe/sqlite");
    assert_eq!(i_attr(&s, "http.response.status_code"), 200);
    let (db, total) = (
        f_attr(&s, "fieldline.db.duration"),
        f_attr(&s, "fieldline.duration"),
    );
    assert!(db > 0.0 && db < total, "database time {db} within {total}");
    assert!(s.end_time_unix_nano > s.start_time_unix_nano);
    assert_ne!(status(&s), StatusCode::Error);

    // An outbound request: a client span under the request's, whose traceparent goes along.
    let trace2 = "0af7651916cd43dd8448eb211c80319c";
    let downstream = format!("http://127.0.0.1:{}/downstream", rx.port);
    let (st, body) = get(
        &h,
        &format!("/probe/outbound?url={downstream}"),
        Some(&format!("00-{trace2}-b7ad6b7169203331-01")),
    );
    assert_eq!((st, body.as_str()), (200, "status=200 body=downstream"));
    let server = rx.span("the outbound request's request", |s| {
        hex(&s.trace_id) == trace2 && kind(s) == SpanKind::Server
    });
    let call = rx.span("the outbound call", |s| {
        hex(&s.trace_id) == trace2 && kind(s) == SpanKind::Client
    });
    assert_eq!(
        call.parent_span_id, server.span_id,
        "the call is the request's child"
    );
    assert_eq!(s_attr(&call, "url.full"), downstream);
    assert_eq!(i_attr(&call, "http.response.status_code"), 200);
    let sent = rx
        .seen
        .lock()
        .expect("the receiver's record")
        .downstream
        .clone();
    let traceparents: Vec<&str> = sent
        .iter()
        .filter_map(|h| h.get("traceparent").map(String::as_str))
        .collect();
    assert_eq!(
        traceparents,
        vec![format!("00-{trace2}-{}-01", hex(&call.span_id)).as_str()],
        "the downstream server is told the call's span"
    );

    // No traceparent: a trace of its own. A trap: the span is an error, with the 500.
    let (st, _) = get(&h, "/probe/trap", None);
    assert_eq!(st, 500);
    let s = rx.span("the trap", |s| {
        kind(s) == SpanKind::Server && path_of(s).as_deref() == Some("/probe/trap")
    });
    assert!(s.parent_span_id.is_empty(), "a root span");
    assert!(hex(&s.trace_id) != trace && hex(&s.trace_id) != trace2);
    assert_eq!(i_attr(&s, "http.response.status_code"), 500);
    assert_eq!(status(&s), StatusCode::Error);
    // A request no route matches: a span without component or route.
    assert_eq!(get(&h, "/nowhere", None).0, 404);
    let s = rx.span("the 404", |s| {
        kind(s) == SpanKind::Server && path_of(s).as_deref() == Some("/nowhere")
    });
    assert_eq!(s.name, "GET");
    assert_eq!(i_attr(&s, "http.response.status_code"), 404);
    assert!(attr(&s.attributes, "http.route").is_none());

    // The cron trigger (every second in the fixtures): a span per tick, with its database time.
    let tick = rx.span("a cron tick", |s| s.name == "cron cron-probe");
    assert_eq!(kind(&tick), SpanKind::Internal);
    assert_eq!(s_attr(&tick, "fieldline.component"), "cron-probe");
    assert_eq!(s_attr(&tick, "fieldline.trigger"), "cron");
    assert!(i_attr(&tick, "fieldline.cron.timestamp") > 1_700_000_000);
    assert!(f_attr(&tick, "fieldline.db.duration") > 0.0);
    assert_eq!(status(&tick), StatusCode::Ok);
    assert!(tick.parent_span_id.is_empty());
    let first = i_attr(&tick, "fieldline.cron.timestamp");
    rx.span("a later cron tick", |s| {
        s.name == "cron cron-probe" && i_attr(s, "fieldline.cron.timestamp") > first
    });

    // An MQTT message (the fixtures' mqtt-probe, on the shared broker): a consumer span naming
    // the subscription as declared, never the topic (Conduit's topics carry a token).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.output().contains("mqtt-probe subscribed to") {
        assert!(
            Instant::now() < deadline,
            "no subscription:\n{}",
            h.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let topic = format!("fieldline/fixtures/otel-{}", std::process::id());
    publish(&topic, "traced");
    let m = rx.span("an MQTT message", |s| s.name == "mqtt mqtt-probe");
    assert_eq!(kind(&m), SpanKind::Consumer);
    assert_eq!(s_attr(&m, "fieldline.component"), "mqtt-probe");
    assert_eq!(
        s_attr(&m, "messaging.destination.subscription.name"),
        "fieldline/fixtures/#"
    );
    assert!(
        !format!("{:?}", m.attributes).contains(&topic),
        "the topic stays out: {:?}",
        m.attributes
    );

    // One span per request: the first request's trace holds exactly its own span. Every span
    // names its service, and the host counted them as exported.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.spans(|s| hex(&s.trace_id) == trace).len(), 1);
    let got = rx.seen.lock().expect("the receiver's record").spans.len();
    let services: Vec<String> = rx
        .seen
        .lock()
        .expect("the receiver's record")
        .spans
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert!(services.iter().all(|n| n == "fieldline"), "{services:?}");
    let text = scrape(&h);
    let exported = metric(&text, "fieldline_trace_spans_total{outcome=\"exported\"}");
    assert!(
        exported >= got as f64 && exported > 0.0,
        "{exported} < {got}\n{text}"
    );
    assert_eq!(
        metric(&text, "fieldline_trace_spans_total{outcome=\"dropped\"}"),
        0.0
    );
}

#[test]
fn a_collector_that_hangs_holds_no_request_up_and_what_does_not_fit_is_counted_as_dropped() {
    let rx = Receiver::start(true);
    let h = Start::fixtures()
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            &format!("{}/v1/traces", rx.url()),
        )
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "4")
        .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "60000")
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start()
        .expect("host starts");
    // The exporter waits on its first batch for a minute; the queue holds 4: every request is
    // answered all the same, and the spans beyond the queue are dropped and counted.
    for i in 0..40 {
        let (st, body) = get(&h, "/probe/const", None);
        assert_eq!(st, 200, "request {i}: {body}");
    }
    let text = scrape(&h);
    let dropped = metric(&text, "fieldline_trace_spans_total{outcome=\"dropped\"}");
    assert!(dropped >= 30.0, "{dropped} dropped\n{text}");
    assert_eq!(rx.seen.lock().expect("the receiver's record").exports, 0);
}
