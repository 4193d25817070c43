//! Two hosts in front of one PostgreSQL database (issue 19: several `fieldline up` processes
//! against one server): what is written through one is read through the other at once, an
//! account made on one logs in on the other, and rate limits and quotas count the requests of
//! both. It makes its own database (`Start::on_postgres`), so it runs in the plain `cargo test`
//! as well as under `FIELDLINE_E2E_STORAGE=postgres`.

use fieldline_domain::{
    ConduitServices, ConduitTier, DeviceFields, Name, NetworkId, Subscription, Timestamp,
};
use fieldline_storage::{self as storage, NewToken, Tenant};
use fieldline_tests::Storage as Connection;
use fieldline_tests::{client, Start, TestHost, PASSWORD};
use fieldline_tests::{settle, status_and_json};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{json, Value};

/// Two hosts, each with its own state directory, on one fresh PostgreSQL database.
fn two_hosts() -> (TestHost, TestHost) {
    let start = Start::app().on_postgres();
    let a = start.clone().start().expect("host A starts");
    // The first request migrates the database, through host A.
    let r = client().get(a.url("/conduitv4")).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let b = start.start().expect("host B starts");
    assert_eq!(a.postgres_url(), b.postgres_url());
    (a, b)
}

fn send(r: RequestBuilder) -> Response {
    r.send().expect("request")
}

struct Org {
    tenant: Tenant,
    user: fieldline_domain::UserId,
}

fn org(db: &Connection, email: &str) -> Org {
    let (tenant, user) = fieldline_tests::sign_up(db, "Two Hosts", email);
    Org { tenant, user }
}

fn token(db: &Connection, o: &Org, tier: ConduitTier) -> String {
    let (_, secret) = storage::create_token(
        db,
        &o.tenant,
        &NewToken::conduit(o.user, tier, ConduitServices::default()),
        Timestamp::now(),
    )
    .expect("token");
    secret.expose().to_owned()
}

fn device(db: &Connection, o: &Org, network_id: &str) {
    let mut fields = DeviceFields::named(Name::parse("Replica").expect("name"));
    fields.network_id = Some(NetworkId::parse(network_id).expect("network id"));
    storage::create_device(db, &o.tenant, &fields, None, Timestamp::now()).expect("device");
}

fn v2_body(token: &str, network_id: &str, ts_ms: i64, values: &[(u32, f64)]) -> Value {
    let data: Vec<Value> = values
        .iter()
        .map(|(c, v)| json!({ "channelId": c, "value": v }))
        .collect();
    json!({ "token": token, "networkId": network_id, "timestamp": ts_ms, "data": data })
}

fn post_v2(h: &TestHost, body: &Value) -> (u16, Value) {
    status_and_json(send(client().post(h.url("/post/v2")).json(body)))
}

#[test]
fn two_hosts_share_accounts_and_points_at_once() {
    let (a, b) = two_hosts();
    let c = client();

    // An organization signed up through A logs in through B; B refuses a wrong password.
    let (s, signed) = status_and_json(send(c.post(a.url("/api/v1/signup")).json(&json!({
        "organization": "Replicated", "email": "two@example.com", "password": PASSWORD,
    }))));
    assert_eq!(s, 201, "{signed}");
    let login = |h: &TestHost, password: &str| {
        status_and_json(send(c.post(h.url("/api/v1/login")).json(&json!({
            "email": "two@example.com", "password": password,
        }))))
    };
    let (s, session) = login(&b, PASSWORD);
    assert_eq!(s, 200, "{session}");
    assert_eq!(login(&b, "not the password at all").0, 401);
    let access = session["access_token"].as_str().expect("access token");
    // A setting changed through B is what A acts on: automatic registration, used by /write.
    let (s, o) = status_and_json(send(
        c.patch(a.url("/api/v1/organization"))
            .bearer_auth(access)
            .json(&json!({ "autoRegister": true })),
    ));
    assert_eq!(s, 200, "{o}");
    let (s, tok) = status_and_json(send(
        c.post(b.url("/api/v1/tokens"))
            .bearer_auth(access)
            .json(&json!({"kind": "conduit", "name": "replicas", "tier": "basic"})),
    ));
    assert_eq!(s, 201, "{tok}");
    let secret = tok["secret"].as_str().expect("secret").to_owned();

    // A point written through B's /write is read through A at once: InfluxQL and /epts/last.
    let now = Timestamp::from_secs(Timestamp::now().as_secs()).expect("now");
    let uuid = "4b7e1f7a-2c1d-4e4b-9a53-3d0c5e2f9a11";
    let line = format!(
        "c01,device=replica,uuid={uuid} value=21.5 {}",
        now.as_millis()
    );
    let r = send(
        c.post(b.url("/write?db=fieldline&precision=ms"))
            .basic_auth("two@example.com", Some(&secret))
            .body(line),
    );
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    let q = format!("SELECT last(value) FROM c01 WHERE uuid = '{uuid}'");
    let (s, ans) = status_and_json(send(
        c.get(a.url("/query"))
            .query(&[("db", "fieldline"), ("q", q.as_str()), ("epoch", "ms")])
            .basic_auth("two@example.com", Some(&secret)),
    ));
    assert_eq!(s, 200, "{ans}");
    assert_eq!(
        ans["results"][0]["series"][0]["values"][0],
        json!([now.as_millis(), 21.5]),
        "{ans}"
    );
    // An EPTS access token minted by B is good on A.
    let (s, t) = status_and_json(send(c.post(b.url("/epts/token")).json(&json!({
        "username": "two@example.com", "password": PASSWORD,
    }))));
    assert_eq!(s, 200, "{t}");
    let bearer = t["access_token"].as_str().expect("access");
    let (s, last) = status_and_json(send(
        c.get(a.url(&format!("/epts/last?uuid={uuid}&timeSeriesName=c01")))
            .bearer_auth(bearer),
    ));
    assert_eq!(s, 200, "{last}");
    assert_eq!(
        last,
        json!({ uuid: { "c01": [{"timestamp": now.to_rfc3339(), "values": {"value": 21.5}}] } })
    );
}

#[test]
fn conduit_through_either_host_one_rate_limit_one_quota() {
    let (a, b) = two_hosts();
    let db = a.storage().expect("the database");
    let o = org(&db, "limits@example.com");
    let net = "70B3D32111BD64AA1";
    device(&db, &o, net);
    let enterprise = token(&db, &o, ConduitTier::Enterprise);

    // Conduit v2 through A, read back through B's v4 at once.
    let ts = 1_660_962_091_000_i64;
    let (s, j) = post_v2(&a, &v2_body(&enterprise, net, ts, &[(1, 462.5), (2, 3.25)]));
    assert_eq!(s, 200, "{j}");
    let range = format!("fcdt={}&tcdt={}", ts / 1000, ts / 1000);
    let (s, v4) = status_and_json(send(
        client().get(b.url(&format!("/conduitv4?token={enterprise}&{range}"))),
    ));
    assert_eq!(s, 200, "{v4}");
    let mut values: Vec<(String, f64)> = v4
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["channel"].to_string(),
                r["value"].as_f64().expect("value"),
            )
        })
        .collect();
    values.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(values, [("1".into(), 462.5), ("2".into(), 3.25)], "{v4}");

    // A Basic token reads once per 15 s, counted across both hosts: of a read through each in
    // one window, exactly one is accepted.
    let basic = token(&db, &o, ConduitTier::Basic);
    settle(15, 4);
    let read = |h: &TestHost| {
        send(client().get(h.url(&format!("/conduitv4?token={basic}&{range}"))))
            .status()
            .as_u16()
    };
    let statuses = [read(&a), read(&b)];
    assert_eq!(statuses, [200, 429], "first through A, then through B");

    // The hourly points quota of another organization (the points above count in this one's
    // hour), counted across both hosts: 3 points an hour, 2 through A, then 2 more through B
    // are refused, 1 more through B is accepted.
    let q = org(&db, "quota@example.com");
    let qnet = "70B3D32111BD64AA2";
    device(&db, &q, qnet);
    let enterprise = token(&db, &q, ConduitTier::Enterprise);
    storage::update_subscription(
        &db,
        &q.tenant,
        &Subscription {
            points_per_hour: 3,
            ..fieldline_tests::fixture_subscription()
        },
    )
    .expect("subscription");
    settle(3600, 30);
    let now = Timestamp::now().as_millis();
    let (s, j) = post_v2(&a, &v2_body(&enterprise, qnet, now, &[(1, 1.0), (2, 2.0)]));
    assert_eq!(s, 200, "{j}");
    let (s, j) = post_v2(
        &b,
        &v2_body(&enterprise, qnet, now + 1, &[(1, 1.0), (2, 2.0)]),
    );
    assert_eq!(s, 429, "4 points of 3 an hour: {j}");
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("points-per-hour"),
        "{j}"
    );
    let (s, j) = post_v2(&b, &v2_body(&enterprise, qnet, now + 2, &[(1, 1.0)]));
    assert_eq!(s, 200, "the third point of 3 an hour: {j}");
}

/// Runs one cron event of `job` as a replica would (`fieldline trigger cron JOB`, with
/// `--timestamp T` when given), on the database of `start`; what it printed.
fn cron_run(
    start: &Start,
    job: &str,
    state_dir: &std::path::Path,
    timestamp: Option<u64>,
) -> String {
    let env: Vec<(&str, &str)> = start
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (ok, out) = fieldline_tests::trigger_cron(&start.manifest, job, state_dir, timestamp, &env)
        .expect("runs");
    assert!(ok, "{out}");
    out
}

/// Three replicas, each with its own state directory, fire the same tick a second apart, as
/// Spin's cron trigger does (it passes the time it fired): what the ones that did `job`'s work
/// printed (`did` in their output), and how many skipped the tick.
fn three_replicas(start: &Start, job: &str, tick: u64, did: &str) -> (Vec<String>, usize) {
    let outs: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..3)
            .map(|i| {
                s.spawn(move || {
                    let state = tempfile::tempdir().expect("state dir");
                    cron_run(start, job, state.path(), Some(tick + i))
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("replica"))
            .collect()
    });
    let skipped = format!("{job}: tick");
    let worked: Vec<String> = outs.iter().filter(|o| o.contains(did)).cloned().collect();
    let skips = outs
        .iter()
        .filter(|o| o.contains(&skipped) && o.contains("already run by another replica"))
        .count();
    (worked, skips)
}

#[test]
fn three_replicas_run_each_scheduled_tick_exactly_once() {
    let start = Start::app().on_postgres();
    // The host takes the writes only: its own minute tick (`--no-cron` turns it off) would roll
    // up the hour written whenever a whole minute fell between the write and the replicas.
    let a = start.clone().arg("--no-cron").start().expect("host starts");
    let db = a.storage().expect("db");
    let o = org(&db, "ticks@example.com");
    device(&db, &o, "ticks-1");
    let t = token(&db, &o, ConduitTier::Basic);
    // An hour ago: a tick rolls up only hours that have ended.
    let hour_ago = Timestamp::now().as_millis() - 3_600_000;
    let (s, ans) = post_v2(&a, &v2_body(&t, "ticks-1", hour_ago, &[(1, 1.5), (2, 2.5)]));
    assert_eq!(s, 200, "{ans}");

    // The next whole minute, as the schedule "0 * * * * *" fires it, up to 2 s late.
    let minute = u64::try_from(Timestamp::now().as_secs() / 60 * 60 + 60).expect("time");
    let (worked, skips) = three_replicas(&start, "maintenance", minute, "maintenance: rolled up");
    assert_eq!((worked.len(), skips), (1, 2), "{worked:?}");
    assert!(
        worked[0].contains("maintenance: rolled up 2 channel-hours"),
        "the one replica that ran rolled up both channels' hour: {worked:?}"
    );
    let (worked, skips) = three_replicas(&start, "notifier", minute, "notifier: evaluated");
    assert_eq!((worked.len(), skips), (1, 2), "{worked:?}");

    // The next tick is run again, by one of them.
    let (worked, skips) =
        three_replicas(&start, "maintenance", minute + 60, "maintenance: rolled up");
    assert_eq!((worked.len(), skips), (1, 2), "{worked:?}");
    // A run on demand (no --timestamp, as `fieldline trigger cron` by hand) is never skipped.
    for _ in 0..2 {
        let out = cron_run(&start, "maintenance", a.state.path(), None);
        assert!(
            out.contains("maintenance: rolled up 0 channel-hours"),
            "{out}"
        );
    }
}

#[test]
fn sensorbis_devices_added_through_one_host_push_and_read_through_the_other() {
    let (a, b) = two_hosts();
    let db = a.storage().expect("db");
    let o = org(&db, "federation@example.com");
    let (_, fed) = storage::create_token(&db, &o.tenant, &NewToken::federation(), Timestamp::now())
        .expect("federation token");
    let fed = format!("Basic {}", fed.expose());
    let rest = |h: &TestHost, method: &str, body: Value| {
        status_and_json(send(
            client()
                .post(h.url(&format!("/V0100/Service.svc/rest/{method}")))
                .header("authorization", &fed)
                .json(&body),
        ))
    };

    // The federation manager adds a device through A; B lists it.
    let device = json!({
        "name": "Replicated probe",
        "sensors": [{ "name": "Probe", "channels": [
            { "communicationId": "temp", "name": "Temperature", "enumerated": false, "grouping": "M" }
        ]}]
    });
    let (s, added) = rest(
        &a,
        "AddDevices",
        json!({ "federation": { "id": null }, "devices": [device] }),
    );
    assert_eq!(s, 200, "{added}");
    let d = &added["devices"][0];
    let (uri, auth) = (
        d["uri"].as_str().expect("uri"),
        d["authorization"].as_str().expect("authorization"),
    );
    let (s, listed) = rest(&b, "GetFederation", json!({}));
    assert_eq!(s, 200, "{listed}");
    assert_eq!(
        listed["federation"]["devices"][0]["id"], d["id"],
        "{listed}"
    );

    // The device pushes through B (its push URI's path, on B's address); A reads it at once.
    let path = uri
        .strip_prefix(&a.base)
        .expect("the push URI is on the host asked");
    let t = Timestamp::now().as_millis();
    let (s, stored) = status_and_json(send(
        client()
            .post(b.url(path))
            .header("authorization", auth)
            .header("content-type", "application/json;charset=utf-8")
            .body(format!(r#"{{"t":{t},"c":[{{"i":"temp","v":-3.25}}]}}"#)),
    ));
    assert_eq!((s, &stored), (200, &json!({ "stored": 1 })));
    let conduit = token(&db, &o, ConduitTier::Enterprise);
    let q = format!("SELECT \"value\" FROM \"temp\" WHERE time >= {t}ms");
    let (s, ans) = status_and_json(send(client().get(a.url("/query")).query(&[
        ("db", "fieldline"),
        ("q", q.as_str()),
        ("epoch", "ms"),
        ("u", "federation@example.com"),
        ("p", conduit.as_str()),
    ])));
    assert_eq!(s, 200, "{ans}");
    assert_eq!(
        ans["results"][0]["series"][0]["values"][0],
        json!([t, -3.25]),
        "{ans}"
    );
}
