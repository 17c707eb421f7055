# Stand-ins for the registry images compose.yaml names, for the compose test
# on machines that reach no container registry (only Debian's mirror):
#   docker.io/library/debian:bookworm-slim   a debootstrap'ed bookworm (minbase)
#   docker.io/library/nats:2.10-alpine       Debian's nats-server (standins/nats.Containerfile)
#   docker.io/library/mariadb:11             Debian's mariadb-server (standins/mariadb.Containerfile)
# Each is built once per machine and kept in podman's storage (which outlives
# CI runs): an image is rebuilt only when it is missing or its
# `vigil.standin` label differs from the hash of what it is built from.
# A real image of the same name (no such label) is never replaced.
# Sourced by tests/compose/run.sh, after scripts/lib/infra.sh.

STANDIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/standins" && pwd)
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
NATS_IMAGE=docker.io/library/nats:2.10-alpine
MARIADB_IMAGE=docker.io/library/mariadb:11
# Bumped when the way the Debian base is made changes.
DEBIAN_STANDIN=debootstrap-bookworm-minbase-1

standin_label() {
  podman image inspect --format '{{index .Config.Labels "vigil.standin"}}' "$1" 2>/dev/null || true
}

# 0 when $1 must be (re)built to carry label $2.
standin_stale() {
  local image=$1 want=$2 have
  podman image exists "$image" || return 0
  have=$(standin_label "$image")
  if [ -z "$have" ] || [ "$have" = "<no value>" ]; then
    log "$image exists and is not a stand-in; using it as it is"
    return 1
  fi
  [ "$have" != "$want" ]
}

ensure_debian_standin() {
  standin_stale "$DEBIAN_IMAGE" "$DEBIAN_STANDIN" || return 0
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || apt_install debootstrap
  local dir mirror
  dir=$(mktemp -d)
  mirror=$(standin_mirror)
  log "building the stand-in $DEBIAN_IMAGE (debootstrap bookworm from $mirror, about a minute)"
  if ! debootstrap --variant=minbase bookworm "$dir/rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1; then
    log "error: debootstrap failed; its log:"; tail -20 "$dir/debootstrap.log" >&2
    rm -rf "$dir"; return 1
  fi
  rm -rf "$dir"/rootfs/var/cache/apt/archives/*.deb "$dir"/rootfs/var/lib/apt/lists/*
  tar -C "$dir/rootfs" -c . | podman import --quiet \
    --change 'CMD ["bash"]' --change "LABEL vigil.standin=$DEBIAN_STANDIN" - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$dir"
}

# The Debian mirror this machine's apt uses (debootstrap fetches from it too).
standin_mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
    | grep -v security | head -1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*//')
  echo "${uri:-http://deb.debian.org/debian}"
}

# Builds standins/$2.Containerfile as $1 when it changed or its base did.
ensure_standin() {
  local image=$1 name=$2 hash
  hash=$( (podman image inspect --format '{{.Id}}' "$DEBIAN_IMAGE"; cat "$STANDIN_DIR/$name".Containerfile "$STANDIN_DIR/$name"-*.sh) | sha256sum | cut -c1-16)
  standin_stale "$image" "$hash" || return 0
  log "building the stand-in $image from Debian's packages (standins/$name.Containerfile)"
  podman build --quiet --label "vigil.standin=$hash" -t "$image" -f "$STANDIN_DIR/$name.Containerfile" "$STANDIN_DIR" >/dev/null
}

ensure_standin_images() {
  ensure_debian_standin
  ensure_standin "$NATS_IMAGE" nats
  ensure_standin "$MARIADB_IMAGE" mariadb
}
