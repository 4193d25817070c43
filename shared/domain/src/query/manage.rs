//! Runs the statements that manage databases and retention policies (`CREATE`/`DROP DATABASE`,
//! `CREATE`/`ALTER`/`DROP RETENTION POLICY`): [`ddl::apply`] decides them over the query's
//! catalog with InfluxDB 1.6's rules, the [`Source`] stores what they changed
//! ([`Source::store_database`], [`Source::drop_database`]).

use crate::influxql::Statement;

use super::ddl::{self, Catalog};
use super::{Source, SourceError};

/// Runs one statement over `catalog`: on success the catalog is as the statement left it and
/// the source has stored it; on a statement error (InfluxDB's, or the source's refusal) the
/// catalog is as it was.
pub(crate) fn run(
    statement: &Statement,
    catalog: &mut Catalog,
    max_retention: i64,
    source: &mut dyn Source,
) -> Result<Result<(), String>, SourceError> {
    let mut changed = catalog.clone();
    if let Err(e) = ddl::apply(statement, &mut changed, max_retention) {
        return Ok(Err(e));
    }
    for before in &catalog.databases {
        if changed.database(&before.name).is_none() {
            if let Err(e) = source.drop_database(&before.name)? {
                return Ok(Err(e));
            }
        }
    }
    for after in &changed.databases {
        if catalog.database(&after.name) != Some(after) {
            if let Err(e) = source.store_database(after)? {
                return Ok(Err(e));
            }
        }
    }
    *catalog = changed;
    Ok(Ok(()))
}
