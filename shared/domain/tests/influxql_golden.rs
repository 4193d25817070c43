//! The InfluxQL engine against the answers the real InfluxDB 1.6.7 gave
//! (`tests/golden/influxql/`, recorded by `scripts/record-influx-golden`), over the recorded
//! data set in memory. The same corpus runs over SQLite in `shared/storage/tests`.

#![allow(clippy::unwrap_used)]

#[path = "../../../tests/golden/influxql/harness.rs"]
mod harness;

use fieldline_domain::query::{SeriesMeta, Source, SourceError, TimeRange};

/// The recorded data set, in memory.
struct Mem {
    series: Vec<SeriesMeta>,
    points: Vec<Vec<(i64, f64)>>,
}

impl Source for Mem {
    fn series(
        &mut self,
        _: &str,
        measurements: Option<&[String]>,
    ) -> Result<Vec<SeriesMeta>, SourceError> {
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
        Ok(range.read(&self.points[usize::try_from(key).unwrap()], desc, limit))
    }
}

#[test]
fn the_engine_gives_influxdbs_answers() {
    let mut mem = Mem {
        series: Vec::new(),
        points: Vec::new(),
    };
    for line in harness::dataset() {
        let i = match mem
            .series
            .iter()
            .position(|s| s.measurement == line.measurement && s.tags == line.tags)
        {
            Some(i) => i,
            None => {
                mem.series.push(SeriesMeta::channel(
                    i64::try_from(mem.series.len()).unwrap(),
                    line.measurement,
                    line.tags,
                ));
                mem.points.push(Vec::new());
                mem.series.len() - 1
            }
        };
        mem.points[i].push((line.ms * 1_000_000, line.value));
    }
    for p in &mut mem.points {
        p.sort_by_key(|x| x.0);
    }
    harness::replay(&mut mem);
}
