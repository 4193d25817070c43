//! The notifier's workload for `scripts/bench notifier` (scripts/bench.d/notifier.sh):
//!
//! - `notifier_bench setup DB POINTS CHANNELS`: an organization whose CHANNELS channels (100 per
//!   device, each device notifying a confirmed address) have the threshold `> 50`, and POINTS
//!   new points spread over them (one a second per channel, ending now; values that cross the
//!   threshold now and then), written through the storage layer as ingestion writes them, so
//!   the notifier's queue holds them all.
//! - `notifier_bench run DB`: one notifier run over that queue natively (the same
//!   `fieldline_service::notifier::run` the component calls, over rusqlite instead of Spin's
//!   SQLite interface); prints `seconds points mails`.
//! - `notifier_bench ingest`: what the queue costs ingestion: batched point writes (32 and 1000
//!   points, one statement each, autocommit) to channels with a threshold (the trigger appends
//!   each point to the queue), to channels without one (the trigger looks the channel up and
//!   appends nothing), and with the queue's triggers dropped (ingestion before the notifier),
//!   alternating between the three databases batch by batch, `synchronous=NORMAL` (CPU cost)
//!   and `FULL` (Spin's).

use std::path::Path;
use std::time::Instant;

use fieldline_domain::{
    ChannelFields, CommunicationId, DeviceFields, Email, Name, OrgFields, OrgName, Password,
    PasswordHasher, Point, SensorFields, Subscription, Threshold, ThresholdOp, Thresholds,
    Timestamp, Unit,
};
use fieldline_service::notifier::{self, Settings};
use fieldline_storage::{self as storage, native, ChannelRef, SqlStore};

fn setup(db_path: &Path, points: usize, channels: usize) -> anyhow::Result<()> {
    let db = native::open(db_path)?;
    storage::migrate(&db)?;
    let now = Timestamp::now();
    let hash =
        PasswordHasher::insecure_fast_for_tests().hash(&Password::parse("bench bench bench")?)?;
    let (tenant, _, _) = storage::sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Bench")?),
        &Subscription {
            notification_emails_per_day: 1_000_000,
            ..Subscription::default()
        },
        &Email::parse("bench@example.com")?,
        &hash,
        now,
    )?;
    let mut refs = Vec::with_capacity(channels);
    let per_device = 100;
    for d in 0..channels.div_ceil(per_device) {
        let mut f = DeviceFields::named(Name::parse(&format!("Device {d}"))?);
        f.notification_email = Some(Email::parse(&format!("device{d}@example.com"))?);
        let device = storage::create_device(&db, &tenant, &f, None, now)?;
        storage::set_notification_verified(&db, &tenant, device.id)?;
        let sensor = storage::create_sensor(
            &db,
            &tenant,
            device.id,
            &SensorFields::named(Name::parse("S")?),
            now,
        )?;
        storage::transaction(&db, |db| {
            for c in 0..per_device.min(channels - d * per_device) {
                let mut cf = ChannelFields::named(Name::parse(&format!("C{c}"))?);
                cf.unit = Unit::parse("°C")?;
                cf.thresholds =
                    Thresholds::new(Some(Threshold::new(ThresholdOp::Gt, 50.0)?), None)?;
                let ch = storage::create_channel(
                    db,
                    &tenant,
                    sensor.id,
                    Some(CommunicationId::parse(&format!("c{c}"))?),
                    &cf,
                    now,
                )?;
                refs.push(ChannelRef {
                    org_key: tenant.key,
                    key: ch.key,
                });
            }
            Ok(())
        })?;
    }
    let per_channel = points / channels;
    // Batches as ingestion writes them: one time across all channels, 5,000 rows a statement.
    let mut batch = Vec::with_capacity(channels);
    for i in 0..per_channel {
        let t = now.add_millis(-((per_channel - i) as i64) * 1000);
        batch.clear();
        for (k, r) in refs.iter().enumerate() {
            // A slow wave per channel, crossing 50 a few times over the run.
            let v = 50.0 + 10.0 * (((i + k * 7) as f64) / 15.0).sin();
            batch.push((*r, Point::new(t, v)?));
        }
        for chunk in batch.chunks(5000) {
            storage::write_points(&db, &tenant, chunk)?;
        }
    }
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    println!("{}", storage::queue_length(&db)?);
    Ok(())
}

fn run(db_path: &Path) -> anyhow::Result<()> {
    let db = native::open(db_path)?;
    storage::migrate(&db)?;
    let store = SqlStore(&db);
    let settings = Settings {
        console_url: "http://127.0.0.1:3000".into(),
        public_url: "http://127.0.0.1:3000".into(),
    };
    let started = Instant::now();
    let report = notifier::run(&store, &settings, Timestamp::now(), &mut || true)?;
    let secs = started.elapsed().as_secs_f64();
    println!("{secs:.3} {} {}", report.points, report.mails);
    Ok(())
}

/// A fresh database with 10 channels, with or without a threshold, or without the queue.
fn ingest_db(
    path: &Path,
    kind: &str,
    synchronous: &str,
) -> anyhow::Result<(
    rusqlite::Connection,
    fieldline_storage::Tenant,
    Vec<ChannelRef>,
)> {
    let db = native::open(path)?;
    storage::migrate(&db)?;
    db.execute_batch(&format!("PRAGMA synchronous={synchronous}"))?;
    let now = Timestamp::now();
    let hash =
        PasswordHasher::insecure_fast_for_tests().hash(&Password::parse("bench bench bench")?)?;
    let (tenant, _, _) = storage::sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Bench")?),
        &Subscription::default(),
        &Email::parse("bench@example.com")?,
        &hash,
        now,
    )?;
    let device = storage::create_device(
        &db,
        &tenant,
        &DeviceFields::named(Name::parse("D")?),
        None,
        now,
    )?;
    let sensor = storage::create_sensor(
        &db,
        &tenant,
        device.id,
        &SensorFields::named(Name::parse("S")?),
        now,
    )?;
    let mut refs = Vec::new();
    for c in 0..10 {
        let mut cf = ChannelFields::named(Name::parse(&format!("C{c}"))?);
        if kind == "threshold" {
            cf.thresholds = Thresholds::new(Some(Threshold::new(ThresholdOp::Gt, 1e9)?), None)?;
        }
        let ch = storage::create_channel(
            &db,
            &tenant,
            sensor.id,
            Some(CommunicationId::parse(&format!("c{c}"))?),
            &cf,
            now,
        )?;
        refs.push(ChannelRef {
            org_key: tenant.key,
            key: ch.key,
        });
    }
    if kind == "no-queue" {
        db.execute_batch("DROP TRIGGER points_insert_alarm; DROP TRIGGER points_update_alarm;")?;
    }
    Ok((db, tenant, refs))
}

fn ingest() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kinds = ["no-queue", "no-threshold", "threshold"];
    println!("ingestion with the notifier's queue: points/s, alternating batch by batch");
    println!(
        "{:>6} {:>6} {:>14} {:>14} {:>14} {:>10} {:>10}",
        "sync", "batch", "no queue", "no threshold", "threshold", "nothr/noq", "thr/noq"
    );
    for synchronous in ["NORMAL", "FULL"] {
        for size in [32usize, 1000] {
            let mut dbs = Vec::new();
            for k in kinds {
                dbs.push(ingest_db(
                    &dir.path().join(format!("{k}-{synchronous}-{size}.db")),
                    k,
                    synchronous,
                )?);
            }
            let mut elapsed = [0f64; 3];
            let mut written = 0usize;
            let t0 = Timestamp::now().as_millis();
            let mut round = 0i64;
            let started = Instant::now();
            while started.elapsed().as_secs_f64() < 6.0 {
                let batch: Vec<_> = (0..size)
                    .map(|i| {
                        let ts = Timestamp::from_millis(t0 + round * size as i64 + i as i64)
                            .expect("time");
                        (dbs[0].2[i % 10], Point::new(ts, i as f64).expect("point"))
                    })
                    .collect();
                for (k, (db, tenant, refs)) in dbs.iter().enumerate() {
                    let rows: Vec<_> = batch
                        .iter()
                        .map(|(r, p)| (refs[(r.key - dbs[0].2[0].key) as usize], *p))
                        .collect();
                    let s = Instant::now();
                    storage::write_points(db, tenant, &rows)?;
                    elapsed[k] += s.elapsed().as_secs_f64();
                }
                written += size;
                round += 1;
            }
            let rate = elapsed.map(|e| written as f64 / e);
            println!(
                "{synchronous:>6} {size:>6} {:>14.0} {:>14.0} {:>14.0} {:>10.3} {:>10.3}",
                rate[0],
                rate[1],
                rate[2],
                rate[1] / rate[0],
                rate[2] / rate[0]
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("setup") if args.len() == 5 => {
            setup(Path::new(&args[2]), args[3].parse()?, args[4].parse()?)
        }
        Some("run") if args.len() == 3 => run(Path::new(&args[2])),
        Some("ingest") => ingest(),
        _ => anyhow::bail!("usage: notifier_bench setup DB POINTS CHANNELS | run DB | ingest"),
    }
}
