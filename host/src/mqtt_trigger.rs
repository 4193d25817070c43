//! The MQTT trigger of the Spin MQTT trigger plugin (spinkube/spin-trigger-mqtt, world
//! `spin:mqtt-trigger/spin-mqtt`): `[application.trigger.mqtt]` names the broker, each
//! `[[trigger.mqtt]]` subscribes `component` to `topic` at `qos`, and every message is handled by a
//! fresh instance's `handle-message(payload, metadata { topic })`.
//!
//! One broker connection per `[[trigger.mqtt]]`. Its event loop only reads the connection: each
//! message goes to a task of its own, at most `max_concurrent` at once across all triggers, so a
//! slow component neither delays keep-alives nor the next message. A message the component refuses,
//! traps on or times out on is logged and counted; the subscription goes on. A lost connection is
//! retried with exponential back-off (1 s doubling to 30 s), logged once when it goes and once when
//! it comes back.

use crate::app::App;
use crate::bindings::mqtt_trigger::{spin::mqtt_trigger::spin_mqtt_types, SpinMqttPre};
use crate::state::Ctx;
use anyhow::{anyhow, bail, Result};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeReasonCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The first wait before reconnecting; it doubles after every failed attempt...
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// ...up to this.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Messages handled and refused by one trigger, for logs and tests.
#[derive(Debug, Default)]
pub struct Counters {
    pub handled: AtomicU64,
    pub failed: AtomicU64,
}

/// The running MQTT triggers.
pub struct MqttTriggers {
    listeners: Vec<JoinHandle<()>>,
    /// The component of each trigger and its counters.
    pub counters: Vec<(String, Arc<Counters>)>,
    slots: Arc<Semaphore>,
    max_concurrent: u32,
}

impl MqttTriggers {
    /// Stops reading from the brokers, then waits up to `grace` for the messages being handled.
    pub async fn shutdown(self, grace: Duration) {
        for l in &self.listeners {
            l.abort();
        }
        if tokio::time::timeout(grace, self.slots.acquire_many(self.max_concurrent))
            .await
            .is_err()
        {
            tracing::warn!("mqtt: messages still being handled after {grace:?}; stopping anyway");
        }
        for (component, c) in &self.counters {
            tracing::info!(
                "mqtt: {component}: {} messages handled, {} refused",
                c.handled.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed)
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

fn qos(level: u8) -> QoS {
    match level {
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    }
}

/// Subscribes every `[[trigger.mqtt]]`; messages are handled `max_concurrent` at a time at most.
pub async fn spawn_all(app: Arc<App>, max_concurrent: usize) -> Result<MqttTriggers> {
    let max_concurrent = u32::try_from(max_concurrent.max(1)).unwrap_or(u32::MAX >> 3);
    let slots = Arc::new(Semaphore::new(max_concurrent as usize));
    let mut triggers = MqttTriggers {
        listeners: Vec::new(),
        counters: Vec::new(),
        slots: slots.clone(),
        max_concurrent,
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
        let mut opts = MqttOptions::new(
            format!("fieldline-{}-{component}-{i}", std::process::id()),
            host.clone(),
            port,
        );
        opts.set_keep_alive(keep_alive);
        opts.set_clean_session(true);
        if !username.is_empty() {
            opts.set_credentials(username.clone(), password.clone());
        }
        let (client, events) = AsyncClient::new(opts, 256);
        let counters = Arc::new(Counters::default());
        let listener = Listener {
            app: app.clone(),
            pre,
            component: component.clone(),
            address: address.clone(),
            topic,
            qos: qos(trigger.qos),
            counters: counters.clone(),
            slots: slots.clone(),
        };
        triggers
            .listeners
            .push(tokio::spawn(listener.run(client, events)));
        triggers.counters.push((component, counters));
    }
    Ok(triggers)
}

/// One `[[trigger.mqtt]]`'s connection.
struct Listener {
    app: Arc<App>,
    pre: SpinMqttPre<Ctx>,
    component: String,
    address: String,
    topic: String,
    qos: QoS,
    counters: Arc<Counters>,
    slots: Arc<Semaphore>,
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
            topic,
            ..
        } = &self;
        let mut link = Link::Connecting;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    match link {
                        Link::Down { failures, since } => tracing::info!(
                            "mqtt: {component}: reconnected to {address} after {failures} failed attempts over {:.0?}",
                            since.elapsed()
                        ),
                        _ => tracing::info!("mqtt: {component}: connected to {address}"),
                    }
                    link = Link::Up;
                    // (Re)subscribe on every connection: the session is clean.
                    if let Err(e) = client.subscribe(topic.clone(), self.qos).await {
                        tracing::error!("mqtt: {component}: cannot subscribe to '{topic}': {e}");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                        tracing::error!("mqtt: {component}: the broker at {address} refused the subscription to '{topic}'");
                    } else {
                        tracing::info!("mqtt: {component} subscribed to '{topic}'");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(msg))) => {
                    // Waits only when `max_concurrent` messages are being handled already; each
                    // of those ends by the request timeout at the latest.
                    let Ok(slot) = self.slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (app, pre, counters) =
                        (self.app.clone(), self.pre.clone(), self.counters.clone());
                    let (component, filter) = (component.clone(), topic.clone());
                    tokio::spawn(async move {
                        let _slot = slot;
                        let metadata = spin_mqtt_types::Metadata {
                            topic: msg.topic.clone(),
                        };
                        match handle(&app, &pre, &component, msg.payload.to_vec(), metadata).await {
                            Ok(()) => {
                                counters.handled.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                let n = counters.failed.fetch_add(1, Ordering::Relaxed) + 1;
                                // The subscription, not the message's topic: a topic can carry a
                                // credential (AlphaX Conduit's begin with the token). The
                                // component's error names the message as far as it is safe to.
                                tracing::warn!(
                                    "mqtt: {component} refused a message on '{filter}' ({n} refused so far): {e:#}"
                                );
                            }
                        }
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    let failures = match link {
                        Link::Connecting => {
                            tracing::warn!("mqtt: {component}: cannot reach the broker at {address}: {e}; retrying (every {FIRST_RETRY:?} doubling up to {MAX_RETRY:?}, logged again when connected)");
                            1
                        }
                        Link::Up => {
                            tracing::warn!("mqtt: {component}: lost the connection to {address}: {e}; retrying (every {FIRST_RETRY:?} doubling up to {MAX_RETRY:?}, logged again when reconnected)");
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

async fn handle(
    app: &App,
    pre: &SpinMqttPre<Ctx>,
    component: &str,
    payload: Vec<u8>,
    metadata: spin_mqtt_types::Metadata,
) -> Result<()> {
    let c = app.component(component)?;
    let mut store = app.store(c);
    let timeout = app.options.request_timeout;
    let run = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance
            .call_handle_message(&mut store, &payload, &metadata)
            .await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(anyhow!("timed out after {timeout:?}")),
        Ok(Err(trap)) => Err(anyhow!("{trap:?}")),
        Ok(Ok(Err(spin_mqtt_types::Error::Other(m)))) => Err(anyhow!("{m}")),
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
