//! The InfluxQL engine's source for one caller: the store's reads of the organization's series
//! ([`crate::ports::Series::query_source`]), and the statements that change databases (`CREATE`
//! and `DROP DATABASE`, the retention policy statements) or write points (`SELECT INTO`) run as
//! that caller's use cases: the permission they need, the model's database kept as it is, and
//! `/write`'s rules and quota for the points.

use fieldline_domain::line_protocol::Line;
use fieldline_domain::query::{
    ddl, IntervalStats, SeriesMeta, Source, SourceError, TagValues, TimeRange, Value,
};
use fieldline_domain::{Action, Timestamp};

use super::write;
use crate::auth::Caller;
use crate::error::Error;
use crate::ports::Store;

/// What [`Source`]'s statement hooks answer: the statement's error inside, a store failure
/// outside.
type Hooked<T> = Result<Result<T, String>, SourceError>;

pub struct CallerSource<'a, S: Store + ?Sized> {
    reads: Box<dyn Source + 'a>,
    store: &'a S,
    caller: &'a Caller,
    /// The model's database: its channels are not managed by statements.
    model: &'a str,
    now: Timestamp,
}

/// A use case's refusal (permission, quota, validation) is the statement's error; anything
/// else is the store's failure.
fn hooked<T>(r: crate::Result<T>) -> Hooked<T> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ (Error::Backend { .. } | Error::Corrupt(_) | Error::SchemaTooNew { .. })) => {
            Err(SourceError(e.to_string()))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

impl<S: Store + ?Sized> CallerSource<'_, S> {
    /// Databases are the organization's settings: an Administrator's to change.
    fn may_manage(&self) -> Result<(), String> {
        self.caller
            .may(Action::ManageDatabases)
            .map_err(|e| e.to_string())
    }
}

impl<S: Store + ?Sized> Source for CallerSource<'_, S> {
    fn series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        self.reads.series(database, measurements)
    }

    fn series_in(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        self.reads.series_in(database, rp, measurements)
    }

    fn series_matching(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
        tags: &[TagValues],
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        self.reads.series_matching(database, rp, measurements, tags)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        self.reads.points(key, range, desc, limit)
    }

    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        self.reads.values(key, range, desc, limit)
    }

    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        self.reads.edge_points(keys, range, desc)
    }

    fn interval_stats(
        &mut self,
        key: i64,
        range: TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<IntervalStats>>, SourceError> {
        self.reads.interval_stats(key, range, base, interval)
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        self.reads.range_stats(key, range)
    }

    fn extreme(
        &mut self,
        key: i64,
        range: TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, SourceError> {
        self.reads.extreme(key, range, largest)
    }

    fn store_database(&mut self, database: &ddl::Database) -> Hooked<()> {
        if let Err(e) = self.may_manage() {
            return Ok(Err(e));
        }
        if database.name == self.model {
            return Ok(Err(format!(
                "the database {} holds the organization's channels: its one retention policy, \
                 autogen, keeps what the subscription keeps",
                self.model
            )));
        }
        hooked(
            self.store
                .store_database(&self.caller.tenant, database, self.now),
        )
    }

    fn drop_database(&mut self, name: &str) -> Hooked<()> {
        if let Err(e) = self.may_manage() {
            return Ok(Err(e));
        }
        if name == self.model {
            return Ok(Err(format!(
                "the database {} holds the organization's channels and cannot be dropped; \
                 delete devices or channels with the admin API",
                self.model
            )));
        }
        hooked(
            self.store
                .drop_database(&self.caller.tenant, name)
                .map(|_| ()),
        )
    }

    fn drop_measurement(&mut self, database: &str, name: &str) -> Hooked<()> {
        if let Err(e) = self.may_manage() {
            return Ok(Err(e));
        }
        if database == self.model {
            let series = self.reads.series(database, Some(&[name.to_owned()]))?;
            if let Err(e) = no_channels(&series) {
                return Ok(Err(e));
            }
        }
        hooked(
            self.store
                .drop_measurement(&self.caller.tenant, database, name),
        )
    }

    fn delete_series(
        &mut self,
        _database: &str,
        series: &[SeriesMeta],
        range: TimeRange,
    ) -> Hooked<()> {
        if let Err(e) = self.may_manage() {
            return Ok(Err(e));
        }
        if let Err(e) = no_channels(series) {
            return Ok(Err(e));
        }
        // A general field's key is negated in the engine (`QuerySource`).
        let fields: Vec<i64> = series
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| -f.key))
            .collect();
        hooked(
            self.store
                .delete_values(&self.caller.tenant, &fields, range),
        )
    }

    fn write_points(&mut self, database: &str, rp: &str, points: &[Line]) -> Hooked<usize> {
        // Read afresh: an earlier statement of the request may have created the database.
        let report = super::scope(self.store, self.caller, self.model).and_then(|scope| {
            write::write(
                self.store,
                self.caller,
                &scope,
                self.model,
                database,
                Some(rp),
                points,
                &[],
                self.now,
            )
        });
        if database == self.model {
            // The statements after it read the general series it may have made there.
            self.reads = self
                .store
                .query_source(&self.caller.tenant, self.model, true);
        }
        match hooked(report)? {
            Ok(r) => match r.answer.error {
                None => Ok(Ok(r.written)),
                Some(e) => Ok(Err(e)),
            },
            Err(e) => Ok(Err(e)),
        }
    }
}

/// Statements delete general series only: a device's channels (the model's database) are
/// deleted with their device or channel, through the admin API, which keeps the model whole.
fn no_channels(series: &[SeriesMeta]) -> Result<(), String> {
    match series.iter().find(|s| s.fields.iter().any(|f| f.key > 0)) {
        None => Ok(()),
        Some(s) => Err(format!(
            "deleting a device's channels with InfluxQL is not supported by Fieldline \
             (measurement {:?} holds channels): delete channels or devices with the admin API",
            s.measurement
        )),
    }
}

/// The source a caller's query runs on: the organization's series, with `model` the database
/// of its channels (`model_general`: whether it holds general series too,
/// [`crate::ports::InfluxScope::model_general`]).
pub fn for_caller<'a, S: Store + ?Sized>(
    store: &'a S,
    caller: &'a Caller,
    model: &'a str,
    model_general: bool,
    now: Timestamp,
) -> CallerSource<'a, S> {
    CallerSource {
        reads: store.query_source(&caller.tenant, model, model_general),
        store,
        caller,
        model,
        now,
    }
}
