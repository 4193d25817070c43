//! The host's metrics, in Prometheus' text format (OpenMetrics), served on their own listen
//! address (`fieldline up --metrics-listen`) by the host itself, never by a component: they
//! answer while every component slot is taken.
//!
//! One process runs one application, so the metrics are process-wide ([`metrics`]), as in
//! Prometheus' own client libraries' default registry; each place that counts keeps a handle
//! (a cheap clone of an `Arc`) to its series. What only the filesystem or the database knows (WAL
//! size, the outbox, resident memory) is read at scrape time.
//!
//! Points accepted and refused are known only to the components: a component says so in response
//! headers, [`POINTS_ACCEPTED`] and [`POINTS_REFUSED`], which the host counts and strips before
//! the response leaves (a client never sees them).

use crate::db::Database;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

/// Response header a component sets to the number of points it stored for the request.
pub const POINTS_ACCEPTED: &str = "fieldline-points-accepted";
/// Response header a component sets to the points it did not store, by reason:
/// `reason=n[, reason=n]` (reasons are short words: `parse`, `rejected`, `quota`).
pub const POINTS_REFUSED: &str = "fieldline-points-refused";

/// A float gauge (seconds, bytes past 2^63 never matter; ages are fractional).
type FGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub component: Arc<str>,
    pub route: Arc<str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub component: Arc<str>,
    pub route: Arc<str>,
}

impl From<&crate::routes::RouteName> for RouteLabels {
    fn from(r: &crate::routes::RouteName) -> Self {
        RouteLabels {
            component: r.component.clone(),
            route: r.route.clone(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub component: Arc<str>,
    pub route: Arc<str>,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    pub trigger: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub component: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MqttLabels {
    pub component: String,
    pub subscription: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MqttOutcomeLabels {
    pub component: String,
    pub subscription: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatabaseLabels {
    pub database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PostgresLabels {
    pub component: Arc<str>,
    /// `query` or `execute`.
    pub kind: &'static str,
    /// `ok` or `error` (any error the guest got back: refused parameter, failed statement).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpanLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

/// Request and trigger latencies: 0.5 ms to about 33 s.
static LATENCY: LazyLock<Vec<f64>> =
    LazyLock::new(|| exponential_buckets(0.0005, 2.0, 17).collect());
/// Statements per group commit: 1 to 512 (the writer's largest group).
static GROUP: LazyLock<Vec<f64>> = LazyLock::new(|| exponential_buckets(1.0, 2.0, 10).collect());

/// Makes each new histogram of a family with the family's buckets.
#[derive(Clone, Copy, Debug)]
pub struct Buckets(&'static LazyLock<Vec<f64>>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type HFamily<S> = Family<S, Histogram, Buckets>;

fn hist<S: Clone + std::hash::Hash + Eq>(buckets: &'static LazyLock<Vec<f64>>) -> HFamily<S> {
    Family::new_with_constructor(Buckets(buckets))
}

/// Every series the host keeps.
pub struct Metrics {
    registry: Registry,
    pub requests: HFamily<RequestLabels>,
    pub connections: Gauge,
    pub in_flight: Family<TriggerLabels, Gauge>,
    pub instantiation: HFamily<ComponentLabels>,
    pub points_accepted: Family<RouteLabels, Counter>,
    pub points_refused: Family<RefusedLabels, Counter>,
    pub mqtt_received: Family<MqttLabels, Counter>,
    pub mqtt_handled: Family<MqttOutcomeLabels, Counter>,
    pub mqtt_redelivered: Family<MqttLabels, Counter>,
    pub cron_runs: Family<OutcomeLabels, Counter>,
    pub cron_duration: HFamily<ComponentLabels>,
    pub commit_duration: HFamily<DatabaseLabels>,
    pub group_size: HFamily<DatabaseLabels>,
    pub checkpoint_duration: HFamily<DatabaseLabels>,
    pub postgres_statements: HFamily<PostgresLabels>,
    wal_bytes: Family<DatabaseLabels, Gauge>,
    pub spans: Family<SpanLabels, Counter>,
    outbox_messages: Family<TopicLabels, Gauge>,
    outbox_oldest: Family<TopicLabels, FGauge>,
    /// One read-only connection per database for the outbox gauges, kept between scrapes:
    /// opening one each scrape made every scrape read the schema afresh beside the writer.
    outbox_readers:
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, rusqlite::Connection>>,
    resident: Gauge,
    open_fds: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            requests: hist(&LATENCY),
            connections: Gauge::default(),
            in_flight: Family::default(),
            instantiation: hist(&LATENCY),
            points_accepted: Family::default(),
            points_refused: Family::default(),
            mqtt_received: Family::default(),
            mqtt_handled: Family::default(),
            mqtt_redelivered: Family::default(),
            cron_runs: Family::default(),
            cron_duration: hist(&LATENCY),
            commit_duration: hist(&LATENCY),
            group_size: hist(&GROUP),
            checkpoint_duration: hist(&LATENCY),
            postgres_statements: hist(&LATENCY),
            wal_bytes: Family::default(),
            spans: Family::default(),
            outbox_messages: Family::default(),
            outbox_oldest: Family::default(),
            outbox_readers: std::sync::Mutex::default(),
            resident: Gauge::default(),
            open_fds: Gauge::default(),
        };
        let mut r = Registry::default();
        r.register_with_unit(
            "fieldline_http_request_duration",
            "HTTP requests by component, route (as declared in spin.toml) and status: time from the request's headers to the response's",
            Unit::Seconds,
            m.requests.clone(),
        );
        r.register(
            "fieldline_http_connections_open",
            "HTTP connections open now",
            m.connections.clone(),
        );
        r.register(
            "fieldline_instances_in_flight",
            "Component instances running now, by trigger (http, mqtt, cron)",
            m.in_flight.clone(),
        );
        r.register_with_unit(
            "fieldline_component_instantiation_duration",
            "Time to instantiate a component for one request or event",
            Unit::Seconds,
            m.instantiation.clone(),
        );
        r.register(
            "fieldline_points_accepted",
            "Points a component stored, by component and route (as the component reported them)",
            m.points_accepted.clone(),
        );
        r.register(
            "fieldline_points_refused",
            "Points a component did not store, by component, route and reason (parse: not readable; rejected: refused by the model; quota: over the organization's limit)",
            m.points_refused.clone(),
        );
        r.register(
            "fieldline_mqtt_messages_received",
            "MQTT messages received, by component and subscription",
            m.mqtt_received.clone(),
        );
        r.register(
            "fieldline_mqtt_messages_handled",
            "MQTT messages done with, by outcome: stored, refused (the component returned an error; acknowledged), dropped (failed every attempt; acknowledged and lost)",
            m.mqtt_handled.clone(),
        );
        r.register(
            "fieldline_mqtt_messages_redelivered",
            "MQTT messages the broker marked as sent before (DUP): after a lost connection or a restart",
            m.mqtt_redelivered.clone(),
        );
        r.register(
            "fieldline_cron_runs",
            "Cron runs by component and outcome (ok, failed)",
            m.cron_runs.clone(),
        );
        r.register_with_unit(
            "fieldline_cron_run_duration",
            "Cron run duration by component",
            Unit::Seconds,
            m.cron_duration.clone(),
        );
        r.register_with_unit(
            "fieldline_sqlite_commit_duration",
            "Autocommit writes: time of one group commit (every statement of the group, then the sync)",
            Unit::Seconds,
            m.commit_duration.clone(),
        );
        r.register(
            "fieldline_sqlite_group_commit_statements",
            "Statements committed together in one group commit",
            m.group_size.clone(),
        );
        r.register_with_unit(
            "fieldline_sqlite_checkpoint_duration",
            "WAL checkpoints (PASSIVE) run by the writer",
            Unit::Seconds,
            m.checkpoint_duration.clone(),
        );
        r.register_with_unit(
            "fieldline_postgres_statement_duration",
            "PostgreSQL statements components ran (spin:postgres), by component, kind (query, execute) and outcome (ok, error)",
            Unit::Seconds,
            m.postgres_statements.clone(),
        );
        r.register_with_unit(
            "fieldline_sqlite_wal",
            "Size of the database's write-ahead log file",
            Unit::Bytes,
            m.wal_bytes.clone(),
        );
        r.register(
            "fieldline_trace_spans",
            "Trace spans by outcome, when OTLP traces are on: exported, failed (the collector did not take them), dropped (the export queue was full)",
            m.spans.clone(),
        );
        r.register(
            "fieldline_outbox_messages",
            "Outbox messages not sent yet, by topic (email)",
            m.outbox_messages.clone(),
        );
        r.register_with_unit(
            "fieldline_outbox_oldest_message_age",
            "Age of the oldest outbox message not sent yet, by topic",
            Unit::Seconds,
            m.outbox_oldest.clone(),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory size",
            Unit::Bytes,
            m.resident.clone(),
        );
        r.register(
            "process_open_fds",
            "Open file descriptors (connections, database files, sockets)",
            m.open_fds.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// The metrics in the text format, after reading what is read at scrape time.
    pub fn render(&self, databases: &[Database]) -> String {
        for db in databases {
            let name = db_label(db.path());
            let wal = std::fs::metadata(wal_path(db.path())).map_or(0, |m| m.len());
            self.wal_bytes
                .get_or_create(&DatabaseLabels {
                    database: name.clone(),
                })
                .set(i64::try_from(wal).unwrap_or(i64::MAX));
            self.read_outbox(db.path());
        }
        if let Some(rss) = resident_bytes() {
            self.resident.set(rss);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds
                .set(i64::try_from(dir.count()).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The outbox (shared/storage's `outbox` table), if this database holds one: unsent messages
    /// and the age of the oldest, per topic.
    fn read_outbox(&self, path: &Path) {
        let mut readers = self
            .outbox_readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = match readers.entry(path.to_path_buf()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Ok(conn) = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) else {
                    return;
                };
                e.insert(conn)
            }
        };
        let has = conn
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'outbox'",
                [],
                |_| Ok(()),
            )
            .is_ok();
        if !has {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // The e-mail topic (the notifier's) is always shown, at zero when empty, so that an
        // alert on it has a series; other topics appear while they hold a message.
        self.outbox_messages.clear();
        self.outbox_oldest.clear();
        let email = TopicLabels {
            topic: "email".to_string(),
        };
        self.outbox_messages.get_or_create(&email).set(0);
        self.outbox_oldest.get_or_create(&email).set(0.0);
        let Ok(mut stmt) = conn.prepare(
            "SELECT topic, count(*), min(created_at) FROM outbox WHERE sent_at IS NULL GROUP BY topic",
        ) else {
            return;
        };
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        for (topic, n, oldest) in rows.into_iter().flatten().flatten() {
            let labels = TopicLabels { topic };
            self.outbox_messages.get_or_create(&labels).set(n);
            // created_at is in milliseconds (shared/storage's Timestamp).
            let age = (now - oldest as f64 / 1000.0).max(0.0);
            self.outbox_oldest.get_or_create(&labels).set(age);
        }
    }

    /// Counts what a component said in [`POINTS_ACCEPTED`] and [`POINTS_REFUSED`] and removes
    /// both headers.
    pub fn take_points(
        &self,
        component: &Arc<str>,
        route: &Arc<str>,
        headers: &mut http::HeaderMap,
    ) {
        if let Some(v) = headers.remove(POINTS_ACCEPTED) {
            if let Some(n) = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
                self.points_accepted
                    .get_or_create(&RouteLabels {
                        component: component.clone(),
                        route: route.clone(),
                    })
                    .inc_by(n);
            }
        }
        if let Some(v) = headers.remove(POINTS_REFUSED) {
            for (reason, n) in v.to_str().map(parse_refused).unwrap_or_default() {
                self.points_refused
                    .get_or_create(&RefusedLabels {
                        component: component.clone(),
                        route: route.clone(),
                        reason,
                    })
                    .inc_by(n);
            }
        }
    }
}

/// `reason=n[, reason=n]`; what does not read so is skipped. Reasons are kept to lower-case
/// letters, digits and `_` so that a component cannot make labels of anything.
pub fn parse_refused(text: &str) -> Vec<(String, u64)> {
    text.split(',')
        .filter_map(|part| {
            let (reason, n) = part.split_once('=')?;
            let reason = reason.trim();
            let ok = !reason.is_empty()
                && reason.len() <= 32
                && reason
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            let n = n.trim().parse::<u64>().ok()?;
            ok.then(|| (reason.to_string(), n))
        })
        .collect()
}

/// The label of a database: its file name (`sqlite_db.db`, `sqlite_key_value.db`).
pub fn db_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

/// Resident set size (VmRSS in /proc/self/status), Linux only.
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: i64 = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static M: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &M
}

/// Whether the measurements made on every request, statement, commit and instantiation are
/// taken: only once [`record`] has been called (`fieldline up --metrics-listen`). Unserved,
/// nothing would read them, and their label look-ups and histograms are work on every request
/// (issue 23: `scripts/bench host` with and without `--metrics-listen` gives their cost).
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Removes the points headers a component answered with, uncounted (see
/// [`Metrics::take_points`]), when nothing is measured.
pub fn strip_points(headers: &mut http::HeaderMap) {
    headers.remove(POINTS_ACCEPTED);
    headers.remove(POINTS_REFUSED);
}

/// Turns the per-request measurements on, before the application loads.
pub fn record() {
    RECORDING.store(true, Ordering::Relaxed);
}

/// The process's metrics while they are served ([`record`]); `None` otherwise, and the caller
/// measures nothing.
pub fn recording() -> Option<&'static Metrics> {
    RECORDING.load(Ordering::Relaxed).then(metrics)
}

/// The content type of [`Metrics::render`]'s text (prometheus-client writes OpenMetrics).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on its own listener until the process ends: its own accept loop and
/// tasks, so it answers while every request slot and connection of the application is taken.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<crate::App>) {
    use http_body_util::Full;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let mut resp = http::Response::new(Full::new(bytes::Bytes::new()));
                        if req.uri().path() != "/metrics" {
                            *resp.status_mut() = http::StatusCode::NOT_FOUND;
                        } else if req.method() != http::Method::GET
                            && req.method() != http::Method::HEAD
                        {
                            *resp.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
                            resp.headers_mut().insert(
                                http::header::ALLOW,
                                http::HeaderValue::from_static("GET, HEAD"),
                            );
                        } else {
                            let text = tokio::task::spawn_blocking(move || {
                                metrics().render(app.databases())
                            })
                            .await
                            .unwrap_or_default();
                            *resp.body_mut() = Full::new(text.into());
                            resp.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static(CONTENT_TYPE),
                            );
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

/// Counts one instance running while it lives.
pub struct InFlight(Option<Gauge>);

impl InFlight {
    pub fn start(trigger: &'static str) -> Self {
        InFlight(recording().map(|m| {
            let g = m
                .in_flight
                .get_or_create(&TriggerLabels { trigger })
                .clone();
            g.inc();
            g
        }))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_reasons_are_read_and_bad_ones_skipped() {
        assert_eq!(
            parse_refused("parse=2, rejected=1,Bad=3, x y=1, quota=zz"),
            vec![("parse".to_string(), 2), ("rejected".to_string(), 1)]
        );
    }

    #[test]
    fn the_text_format_names_units_and_counters_by_prometheus_rules() {
        let m = Metrics::new();
        let c: Arc<str> = Arc::from("epts");
        let r: Arc<str> = Arc::from("/write");
        let mut h = http::HeaderMap::new();
        h.insert(POINTS_ACCEPTED, "30".parse().unwrap());
        h.insert(POINTS_REFUSED, "parse=2".parse().unwrap());
        m.take_points(&c, &r, &mut h);
        assert!(h.is_empty(), "the headers are stripped");
        m.requests
            .get_or_create(&RequestLabels {
                component: c.clone(),
                route: r.clone(),
                status: 204,
            })
            .observe(0.002);
        let text = m.render(&[]);
        for want in [
            "# TYPE fieldline_http_request_duration_seconds histogram",
            "fieldline_http_request_duration_seconds_count{component=\"epts\",route=\"/write\",status=\"204\"} 1",
            "fieldline_points_accepted_total{component=\"epts\",route=\"/write\"} 30",
            "fieldline_points_refused_total{component=\"epts\",route=\"/write\",reason=\"parse\"} 2",
            "# TYPE process_resident_memory_bytes gauge",
            "# EOF",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    /// What the HTTP trigger adds to each request, timed alone (`cargo test --release -p
    /// fieldline-host --lib per_request -- --ignored --nocapture`): docs/operations.md gives the
    /// figure beside a request's CPU time.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn per_request_cost() {
        record();
        let m = Metrics::new();
        let labels = RouteLabels {
            component: "probe".into(),
            route: "/probe/...".into(),
        };
        let n = 1_000_000u32;
        let started = std::time::Instant::now();
        for i in 0..n {
            let mut headers = http::HeaderMap::new();
            let _running = InFlight::start("http");
            m.take_points(&labels.component, &labels.route, &mut headers);
            m.requests
                .get_or_create(&RequestLabels {
                    component: labels.component.clone(),
                    route: labels.route.clone(),
                    status: 200,
                })
                .observe(f64::from(i % 100) / 1e4);
            m.instantiation
                .get_or_create(&ComponentLabels {
                    component: "probe".to_string(),
                })
                .observe(0.0001);
        }
        let ns = started.elapsed().as_nanos() / u128::from(n);
        println!("metrics per request: {ns} ns");
    }
}
