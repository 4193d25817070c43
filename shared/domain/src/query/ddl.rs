//! Databases and retention policies as InfluxDB 1.6 manages them (`coordinator/statement_executor.go`,
//! `services/meta/client.go` and `data.go`): [`apply`] runs `CREATE`/`DROP DATABASE` and
//! `CREATE`/`ALTER`/`DROP RETENTION POLICY` over a [`Catalog`] with InfluxDB's rules and error
//! texts, [`show_databases`] and [`show_retention_policies`] answer as InfluxDB lists them, and
//! [`write_destination`] says where a `/write` goes. Pure: the caller loads the catalog of an
//! organization and stores it back.
//!
//! InfluxDB's rules:
//! - names are printable and not empty, `.`, `..` nor hold `/` or `\` (`invalid name`);
//! - creating an existing database is not an error; `WITH …` then must match its default
//!   policy exactly (`retention policy conflicts with an existing policy`);
//! - a duration is at least an hour (`retention policy duration must be at least 1h0m0s`), or
//!   `INF` (0), and not shorter than the shard group duration;
//! - an absent shard group duration is a week for `INF` or 180 days and more, a day for two days
//!   and more, else an hour; one below an hour is an hour;
//! - a policy re-created identically is not an error; with other values it `already exists`;
//! - `ALTER` keeps the shard group duration when only the duration changes;
//! - dropping a database or policy that does not exist is not an error; dropping the default
//!   policy leaves the database's default naming it (reads and writes without `rp` then answer
//!   `retention policy not found`).
//!
//! Fieldline's own rule: a subscription keeps data for at most `max_retention_ns` (0: no limit).
//! A duration written above it, or `INF`, is refused (`retention policy duration must be at most
//! …`); a policy created without a duration (`autogen`, `CREATE DATABASE … WITH NAME x`) keeps
//! data that long instead of forever.
//!
//! Where Fieldline differs from InfluxDB 1.6: names are checked for printable characters with
//! Rust's `char::is_control` and `char::is_whitespace` (Go's `unicode.IsPrint` also refuses
//! format characters such as U+200B).

use crate::influxql::{AlterRetentionPolicy, CreateDatabase, CreateRetentionPolicy, Statement};

use super::format::go_duration;
use super::result::{Cell, Series};
use super::write_plan::Destination;

/// InfluxDB's shortest retention policy duration (`meta.MinRetentionPolicyDuration`).
pub const MIN_RETENTION_NS: i64 = 3_600_000_000_000;

/// The policy `CREATE DATABASE` creates (`meta.DefaultRetentionPolicyName`).
pub const DEFAULT_RETENTION_POLICY: &str = "autogen";

const DAY: i64 = 24 * MIN_RETENTION_NS;

/// A retention policy. Durations are nanoseconds; a `duration_ns` of 0 keeps data forever.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetentionPolicy {
    pub name: String,
    pub duration_ns: i64,
    pub shard_group_duration_ns: i64,
    pub replication: u32,
}

/// A database: its retention policies in the order they were created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    pub retention_policies: Vec<RetentionPolicy>,
    /// The policy of reads and writes that name none. It may name a policy that was dropped,
    /// or be empty, as in InfluxDB.
    pub default_retention_policy: String,
}

impl Database {
    pub fn retention_policy(&self, name: &str) -> Option<&RetentionPolicy> {
        self.retention_policies.iter().find(|p| p.name == name)
    }
}

/// An organization's databases, in the order they were created (SHOW DATABASES lists them so).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub databases: Vec<Database>,
}

impl Catalog {
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.iter().find(|d| d.name == name)
    }

    fn database_mut(&mut self, name: &str) -> Option<&mut Database> {
        self.databases.iter_mut().find(|d| d.name == name)
    }
}

/// The shard group duration InfluxDB gives a policy of `duration_ns` that names none
/// (`meta.shardGroupDuration`).
pub fn shard_group_duration(duration_ns: i64) -> i64 {
    if duration_ns == 0 || duration_ns >= 180 * DAY {
        7 * DAY
    } else if duration_ns >= 2 * DAY {
        DAY
    } else {
        MIN_RETENTION_NS
    }
}

/// A shard group duration as written (`0` when absent) made what InfluxDB stores
/// (`meta.normalisedShardDuration`).
fn normalised_shard_duration(shard_ns: i64, duration_ns: i64) -> i64 {
    if shard_ns == 0 {
        shard_group_duration(duration_ns)
    } else if shard_ns < MIN_RETENTION_NS {
        shard_group_duration(MIN_RETENTION_NS)
    } else {
        shard_ns
    }
}

const INVALID_NAME: &str = "invalid name";
const CONFLICT: &str = "retention policy conflicts with an existing policy";
const INCOMPATIBLE: &str = "retention policy duration must be greater than the shard duration";

/// influxdb's `meta.ValidName`.
pub fn valid_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..")
        && !name.contains(['/', '\\'])
        && name
            .chars()
            .all(|c| c == ' ' || !(c.is_control() || c.is_whitespace()))
}

/// A duration written in a statement: at least an hour or `INF`, and within the subscription's
/// retention.
fn check_duration(duration_ns: i64, max_retention_ns: i64) -> Result<(), String> {
    if duration_ns != 0 && duration_ns < MIN_RETENTION_NS {
        return Err(format!(
            "retention policy duration must be at least {}",
            go_duration(MIN_RETENTION_NS)
        ));
    }
    if max_retention_ns > 0 && (duration_ns == 0 || duration_ns > max_retention_ns) {
        return Err(format!(
            "retention policy duration must be at most {}: the subscription keeps data that long",
            go_duration(max_retention_ns)
        ));
    }
    Ok(())
}

/// Runs a `CREATE`/`DROP DATABASE` or `CREATE`/`ALTER`/`DROP RETENTION POLICY` statement;
/// `Err` is the statement's error as InfluxDB words it, and leaves the catalog as it was.
/// `max_retention_ns` is the subscription's retention (0: no limit).
pub fn apply(
    statement: &Statement,
    catalog: &mut Catalog,
    max_retention_ns: i64,
) -> Result<(), String> {
    match statement {
        Statement::CreateDatabase(s) => create_database(s, catalog, max_retention_ns),
        Statement::DropDatabase(name) => {
            catalog.databases.retain(|d| d.name != *name);
            Ok(())
        }
        Statement::CreateRetentionPolicy(s) => {
            create_retention_policy(s, catalog, max_retention_ns)
        }
        Statement::AlterRetentionPolicy(s) => alter_retention_policy(s, catalog, max_retention_ns),
        Statement::DropRetentionPolicy { name, database } => {
            if let Some(db) = catalog.database_mut(database) {
                db.retention_policies.retain(|p| p.name != *name);
            }
            Ok(())
        }
        other => Err(format!(
            "not a database or retention policy statement: {other}"
        )),
    }
}

fn create_database(
    s: &CreateDatabase,
    catalog: &mut Catalog,
    max_retention_ns: i64,
) -> Result<(), String> {
    if !valid_name(&s.name) {
        return Err(INVALID_NAME.into());
    }
    let Some(with) = &s.with else {
        if catalog.database(&s.name).is_none() {
            catalog.databases.push(Database {
                name: s.name.clone(),
                retention_policies: vec![RetentionPolicy {
                    name: DEFAULT_RETENTION_POLICY.into(),
                    duration_ns: max_retention_ns,
                    shard_group_duration_ns: shard_group_duration(max_retention_ns),
                    replication: 1,
                }],
                default_retention_policy: DEFAULT_RETENTION_POLICY.into(),
            });
        }
        return Ok(());
    };
    let name = with.name.as_deref().filter(|n| !n.is_empty());
    if name.is_some_and(|n| !valid_name(n)) {
        return Err(INVALID_NAME.into());
    }
    if let Some(d) = with.duration {
        check_duration(d, max_retention_ns)?;
    }
    let duration_ns = with.duration.unwrap_or(max_retention_ns);
    let policy = RetentionPolicy {
        name: name.unwrap_or(DEFAULT_RETENTION_POLICY).to_owned(),
        duration_ns,
        shard_group_duration_ns: normalised_shard_duration(
            with.shard_duration.unwrap_or(0),
            duration_ns,
        ),
        replication: with.replication.unwrap_or(1),
    };
    match catalog.database(&s.name) {
        None => {
            check_shard_duration(&policy)?;
            catalog.databases.push(Database {
                name: s.name.clone(),
                default_retention_policy: policy.name.clone(),
                retention_policies: vec![policy],
            });
            Ok(())
        }
        Some(db) if db.retention_policies.is_empty() => {
            check_shard_duration(&policy)?;
            let db = catalog
                .database_mut(&s.name)
                .expect("the database is there");
            db.default_retention_policy = policy.name.clone();
            db.retention_policies.push(policy);
            Ok(())
        }
        Some(db) => {
            // Idempotent only for the database's default policy, as written (meta's
            // `RetentionPolicySpec.Matches`).
            let matches = db.retention_policy(&policy.name).is_some_and(|p| {
                with.duration.is_none_or(|d| d == p.duration_ns)
                    && with.replication.is_none_or(|n| n == p.replication)
                    && normalised_shard_duration(with.shard_duration.unwrap_or(0), p.duration_ns)
                        == p.shard_group_duration_ns
            });
            if matches && db.default_retention_policy == policy.name {
                Ok(())
            } else {
                Err(CONFLICT.into())
            }
        }
    }
}

fn check_shard_duration(p: &RetentionPolicy) -> Result<(), String> {
    if p.duration_ns > 0 && p.duration_ns < p.shard_group_duration_ns {
        Err(INCOMPATIBLE.into())
    } else {
        Ok(())
    }
}

fn create_retention_policy(
    s: &CreateRetentionPolicy,
    catalog: &mut Catalog,
    max_retention_ns: i64,
) -> Result<(), String> {
    if !valid_name(&s.name) {
        return Err(INVALID_NAME.into());
    }
    check_duration(s.duration, max_retention_ns)?;
    let policy = RetentionPolicy {
        name: s.name.clone(),
        duration_ns: s.duration,
        shard_group_duration_ns: normalised_shard_duration(
            s.shard_duration.unwrap_or(0),
            s.duration,
        ),
        replication: s.replication,
    };
    check_shard_duration(&policy)?;
    let db = catalog
        .database_mut(&s.database)
        .ok_or_else(|| format!("database not found: {}", s.database))?;
    if let Some(p) = db.retention_policy(&s.name) {
        if *p != policy {
            return Err("retention policy already exists".into());
        }
        if s.default && db.default_retention_policy != s.name {
            return Err(CONFLICT.into());
        }
        return Ok(());
    }
    db.retention_policies.push(policy);
    if s.default {
        db.default_retention_policy = s.name.clone();
    }
    Ok(())
}

fn alter_retention_policy(
    s: &AlterRetentionPolicy,
    catalog: &mut Catalog,
    max_retention_ns: i64,
) -> Result<(), String> {
    let db = catalog
        .database_mut(&s.database)
        .ok_or_else(|| format!("database not found: {}", s.database))?;
    let p = db
        .retention_policies
        .iter_mut()
        .find(|p| p.name == s.name)
        .ok_or_else(|| format!("retention policy not found: {}", s.name))?;
    if let Some(d) = s.duration {
        check_duration(d, max_retention_ns)?;
    }
    // meta's `UpdateRetentionPolicy` compares the shard duration as written.
    let incompatible = match (s.duration, s.shard_duration) {
        (Some(d), Some(sgd)) => d > 0 && d < sgd,
        (Some(d), None) => d > 0 && d < p.shard_group_duration_ns,
        (None, Some(sgd)) => p.duration_ns > 0 && p.duration_ns < sgd,
        (None, None) => false,
    };
    if incompatible {
        return Err(INCOMPATIBLE.into());
    }
    if let Some(d) = s.duration {
        p.duration_ns = d;
    }
    if let Some(n) = s.replication {
        p.replication = n;
    }
    if let Some(sgd) = s.shard_duration {
        p.shard_group_duration_ns = normalised_shard_duration(sgd, p.duration_ns);
    }
    if s.default {
        db.default_retention_policy = s.name.clone();
    }
    Ok(())
}

/// `SHOW DATABASES`: one series, `databases`, with a `name` column.
pub fn show_databases(catalog: &Catalog) -> Series {
    Series {
        name: Some("databases".into()),
        columns: vec!["name".into()],
        values: catalog
            .databases
            .iter()
            .map(|d| vec![Cell::Str(d.name.clone())])
            .collect(),
        ..Series::default()
    }
}

/// `SHOW RETENTION POLICIES [ON db]`: `database` is the `ON` clause's, else the `db`
/// parameter's. Columns `name`, `duration`, `shardGroupDuration` (written as Go writes a
/// duration: `168h0m0s`, `0s` for INF), `replicaN` and `default`.
pub fn show_retention_policies(
    catalog: &Catalog,
    database: Option<&str>,
) -> Result<Series, String> {
    let name = database
        .filter(|d| !d.is_empty())
        .ok_or("database name required")?;
    let db = catalog
        .database(name)
        .ok_or_else(|| format!("database not found: {name}"))?;
    Ok(Series {
        columns: [
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]
        .map(String::from)
        .to_vec(),
        values: db
            .retention_policies
            .iter()
            .map(|p| {
                vec![
                    Cell::Str(p.name.clone()),
                    Cell::Str(go_duration(p.duration_ns)),
                    Cell::Str(go_duration(p.shard_group_duration_ns)),
                    Cell::Integer(i64::from(p.replication)),
                    Cell::Bool(p.name == db.default_retention_policy),
                ]
            })
            .collect(),
        ..Series::default()
    })
}

/// The warning InfluxDB 1.6 adds when a statement that changes the catalog, or drops a
/// measurement or series, comes in a `GET` (it runs it all the same; `DELETE` has none);
/// `None` for other statements.
pub fn read_only_warning(statement: &Statement) -> Option<String> {
    let warned = statement.ddl_keywords().is_some()
        || matches!(
            statement,
            Statement::DropMeasurement(_) | Statement::DropSeries(_)
        );
    warned.then(|| {
        format!(
            "deprecated use of '{statement}' in a read only context, please use a POST request \
             instead"
        )
    })
}

/// Where a `/write` with the parameters `db` and `rp` goes at `now_ns`, for
/// [`super::write_plan::plan`]: no `rp` (or an empty one) is the database's default policy.
pub fn write_destination<'a>(
    catalog: &'a Catalog,
    db: Option<&'a str>,
    rp: Option<&'a str>,
    now_ns: i64,
) -> Destination<'a> {
    let Some(name) = db.filter(|d| !d.is_empty()) else {
        return Destination::NoDatabase;
    };
    let Some(database) = catalog.database(name) else {
        return Destination::MissingDatabase(name);
    };
    let rp = rp
        .filter(|r| !r.is_empty())
        .unwrap_or(&database.default_retention_policy);
    match database.retention_policy(rp) {
        None => Destination::MissingRetentionPolicy(rp),
        Some(p) => Destination::Found {
            earliest_ns: (p.duration_ns > 0).then(|| now_ns.saturating_sub(p.duration_ns)),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests;
