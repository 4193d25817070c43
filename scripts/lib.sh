# Shared set-up for scripts/up, scripts/test and scripts/bench: install what is missing, build.
# Sourced, not run. Everything a fresh machine needs is installed here, never by hand.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_updated=""
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    $sudo apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_toolchain() {
  command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    log "adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.1; done
  return 1
}

# The brokers the end-to-end tests talk to: use the ones running, start them where none is.
ensure_mosquitto() {
  # The tests publish with mosquitto_pub, as the AlphaX document's users do.
  command -v mosquitto_pub >/dev/null || apt_install mosquitto-clients
  # The MQTT durability tests start brokers of their own, with known limits.
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto
  port_open 1883 && return 0
  log "starting mosquitto on 127.0.0.1:1883"
  # The host keeps a persistent session per MQTT trigger: Mosquitto's default queue of 1000
  # messages per session drops the rest of a burst, or of what comes while the host is down
  # (docs/design.md, MQTT trigger). Sessions that stay away an hour are ended.
  local conf; conf="$(mktemp)"
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\npersistent_client_expiration 1h\n' >"$conf"
  PATH="$PATH:/usr/sbin" mosquitto -d -c "$conf"
  wait_port 1883 || { echo "mosquitto did not start" >&2; exit 1; }
}

# The metrics test (tests/e2e/operations.rs) starts a Prometheus of its own on loopback, with a
# temporary configuration and data directory; Debian's package starts none where systemd is absent.
ensure_prometheus() {
  command -v prometheus >/dev/null || apt_install prometheus
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 || { echo "redis did not start" >&2; exit 1; }
}

# The clients the end-to-end tests drive Fieldline with: the Proficloud document's Python client
# (Python `requests`, from PyPI) and InfluxDB's `influx` 1.x CLI (Debian's influxdb-client).
ensure_test_clients() {
  command -v influx >/dev/null || apt_install influxdb-client
  if ! python3 -c 'import requests' 2>/dev/null; then
    log "installing the Python requests package"
    python3 -m pip install --quiet --disable-pip-version-check 'requests>=2.31,<3' \
      || python3 -m pip install --quiet --disable-pip-version-check --user 'requests>=2.31,<3'
  fi
}

# maildev (npm), the SMTP server the notifier's end-to-end tests send alerts to: SMTP on
# 127.0.0.1:1025, and its HTTP API (`GET /email` lists what arrived) on 127.0.0.1:1080. Installed
# into target/tools/maildev (no global npm install), started where none listens.
MAILDEV_DIR="$ROOT/target/tools/maildev"
MAILDEV_BIN="$MAILDEV_DIR/node_modules/.bin/maildev"
ensure_maildev() {
  command -v npm >/dev/null || apt_install nodejs npm
  if [ ! -x "$MAILDEV_BIN" ]; then
    log "installing maildev (npm) into $MAILDEV_DIR"
    mkdir -p "$MAILDEV_DIR"
    npm install --prefix "$MAILDEV_DIR" --no-audit --no-fund --silent 'maildev@^2.2' >/dev/null
  fi
  port_open 1025 && port_open 1080 && return 0
  log "starting maildev on 127.0.0.1:1025 (SMTP) and 127.0.0.1:1080 (web and API)"
  nohup "$MAILDEV_BIN" --ip 127.0.0.1 --smtp 1025 --web 1080 >"$ROOT/target/tools/maildev.log" 2>&1 &
  wait_port 1025 && wait_port 1080 || { echo "maildev did not start (target/tools/maildev.log)" >&2; exit 1; }
}

# Every component (wasm32-wasip2, release): the workspace members that are not native crates.
build_components() {
  log "building the components (wasm32-wasip2)"
  cargo build --target wasm32-wasip2 --release --workspace \
    --exclude fieldline-host --exclude fieldline-tests
}

build_host() {
  log "building the host ($1)"
  if [ "$1" = release ]; then
    cargo build --release -p fieldline-host --bin fieldline
  else
    cargo build -p fieldline-host --bin fieldline
  fi
}

# cargo-fuzz (crates.io, pinned), for scripts/fuzz: installed into target/tools/cargo-fuzz. The
# fuzz targets build on the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes
# -Zsanitizer=address and libFuzzer's coverage flags, which are nightly features).
CARGO_FUZZ_VERSION=0.13.2
CARGO_FUZZ_DIR="$ROOT/target/tools/cargo-fuzz"
ensure_cargo_fuzz() {
  if ! "$CARGO_FUZZ_DIR/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_DIR"
    cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" --root "$CARGO_FUZZ_DIR" cargo-fuzz
  fi
  export PATH="$CARGO_FUZZ_DIR/bin:$PATH"
}

# Schemathesis (PyPI, pinned), for scripts/security: in its own virtual environment under
# target/tools/schemathesis (its many dependencies stay out of the system's Python).
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_DIR="$ROOT/target/tools/schemathesis"
ensure_schemathesis() {
  if ! "$SCHEMATHESIS_DIR/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_DIR"
    python3 -m venv "$SCHEMATHESIS_DIR"
    "$SCHEMATHESIS_DIR/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}
