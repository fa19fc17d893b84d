#!/usr/bin/env bash
# Local PostgreSQL for postloan: start | stop | status | restart | crash-restart | data | secrets | admin-url |
# url <service>.
# If POSTLOAN_DATABASE_URL names a server that answers, that server is used (the URL is its superuser's) and nothing
# is started. Otherwise Debian's postgresql package is installed when missing and a server the project owns is
# started on 127.0.0.1:PG_PORT (55432) with its own data folder, superuser "postloan" and database "postloan".
# Every connection signs in with scram-sha-256; passwords are generated on first start into PG_SECRETS_DIR
# ($state/secrets/postgres, 0700, files 0600): the superuser's and one login role per service (shared/db_roles.py).
# A cluster made before that (trust for everyone) is converted on its next start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
port=${PG_PORT:-55432}
db=postloan
py=${POSTLOAN_PYTHON:-$root/.venv/bin/python}
export POSTLOAN_PG_SECRETS=${PG_SECRETS_DIR:-$state/secrets/postgres}
export POSTLOAN_PG_SERVER=${POSTLOAN_DATABASE_URL:-postgresql+asyncpg://postloan@127.0.0.1:$port/$db}

# initdb refuses to run as root: as root the server runs as the "postgres" system user, in a folder
# that user can reach even when the project sits under a private home directory. A cluster is bound to the
# passwords that made it, so its folder is named by an id kept beside them (generated with them, gone with them):
# a cluster left on the machine by another checkout, or by an earlier clone at the same path (CI's), is never
# started in this one's place.
if [ "$(id -u)" = 0 ]; then
  idfile="$POSTLOAN_PG_SECRETS/cluster-id"
  if [ ! -s "$idfile" ]; then
    mkdir -p -m 700 "$POSTLOAN_PG_SECRETS"
    (umask 077; od -An -N6 -tx1 /dev/urandom | tr -d ' \n' >"$idfile")
  fi
  data_root=/var/tmp/postloan-pg/$(tr -cd '0-9a-f' <"$idfile"); run_as=(runuser -u postgres --)
else data_root="$state/postgres"; run_as=(); fi
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
  # A URL naming our own cluster's port (a shell that exported it for the tests) is not another server: that
  # cluster is still started, converted from trust and provisioned here.
  [ "$p" = "$port" ] && [ -f "$data/PG_VERSION" ] && return 1
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

roles() {  # command [args]: shared/db_roles.py, with the server and the secrets folder from the environment
  (cd "$root" && "$py" -m shared.db_roles "$@")
}

service_names() {  # the one list of services (services/__init__.py)
  (cd "$root" && "$py" -m services | awk '{print $1}')
}

provision() {  # the database, one login role per service, their schemas and grants (idempotent)
  # shellcheck disable=SC2046  # one argument per service name
  roles provision $(service_names)
}

initdb_scram() {  # a new cluster: scram-sha-256 for every connection from its first start
  local bin=$1 pwfile
  roles admin-url >/dev/null  # generates the superuser's password on first start
  # initdb reads the password from a file; as root it runs as "postgres", who cannot read the state folder.
  pwfile=$(mktemp "$data_root/.initdb-XXXXXX")
  [ ${#run_as[@]} -gt 0 ] && chown postgres "$pwfile"
  cat "$POSTLOAN_PG_SECRETS/postloan.password" >"$pwfile"
  "${run_as[@]}" "$bin/initdb" -D "$data" -U postloan -A scram-sha-256 --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    >/dev/null || { rm -f "$pwfile"; return 1; }
  rm -f "$pwfile"
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data_root'
max_connections = 300
shared_buffers = 256MB
timezone = 'UTC'
password_encryption = 'scram-sha-256'
CONF
}

trusting() {  # a cluster of ours still letting anyone in
  [ -f "$data/pg_hba.conf" ] && grep -qE '^[^#]*[[:space:]]trust([[:space:]]|$)' "$data/pg_hba.conf"
}

convert() {  # running, on trust: superuser's password set, pg_hba.conf rewritten to scram, configuration reloaded
  local bin=$1
  echo "postgres: converting the cluster on :$port from trust to scram-sha-256"
  roles secure
  "${run_as[@]}" tee "$data/pg_hba.conf" >/dev/null <<HBA
# Written by deploy/postgres.sh: a password (SCRAM) for every connection, from this host only.
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
HBA
  "${run_as[@]}" "$bin/pg_ctl" -D "$data" reload >/dev/null
}

start() {
  if external_url; then provision; echo "postgres: using the server named by POSTLOAN_DATABASE_URL"; return 0; fi
  local bin; bin=$(pg_bin)
  if ! answers 127.0.0.1 "$port"; then
    mkdir -p "$data_root"
    [ ${#run_as[@]} -gt 0 ] && chown postgres "$data_root"
    [ -f "$data/PG_VERSION" ] || initdb_scram "$bin"
    "${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null
  fi
  if trusting; then convert "$bin"; fi
  provision
  echo "postgres: ready on 127.0.0.1:$port (database $db, data $data, passwords in $POSTLOAN_PG_SECRETS)"
}

stop() {
  if [ ! -f "$data/postmaster.pid" ]; then echo "postgres: not running (not ours)"; return 0; fi
  "${run_as[@]}" "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null && echo "postgres: stopped"
}

crash_restart() {  # pg_ctl restart -m immediate: every connection cut, no checkpoint, crash recovery at start (the
  # fault tests, tests/faults: "PostgreSQL restarted under load"); -l keeps the server's output out of our stdout
  if [ ! -f "$data/postmaster.pid" ]; then echo "postgres: not running (not ours)" >&2; return 1; fi
  "${run_as[@]}" "$(pg_bin)/pg_ctl" -D "$data" -l "$logfile" -m immediate -w -t 60 restart >/dev/null
  echo "postgres: restarted (immediate) on 127.0.0.1:$port"
}

status() {
  if external_url; then echo "postgres: external server from POSTLOAN_DATABASE_URL answers"
  elif answers 127.0.0.1 "$port"; then echo "postgres: running on 127.0.0.1:$port"
  else echo "postgres: not running"; return 3; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; restart) stop; start ;;
  crash-restart) crash_restart ;;  # an immediate restart of a running server (tests/faults)
  data) echo "$data" ;;  # this checkout's data folder (its log beside it, postgres-<port>.log)
  secrets) roles secrets $(service_names) ;;  # the passwords alone, for docker-compose.yml (its file secrets)
  admin-url) roles admin-url ;;  # SQLAlchemy URL of the superuser, password included (other scripts call this)
  url) roles url "${2:?usage: $0 url <service>}" ;;  # the service's own URL, password included
  *) echo "usage: $0 start|stop|status|restart|crash-restart|data|secrets|admin-url|url <service>" >&2; exit 2 ;;
esac
