//! The InfluxDB 1.x API's use cases: the request context of an InfluxQL query (the
//! organization's databases: the model's own, whose series are its channels, and those it
//! created; the retention, `now()`), and `/write` (which database and retention policy a body
//! may name; points of the model's shape through [`crate::ingest`], any other line into the
//! database's general series, typed, [`crate::ports::Databases`]).

use fieldline_domain::query::{self, Context};
use fieldline_domain::{Action, Subscription, Timestamp};

use crate::auth::Caller;
use crate::error::{BackendFailure, Error, Result};
use crate::ports::{InfluxScope, Store};

mod source;
mod write;

pub use source::{for_caller, CallerSource};
pub use write::{write, write_general, WriteReport};

/// The most rows one query may answer with before it is refused.
pub const MAX_ROWS: usize = 500_000;

/// Nanoseconds since the epoch, as InfluxQL counts time.
pub fn ns(t: Timestamp) -> i64 {
    t.as_millis().saturating_mul(1_000_000)
}

/// The subscription's detailed retention in nanoseconds: what any retention policy may keep.
fn retention_ns(subscription: &Subscription) -> i64 {
    i64::from(subscription.detailed_retention_days).saturating_mul(86_400 * 1_000_000_000)
}

/// What an InfluxDB request reads of the caller's organization first, in one statement
/// ([`InfluxScope`]); `database` is the installation's model database. No permission is
/// checked here: `/write` answers whether a database exists before whether the caller may write
/// to it, as InfluxDB does; the use cases check theirs.
pub fn scope(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    database: &str,
) -> Result<InfluxScope> {
    store.influx_scope(&caller.tenant, database)
}

/// The context an InfluxQL request runs in, for a caller who may read the organization: its
/// databases as InfluxDB lists them, the model's own first (named `database` by the
/// installation; its one policy, `autogen`, keeps what the subscription keeps), then those it
/// created, oldest first, with their retention policies; no policy may keep data longer than
/// the subscription's detailed retention.
pub fn query_context(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    database: &str,
    now: Timestamp,
) -> Result<Context> {
    caller.may(Action::ReadOrg)?;
    Ok(context(&scope(store, caller, database)?, database, now))
}

/// [`query_context`] from the scope read.
pub(crate) fn context(scope: &InfluxScope, database: &str, now: Timestamp) -> Context {
    let retention = retention_ns(&scope.subscription);
    let mut ctx = Context::model(database, retention, ns(now), MAX_ROWS);
    ctx.catalog.databases.extend(
        scope
            .databases
            .iter()
            .filter(|d| d.name != database)
            .cloned(),
    );
    ctx
}

/// Runs InfluxQL statements for a caller (see [`query_context`]) over the organization's series.
pub fn query(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    params: &query::http::QueryParams,
    database: &str,
    now: Timestamp,
) -> Result<query::http::QueryAnswer> {
    caller.may(Action::ReadOrg)?;
    let scope = scope(store, caller, database)?;
    let ctx = context(&scope, database, now);
    let mut source = source::for_caller(store, caller, database, scope.model_general, now);
    query::http::answer(params, &ctx, &mut source)
        .map_err(|e| Error::backend(BackendFailure::Other, e.0))
}

/// Whether a `/write` may go to `db`: the installation's model `database`, or one the caller's
/// organization created (InfluxDB: 404 `database not found: "x"` otherwise).
pub fn database_exists(scope: &InfluxScope, database: &str, db: &str) -> bool {
    db == database || scope.databases.iter().any(|d| d.name == db)
}
