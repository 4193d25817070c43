//! `scripts/bench conduit`'s native side: sets up a database for the host to serve, and measures
//! the storage layer's ceiling for the rows the HTTP benchmark writes (v2 uploads of 32 channels).
//!
//! `conduit_bench setup DB` creates an organization, an Enterprise Conduit token (no write limit)
//! and the device `bench-device`, and prints the token. `conduit_bench ceiling DIR SECONDS`
//! prints one JSON line: points per second for
//! - `same_path`: what the component does per upload, natively: authenticate the token, then
//!   `fieldline_service::ingest` of 32 readings (device, rate-limit and quota counters, channels, one
//!   multi-row insert), each upload in its own transaction (one commit and one sync per upload,
//!   as the host's writer gives a request that arrives alone), `synchronous=FULL` as the host
//!   runs it;
//! - `grouped`: the same uploads with 512 to a transaction, as the host's writer groups
//!   concurrent requests' writes: the ceiling with one writer.

use std::path::Path;
use std::time::{Duration, Instant};

use fieldline_domain::conduit::{ConduitChannel, Reading};
use fieldline_domain::{
    ConduitServices, ConduitTier, DeviceFields, Email, Name, NetworkId, OrgFields, OrgName,
    Password, PasswordHasher, Subscription, Timestamp,
};
use fieldline_service::auth::{conduit_caller, ConduitService};
use fieldline_service::ingest::conduit_upload;
use fieldline_storage::{native, NewToken, SqlStore};

const NETWORK_ID: &str = "bench-device";

fn setup(path: &Path) -> anyhow::Result<String> {
    let db = native::open(path)?;
    fieldline_storage::migrate(&db)?;
    let now = Timestamp::now();
    let hash = PasswordHasher::insecure_fast_for_tests().hash(&Password::parse("benchmark pw")?)?;
    // No quota, and retention long enough for the workload's timestamps (from 2020 on).
    let subscription = Subscription {
        points_per_hour: i64::MAX as u64,
        detailed_retention_days: 36_500,
        aggregated_retention_days: 36_500,
        ..Subscription::default()
    };
    let (tenant, _, user) = fieldline_storage::sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Bench")?),
        &subscription,
        &Email::parse("bench@example.com")?,
        &hash,
        now,
    )?;
    let mut fields = DeviceFields::named(Name::parse("Bench")?);
    fields.network_id = Some(NetworkId::parse(NETWORK_ID)?);
    fieldline_storage::create_device(&db, &tenant, &fields, None, now)?;
    let (_, secret) = fieldline_storage::create_token(
        &db,
        &tenant,
        &NewToken::conduit(user.id, ConduitTier::Enterprise, ConduitServices::default()),
        now,
    )?;
    Ok(secret.expose().to_owned())
}

fn readings(i: usize) -> anyhow::Result<Vec<Reading>> {
    (1..=32)
        .map(|c| {
            Ok(Reading {
                channel: ConduitChannel::new(c)?,
                value: (i % 1000) as f64 + c as f64 / 8.0,
            })
        })
        .collect()
}

/// Uploads per second through the component's storage path, `group` uploads per transaction.
fn measure(dir: &Path, name: &str, group: usize, budget: Duration) -> anyhow::Result<f64> {
    let path = dir.join(format!("{name}.db"));
    let token = setup(&path)?;
    let db = native::open(&path)?;
    db.pragma_update(None, "synchronous", "FULL")?;
    let network_id = NetworkId::parse(NETWORK_ID)?;
    let base = 1_700_000_000_000_i64;
    let (mut uploads, start) = (0usize, Instant::now());
    while start.elapsed() < budget {
        fieldline_storage::transaction(&db, |db| {
            for _ in 0..group {
                let now = Timestamp::now();
                let store = SqlStore(db);
                let caller = conduit_caller(&store, Some(&token), ConduitService::Http, now)?;
                let ts = Timestamp::from_millis(base + uploads as i64)?;
                let r = readings(uploads)
                    .map_err(|e| fieldline_storage::Error::Corrupt(e.to_string()))?;
                conduit_upload(&store, &caller, &network_id, ts, &r, now)?;
                uploads += 1;
            }
            Ok(())
        })?;
    }
    Ok(uploads as f64 * 32.0 / start.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["setup", db] => println!("{}", setup(Path::new(db))?),
        ["ceiling", dir, secs] => {
            let budget = Duration::from_secs_f64(secs.parse()?);
            let dir = Path::new(dir);
            let same_path = measure(dir, "same-path", 1, budget)?;
            let grouped = measure(dir, "grouped", 512, budget)?;
            println!(r#"{{"same_path_pts": {same_path:.0}, "grouped_pts": {grouped:.0}}}"#);
        }
        _ => anyhow::bail!("usage: conduit_bench setup DB | conduit_bench ceiling DIR SECONDS"),
    }
    Ok(())
}
