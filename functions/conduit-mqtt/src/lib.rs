//! AlphaX Conduit over MQTT, through the Spin MQTT trigger: `{token}/{id}/publish/v4` (the v1
//! hex byte array), `{token}/{id}/0/data` (bulk update) and `{token}/{id}/{channel}/data` (one
//! channel). A message with a bad topic, token or payload is refused: the trigger logs and counts
//! it and goes on. The token's MQTT service must be enabled; writes share the HTTP upload's rate
//! limits, device rules and storage (`fieldline_storage::conduit_ingest`).

use fieldline_domain::conduit::{ConduitError, Topic};
use fieldline_domain::Timestamp;
use fieldline_storage as storage;
use fieldline_storage::ConduitService;

wit_bindgen::generate!({
    world: "spin-mqtt",
    path: "../../wit/deps/spin-mqtt-trigger",
});

struct ConduitMqtt;

impl Guest for ConduitMqtt {
    fn handle_message(message: Payload, metadata: Metadata) -> Result<(), Error> {
        ingest(&metadata.topic, &message).map_err(|e| {
            // The topic starts with the token: name only the device and the kind of message.
            let where_ = redacted(&metadata.topic);
            eprintln!("conduit-mqtt: message on {where_} refused: {e}");
            Error::Other(format!("{where_}: {e}"))
        })
    }
}

export!(ConduitMqtt);

/// `…/{id}/{rest}`: the topic without its token.
fn redacted(topic: &str) -> String {
    match topic.split_once('/') {
        Some((_, rest)) => format!("…/{rest}"),
        None => "a topic without a token".into(),
    }
}

fn ingest(topic: &str, payload: &[u8]) -> Result<(), ConduitError> {
    let now = Timestamp::now();
    let topic = Topic::parse(topic)?;
    let (timestamp, readings) = topic.kind.decode(payload, now)?;
    let db = storage::spin::open_default().map_err(storage::conduit_error)?;
    let caller = storage::conduit_caller(&db, Some(&topic.token), ConduitService::Mqtt, now)?;
    storage::conduit_ingest(&db, &caller, &topic.network_id, timestamp, &readings, now)?;
    Ok(())
}
