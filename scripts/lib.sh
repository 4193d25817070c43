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

# A port on 127.0.0.1 that nothing listens on now (the kernel's pick), for a server to bind.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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

# The PostgreSQL backend's tests (docs/storage.md) create and drop databases of their own on the
# local server as the `postgres` user over TCP without a password (FIELDLINE_TEST_PG overrides the
# address). Where none listens, Debian's package is installed, its cluster started, and loopback
# connections trusted; a server already running is left as it is. pg_dump and pg_restore come
# with it (the backup test on PostgreSQL).
ensure_postgres() {
  if port_open 5432; then
    command -v pg_dump >/dev/null || apt_install postgresql-client
    return 0
  fi
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local version hba
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "PostgreSQL $version: trusting connections from 127.0.0.1 (tests only)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  log "starting PostgreSQL $version on 127.0.0.1:5432"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo pg_ctlcluster "$version" main start || $sudo pg_ctlcluster "$version" main reload
  wait_port 5432 || { echo "PostgreSQL did not start" >&2; exit 1; }
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 || { echo "redis did not start" >&2; exit 1; }
}

# The clients the end-to-end tests drive Fieldline with: the Proficloud document's Python client
# (Python `requests`, from PyPI), InfluxDB's official Python client for 1.x (`influxdb` 5.3, from
# PyPI) and its `influx` 1.x CLI (Debian's influxdb-client).
ensure_test_clients() {
  command -v influx >/dev/null || apt_install influxdb-client
  local module spec
  for module in 'requests:requests>=2.31,<3' 'influxdb:influxdb>=5.3,<5.4'; do
    spec="${module#*:}"
    module="${module%%:*}"
    python3 -c "import $module" 2>/dev/null && continue
    log "installing the Python $module package"
    python3 -m pip install --quiet --disable-pip-version-check "$spec" \
      || python3 -m pip install --quiet --disable-pip-version-check --user "$spec"
  done
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

# The web console's front end (web/, npm, pinned by web/package-lock.json): `npm ci` when the
# lock file changed since the last install, then `npm run build` into web/dist, which the
# console component embeds; so it runs before every build of the components.
ensure_console() {
  command -v npm >/dev/null || apt_install nodejs npm
  if ! cmp -s "$ROOT/web/package-lock.json" "$ROOT/web/node_modules/.fieldline-lock"; then
    log "installing the console's npm packages (npm ci in web/)"
    (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$ROOT/web/package-lock.json" "$ROOT/web/node_modules/.fieldline-lock"
  fi
  log "building the console (web/dist)"
  (cd "$ROOT/web" && npm run --silent build -- --logLevel warn)
}

# Debian's Chromium, the browser the console's tests drive with Playwright (no browser download).
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

# Starts `fieldline up` on spin.toml on a free loopback port over the state directory $1, with
# fresh secrets and sign-up open to anyone (the console's tests and benchmark): sets HOST_PID
# and HOST_BASE; the output goes to $1/host.log. FIELDLINE_HOST_BIN picks the binary.
start_scratch_host() {
  local state="$1" bin="${FIELDLINE_HOST_BIN:-$ROOT/target/debug/fieldline}" port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  SPIN_VARIABLE_JWT_SECRET="$(head -c 32 /dev/urandom | base64)" \
  SPIN_VARIABLE_SENSORBIS_SECRET="$(head -c 32 /dev/urandom | base64)" \
  SPIN_VARIABLE_BROKER_SECRET="$(head -c 32 /dev/urandom | base64)" \
  SPIN_VARIABLE_OPERATOR_TOKEN="${SCRATCH_OPERATOR_TOKEN:-scratch-host-operator-token}" \
  SPIN_VARIABLE_ALLOW_SIGNUP=true \
  SPIN_VARIABLE_MAIL_TRANSPORT=none \
    "$bin" up --from "$ROOT/spin.toml" --listen "127.0.0.1:$port" --state-dir "$state" \
    >"$state/host.log" 2>&1 </dev/null &
  HOST_PID=$!
  HOST_BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 3000); do
    curl -sf "$HOST_BASE/health" >/dev/null 2>&1 && return 0
    kill -0 "$HOST_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$state/host.log" >&2
  echo "the host did not start ($bin)" >&2
  return 1
}

# RabbitMQ with its MQTT plugin, the broker of elproMONITOR deviation messages (docs/deviations.md):
# AMQP on 127.0.0.1:5672 as it runs, MQTT on 127.0.0.1:1884 (1883 is Mosquitto's), routing to the
# topic exchange `ex.elproMONITOR` of the vhost the MQTT username `vhost:user` names. Idempotent;
# never restarts a running broker: the settings go into the running node (rabbitmqctl eval) and
# into rabbitmq.conf (for its next start), then the plugin is enabled online.
RABBITMQ_MQTT_PORT=1884
ensure_rabbitmq_mqtt() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  command -v rabbitmqctl >/dev/null || [ -x /usr/sbin/rabbitmqctl ] || apt_install rabbitmq-server
  export PATH="$PATH:/usr/sbin"
  if ! port_open 5672; then
    log "starting rabbitmq-server"
    $sudo service rabbitmq-server start >/dev/null 2>&1 || $sudo rabbitmq-server -detached
    for _ in $(seq 1 60); do port_open 5672 && break; sleep 1; done
    port_open 5672 || { echo "rabbitmq-server did not start" >&2; exit 1; }
  fi
  local conf=/etc/rabbitmq/rabbitmq.conf
  if ! grep -q '^mqtt.listeners.tcp.default' "$conf" 2>/dev/null; then
    log "rabbitmq.conf: MQTT on 127.0.0.1:$RABBITMQ_MQTT_PORT, exchange ex.elproMONITOR"
    printf 'mqtt.listeners.tcp.default = 127.0.0.1:%s\nmqtt.exchange = ex.elproMONITOR\nmqtt.allow_anonymous = false\n' \
      "$RABBITMQ_MQTT_PORT" | $sudo tee -a "$conf" >/dev/null
  fi
  # The end-to-end tests consume with pika, RabbitMQ's own Python AMQP client (from PyPI, as
  # `requests` is: the pyenv Python does not see Debian's python3-pika).
  if ! python3 -c 'import pika' 2>/dev/null; then
    log "installing the Python pika package"
    python3 -m pip install --quiet --disable-pip-version-check 'pika>=1.3,<2' \
      || python3 -m pip install --quiet --disable-pip-version-check --user 'pika>=1.3,<2'
  fi
  port_open "$RABBITMQ_MQTT_PORT" && return 0
  log "enabling rabbitmq_mqtt on 127.0.0.1:$RABBITMQ_MQTT_PORT"
  # The plugin reads these when it starts; set in the running node, they take effect without a
  # restart (the 5672 listener and its connections are untouched).
  $sudo rabbitmqctl -q eval "ok = case application:load(rabbitmq_mqtt) of ok -> ok; {error, {already_loaded, _}} -> ok end, \
    application:set_env(rabbitmq_mqtt, tcp_listeners, [{\"127.0.0.1\", $RABBITMQ_MQTT_PORT}]), \
    application:set_env(rabbitmq_mqtt, exchange, <<\"ex.elproMONITOR\">>), \
    application:set_env(rabbitmq_mqtt, allow_anonymous, false)." >/dev/null
  $sudo rabbitmq-plugins -q enable rabbitmq_mqtt >/dev/null
  wait_port "$RABBITMQ_MQTT_PORT" || { echo "rabbitmq_mqtt did not listen on $RABBITMQ_MQTT_PORT" >&2; exit 1; }
}

# One organization's space (elproMONITOR "Pre-existing topology"): vhost, a user with configure,
# read and write permissions on it alone, and the topic exchange ex.elproMONITOR in it.
# Idempotent; an existing user's password is set to PASSWORD.
rabbitmq_org_space() {
  local vhost="$1" user="$2" password="$3" sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo rabbitmqctl -q add_vhost "$vhost" 2>/dev/null || true
  if ! $sudo rabbitmqctl -q list_users | awk '{print $1}' | grep -qxF "$user"; then
    $sudo rabbitmqctl -q add_user "$user" "$password" >/dev/null
  else
    $sudo rabbitmqctl -q change_password "$user" "$password" >/dev/null
  fi
  $sudo rabbitmqctl -q set_permissions -p "$vhost" "$user" '.*' '.*' '.*' >/dev/null
  # The exchange, declared as the user over the management-free path: rabbitmqctl eval.
  $sudo rabbitmqctl -q eval "rabbit_exchange:declare(rabbit_misc:r(<<\"$vhost\">>, exchange, <<\"ex.elproMONITOR\">>), topic, true, false, false, [], <<\"$user\">>)." >/dev/null
}

# Every component (wasm32-wasip2, release): the workspace members that are not native crates.
build_components() {
  ensure_console
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
