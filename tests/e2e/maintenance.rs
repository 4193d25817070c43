//! The `maintenance` component (`functions/maintenance`) on the cron trigger of spin.toml: run
//! once with `fieldline trigger cron maintenance` against a running application's state, it
//! deletes the rate-limit counters whose window has ended and keeps the others, and rolls up
//! the hours written since its last run.

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
        out.contains("maintenance: rolled up 0 channel-hours, purged 250 expired counters"),
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

    // Hours written meanwhile are rolled up by the next run.
    let hash = fieldline_domain::PasswordHasher::insecure_fast_for_tests()
        .hash(&fieldline_domain::Password::parse("correct horse battery").expect("pw"))
        .expect("hash");
    let (tenant, _, _) = storage::sign_up(
        &db,
        &fieldline_domain::OrgFields::named(
            fieldline_domain::OrgName::parse("Acme").expect("name"),
        ),
        // Retention long enough for points of 1970.
        &fieldline_tests::fixture_subscription(),
        &fieldline_domain::Email::parse("ops@example.com").expect("email"),
        &hash,
        now,
    )
    .expect("sign up");
    storage::set_auto_registration(&db, &tenant, true).expect("auto registration");
    let line = "auto~watt,uuid=355f6856-e9a4-469f-8f22-3f8b037d064a value";
    let (lines, _) = fieldline_domain::line_protocol::parse(
        &format!("{line}=1 0\n{line}=2 1000\n{line}=4 3600000\n"),
        fieldline_domain::line_protocol::Precision::Milliseconds,
        0,
    );
    let caller = fieldline_service::auth::Caller {
        tenant,
        principal: fieldline_domain::Principal::Federation {
            token: fieldline_domain::TokenId::generate().expect("id"),
            org: tenant.id(),
        },
    };
    let store = storage::SqlStore(&db);
    fieldline_service::influx::write(&store, &caller, &lines, now).expect("write");
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
        out.contains("maintenance: rolled up 2 channel-hours"),
        "{out}"
    );
    let rollups: Vec<(i64, i64, f64)> = db
        .prepare("SELECT hour, count, sum FROM rollups ORDER BY hour")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("rollups");
    assert_eq!(rollups, vec![(0, 2, 3.0), (3_600_000, 1, 4.0)]);

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
