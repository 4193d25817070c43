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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::format::{encode, Epoch, Format};
    use super::super::{execute, Context, SeriesMeta, TimeRange};
    use super::*;
    use crate::influxql::parse_query;

    /// A source of no series that records what it is asked to store, or refuses it.
    #[derive(Default)]
    struct Recording {
        refusal: Option<String>,
        stored: Vec<String>,
        dropped: Vec<String>,
    }

    impl Source for Recording {
        fn series(
            &mut self,
            _: &str,
            _: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok(Vec::new())
        }

        fn points(
            &mut self,
            _: i64,
            _: TimeRange,
            _: bool,
            _: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            Ok(Vec::new())
        }

        fn store_database(
            &mut self,
            database: &ddl::Database,
        ) -> Result<Result<(), String>, SourceError> {
            if let Some(r) = &self.refusal {
                return Ok(Err(r.clone()));
            }
            self.stored.push(database.name.clone());
            Ok(Ok(()))
        }

        fn drop_database(&mut self, name: &str) -> Result<Result<(), String>, SourceError> {
            self.dropped.push(name.to_owned());
            Ok(Ok(()))
        }
    }

    /// A source without the hooks.
    struct Plain;

    impl Source for Plain {
        fn series(
            &mut self,
            _: &str,
            _: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok(Vec::new())
        }

        fn points(
            &mut self,
            _: i64,
            _: TimeRange,
            _: bool,
            _: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            Ok(Vec::new())
        }
    }

    fn answer(q: &str, ctx: &Context, source: &mut dyn Source) -> String {
        let results = execute(&parse_query(q).unwrap(), ctx, source).unwrap();
        let format = Format {
            epoch: Epoch::Rfc3339,
            pretty: false,
        };
        encode(&results, &format).trim_end().to_owned()
    }

    #[test]
    fn statements_see_the_catalog_the_ones_before_them_left() {
        let ctx = Context::model("fieldline", 0, 0, 100);
        let mut source = Recording::default();
        let got = answer(
            "CREATE DATABASE a; CREATE RETENTION POLICY r ON a DURATION 2h REPLICATION 1 DEFAULT; \
             SHOW RETENTION POLICIES ON a; CREATE DATABASE a; DROP DATABASE nodb; \
             DROP DATABASE a; SHOW DATABASES",
            &ctx,
            &mut source,
        );
        assert_eq!(
            got,
            r#"{"results":[{"statement_id":0},{"statement_id":1},{"statement_id":2,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,false],["r","2h0m0s","1h0m0s",1,true]]}]},{"statement_id":3},{"statement_id":4},{"statement_id":5},{"statement_id":6,"series":[{"name":"databases","columns":["name"],"values":[["fieldline"]]}]}]}"#
        );
        // Stored when created and when its policies changed; not when re-created as it was;
        // dropped once, the database there.
        assert_eq!(source.stored, ["a", "a"]);
        assert_eq!(source.dropped, ["a"]);
        // The caller's context is not changed: the next query loads the stored catalog.
        assert_eq!(ctx.catalog.databases.len(), 1);
    }

    #[test]
    fn the_sources_refusal_is_the_statements_error_and_changes_nothing() {
        let ctx = Context::model("fieldline", 0, 0, 100);
        let mut source = Recording {
            refusal: Some("you may not manage databases".into()),
            ..Recording::default()
        };
        assert_eq!(
            answer("CREATE DATABASE a; SHOW DATABASES", &ctx, &mut source),
            r#"{"results":[{"statement_id":0,"error":"you may not manage databases"},{"statement_id":1,"series":[{"name":"databases","columns":["name"],"values":[["fieldline"]]}]}]}"#
        );
        // InfluxDB's own refusal comes first: the source is not asked.
        let mut source = Recording::default();
        assert_eq!(
            answer(
                "CREATE RETENTION POLICY r ON fieldline DURATION 30m REPLICATION 1",
                &ctx,
                &mut source
            ),
            r#"{"results":[{"statement_id":0,"error":"retention policy duration must be at least 1h0m0s"}]}"#
        );
        assert!(source.stored.is_empty());
    }

    #[test]
    fn a_source_without_the_hooks_refuses_by_name() {
        let ctx = Context {
            db: Some("fieldline".into()),
            ..Context::model("fieldline", 0, 0, 100)
        };
        assert_eq!(
            answer("CREATE DATABASE a", &ctx, &mut Plain),
            r#"{"results":[{"statement_id":0,"error":"storing a database is not supported by this source"}]}"#
        );
        assert_eq!(
            answer("DROP DATABASE fieldline", &ctx, &mut Plain),
            r#"{"results":[{"statement_id":0,"error":"dropping a database is not supported by this source"}]}"#
        );
    }

    #[test]
    fn the_subscriptions_retention_bounds_the_statements() {
        let ctx = Context::model("fieldline", 3_600_000_000_000 * 24 * 30, 0, 100);
        let got = answer(
            "CREATE DATABASE a WITH DURATION INF; SHOW RETENTION POLICIES ON fieldline",
            &ctx,
            &mut Recording::default(),
        );
        assert_eq!(
            got,
            r#"{"results":[{"statement_id":0,"error":"retention policy duration must be at most 720h0m0s: the subscription keeps data that long"},{"statement_id":1,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","720h0m0s","24h0m0s",1,true]]}]}]}"#
        );
    }
}
