#!/usr/bin/env bash
# Local Keycloak (the staff's identity provider) without Docker: start | stop | status | issuer | build (fetch and build only).
# The server distribution comes from Maven Central (cached in ~/.m2), is unpacked and built once for PostgreSQL
# under the state folder, and runs in production mode on 127.0.0.1 with its own database and role in the
# project's PostgreSQL. On every start shared/keycloak_admin.py brings realm `postloan` in line with
# deploy/keycloak/postloan-realm.json and gives demo users and upstream clients generated secrets
# ($state/secrets/keycloak, 0600). Settings: KEYCLOAK_PORT (8180), KEYCLOAK_MGMT_PORT (9190),
# POSTLOAN_STATE_DIR (<project>/.local), KEYCLOAK_DB (keycloak), KEYCLOAK_FRESH=1 (re-create the realm),
# KEYCLOAK_HEAP (-Xms256m -Xmx768m).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
version=26.4.7
port=${KEYCLOAK_PORT:-8180}
mport=${KEYCLOAK_MGMT_PORT:-9190}
db=${KEYCLOAK_DB:-keycloak}
home="$state/keycloak"
dist="$home/keycloak-$version"
secrets="$state/secrets/keycloak"
pidfile="$home/keycloak-$port.pid"
logfile="$home/keycloak-$port.log"
py=${POSTLOAN_PYTHON:-$root/.venv/bin/python}
zip="$HOME/.m2/repository/org/keycloak/keycloak-quarkus-dist/$version/keycloak-quarkus-dist-$version.zip"
# Build-time options: a change means a new `kc.sh build` (the marker names them).
build_opts=(--db=postgres --health-enabled=true)
build_mark="$dist/.built-$(echo "${build_opts[*]}" | sha1sum | cut -c1-12)"

is_running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
issuer() { echo "http://127.0.0.1:$port/realms/postloan"; }

secret() {  # name: a generated secret kept 0600 under $secrets, made on first use (shared/secret_files.py)
  (cd "$root" && "$py" -m shared.secret_files "$secrets/$1")
}

fetch_dist() {
  [ -f "$build_mark" ] && return 0
  command -v java >/dev/null || { echo "keycloak: a Java 17+ runtime is required" >&2; exit 1; }
  if [ ! -f "$zip" ]; then
    command -v mvn >/dev/null || { echo "keycloak: Maven (mvn) is required to fetch the server" >&2; exit 1; }
    echo "keycloak: fetching keycloak-quarkus-dist $version from Maven Central" >&2
    mvn -B -q dependency:get -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:zip" -Dtransitive=false >&2
  fi
  rm -rf "$dist"; mkdir -p "$home"
  "$py" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$home"
  chmod +x "$dist"/bin/*.sh
  echo "keycloak: building the server for PostgreSQL (once)" >&2
  "$dist/bin/kc.sh" build "${build_opts[@]}" >"$home/build.log" 2>&1 || { tail -n 30 "$home/build.log" >&2; exit 1; }
  touch "$build_mark"
}

admin_url() {  # the PostgreSQL admin connection (postgres.sh admin-url once the PostgreSQL slice has it)
  if grep -q 'admin-url)' "$here/postgres.sh"; then "$here/postgres.sh" admin-url
  else echo "${POSTLOAN_DATABASE_URL:-postgresql+asyncpg://postloan@127.0.0.1:55432/postloan}"; fi
}

ensure_database() {  # Keycloak's own role and database, created with the admin connection
  local url password psql
  url=$(admin_url | sed 's#^postgresql+asyncpg://#postgresql://#')
  password=$(secret db-password)
  psql=(psql); command -v psql >/dev/null || psql=("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql")
  # The admin's password goes through the environment, not the command line (which `ps` shows to every user).
  # So does Keycloak's own password (psql 15+ reads it with \getenv).
  PGPASSWORD=$(sed -nE 's#^[^:]*://[^:@/]*:([^@]*)@.*#\1#p' <<<"$url") KEYCLOAK_DB_PASSWORD="$password" \
    "${psql[@]}" "$(sed -E 's#^([^:]*://[^:@/]*):[^@]*@#\1@#' <<<"$url")" \
    -v ON_ERROR_STOP=1 -qtA -v role="$db" >/dev/null <<'SQL'
\getenv pw KEYCLOAK_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
\gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'role')
\gexec
SQL
  db_host_port=$(sed -E 's#^[^/]*//([^@/]*@)?([^/?]*).*#\2#' <<<"$url")
}

start() {
  if is_running; then echo "keycloak: already running, issuer $(issuer) (pid $(cat "$pidfile"))"; provision; return 0; fi
  if port_open; then echo "keycloak: 127.0.0.1:$port is taken by another process; stop it or set KEYCLOAK_PORT" >&2; exit 1; fi
  mkdir -p "$home" && (umask 077; mkdir -p "$secrets") && chmod 700 "$state/secrets" "$secrets"
  local began=$SECONDS
  fetch_dist
  ensure_database
  # The bootstrap admin only takes effect on the database's first start; its password stays in $secrets.
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=$(secret admin-password) \
  KC_DB_PASSWORD=$(secret db-password) JAVA_OPTS_KC_HEAP="${KEYCLOAK_HEAP:--Xms256m -Xmx768m}" \
    nohup "$dist/bin/kc.sh" start --optimized \
      --http-enabled=true --http-host=127.0.0.1 --http-port="$port" --http-management-port="$mport" \
      --hostname="http://127.0.0.1:$port" --hostname-strict=true \
      --db-url="jdbc:postgresql://$db_host_port/$db" --db-username="$db" \
      --cache=local --db-pool-max-size=10 --log-level=warn,org.keycloak.services:info \
      >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 360); do
    if ! is_running; then echo "keycloak: exited during start-up; last lines of $logfile:" >&2; tail -n 30 "$logfile" >&2; exit 1; fi
    if curl -fs "http://127.0.0.1:$mport/health/ready" >/dev/null 2>&1; then
      echo "keycloak: ready in $((SECONDS - began)) s, issuer $(issuer) (pid $(cat "$pidfile"))"; provision; return 0
    fi
    sleep 0.5
  done
  echo "keycloak: not ready after 180 s; see $logfile" >&2; exit 1
}

provision() {  # realm, demo users' passwords, upstream clients' secrets (idempotent)
  local fresh=(); [ "${KEYCLOAK_FRESH:-0}" = 1 ] && fresh=(--fresh)
  (cd "$root" && "$py" -m shared.keycloak_admin provision --url "http://127.0.0.1:$port" \
      --realm-file "$here/keycloak/postloan-realm.json" --secrets "$secrets" "${fresh[@]}")
}

stop() {
  if ! is_running; then echo "keycloak: not running"; rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true  # kc.sh runs java as its child
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"; echo "keycloak: stopped"
}

status() {
  if is_running && port_open; then echo "keycloak: running, issuer $(issuer) (pid $(cat "$pidfile"))"
  elif port_open; then echo "keycloak: 127.0.0.1:$port answers (not started by this launcher)"
  else echo "keycloak: not running"; return 3; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; restart) stop; start ;; issuer) issuer ;; build) fetch_dist ;;
  *) echo "usage: $0 start|stop|status|restart|issuer|build" >&2; exit 2 ;;
esac
