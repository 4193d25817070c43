//! AlphaX Conduit over MQTT, through the Spin MQTT trigger: `{token}/{id}/publish/v4` (the v1
//! hex byte array), `{token}/{id}/0/data` (bulk update) and `{token}/{id}/{channel}/data` (one
//! channel). A message with a bad topic, token or payload is refused: the trigger logs and counts
//! it and goes on. The token's MQTT service must be enabled; writes take the HTTP upload's path
//! (`fieldline_service::ingest`: rate limits, device rules, storage).

use fieldline_domain::conduit::Topic;
use fieldline_domain::Timestamp;
use fieldline_service::auth::{conduit_caller, ConduitService};
use fieldline_service::ingest::conduit_upload;

wit_bindgen::generate!({
    world: "spin-mqtt",
    path: "../../wit/deps/spin-mqtt-trigger",
});

struct ConduitMqtt;

impl Guest for ConduitMqtt {
    fn handle_message(message: Payload, metadata: Metadata) -> Result<(), Error> {
        let mut readings = 0;
        let stored = ingest(&metadata.topic, &message, &mut readings);
        // The points counted by the host's metrics (a refused message's readings by why; an
        // unreadable one has none to count, the trigger counts it as a refused message).
        match &stored {
            Ok(written) => fieldline_component::report_points(*written, &[]),
            Err(e) if readings > 0 && !server_side(e) => {
                let reason = if e.as_rate_limited().is_some() {
                    "quota"
                } else {
                    "rejected"
                };
                fieldline_component::report_points(0, &[(reason, readings)]);
            }
            Err(_) => {}
        }
        stored.map(drop).map_err(|e| {
            // The topic starts with the token: name only the device and the kind of message.
            let where_ = redacted(&metadata.topic);
            if server_side(&e) {
                // Not the message's fault: trap, so that the trigger does not acknowledge it
                // and tries it again (an error value would be acknowledged and the data lost).
                panic!("conduit-mqtt: message on {where_} not stored, will be retried: {e}");
            }
            eprintln!("conduit-mqtt: message on {where_} refused: {e}");
            Error::Other(format!("{where_}: {e}"))
        })
    }
}

export!(ConduitMqtt);

/// Whether the message failed through no fault of its own (the database), so that it must be
/// tried again rather than refused.
fn server_side(e: &fieldline_service::Error) -> bool {
    use fieldline_service::Error as E;
    matches!(
        e,
        E::Backend { .. } | E::SchemaTooNew { .. } | E::Corrupt(_) | E::CrossTenant
    ) || matches!(e, E::Domain(fieldline_domain::Error::Internal(_)))
}

/// `…/{id}/{rest}`: the topic without its token.
fn redacted(topic: &str) -> String {
    match topic.split_once('/') {
        Some((_, rest)) => format!("…/{rest}"),
        None => "a topic without a token".into(),
    }
}

/// Stores one message and says how many points it wrote; the error says why it was refused
/// (the trigger logs it). `count` is set to the readings once the payload is decoded.
fn ingest(
    topic: &str,
    payload: &[u8],
    count: &mut usize,
) -> Result<usize, fieldline_service::Error> {
    let now = Timestamp::now();
    let topic = Topic::parse(topic)?;
    let (timestamp, readings) = topic.kind.decode(payload, now)?;
    *count = readings.len();
    let store = fieldline_component::open_store()?;
    let caller = conduit_caller(&store, Some(&topic.token), ConduitService::Mqtt, now)?;
    conduit_upload(
        &store,
        &caller,
        &topic.network_id,
        timestamp,
        &readings,
        now,
    )
}
