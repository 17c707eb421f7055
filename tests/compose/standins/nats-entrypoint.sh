#!/bin/sh
# The official nats image's entrypoint: arguments that start with "-" are
# options of nats-server; anything else is a command to run.
set -e
case "${1:-}" in
  -*) set -- nats-server "$@" ;;
esac
exec "$@"
