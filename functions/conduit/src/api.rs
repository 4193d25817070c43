//! The four resources: decode, call a use case, encode.

use fieldline_component::{open_store, Store};
use fieldline_domain::conduit::{parse_v1, parse_v2, ReadQuery, RecordSource, Upload};

use crate::status::{ConduitError, Status};
use fieldline_domain::Timestamp;
use fieldline_service::auth::{conduit_caller, ConduitCaller, ConduitService};
use fieldline_service::ingest::conduit_upload;
use fieldline_service::reads::conduit_records;
use spin_sdk::http::Request;

use crate::error::conduit_error;
use crate::wire::{self, Answer};

/// The token from the body or query, else from a `Token` header ("See specific request to
/// determine if it should be included in the header or body").
fn caller(
    store: &Store,
    token: Option<&str>,
    req: &Request,
    now: Timestamp,
) -> Result<ConduitCaller, ConduitError> {
    let header = fieldline_component::header(req, "token");
    conduit_caller(store, token.or(header), ConduitService::Http, now).map_err(conduit_error)
}

pub fn post_v1(req: &Request) -> Result<Answer, ConduitError> {
    let body = wire::body(req)?;
    upload(req, parse_v1(&body)?)
}

pub fn post_v2(req: &Request) -> Result<Answer, ConduitError> {
    let body = wire::body(req)?;
    upload(req, parse_v2(&body)?)
}

fn upload(req: &Request, upload: Upload) -> Result<Answer, ConduitError> {
    let now = Timestamp::now();
    let store = open_store().map_err(conduit_error)?;
    let caller = caller(&store, upload.token.as_deref(), req, now)?;
    let (network_id, readings) = (&upload.network_id, &upload.readings);
    let written = conduit_upload(&store, &caller, network_id, upload.timestamp, readings, now)
        .map_err(conduit_error)?;
    let mut answer = Answer::json(
        serde_json::json!({
            "code": "200",
            "error": Status::Ok.title(),
            "points": written,
        })
        .to_string(),
    );
    // For the host's metrics (fieldline_component::Answer::points); it strips the header.
    answer
        .headers
        .push((fieldline_component::POINTS_ACCEPTED, written.to_string()));
    Ok(answer)
}

pub fn read_v4(req: &Request) -> Result<Answer, ConduitError> {
    read(req, |s| serde_json::to_value(s.v4()))
}

pub fn read_v6(req: &Request) -> Result<Answer, ConduitError> {
    read(req, |s| serde_json::to_value(s.v6()))
}

fn read(
    req: &Request,
    record: impl Fn(&RecordSource<'_>) -> serde_json::Result<serde_json::Value>,
) -> Result<Answer, ConduitError> {
    let now = Timestamp::now();
    let query = ReadQuery::parse(req.query(), now)?;
    let store = open_store().map_err(conduit_error)?;
    let caller = caller(&store, query.token.as_deref(), req, now)?;
    let Some(page) = conduit_records(&store, &caller, &query, now).map_err(conduit_error)? else {
        return Ok(Answer::not_modified());
    };
    let out = page
        .records()
        .map(|r| record(&r))
        .collect::<serde_json::Result<Vec<_>>>()
        .map_err(|e| ConduitError::new(Status::Internal, e.to_string()))?;
    let mut answer = Answer::json(serde_json::Value::Array(out).to_string());
    // Not in the document: more records wait. The cursor continues after the last record
    // returned (the same query with `cursor`); an `fcdt` is given as well when one continues
    // without skipping a record (the page ended on a whole second).
    if let Some(cursor) = page.cursor {
        answer.headers.push(("x-conduit-cursor", cursor.encode()));
    }
    if let Some(next) = page.next_fcdt {
        answer
            .headers
            .push(("x-conduit-next-fcdt", next.to_string()));
    }
    Ok(answer)
}
