#!/bin/bash
# The part of the official mariadb image's entrypoint that compose.yaml
# relies on: on an empty /var/lib/mysql, create the system tables, the root
# account (MARIADB_ROOT_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD or
# MARIADB_ALLOW_EMPTY_ROOT_PASSWORD), MARIADB_DATABASE, the user
# MARIADB_USER / MARIADB_PASSWORD with every privilege on that database, and
# the account healthcheck.sh connects as; then run mariadbd as mysql.
set -euo pipefail
log() { printf 'mariadb stand-in: %s\n' "$*" >&2; }

case "${1:-}" in
  -*) set -- mariadbd "$@" ;;
esac
if [ "${1:-}" != mariadbd ]; then exec "$@"; fi

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$datadir"

random_password() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
sql_string() { local s=${1//\\/\\\\}; printf "'%s'" "${s//\'/\\\'}"; }
sql_name() { printf '`%s`' "${1//\`/\`\`}"; }

if [ ! -d "$datadir/mysql" ]; then
  root_password=${MARIADB_ROOT_PASSWORD:-}
  if [ -z "$root_password" ]; then
    if [ -n "${MARIADB_RANDOM_ROOT_PASSWORD:-}" ]; then
      root_password=$(random_password)
      log "GENERATED ROOT PASSWORD: $root_password"
    elif [ -z "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" ]; then
      log "error: set one of MARIADB_ROOT_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"
      exit 1
    fi
  fi
  log "initializing $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
  pid=$!
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  health_password=$(random_password)
  {
    echo "SET sql_log_bin=0;"
    echo "DELETE FROM mysql.user WHERE user = '';"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$root_password");"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $(sql_string "$root_password");"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY $(sql_string "$health_password");"
    echo "GRANT USAGE ON *.* TO 'healthcheck'@'localhost';"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MARIADB_DATABASE");"
    fi
    if [ -n "${MARIADB_USER:-}" ]; then
      echo "CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "${MARIADB_PASSWORD:-}");"
      if [ -n "${MARIADB_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_name "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$socket" -uroot
  printf '[mariadb-client]\nsocket=%s\nuser=healthcheck\npassword=%s\n' "$socket" "$health_password" >"$datadir/.my-healthcheck.cnf"
  chown mysql:mysql "$datadir/.my-healthcheck.cnf" && chmod 0600 "$datadir/.my-healthcheck.cnf"
  kill "$pid" && wait "$pid" || true
  log "initialized"
fi

exec "$@" --user=mysql
