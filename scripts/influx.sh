# InfluxDB 1.x (Debian's influxdb 1.6.7~rc0), the reference that Fieldline's InfluxDB-compatible
# API is tested against. Sourced, not run:
#   ensure_influxdb                 install influxd and the influx CLI where missing
#   start_influxd DIR HTTP_PORT     a private server whose state lives in DIR; prints its pid
#                                   (INFLUXD_DATA_SETTINGS: more lines for its [data] section)
#   stop_influxd PID
# Every function is safe under `set -euo pipefail`. Nothing here listens off loopback.

_influx_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

_influx_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_influxdb() {
  # curl: start_influxd polls /ping with it.
  command -v influxd >/dev/null && command -v influx >/dev/null && command -v curl >/dev/null && return 0
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold influxdb influxdb-client curl)
  echo "installing influxdb, influxdb-client and curl" >&2
  # The package lists may be stale or absent on a fresh machine: update only when needed.
  if ! _influx_sudo "${apt[@]}" >/dev/null 2>&1; then
    _influx_sudo apt-get update -qq >/dev/null
    _influx_sudo "${apt[@]}" >/dev/null
  fi
  # The postinst starts the system service (port 8086, state in /var/lib/influxdb); we only ever
  # want private servers, so stop it and keep it from coming back at boot.
  if [ -d /run/systemd/system ]; then
    _influx_sudo systemctl disable --now influxdb >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/influxdb ]; then
    _influx_sudo /etc/init.d/influxdb stop >/dev/null 2>&1 || true
    _influx_sudo update-rc.d influxdb disable >/dev/null 2>&1 || true
  fi
}

start_influxd() {
  local dir="$1" port="$2" rpc pid
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if _influx_port_open "$port"; then echo "port $port is already in use" >&2; return 1; fi
  # The RPC (backup/restore) listener is useless here but cannot be turned off: give it any free
  # loopback port, so that several servers (or the system one) can coexist.
  rpc=$((port + 1))
  while _influx_port_open "$rpc"; do rpc=$((rpc + 1)); done
  cat >"$dir/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
${INFLUXD_DATA_SETTINGS:-}
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[logging]
  level = "error"
  suppress-logo = true
[subscriber]
  enabled = false
[continuous_queries]
  log-enabled = false
EOF
  # Output to a file: were it the caller's stdout, `pid=$(start_influxd ...)` would never return.
  influxd -config "$dir/influxdb.conf" >"$dir/influxd.log" 2>&1 </dev/null &
  pid=$!
  local i
  for i in $(seq 1 200); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/ping"; then
      echo "$pid"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "influxd did not answer /ping on 127.0.0.1:$port; its log:" >&2
  tail -n 20 "$dir/influxd.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  return 1
}

stop_influxd() {
  local pid="${1:-}" i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  # influxd closes its shards on SIGTERM; give it a moment before insisting.
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
