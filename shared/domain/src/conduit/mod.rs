//! AlphaX Conduit's wire formats (`../shared/reference/alphax-conduit-api.txt`): uploads in the
//! v1 (hex byte array) and v2 (JSON channels) formats, the v4 and v6 read records and their query
//! arguments, and the MQTT topics. Parsing only: the `conduit` and `conduit-mqtt` components call
//! these, then the use cases; the status table and error JSON are the `conduit` component's.
//!
//! Decisions where the document is silent are stated on the function that makes them and in
//! `docs/conduit.md`.

mod read;
mod topic;
mod upload;

pub use read::{
    cut_page, PageCursor, PageCut, ReadQuery, RecordSource, V4Record, V6Record, DEFAULT_WINDOW_SECS,
};
pub use topic::{Topic, TopicKind};
pub use upload::{
    decode_v1_data, parse_channel_value, parse_v1, parse_v2, parse_values_json, ConduitChannel,
    Reading, Upload, MAX_READINGS,
};
