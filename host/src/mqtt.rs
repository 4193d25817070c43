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
    /// Set when a publish failed: the connection is not used again (rumqttc would reconnect on
    /// the next poll and resend what it still holds, a second copy of a message the guest will
    /// retry itself); the guest opens a new one.
    broken: Option<String>,
}

/// Per-instance MQTT state.
#[derive(Clone, Default)]
pub struct MqttState {
    pub allowed: Arc<AllowList>,
}

/// Splits `mqtt://host:port` (port defaults to 1883); a query (`?client_id=...`, which Spin
/// requires) is not part of the address.
pub fn host_port(address: &str) -> Option<(String, u16)> {
    let rest = address
        .strip_prefix("mqtt://")
        .or_else(|| address.strip_prefix("tcp://"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((rest.to_string(), 1883)),
    }
}

/// The `client_id` of the address's query, as Spin's outbound MQTT takes it.
pub fn client_id(address: &str) -> Option<String> {
    let (_, query) = address.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "client_id")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
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
    let id = client_id(address).unwrap_or_else(|| {
        format!(
            "fieldline-{}-{}",
            std::process::id(),
            NEXT_CLIENT.fetch_add(1, Ordering::Relaxed)
        )
    });
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
    /// Publishes and returns once the broker has the message at the QoS asked for: for QoS 1,
    /// when the broker's PUBACK for THIS message's packet id arrives (not any PUBACK: one for an
    /// earlier message would otherwise count as this one's); for QoS 2, its PUBCOMP.
    async fn publish(&mut self, topic: String, payload: Vec<u8>, qos: Qos) -> Result<(), Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Other(format!(
                "the connection failed earlier ({why}): open a new one"
            )));
        }
        let result = self.publish_once(topic, payload, qos).await;
        if let Err(Error::Other(e)) = &result {
            self.broken = Some(e.clone());
        }
        result
    }

    async fn publish_once(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Result<(), Error> {
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        self.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        // Drive the connection until the broker has the message at the QoS asked for. Publishes
        // leave in the order requested and one is requested at a time, so the next outgoing
        // PUBLISH is this one; its packet id names the acknowledgement to wait for.
        let done = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            let mut pkid = None;
            loop {
                match self.events.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(id))) if pkid.is_none() => {
                        if qos == QoS::AtMostOnce {
                            return Ok(());
                        }
                        pkid = Some(id);
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack)))
                        if qos == QoS::AtLeastOnce && Some(ack.pkid) == pkid =>
                    {
                        return Ok(())
                    }
                    Ok(Event::Incoming(Packet::PubComp(comp)))
                        if qos == QoS::ExactlyOnce && Some(comp.pkid) == pkid =>
                    {
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
            Ok((client, events)) => Ok(Ok(self.table.push(ConnectionHandle {
                client,
                events,
                broken: None,
            })?)),
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
        assert_eq!(
            host_port("mqtt://127.0.0.1:1884?client_id=abc"),
            Some(("127.0.0.1".into(), 1884))
        );
        assert_eq!(
            client_id("mqtt://h:1?x=1&client_id=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(client_id("mqtt://h:1"), None);
    }

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Reads one MQTT packet: (first byte, body).
    async fn packet(s: &mut TcpStream) -> (u8, Vec<u8>) {
        let first = s.read_u8().await.unwrap();
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let b = s.read_u8().await.unwrap();
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; len];
        s.read_exact(&mut body).await.unwrap();
        (first, body)
    }

    /// A broker that accepts one connection and answers each QoS 1 PUBLISH with a PUBACK for
    /// the packet id `ack(pkid)`; `None` closes the connection instead.
    async fn broker(ack: fn(u16) -> Option<u16>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            assert_eq!(packet(&mut s).await.0 >> 4, 1, "CONNECT");
            s.write_all(&[0x20, 2, 0, 0]).await.unwrap();
            loop {
                let (first, body) = packet(&mut s).await;
                if first >> 4 != 3 {
                    continue; // PINGREQ and the like
                }
                let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                let pkid = u16::from_be_bytes([body[2 + topic_len], body[3 + topic_len]]);
                match ack(pkid) {
                    Some(id) => {
                        let [hi, lo] = id.to_be_bytes();
                        s.write_all(&[0x40, 2, hi, lo]).await.unwrap();
                    }
                    None => return,
                }
            }
        });
        format!("mqtt://{addr}")
    }

    async fn handle(address: &str) -> ConnectionHandle {
        let (client, events) = connect(address, "", "", 30).await.unwrap();
        ConnectionHandle {
            client,
            events,
            broken: None,
        }
    }

    #[tokio::test]
    async fn qos1_publish_returns_on_its_own_puback() {
        let mut h = handle(&broker(Some).await).await;
        for i in 0..3 {
            h.publish("t".into(), vec![i], Qos::AtLeastOnce)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_puback_for_another_message_is_not_this_ones() {
        // The broker acknowledges a packet id that is not the message's, then goes away: the
        // message was never acknowledged, so publish fails (it returned Ok on any PUBACK).
        let mut h = handle(&broker(|id| Some(id.wrapping_add(1))).await).await;
        let err = h.publish("t".into(), b"x".to_vec(), Qos::AtLeastOnce).await;
        assert!(err.is_err(), "{err:?}");
        // and the connection is not used again
        let again = h.publish("t".into(), b"y".to_vec(), Qos::AtLeastOnce).await;
        assert!(
            matches!(&again, Err(Error::Other(e)) if e.contains("open a new one")),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_broker_that_closes_before_acknowledging_fails_the_publish() {
        let mut h = handle(&broker(|_| None).await).await;
        let err = h.publish("t".into(), b"x".to_vec(), Qos::AtLeastOnce).await;
        assert!(err.is_err(), "{err:?}");
    }
}
