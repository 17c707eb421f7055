#!/bin/sh
# The checks of the official mariadb image's healthcheck.sh that compose.yaml
# uses, as the account the entrypoint made for it:
#   --connect             the server accepts a connection
#   --innodb_initialized  InnoDB has finished starting
set -e
cnf=/var/lib/mysql/.my-healthcheck.cnf
for check in "$@"; do
  case "$check" in
    --connect)
      mariadb --defaults-extra-file="$cnf" -e 'SELECT 1' >/dev/null ;;
    --innodb_initialized)
      ready=$(mariadb --defaults-extra-file="$cnf" -N -B -e "SELECT 1 FROM information_schema.ENGINES WHERE engine = 'InnoDB' AND support IN ('YES', 'DEFAULT', 'ENABLED')")
      [ "$ready" = 1 ] ;;
    *)
      echo "healthcheck.sh (stand-in): unknown check $check" >&2; exit 1 ;;
  esac
done
