#!/usr/bin/env bash
# Local PostgreSQL for postloan: start | stop | status.
# If POSTLOAN_DATABASE_URL names a server that answers, that server is used and nothing is started.
# Otherwise Debian's postgresql package is installed when missing and a server the project owns is
# started on 127.0.0.1:PG_PORT (55432) with its own data folder, user "postloan" and database "postloan".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
port=${PG_PORT:-55432}
db=postloan

# initdb refuses to run as root: as root the server runs as the "postgres" system user, in a folder
# that user can reach even when the project sits under a private home directory.
if [ "$(id -u)" = 0 ]; then data_root=/var/tmp/postloan-pg; run_as=(runuser -u postgres --); else data_root="$state/postgres"; run_as=(); fi
data="$data_root/data-$port"
logfile="$data_root/postgres-$port.log"

answers() {  # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

external_url() {
  [ -n "${POSTLOAN_DATABASE_URL:-}" ] || return 1
  local hostport host p
  hostport=$(sed -E 's#^[^/]*//([^@/]*@)?([^/?]*).*#\2#' <<<"$POSTLOAN_DATABASE_URL")
  host=${hostport%%:*}; p=${hostport##*:}; [ "$p" = "$hostport" ] && p=5432
  answers "$host" "$p"
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ]; then
    echo "postgres: installing Debian's postgresql package" >&2
    local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >&2
    # Debian starts its own cluster on 5432; it is not ours and can stay as it is.
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

start() {
  if external_url; then echo "postgres: using the server named by POSTLOAN_DATABASE_URL"; return 0; fi
  if answers 127.0.0.1 "$port"; then echo "postgres: running on 127.0.0.1:$port"; return 0; fi
  local bin; bin=$(pg_bin)
  mkdir -p "$data_root"
  [ ${#run_as[@]} -gt 0 ] && chown postgres "$data_root"
  if [ ! -f "$data/PG_VERSION" ]; then
    "${run_as[@]}" "$bin/initdb" -D "$data" -U postloan -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data_root'
max_connections = 300
shared_buffers = 256MB
timezone = 'UTC'
CONF
  fi
  "${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postloan -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
    || "$bin/psql" -h 127.0.0.1 -p "$port" -U postloan -d postgres -qc "CREATE DATABASE $db"
  echo "postgres: ready on 127.0.0.1:$port (database $db, data $data)"
}

stop() {
  if [ ! -f "$data/postmaster.pid" ]; then echo "postgres: not running (not ours)"; return 0; fi
  "${run_as[@]}" "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null && echo "postgres: stopped"
}

status() {
  if external_url; then echo "postgres: external server from POSTLOAN_DATABASE_URL answers"
  elif answers 127.0.0.1 "$port"; then echo "postgres: running on 127.0.0.1:$port"
  else echo "postgres: not running"; return 3; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; restart) stop; start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
