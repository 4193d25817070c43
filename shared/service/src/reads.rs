//! Reads that assemble points with their devices and channels: AlphaX Conduit's v4/v6 records
//! (a page across devices and channels, oldest first, with a cursor) and Proficloud's
//! `/epts/last` and `/epts/data` (series named by device UUID and metric).

use std::collections::HashMap;

use fieldline_domain::conduit::{cut_page, PageCursor, ReadQuery, RecordSource};
use fieldline_domain::epts::{DataQuery, SeriesSelection};
use fieldline_domain::{
    Action, Channel, ConduitTier, Device, DeviceId, NetworkId, Point, Timestamp,
};

use crate::auth::{Caller, ConduitCaller};
use crate::error::{Error, Result};
use crate::limits::{self, Subject};
use crate::ports::{Devices, PointPage, Series, SeriesFilter, SeriesInfo, Store, Tenant};

/// The most records one Conduit read returns ("Retrieval of data values with single GET request
/// is limited to 1000").
pub const CONDUIT_RECORD_LIMIT: usize = ConduitTier::RECORD_LIMIT;

/// A page of Conduit records.
#[derive(Debug)]
pub struct RecordPage {
    rows: Vec<(i64, Point)>,
    channels: HashMap<i64, Channel>,
    devices: HashMap<DeviceId, Device>,
    /// Where the next page starts, when more records wait.
    pub cursor: Option<PageCursor>,
    /// The `fcdt` that continues without skipping a record, when there is one.
    pub next_fcdt: Option<i64>,
}

impl RecordPage {
    /// The records in page order.
    pub fn records(&self) -> impl Iterator<Item = RecordSource<'_>> {
        self.rows.iter().filter_map(|(key, point)| {
            let channel = self.channels.get(key)?;
            let device = self.devices.get(&channel.device)?;
            Some(RecordSource {
                device,
                channel,
                point: *point,
            })
        })
    }
}

/// The device a Conduit read's `id` names: a network id, or the 13-character id of a device
/// without one.
fn read_device(store: &(impl Devices + ?Sized), tenant: &Tenant, id: &str) -> Result<Device> {
    let not_found = || Error::UnknownDevice(format!("no device with id {id:?}"));
    if let Ok(network_id) = NetworkId::parse(id) {
        match store.device_by_network_id(tenant, &network_id) {
            Ok(d) => return Ok(d),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let device_id = DeviceId::parse(id).map_err(|_| not_found())?;
    match store.device(tenant, device_id) {
        Err(Error::NotFound(_)) => Err(not_found()),
        other => other,
    }
}

/// A Conduit v4/v6 read: the caller may read the organization (and the device it names), the
/// read counts against the tier's read limit, and the page holds at most
/// [`CONDUIT_RECORD_LIMIT`] records. `None`: no records (Conduit's 304).
pub fn conduit_records(
    store: &(impl Store + ?Sized),
    caller: &ConduitCaller,
    query: &ReadQuery,
    now: Timestamp,
) -> Result<Option<RecordPage>> {
    let tenant = &caller.auth.tenant;
    let principal = &caller.auth.principal;
    fieldline_domain::authorize(principal, Action::ReadOrg, tenant.id())?;
    limits::check_optional(
        store,
        limits::conduit_read(caller.tier),
        Subject::Principal(principal),
        now,
    )?;
    let device = query
        .id
        .as_deref()
        .map(|id| read_device(store, tenant, id))
        .transpose()?;
    if let Some(d) = &device {
        fieldline_domain::authorize(principal, Action::ReadDevice(d.id), tenant.id())?;
    }
    let page = PointPage {
        device: device.as_ref(),
        channel: query.channel.as_ref(),
        from: query.from,
        to: query.to,
        after: query.cursor.map(|c| (c.ts, c.channel)),
        limit: CONDUIT_RECORD_LIMIT + 1,
    };
    let mut rows = store.point_page(tenant, &page)?;
    let times: Vec<i64> = rows.iter().map(|(_, p)| p.ts().as_millis()).collect();
    let cut = cut_page(&times, CONDUIT_RECORD_LIMIT);
    rows.truncate(cut.keep);
    let Some((last_key, last)) = rows.last() else {
        return Ok(None);
    };
    let cursor = cut.more.then(|| PageCursor {
        ts: last.ts(),
        channel: *last_key,
    });
    let mut keys: Vec<i64> = rows.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    keys.dedup();
    let channels = store
        .channels_by_key(tenant, &keys)?
        .into_iter()
        .map(|c| (c.key, c))
        .collect();
    let devices = match device {
        Some(d) => [(d.id, d)].into(),
        None => store
            .list_devices(tenant)?
            .into_iter()
            .map(|d| (d.id, d))
            .collect(),
    };
    Ok(Some(RecordPage {
        rows,
        channels,
        devices,
        cursor,
        next_fcdt: cut.next_fcdt,
    }))
}

/// The organization's series of a Proficloud selection, in the order asked: devices, then
/// metrics.
fn selected(
    store: &(impl Series + ?Sized),
    tenant: &Tenant,
    sel: &SeriesSelection,
) -> Result<Vec<SeriesInfo>> {
    let filter = SeriesFilter {
        uuids: Some(&sel.uuids),
        measurements: Some(&sel.names),
        influx_names: false,
    };
    let mut found = store.list_series(tenant, filter)?;
    found.sort_by_key(|s| {
        (
            sel.uuids.iter().position(|u| *u == s.uuid),
            sel.names.iter().position(|n| *n == s.measurement),
        )
    });
    Ok(found)
}

/// Series with their points, as Proficloud's answers list them.
pub type SeriesWithPoints = Vec<(SeriesInfo, Vec<Point>)>;

/// `/epts/last`: the newest point of each selected series (none for a series without points).
pub fn epts_last(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    sel: &SeriesSelection,
) -> Result<SeriesWithPoints> {
    caller.may(Action::ReadOrg)?;
    let series = selected(store, &caller.tenant, sel)?;
    let refs: Vec<_> = series.iter().map(|s| s.channel).collect();
    let latest = store.latest_points(&caller.tenant, &refs)?;
    Ok(series
        .into_iter()
        .map(|s| {
            let points = latest
                .iter()
                .filter(|(c, _)| *c == s.channel)
                .map(|(_, p)| *p)
                .collect();
            (s, points)
        })
        .collect())
}

/// `/epts/data`: the points of each selected series with `from <= t <= to`, oldest first; more
/// than `max_points` in all is refused ([`Error::TooLarge`]).
pub fn epts_data(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    q: &DataQuery,
    max_points: usize,
) -> Result<SeriesWithPoints> {
    caller.may(Action::ReadOrg)?;
    let series = selected(store, &caller.tenant, &q.series)?;
    let mut out = Vec::with_capacity(series.len());
    let mut total = 0;
    for s in series {
        let points = store.points_between(
            &caller.tenant,
            s.channel,
            q.from,
            q.to,
            crate::ports::Order::OldestFirst,
            Some(max_points + 1 - total),
        )?;
        total += points.len();
        if total > max_points {
            return Err(Error::TooLarge(format!(
                "the range holds more than {max_points} points; narrow fromDate..toDate or ask \
                 for fewer series"
            )));
        }
        out.push((s, points));
    }
    Ok(out)
}
