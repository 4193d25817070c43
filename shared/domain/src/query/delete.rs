//! `DROP MEASUREMENT`, `DROP SERIES` and `DELETE`, as InfluxDB 1.6 runs them: which series of
//! the request's database a statement deletes (its `FROM` names or regexes, every measurement
//! without one, and the tags its condition compares) and in which time range is decided here;
//! the source deletes them ([`Source::drop_measurement`], [`Source::delete_series`]).
//!
//! As in InfluxDB, the condition may compare tags (and, for `DELETE`, bound time), never fields;
//! a name that is no field of the measurements is a tag, an absent tag the empty string.
//! Deleting nothing, or from a measurement that does not exist, is no error.

use std::collections::HashSet;

use crate::influxql::{DataType, DeleteSeries, Expr, MeasurementName, Statement};

use super::cond::{self, Truth};
use super::{series_of, Context, SeriesMeta, Source, SourceError, StatementError, TimeRange};

/// Runs a deleting statement over the request's database (`ctx.db`).
pub(crate) fn run(
    statement: &Statement,
    ctx: &Context,
    source: &mut dyn Source,
) -> super::StatementOutcome {
    let db = ctx.db.as_deref().unwrap_or_default();
    if ctx.catalog.database(db).is_none() {
        return Ok(Err(StatementError::Failed(format!(
            "database not found: {db}"
        ))));
    }
    let done = match statement {
        Statement::DropMeasurement(name) => source.drop_measurement(db, name)?,
        Statement::DropSeries(s) => match selected(s, db, ctx, source, false)? {
            Ok((series, range)) => source.delete_series(db, &series, range)?,
            Err(e) => Err(e),
        },
        Statement::Delete(s) => match selected(s, db, ctx, source, true)? {
            Ok((series, range)) => source.delete_series(db, &series, range)?,
            Err(e) => Err(e),
        },
        _ => Err("not a statement that deletes".to_owned()),
    };
    Ok(done.map(|()| Vec::new()).map_err(StatementError::Failed))
}

/// The series a `DROP SERIES` or `DELETE` (`with_time`) deletes, and the time range of the
/// points it deletes; or the statement's error.
fn selected(
    s: &DeleteSeries,
    db: &str,
    ctx: &Context,
    source: &mut dyn Source,
    with_time: bool,
) -> Result<Result<(Vec<SeriesMeta>, TimeRange), String>, SourceError> {
    let (tags, bounds) = match cond::split(s.condition.as_ref(), ctx.now) {
        Ok(split) => split,
        Err(e) => return Ok(Err(e)),
    };
    if !with_time && (bounds.min.is_some() || bounds.max.is_some()) {
        return Ok(Err(
            "DROP SERIES doesn't support time in WHERE clause".to_owned()
        ));
    }
    let names: Vec<&MeasurementName> = s.from.iter().map(|m| &m.name).collect();
    let mut series = series_of(source, db, None, &names)?;
    if let Some(mut tags) = tags {
        let fields: HashSet<&str> = series
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.name.as_str()))
            .collect();
        if tags.any(|e| matches!(e, Expr::VarRef(v) if fields.contains(v.name.as_str()))) {
            return Ok(Err(
                "fields not supported in WHERE clause during deletion".to_owned()
            ));
        }
        // Every name left is a tag.
        tags.walk_mut(&mut |e| {
            if let Expr::VarRef(v) = e {
                v.data_type = Some(DataType::Tag);
            }
        });
        series.retain(|s| cond::eval(&tags, s, None) == Truth::True);
    }
    Ok(Ok((series, bounds.range())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::{execute, FieldMeta, FieldType, QueryResults};
    use super::*;
    use crate::influxql::parse_query;

    /// Two measurements' series, recording what it is asked to delete.
    struct Recording {
        series: Vec<SeriesMeta>,
        deleted: Vec<(Vec<String>, TimeRange)>,
        dropped: Vec<String>,
    }

    fn meta(m: &str, tags: &[(&str, &str)], fields: &[&str]) -> SeriesMeta {
        SeriesMeta {
            measurement: m.to_owned(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            fields: fields
                .iter()
                .enumerate()
                .map(|(i, f)| FieldMeta {
                    name: (*f).to_owned(),
                    ty: FieldType::Float,
                    key: -(i as i64) - 1,
                })
                .collect(),
        }
    }

    impl Source for Recording {
        fn series(
            &mut self,
            _: &str,
            _: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok(self.series.clone())
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

        fn drop_measurement(
            &mut self,
            _: &str,
            name: &str,
        ) -> Result<Result<(), String>, SourceError> {
            self.dropped.push(name.to_owned());
            Ok(Ok(()))
        }

        fn delete_series(
            &mut self,
            _: &str,
            series: &[SeriesMeta],
            range: TimeRange,
        ) -> Result<Result<(), String>, SourceError> {
            let keys = series
                .iter()
                .map(|s| {
                    let tags: Vec<String> =
                        s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{},{}", s.measurement, tags.join(","))
                })
                .collect();
            self.deleted.push((keys, range));
            Ok(Ok(()))
        }
    }

    fn run_one(q: &str, db: Option<&str>) -> (Recording, QueryResults) {
        let mut source = Recording {
            series: vec![
                meta("cpu", &[("host", "a"), ("region", "eu")], &["f", "g"]),
                meta("cpu", &[("host", "b")], &["f"]),
                meta("mem", &[("host", "a")], &["used"]),
            ],
            deleted: Vec::new(),
            dropped: Vec::new(),
        };
        let mut ctx = Context::model("fieldline", 0, 1_000, 1000);
        ctx.db = db.map(str::to_owned);
        let statements = parse_query(q).unwrap();
        let results = execute(&statements, &ctx, &mut source).unwrap();
        (source, results)
    }

    fn error(results: &QueryResults) -> Option<String> {
        results.0[0].error.clone()
    }

    #[test]
    fn tags_and_sources_choose_the_series() {
        let (r, out) = run_one("DROP SERIES FROM cpu WHERE host = 'a'", Some("fieldline"));
        assert_eq!(error(&out), None);
        assert_eq!(r.deleted[0].0, ["cpu,host=a,region=eu"]);
        assert_eq!(r.deleted[0].1, cond::Bounds::default().range());
        let (r, _) = run_one("DROP SERIES WHERE host = 'a'", Some("fieldline"));
        assert_eq!(r.deleted[0].0, ["cpu,host=a,region=eu", "mem,host=a"]);
        let (r, _) = run_one("DROP SERIES FROM /^c/", Some("fieldline"));
        assert_eq!(r.deleted[0].0, ["cpu,host=a,region=eu", "cpu,host=b"]);
        // An absent tag is the empty string.
        let (r, _) = run_one("DELETE WHERE region = ''", Some("fieldline"));
        assert_eq!(r.deleted[0].0, ["cpu,host=b", "mem,host=a"]);
        let (r, _) = run_one("DROP MEASUREMENT \"mem\"", Some("fieldline"));
        assert_eq!(r.dropped, ["mem"]);
    }

    #[test]
    fn delete_bounds_time_and_drop_series_refuses_it() {
        let (r, out) = run_one("DELETE FROM cpu WHERE time < 100", Some("fieldline"));
        assert_eq!(error(&out), None);
        assert_eq!(r.deleted[0].1.max, 99);
        let (r, out) = run_one("DROP SERIES FROM cpu WHERE time < 100", Some("fieldline"));
        assert!(r.deleted.is_empty());
        assert_eq!(
            error(&out).unwrap(),
            "DROP SERIES doesn't support time in WHERE clause"
        );
    }

    #[test]
    fn fields_databases_and_a_missing_clause_are_refused() {
        for q in ["DELETE FROM cpu WHERE g = 1", "DROP SERIES WHERE used > 1"] {
            let (r, out) = run_one(q, Some("fieldline"));
            assert!(r.deleted.is_empty(), "{q}");
            assert_eq!(
                error(&out).unwrap(),
                "fields not supported in WHERE clause during deletion"
            );
        }
        let (r, out) = run_one("DELETE FROM cpu", Some("nosuch"));
        assert!(r.deleted.is_empty());
        assert_eq!(error(&out).unwrap(), "database not found: nosuch");
        let (_, out) = run_one("DROP MEASUREMENT cpu", None);
        assert_eq!(error(&out).unwrap(), "database not found: ");
        assert_eq!(
            parse_query("DROP SERIES").unwrap_err().to_string(),
            "found EOF, expected FROM, WHERE at line 1, char 13"
        );
    }
}
