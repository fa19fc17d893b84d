#!/usr/bin/env bash
# Local Apache Kafka 4.x broker (KRaft, one node) without Docker: start | stop | status.
# Jars come from Maven Central through deploy/kafka/pom.xml and are cached; the data folder
# persists between starts (formatted once). Settings: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT
# (9093), POSTLOAN_STATE_DIR (<project>/.local), KAFKA_HEAP (-Xms512m -Xmx1g), KAFKA_FRESH=1 (wipe data first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-9093}
heap=${KAFKA_HEAP:--Xms512m -Xmx1g}
home="$state/kafka"
libs="${POSTLOAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/postloan}/kafka-libs-$(sha1sum "$here/kafka/pom.xml" | cut -c1-12)"
data="$home/data-$port"
pidfile="$home/kafka-$port.pid"
logfile="$home/kafka-$port.log"

is_running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

fetch_libs() {
  [ -f "$libs/.complete" ] && return 0
  command -v mvn >/dev/null || { echo "kafka: Maven (mvn) is required to fetch the broker's jars" >&2; exit 1; }
  command -v java >/dev/null || { echo "kafka: a Java 17+ runtime is required" >&2; exit 1; }
  echo "kafka: resolving broker jars from Maven Central into $libs" >&2
  mkdir -p "$libs"
  mvn -B -q -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >&2
  touch "$libs/.complete"
}

# shellcheck disable=SC2206
java_run=(java $heap -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/kafka/log4j2.properties"
          -Dkafka.logs.dir="$home" -cp "$libs/*")

start() {
  if is_running; then echo "kafka: already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
  if port_open; then
    if [ "${KAFKA_FRESH:-0}" = 1 ]; then  # a fresh broker was asked for (tests): a stale one must not stand in
      echo "kafka: 127.0.0.1:$port is taken by another process; stop it to start a fresh broker" >&2; return 1
    fi
    echo "kafka: 127.0.0.1:$port is taken by another process; using it as the broker" >&2; return 0
  fi
  fetch_libs
  mkdir -p "$home"
  [ "${KAFKA_FRESH:-0}" = 1 ] && rm -rf "$data"
  sed -e "s#@PORT@#$port#g; s#@CPORT@#$cport#g; s#@DATA@#$data#g" \
      "$here/kafka/server.properties.in" > "$home/server-$port.properties"
  if [ ! -f "$data/meta.properties" ]; then
    local cid
    cid=$("${java_run[@]}" kafka.tools.StorageTool random-uuid)
    "${java_run[@]}" kafka.tools.StorageTool format --standalone -t "$cid" -c "$home/server-$port.properties" >&2
  fi
  nohup "${java_run[@]}" kafka.Kafka "$home/server-$port.properties" >"$logfile" 2>&1 &
  echo $! > "$pidfile"
  # The PLAINTEXT port opens only once the broker is unfenced; then a metadata request must succeed.
  for _ in $(seq 1 240); do
    if ! is_running; then echo "kafka: broker exited during start-up; last lines of $logfile:" >&2; tail -n 30 "$logfile" >&2; exit 1; fi
    if port_open && metadata_ok; then echo "kafka: ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
    sleep 0.5
  done
  echo "kafka: not ready after 120 s; see $logfile" >&2; exit 1
}

metadata_ok() {
  local py=${POSTLOAN_PYTHON:-$root/.venv/bin/python}
  if [ -x "$py" ]; then
    "$py" - "$port" <<'PY' >/dev/null 2>&1
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient
async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{sys.argv[1]}", request_timeout_ms=3000)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()
asyncio.run(main())
PY
  else
    port_open
  fi
}

stop() {
  if ! is_running; then echo "kafka: not running"; rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill "$pid"   # SIGTERM runs the broker's shutdown hook
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"; echo "kafka: stopped"
}

status() {
  if is_running && port_open; then echo "kafka: running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
  elif port_open; then echo "kafka: 127.0.0.1:$port answers (not started by this launcher)"
  else echo "kafka: not running"; return 3; fi
}

version() {  # the broker version the launcher runs (from the resolved jar)
  fetch_libs
  local jar; jar=$(ls "$libs"/kafka_2.13-*.jar | head -n 1)
  basename "$jar" .jar | sed 's/^kafka_2.13-//'
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; restart) stop; start ;; version) version ;;
  *) echo "usage: $0 start|stop|status|restart|version" >&2; exit 2 ;;
esac
