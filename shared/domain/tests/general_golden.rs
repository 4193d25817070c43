//! The InfluxQL engine against the answers the real InfluxDB 1.6 gave over the general data
//! set (`tests/golden/influxdb-general/`: several measurements, tags, and fields of every type),
//! over that data set in memory.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/golden/influxdb-general/harness.rs"]
mod harness;

use std::collections::BTreeMap;

use fieldline_domain::line_protocol::FieldValue;
use fieldline_domain::query::{
    FieldMeta, FieldType, SeriesMeta, Source, SourceError, TimeRange, Value,
};

/// The cases that differ from InfluxDB's answer by design, and why.
const DIFFERENT: &[(&str, &str)] = &[];

/// How many cases give InfluxDB's answer: the count must not drop.
const FLOOR: usize = 266;

/// A series' measurement and tags.
type SeriesKey = (String, Vec<(String, String)>);

/// The data set in memory, as database `general`: per series its fields' points, each field's
/// type the first one written to its measurement.
struct Mem {
    series: Vec<SeriesMeta>,
    /// By field key: its points, in time order.
    values: Vec<Vec<(i64, Value)>>,
}

impl Mem {
    fn new() -> Mem {
        let mut types: BTreeMap<(String, String), FieldType> = BTreeMap::new();
        let mut series: BTreeMap<SeriesKey, BTreeMap<String, usize>> = BTreeMap::new();
        let mut values: Vec<Vec<(i64, Value)>> = Vec::new();
        let lines = harness::dataset();
        assert_eq!(lines.len(), 2193, "the points of dataset.lp");
        for line in lines {
            let fields = series
                .entry((line.measurement.clone(), line.tags.clone()))
                .or_default();
            for (name, v) in line.fields {
                let v = match v {
                    FieldValue::Float(f) => Value::Float(f),
                    FieldValue::Integer(i) => Value::Integer(i),
                    FieldValue::String(s) => Value::String(s),
                    FieldValue::Boolean(b) => Value::Boolean(b),
                };
                let ty = *types
                    .entry((line.measurement.clone(), name.clone()))
                    .or_insert(v.field_type());
                if v.field_type() != ty {
                    continue; // InfluxDB refuses a point of another type
                }
                let key = *fields.entry(name).or_insert_with(|| {
                    values.push(Vec::new());
                    values.len() - 1
                });
                values[key].push((line.timestamp_ns, v));
            }
        }
        for v in &mut values {
            // A later point at the same time replaces the earlier one.
            v.reverse();
            v.sort_by_key(|p| p.0);
            v.dedup_by_key(|p| p.0);
        }
        let series = series
            .into_iter()
            .map(|((measurement, tags), fields)| SeriesMeta {
                fields: fields
                    .into_iter()
                    .map(|(name, key)| FieldMeta {
                        ty: types[&(measurement.clone(), name.clone())],
                        name,
                        key: i64::try_from(key).unwrap(),
                    })
                    .collect(),
                measurement,
                tags,
            })
            .collect();
        Mem { series, values }
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

impl Source for Mem {
    fn series(
        &mut self,
        database: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
        if database != harness::DATABASE {
            return Ok(Vec::new());
        }
        Ok(self
            .series
            .iter()
            .filter(|s| measurements.is_none_or(|m| m.contains(&s.measurement)))
            .cloned()
            .collect())
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
}

#[test]
fn the_engine_gives_influxdbs_answers_over_general_data() {
    let mut mem = Mem::new();
    let equal = harness::replay(&mut mem, FLOOR, DIFFERENT);
    assert!(equal >= FLOOR);
}
