//! Test fixture for the MQTT trigger: records every message (topic and payload) in the default
//! SQLite database; refuses a payload of `refuse` and traps on `trap`, so tests can see that a bad
//! message is dropped and counted without stopping the subscription. A payload of `slow` is
//! recorded only after 1.5 s, so tests can see that one slow message does not hold up the next.

use spin_sdk::sqlite::{self, Connection, Value};

wit_bindgen::generate!({
    world: "spin-mqtt",
    path: "../../../wit/deps/spin-mqtt-trigger",
});

struct MqttProbe;

impl Guest for MqttProbe {
    fn handle_message(message: Payload, metadata: Metadata) -> Result<(), Error> {
        match message.as_slice() {
            b"refuse" => return Err(Error::Other("refused by the probe".into())),
            b"trap" => panic!("probe trap on an MQTT message"),
            b"slow" => std::thread::sleep(std::time::Duration::from_millis(1500)),
            _ => {}
        }
        record(&metadata.topic, message).map_err(|e| Error::Other(format!("{e:?}")))
    }
}

export!(MqttProbe);

fn record(topic: &str, payload: Vec<u8>) -> Result<(), sqlite::Error> {
    let db = Connection::open_default()?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS mqtt_messages(topic TEXT NOT NULL, payload BLOB NOT NULL)",
        &[],
    )?;
    db.execute(
        "INSERT INTO mqtt_messages(topic, payload) VALUES (?, ?)",
        &[Value::Text(topic.to_string()), Value::Blob(payload)],
    )?;
    Ok(())
}
