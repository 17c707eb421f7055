# Shared by scripts/up and scripts/test: make sure nats-server (with JetStream)
# and MariaDB are installed (and, for the tests, answering on 127.0.0.1),
# installing them from Debian's packages and starting them without systemd
# when they are not. `vigil up` runs its own authenticated nats-server, so
# scripts/up only installs it (install_nats). Sourced, not run.

log() { printf 'vigil: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2
  for _ in $(seq 1 60); do port_open "$port" && return 0; sleep 0.5; done
  log "error: $what did not start listening on 127.0.0.1:$port within 30 s"; return 1
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; apt_updated=1
  fi
  log "installing $* from debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# nats-server on PATH; `vigil up` starts it (from nats/nats-server.conf).
install_nats() {
  command -v nats-server >/dev/null || apt_install nats-server
}

# The first free port from $1 on 127.0.0.1 (up to 100 above it).
free_port_from() {
  local port=$1
  while port_open "$port"; do
    port=$((port + 1))
    if [ "$port" -ge $(($1 + 100)) ]; then log "error: no free port in $1-$port"; return 1; fi
  done
  echo "$port"
}

# Tests only: an anonymous nats-server on 127.0.0.1:4222 (the tests start
# private authenticated servers of their own; this one is for manual checks).
ensure_nats() {
  install_nats
  if ! port_open 4222; then
    log "starting nats-server (jetstream) on 127.0.0.1:4222"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    wait_port 4222 nats-server
  fi
}

ensure_mariadb() {
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
  if ! port_open 3306; then
    log "starting mariadb on 127.0.0.1:3306"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_port 3306 mariadb
  fi
}

# Test machines only: lets root connect over TCP without a password, as the
# tests expect (Debian's default root account accepts the unix socket only).
ensure_mariadb_root_tcp() {
  if ! mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; then
    log "allowing passwordless root over tcp for the tests"
    mariadb -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
  fi
}

ensure_cargo() {
  if ! command -v cargo >/dev/null; then
    log "error: cargo is not installed; install a Rust toolchain (1.85 or newer) and run this again"
    exit 1
  fi
}

# scripts/test checks formatting and lints.
ensure_rust_tools() {
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
      log "installing the rustfmt and clippy components"
      rustup component add rustfmt clippy
    else
      log "error: cargo fmt and cargo clippy are needed; install the rustfmt and clippy components"
      exit 1
    fi
  fi
}

# node and npm build the dashboard (embedded in the gateway at compile time).
ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
}

# Vite 7 needs Node.js 20.19 or newer (Debian 12's own nodejs is 18).
node_recent_enough() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null
}

# Debian's chromium runs the browser end-to-end test (never a downloaded browser).
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

# dashboard/dist from the locked dependencies (`npm install`, not `npm ci`: the
# registry here lacks the lock's optional foreign-platform rollup builds, which
# `npm ci` refuses); run before
# cargo builds the gateway, which embeds it.
# Builds dashboard/dist unless it is newer than every source file of the
# dashboard: an unchanged dist/ keeps the gateway (which embeds it) from
# being rebuilt and relinked, so a second `scripts/up` starts in seconds.
build_dashboard() {
  local built=dashboard/dist/index.html
  if [ -f "$built" ] && [ -d dashboard/node_modules ] && [ -z "$(find dashboard \( -path dashboard/node_modules -o -path dashboard/dist \) -prune -o -type f -newer "$built" -print -quit)" ]; then
    log "dashboard/dist is up to date"
    return 0
  fi
  log "building the dashboard (npm install && npm run build)"
  (cd dashboard && npm install --no-audit --no-fund --loglevel=error && npm run build --silent)
}

# Real programs the agent's tests use: nginx and redis-server for service
# discovery, podman (with runc) for its Docker-compatible API and the
# container actions, busybox-static for the test image.
ensure_test_packages() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  ensure_podman_config
  ensure_test_image
  ensure_prometheus
}

# Prometheus, promtool and node_exporter (Debian's prometheus and
# prometheus-node-exporter): the Prometheus stack tests scrape Vigil with a
# real Prometheus and lint both expositions with `promtool check metrics`;
# vigil-prom-bench and agent-footprint compare with node_exporter. Nothing
# is started here: each test and bench starts its own on a free port.
ensure_prometheus() {
  local missing=()
  [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || missing+=(prometheus)
  [ -x /usr/bin/prometheus-node-exporter ] || missing+=(prometheus-node-exporter)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  return 0
}

# crun refuses this machine's cgroups: podman runs containers with runc, and
# with ulimits it may set. Written only when there is no containers.conf.
ensure_podman_config() {
  local conf=/etc/containers/containers.conf
  [ -e "$conf" ] && return 0
  log "writing $conf (runtime runc)"
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n[engine]\nruntime = "runc"\n' >"$conf"
}

# The image the agent's Podman tests run (agent/tests/podman_actions.rs):
# Debian's static busybox alone, imported once per machine (no registry).
VIGIL_TEST_IMAGE=localhost/vigil-test-busybox:latest
ensure_test_image() {
  podman image exists "$VIGIL_TEST_IMAGE" 2>/dev/null && return 0
  log "importing the test image $VIGIL_TEST_IMAGE (busybox-static)"
  local rootfs
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin"
  cp /bin/busybox "$rootfs/bin/busybox"
  tar -C "$rootfs" -cf "$rootfs.tar" .
  podman import --quiet "$rootfs.tar" "$VIGIL_TEST_IMAGE" >/dev/null
  rm -rf "$rootfs" "$rootfs.tar"
}

# schemathesis (PyPI), pinned: tests/api/run.sh fuzzes the REST API from
# /api/openapi.json with it. Installed once per machine into a venv of its
# own; prints the venv's bin directory.
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/vigil/schemathesis-venv"
  if [ "$("$venv/bin/schemathesis" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)" != "$SCHEMATHESIS_VERSION" ]; then
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
  fi
  echo "$venv/bin"
}

# podman-compose runs compose.yaml in the compose test (tests/compose/run.sh);
# docker-compose (1.29) checks the file against docker's compose schema.
ensure_podman_compose() {
  local missing=()
  command -v podman-compose >/dev/null || missing+=(podman-compose)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}
