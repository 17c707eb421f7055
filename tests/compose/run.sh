#!/usr/bin/env bash
# The compose test: runs the repository's compose.yaml with podman-compose,
# as `docker compose up` would run it, and checks through the REST API that
#   1. the demo agent's snapshots are stored and served (the admin that
#      vigil-init creates logs in with VIGIL_ADMIN_PASSWORD);
#   2. every healthcheck of compose.yaml passes (podman runs healthchecks
#      from systemd timers, and these machines have no systemd: the test
#      runs each one with `podman healthcheck run`);
#   3. a stopped collector container, once started again, leaves no gap:
#      every snapshot the agent sent meanwhile (kept by JetStream) is served
#      by /api/hosts/{id}/metrics.
# Everything is torn down with its volumes at the end, even on failure.
#
# STAND-INS: these machines reach no container registry. The images
# compose.yaml names are stood in by images built here and tagged with those
# names (tests/compose/standins.sh, cached in podman's storage):
#   docker.io/library/debian:bookworm-slim  a debootstrap'ed Debian bookworm
#   docker.io/library/nats:2.10-alpine      Debian's nats-server 2.9
#   docker.io/library/mariadb:11            Debian's mariadb-server 10.11
# and the vigil image is deploy/Containerfile.prebuilt over the binaries
# `cargo build` made (no rust or node image), tagged as compose.yaml's
# VIGIL_IMAGE. With docker and a registry, compose.yaml uses the real images.
#
# Skipped, loudly, only where podman is not installed. Called by
# scripts/test after the nextest run; needs `cargo build --bins` first, or
# COMPOSE_TEST_IMAGE naming a vigil image to test instead (one built from
# deploy/Containerfile, say).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/infra.sh
. tests/compose/standins.sh

if ! command -v podman >/dev/null; then
  {
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!! compose test SKIPPED: podman is not installed on this machine.        !!"
    echo "!! compose.yaml was NOT run. Install podman and runc to run it.          !!"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo
  } >&2
  exit 0
fi

INTERVAL=2         # the demo agent's collection interval, seconds
STOPPED_FOR=12     # how long the collector stays stopped (6 intervals)
started=$SECONDS

ensure_podman_config
ensure_podman_compose
ensure_standin_images

# docker's own compose accepts the file (a schema check; there is no engine)
if ! VIGIL_ADMIN_PASSWORD=unused docker-compose -f compose.yaml config -q; then
  log "error: docker-compose rejects compose.yaml"
  exit 1
fi

# The binaries: the newest of the debug and release builds.
bin_dir=target/debug
if [ target/release/vigil -nt target/debug/vigil ] && [ -x target/release/sovigilant ]; then bin_dir=target/release; fi
for binary in vigil sovigilant; do
  if [ -z "${COMPOSE_TEST_IMAGE:-}" ] && [ ! -x "$bin_dir/$binary" ]; then
    log "error: $bin_dir/$binary is missing; run cargo build --workspace --bins first"
    exit 1
  fi
done

project="vigil-compose-test-$$"
work=$(mktemp -d)
export VIGIL_IMAGE="localhost/vigil:$project"
export VIGIL_PUBLISH_ADDRESS=127.0.0.1
export VIGIL_HTTP_PORT VIGIL_GRPC_PORT VIGIL_NATS_PORT
VIGIL_HTTP_PORT=$(free_port_from 18080)
VIGIL_GRPC_PORT=$(free_port_from 19090)
VIGIL_NATS_PORT=$(free_port_from 14222)
export VIGIL_ADMIN_PASSWORD
VIGIL_ADMIN_PASSWORD="compose-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
export VIGIL_DB_PASSWORD
VIGIL_DB_PASSWORD="db$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
export VIGIL_DEMO_INTERVAL="${INTERVAL}s"
base="http://127.0.0.1:$VIGIL_HTTP_PORT"
email=admin@localhost
compose=(podman-compose -p "$project" -f compose.yaml)

containers_of() { podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}'; }
container() {
  podman ps -a --filter "label=io.podman.compose.project=$project" --filter "label=com.docker.compose.service=$1" \
    --format '{{.Names}}' | head -1
}

teardown() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    log "compose test failed; podman's and the containers' logs follow"
    cat "$work/up.log" "$work/podman.log" >&2 2>/dev/null || true
    for name in $(containers_of); do
      echo "----- $name ($(podman inspect --format '{{.State.Status}} exit {{.State.ExitCode}}' "$name" 2>/dev/null))" >&2
      podman logs --tail 60 "$name" >&2 2>&1 || true
    done
  fi
  log "tearing down the compose project $project (containers, volumes, network, image)"
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  # what down may leave behind (a container it did not know, volumes)
  containers_of | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
  podman volume ls -q --filter "label=io.podman.compose.project=$project" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
  podman network ls -q --filter "label=io.podman.compose.project=$project" | xargs -r podman network rm -f >/dev/null 2>&1 || true
  podman image rm -f "$VIGIL_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap teardown EXIT

if [ -n "${COMPOSE_TEST_IMAGE:-}" ]; then
  # an image built elsewhere, e.g. by deploy/Containerfile: tested as it is
  log "compose test: using $COMPOSE_TEST_IMAGE (COMPOSE_TEST_IMAGE)"
  podman tag "$COMPOSE_TEST_IMAGE" "$VIGIL_IMAGE"
else
  log "compose test: building $VIGIL_IMAGE from $bin_dir (deploy/Containerfile.prebuilt)"
  cp "$bin_dir/vigil" "$bin_dir/sovigilant" deploy/vigil-compose-init deploy/sovigilant-demo "$work/"
  # the image runs them as user vigil: executable by all, whatever umask built them
  chmod 0755 "$work/vigil" "$work/sovigilant" "$work/vigil-compose-init" "$work/sovigilant-demo"
  podman build --quiet -f deploy/Containerfile.prebuilt -t "$VIGIL_IMAGE" "$work" >/dev/null
fi

# podman-compose 1.0.3 (Debian's) starts every service at once, ignoring
# depends_on conditions (newer ones need podman 4.6 for them): start the
# services in the order compose.yaml's conditions give, as docker compose
# does. The vigil services would otherwise all migrate a fresh database at
# once.
log "compose test: podman-compose up (project $project, http $VIGIL_HTTP_PORT, grpc $VIGIL_GRPC_PORT, nats $VIGIL_NATS_PORT)"
up() { "${compose[@]}" up -d --no-build "$@" >>"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; return 1; }; }
# healthy: `podman healthcheck run` passes (podman runs none by itself here)
wait_healthy() {
  local service=$1 name waited=0
  name=$(container "$service")
  until podman healthcheck run "$name" >/dev/null 2>&1; do
    if [ "$waited" -ge 180 ]; then log "error: $service is not healthy after 180 s"; return 1; fi
    sleep 2; waited=$((waited + 2))
  done
}
up mariadb
wait_healthy mariadb
up vigil-init
init_status=$(timeout 300 podman wait "$(container vigil-init)" || echo timeout)
if [ "$init_status" != 0 ]; then
  log "error: vigil-init ended with $init_status"
  exit 1
fi
up nats
wait_healthy nats
up gateway collector alerter actioner orchestrator
wait_healthy gateway
up sovigilant

log "compose test: waiting for the demo agent's snapshots in the REST API"
host=$(python3 tests/compose/check.py snapshots "$base" "$email" "$VIGIL_ADMIN_PASSWORD" 240)
log "compose test: host $host has snapshots ($((SECONDS - started)) s since the start)"

# As compose.yaml's healthchecks say (retries: 5), a service is unhealthy
# after consecutive failures, not one: on a loaded machine one `vigil ping`
# can outlast its 10 s (seen right after the e2e test); 3 in a row fail it.
for service in mariadb nats gateway collector alerter actioner orchestrator sovigilant; do
  name=$(container "$service")
  for attempt in 1 2 3; do
    if podman healthcheck run "$name" >"$work/health.log" 2>&1; then break; fi
    if [ "$attempt" -eq 3 ]; then
      log "error: the healthcheck of $service ($name) fails 3 times in a row: $(cat "$work/health.log")"
      exit 1
    fi
    log "compose test: the healthcheck of $service failed once ($(cat "$work/health.log")); again in 5 s"
    sleep 5
  done
done
log "compose test: every healthcheck passes"

# The collector is the only writer of metrics_host, and the only reader the
# gateway asks: while it is stopped, nothing is stored and the metrics API
# answers 503. The agent keeps sending; JetStream keeps what the gateway
# acknowledged until the collector, started again, stores it.
stored() {
  podman exec "$(container mariadb)" mariadb -uvigil -p"$VIGIL_DB_PASSWORD" -N -B vigil \
    -e "SELECT COUNT(*) FROM metrics_host WHERE host_id = '$host'"
}
collector=$(container collector)
# the window checked below starts 3 intervals before the stop: let the agent
# have sent for that long at least
sleep $((3 * INTERVAL))
stopped_at=$(date +%s.%N)
podman stop -t 10 "$collector" >>"$work/podman.log" 2>&1
log "compose test: collector stopped for $STOPPED_FOR s"
sleep $((INTERVAL + 1))
before=$(stored)
sleep $((STOPPED_FOR - INTERVAL - 1))
after=$(stored)
if [ "$before" != "$after" ]; then
  log "error: snapshots were stored while the collector was stopped ($before rows, then $after): it did not stop"
  exit 1
fi
podman start "$collector" >>"$work/podman.log" 2>&1
restarted_at=$(date +%s.%N)
python3 tests/compose/check.py wait-after "$base" "$email" "$VIGIL_ADMIN_PASSWORD" "$host" "$restarted_at" 120
sleep $((3 * INTERVAL))
window_start=$(python3 -c "print($stopped_at - 3 * $INTERVAL)")
window_end=$(python3 -c "print($restarted_at + 2 * $INTERVAL)")
python3 tests/compose/check.py no-gap "$base" "$email" "$VIGIL_ADMIN_PASSWORD" "$host" "$window_start" "$window_end" "$INTERVAL" >&2
log "compose test: passed in $((SECONDS - started)) s"
