//! An organization's databases in memory, for the golden replays: what storage keeps, as the
//! engine and `/write` see it. Included by the tests that replay the corpora over it.

use std::collections::BTreeMap;

use fieldline_domain::line_protocol::{self, FieldValue, Line, LineError, Precision};
use fieldline_domain::query::ddl::{self, Catalog, Database};
use fieldline_domain::query::{
    write_plan, Context, FieldMeta, FieldType, SeriesMeta, Source, SourceError, TagValues,
    TimeRange, Value,
};

use crate::harness;

/// A series' measurement and tags.
type SeriesKey = (String, Vec<(String, String)>);

/// The organization's databases in memory, the data set as database `general` (policy
/// `autogen`): per database, retention policy and series its fields' points, each field's type
/// the first one written to its measurement in the database.
pub struct Mem {
    catalog: Catalog,
    /// Per database and retention policy, per series: each field's key in `values`.
    series: BTreeMap<(String, String), BTreeMap<SeriesKey, BTreeMap<String, usize>>>,
    /// Per database, measurement and field: its type.
    types: BTreeMap<(String, String, String), FieldType>,
    /// By field key: its points, in time order.
    values: Vec<Vec<(i64, Value)>>,
}

impl Mem {
    /// No series, the catalog the model's database (with `autogen`, keeping everything) alone.
    pub fn empty(model_database: &str) -> Mem {
        Mem {
            catalog: Context::model(model_database, 0, 0, 0).catalog,
            series: BTreeMap::new(),
            types: BTreeMap::new(),
            values: Vec::new(),
        }
    }

    /// The general data set as database `general`.
    #[allow(dead_code)] // not every test that includes this module loads it
    pub fn new() -> Mem {
        let mut mem = Mem::empty(harness::DATABASE);
        let lines = harness::dataset();
        assert_eq!(lines.len(), 2193, "the points of dataset.lp");
        for line in &lines {
            let fields = line.fields.iter().map(|(k, v)| (&**k, v));
            mem.insert(harness::DATABASE, "autogen", line, fields);
        }
        mem
    }

    /// Stores the fields of a point; a field of another type than its measurement's is not
    /// stored (InfluxDB refuses the point), a point at the time of another replaces it.
    fn insert<'a>(
        &mut self,
        database: &str,
        rp: &str,
        line: &Line<'_>,
        fields: impl Iterator<Item = (&'a str, &'a FieldValue)>,
    ) {
        let series = self
            .series
            .entry((database.to_owned(), rp.to_owned()))
            .or_default()
            .entry((
                line.measurement.to_string(),
                (line.tags.iter())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
            .or_default();
        for (name, v) in fields {
            let v = match v {
                FieldValue::Float(f) => Value::Float(*f),
                FieldValue::Integer(i) => Value::Integer(*i),
                FieldValue::String(s) => Value::String(s.clone()),
                FieldValue::Boolean(b) => Value::Boolean(*b),
            };
            let ty = *self
                .types
                .entry((
                    database.to_owned(),
                    line.measurement.to_string(),
                    name.to_owned(),
                ))
                .or_insert(v.field_type());
            if v.field_type() != ty {
                continue;
            }
            let values = &mut self.values;
            let key = *series.entry(name.to_owned()).or_insert_with(|| {
                values.push(Vec::new());
                values.len() - 1
            });
            let points = &mut values[key];
            match points.binary_search_by_key(&line.timestamp_ns, |p| p.0) {
                Ok(i) => points[i].1 = v,
                Err(i) => points.insert(i, (line.timestamp_ns, v)),
            }
        }
    }

    /// Stores the points of `lines` a `/write` to `database` (and `rp`) would, as
    /// [`write_plan::plan`] decides.
    fn write_lines(
        &mut self,
        database: Option<&str>,
        rp: Option<&str>,
        lines: &[Line],
        errors: &[LineError],
    ) -> write_plan::WritePlan {
        let destination = ddl::write_destination(&self.catalog, database, rp, now_ns());
        let db = database.unwrap_or_default();
        let types = &self.types;
        let plan = write_plan::plan(lines, errors, destination, &|m, f| {
            types.get(&(db.into(), m.into(), f.into())).copied()
        });
        for f in &plan.new_fields {
            self.types.insert(
                (db.into(), f.measurement.clone(), f.field.clone()),
                f.field_type,
            );
        }
        let rp = rp
            .filter(|r| !r.is_empty())
            .or(self
                .catalog
                .database(db)
                .map(|d| d.default_retention_policy.as_str()))
            .unwrap_or_default()
            .to_owned();
        for &i in &plan.points {
            self.insert(db, &rp, &lines[i], write_plan::stored_fields(&lines[i]));
        }
        plan
    }

    fn read(
        &self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Vec<(i64, Value)> {
        let mut out: Vec<(i64, Value)> = self.values[usize::try_from(key).unwrap()]
            .iter()
            .filter(|(t, _)| range.min <= *t && *t <= range.max)
            .cloned()
            .collect();
        if desc {
            out.reverse();
        }
        out.truncate(limit.unwrap_or(usize::MAX));
        out
    }
}

fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_nanos()).unwrap()
}

impl Source for Mem {
    /// The series of the database's default retention policy (those of the others are not
    /// merged in: no case of the corpora reads the tags of several policies at once).
    fn series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        let rp = self
            .catalog
            .database(database)
            .map(|d| d.default_retention_policy.clone())
            .unwrap_or_default();
        self.series_in(database, &rp, measurements)
    }

    fn series_in(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        let Some(series) = self.series.get(&(database.to_owned(), rp.to_owned())) else {
            return Ok(Vec::new());
        };
        Ok(series
            .iter()
            .filter(|((m, _), _)| measurements.is_none_or(|ms| ms.contains(m)))
            .map(|((measurement, tags), fields)| SeriesMeta {
                fields: fields
                    .iter()
                    .map(|(name, key)| FieldMeta {
                        ty: self.types[&(database.to_owned(), measurement.clone(), name.clone())],
                        name: name.clone(),
                        key: i64::try_from(*key).unwrap(),
                    })
                    .collect(),
                measurement: measurement.clone(),
                tags: tags.clone(),
            })
            .collect())
    }

    /// Leaves out what the contract lets it: in a measurement where no tag hint's key is a
    /// field and the series left are those its fields come from, the series failing a hint,
    /// so that the corpora check the engine's hints as they check its answers.
    fn series_matching(
        &mut self,
        database: &str,
        rp: &str,
        measurements: Option<&[String]>,
        tags: &[TagValues],
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        let all = self.series_in(database, rp, measurements)?;
        let fields = |series: &[&SeriesMeta]| -> std::collections::BTreeSet<String> {
            series
                .iter()
                .flat_map(|s| s.fields.iter().map(|f| f.name.clone()))
                .collect()
        };
        let mut out = Vec::new();
        for members in all.chunk_by(|a, b| a.measurement == b.measurement) {
            let every: Vec<&SeriesMeta> = members.iter().collect();
            let known = fields(&every);
            let passing: Vec<&SeriesMeta> = every
                .iter()
                .copied()
                .filter(|s| {
                    tags.iter().all(|t| {
                        known.contains(&t.key)
                            || s.tags
                                .iter()
                                .any(|(k, v)| *k == t.key && t.values.contains(v))
                    })
                })
                .collect();
            let kept = if fields(&passing) == known {
                passing
            } else {
                every
            };
            out.extend(kept.into_iter().cloned());
        }
        Ok(out)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        Ok(self
            .read(key, range, desc, limit)
            .into_iter()
            .map(|(t, v)| match v {
                Value::Float(f) => (t, f),
                other => panic!("points() of a field of type {:?}", other.field_type()),
            })
            .collect())
    }

    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        Ok(self.read(key, range, desc, limit))
    }

    fn store_database(&mut self, database: &Database) -> Result<Result<(), String>, SourceError> {
        match self
            .catalog
            .databases
            .iter_mut()
            .find(|d| d.name == database.name)
        {
            Some(d) => {
                // A dropped policy's points go with it.
                self.series.retain(|(db, rp), _| {
                    *db != database.name || database.retention_policy(rp).is_some()
                });
                *d = database.clone();
            }
            None => self.catalog.databases.push(database.clone()),
        }
        Ok(Ok(()))
    }

    fn drop_database(&mut self, name: &str) -> Result<Result<(), String>, SourceError> {
        self.catalog.databases.retain(|d| d.name != name);
        self.series.retain(|(db, _), _| db != name);
        self.types.retain(|(d, _, _), _| d != name);
        Ok(Ok(()))
    }

    fn drop_measurement(
        &mut self,
        database: &str,
        name: &str,
    ) -> Result<Result<(), String>, SourceError> {
        for ((db, _), series) in &mut self.series {
            if db == database {
                series.retain(|(m, _), _| m != name);
            }
        }
        self.types
            .retain(|(d, m, _), _| !(d == database && m == name));
        Ok(Ok(()))
    }

    fn delete_series(
        &mut self,
        database: &str,
        series: &[SeriesMeta],
        range: TimeRange,
    ) -> Result<Result<(), String>, SourceError> {
        for f in series.iter().flat_map(|s| &s.fields) {
            let values = &mut self.values[usize::try_from(f.key).unwrap()];
            values.retain(|(t, _)| *t < range.min || *t > range.max);
        }
        let values = &self.values;
        for ((db, _), stored) in &mut self.series {
            if db != database {
                continue;
            }
            for s in series {
                let key = (s.measurement.clone(), s.tags.clone());
                let empty = stored
                    .get(&key)
                    .is_some_and(|fields| fields.values().all(|&k| values[k].is_empty()));
                if empty {
                    stored.remove(&key);
                }
            }
        }
        Ok(Ok(()))
    }

    fn write_points(
        &mut self,
        database: &str,
        rp: &str,
        points: &[Line],
    ) -> Result<Result<usize, String>, SourceError> {
        let plan = self.write_lines(Some(database), Some(rp), points, &[]);
        Ok(match plan.answer.error {
            None => Ok(plan.points.len()),
            Some(e) => Err(e),
        })
    }
}

impl harness::Store for Mem {
    fn catalog(&mut self) -> Catalog {
        self.catalog.clone()
    }

    fn write(
        &mut self,
        db: Option<&str>,
        rp: Option<&str>,
        precision: &str,
        body: &str,
    ) -> (u16, String) {
        // InfluxDB reads an unknown precision as nanoseconds.
        let precision = Precision::parse(precision).unwrap_or_default();
        let (lines, errors) = line_protocol::parse(body, precision, now_ns());
        let plan = self.write_lines(db, rp, &lines, &errors);
        (plan.answer.status, plan.answer.body())
    }

    fn source(&mut self) -> &mut dyn Source {
        self
    }
}
