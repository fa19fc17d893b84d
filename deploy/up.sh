#!/usr/bin/env bash
# Runs the whole platform on this machine: Kafka, PostgreSQL, Keycloak, topics, the five services (the staff
# console too; each migrates its own schema at start), Prometheus with the alert rules (PROMETHEUS=0 leaves it
# out), demo loans; prints where to look; Ctrl-C stops everything. `--detach` returns instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export POSTLOAN_PYTHON="$root/.venv/bin/python"
# The demo replays the account: the services' clock starts on 3 February 2020 (set it empty for real time).
# A service refuses a moved clock unless told it is a demo (POSTLOAN_DEMO_MODE).
export POSTLOAN_CLOCK_START=${POSTLOAN_CLOCK_START-2020-02-03T09:00:00+08:00}
if [ -n "$POSTLOAN_CLOCK_START" ]; then export POSTLOAN_DEMO_MODE=true; else unset POSTLOAN_CLOCK_START; fi
started=$(date +%s)

deploy/bootstrap.sh
deploy/kafka.sh start
# Every broker's address (one, or three with KAFKA_NODES=3): the services and the CLI bootstrap from any that answers.
POSTLOAN_KAFKA_BOOTSTRAP=${POSTLOAN_KAFKA_BOOTSTRAP:-$(deploy/kafka.sh bootstrap)}; export POSTLOAN_KAFKA_BOOTSTRAP
deploy/postgres.sh start
deploy/keycloak.sh start
POSTLOAN_AUTH_ISSUER=$(deploy/keycloak.sh issuer); export POSTLOAN_AUTH_ISSUER  # the services trust this realm only
.venv/bin/postloan topics
deploy/services.sh start
# Prometheus is on by default: one Go process of some 50 MB, ready in about a second, and the alerts are how an
# operator learns of lag or parked rows; the package is installed on first start (apt-get, like PostgreSQL).
prometheus="not started (PROMETHEUS=0)"
if [ "${PROMETHEUS:-1}" != 0 ]; then deploy/prometheus.sh start; prometheus="$(deploy/prometheus.sh address)"; fi
.venv/bin/postloan load-demo
took=$(( $(date +%s) - started ))
services=$(.venv/bin/python -m services | awk '{printf "%s%s :%s", sep, $1, $2; sep=", "}')
first_port=$(.venv/bin/python -m services | awk 'NR==1 {print $2}')

cat <<MSG

postloan is up (${took} s).
  console    http://127.0.0.1:${CONSOLE_HTTP_PORT:-8005}/   the staff console: sign in as a demo user below (each page needs its role)
  services   ${services}
  health     http://127.0.0.1:${first_port}/health   (and /ready, /docs for OpenAPI, /docs/asyncapi.json; same paths on each port)
  logs       $root/.local/logs/<service>.log
  Kafka      ${POSTLOAN_KAFKA_BOOTSTRAP} (SASL_SSL, SCRAM-SHA-512; CA .local/secrets/tls/ca.pem, one password per principal in
             .local/secrets/kafka/, ACLs: deploy/kafka.sh acls)
  PostgreSQL 127.0.0.1:${PG_PORT:-55432}/postloan, one role per service (README "Database roles")
             superuser URL: deploy/postgres.sh admin-url   (passwords in .local/secrets/postgres, mode 0600)
  Prometheus ${prometheus}   (alerts at /classic/alerts; rules deploy/prometheus/alerts.yml, docs/observability.md)
  Keycloak   $(deploy/keycloak.sh issuer)   (admin console http://127.0.0.1:${KEYCLOAK_PORT:-8180}/admin/, user admin,
             password in .local/secrets/keycloak/admin-password)

Every endpoint but /health and /ready needs a bearer token of realm postloan. Demo sign-ins (generated on first
start, kept in .local/secrets/keycloak/users/):
$(.venv/bin/python -m shared.keycloak_admin show --realm-file deploy/keycloak/postloan-realm.json \
    --secrets "${POSTLOAN_STATE_DIR:-$root/.local}/secrets/keycloak")
Sign in on the command line (device grant; the CLI's HTTP calls then carry the token):
  .venv/bin/postloan login          (as service-centre-1 for \`postloan demo\`: it takes calls and reads the paper owed)

Try it, signed in as any of them (a sample debit-day change, then every event that follows from it):
  .venv/bin/postloan login && .venv/bin/postloan try
Follow all event topics:
  .venv/bin/postloan tail
Stop everything:
  make down        (or Ctrl-C here)
MSG

if [ "${1:-}" = "--detach" ]; then exit 0; fi
trap 'echo; "$root/deploy/down.sh"; exit 0' INT TERM
while deploy/services.sh status >/dev/null; do sleep 2; done
echo "a service stopped; see .local/logs. Stopping the rest." >&2
deploy/down.sh
exit 1
