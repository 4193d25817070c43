//! Export of chosen channels over a period (Sensorbis "Data export"): CSV (RFC 4180) or an HTML
//! data file, raw or grouped per interval by each channel's grouping, times in the
//! organization's time zone. Needs the Download permission (and reading each channel's
//! device). Produced in pages ([`Export::next_chunk`]): the caller sends each chunk before
//! asking for the next, so memory stays bounded by one page whatever the period (a year of
//! 1 Hz data is 31.5 million rows).

use fieldline_domain::export::{ExportQuery, ExportValue, Formatter, Grouper, SeriesLabel};
use fieldline_domain::{Action, Timestamp};

use crate::auth::Caller;
use crate::error::Result;
use crate::ports::{ChannelRef, Order, Store};

/// Points read per statement.
pub const PAGE: usize = 10_000;
/// Hours read per statement when grouping from hourly aggregates.
const HOURS_PAGE: i64 = 24 * 31;
/// What to export (the domain's checked query).
pub type ExportRequest = ExportQuery;

struct Series {
    channel: ChannelRef,
    label: SeriesLabel,
}

enum Stage {
    Header,
    Rows,
    Done,
}

/// An export under way.
pub struct Export<'s, S: Store + ?Sized> {
    store: &'s S,
    caller: Caller,
    series: Vec<Series>,
    request: ExportRequest,
    formatter: Formatter,
    stage: Stage,
    /// The series being read and where its next page starts.
    index: usize,
    cursor: Timestamp,
    grouper: Option<Grouper>,
    /// Grouping reads hourly aggregates (exact, and beyond the detailed retention) when the
    /// interval and the period are whole hours.
    hourly: bool,
    pub rows: u64,
}

/// Checks the request and the caller's permissions, and resolves the channels; nothing is
/// produced yet, so every refusal comes before the first byte.
pub fn start<'s, S: Store + ?Sized>(
    store: &'s S,
    caller: &Caller,
    request: ExportRequest,
) -> Result<Export<'s, S>> {
    caller.may(Action::Download)?;
    let tenant = caller.tenant;
    let org = store.organization(&tenant)?;
    let mut series = Vec::with_capacity(request.channels.len());
    for id in &request.channels {
        let channel = store.channel(&tenant, *id)?;
        caller.may(Action::ReadDevice(channel.device))?;
        let device = store.device(&tenant, channel.device)?;
        let sensor = store.sensor(&tenant, channel.sensor)?;
        series.push(Series {
            channel: ChannelRef {
                org_key: tenant.key,
                key: channel.key,
            },
            label: SeriesLabel {
                device: device.fields.name.as_str().to_owned(),
                sensor: sensor.fields.name.as_str().to_owned(),
                channel: channel.fields.name.as_str().to_owned(),
                communication_id: channel.communication_id.as_str().to_owned(),
                unit: channel.fields.unit.as_str().to_owned(),
                grouping: channel.fields.grouping,
            },
        });
    }
    let grouped = request.interval_secs.is_some();
    let formatter = Formatter::new(request.format, org.fields.time_zone.as_str(), grouped)?;
    let whole_hours = |t: Timestamp| t.as_millis() % Timestamp::HOUR_MS == 0;
    let hourly = request
        .interval_secs
        .is_some_and(|s| s % 3600 == 0 && whole_hours(request.from) && whole_hours(request.to));
    Ok(Export {
        store,
        caller: caller.clone(),
        cursor: request.from,
        series,
        request,
        formatter,
        stage: Stage::Header,
        index: 0,
        grouper: None,
        hourly,
        rows: 0,
    })
}

impl<S: Store + ?Sized> Export<'_, S> {
    /// The next chunk of the file (`None`: it is complete): the header, then one page of rows
    /// at a time, then the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match self.stage {
            Stage::Done => return Ok(None),
            Stage::Header => {
                let title = format!(
                    "Fieldline export {} to {}",
                    self.formatter.time(self.request.from),
                    self.formatter.time(self.request.to)
                );
                self.formatter.header(&title)?;
                self.stage = Stage::Rows;
            }
            Stage::Rows => {
                if self.index >= self.series.len() {
                    self.formatter.footer();
                    self.stage = Stage::Done;
                } else {
                    self.page()?;
                }
            }
        }
        Ok(Some(self.formatter.take()?))
    }

    fn next_series(&mut self) {
        self.index += 1;
        self.cursor = self.request.from;
        self.grouper = None;
    }

    fn emit(&mut self, v: ExportValue) -> Result<()> {
        let label = &self.series[self.index].label;
        self.formatter.row(label, &v)?;
        self.rows += 1;
        Ok(())
    }

    /// One statement's worth of the current series.
    fn page(&mut self) -> Result<()> {
        let tenant = self.caller.tenant;
        let s = &self.series[self.index];
        let (channel, grouping) = (s.channel, s.label.grouping);
        if let Some(secs) = self.request.interval_secs {
            let ms = i64::from(secs) * 1000;
            self.grouper
                .get_or_insert_with(|| Grouper::new(ms, grouping));
        }
        if self.hourly {
            let end = self
                .cursor
                .add_millis(HOURS_PAGE * Timestamp::HOUR_MS)
                .min(self.request.to);
            let hours = self
                .store
                .hourly_aggregates(&tenant, channel, self.cursor, end)?;
            for h in hours {
                if let Some(v) = self
                    .grouper
                    .as_mut()
                    .and_then(|g| g.push(h.hour, h.count, h.sum))
                {
                    self.emit(v)?;
                }
            }
            self.cursor = end;
        } else {
            let last = self.request.to.add_millis(-1);
            let points = self.store.points_between(
                &tenant,
                channel,
                self.cursor,
                last,
                Order::OldestFirst,
                Some(PAGE),
            )?;
            let full = points.len() == PAGE;
            for p in &points {
                match self.grouper.as_mut() {
                    Some(g) => {
                        if let Some(v) = g.push(p.ts(), 1, p.value()) {
                            self.emit(v)?;
                        }
                    }
                    None => self.emit(ExportValue {
                        ts: p.ts(),
                        value: p.value(),
                        count: None,
                    })?,
                }
            }
            self.cursor = match points.last() {
                Some(p) if full => p.ts().add_millis(1),
                _ => self.request.to,
            };
        }
        if self.cursor >= self.request.to {
            if let Some(v) = self.grouper.as_mut().and_then(Grouper::finish) {
                self.emit(v)?;
            }
            self.next_series();
        }
        Ok(())
    }
}
