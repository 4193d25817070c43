//! `fermyon:spin/mqtt@2.0.0`: outbound MQTT connections, allowed only to brokers listed in the
//! component's `allowed_outbound_hosts` (`mqtt://host:port`).

use crate::allowed_hosts::AllowList;
use crate::bindings::mqtt::{self, Error, Qos};
use crate::bindings::View;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Resource;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

/// The guest's open broker connection.
pub struct ConnectionHandle {
    client: AsyncClient,
    events: EventLoop,
}

/// Per-instance MQTT state.
#[derive(Clone, Default)]
pub struct MqttState {
    pub allowed: Arc<AllowList>,
}

/// Splits `mqtt://host:port` (port defaults to 1883).
pub fn host_port(address: &str) -> Option<(String, u16)> {
    let rest = address
        .strip_prefix("mqtt://")
        .or_else(|| address.strip_prefix("tcp://"))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((rest.to_string(), 1883)),
    }
}

/// Connects and waits for the broker's CONNACK.
pub async fn connect(
    address: &str,
    username: &str,
    password: &str,
    keep_alive: u64,
) -> Result<(AsyncClient, EventLoop), String> {
    let (host, port) = host_port(address)
        .ok_or_else(|| format!("`{address}` is not an mqtt://host:port address"))?;
    let id = format!(
        "fieldline-{}-{}",
        std::process::id(),
        NEXT_CLIENT.fetch_add(1, Ordering::Relaxed)
    );
    let mut opts = MqttOptions::new(id, host, port);
    opts.set_keep_alive(Duration::from_secs(keep_alive.max(5)));
    if !username.is_empty() {
        opts.set_credentials(username, password);
    }
    let (client, mut events) = AsyncClient::new(opts, 64);
    let connack = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    match connack {
        Ok(Ok(())) => Ok((client, events)),
        Ok(Err(e)) => Err(format!("cannot connect to {address}: {e}")),
        Err(_) => Err(format!(
            "no answer from {address} within {CONNECT_TIMEOUT:?}"
        )),
    }
}

impl ConnectionHandle {
    async fn publish(&mut self, topic: String, payload: Vec<u8>, qos: Qos) -> Result<(), Error> {
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        self.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        // Drive the connection until the broker has the message at the QoS asked for.
        let done = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == QoS::AtMostOnce => {
                        return Ok(())
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => {
                        return Ok(())
                    }
                    Ok(Event::Incoming(Packet::PubComp(_))) if qos == QoS::ExactlyOnce => {
                        return Ok(())
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Error::Other(e.to_string())),
                }
            }
        })
        .await;
        done.unwrap_or_else(|_| {
            Err(Error::Other(format!(
                "the broker did not confirm within {PUBLISH_TIMEOUT:?}"
            )))
        })
    }
}

impl mqtt::Host for View<'_, MqttState> {}

impl mqtt::HostConnection for View<'_, MqttState> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        if host_port(&address).is_none() {
            return Ok(Err(Error::InvalidAddress));
        }
        if !self.state.allowed.allows_url(&address) {
            return Ok(Err(Error::ConnectionFailed(format!(
                "address {address} is not permitted: add it to allowed_outbound_hosts"
            ))));
        }
        match connect(&address, &username, &password, keep_alive_interval_in_secs).await {
            Ok((client, events)) => Ok(Ok(self.table.push(ConnectionHandle { client, events })?)),
            Err(e) => Ok(Err(Error::ConnectionFailed(e))),
        }
    }

    async fn publish(
        &mut self,
        conn: Resource<ConnectionHandle>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .table
            .get_mut(&conn)?
            .publish(topic, payload, qos)
            .await)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(conn)?;
        let _ = handle.client.try_disconnect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            host_port("mqtt://127.0.0.1:1883"),
            Some(("127.0.0.1".into(), 1883))
        );
        assert_eq!(host_port("mqtt://broker"), Some(("broker".into(), 1883)));
        assert_eq!(host_port("http://broker"), None);
        assert_eq!(host_port("mqtt://b:x"), None);
    }
}
