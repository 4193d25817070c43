//! The four resources: decode, authenticate, check limits, call storage, encode.

use std::collections::HashMap;

use fieldline_domain::conduit::{
    cut_page, parse_v1, parse_v2, ConduitError, PageCursor, ReadQuery, RecordSource, Status, Upload,
};
use fieldline_domain::{authorize, Action, ConduitTier, Device, DeviceId, Timestamp};
use fieldline_storage as storage;
use fieldline_storage::{ConduitCaller, ConduitService, Tenant};
use spin_sdk::http::Request;
use spin_sdk::sqlite::Connection;

use crate::wire::{self, Answer};

/// The most records one read returns ("Retrieval of data values with single GET request is
/// limited to 1000").
const RECORD_LIMIT: usize = ConduitTier::RECORD_LIMIT;

fn open() -> Result<Connection, ConduitError> {
    storage::spin::open_default().map_err(storage::conduit_error)
}

/// The token from the body or query, else from a `Token` header ("See specific request to
/// determine if it should be included in the header or body").
fn caller(
    db: &Connection,
    token: Option<&str>,
    req: &Request,
    now: Timestamp,
) -> Result<ConduitCaller, ConduitError> {
    let header = req.header("token").and_then(|v| v.as_str());
    storage::conduit_caller(db, token.or(header), ConduitService::Http, now)
}

pub fn post_v1(req: &Request) -> Result<Answer, ConduitError> {
    let body = wire::body(req)?;
    ingest(req, parse_v1(&body)?)
}

pub fn post_v2(req: &Request) -> Result<Answer, ConduitError> {
    let body = wire::body(req)?;
    ingest(req, parse_v2(&body)?)
}

fn ingest(req: &Request, upload: Upload) -> Result<Answer, ConduitError> {
    let now = Timestamp::now();
    let db = open()?;
    let caller = caller(&db, upload.token.as_deref(), req, now)?;
    let n = storage::conduit_ingest(
        &db,
        &caller,
        &upload.network_id,
        upload.timestamp,
        &upload.readings,
        now,
    )?;
    Ok(Answer::json(
        serde_json::json!({
            "code": "200",
            "error": Status::Ok.title(),
            "points": n,
        })
        .to_string(),
    ))
}

pub fn read_v4(req: &Request) -> Result<Answer, ConduitError> {
    read(req, |s| serde_json::to_value(s.v4()))
}

pub fn read_v6(req: &Request) -> Result<Answer, ConduitError> {
    read(req, |s| serde_json::to_value(s.v6()))
}

/// The device `id` names: a network id, or the 13-character id of a device without one.
fn read_device(db: &Connection, tenant: &Tenant, id: &str) -> Result<Device, ConduitError> {
    let not_found = || ConduitError::new(Status::NotFound, format!("no device with id {id:?}"));
    if let Ok(network_id) = fieldline_domain::NetworkId::parse(id) {
        match storage::device_by_network_id(db, tenant, &network_id) {
            Ok(d) => return Ok(d),
            Err(storage::Error::NotFound(_)) => {}
            Err(e) => return Err(storage::conduit_error(e)),
        }
    }
    let device_id = DeviceId::parse(id).map_err(|_| not_found())?;
    match storage::device(db, tenant, device_id) {
        Err(storage::Error::NotFound(_)) => Err(not_found()),
        other => other.map_err(storage::conduit_error),
    }
}

fn read(
    req: &Request,
    record: impl Fn(&RecordSource<'_>) -> serde_json::Result<serde_json::Value>,
) -> Result<Answer, ConduitError> {
    let now = Timestamp::now();
    let query = ReadQuery::parse(req.query(), now)?;
    let db = open()?;
    let caller = caller(&db, query.token.as_deref(), req, now)?;
    let tenant = caller.auth.tenant;
    let principal = &caller.auth.principal;
    authorize(principal, Action::ReadOrg, tenant.id())?;
    storage::conduit_rate_limit(&db, &caller, caller.tier.read_policy(), now)?;
    let device = query
        .id
        .as_deref()
        .map(|id| read_device(&db, &tenant, id))
        .transpose()?;
    if let Some(d) = &device {
        authorize(principal, Action::ReadDevice(d.id), tenant.id())?;
    }
    let rows = storage::conduit_points(&db, &tenant, device.as_ref(), &query, RECORD_LIMIT + 1)
        .map_err(storage::conduit_error)?;
    let times: Vec<i64> = rows.iter().map(|(_, p)| p.ts().as_millis()).collect();
    let page = cut_page(&times, RECORD_LIMIT);
    let rows = &rows[..page.keep];
    let Some((last_key, last)) = rows.last() else {
        return Ok(Answer::not_modified());
    };
    let cursor = page.more.then(|| PageCursor {
        ts: last.ts(),
        channel: *last_key,
    });
    let mut keys: Vec<i64> = rows.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    keys.dedup();
    let channels: HashMap<i64, _> = storage::conduit_channels_by_key(&db, &tenant, &keys)
        .map_err(storage::conduit_error)?
        .into_iter()
        .map(|c| (c.key, c))
        .collect();
    let devices: HashMap<DeviceId, Device> = match device {
        Some(d) => [(d.id, d)].into(),
        None => storage::list_devices(&db, &tenant)
            .map_err(storage::conduit_error)?
            .into_iter()
            .map(|d| (d.id, d))
            .collect(),
    };
    let mut out = Vec::with_capacity(rows.len());
    for (key, point) in rows {
        let Some(channel) = channels.get(key) else {
            continue;
        };
        let Some(device) = devices.get(&channel.device) else {
            continue;
        };
        let src = RecordSource {
            device,
            channel,
            point: *point,
        };
        out.push(record(&src).map_err(|e| ConduitError::new(Status::Internal, e.to_string()))?);
    }
    let mut answer = Answer::json(serde_json::Value::Array(out).to_string());
    // Not in the document: more records wait. The cursor continues after the last record
    // returned (the same query with `cursor`); an `fcdt` is given as well when one continues
    // without skipping a record (the page ended on a whole second).
    if let Some(cursor) = cursor {
        answer.headers.push(("x-conduit-cursor", cursor.encode()));
    }
    if let Some(next) = page.next_fcdt {
        answer
            .headers
            .push(("x-conduit-next-fcdt", next.to_string()));
    }
    Ok(answer)
}
