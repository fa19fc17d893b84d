#!/usr/bin/env bash
# Local Apache Kafka 4.x broker (KRaft, one node) without Docker: start | stop | status | acls (also `secrets` and
# `run`, the foreground broker that docker-compose.yml runs). Jars come from Maven Central through
# deploy/kafka/pom.xml and are cached; the data folder persists between starts (formatted once).
# Secured (README "Broker security"): on first start it generates a CA and the broker's certificate
# ($state/secrets/tls) and one SCRAM-SHA-512 password per principal of shared/principals.py
# ($state/secrets/kafka/<principal>.password; files 0600, folders 0700), formats the data folder with those
# credentials, and once the broker is up creates the topics and the ACLs as the admin principal
# (shared/kafka_admin.py). Settings: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), POSTLOAN_STATE_DIR
# (<project>/.local), KAFKA_HEAP (-Xms512m -Xmx1g), KAFKA_FRESH=1 (wipe data first); for a container:
# KAFKA_LIBS (the broker's jars, e.g. /opt/kafka/libs), KAFKA_HOST (address the client listener binds, 127.0.0.1)
# and KAFKA_ADVERTISED_HOST (the name clients reach it by, 127.0.0.1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-9093}
heap=${KAFKA_HEAP:--Xms512m -Xmx1g}
home="$state/kafka"
libs=${KAFKA_LIBS:-"${POSTLOAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/postloan}/kafka-libs-$(sha1sum "$here/kafka/pom.xml" | cut -c1-12)"}
host=${KAFKA_HOST:-127.0.0.1}
advertised=${KAFKA_ADVERTISED_HOST:-127.0.0.1}
data="$home/data-$port"
pidfile="$home/kafka-$port.pid"
logfile="$home/kafka-$port.log"
py=${POSTLOAN_PYTHON:-$root/.venv/bin/python}
secrets="$state/secrets"
tls="$secrets/tls"
# What the data folder was formatted with: a folder formatted without these credentials (or before a principal
# was added) is formatted again, since SCRAM credentials only enter a KRaft cluster at format time here.
security_mark="sasl_ssl-scram-sha-512"

is_running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

fetch_libs() {
  [ -f "$libs/.complete" ] || [ -n "${KAFKA_LIBS:-}" ] && return 0
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
  prepare
  nohup "${java_run[@]}" kafka.Kafka "$home/server-$port.properties" >"$logfile" 2>&1 &
  echo $! > "$pidfile"
  # The client port opens only once the broker is unfenced; then a metadata request must succeed.
  for _ in $(seq 1 240); do
    if ! is_running; then echo "kafka: broker exited during start-up; last lines of $logfile:" >&2; tail -n 30 "$logfile" >&2; exit 1; fi
    # One interpreter waits for the first metadata answer, then creates the topics and ACLs (a Python start per
    # probe cost seconds on a busy machine).
    if port_open && admin --wait 60 setup >&2; then
      echo "kafka: ready on 127.0.0.1:$port, SASL_SSL (pid $(cat "$pidfile"))"; return 0
    fi
    sleep 0.5
  done
  echo "kafka: not ready after 120 s; see $logfile" >&2; exit 1
}

# Jars, secrets, the rendered properties (0600: they hold the broker's password) and a formatted data folder.
prepare() {
  fetch_libs
  mkdir -p "$home"
  ensure_secrets
  [ "${KAFKA_FRESH:-0}" = 1 ] && rm -rf "$data"
  local principals mark
  principals=$(principal_names)
  mark="$security_mark $(echo "$principals" | sha1sum | cut -c1-12)"
  if [ -f "$data/meta.properties" ] && [ "$(cat "$data/.postloan-security" 2>/dev/null)" != "$mark" ]; then
    echo "kafka: $data was formatted without the current credentials; formatting it again (its topics are lost)" >&2
    rm -rf "$data"
  fi
  (umask 077; sed -e "s#@PORT@#$port#g; s#@CPORT@#$cport#g; s#@DATA@#$data#g; s#@TLS@#$tls#g" \
      -e "s#SASL_SSL://127.0.0.1:#SASL_SSL://$host:#; s#advertised.listeners=SASL_SSL://$host:#advertised.listeners=SASL_SSL://$advertised:#" \
      -e "s#@BROKER_PASSWORD@#$(cat "$secrets/kafka/broker.password")#g" \
      "$here/kafka/server.properties.in" > "$home/server-$port.properties")
  if [ ! -f "$data/meta.properties" ]; then
    local cid scram=()
    for name in $principals; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(cat "$secrets/kafka/$name.password")]")
    done
    cid=$(cluster_id)
    # Its output lists the credentials' salted keys: kept in a private file, shown only on failure.
    (umask 077; "${java_run[@]}" kafka.tools.StorageTool format --standalone -t "$cid" \
        -c "$home/server-$port.properties" "${scram[@]}" >"$home/format-$port.log" 2>&1) \
      || { echo "kafka: formatting $data failed:" >&2; tail -n 20 "$home/format-$port.log" >&2; exit 1; }
    echo "$mark" > "$data/.postloan-security"
  fi
}

# What `StorageTool random-uuid` prints (16 random bytes, base64url without padding, not starting with "-"),
# without starting a JVM for it.
cluster_id() {
  local id="-"
  while [ "${id:0:1}" = "-" ]; do id=$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '='); done
  echo "$id"
}

# The principals of shared/principals.py; where no Python runs (the broker's container), the ones whose
# passwords the secrets step wrote.
principal_names() {
  if [ -x "$py" ] || command -v "$py" >/dev/null; then (cd "$root" && "$py" -m shared.principals)
  else (cd "$secrets/kafka" && ls -- *.password | sed 's/\.password$//'); fi
}

# The CA, the broker's key and certificate (one PEM key store), and a random password per principal; kept.
ensure_secrets() {
  (
    umask 077
    mkdir -p "$tls" "$secrets/kafka"
    chmod 700 "$secrets" "$tls" "$secrets/kafka"
    for name in $(principal_names); do
      [ -s "$secrets/kafka/$name.password" ] || openssl rand -hex 24 > "$secrets/kafka/$name.password"
    done
    if [ ! -s "$tls/ca.pem" ] || [ ! -s "$tls/ca.key" ]; then
      openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=postloan local CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
      rm -f "$tls/kafka-broker.pem"
    fi
    if [ ! -s "$tls/kafka-broker.pem" ]; then
      local work; work=$(mktemp -d)
      openssl req -newkey rsa:2048 -nodes -subj "/CN=kafka" -keyout "$work/key.pem" -out "$work/csr.pem" 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kafka\nextendedKeyUsage=serverAuth,clientAuth\n' > "$work/ext"
      openssl x509 -req -in "$work/csr.pem" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -CAserial "$work/serial" -days 825 -extfile "$work/ext" -out "$work/cert.pem" 2>/dev/null
      cat "$work/key.pem" "$work/cert.pem" "$tls/ca.pem" > "$tls/kafka-broker.pem"
      rm -rf "$work"
    fi
    chmod 600 "$tls"/* "$secrets/kafka"/*
  )
}

# shared.kafka_admin as the admin principal: `ping` (a metadata request), `setup` (topics and ACLs), `acls`.
admin() {
  (cd "$root" && POSTLOAN_STATE_DIR="$state" "$py" -m shared.kafka_admin --bootstrap "127.0.0.1:$port" "$@")
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
  start) start ;; stop) stop ;; status) status ;; restart) stop; start ;; version) version ;; acls) admin acls ;;
  secrets) ensure_secrets ;;
  run) prepare; exec "${java_run[@]}" kafka.Kafka "$home/server-$port.properties" ;;  # foreground (a container)
  *) echo "usage: $0 start|stop|status|restart|version|acls|secrets|run" >&2; exit 2 ;;
esac
