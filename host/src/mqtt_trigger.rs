//! The MQTT trigger of the Spin MQTT trigger plugin (spinkube/spin-trigger-mqtt, world
//! `spin:mqtt-trigger/spin-mqtt`): `[application.trigger.mqtt]` names the broker, each
//! `[[trigger.mqtt]]` subscribes `component` to `topic` at `qos`, and every message is handled by a
//! fresh instance's `handle-message(payload, metadata { topic })`.
//!
//! One broker connection per `[[trigger.mqtt]]`, with a persistent session (`clean_session =
//! false`) under a client id that stays the same across restarts ([`client_id`]), so the broker
//! keeps what arrives while the host is down. Acknowledgements are manual: a QoS 1 message is
//! acknowledged only once the component has stored it, or refused it for good (see [`Outcome`]);
//! until then the broker holds it and redelivers it on the next connection. Delivery is therefore
//! at least once: after a crash or a lost connection, a message handled but not yet acknowledged
//! comes again.
//!
//! The connection's event loop only reads: each message goes to a task of its own, at most
//! `max_concurrent` at once across all triggers, so a slow component neither delays keep-alives
//! nor the next message. The tasks report to an acknowledger task per connection, which sends
//! the acknowledgements in the order the messages arrived (as MQTT 3.1.1 asks of a client). A lost
//! connection is retried with exponential back-off (1 s doubling to 30 s), logged once when it
//! goes and once when it comes back.

use crate::app::App;
use crate::bindings::mqtt_trigger::{spin::mqtt_trigger::spin_mqtt_types, SpinMqttPre};
use crate::metrics::{
    metrics, recording, ComponentLabels, InFlight, MqttLabels, MqttOutcomeLabels, RefusedLabels,
    RouteLabels,
};
use crate::state::Ctx;
use crate::stdio::{Points, Reported};
use crate::telemetry::Span;
use anyhow::{anyhow, bail, Context, Result};
use opentelemetry::KeyValue;
use prometheus_client::metrics::counter::Counter;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeReasonCode,
};
use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// The first wait before reconnecting; it doubles after every failed attempt...
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// ...up to this.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How many times a message is tried when the component traps or times out on it; after the
/// last, it is acknowledged and dropped (logged as an error and counted).
pub const ATTEMPTS: u32 = 3;
/// The pause before the second attempt; it doubles for each one after.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// The largest packet MQTT can carry (remaining length 268,435,455 bytes): the broker's
/// `message_size_limit` is the limit. With rumqttc's default of 10 KiB, a larger message broke
/// the connection; with a persistent session the broker would redeliver it on every reconnect.
const MAX_PACKET: usize = 268_435_455 + 5;
/// The file in the state directory naming this installation in its MQTT client ids.
pub const CLIENT_ID_FILE: &str = "mqtt-client-id";
/// How long shutdown waits for the acknowledgements of handled messages to reach the broker.
const ACK_GRACE: Duration = Duration::from_secs(2);

/// Messages received, handled and refused by one trigger: its series of the host's metrics
/// (`fieldline_mqtt_messages_*`), also logged at shutdown.
#[derive(Debug)]
pub struct Counters {
    /// Received from the broker and taken in hand.
    pub received: Counter,
    /// Stored (the component returned success).
    pub handled: Counter,
    /// Refused by the component (it returned an error): acknowledged, not retried.
    pub failed: Counter,
    /// Trapped or timed out [`ATTEMPTS`] times: acknowledged and dropped.
    pub gave_up: Counter,
    /// Marked by the broker as sent before (the DUP flag): after a crash or a lost connection.
    /// Mosquitto also marks messages it queued for the session while the host was away, so this
    /// counts more than the messages actually handled twice.
    pub redelivered: Counter,
}

impl Counters {
    pub fn new(component: &str, subscription: &str) -> Self {
        let m = metrics();
        let labels = MqttLabels {
            component: component.to_string(),
            subscription: subscription.to_string(),
        };
        let handled = |outcome| {
            m.mqtt_handled
                .get_or_create(&MqttOutcomeLabels {
                    component: component.to_string(),
                    subscription: subscription.to_string(),
                    outcome,
                })
                .clone()
        };
        Counters {
            received: m.mqtt_received.get_or_create(&labels).clone(),
            handled: handled("stored"),
            failed: handled("refused"),
            gave_up: handled("dropped"),
            redelivered: m.mqtt_redelivered.get_or_create(&labels).clone(),
        }
    }
}

/// The running MQTT triggers.
pub struct MqttTriggers {
    listeners: Vec<JoinHandle<()>>,
    /// Each connection's acknowledger, told to disconnect on shutdown.
    ackers: Vec<mpsc::UnboundedSender<AckEvent>>,
    /// The component of each trigger and its counters.
    pub counters: Vec<(String, Arc<Counters>)>,
    slots: Arc<Semaphore>,
    max_concurrent: u32,
    stopping: Arc<AtomicBool>,
}

impl MqttTriggers {
    /// Stops taking messages (those the broker sends from now on are left unacknowledged, so it
    /// keeps them for the next start), waits up to `grace` for the messages being handled, lets
    /// their acknowledgements reach the broker, then disconnects.
    pub async fn shutdown(self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        if tokio::time::timeout(grace, self.slots.acquire_many(self.max_concurrent))
            .await
            .is_err()
        {
            tracing::warn!("mqtt: messages still being handled after {grace:?}; stopping anyway (the broker redelivers them)");
        }
        for acker in &self.ackers {
            let _ = acker.send(AckEvent::Close);
        }
        let deadline = tokio::time::Instant::now() + ACK_GRACE;
        for mut l in self.listeners {
            if tokio::time::timeout_at(deadline, &mut l).await.is_err() {
                l.abort();
            }
        }
        for (component, c) in &self.counters {
            tracing::info!(
                "mqtt: {component}: {} messages handled, {} refused, {} dropped after {ATTEMPTS} failed attempts, {} marked DUP (sent before)",
                c.handled.get(),
                c.failed.get(),
                c.gave_up.get(),
                c.redelivered.get(),
            );
        }
    }
}

/// The wait before reconnect attempt `failures` (1 for the first retry).
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// Host and port of a broker `address` as the plugin's client (paho) reads it: `tcp://` or
/// `mqtt://` (or no scheme at all), port 1883 unless given. paho's TLS and WebSocket schemes are
/// refused here, since this host speaks plain MQTT only.
pub fn broker(address: &str) -> Result<(String, u16), String> {
    let rest = match address.split_once("://") {
        None => address,
        Some(("tcp" | "mqtt", rest)) => rest,
        Some((scheme @ ("ssl" | "mqtts" | "ws" | "wss"), _)) => {
            return Err(format!(
                "`{scheme}://` brokers (TLS or WebSocket) are not supported by this host; use mqtt://host:port"
            ))
        }
        Some((scheme, _)) => {
            return Err(format!(
                "unknown scheme `{scheme}://` (the plugin's client accepts tcp, mqtt, ssl, mqtts, ws and wss; this host tcp and mqtt)"
            ))
        }
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{address}`: unclosed `[` in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{address}` names no host; use mqtt://host:port"));
    }
    let port = match port {
        None => 1883,
        Some(p) => p
            .parse()
            .map_err(|_| format!("`{address}`: `{p}` is not a port number"))?,
    };
    Ok((host.to_string(), port))
}

/// The QoS this host subscribes at for a `[[trigger.mqtt]]` `qos`. QoS 2 is subscribed at 1:
/// exactly-once would need the host to remember, across restarts, which QoS 2 messages it has
/// received but not yet released, and rumqttc forgets them on every reconnect (a resumed session's
/// PUBREL then breaks the connection, again and again). Handling is at least once either way, so
/// the broker delivers QoS 2 publications as QoS 1.
pub fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// The client id of a `[[trigger.mqtt]]`: the application, the component, this installation
/// (`instance`, kept in the state directory) and a hash of the subscription (topic and QoS), so
/// that it is the same on every start and differs between triggers and between installations
/// sharing a broker. Characters other than ASCII letters, digits, `-` and `_` become `_`.
pub fn client_id(app: &str, component: &str, instance: &str, topic: &str, qos: u8) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .take(max)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    // FNV-1a: stable across Rust versions, unlike std's hashers.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.bytes().chain([0, qos]) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "fieldline-{}-{}-{}-{:08x}",
        clean(app, 24),
        clean(component, 24),
        clean(instance, 16),
        h as u32
    )
}

/// This installation's part of the client ids: random, made on the first start and kept in
/// [`CLIENT_ID_FILE`] in the state directory, beside the databases the messages go to. A copy of
/// the state directory run against the same broker takes over the original's sessions.
pub fn instance_id(state_dir: &Path) -> Result<String> {
    let file = state_dir.join(CLIENT_ID_FILE);
    match std::fs::read_to_string(&file) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    let id = format!("{:016x}", h.finish());
    std::fs::write(&file, format!("{id}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(id)
}

/// Subscribes every `[[trigger.mqtt]]`; messages are handled `max_concurrent` at a time at most.
pub async fn spawn_all(app: Arc<App>, max_concurrent: usize) -> Result<MqttTriggers> {
    let max_concurrent = u32::try_from(max_concurrent.max(1)).unwrap_or(u32::MAX >> 3);
    let slots = Arc::new(Semaphore::new(max_concurrent as usize));
    let mut triggers = MqttTriggers {
        listeners: Vec::new(),
        ackers: Vec::new(),
        counters: Vec::new(),
        slots: slots.clone(),
        max_concurrent,
        stopping: Arc::new(AtomicBool::new(false)),
    };
    let Some(settings) = app.manifest.application.mqtt.clone() else {
        return Ok(triggers);
    };
    if app.manifest.mqtt_triggers.is_empty() {
        return Ok(triggers);
    }
    let file = app.manifest.file.display().to_string();
    let expand = |place: &str, s: &str| {
        app.resolver
            .expand_template(s)
            .map_err(|e| anyhow!("{file}: {place}: {e:?}"))
    };
    let place = "[application.trigger.mqtt]";
    let address = expand(&format!("{place}: key `address`"), &settings.address)?;
    let (host, port) =
        broker(&address).map_err(|e| anyhow!("{file}: {place}: key `address`: {e}"))?;
    let username = expand(&format!("{place}: key `username`"), &settings.username)?;
    let password = expand(&format!("{place}: key `password`"), &settings.password)?;
    // MQTT carries the keep-alive in 16 bits; paho truncates larger values, this host caps them.
    let keep_alive = Duration::from_secs(settings.keep_alive_interval.min(u64::from(u16::MAX)));
    let instance = instance_id(&app.options.state_dir)?;
    let mut ids = HashSet::new();

    for (i, trigger) in app.manifest.mqtt_triggers.iter().enumerate() {
        let component = trigger.component.clone();
        let place = format!("[[trigger.mqtt]] #{} (component `{component}`)", i + 1);
        let topic = expand(&format!("{place}: key `topic`"), &trigger.topic)?;
        if topic.is_empty() {
            bail!("{file}: {place}: key `topic` expands to an empty topic");
        }
        let pre = SpinMqttPre::new(app.pre(app.component(&component)?).clone()).map_err(|e| {
            anyhow!("{file}: component `{component}` does not export the MQTT trigger's handle-message: {e:#}")
        })?;
        let mut id = client_id(
            &app.manifest.application.name,
            &component,
            &instance,
            &topic,
            trigger.qos,
        );
        // Two triggers with the same component and subscription: one session each.
        if !ids.insert(id.clone()) {
            id = format!("{id}-{}", i + 1);
            ids.insert(id.clone());
        }
        if trigger.qos == 2 {
            tracing::info!("mqtt: {component}: '{topic}' is subscribed at QoS 1, not 2: messages are handled at least once");
        }
        let mut opts = MqttOptions::new(id.clone(), host.clone(), port);
        opts.set_keep_alive(keep_alive);
        opts.set_clean_session(false);
        opts.set_manual_acks(true);
        opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if !username.is_empty() {
            opts.set_credentials(username.clone(), password.clone());
        }
        // The requests are acknowledgements, one per message in hand at most.
        let (client, events) = AsyncClient::new(opts, 64);
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::new(&component, &trigger.topic));
        let listener = Listener {
            app: app.clone(),
            pre,
            component: component.clone(),
            address: address.clone(),
            client_id: id,
            topic,
            qos: qos(trigger.qos),
            counters: counters.clone(),
            slots: slots.clone(),
            stopping: triggers.stopping.clone(),
            acks: acks.clone(),
        };
        tokio::spawn(acknowledge(client.clone(), acks_rx));
        triggers
            .listeners
            .push(tokio::spawn(listener.run(client, events)));
        triggers.ackers.push(acks);
        triggers.counters.push((component, counters));
    }
    Ok(triggers)
}

/// What a connection's acknowledger hears, in this order for each message: `Received` from the
/// listener, then `Done` from the message's task.
#[derive(Debug)]
enum AckEvent {
    /// Connection `.0` is up (or the previous one is gone): the messages of earlier connections
    /// are no longer acknowledged, since the broker redelivers them on this one (an
    /// acknowledgement on the new connection could match another message by packet id).
    Connection(u64),
    /// A QoS 1 message with packet id `pkid` arrived on connection `conn`, the `seq`th.
    Received { conn: u64, seq: u64, pkid: u16 },
    /// The message is done with: acknowledge it if `ack`, else leave it to the broker.
    Done { conn: u64, seq: u64, ack: bool },
    /// Shutting down: disconnect once what came before is sent.
    Close,
}

/// One connection's messages in hand, in arrival order: which may be acknowledged now.
#[derive(Debug, Default)]
pub struct InHand {
    conn: u64,
    /// (seq, pkid, whether to acknowledge once done; None while in hand)
    messages: VecDeque<(u64, u16, Option<bool>)>,
}

impl InHand {
    /// Connection `conn` is up or the previous one is gone: forgets the earlier connections'.
    pub fn connection(&mut self, conn: u64) {
        self.conn = conn;
        self.messages.clear();
    }

    /// The `seq`th message arrived on `conn`.
    pub fn received(&mut self, conn: u64, seq: u64, pkid: u16) {
        if conn == self.conn {
            self.messages.push_back((seq, pkid, None));
        }
    }

    /// The `seq`th message of `conn` is done with; returns the packet ids to acknowledge now, in
    /// arrival order: those done with, up to the first still in hand.
    pub fn done(&mut self, conn: u64, seq: u64, ack: bool) -> Vec<u16> {
        if conn != self.conn {
            return Vec::new();
        }
        if let Ok(i) = self.messages.binary_search_by_key(&seq, |m| m.0) {
            self.messages[i].2 = Some(ack);
        }
        let mut now = Vec::new();
        while let Some(&(_, pkid, Some(ack))) = self.messages.front() {
            self.messages.pop_front();
            if ack {
                now.push(pkid);
            }
        }
        now
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Sends the acknowledgements of one connection's messages in the order they arrived, each once
/// every earlier message is done with ([`InHand`]): the broker keeps a message until it is
/// acknowledged, so the order costs only a little latency. Holds a few bytes per message in
/// hand, never payloads.
async fn acknowledge(client: AsyncClient, mut events: mpsc::UnboundedReceiver<AckEvent>) {
    let mut in_hand = InHand::default();
    while let Some(event) = events.recv().await {
        match event {
            AckEvent::Connection(c) => in_hand.connection(c),
            AckEvent::Received { conn, seq, pkid } => in_hand.received(conn, seq, pkid),
            AckEvent::Done { conn, seq, ack } => {
                for pkid in in_hand.done(conn, seq, ack) {
                    let mut puback = Publish::new("", QoS::AtLeastOnce, Vec::new());
                    puback.pkid = pkid;
                    // Waits while the event loop has 64 requests queued; fails only once the
                    // event loop is gone, and then the broker redelivers.
                    if client.ack(&puback).await.is_err() {
                        return;
                    }
                }
            }
            AckEvent::Close => {
                let _ = client.disconnect().await;
                return;
            }
        }
    }
}

/// One `[[trigger.mqtt]]`'s connection.
struct Listener {
    app: Arc<App>,
    pre: SpinMqttPre<Ctx>,
    component: String,
    address: String,
    client_id: String,
    topic: String,
    qos: QoS,
    counters: Arc<Counters>,
    slots: Arc<Semaphore>,
    stopping: Arc<AtomicBool>,
    acks: mpsc::UnboundedSender<AckEvent>,
}

/// The connection's state, so that each change is logged once.
enum Link {
    Connecting,
    Up,
    Down { failures: u32, since: Instant },
}

impl Listener {
    async fn run(self, client: AsyncClient, mut events: EventLoop) {
        let Listener {
            component,
            address,
            client_id,
            topic,
            ..
        } = &self;
        let mut link = Link::Connecting;
        // Connections so far (each ConnAck and each loss starts a new one), and messages.
        let (mut conn, mut seq) = (0u64, 0u64);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    conn += 1;
                    let _ = self.acks.send(AckEvent::Connection(conn));
                    let session = if ack.session_present {
                        "session resumed"
                    } else {
                        "new session"
                    };
                    match link {
                        Link::Down { failures, since } => tracing::info!(
                            "mqtt: {component}: reconnected to {address} as client '{client_id}' ({session}) after {failures} failed attempts over {:.0?}",
                            since.elapsed()
                        ),
                        _ => tracing::info!(
                            "mqtt: {component}: connected to {address} as client '{client_id}' ({session})"
                        ),
                    }
                    link = Link::Up;
                    if ack.session_present {
                        // The broker kept the subscription, and the messages that came meanwhile.
                        // Subscribing again would make it resend the topic's retained messages.
                        tracing::info!("mqtt: {component} still subscribed to '{topic}'");
                    } else {
                        // From a task of its own: the request queue may be full of
                        // acknowledgements, which only this loop's polling empties.
                        let (client, qos) = (client.clone(), self.qos);
                        let (component, topic) = (component.clone(), topic.clone());
                        tokio::spawn(async move {
                            if let Err(e) = client.subscribe(topic.clone(), qos).await {
                                tracing::error!(
                                    "mqtt: {component}: cannot subscribe to '{topic}': {e}"
                                );
                            }
                        });
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                        tracing::error!("mqtt: {component}: the broker at {address} refused the subscription to '{topic}'");
                    } else {
                        tracing::info!("mqtt: {component} subscribed to '{topic}'");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(_))) if self.stopping.load(Ordering::SeqCst) => {
                    // Unacknowledged: the broker keeps it for the next start.
                }
                Ok(Event::Incoming(Packet::Publish(msg))) => {
                    // Waits only when `max_concurrent` messages are being handled already; each
                    // of those ends by the request timeout at the latest (times the attempts).
                    let Ok(slot) = self.slots.clone().acquire_owned().await else {
                        return;
                    };
                    if self.stopping.load(Ordering::SeqCst) {
                        // Unacknowledged: the broker keeps it for the next start.
                        continue;
                    }
                    self.counters.received.inc();
                    if msg.dup {
                        self.counters.redelivered.inc();
                    }
                    seq += 1;
                    let acked = msg.qos != QoS::AtMostOnce;
                    if acked {
                        let _ = self.acks.send(AckEvent::Received {
                            conn,
                            seq,
                            pkid: msg.pkid,
                        });
                    }
                    let task = Task {
                        app: self.app.clone(),
                        pre: self.pre.clone(),
                        component: component.clone(),
                        filter: topic.clone(),
                        counters: self.counters.clone(),
                        stopping: self.stopping.clone(),
                    };
                    let acks = self.acks.clone();
                    tokio::spawn(async move {
                        let outcome = task.run(msg).await;
                        drop(slot);
                        if acked {
                            let ack = outcome != Outcome::LeftToTheBroker;
                            let _ = acks.send(AckEvent::Done { conn, seq, ack });
                        }
                    });
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(_) if self.stopping.load(Ordering::SeqCst) => return,
                Err(e) => {
                    conn += 1;
                    let _ = self.acks.send(AckEvent::Connection(conn));
                    let failures = match link {
                        Link::Connecting => {
                            tracing::warn!("mqtt: {component}: cannot reach the broker at {address}: {e}; retrying (every {FIRST_RETRY:?} doubling up to {MAX_RETRY:?}, logged again when connected)");
                            1
                        }
                        Link::Up => {
                            tracing::warn!("mqtt: {component}: lost the connection to {address}: {e}; retrying (every {FIRST_RETRY:?} doubling up to {MAX_RETRY:?}, logged again when reconnected; the broker redelivers what was not acknowledged)");
                            1
                        }
                        Link::Down { failures, .. } => {
                            tracing::debug!("mqtt: {component}: reconnect attempt {failures} to {address} failed: {e}");
                            failures + 1
                        }
                    };
                    let since = match link {
                        Link::Down { since, .. } => since,
                        _ => Instant::now(),
                    };
                    link = Link::Down { failures, since };
                    tokio::time::sleep(retry_delay(failures)).await;
                }
            }
        }
    }
}

/// What became of a message, which decides whether it is acknowledged.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The component returned success: acknowledged.
    Stored,
    /// The component returned an error (a bad topic, token or payload, a rate limit): it would
    /// refuse it again, so it is acknowledged, logged and counted, not redelivered forever.
    Refused,
    /// The component trapped or timed out [`ATTEMPTS`] times: acknowledged, logged as an error
    /// and counted. Left unacknowledged, a message that always traps would hold one of the
    /// broker's in-flight slots until the next reconnect and come back first after it; enough of
    /// them would stop the subscription for good.
    GaveUp,
    /// The host is stopping: not acknowledged, so the broker redelivers it on the next start.
    LeftToTheBroker,
}

/// Why a call did not store the message.
enum Failure {
    /// The component's own error value.
    Refused(anyhow::Error),
    /// A trap, a timeout or an instantiation failure: may go another time.
    Broke(anyhow::Error),
}

/// One message's handling.
struct Task {
    app: Arc<App>,
    pre: SpinMqttPre<Ctx>,
    component: String,
    /// The subscription, for logs: not the message's topic, which can carry a credential
    /// (AlphaX Conduit's begin with the token). The component's error names the message as far
    /// as it is safe to.
    filter: String,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
}

impl Task {
    async fn run(self, msg: Publish) -> Outcome {
        let Task {
            component, filter, ..
        } = &self;
        let metadata = spin_mqtt_types::Metadata {
            topic: msg.topic.clone(),
        };
        let mut attempt = 1;
        loop {
            let result = handle(
                &self.app,
                &self.pre,
                component,
                filter,
                msg.payload.to_vec(),
                metadata.clone(),
            )
            .await;
            match result {
                Ok(()) => {
                    self.counters.handled.inc();
                    return Outcome::Stored;
                }
                Err(Failure::Refused(e)) => {
                    let n = self.counters.failed.inc() + 1;
                    tracing::warn!(
                        "mqtt: {component} refused a message on '{filter}' ({n} refused so far): {e:#}"
                    );
                    return Outcome::Refused;
                }
                Err(Failure::Broke(e)) if self.stopping.load(Ordering::SeqCst) => {
                    tracing::warn!("mqtt: {component}: a message on '{filter}' failed while stopping, left to the broker to redeliver: {e:#}");
                    return Outcome::LeftToTheBroker;
                }
                Err(Failure::Broke(e)) if attempt < ATTEMPTS => {
                    let pause = RETRY_PAUSE * (1 << (attempt - 1));
                    tracing::warn!("mqtt: {component}: a message on '{filter}' failed (attempt {attempt} of {ATTEMPTS}), trying again in {pause:?}: {e:#}");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(Failure::Broke(e)) => {
                    let n = self.counters.gave_up.inc() + 1;
                    tracing::error!("mqtt: {component}: DROPPED a message on '{filter}' after {ATTEMPTS} failed attempts ({n} dropped so far): {e:#}");
                    return Outcome::GaveUp;
                }
            }
        }
    }
}

/// One attempt at a message: its trace span, and the points the component reported on stderr
/// counted under the subscription (as the HTTP trigger counts a route's).
async fn handle(
    app: &App,
    pre: &SpinMqttPre<Ctx>,
    component: &str,
    filter: &str,
    payload: Vec<u8>,
    metadata: spin_mqtt_types::Metadata,
) -> Result<(), Failure> {
    let c = app.component(component).map_err(Failure::Broke)?;
    let reported = Reported::default();
    let mut store = app.store_with_stderr(c, reported.clone());
    let mut span = Span::trigger("mqtt", component);
    if let Some(span) = &mut span {
        span.watch(store.data_mut());
        // The subscription as declared, never the topic: a topic can carry a credential.
        span.attribute(KeyValue::new(
            "messaging.destination.subscription.name",
            filter.to_string(),
        ));
        span.attribute(KeyValue::new("messaging.system", "mqtt"));
    }
    let result = run_instance(
        pre,
        component,
        &mut store,
        app.options.request_timeout,
        &payload,
        &metadata,
    )
    .await;
    // The guest's stderr is written out when the store goes.
    drop(store);
    count_points(component, filter, reported.take());
    if let Some(span) = span {
        let error = match &result {
            Ok(()) => None,
            Err(Failure::Refused(e) | Failure::Broke(e)) => Some(format!("{e:#}")),
        };
        span.end_result(error.as_deref());
    }
    result
}

fn count_points(component: &str, filter: &str, points: Points) {
    if points == Points::default() {
        return;
    }
    let Some(m) = recording() else { return };
    let (component, route): (Arc<str>, Arc<str>) = (component.into(), filter.into());
    if points.accepted > 0 {
        m.points_accepted
            .get_or_create(&RouteLabels {
                component: component.clone(),
                route: route.clone(),
            })
            .inc_by(points.accepted);
    }
    for (reason, n) in points.refused {
        m.points_refused
            .get_or_create(&RefusedLabels {
                component: component.clone(),
                route: route.clone(),
                reason,
            })
            .inc_by(n);
    }
}

async fn run_instance(
    pre: &SpinMqttPre<Ctx>,
    component: &str,
    store: &mut wasmtime::Store<Ctx>,
    timeout: Duration,
    payload: &Vec<u8>,
    metadata: &spin_mqtt_types::Metadata,
) -> Result<(), Failure> {
    let _running = InFlight::start("mqtt");
    let run = async {
        let started = std::time::Instant::now();
        let instance = pre.instantiate_async(&mut *store).await?;
        if let Some(m) = recording() {
            m.instantiation
                .get_or_create(&ComponentLabels {
                    component: component.to_string(),
                })
                .observe(started.elapsed().as_secs_f64());
        }
        instance
            .call_handle_message(&mut *store, payload, metadata)
            .await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(Failure::Broke(anyhow!("timed out after {timeout:?}"))),
        Ok(Err(trap)) => Err(Failure::Broke(anyhow!("{trap:?}"))),
        Ok(Ok(Err(spin_mqtt_types::Error::Other(m)))) => Err(Failure::Refused(anyhow!("{m}"))),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_back_off_exponentially_to_thirty_seconds() {
        let delays: Vec<u64> = (1..=8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn acknowledgements_go_in_arrival_order_and_only_on_their_connection() {
        let mut h = InHand::default();
        h.connection(1);
        for (seq, pkid) in [(1, 10), (2, 11), (3, 12), (4, 13)] {
            h.received(1, seq, pkid);
        }
        // 2 and 3 are done before 1: held back until 1 is.
        assert!(h.done(1, 2, true).is_empty());
        assert!(h.done(1, 3, true).is_empty());
        assert_eq!(h.done(1, 1, true), vec![10, 11, 12]);
        // a message left to the broker is not acknowledged, and holds nothing back
        h.received(1, 5, 14);
        assert!(h.done(1, 4, false).is_empty());
        assert_eq!(h.done(1, 5, true), vec![14]);
        assert!(h.is_empty());
        // A message of a connection that is gone is never acknowledged: the broker redelivers
        // it on the new one, perhaps under another packet id.
        h.received(1, 6, 15);
        h.connection(2);
        assert!(h.done(1, 6, true).is_empty());
        h.received(1, 7, 16);
        assert!(h.is_empty());
        h.received(2, 8, 15);
        assert_eq!(h.done(2, 8, true), vec![15]);
    }

    #[test]
    fn client_ids_are_stable_and_distinct_per_trigger_and_installation() {
        let id = client_id(
            "fieldline",
            "conduit-mqtt",
            "0123456789abcdef",
            "+/+/+/data",
            1,
        );
        assert_eq!(
            id,
            client_id(
                "fieldline",
                "conduit-mqtt",
                "0123456789abcdef",
                "+/+/+/data",
                1
            )
        );
        assert!(
            id.starts_with("fieldline-fieldline-conduit-mqtt-0123456789abcdef-"),
            "{id}"
        );
        for other in [
            client_id(
                "fieldline",
                "conduit-mqtt",
                "0123456789abcdef",
                "+/+/publish/v4",
                1,
            ),
            client_id(
                "fieldline",
                "conduit-mqtt",
                "0123456789abcdef",
                "+/+/+/data",
                0,
            ),
            client_id(
                "fieldline",
                "conduit-mqtt",
                "fedcba9876543210",
                "+/+/+/data",
                1,
            ),
            client_id("fieldline", "other", "0123456789abcdef", "+/+/+/data", 1),
        ] {
            assert_ne!(id, other);
        }
        assert_eq!(
            client_id("my app/ü", "c", "i", "t", 1).split('-').nth(1),
            Some("my_app__")
        );
    }

    #[test]
    fn the_installation_id_is_made_once_and_kept_in_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = instance_id(dir.path()).unwrap();
        assert_eq!(first.len(), 16);
        assert_eq!(instance_id(dir.path()).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(instance_id(other.path()).unwrap(), first);
    }

    #[test]
    fn qos_2_is_subscribed_at_least_once() {
        assert_eq!(qos(0), QoS::AtMostOnce);
        assert_eq!(qos(1), QoS::AtLeastOnce);
        assert_eq!(qos(2), QoS::AtLeastOnce);
    }

    #[test]
    fn broker_addresses_as_the_plugin_reads_them() {
        let ok = |a: &str| broker(a).expect(a);
        assert_eq!(ok("mqtt://127.0.0.1:1883"), ("127.0.0.1".into(), 1883));
        assert_eq!(
            ok("tcp://broker.example:8883/"),
            ("broker.example".into(), 8883)
        );
        assert_eq!(ok("localhost"), ("localhost".into(), 1883));
        assert_eq!(ok("mqtt://[::1]:1884"), ("::1".into(), 1884));
        for (bad, needle) in [
            ("mqtts://broker:8883", "not supported"),
            ("ws://broker", "not supported"),
            ("http://broker", "unknown scheme"),
            ("mqtt://:1883", "no host"),
            ("mqtt://broker:port", "not a port"),
        ] {
            let err = broker(bad).expect_err(bad);
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
