#!/usr/bin/env bash
# The four services as background processes: start | stop | status. Logs in .local/logs, pids in .local/run.
# Each is `python -m services.<name>`; settings come from the environment (see README "Settings"). Each signs in
# to PostgreSQL as its own login role (deploy/postgres.sh url <name>) unless <NAME>_DATABASE_URL is given.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${POSTLOAN_STATE_DIR:-$root/.local}
py="$root/.venv/bin/python"
# The services and their default ports come from the one list of them (services/__init__.py: SERVICES);
# <NAME>_HTTP_PORT overrides a port.
names=(); declare -A port=()
while read -r name default; do
  names+=("$name"); override="${name^^}_HTTP_PORT"; port[$name]=${!override:-$default}
done < <(cd "$root" && "$py" -m services)
mkdir -p "$state/logs" "$state/run"
cd "$root"

database_url() {  # the service's own role, password included: only that service's process gets it
  local given="${1^^}_DATABASE_URL"
  if [ -n "${!given:-}" ]; then echo "${!given}"; else "$root/deploy/postgres.sh" url "$1"; fi
}

running() { [ -f "$state/run/$1.pid" ] && kill -0 "$(cat "$state/run/$1.pid")" 2>/dev/null; }

start() {
  for s in "${names[@]}"; do
    if running "$s"; then echo "$s: already running"; continue; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/${port[$s]}") 2>/dev/null; then
      echo "$s: port ${port[$s]} is taken by another process; stop it or set ${s^^}_HTTP_PORT" >&2; exit 1
    fi
    url=$(database_url "$s")
    # Exported in a subshell that becomes the service (exec): never on a command line, never in another's
    # environment. Each service connects to Kafka as its own principal (shared/principals.py), with the password
    # and CA deploy/kafka.sh generated; those variables name files, so no Kafka secret is in the environment.
    (export "${s^^}_DATABASE_URL=$url" POSTLOAN_LOG_JSON=${POSTLOAN_LOG_JSON:-true} \
       "${s^^}_KAFKA_SASL_USERNAME=postloan-$s" \
       "${s^^}_KAFKA_SASL_PASSWORD_FILE=$state/secrets/kafka/postloan-$s.password" \
       "POSTLOAN_KAFKA_CA_FILE=$state/secrets/tls/ca.pem"
     exec nohup "$py" -m "services.$s" >>"$state/logs/$s.log" 2>&1 </dev/null) &
    echo $! >"$state/run/$s.pid"
  done
  for s in "${names[@]}"; do
    for _ in $(seq 1 300); do
      if curl -fs "http://127.0.0.1:${port[$s]}/ready" >/dev/null 2>&1; then echo "$s: ready on :${port[$s]}"; break; fi
      if ! running "$s"; then echo "$s: exited during start-up; see $state/logs/$s.log" >&2; tail -n 20 "$state/logs/$s.log" >&2; exit 1; fi
      sleep 0.2
    done
    curl -fs "http://127.0.0.1:${port[$s]}/ready" >/dev/null || { echo "$s: not ready after 60 s" >&2; exit 1; }
  done
}

stop() {
  for s in "${names[@]}"; do
    if running "$s"; then
      pid=$(cat "$state/run/$s.pid"); kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "$s: stopped"
    fi
    rm -f "$state/run/$s.pid"
  done
}

status() {
  local rc=0
  for s in "${names[@]}"; do
    if running "$s"; then
      echo "$s: running (pid $(cat "$state/run/$s.pid")) health $(curl -s "http://127.0.0.1:${port[$s]}/health" || echo '{}')"
    else echo "$s: not running"; rc=3; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
