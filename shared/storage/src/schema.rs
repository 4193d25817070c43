//! The versioned schema. Every request calls [`migrate`], which costs one read of
//! `user_version` once the database is current; only a database that is behind takes the write
//! lock and upgrades.
//!
//! Conventions: integer `key` columns are internal row ids (and elpro's numeric ids); `id`
//! columns hold the 13-character public ids; times are INTEGER milliseconds since the epoch (UTC).
//! Every tenant-owned table carries `org_key`, so that every query filters on it directly.
//! There are no `REFERENCES` clauses: `foreign_keys` is a per-connection pragma that Spin does
//! not set, so deletes cascade explicitly in code instead.

use crate::db::{Db, Dialect};
use crate::error::{Error, Result};
use crate::schema_pg;

/// Version 1 switches to WAL: it cannot run inside a transaction, so it runs before the others.
const WAL: &str = "PRAGMA journal_mode=WAL";

/// Versions 2, 3, ...: each a list of single statements, applied in one transaction.
const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE orgs (
        key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        descr TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        points_per_hour INTEGER NOT NULL,
        detailed_retention_days INTEGER NOT NULL,
        aggregated_retention_days INTEGER NOT NULL,
        max_users INTEGER NOT NULL,
        notification_emails_per_day INTEGER NOT NULL,
        conduit_tier TEXT NOT NULL,
        subscription_expires_at INTEGER,
        created_at INTEGER NOT NULL
    )",
        "CREATE TABLE users (
        key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )",
        "CREATE TABLE memberships (
        org_key INTEGER NOT NULL,
        user_key INTEGER NOT NULL,
        permissions INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_key, user_key)
    ) WITHOUT ROWID",
        "CREATE INDEX memberships_user ON memberships (user_key)",
        "CREATE TABLE invitations (
        key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_key INTEGER NOT NULL,
        email TEXT NOT NULL,
        permissions INTEGER NOT NULL,
        token_hash BLOB NOT NULL UNIQUE,
        invited_by INTEGER,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        accepted_at INTEGER,
        accepted_by INTEGER
    )",
        "CREATE INDEX invitations_org ON invitations (org_key)",
        "CREATE TABLE devices (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        uuid TEXT NOT NULL,
        network_id TEXT,
        name TEXT NOT NULL,
        descr TEXT NOT NULL,
        vendor_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        time_zone INTEGER NOT NULL,
        uses_dst INTEGER NOT NULL,
        lon REAL,
        lat REAL,
        notification_email TEXT,
        notification_verified INTEGER NOT NULL,
        notifications_min_interval INTEGER NOT NULL,
        meta TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (org_key, uuid)
    )",
        // AlphaX and MQTT name devices by network id; NULLs do not collide in a UNIQUE index.
        "CREATE UNIQUE INDEX devices_network_id ON devices (org_key, network_id)",
        "CREATE TABLE sensors (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        device_key INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        descr TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )",
        "CREATE INDEX sensors_device ON sensors (device_key)",
        // device_key is denormalized so that communicationId is unique per device (Sensorbis 142)
        // and ingestion resolves (device, communicationId) with one index lookup.
        "CREATE TABLE channels (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        device_key INTEGER NOT NULL,
        sensor_key INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        communication_id TEXT NOT NULL,
        name TEXT NOT NULL,
        enumerated INTEGER NOT NULL,
        unit TEXT NOT NULL,
        min REAL,
        max REAL,
        purpose TEXT NOT NULL,
        grouping TEXT NOT NULL CHECK (grouping IN ('S', 'M')),
        threshold_op1 TEXT,
        threshold_value1 REAL,
        threshold_op2 TEXT,
        threshold_value2 REAL,
        cal_scale REAL NOT NULL,
        cal_offset REAL NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (device_key, communication_id)
    )",
        "CREATE INDEX channels_sensor ON channels (sensor_key)",
        "CREATE INDEX channels_org ON channels (org_key)",
        // The hot table: keyed by (channel, time) so that a channel's range and its latest point are
        // index lookups, and a rewrite of the same time replaces the value. WITHOUT ROWID stores the
        // rows in the key's b-tree itself: no second index, about half the size.
        "CREATE TABLE points (
        channel_key INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (channel_key, ts)
    ) WITHOUT ROWID",
        "CREATE TABLE rollups (
        channel_key INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        PRIMARY KEY (channel_key, hour)
    ) WITHOUT ROWID",
        "CREATE TABLE incidents (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        channel_key INTEGER NOT NULL,
        kind TEXT NOT NULL,
        deviation TEXT,
        limit_value REAL,
        measurement REAL,
        unit TEXT NOT NULL,
        start_at INTEGER NOT NULL,
        end_at INTEGER,
        confirm1_at INTEGER,
        confirm2_at INTEGER
    )",
        "CREATE INDEX incidents_org ON incidents (org_key, start_at)",
        "CREATE INDEX incidents_active ON incidents (channel_key, kind) WHERE end_at IS NULL",
        "CREATE TABLE tokens (
        key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_key INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('refresh', 'conduit', 'federation', 'device')),
        hash BLOB NOT NULL UNIQUE,
        name TEXT NOT NULL,
        user_key INTEGER,
        device_key INTEGER,
        family TEXT,
        tier TEXT,
        services INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER,
        used_at INTEGER,
        revoked_at INTEGER
    )",
        "CREATE INDEX tokens_org ON tokens (org_key, kind)",
        "CREATE INDEX tokens_family ON tokens (family) WHERE family IS NOT NULL",
        // Rate-limit and quota counters: one row per (policy, principal, window).
        "CREATE TABLE counters (
        key TEXT PRIMARY KEY,
        n INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID",
        "CREATE INDEX counters_expiry ON counters (expires_at)",
    ],
    // Version 3: an organization's settings that are not its subscription, one row per
    // organization once one is changed (no row: the defaults). `auto_register`: ingestion
    // (Conduit, InfluxDB /write) registers unknown devices on first sight.
    &["CREATE TABLE org_settings (
        org_key INTEGER PRIMARY KEY,
        auto_register INTEGER NOT NULL DEFAULT 0
    )"],
    // Version 4: hourly rollups kept current. Every point written (new or rewritten) marks its
    // (channel, hour) pending, in the same statement's transaction, so no write can be missed;
    // the maintenance job recomputes pending hours into `rollups` and clears them. Queries use a
    // rollup only for an hour that is not pending. Deleting points (retention) marks nothing:
    // rollups outlive raw points (aggregated retention). Hours written before this version are
    // marked pending here. (An upsert, not `INSERT OR IGNORE`, in the triggers: the writing
    // statement's conflict handling would override `OR IGNORE`. Measured against a bare insert
    // of 32- and 1000-row batches: a few per cent, where `WHERE NOT EXISTS` cost 15-23%.)
    &[
        "CREATE TABLE rollup_pending (
        channel_key INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        PRIMARY KEY (channel_key, hour)
    ) WITHOUT ROWID",
        "CREATE TRIGGER points_insert_pending AFTER INSERT ON points BEGIN
        INSERT INTO rollup_pending (channel_key, hour)
        VALUES (NEW.channel_key, NEW.ts - NEW.ts % 3600000) ON CONFLICT DO NOTHING;
    END",
        "CREATE TRIGGER points_update_pending AFTER UPDATE ON points BEGIN
        INSERT INTO rollup_pending (channel_key, hour)
        VALUES (NEW.channel_key, NEW.ts - NEW.ts % 3600000) ON CONFLICT DO NOTHING;
    END",
        "INSERT OR IGNORE INTO rollup_pending (channel_key, hour)
        SELECT DISTINCT channel_key, ts - ts % 3600000 FROM points",
    ],
    // Version 5: an organization's channels by measurement (communicationId), so that an
    // InfluxQL query finds the series of its measurements with a seek instead of reading every
    // channel of the organization (0.55 ms a query at 7,300 channels). It serves every lookup
    // by `org_key` alone as well, so it replaces the index on `org_key`.
    &[
        "CREATE INDEX channels_org_measurement ON channels (org_key, communication_id)",
        "DROP INDEX channels_org",
    ],
    // Version 6: the outbox. Messages for the e-mail and broker senders, written in the
    // transaction of the change that causes them; unique by idempotency key. A sender leases
    // what it takes (`next_attempt_at` moves to the lease's end), so one that dies leaves the
    // message to be taken again. Sent messages keep `sent_at` until they are purged.
    &[
        "CREATE TABLE outbox (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        topic TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        sent_at INTEGER,
        last_error TEXT
    )",
        "CREATE INDEX outbox_due ON outbox (topic, next_attempt_at) WHERE sent_at IS NULL",
    ],
    // (subscriptions) Points discarded because the organization's points-per-hour limit was
    // reached, per device and UTC hour, for its administrators (`device_key` 0: devices not
    // registered yet). Purged with the rollups (aggregated retention).
    &["CREATE TABLE discarded_points (
        org_key INTEGER NOT NULL,
        device_key INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (org_key, hour, device_key)
    ) WITHOUT ROWID"],
    // Sensorbis (branch sensorbis): secrets the management API must show again, stored only
    // encrypted (XChaCha20-Poly1305 under the `sensorbis_secret` variable; see
    // shared/domain/src/sealed.rs). `tokens.sealed`: a device token's sealed copy (NULL for
    // tokens made by the admin API, which are shown once). `sensorbis_push`: each device's push
    // credential, the hash packets are authenticated by (unique) and its sealed plaintext (the
    // `authorization` string of every method that returns the device). Deleted with its device.
    &[
        "ALTER TABLE tokens ADD COLUMN sealed BLOB",
        "CREATE TABLE sensorbis_push (
        device_key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        hash BLOB NOT NULL UNIQUE,
        sealed BLOB NOT NULL,
        created_at INTEGER NOT NULL
    )",
        "CREATE INDEX sensorbis_push_org ON sensorbis_push (org_key)",
    ],
    // The threshold notifier (issue 24). `alarm_queue` is its durable cursor: every point
    // written (new or rewritten) to a channel that has a threshold is appended by a trigger, in
    // the writing statement's transaction, with the moment it was stored (the ±2 days rule);
    // `seq` is the append order. The notifier evaluates the oldest rows and deletes them in the
    // transaction that stores the alarm states and the e-mails they cause, so a point is
    // evaluated exactly once whatever its timestamp, a run that dies changes nothing, and two
    // runs take turns on the write lock. `alarm_channels`: per channel, the alarm engine's state
    // of each condition and the e-mail bookkeeping (JSON), and when it next needs a run without
    // new points (a held e-mail, a reminder). `notification_verifications`: the one-time links
    // that confirm a device's notification address. `notification_reminder_secs`: a device's
    // reminder period while an alarm stays open (NULL: no reminders, the default).
    // `notifications`: the in-app notifications.
    &[
        "CREATE TABLE alarm_queue (
        seq INTEGER PRIMARY KEY,
        channel_key INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        stored_at INTEGER NOT NULL
    )",
        "CREATE TRIGGER points_insert_alarm AFTER INSERT ON points
        WHEN EXISTS (SELECT 1 FROM channels WHERE key = NEW.channel_key
            AND (threshold_op1 IS NOT NULL OR threshold_op2 IS NOT NULL)) BEGIN
        INSERT INTO alarm_queue (channel_key, ts, value, stored_at) VALUES (NEW.channel_key,
            NEW.ts, NEW.value, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
    END",
        "CREATE TRIGGER points_update_alarm AFTER UPDATE ON points
        WHEN EXISTS (SELECT 1 FROM channels WHERE key = NEW.channel_key
            AND (threshold_op1 IS NOT NULL OR threshold_op2 IS NOT NULL)) BEGIN
        INSERT INTO alarm_queue (channel_key, ts, value, stored_at) VALUES (NEW.channel_key,
            NEW.ts, NEW.value, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
    END",
        "CREATE TABLE alarm_channels (
        channel_key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        state TEXT NOT NULL,
        due_at INTEGER
    )",
        "CREATE INDEX alarm_channels_due ON alarm_channels (due_at) WHERE due_at IS NOT NULL",
        "CREATE TABLE notification_verifications (
        token_hash BLOB PRIMARY KEY,
        org_key INTEGER NOT NULL,
        device_key INTEGER NOT NULL,
        email TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        used_at INTEGER,
        UNIQUE (device_key, email)
    )",
        "ALTER TABLE devices ADD COLUMN notification_reminder_secs INTEGER",
        // Hexastate's in-app notifications: every alert the notifier decides on, per
        // organization, until a member dismisses it.
        "CREATE TABLE notifications (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        channel_key INTEGER NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        read_at INTEGER,
        dismissed_at INTEGER
    )",
        "CREATE INDEX notifications_org ON notifications (org_key, key) WHERE dismissed_at IS NULL",
    ],
    // Hexastate topic subscriptions and do-not-disturb (issue 24, part 2).
    // `notification_subscriptions`: a member's topics (scope `org`, `device` or `channel` with
    // the target's key; `kinds` a bit set: 1 alarm, 2 back to normal, 4 reminder; `email`).
    // `member_notifications`: who receives each in-app notification, with each member's own
    // read and dismissed state; the notifications made before are given to every member of
    // their organization, with the organization's read and dismissed state they had.
    // `notification_quiet_hours`: a member's do-not-disturb periods (JSON, domain `QuietHours`).
    // `held_mails`: e-mails held by a do-not-disturb period until `release_at`, when one
    // digest e-mail replaces them (in the transaction that deletes them).
    &[
        "CREATE TABLE notification_subscriptions (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        user_key INTEGER NOT NULL,
        scope TEXT NOT NULL,
        target_key INTEGER,
        kinds INTEGER NOT NULL,
        email INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    )",
        "CREATE INDEX notification_subscriptions_org ON notification_subscriptions (org_key, user_key)",
        "CREATE TABLE member_notifications (
        user_key INTEGER NOT NULL,
        notification_key INTEGER NOT NULL,
        org_key INTEGER NOT NULL,
        read_at INTEGER,
        dismissed_at INTEGER,
        PRIMARY KEY (user_key, notification_key)
    ) WITHOUT ROWID",
        "CREATE INDEX member_notifications_org ON member_notifications (org_key)",
        "INSERT INTO member_notifications (user_key, notification_key, org_key, read_at, \
         dismissed_at) SELECT m.user_key, n.key, n.org_key, n.read_at, n.dismissed_at \
         FROM notifications n JOIN memberships m ON m.org_key = n.org_key",
        "CREATE TABLE notification_quiet_hours (
        org_key INTEGER NOT NULL,
        user_key INTEGER NOT NULL,
        settings TEXT NOT NULL,
        PRIMARY KEY (org_key, user_key)
    ) WITHOUT ROWID",
        "CREATE TABLE held_mails (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        user_key INTEGER NOT NULL,
        release_at INTEGER NOT NULL,
        mail TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )",
        "CREATE INDEX held_mails_release ON held_mails (release_at)",
        "CREATE INDEX held_mails_member ON held_mails (org_key, user_key)",
    ],
    // `ingest_rows`: points written together with the counters they count against (a rate
    // limit, the points-per-hour quota) in ONE statement, so that an upload costs one commit
    // instead of one per counter and one for the points (`points::write_points_within`). A view
    // whose INSTEAD OF triggers do the work: the row marked `first` checks and adds the
    // counters (`RAISE(ABORT)` past a limit undoes the whole statement, counters and points),
    // every row upserts its point.
    &[
        "CREATE VIEW ingest_rows (channel_key, ts, value, first, k1, u1, l1, e1, k2, u2, l2, e2) \
         AS SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 0",
        "CREATE TRIGGER ingest_rows_counters INSTEAD OF INSERT ON ingest_rows WHEN NEW.first BEGIN
        SELECT RAISE(ABORT, 'fieldline-over-limit:0') WHERE NEW.k1 IS NOT NULL
            AND NEW.u1 + coalesce((SELECT n FROM counters WHERE key = NEW.k1), 0) > NEW.l1;
        INSERT INTO counters (key, n, expires_at) SELECT NEW.k1, NEW.u1, NEW.e1
            WHERE NEW.k1 IS NOT NULL ON CONFLICT (key) DO UPDATE SET n = n + excluded.n;
        SELECT RAISE(ABORT, 'fieldline-over-limit:1') WHERE NEW.k2 IS NOT NULL
            AND NEW.u2 + coalesce((SELECT n FROM counters WHERE key = NEW.k2), 0) > NEW.l2;
        INSERT INTO counters (key, n, expires_at) SELECT NEW.k2, NEW.u2, NEW.e2
            WHERE NEW.k2 IS NOT NULL ON CONFLICT (key) DO UPDATE SET n = n + excluded.n;
    END",
        "CREATE TRIGGER ingest_rows_points INSTEAD OF INSERT ON ingest_rows BEGIN
        INSERT INTO points (channel_key, ts, value) VALUES (NEW.channel_key, NEW.ts, NEW.value)
            ON CONFLICT (channel_key, ts) DO UPDATE SET value = excluded.value;
    END",
    ],
    // elproMONITOR deviations (issue 16, docs/deviations.md). `deviation_brokers`: an
    // organization's RabbitMQ (MQTT address, vhost, user, password sealed with XChaCha20-Poly1305);
    // a row turns its deviations on from `enabled_at`. Points of such an organization's channels
    // join the notifier's queue (the triggers, re-created), so that the cron run sees every value
    // (failure, battery, radio, warnings) and every contact (no connection). `deviation_states`:
    // the engine's states of the deviation-only conditions, per channel (`c:<key>`) or device
    // (`d:<key>`). `deviation_device_settings` / `deviation_channel_settings`: JSON, absent =
    // defaults. `incidents.condition`: which condition opened it (two limits of one kind may be
    // open at once).
    &[
        "CREATE TABLE deviation_brokers (
        org_key INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        vhost TEXT NOT NULL,
        username TEXT NOT NULL,
        password_sealed BLOB NOT NULL,
        enabled_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )",
        "CREATE TABLE deviation_states (
        subject TEXT PRIMARY KEY,
        org_key INTEGER NOT NULL,
        state TEXT NOT NULL
    ) WITHOUT ROWID",
        "CREATE TABLE deviation_device_settings (
        device_key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        settings TEXT NOT NULL
    )",
        "CREATE TABLE deviation_channel_settings (
        channel_key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        settings TEXT NOT NULL
    )",
        "ALTER TABLE incidents ADD COLUMN condition TEXT",
        "DROP TRIGGER points_insert_alarm",
        "DROP TRIGGER points_update_alarm",
        "CREATE TRIGGER points_insert_alarm AFTER INSERT ON points
        WHEN EXISTS (SELECT 1 FROM channels c WHERE c.key = NEW.channel_key
            AND (c.threshold_op1 IS NOT NULL OR c.threshold_op2 IS NOT NULL
                 OR EXISTS (SELECT 1 FROM deviation_brokers b WHERE b.org_key = c.org_key))) BEGIN
        INSERT INTO alarm_queue (channel_key, ts, value, stored_at) VALUES (NEW.channel_key,
            NEW.ts, NEW.value, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
    END",
        "CREATE TRIGGER points_update_alarm AFTER UPDATE ON points
        WHEN EXISTS (SELECT 1 FROM channels c WHERE c.key = NEW.channel_key
            AND (c.threshold_op1 IS NOT NULL OR c.threshold_op2 IS NOT NULL
                 OR EXISTS (SELECT 1 FROM deviation_brokers b WHERE b.org_key = c.org_key))) BEGIN
        INSERT INTO alarm_queue (channel_key, ts, value, stored_at) VALUES (NEW.channel_key,
            NEW.ts, NEW.value, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
    END",
    ],
    // Saved views and plans (issue 20): an organization's views (`kind` static_chart,
    // realtime_chart, map or plan; `body` the JSON of the channels, settings and a plan's
    // placements, checked by the domain's `ViewFields`), and a plan's uploaded image (PNG or
    // JPEG, type and size read from its bytes, `sha256` its ETag), deleted with its view (in
    // code, as everywhere).
    &[
        "CREATE TABLE views (
        key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )",
        "CREATE INDEX views_org ON views (org_key, key)",
        "CREATE TABLE view_images (
        view_key INTEGER PRIMARY KEY,
        org_key INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        bytes BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    )",
    ],
    // Scheduled ticks claimed (issue 19): the replica whose insert of (job, tick) succeeds does
    // that tick's work; the others skip it. Rows older than a day are purged by maintenance.
    &["CREATE TABLE cron_ticks (
        job TEXT NOT NULL,
        tick INTEGER NOT NULL,
        claimed_at INTEGER NOT NULL,
        PRIMARY KEY (job, tick)
    )"],
    // 15: InfluxDB's data model for anyone's data (issue 22): an organization's databases
    // besides the model's own, series with the tag set their writer sent, the type of each
    // field per measurement (the first written), and typed values per (series, field), with
    // times in nanoseconds as InfluxDB keeps them. Channels keep `points`.
    GENERAL_SERIES,
    // 16: the measurement and field a `/write` line wrote a channel as, when it registered it
    // from a field other than `value` (`plant temp=1` registers `plant.temp`).
    WRITTEN_FIELD,
    // 17: rollups per minute beside the hourly ones, and channels by written measurement.
    &[
        "CREATE TABLE rollups_minute (
        channel_key INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        PRIMARY KEY (channel_key, minute)
    ) WITHOUT ROWID",
        MARK_ROLLED_UP_HOURS_PENDING,
        // InfluxQL finds channels by the measurement they were written as, too.
        "CREATE INDEX channels_org_written ON channels (org_key, written_measurement)",
    ],
    // 18: a `/write` of known series in ONE statement (`general::write_lines`), sharing the
    // host's group commit instead of holding the writer for a transaction. `general_epochs`
    // counts, per organization, the deletions of series (the trigger below), so that a write
    // that read its series' keys at epoch `n` can check where it writes that none was deleted
    // since (a deleted key may even be given to a new series: SQLite reuses the largest). The
    // write's statement inserts into `field_values` two control rows before its values, each
    // handled and skipped (`RAISE(IGNORE)`) by `field_values_control`: `field_key` -1 checks
    // the epoch (`ts` the organization, `i` the epoch read), -2 counts the quota (`s` the
    // counter, `ts` the units, `i` the limit, `b` when the window ends). A failed check or a
    // passed limit `RAISE(ABORT)`s, which undoes the whole statement.
    &[
        "CREATE TABLE general_epochs (
        org_key INTEGER PRIMARY KEY,
        epoch INTEGER NOT NULL
    )",
        "CREATE TRIGGER series_deleted AFTER DELETE ON series BEGIN
        INSERT INTO general_epochs (org_key, epoch) VALUES (OLD.org_key, 1)
            ON CONFLICT (org_key) DO UPDATE SET epoch = epoch + 1;
    END",
        "CREATE TRIGGER field_values_control BEFORE INSERT ON field_values
        WHEN NEW.field_key < 0 BEGIN
        SELECT RAISE(ABORT, 'fieldline-series-changed') WHERE NEW.field_key = -1
            AND NEW.i <> coalesce((SELECT epoch FROM general_epochs WHERE org_key = NEW.ts), 0);
        SELECT RAISE(ABORT, 'fieldline-over-limit:0') WHERE NEW.field_key = -2
            AND NEW.ts + coalesce((SELECT n FROM counters WHERE key = NEW.s), 0) > NEW.i;
        INSERT INTO counters (key, n, expires_at) SELECT NEW.s, NEW.ts, NEW.b
            WHERE NEW.field_key = -2 ON CONFLICT (key) DO UPDATE SET n = n + excluded.n;
        SELECT RAISE(IGNORE);
    END",
    ],
    // Version 19: the points of an upload and the counters they count against, still in ONE
    // statement, but straight into `points` instead of through `ingest_rows`, whose INSTEAD OF
    // trigger ran a program for every point (a third of the writer's instructions a point,
    // callgrind). The statement's first rows are control rows, one per reservation, handled and
    // skipped (`RAISE(IGNORE)`) by `points_control` before any point: `channel_key` -1 or -2 (the
    // reservation's index, negated, minus one), `value` the reservation as JSON text (a REAL
    // column keeps text that is no number as text): `[counter, units, limit, window end]`.
    // Passing the limit `RAISE(ABORT)`s, which undoes the whole statement. PostgreSQL keeps its
    // `ingest_rows` (its `value` is a double precision).
    &[
        "DROP TRIGGER ingest_rows_counters",
        "DROP TRIGGER ingest_rows_points",
        "DROP VIEW ingest_rows",
        "CREATE TRIGGER points_control BEFORE INSERT ON points WHEN NEW.channel_key < 0 BEGIN
        SELECT RAISE(ABORT, 'fieldline-over-limit:0') WHERE NEW.channel_key = -1
            AND json_extract(NEW.value, '$[1]') + coalesce((SELECT n FROM counters
                WHERE key = json_extract(NEW.value, '$[0]')), 0) > json_extract(NEW.value, '$[2]');
        SELECT RAISE(ABORT, 'fieldline-over-limit:1') WHERE NEW.channel_key = -2
            AND json_extract(NEW.value, '$[1]') + coalesce((SELECT n FROM counters
                WHERE key = json_extract(NEW.value, '$[0]')), 0) > json_extract(NEW.value, '$[2]');
        INSERT INTO counters (key, n, expires_at) SELECT json_extract(NEW.value, '$[0]'),
            json_extract(NEW.value, '$[1]'), json_extract(NEW.value, '$[3]') WHERE 1
            ON CONFLICT (key) DO UPDATE SET n = n + excluded.n;
        SELECT RAISE(IGNORE);
    END",
    ],
    // Version 20: a write marks the hours it writes pending with one control row, `channel_key`
    // -3, `value` the (channel, hour) pairs as JSON text (`[[channel, hour], ...]`), instead of
    // a trigger program for every point written (24% of the writer's instructions a point for
    // a 32-point upload, callgrind, docs/benchmarks.md). Every write of `points` goes through
    // `points::insert_with_controls_sql`, which adds the row; a bulk load that writes `points`
    // otherwise marks its hours itself. The control row runs in the writing statement, so the
    // marks are committed with the points or not at all.
    &[
        "DROP TRIGGER points_insert_pending",
        "DROP TRIGGER points_update_pending",
        "DROP TRIGGER points_control",
        "CREATE TRIGGER points_control BEFORE INSERT ON points WHEN NEW.channel_key < 0 BEGIN
        SELECT RAISE(ABORT, 'fieldline-over-limit:0') WHERE NEW.channel_key = -1
            AND json_extract(NEW.value, '$[1]') + coalesce((SELECT n FROM counters
                WHERE key = json_extract(NEW.value, '$[0]')), 0) > json_extract(NEW.value, '$[2]');
        SELECT RAISE(ABORT, 'fieldline-over-limit:1') WHERE NEW.channel_key = -2
            AND json_extract(NEW.value, '$[1]') + coalesce((SELECT n FROM counters
                WHERE key = json_extract(NEW.value, '$[0]')), 0) > json_extract(NEW.value, '$[2]');
        INSERT INTO counters (key, n, expires_at) SELECT json_extract(NEW.value, '$[0]'),
            json_extract(NEW.value, '$[1]'), json_extract(NEW.value, '$[3]')
            WHERE NEW.channel_key IN (-1, -2)
            ON CONFLICT (key) DO UPDATE SET n = n + excluded.n;
        INSERT INTO rollup_pending (channel_key, hour) SELECT json_extract(j.value, '$[0]'),
            json_extract(j.value, '$[1]') FROM json_each(NEW.value) j
            WHERE NEW.channel_key = -3 ON CONFLICT DO NOTHING;
        SELECT RAISE(IGNORE);
    END",
    ],
    // Version 21: the control row -3 comes after the points and also queues those of channels
    // with alarms (a threshold, or deviations in the organization) for the notifier, instead of
    // the two `points_*_alarm` triggers, which ran a program with a lookup of the channel for
    // every point written (10-12% of the host's CPU a point for 1000-point bodies,
    // docs/benchmarks.md). Its `value` (JSON text) is `[[[channel, hour], ...], [channel, ...],
    // [[time, ...], ...]]`: the hours to mark pending, the channels written, and the times
    // written to each (the i-th list, the i-th channel's; a channel inside the list, as in
    // `[channel, [time, ...]]`, would be read out as text again for every time). Only a channel
    // with alarms reads its times, and each (channel, time) is queued once, with the value the
    // statement leaves stored (last write wins within a statement, as in `points`).
    // As the last row it runs after every point of the statement is stored; a refused
    // statement queues and marks nothing.
    &[
        "DROP TRIGGER points_insert_alarm",
        "DROP TRIGGER points_update_alarm",
        "DROP TRIGGER points_control",
        "CREATE TRIGGER points_control BEFORE INSERT ON points WHEN NEW.channel_key < 0 BEGIN
        SELECT RAISE(ABORT, 'fieldline-over-limit:0') WHERE NEW.channel_key = -1
            AND json_extract(NEW.value, '$[1]') + coalesce((SELECT n FROM counters
                WHERE key = json_extract(NEW.value, '$[0]')), 0) > json_extract(NEW.value, '$[2]');
        SELECT RAISE(ABORT, 'fieldline-over-limit:1') WHERE NEW.channel_key = -2
            AND json_extract(NEW.value, '$[1]') + coalesce((SELECT n FROM counters
                WHERE key = json_extract(NEW.value, '$[0]')), 0) > json_extract(NEW.value, '$[2]');
        INSERT INTO counters (key, n, expires_at) SELECT json_extract(NEW.value, '$[0]'),
            json_extract(NEW.value, '$[1]'), json_extract(NEW.value, '$[3]')
            WHERE NEW.channel_key IN (-1, -2)
            ON CONFLICT (key) DO UPDATE SET n = n + excluded.n;
        INSERT INTO rollup_pending (channel_key, hour) SELECT json_extract(j.value, '$[0]'),
            json_extract(j.value, '$[1]') FROM json_each(NEW.value, '$[0]') j
            WHERE NEW.channel_key = -3 ON CONFLICT DO NOTHING;
        INSERT INTO alarm_queue (channel_key, ts, value, stored_at)
            SELECT p.channel_key, p.ts, p.value,
                CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)
            FROM json_each(NEW.value, '$[1]') j CROSS JOIN channels c
                CROSS JOIN json_each(NEW.value, '$[2][' || j.key || ']') t CROSS JOIN points p
            WHERE NEW.channel_key = -3 AND c.key = j.value
                AND (c.threshold_op1 IS NOT NULL OR c.threshold_op2 IS NOT NULL
                    OR EXISTS (SELECT 1 FROM deviation_brokers b WHERE b.org_key = c.org_key))
                AND p.channel_key = c.key AND p.ts = t.value
            ORDER BY j.key, t.key;
        SELECT RAISE(IGNORE);
    END",
    ],
];

/// Version 17, after its table: every hour that is rolled up and still has points is marked
/// pending, so that the roll-up job writes its minutes. Until it has, queries read those hours
/// from the points (a pending hour's rollups are never used), so no answer misses the minutes
/// an upgraded database does not have yet. Hours whose points retention already deleted keep
/// their hourly rollup and have no minutes, as they have no points.
pub(crate) const MARK_ROLLED_UP_HOURS_PENDING: &str = "\
    INSERT INTO rollup_pending (channel_key, hour) \
    SELECT r.channel_key, r.hour FROM rollups r WHERE EXISTS (SELECT 1 FROM points p \
        WHERE p.channel_key = r.channel_key AND p.ts >= r.hour AND p.ts < r.hour + 3600000) \
    ON CONFLICT DO NOTHING";

/// Version 16, the same in both dialects.
pub(crate) const WRITTEN_FIELD: &[&str] = &[
    "ALTER TABLE channels ADD COLUMN written_measurement TEXT",
    "ALTER TABLE channels ADD COLUMN written_field TEXT",
];

/// Version 15 in both dialects: `$key` is the type of a generated key (SQLite's rowid alias,
/// PostgreSQL's identity), `$values` ends `field_values` (SQLite stores it WITHOUT ROWID).
macro_rules! general_series {
    ($key:literal, $values:literal) => {
        &[
            // `policies`: the retention policies as a JSON array, in the order they were created.
            "CREATE TABLE databases (
        org_key BIGINT NOT NULL,
        name TEXT NOT NULL,
        default_policy TEXT NOT NULL,
        policies TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (org_key, name)
    )",
            // `tags`: the tag set as a JSON array of [key, value] pairs sorted by key, so that one
            // series is one row whatever order its writer sent the tags in.
            concat!(
                "CREATE TABLE series (
        key ",
                $key,
                ",
        org_key BIGINT NOT NULL,
        database TEXT NOT NULL,
        measurement TEXT NOT NULL,
        tags TEXT NOT NULL,
        UNIQUE (org_key, database, measurement, tags)
    )"
            ),
            "CREATE TABLE measurement_fields (
        org_key BIGINT NOT NULL,
        database TEXT NOT NULL,
        measurement TEXT NOT NULL,
        field TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('float', 'integer', 'string', 'boolean')),
        PRIMARY KEY (org_key, database, measurement, field)
    )",
            concat!(
                "CREATE TABLE series_fields (
        key ",
                $key,
                ",
        series_key BIGINT NOT NULL,
        field TEXT NOT NULL,
        UNIQUE (series_key, field)
    )"
            ),
            // The tag set of a `/write` line that registered a channel (JSON, as `series.tags`):
            // the series reads back with exactly those tags; NULL for channels made otherwise.
            "ALTER TABLE channels ADD COLUMN written_tags TEXT",
            // One column per type; the field's type says which one is set (booleans 0/1 in `b`).
            concat!(
                "CREATE TABLE field_values (
        field_key BIGINT NOT NULL,
        ts BIGINT NOT NULL,
        f DOUBLE PRECISION,
        i BIGINT,
        s TEXT,
        b BIGINT,
        PRIMARY KEY (field_key, ts)
    )",
                $values
            ),
        ]
    };
}
pub(crate) use general_series;

const GENERAL_SERIES: &[&str] = general_series!("INTEGER PRIMARY KEY", " WITHOUT ROWID");

/// The version a current database has.
pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

// PostgreSQL's schema reaches the same version.
const _: () = assert!(
    schema_pg::FIRST_VERSION + schema_pg::MIGRATIONS.len() as i64 == SCHEMA_VERSION,
    "a migration must be written for both dialects"
);

/// The statements that make an empty database into schema version `version` (2 and on; version
/// 1 is the switch to WAL alone): how each earlier release left its databases, for the upgrade
/// fixtures (`tests/fixtures/schema/`, see `upgrades.rs`).
pub fn statements_up_to(version: i64) -> impl Iterator<Item = &'static str> {
    let n = usize::try_from(version - 1)
        .unwrap_or(0)
        .min(MIGRATIONS.len());
    MIGRATIONS[..n].iter().flat_map(|m| m.iter().copied())
}

/// The database's schema version. A `SELECT` (not `PRAGMA`), so that hosts that send reads to
/// reader connections can answer it without the writer. PostgreSQL keeps it in the table
/// `schema_version` (0 before it exists).
pub fn version(db: &dyn Db) -> Result<i64> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT user_version FROM pragma_user_version",
        Dialect::Postgres => match db.execute("SELECT max(version) FROM schema_version", &[]) {
            Ok(rows) => {
                return Ok(rows
                    .first()
                    .map(|r| r.opt_i64(0))
                    .transpose()?
                    .flatten()
                    .unwrap_or(0))
            }
            // Only a database without the table may answer with an error.
            Err(e) => {
                let missing = db.execute("SELECT to_regclass('schema_version') IS NULL", &[])?;
                if missing.first().map(|r| r.bool(0)).transpose()? == Some(true) {
                    return Ok(0);
                }
                return Err(e);
            }
        },
    };
    let rows = db.execute(sql, &[])?;
    rows.first()
        .ok_or_else(|| Error::Corrupt("pragma_user_version returned no row".into()))?
        .i64(0)
}

/// Brings the schema up to date; returns the version found before. Safe to run concurrently:
/// whoever takes the write lock second finds the work done (on PostgreSQL the lock is the
/// transaction's advisory lock, [`crate::db::transaction`], shared by every replica).
pub fn migrate(db: &dyn Db) -> Result<i64> {
    let found = version(db)?;
    if found == SCHEMA_VERSION {
        return Ok(found);
    }
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if db.dialect() == Dialect::Postgres {
        crate::db::transaction(db, |db| {
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                &[],
            )?;
            let current = version(db)?;
            if current > SCHEMA_VERSION {
                return Err(Error::SchemaTooNew {
                    found: current,
                    supported: SCHEMA_VERSION,
                });
            }
            let mut steps: Vec<(i64, &[&str])> =
                vec![(schema_pg::FIRST_VERSION, schema_pg::VERSION_13)];
            steps.extend(
                schema_pg::MIGRATIONS
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (schema_pg::FIRST_VERSION + 1 + i as i64, *m)),
            );
            for (v, statements) in steps {
                if v <= current {
                    continue;
                }
                apply(db, v, statements)?;
            }
            db.execute("DELETE FROM schema_version", &[])?;
            db.execute(
                "INSERT INTO schema_version (version) VALUES (?)",
                &[SCHEMA_VERSION.into()],
            )?;
            Ok(())
        })?;
        return Ok(found);
    }
    if found < 1 {
        switch_to_wal(db)?;
    }
    crate::db::transaction(db, |db| {
        // Another instance may have migrated between the check above and the lock.
        let current = version(db)?;
        if current > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, statements) in MIGRATIONS.iter().enumerate() {
            let v = i as i64 + 2;
            if v <= current {
                continue;
            }
            apply(db, v, statements)?;
        }
        // PRAGMA takes no parameters; the value is a constant of this build.
        db.execute(&format!("PRAGMA user_version = {SCHEMA_VERSION}"), &[])?;
        Ok(())
    })?;
    Ok(found)
}

/// Turns on WAL, persistently: once set, every later connection opens the database in WAL mode.
///
/// Connections switching a new file at once can meet: the switch reads the file's mode, then
/// upgrades its read lock to an exclusive one, and SQLite answers a connection that holds a read
/// lock while another waits for the exclusive one with `SQLITE_BUSY` at once, without its busy
/// timeout (waiting could deadlock). That connection's next try waits behind the other's switch
/// and finds WAL on. The pragma is idempotent, so a few tries are safe.
fn switch_to_wal(db: &dyn Db) -> Result<()> {
    const TRIES: u32 = 5;
    let mut tried = 1;
    loop {
        match db.execute(WAL, &[]) {
            Ok(_) => return Ok(()),
            Err(Error::Backend { .. }) if tried < TRIES => tried += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Runs one version's statements, naming the version in an error.
fn apply(db: &dyn Db, v: i64, statements: &[&str]) -> Result<()> {
    for sql in statements {
        db.execute(sql, &[]).map_err(|e| match e {
            Error::Backend { kind, message } => Error::Backend {
                kind,
                message: format!("migration to version {v}: {message}"),
            },
            other => other,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native;

    #[test]
    fn migrates_once_and_is_then_a_cheap_check() {
        let db = crate::testdb::TestDb::empty();
        assert_eq!(version(&db).unwrap(), 0);
        assert_eq!(migrate(&db).unwrap(), 0);
        assert_eq!(version(&db).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&db).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn on_disk_switches_to_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = native::open(&path).unwrap();
        migrate(&db).unwrap();
        drop(db);
        // a new connection sees WAL: it is a property of the file
        let db = native::open(&path).unwrap();
        let mode = Db::execute(&db, "PRAGMA journal_mode", &[]).unwrap();
        assert_eq!(mode.first().unwrap().text(0).unwrap(), "wal");
        assert_eq!(migrate(&db).unwrap(), SCHEMA_VERSION);
    }

    /// Replicas starting together on a new database: each one's migration succeeds. The race
    /// is run on several new databases, since connections meet in SQLite's switch to WAL only
    /// in some of them.
    #[test]
    fn connections_migrating_concurrently_all_succeed() {
        let rounds = if crate::testdb::postgres() { 2 } else { 20 };
        for _ in 0..rounds {
            let shared = crate::testdb::TestDb::shared();
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let db = shared.connect();
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        migrate(&db).unwrap();
                        version(&db).unwrap()
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap(), SCHEMA_VERSION);
            }
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let db = crate::testdb::db();
        match db.dialect() {
            Dialect::Sqlite => Db::execute(&db, "PRAGMA user_version = 999", &[]),
            Dialect::Postgres => Db::execute(&db, "UPDATE schema_version SET version = 999", &[]),
        }
        .unwrap();
        match migrate(&db) {
            Err(Error::SchemaTooNew { found: 999, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    /// The topic subscriptions migration gives each notification made before it to every
    /// member of its organization, with the read and dismissed state it had.
    #[test]
    fn existing_notifications_go_to_every_member_of_their_organization() {
        let db = native::open_in_memory().unwrap();
        let mine = MIGRATIONS
            .iter()
            .position(|m| {
                m.iter()
                    .any(|s| s.contains("CREATE TABLE member_notifications"))
            })
            .unwrap();
        crate::db::transaction(&db, |db| {
            for statements in &MIGRATIONS[..mine] {
                for sql in *statements {
                    db.execute(sql, &[])?;
                }
            }
            db.execute(&format!("PRAGMA user_version = {}", mine + 1), &[])?;
            for sql in [
                "INSERT INTO memberships VALUES (1, 10, 0, 0)",
                "INSERT INTO memberships VALUES (1, 11, 0, 0)",
                "INSERT INTO memberships VALUES (2, 20, 0, 0)",
                "INSERT INTO notifications (key, org_key, channel_key, kind, title, body, \
                 created_at, read_at, dismissed_at) VALUES (100, 1, 5, 'alarm', 't', 'b', 1, 7, NULL)",
                "INSERT INTO notifications (key, org_key, channel_key, kind, title, body, \
                 created_at, read_at, dismissed_at) VALUES (101, 2, 6, 'alarm', 't', 'b', 1, NULL, 9)",
            ] {
                db.execute(sql, &[])?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(migrate(&db).unwrap(), mine as i64 + 1);
        let rows = Db::execute(
            &db,
            "SELECT user_key, notification_key, org_key, read_at, dismissed_at \
             FROM member_notifications ORDER BY user_key",
            &[],
        )
        .unwrap();
        // (user, notification, organization, read at, dismissed at)
        type Row = (i64, i64, i64, Option<i64>, Option<i64>);
        let got: Vec<Row> = rows
            .iter()
            .map(|r| {
                (
                    r.i64(0).unwrap(),
                    r.i64(1).unwrap(),
                    r.i64(2).unwrap(),
                    r.opt_i64(3).unwrap(),
                    r.opt_i64(4).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (10, 100, 1, Some(7), None),
                (11, 100, 1, Some(7), None),
                (20, 101, 2, None, Some(9)),
            ]
        );
    }

    #[test]
    fn one_statement_per_call() {
        let db = crate::testdb::db();
        assert!(Db::execute(&db, "SELECT 1; SELECT 2", &[]).is_err());
    }
}
