//! The `maintenance` component (`functions/maintenance`) on the cron trigger of spin.toml: run
//! once with `fieldline trigger cron maintenance` against a running application's state, it
//! deletes the rate-limit counters whose window has ended and keeps the others.

use fieldline_domain::Timestamp;
use fieldline_storage as storage;
use fieldline_tests::{run_host, workspace, Start};

const SECRET: &str = "e2e-maintenance-jwt-secret-0123456789abcdef";

#[test]
fn maintenance_purges_expired_counters_on_its_cron_trigger() {
    // The application starts with its cron trigger (the host schedules every [[trigger.cron]]
    // at start-up and refuses an expression it cannot parse).
    let h = Start::new(workspace().join("spin.toml"))
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .start()
        .expect("host starts");
    let db = storage::native::open(&h.state.path().join("sqlite_db.db")).expect("db");
    storage::migrate(&db).expect("migrate");

    // Counters of windows that ended, as one-second Conduit write windows leave them behind,
    // and one of a window still running.
    let now = Timestamp::now();
    for i in 0..250 {
        let key = format!("conduit-write|token:t{i}|1");
        storage::increment_counter(&db, &key, 1, now.add_secs(-5)).expect("counter");
    }
    let live = "conduit-write|token:live|2";
    storage::increment_counter(&db, live, 7, now.add_secs(3600)).expect("counter");

    let state = h.state.path().to_string_lossy().to_string();
    let manifest = workspace().join("spin.toml");
    let (ok, out) = run_host(
        &[
            "trigger",
            "cron",
            "maintenance",
            "--from",
            &manifest.to_string_lossy(),
            "--state-dir",
            &state,
        ],
        &[("SPIN_VARIABLE_JWT_SECRET", SECRET)],
    )
    .expect("runs");
    assert!(ok, "{out}");
    assert!(
        out.contains("maintenance: purged 250 expired counters"),
        "{out}"
    );
    let left: Vec<(String, i64)> = db
        .prepare("SELECT key, n FROM counters")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("counters");
    assert_eq!(left, vec![(live.to_owned(), 7)], "the live counter is kept");
    // ... and it goes on counting where it was.
    let n = storage::increment_counter(&db, live, 1, now.add_secs(3600)).expect("counter");
    assert_eq!(n, 8);

    // Scheduled every minute, not only run on demand.
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(&manifest).expect("spin.toml")).expect("toml");
    let crons = manifest["trigger"]["cron"]
        .as_array()
        .expect("[[trigger.cron]]");
    assert!(
        crons
            .iter()
            .any(|t| t["component"].as_str() == Some("maintenance")
                && t["cron_expression"].as_str() == Some("0 * * * * *")),
        "{crons:?}"
    );
}
