#!/usr/bin/env bash
# schemathesis against the running stack: `vigil up` (its own nats-server,
# gateway, collector, alerter, actioner, orchestrator and a real local
# sovigilant) on free ports with a temporary data dir and a fresh database,
# then `schemathesis run <url>/api/openapi.json` with an admin's access token
# and every check (tests/api/schemathesis.toml says which statuses and why).
# It must find no 5xx and no answer that contradicts the description.
#
# /api/auth/logout is fuzzed too: it revokes only the refresh token of its
# body, and the run authenticates with an access token, which no route can
# revoke and which outlives the run (gateway.access_token_ttl = 1h here).
#
# Usage: tests/api/run.sh [extra schemathesis run options]. Needs
# `cargo build --workspace --bins` first. VIGIL_API_SEED, VIGIL_API_MAX_EXAMPLES
# (default 50 per operation and phase: about a minute and a half) and
# VIGIL_API_KEEP=1 (keep the data dir, as after a failure) change the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/infra.sh

BIN_DIR=${VIGIL_BIN_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/debug}
MARIADB=${VIGIL_TEST_MARIADB:-mysql://root@127.0.0.1:3306}
# test cases per operation and phase: the whole run takes a few minutes
MAX_EXAMPLES=${VIGIL_API_MAX_EXAMPLES:-50}
# a fixed seed by default, so a run is reproducible; VIGIL_API_SEED explores others
SEED=${VIGIL_API_SEED:-1}
KEEP=${VIGIL_API_KEEP:-}
# vigil refuses VIGIL_* variables it does not know: these are this script's
unset VIGIL_BIN_DIR VIGIL_TEST_MARIADB VIGIL_API_MAX_EXAMPLES VIGIL_API_SEED VIGIL_API_KEEP

for binary in vigil sovigilant; do
  if [ ! -x "$BIN_DIR/$binary" ]; then
    log "error: $BIN_DIR/$binary is missing; run cargo build --workspace --bins first"
    exit 1
  fi
done
st_bin=$(ensure_schemathesis)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

dir=$(mktemp -d /tmp/vigil-api-XXXXXX)
db="vigil_api_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
vigil_pid=""
cleanup() {
  if [ -n "$vigil_pid" ] && kill -0 "$vigil_pid" 2>/dev/null; then
    kill -TERM "$vigil_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$vigil_pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$vigil_pid" 2>/dev/null || true
  fi
  mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$db\`" 2>/dev/null || true
  if [ -z "$KEEP" ]; then rm -rf "$dir"; else log "kept $dir"; fi
}
trap cleanup EXIT

http_port=$(free_port)
export RUST_LOG=${RUST_LOG:-info}
export VIGIL_NATS_URL="nats://127.0.0.1:$(free_port)"
export VIGIL_DATABASE_URL="$MARIADB/$db"
export VIGIL_DATA_DIR="$dir/data"
export VIGIL_GATEWAY_HTTP_LISTEN="127.0.0.1:$http_port"
export VIGIL_GATEWAY_GRPC_LISTEN="127.0.0.1:$(free_port)"
export VIGIL_GATEWAY_ACCESS_TOKEN_TTL=1h
export VIGIL_UP_AGENT_BINARY="$BIN_DIR/sovigilant"
base="http://127.0.0.1:$http_port"

mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE \`$db\`"
"$BIN_DIR/vigil" migrate >/dev/null
"$BIN_DIR/vigil" up >"$dir/up.out" 2>"$dir/vigil.log" &
vigil_pid=$!
for _ in $(seq 1 180); do
  grep -q '^vigil is up' "$dir/up.out" 2>/dev/null && break
  if ! kill -0 "$vigil_pid" 2>/dev/null; then
    log "error: vigil up exited; its log:"; tail -40 "$dir/vigil.log" >&2; exit 1
  fi
  sleep 0.5
done
if ! grep -q '^vigil is up' "$dir/up.out"; then
  log "error: vigil up did not come up in 90 s; its log:"; tail -40 "$dir/vigil.log" >&2; exit 1
fi
password=$(sed -n 's|^admin: admin@localhost / \(\S*\)$|\1|p' "$dir/up.out")
if [ -z "$password" ]; then log "error: vigil up did not print the first admin's password"; exit 1; fi

token=$(python3 - "$base" "$password" <<'PY'
import json, sys, urllib.request
base, password = sys.argv[1], sys.argv[2]
body = json.dumps({"email": "admin@localhost", "password": password}).encode()
request = urllib.request.Request(base + "/api/auth/login", body, {"content-type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=10))["access_token"])
PY
)
# /api/metrics/prometheus takes a scrape token (tests/api/schemathesis.toml)
API_SCRAPE_TOKEN=$(python3 - "$base" "$token" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
headers = {"content-type": "application/json", "authorization": "Bearer " + token}
request = urllib.request.Request(base + "/api/config/scrape-tokens", b'{"name": "schemathesis"}', headers)
print(json.load(urllib.request.urlopen(request, timeout=10))["token"])
PY
)
export API_SCRAPE_TOKEN

# The local agent's host, once it has a snapshot: half of the GET
# /api/hosts/{id}/... cases use it, so real metrics answers are checked
# against the description too (tests/api/schemathesis.toml, plus this).
host_id=$(python3 - "$base" "$token" <<'PY'
import json, sys, time, urllib.request
base, token = sys.argv[1], sys.argv[2]
def get(path):
    request = urllib.request.Request(base + path, headers={"authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(request, timeout=10))
deadline = time.time() + 60
while time.time() < deadline:
    for host in get("/api/hosts"):
        if get("/api/hosts/" + host["id"])["latest"] is not None:
            print(host["id"])
            sys.exit(0)
    time.sleep(1)
sys.exit("the local agent's host has no snapshot after 60 s")
PY
)
config="$dir/schemathesis.toml"
cp tests/api/schemathesis.toml "$config"
cat >>"$config" <<TOML

[dictionaries]
hosts = { values = ["$host_id"] }

[[operations]]
include-name-regex = '^GET /api/hosts/\{id\}'
parameters = { "path.id" = { dictionary = "hosts", probability = 0.5 } }
TOML
log "stack up at $base (seed $SEED, host $host_id); schemathesis $("$st_bin/schemathesis" --version | grep -o '[0-9][0-9.]*' | head -1) on $base/api/openapi.json"

status=0
"$st_bin/schemathesis" --config-file "$config" run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --report junit --report-dir "$dir/report" \
  "$@" || status=$?
if [ "$status" -ne 0 ]; then
  log "schemathesis found problems (exit $status); the gateway's log: $dir/vigil.log"
  KEEP=1
fi
exit "$status"
