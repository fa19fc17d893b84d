#!/usr/bin/env bash
# Local Prometheus (Debian's `prometheus` package, 2.42, with promtool) without Docker:
# install | start | stop | status | restart | config | address.
# `install` puts the package in when missing (the package's systemd unit is never used: there is no systemd on the
# project's machines, and a second Prometheus on 9090 would not be ours); `start` runs the binary itself with a
# configuration rendered by `config`: one scrape job `postloan-<service>` per service of services/__init__.py
# (SERVICES) at 127.0.0.1:<its port>, the alert rules of deploy/prometheus/alerts.yml. Data, pid and log files
# live under $state/prometheus, named by port.
# Settings: PROMETHEUS_PORT (9090), PROMETHEUS_HOST (127.0.0.1, the address it listens on), PROMETHEUS_INTERVAL
# (15s: scrape and rule evaluation; the tests use 1s), <NAME>_HTTP_PORT (a service's port, as for services.sh),
# PROMETHEUS_TARGET_HOST (127.0.0.1; `service` names each target by its service, as in docker-compose.yml),
# PROMETHEUS_RULES_DIR (deploy/prometheus; where the running Prometheus finds alerts.yml), PROMETHEUS_RETENTION
# (15d), PROMETHEUS_FRESH=1 (wipe the data first), POSTLOAN_STATE_DIR (<project>/.local).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
port=${PROMETHEUS_PORT:-9090}
host=${PROMETHEUS_HOST:-127.0.0.1}
interval=${PROMETHEUS_INTERVAL:-15s}
target_host=${PROMETHEUS_TARGET_HOST:-127.0.0.1}
rules=${PROMETHEUS_RULES_DIR:-$here/prometheus}
py=${POSTLOAN_PYTHON:-$root/.venv/bin/python}
home="$state/prometheus"
data="$home/data-$port"
config="$home/prometheus-$port.yml"
pidfile="$home/prometheus-$port.pid"
logfile="$home/prometheus-$port.log"
bin=/usr/bin/prometheus

is_running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
address() { echo "http://$host:$port"; }

install() {
  [ -x "$bin" ] && command -v promtool >/dev/null && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || {
      echo "prometheus: Debian's prometheus package is missing; install it as root: apt-get install -y prometheus" >&2
      exit 1
    }
    sudo=(sudo -n)
  fi
  echo "prometheus: installing Debian's prometheus package (with promtool)" >&2
  "${sudo[@]}" apt-get update -qq >&2
  # No recommends: they are exporters for this host, not the platform. policy-rc.d answers 101 so that the
  # package's maintainer scripts start nothing (its unit would hold 9090 where systemd runs).
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod +x "$policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >&2 || {
    [ $added = 1 ] && "${sudo[@]}" rm -f "$policy"; exit 1; }
  [ $added = 1 ] && "${sudo[@]}" rm -f "$policy"
  [ -x "$bin" ] || { echo "prometheus: the package installed no $bin" >&2; exit 1; }
}

# The configuration, on stdout: one job per service, the rules; every figure from the settings above.
config() {
  cat <<YAML
# Rendered by deploy/prometheus.sh config: do not edit; change the script or its settings.
global:
  scrape_interval: $interval
  evaluation_interval: $interval
rule_files:
  - $rules/alerts.yml
scrape_configs:
YAML
  local name default override target
  while read -r name default; do
    override="${name^^}_HTTP_PORT"
    target=$target_host; [ "$target_host" = service ] && target=$name
    printf '  - job_name: postloan-%s\n    static_configs:\n      - targets: ["%s:%s"]\n' \
      "$name" "$target" "${!override:-$default}"
  done < <(cd "$root" && "$py" -m services)
}

start() {
  if is_running; then echo "prometheus: already running at $(address) (pid $(cat "$pidfile"))"; return 0; fi
  if port_open; then echo "prometheus: $host:$port is taken by another process; stop it or set PROMETHEUS_PORT" >&2; exit 1; fi
  install
  mkdir -p "$home"
  [ "${PROMETHEUS_FRESH:-0}" = 1 ] && rm -rf "$data"
  config >"$config"
  promtool check config "$config" >"$home/check-$port.log" 2>&1 \
    || { echo "prometheus: the rendered configuration is refused:" >&2; cat "$home/check-$port.log" >&2; exit 1; }
  # --web.enable-lifecycle: `restart` would do without it; it lets a test or an operator reload the rules by POST
  # /-/reload after editing them. The console templates of the package are not needed (the API and /alerts are).
  nohup "$bin" --config.file="$config" --storage.tsdb.path="$data" \
      --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-15d}" \
      --web.listen-address="$host:$port" --web.enable-lifecycle >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ! is_running; then echo "prometheus: exited during start-up; last lines of $logfile:" >&2; tail -n 20 "$logfile" >&2; exit 1; fi
    if curl -fs "$(address)/-/ready" >/dev/null 2>&1; then
      echo "prometheus: ready at $(address), scraping every $interval (pid $(cat "$pidfile"))"; return 0
    fi
    sleep 0.25
  done
  echo "prometheus: not ready after 30 s; see $logfile" >&2; exit 1
}

stop() {
  if ! is_running; then echo "prometheus: not running"; rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill "$pid"  # SIGTERM: it closes the database cleanly
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"; echo "prometheus: stopped"
}

status() {
  if is_running && port_open; then echo "prometheus: running at $(address) (pid $(cat "$pidfile"))"
  elif port_open; then echo "prometheus: $host:$port answers (not started by this launcher)"
  else echo "prometheus: not running"; return 3; fi
}

case "${1:-}" in
  install) install ;; start) start ;; stop) stop ;; status) status ;; restart) stop; start ;; config) config ;;
  address) address ;;
  *) echo "usage: $0 install|start|stop|status|restart|config|address" >&2; exit 2 ;;
esac
