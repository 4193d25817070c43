//! Batched point writes through the storage layer next to raw rusqlite prepared inserts of the
//! same rows, in the same run: points per second at batch sizes 1, 32, 100 and 1000.
//!
//! `cargo run --release -p fieldline-storage --features native --example ingest_bench`
//!
//! Both sides write to a fresh database file of the same schema, in WAL mode, one transaction
//! per batch: the storage layer with one multi-row upsert statement per batch (autocommit), the
//! raw side with `BEGIN`, one cached prepared single-row `INSERT` per point, `COMMIT`. Measured
//! with `synchronous=FULL` (a sync per commit, SQLite's default and Spin's) and `NORMAL`.

use std::path::Path;
use std::time::{Duration, Instant};

use fieldline_domain::{
    ChannelFields, CommunicationId, DeviceFields, Email, Name, OrgFields, OrgName, Password,
    PasswordHasher, Point, SensorFields, Subscription, Timestamp,
};
use fieldline_storage::{native, ChannelRef, Tenant};

const CHANNELS: usize = 10;
const BATCHES: [usize; 4] = [1, 32, 100, 1000];
/// Time spent per (batch size, side): enough batches to average over many commits.
const BUDGET: Duration = Duration::from_secs(3);

fn setup(path: &Path) -> anyhow::Result<(rusqlite::Connection, Tenant, Vec<ChannelRef>)> {
    let db = native::open(path)?;
    fieldline_storage::migrate(&db)?;
    let now = Timestamp::now();
    let hash = PasswordHasher::insecure_fast_for_tests().hash(&Password::parse("benchmark pw")?)?;
    let (tenant, _, _) = fieldline_storage::sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Bench")?),
        &Subscription::default(),
        &Email::parse("bench@example.com")?,
        &hash,
        now,
    )?;
    let device = fieldline_storage::create_device(
        &db,
        &tenant,
        &DeviceFields::named(Name::parse("Bench")?),
        None,
        now,
    )?;
    let sensor = fieldline_storage::create_sensor(
        &db,
        &tenant,
        device.id,
        &SensorFields::named(Name::parse("Bench")?),
        now,
    )?;
    for i in 0..CHANNELS {
        let comm = CommunicationId::from_number(u32::try_from(i + 1)?);
        let fields = ChannelFields::named(Name::parse(comm.as_str())?);
        fieldline_storage::create_channel(&db, &tenant, sensor.id, Some(comm), &fields, now)?;
    }
    let refs = fieldline_storage::channel_refs(&db, &tenant, device.id)?;
    let mut channels: Vec<ChannelRef> = refs.into_values().collect();
    channels.sort();
    Ok((db, tenant, channels))
}

/// The i-th point of the stream: channels in turn, one second apart per channel.
fn row(channels: &[ChannelRef], i: usize) -> anyhow::Result<(ChannelRef, Point)> {
    let base = 1_700_000_000_000_i64;
    let ts = Timestamp::from_millis(base + i64::try_from(i / CHANNELS)? * 1000)?;
    Ok((
        channels[i % CHANNELS],
        Point::new(ts, (i % 1000) as f64 * 0.5)?,
    ))
}

fn batch(
    channels: &[ChannelRef],
    start: usize,
    size: usize,
) -> anyhow::Result<Vec<(ChannelRef, Point)>> {
    (start..start + size).map(|i| row(channels, i)).collect()
}

/// One batch through `write_points`: one multi-row upsert, autocommit.
fn write_storage(
    db: &rusqlite::Connection,
    tenant: &Tenant,
    rows: &[(ChannelRef, Point)],
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    fieldline_storage::write_points(db, tenant, rows)?;
    Ok(t.elapsed())
}

/// The same batch with rusqlite alone: a transaction, a prepared insert per point.
fn write_raw(db: &rusqlite::Connection, rows: &[(ChannelRef, Point)]) -> anyhow::Result<Duration> {
    let rows: Vec<(i64, i64, f64)> = rows
        .iter()
        .map(|(c, p)| (c.key(), p.ts().as_millis(), p.value()))
        .collect();
    let t = Instant::now();
    let tx = db.unchecked_transaction()?;
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO points (channel_key, ts, value) VALUES (?1, ?2, ?3)")?;
        for (c, ts, v) in &rows {
            stmt.execute((c, ts, v))?;
        }
    }
    tx.commit()?;
    Ok(t.elapsed())
}

/// Points per second (storage, raw) at one batch size. The two sides alternate batch by batch,
/// each into its own fresh file, so that load from other processes hits both alike.
fn bench(dir: &Path, synchronous: &str, size: usize) -> anyhow::Result<(f64, f64, usize)> {
    let open = |side: &str| -> anyhow::Result<_> {
        let (db, tenant, channels) = setup(&dir.join(format!("{side}-{synchronous}-{size}.db")))?;
        db.pragma_update(None, "synchronous", synchronous)?;
        Ok((db, tenant, channels))
    };
    let (storage_db, tenant, channels) = open("storage")?;
    let (raw_db, _, raw_channels) = open("raw")?;
    let (mut written, mut t_storage, mut t_raw) = (0usize, Duration::ZERO, Duration::ZERO);
    while t_storage + t_raw < 2 * BUDGET {
        t_storage += write_storage(&storage_db, &tenant, &batch(&channels, written, size)?)?;
        t_raw += write_raw(&raw_db, &batch(&raw_channels, written, size)?)?;
        written += size;
    }
    let rate = |t: Duration| written as f64 / t.as_secs_f64();
    Ok((rate(t_storage), rate(t_raw), written))
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "batched point writes, storage layer vs raw rusqlite, same rows, alternating batches; \
         WAL, one transaction per batch, {CHANNELS} channels, ~{}s per side and row; files in {}",
        BUDGET.as_secs(),
        dir.path().display()
    );
    // FULL syncs the WAL at every commit (SQLite's default, and Spin's); NORMAL does not, which
    // leaves the CPU cost of each side visible.
    for synchronous in ["FULL", "NORMAL"] {
        println!("\nsynchronous={synchronous}");
        println!(
            "{:>6} {:>10} {:>16} {:>16} {:>12}",
            "batch", "points", "storage pts/s", "raw pts/s", "storage/raw"
        );
        for size in BATCHES {
            let (storage, raw, n) = bench(dir.path(), synchronous, size)?;
            println!(
                "{size:>6} {n:>10} {storage:>16.0} {raw:>16.0} {:>12.2}",
                storage / raw
            );
        }
    }
    Ok(())
}
