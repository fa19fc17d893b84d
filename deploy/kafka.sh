#!/usr/bin/env bash
# Local Apache Kafka 4.x (KRaft) without Docker: one node, or a cluster of KAFKA_NODES on loopback. start | stop |
# status | acls | bootstrap (also `secrets` and `run`, the foreground broker that docker-compose.yml runs). Jars come
# from Maven Central through deploy/kafka/pom.xml and are cached; data folders persist between starts (formatted once).
# Secured (README "Broker security"): on first start it generates a CA and the brokers' certificate
# ($state/secrets/tls) and one SCRAM-SHA-512 password per principal of shared/principals.py
# ($state/secrets/kafka/<principal>.password; files 0600, folders 0700), formats the data folders with those
# credentials, and once the brokers are up creates the topics and the ACLs as the admin principal
# (shared/kafka_admin.py). Settings: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_NODES (1; README
# "A three-broker cluster": node n listens on KAFKA_PORT+2(n-1), its controller on KAFKA_CONTROLLER_PORT+2(n-1)),
# POSTLOAN_STATE_DIR (<project>/.local), KAFKA_HEAP (per node; -Xms512m -Xmx1g alone, -Xms256m -Xmx512m in a
# cluster), KAFKA_JVM_FLAGS (none alone; C1 only and the serial GC in a cluster), KAFKA_FRESH=1 (wipe data first);
# for a container: KAFKA_LIBS (the broker's jars, e.g. /opt/kafka/libs), KAFKA_HOST (address the client listener binds, 127.0.0.1) and KAFKA_ADVERTISED_HOST (the name clients reach it by,
# 127.0.0.1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${POSTLOAN_STATE_DIR:-$root/.local}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-9093}
home="$state/kafka"
# How many nodes: as asked, else as many as the running cluster on this port has (so stop and status need no flag).
shape="$home/nodes-$port"
nodes=${KAFKA_NODES:-$(cat "$shape" 2>/dev/null || echo 1)}
[[ "$nodes" =~ ^[1-9]$ ]] || { echo "kafka: KAFKA_NODES must be a number from 1 to 9, not '$nodes'" >&2; exit 2; }
# min(3, nodes) copies of each partition; with three, an acks=all write needs two of them (README).
replication=$(( nodes < 3 ? nodes : 3 ))
min_isr=$(( replication >= 3 ? 2 : 1 ))
if [ "$nodes" = 1 ]; then heap=${KAFKA_HEAP:--Xms512m -Xmx1g}; jit=${KAFKA_JVM_FLAGS:-}
else
  # Three JVMs starting at once on two cores spend most of their start compiling: the client compiler alone and one
  # GC thread brought a cluster's start from 121 s to 46 s here; a broker's throughput is not what limits the
  # platform (the services are).
  heap=${KAFKA_HEAP:--Xms256m -Xmx512m}; jit=${KAFKA_JVM_FLAGS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}
fi
libs=${KAFKA_LIBS:-"${POSTLOAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/postloan}/kafka-libs-$(sha1sum "$here/kafka/pom.xml" | cut -c1-12)"}
host=${KAFKA_HOST:-127.0.0.1}
advertised=${KAFKA_ADVERTISED_HOST:-127.0.0.1}
py=${POSTLOAN_PYTHON:-$root/.venv/bin/python}
secrets="$state/secrets"
tls="$secrets/tls"
# What the data folder was formatted with: a folder formatted without these credentials (or before a principal
# was added, or for another number of nodes) is formatted again, since SCRAM credentials only enter a KRaft cluster
# at format time here.
security_mark="sasl_ssl-scram-sha-512"

# Node `id`'s ports and files (node 1 keeps the names a single broker always had).
node() {
  id=$1
  nport=$(( port + 2 * (id - 1) )); ncport=$(( cport + 2 * (id - 1) ))
  data="$home/data-$nport"; pidfile="$home/kafka-$nport.pid"; logfile="$home/kafka-$nport.log"
  props="$home/server-$nport.properties"
}

bootstrap() {  # every node's client address, comma-separated: what clients are given
  local i list=()
  for i in $(seq 1 "$nodes"); do list+=("127.0.0.1:$(( port + 2 * (i - 1) ))"); done
  (IFS=,; echo "${list[*]}")
}

# Alone, a node is a quorum of itself (formatted --standalone); in a cluster every node is one of the static voters.
quorum() {
  if [ "$nodes" = 1 ]; then echo "controller.quorum.bootstrap.servers=127.0.0.1:$ncport"; return; fi
  local i voters=()
  for i in $(seq 1 "$nodes"); do voters+=("$i@127.0.0.1:$(( cport + 2 * (i - 1) ))"); done
  echo "controller.quorum.voters=$(IFS=,; echo "${voters[*]}")"
}

# Whether process $1 runs. A zombie does not: a broker that exited (or was killed) stays one until its reaper collects
# it, and where PID 1 reaps nothing (some containers) that is never.
pid_alive() { local stat; stat=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$stat" != Z* ]]; }
is_running() { [ -f "$pidfile" ] && pid_alive "$(cat "$pidfile")"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null; }

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
java_run=(java $heap $jit -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/kafka/log4j2.properties"
          -Dkafka.logs.dir="$home" -cp "$libs/*")

# Starts the nodes that are not running (all of them, or the one a fault test killed), then waits until every node
# serves clients and the topics and ACLs are in place.
start() {
  local id to_start=()
  for id in $(seq 1 "$nodes"); do
    node "$id"
    if is_running; then echo "kafka: node $id already running on 127.0.0.1:$nport (pid $(cat "$pidfile"))"; continue; fi
    if port_open; then
      if [ "${KAFKA_FRESH:-0}" = 1 ]; then  # a fresh broker was asked for (tests): a stale one must not stand in
        echo "kafka: 127.0.0.1:$nport is taken by another process; stop it to start a fresh broker" >&2; return 1
      fi
      echo "kafka: 127.0.0.1:$nport is taken by another process; using it as node $id" >&2; continue
    fi
    to_start+=("$id")
  done
  [ ${#to_start[@]} -gt 0 ] || return 0
  prepare "${to_start[@]}"
  echo "$nodes" > "$shape"
  for id in "${to_start[@]}"; do
    node "$id"
    nohup "${java_run[@]}" kafka.Kafka "$props" >"$logfile" 2>&1 &
    echo $! > "$pidfile"
  done
  # A client port opens only once its broker is unfenced; then a metadata request must list every node.
  for _ in $(seq 1 240); do
    local open=1
    for id in "${to_start[@]}"; do
      node "$id"
      if ! is_running; then echo "kafka: node $id exited during start-up; last lines of $logfile:" >&2; tail -n 30 "$logfile" >&2; exit 1; fi
      port_open || open=0
    done
    # One interpreter waits for the first metadata answer, then creates the topics and ACLs (a Python start per
    # probe cost seconds on a busy machine).
    if [ "$open" = 1 ] && admin --wait 60 setup --replication "$replication" --min-insync "$min_isr" >&2; then
      echo "kafka: ready on $(bootstrap), SASL_SSL, $nodes node(s)"; return 0
    fi
    sleep 0.5
  done
  echo "kafka: not ready after 120 s; see $home/kafka-*.log" >&2; exit 1
}

# Jars, secrets, the rendered properties (0600: they hold the broker's password) and formatted data folders for the
# nodes `$@` about to start. Formatting makes a new cluster: in a cluster it is done to every node at once, with one
# cluster id, so it needs them all stopped.
prepare() {
  fetch_libs
  mkdir -p "$home"
  ensure_secrets
  local id principals mark unformatted=()
  principals=$(principal_names)
  mark="$security_mark $(echo "$principals" | sha1sum | cut -c1-12)"
  [ "$nodes" = 1 ] || mark="$mark nodes=$nodes"
  for id in "$@"; do
    node "$id"
    render
    [ "${KAFKA_FRESH:-0}" = 1 ] && rm -rf "$data"
    if [ -f "$data/meta.properties" ] && [ "$(cat "$data/.postloan-security" 2>/dev/null)" != "$mark" ]; then
      echo "kafka: $data was formatted without the current credentials or shape; formatting it again (its topics are lost)" >&2
      rm -rf "$data"
    fi
    [ -f "$data/meta.properties" ] || unformatted+=("$id")
  done
  [ ${#unformatted[@]} -gt 0 ] || return 0
  if [ $# -lt "$nodes" ]; then
    echo "kafka: node(s) ${unformatted[*]} need formatting while others run; stop all (deploy/kafka.sh stop) and start again" >&2
    exit 1
  fi
  format_all "$mark" "$@"
}

render() {
  (umask 077; sed -e "s#@NODE_ID@#$id#; s#@QUORUM@#$(quorum)#; s#@REPLICATION@#$replication#g; s#@MIN_ISR@#$min_isr#g" \
      -e "s#@PORT@#$nport#g; s#@CPORT@#$ncport#g; s#@DATA@#$data#g; s#@TLS@#$tls#g" \
      -e "s#SASL_SSL://127.0.0.1:#SASL_SSL://$host:#; s#advertised.listeners=SASL_SSL://$host:#advertised.listeners=SASL_SSL://$advertised:#" \
      -e "s#@BROKER_PASSWORD@#$(cat "$secrets/kafka/broker.password")#g" \
      "$here/kafka/server.properties.in" > "$props")
}

# Formats the data folders of nodes `$2...` (in parallel: a JVM each) as one cluster whose credentials are `$1`.
format_all() {
  local mark=$1 cid name id failed=0 scram=() standalone=() pids=()
  shift
  for name in $(principal_names); do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(cat "$secrets/kafka/$name.password")]")
  done
  [ "$nodes" = 1 ] && standalone=(--standalone)
  cid=$(cluster_id)
  for id in "$@"; do
    node "$id"
    # Its output lists the credentials' salted keys: kept in a private file, shown only on failure.
    (umask 077; "${java_run[@]}" kafka.tools.StorageTool format "${standalone[@]}" -t "$cid" -c "$props" "${scram[@]}" \
        >"$home/format-$nport.log" 2>&1) &
    pids+=($!)
  done
  for id in "$@"; do
    node "$id"
    if wait "${pids[0]}"; then echo "$mark" > "$data/.postloan-security"
    else echo "kafka: formatting $data failed:" >&2; tail -n 20 "$home/format-$nport.log" >&2; failed=1; fi
    pids=("${pids[@]:1}")
  done
  [ "$failed" = 0 ] || exit 1
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

# shared.kafka_admin as the admin principal, on every node: `ping` (a metadata request), `setup` (topics and ACLs),
# `acls`.
admin() {
  (cd "$root" && POSTLOAN_STATE_DIR="$state" "$py" -m shared.kafka_admin --bootstrap "$(bootstrap)" "$@")
}

alive() {  # whether any of the processes `$@` still runs
  local pid
  for pid in "$@"; do pid_alive "$pid" && return 0; done
  return 1
}

# SIGTERM runs each broker's shutdown hook; all nodes at once (one by one, the last waits for a quorum that left).
stop() {
  local id pids=()
  for id in $(seq 1 "$nodes"); do
    node "$id"
    if is_running; then pids+=("$(cat "$pidfile")"); kill "${pids[-1]}"; fi
  done
  for _ in $(seq 1 60); do alive "${pids[@]}" || break; sleep 0.5; done
  for pid in "${pids[@]}"; do pid_alive "$pid" && kill -9 "$pid"; done
  for id in $(seq 1 "$nodes"); do node "$id"; rm -f "$pidfile"; done
  rm -f "$shape"
  if [ ${#pids[@]} -gt 0 ]; then echo "kafka: stopped"; else echo "kafka: not running"; fi
}

status() {
  local id down=0
  for id in $(seq 1 "$nodes"); do
    node "$id"
    if is_running && port_open; then echo "kafka: node $id running on 127.0.0.1:$nport (pid $(cat "$pidfile"))"
    elif port_open; then echo "kafka: node $id: 127.0.0.1:$nport answers (not started by this launcher)"
    else echo "kafka: node $id not running (127.0.0.1:$nport)"; down=1; fi
  done
  [ "$down" = 0 ] || return 3
}

version() {  # the broker version the launcher runs (from the resolved jar)
  fetch_libs
  local jar; jar=$(ls "$libs"/kafka_2.13-*.jar | head -n 1)
  basename "$jar" .jar | sed 's/^kafka_2.13-//'
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; restart) stop; start ;; version) version ;; acls) admin acls ;;
  secrets) ensure_secrets ;; bootstrap) bootstrap ;;
  run)  # one node in the foreground (a container)
    [ "$nodes" = 1 ] || { echo "kafka: run starts one node; KAFKA_NODES is $nodes" >&2; exit 2; }
    node 1; prepare 1; exec "${java_run[@]}" kafka.Kafka "$props" ;;
  *) echo "usage: $0 start|stop|status|restart|version|acls|bootstrap|secrets|run" >&2; exit 2 ;;
esac
