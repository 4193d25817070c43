#!/usr/bin/env bash
# Records InfluxDB 1.6's answers to /query in MessagePack (Accept: application/x-msgpack) as the
# fixtures of shared/domain/tests/msgpack_golden.rs: per case NAME.request (the method, then the
# parameters, KEY=VALUE a line), NAME.bin (the raw body) and NAME.meta (status, Content-Type,
# X-Influxdb-Error). Writes dataset.lp's points to database mp first.
#   bash tests/golden/msgpack/record.sh [PORT [AUTH_PORT]]
# With no PORT it starts (and stops) its own influxd (scripts/influx.sh) on 18197; the auth_*
# cases (refusals of authentication) come from a second influxd with auth-enabled, on AUTH_PORT
# (default 18297), which it always starts itself.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
# shellcheck source=../../../scripts/influx.sh
source "$root/scripts/influx.sh"
ensure_influxdb
pids=()
cleanup() { local p; for p in "${pids[@]}"; do stop_influxd "$p"; done; }
trap cleanup EXIT
port="${1:-}"
if [ -z "$port" ]; then
  port=18197
  rm -rf /tmp/msgpack-record
  pids+=("$(start_influxd /tmp/msgpack-record "$port")")
fi
auth_port="${2:-18297}"
base="http://127.0.0.1:$port"
here="$(cd "$(dirname "$0")" && pwd)"
curl -sf -XPOST "$base/query" --data-urlencode 'q=DROP DATABASE mp' >/dev/null
curl -sf -XPOST "$base/query" --data-urlencode 'q=DROP DATABASE x' >/dev/null
curl -sf -XPOST "$base/query" --data-urlencode 'q=CREATE DATABASE mp' >/dev/null
curl -sf -XPOST "$base/write?db=mp" --data-binary @"$here/dataset.lp"
# rec NAME METHOD ACCEPT KEY=VALUE...: the request's parameters, form-encoded (in the URL for a
# GET), also saved as NAME.request (the method, then a KEY=VALUE per line) for the replay.
rec() {
  local name="$1" method="$2" accept="$3"; shift 3
  local hdr args=() kv
  hdr=$(mktemp)
  printf '%s\n' "$method" >"$here/$name.request"
  for kv in "$@"; do
    args+=(--data-urlencode "$kv")
    printf '%s\n' "$kv" >>"$here/$name.request"
  done
  if [ "$method" = GET ]; then args=(-G "${args[@]}"); fi
  curl -s -D "$hdr" -o "$here/$name.bin" -H "Accept: $accept" "${args[@]}" "$base/query"
  { head -1 "$hdr" | awk '{print "status " $2}'
    grep -i '^content-type:' "$hdr" | tr -d '\r' | sed 's/^[Cc]ontent-[Tt]ype: */content-type /'
    grep -i '^x-influxdb-error:' "$hdr" | tr -d '\r' | sed 's/^[^:]*: */x-influxdb-error /' || true
  } >"$here/$name.meta"
  rm -f "$hdr"
}
M=application/x-msgpack
rec select_all POST $M 'q=SELECT * FROM cpu' db=mp
rec group_by_tag POST $M 'q=SELECT value, procs FROM cpu GROUP BY host' db=mp
rec aggregate POST $M 'q=SELECT count(value), sum(procs), mean(value) FROM cpu' db=mp
rec epoch_ms POST $M 'q=SELECT * FROM cpu' db=mp epoch=ms
rec epoch_s POST $M 'q=SELECT * FROM cpu' db=mp epoch=s
rec statement_error_first POST $M 'q=SELECT * FROM cpu WHERE time > now() - 1h GROUP BY time(1m); SELECT nope(value) FROM cpu; SELECT free FROM mem' db=mp
rec statement_error POST $M 'q=SELECT free FROM mem; SELECT * FROM nodb..cpu; SELECT used FROM mem' db=mp
rec show_databases POST $M 'q=SHOW DATABASES'
rec show_field_keys POST $M 'q=SHOW FIELD KEYS' db=mp
rec empty POST $M 'q=SELECT * FROM nothing' db=mp
rec parse_error POST $M 'q=SELEKT 1' db=mp
rec missing_q POST $M db=mp
rec chunked POST $M 'q=SELECT * FROM cpu' db=mp chunked=true chunk_size=2
rec chunked_only_semicolon POST $M 'q=;' db=mp chunked=true
rec chunked_empty_then_rows POST $M 'q=SELECT * FROM nothing; SELECT free FROM mem' db=mp chunked=true
rec get_warning GET $M 'q=CREATE DATABASE x'
rec multi_statement POST $M 'q=SELECT free, used FROM mem; SHOW MEASUREMENTS' db=mp
rec only_semicolon POST $M 'q=;' db=mp
rec ints POST $M 'q=SELECT v, f FROM ints' db=mp
rec strs POST $M 'q=SELECT s FROM strs' db=mp
rec pretty POST $M 'q=SELECT free FROM mem' db=mp pretty=true
rec show_retention_policies POST $M 'q=SHOW RETENTION POLICIES ON mp'
rec accept_json POST application/json 'q=SELECT * FROM mem' db=mp

# Several tags: InfluxDB writes a series' tags by ranging over a Go map, in an order that changes
# from answer to answer. Fieldline writes them sorted by key: keep the first of InfluxDB's
# answers whose every series has its tags in that order (one of the answers it gives).
for _ in $(seq 1 100); do
  rec group_by_two_tags POST $M 'q=SELECT value FROM cpu GROUP BY region, host' db=mp
  python3 - "$here/group_by_two_tags.bin" <<'PY' && break
import sys, msgpack
doc = msgpack.unpackb(open(sys.argv[1], "rb").read(), raw=False, strict_map_key=False)
tags = [list(s["tags"]) for r in doc["results"] for s in r["series"]]
sys.exit(0 if all(t == sorted(t) for t in tags) else 1)
PY
done

# Which Accept header gets which formatter: InfluxDB 1.6 compares the (first) header's value as a
# whole, so a list, parameters or wildcards fall back to JSON. accept.tsv: value, tab, the
# answer's Content-Type.
: >"$here/accept.tsv"
for a in 'application/x-msgpack' ' application/x-msgpack ' 'application/x-msgpack;q=1' \
  'application/x-msgpack;charset=utf-8' 'application/x-msgpack, application/json' \
  'application/json, application/x-msgpack' 'foo/bar, application/x-msgpack' 'Application/X-MsgPack' \
  'application/x-msgpack,' 'application/json' 'text/csv' 'application/csv' 'text/csv;q=0.9' \
  'text/csv, application/json' 'text/*' 'application/*' '*/*' 'garbage' ''; do
  ct=$(curl -s -o /dev/null -D - -H "Accept: $a" "$base/query" --data-urlencode 'q=SHOW DATABASES' |
    grep -i '^content-type:' | tr -d '\r' | sed 's/^[^:]*: *//')
  printf '%s\t%s\n' "$a" "$ct" >>"$here/accept.tsv"
done

# Refusals before the query runs, with authentication on: InfluxDB writes them through the
# requested formatter too (401s here). The server is started with start_influxd, stopped, and
# started again by hand with auth-enabled added to its [http] section.
adir=/tmp/msgpack-record-auth
rm -rf "$adir"
stop_influxd "$(start_influxd "$adir" "$auth_port")"
sed -i 's/^\[http\]$/[http]\n  auth-enabled = true/' "$adir/influxdb.conf"
influxd -config "$adir/influxdb.conf" >"$adir/influxd.log" 2>&1 </dev/null &
pids+=("$!")
for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$auth_port/ping" && break; sleep 0.1; done
curl -sf -XPOST "http://127.0.0.1:$auth_port/query" --data-urlencode "q=CREATE USER admin WITH PASSWORD 'secret' WITH ALL PRIVILEGES" >/dev/null
base="http://127.0.0.1:$auth_port"
rec auth_no_credentials POST $M 'q=SHOW DATABASES'
# u and p are read from the URL only (a form body's are not credentials to InfluxDB 1.6).
rec auth_wrong_password GET $M 'q=SHOW DATABASES' u=admin p=wrong
