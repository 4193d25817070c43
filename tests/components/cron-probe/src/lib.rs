//! Test fixture for the cron trigger: records every tick's timestamp in the default SQLite
//! database, and fails on request (`CRON_FAIL` set) so tests can see how errors are reported.

use spin_sdk::sqlite::{self, Connection, Value};

wit_bindgen::generate!({
    world: "spin-cron",
    path: "../../../wit/deps/spin-cron",
});

struct CronProbe;

impl Guest for CronProbe {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        // The tick is recorded even when asked to fail, so tests can tell "not called" from
        // "called and failed".
        record(metadata.timestamp).map_err(|e| Error::Other(format!("{e:?}")))?;
        if std::env::var_os("CRON_FAIL").is_some() {
            return Err(Error::Other("asked to fail".into()));
        }
        Ok(())
    }
}

export!(CronProbe);

fn record(timestamp: u64) -> Result<(), sqlite::Error> {
    // SQLite integers are signed; a u64 past i64::MAX is no real clock reading.
    let ts = i64::try_from(timestamp).unwrap_or(i64::MAX);
    let db = Connection::open_default()?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS cron_ticks(ts INTEGER NOT NULL)",
        &[],
    )?;
    db.execute(
        "INSERT INTO cron_ticks(ts) VALUES (?)",
        &[Value::Integer(ts)],
    )?;
    Ok(())
}
