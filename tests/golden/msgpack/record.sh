#!/usr/bin/env bash
# Records InfluxDB 1.6's MessagePack answers (Accept: application/x-msgpack) as fixtures:
# <name>.bin is the raw body, <name>.meta the status and Content-Type.
#   source scripts/influx.sh; pid=$(start_influxd /tmp/mp-influx 18197)
#   bash tests/golden/msgpack/record.sh 18197; stop_influxd $pid
set -euo pipefail
port="${1:-18197}"
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
rec get_warning GET $M 'q=CREATE DATABASE x'
rec multi_statement POST $M 'q=SELECT free, used FROM mem; SHOW MEASUREMENTS' db=mp
rec only_semicolon POST $M 'q=;' db=mp
rec ints POST $M 'q=SELECT v, f FROM ints' db=mp
rec strs POST $M 'q=SELECT s FROM strs' db=mp
rec pretty POST $M 'q=SELECT free FROM mem' db=mp pretty=true
rec show_retention_policies POST $M 'q=SHOW RETENTION POLICIES ON mp'
rec accept_json POST application/json 'q=SELECT * FROM mem' db=mp
