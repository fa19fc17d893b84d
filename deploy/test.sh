#!/usr/bin/env bash
# The whole test suite: lint and types (deploy/lint.sh), unit tests, then integration and end-to-end tests against a real Kafka broker and
# PostgreSQL server that the test session provisions itself (harness/infra.py), and the browser tests in headless
# Chromium (deploy/browser.sh installs Debian's); Debian's prometheus package (promtool, and a real Prometheus for
# the lag alert's test) is installed by deploy/prometheus.sh. Extra args go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deploy/bootstrap.sh
deploy/browser.sh
deploy/prometheus.sh install  # promtool for the alert rules' unit tests, prometheus for the lag test
deploy/kustomize.sh install  # renders deploy/k8s's overlays for their offline validation (a unit test)
export POSTLOAN_PYTHON="$root/.venv/bin/python"
start=$(date +%s)
deploy/lint.sh
.venv/bin/pytest tests/unit -q "$@"
.venv/bin/pytest tests/integration tests/e2e tests/browser -q --durations=25 "$@"  # the slowest: where the time goes
# Faults under load (tests/faults): copies killed, PostgreSQL restarted; a process of their own, since one of them
# restarts the server every test of its process uses.
.venv/bin/pytest tests/faults -q "$@"
echo "tests: $(( $(date +%s) - start )) s"
