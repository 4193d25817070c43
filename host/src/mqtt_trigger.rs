//! The MQTT trigger of spin-trigger-mqtt: `[application.trigger.mqtt]` names the broker
//! (`address`, `username`, `password`, `keep_alive_interval`, templates allowed), each
//! `[[trigger.mqtt]]` subscribes `component` to `topic` at `qos`; every message is handled by a
//! fresh instance's `handle-message(payload, metadata { topic })`. A message the component refuses
//! or traps on is logged and counted; the subscription goes on.

use crate::app::App;
use crate::bindings::mqtt_trigger::{spin::mqtt_trigger::spin_mqtt_types, SpinMqttPre};
use anyhow::{anyhow, Context, Result};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Messages handled and refused, per trigger, for logs and tests.
#[derive(Debug, Default)]
pub struct Counters {
    pub handled: AtomicU64,
    pub failed: AtomicU64,
}

fn qos(level: &str) -> QoS {
    match level {
        "1" => QoS::AtLeastOnce,
        "2" => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    }
}

async fn connect(
    address: &str,
    username: &str,
    password: &str,
    keep_alive: u64,
    id: &str,
) -> Result<(AsyncClient, EventLoop)> {
    let (host, port) = crate::mqtt::host_port(address)
        .ok_or_else(|| anyhow!("`{address}` is not an mqtt://host:port address"))?;
    let mut opts = MqttOptions::new(id, host, port);
    opts.set_keep_alive(Duration::from_secs(keep_alive.max(5)));
    opts.set_clean_session(true);
    if !username.is_empty() {
        opts.set_credentials(username, password);
    }
    Ok(AsyncClient::new(opts, 256))
}

/// Subscribes every `[[trigger.mqtt]]`; returns the tasks and their counters.
pub async fn spawn_all(app: Arc<App>) -> Result<Vec<(tokio::task::JoinHandle<()>, Arc<Counters>)>> {
    let Some(settings) = app.manifest.application.mqtt.clone() else {
        return Ok(Vec::new());
    };
    let file = app.manifest.file.display().to_string();
    let expand = |s: &str| {
        app.resolver
            .expand_template(s)
            .map_err(|e| anyhow!("{file}: [application.trigger.mqtt]: {e:?}"))
    };
    let address = expand(&settings.address)?;
    let username = expand(&settings.username)?;
    let password = expand(&settings.password)?;
    let keep_alive: u64 = expand(&settings.keep_alive_interval)?
        .parse()
        .map_err(|_| anyhow!("{file}: [application.trigger.mqtt]: keep_alive_interval must be a number of seconds"))?;
    let mut tasks = Vec::new();
    for (i, trigger) in app.manifest.mqtt_triggers.iter().enumerate() {
        let topic = expand(&trigger.topic)?;
        let component = trigger.component.clone();
        let pre = SpinMqttPre::new(app.pre(app.component(&component)?).clone()).map_err(|e| {
            anyhow!("{file}: component `{component}` does not export the MQTT trigger's handle-message: {e:#}")
        })?;
        let id = format!("fieldline-{}-{}-{i}", std::process::id(), component);
        let (client, events) = connect(&address, &username, &password, keep_alive, &id)
            .await
            .with_context(|| format!("{file}: failed to connect to '{address}'"))?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            app.clone(),
            pre,
            component,
            topic,
            qos(&trigger.qos),
            client,
            events,
            counters.clone(),
        ));
        tasks.push((task, counters));
    }
    Ok(tasks)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    app: Arc<App>,
    pre: SpinMqttPre<crate::state::Ctx>,
    component: String,
    topic: String,
    qos: QoS,
    client: AsyncClient,
    mut events: EventLoop,
    counters: Arc<Counters>,
) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // (Re)subscribe on every connection: the session is clean.
                if let Err(e) = client.subscribe(topic.clone(), qos).await {
                    tracing::error!("mqtt: failed to subscribe to '{topic}': {e}");
                } else {
                    tracing::info!("mqtt: {component} subscribed to '{topic}'");
                }
            }
            Ok(Event::Incoming(Packet::Publish(msg))) => {
                let metadata = spin_mqtt_types::Metadata {
                    topic: msg.topic.clone(),
                };
                match handle(&app, &pre, &component, msg.payload.to_vec(), metadata).await {
                    Ok(()) => {
                        counters.handled.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let n = counters.failed.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::warn!("mqtt: {component} refused a message on '{}' ({n} refused so far): {e:#}", msg.topic);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("mqtt: connection for {component} lost: {e}; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn handle(
    app: &App,
    pre: &SpinMqttPre<crate::state::Ctx>,
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
