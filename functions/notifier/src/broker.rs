//! Deviation messages to an organization's RabbitMQ through Spin's outbound MQTT
//! (`fermyon:spin/mqtt@2.0.0`, the only broker interface Spin offers): QoS 1, so `publish`
//! returns once the broker acknowledged the message (PUBACK). One connection per broker login
//! for the run; a connection whose publish failed is dropped and opened again next time.

use std::collections::HashMap;

use fieldline_service::deviations::{BrokerLogin, Publisher};
use spin_sdk::mqtt::{Connection, Qos};

/// Seconds between keep-alives of a publisher connection.
const KEEP_ALIVE_SECS: u64 = 30;

#[derive(Default)]
pub struct Mqtt {
    connections: HashMap<(String, String), Connection>,
}

/// The address with the `client_id` Spin requires: one per run and login, so two runs (or two
/// organizations on one broker) never take over each other's session.
fn address_with_client_id(address: &str, username: &str) -> String {
    let nonce = fieldline_domain::Uuid::generate()
        .map(|u| u.to_string())
        .unwrap_or_else(|_| "0".into());
    let sep = if address.contains('?') { '&' } else { '?' };
    let user: String = username
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{address}{sep}client_id=fieldline-{user}-{}", &nonce[..8])
}

impl Publisher for Mqtt {
    fn publish(&mut self, login: &BrokerLogin, topic: &str, payload: &[u8]) -> Result<(), String> {
        let key = (login.address.clone(), login.username.clone());
        if !self.connections.contains_key(&key) {
            let conn = Connection::open(
                &address_with_client_id(&login.address, &login.username),
                &login.username,
                &login.password,
                KEEP_ALIVE_SECS,
            )
            .map_err(|e| format!("connecting to {} as {}: {e}", login.address, login.username))?;
            self.connections.insert(key.clone(), conn);
        }
        let result = self
            .connections
            .get(&key)
            .map(|c| c.publish(topic, payload, Qos::AtLeastOnce))
            .unwrap_or(Ok(()));
        if let Err(e) = result {
            self.connections.remove(&key);
            return Err(format!("publishing to {}: {e}", login.address));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        let a = address_with_client_id("mqtt://127.0.0.1:1884", "org-a:user");
        assert!(a.starts_with("mqtt://127.0.0.1:1884?client_id=fieldline-org-a-user-"));
        let b = address_with_client_id("mqtt://h:1?x=1", "u");
        assert!(b.starts_with("mqtt://h:1?x=1&client_id=fieldline-u-"));
    }
}
