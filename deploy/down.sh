#!/usr/bin/env bash
# Stops the services and Prometheus, then Kafka, Keycloak and the PostgreSQL server the project started (data is
# kept).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/services.sh" stop
"$here/prometheus.sh" stop
"$here/kafka.sh" stop
"$here/keycloak.sh" stop
"$here/postgres.sh" stop
