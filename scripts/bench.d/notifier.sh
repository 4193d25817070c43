#!/usr/bin/env bash
# `scripts/bench notifier`: one notifier run over POINTS (default 1,000,000) new points on
# CHANNELS (default 10,000) channels with thresholds, through the host (`fieldline trigger cron
# notifier`: the component over Spin's SQLite interface), beside the same evaluation natively
# (shared/storage/examples/notifier_bench.rs: `fieldline_service::notifier::run` over rusqlite)
# on an identical copy of the database, in the same run. Prints seconds and points/s of each.
# E-mails are queued (every device has a confirmed address) but not sent (mail_transport=none).
# FIELDLINE_SKIP_BUILD=1 uses what is built.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

POINTS="${POINTS:-1000000}"
CHANNELS="${CHANNELS:-10000}"
ensure_toolchain
if [ -z "${FIELDLINE_SKIP_BUILD:-}" ]; then
  build_components
  log "building the host and the native run (release)"
  cargo build --release -p fieldline-host --bin fieldline
  cargo build --release -p fieldline-storage --features native --example notifier_bench
fi
bench="target/release/examples/notifier_bench"
state="$(mktemp -d)"
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/host" "$state/native"

log "writing $POINTS points on $CHANNELS channels"
queued="$("$bench" setup "$state/host/sqlite_db.db" "$POINTS" "$CHANNELS")"
cp "$state/host/sqlite_db.db" "$state/native/sqlite_db.db"
echo "queued for the notifier: $queued points"

log "one notifier run through the host (component, Spin SQLite interface)"
now() { python3 -c 'import time; print(time.time())'; }
calc() { python3 -c "print($1)"; }
start=$(now)
SPIN_VARIABLE_JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789 \
SPIN_VARIABLE_MAIL_TRANSPORT=none SPIN_VARIABLE_NOTIFIER_BUDGET_SECS=7200 FIELDLINE_LOG=warn \
  target/release/fieldline trigger cron notifier --from spin.toml --state-dir "$state/host" \
  --request-timeout 3600s | tail -1
end=$(now)
host_secs=$(calc "$end - $start")
left=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from alarm_queue').fetchone()[0])" "$state/host/sqlite_db.db")
[ "$left" = "0" ] || { echo "the host run left $left points queued" >&2; exit 1; }

log "the same run natively (rusqlite)"
read -r native_secs native_points native_mails < <("$bench" run "$state/native/sqlite_db.db")
[ "$native_points" = "$queued" ] || { echo "native evaluated $native_points of $queued" >&2; exit 1; }

printf '\n%-34s %10s %14s\n' "notifier run over $queued points" seconds points/s
printf '%-34s %10.2f %14.0f\n' "host (component, wall incl. start)" "$host_secs" "$(calc "$queued / $host_secs")"
printf '%-34s %10.2f %14.0f\n' "native (same use case, rusqlite)" "$native_secs" "$(calc "$queued / $native_secs")"
echo "e-mails queued natively: $native_mails; host/native: $(calc "round($host_secs / $native_secs, 2)")x"

log "what the queue costs ingestion (native, alternating)"
"$bench" ingest
