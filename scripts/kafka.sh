#!/usr/bin/env bash
# Local single-node Kafka (KRaft, combined broker+controller) on
# 127.0.0.1:$KAFKA_PORT, run from jars resolved from Maven Central.
#
#   scripts/kafka.sh start|stop|restart|status|logs [-f]
#   scripts/kafka.sh topic-create NAME PARTITIONS   (idempotent)
#   scripts/kafka.sh topics                         (list topics)
#   scripts/kafka.sh tool CLASS [ARGS...]           (run a Kafka CLI class with
#       the cached classpath, e.g. org.apache.kafka.tools.ConsoleProducer)
#   scripts/kafka.sh classpath
#
# Env: HIGHGOPRESS_KAFKA_VERSION (the broker version, default below; 3.x and
#      4.x run), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
#      KAFKA_HEAP_OPTS ("-Xmx512m -Xms256m"), KAFKA_TOPICS (topics ensured on
#      start, "name:partitions ...", default "counter-events:3"),
#      KAFKA_RETENTION_HOURS (24), KAFKA_EXTRA_PROPERTIES (lines appended to
#      server.properties).
# Cache: $CACHE/kafka-<version>/libs. State: $RUN/kafka/{server.properties,
#      cluster-id,data/,kafka.log,kafka.pid}. Data (topics, committed offsets)
#      is kept across stop/start.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The broker users get by default: the newest Kafka on Maven Central. kafkajs
# speaks to it (every request version it sends is at or above the minimums
# Kafka 4.0 raised; docs/DEPENDENCIES.md); `make test` runs everything against
# it and the event path once more against 3.9 (test/integration/kafka-versions).
KAFKA_DEFAULT_VERSION=4.4.0
KAFKA_VERSION=${HIGHGOPRESS_KAFKA_VERSION:-$KAFKA_DEFAULT_VERSION}
KAFKA_LINE=${KAFKA_VERSION%%.*}

NAME=kafka
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}
KAFKA_TOPICS=${KAFKA_TOPICS:-counter-events:3}
KAFKA_RETENTION_HOURS=${KAFKA_RETENTION_HOURS:-24}
BOOTSTRAP=127.0.0.1:$KAFKA_PORT

KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
LIBS=$KAFKA_HOME/libs
CP="$LIBS/*"
DIR=$(svc_dir $NAME)
DATA=$DIR/data
PROPS=$DIR/server.properties
ADMIN_PROPS=$DIR/admin.properties
TPL=$INFRA_DIR/kafka

# Logging: Kafka 4.x logs through log4j2, 3.x through reload4j (log4j 1.x).
case $KAFKA_LINE in
  4) log_config() { echo "-Dlog4j2.configurationFile=file:$TPL/${1:-}log4j2.properties"; } ;;
  3) log_config() { echo "-Dlog4j.configuration=file:$TPL/${1:-}log4j.properties"; } ;;
  *) die $NAME "Kafka $KAFKA_VERSION: only the 3.x and 4.x lines are set up here" ;;
esac

# JVM flags for short-lived CLI tools: start fast, stay small.
TOOL_JVM=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto "$(log_config tools-)")

ensure_java() {
  if ! command -v java >/dev/null 2>&1; then
    info $NAME "installing a Java runtime from Debian packages"
    ensure_apt java openjdk-17-jre-headless
  fi
}

ensure_jars() {
  if [[ -f $KAFKA_HOME/.complete ]]; then
    info $NAME "reusing cached Kafka $KAFKA_VERSION jars ($(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS)"
    return 0
  fi
  ensure_java
  if ! command -v mvn >/dev/null 2>&1; then
    info $NAME "installing Maven from Debian packages"
    ensure_apt mvn maven
  fi
  mkdir -p "$KAFKA_HOME"
  (
    flock -w 900 9 || die $NAME "timed out waiting for $KAFKA_HOME/.lock"
    [[ -f $KAFKA_HOME/.complete ]] && exit 0
    info $NAME "resolving Kafka $KAFKA_VERSION jars from Maven Central (first run only; log $KAFKA_HOME/mvn.log)"
    local tmp=$KAFKA_HOME/libs.tmp
    rm -rf "$tmp"
    if ! mvn -B -q -f "$TPL/pom.xml" -Dkafka.version="$KAFKA_VERSION" -Dkafka.line="$KAFKA_LINE" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$KAFKA_HOME/mvn.log" 2>&1; then
      tail -n 20 "$KAFKA_HOME/mvn.log" >&2
      die $NAME "mvn dependency:copy-dependencies failed; see $KAFKA_HOME/mvn.log"
    fi
    [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die $NAME "kafka_2.13-$KAFKA_VERSION.jar missing after mvn; see $KAFKA_HOME/mvn.log"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    date -u +%FT%TZ >"$KAFKA_HOME/.complete"
    info $NAME "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
  ) 9>"$KAFKA_HOME/.lock"
}

# run_tool CLASS ARGS... -> a Kafka CLI class with the cached classpath
run_tool() {
  java "${TOOL_JVM[@]}" -cp "$CP" "$@"
}

write_config() {
  mkdir -p "$DATA"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@KAFKA_DATA_DIR@|$DATA|g" \
    -e "s|@KAFKA_RETENTION_HOURS@|$KAFKA_RETENTION_HOURS|g" \
    "$TPL/server.properties.in" >"$PROPS.tmp"
  if [[ -n ${KAFKA_EXTRA_PROPERTIES:-} ]]; then
    printf '\n# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$PROPS.tmp"
  fi
  mv "$PROPS.tmp" "$PROPS"
  write_admin_config
}

write_admin_config() {
  mkdir -p "$DIR"
  cat >"$ADMIN_PROPS" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
}

# Cluster id: generated once, stored in $DIR/cluster-id; storage formatted
# only when the data dir has no meta.properties yet.
format_storage() {
  local id
  if [[ -f $DATA/meta.properties ]]; then
    id=$(sed -n 's/^cluster\.id=//p' "$DATA/meta.properties")
    [[ -f $DIR/cluster-id ]] || echo "$id" >"$DIR/cluster-id"
    return 0
  fi
  if [[ -s $DIR/cluster-id ]]; then
    id=$(<"$DIR/cluster-id")
  else
    id=$(run_tool kafka.tools.StorageTool random-uuid | tail -n1)
    [[ -n $id ]] || die $NAME "could not generate a cluster id"
    echo "$id" >"$DIR/cluster-id"
  fi
  info $NAME "formatting storage $DATA (cluster id $id; first run only)"
  run_tool kafka.tools.StorageTool format -t "$id" -c "$PROPS" --ignore-formatted \
    >>"$(log_file $NAME)" 2>&1 || die $NAME "storage format failed; see $(log_file $NAME)"
}

list_topics() {
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --command-config "$ADMIN_PROPS" --list 2>/dev/null
}

# Readiness: the broker answers a metadata request (topic listing).
TOPICS_SEEN=""
metadata_ok() {
  port_listening "$KAFKA_PORT" || return 1
  TOPICS_SEEN=$(list_topics) || return 1
}

topic_create() {
  local topic=$1 partitions=$2
  [[ $partitions =~ ^[0-9]+$ ]] || die $NAME "partitions must be a number: $partitions"
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --command-config "$ADMIN_PROPS" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor 1 >/dev/null
  info $NAME "topic $topic ready ($partitions partitions)"
}

ensure_topics() {
  local spec topic partitions
  for spec in $KAFKA_TOPICS; do
    topic=${spec%%:*}
    partitions=${spec#*:}
    [[ $partitions == "$spec" ]] && partitions=3
    if grep -qxF "$topic" <<<"$TOPICS_SEEN"; then
      info $NAME "topic $topic exists"
    else
      topic_create "$topic" "$partitions"
    fi
  done
}

start() {
  local pid
  ensure_jars
  ensure_java
  write_config
  if pid=$(running_pid $NAME); then
    require_port_owner $NAME "$pid" "$KAFKA_PORT"
    wait_ready $NAME "$HIGHGOPRESS_START_TIMEOUT" "a metadata answer on $BOOTSTRAP" metadata_ok
    info $NAME "already running (pid $pid) on $BOOTSTRAP"
    ensure_topics
    return 0
  fi
  claim_port $NAME "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  format_storage
  info $NAME "starting Kafka $KAFKA_VERSION (KRaft) on $BOOTSTRAP, controller 127.0.0.1:$KAFKA_CONTROLLER_PORT"
  local jvm
  read -r -a jvm <<<"$KAFKA_HEAP_OPTS"
  (cd "$DIR" && start_bg $NAME java "${jvm[@]}" \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "$(log_config)" "-Dkafka.logs.dir=$DIR" \
    -cp "$CP" kafka.Kafka "$PROPS")
  wait_ready $NAME "$HIGHGOPRESS_START_TIMEOUT" "a metadata answer on $BOOTSTRAP" metadata_ok
  ensure_topics
  info $NAME "ready (pid $(running_pid $NAME)) on $BOOTSTRAP after $(elapsed); log $(log_file $NAME)"
}

# Its own status: the topic list is only known after the metadata check.
status() {
  local pid
  if ! pid=$(running_pid $NAME); then
    info $NAME "not running"
    return 1
  fi
  if [[ -f $KAFKA_HOME/.complete ]] && port_listening "$KAFKA_PORT" && metadata_ok; then
    info $NAME "running (pid $pid) Kafka $KAFKA_VERSION bootstrap $BOOTSTRAP topics: $(echo "$TOPICS_SEEN" | grep -v '^__' | tr '\n' ' ')"
    return 0
  fi
  info $NAME "process $pid is up but not answering on $BOOTSTRAP"
  return 1
}

need_jars() {
  [[ -f $KAFKA_HOME/.complete ]] || die $NAME "Kafka jars not cached yet; run scripts/kafka.sh start"
}

case ${1:-} in
  start | stop | restart | status | logs) service_command $NAME "$@" ;;
  topic-create)
    [[ $# -eq 3 ]] || usage_exit $NAME "|topic-create NAME PARTITIONS"
    need_jars
    write_admin_config
    topic_create "$2" "$3"
    ;;
  topics)
    need_jars
    write_admin_config
    list_topics
    ;;
  tool)
    shift
    [[ $# -ge 1 ]] || usage_exit $NAME "|tool CLASS [ARGS...]"
    need_jars
    run_tool "$@"
    ;;
  classpath) echo "$CP" ;;
  jars)
    ensure_jars >&2
    echo "$LIBS"
    ;;
  *) usage_exit $NAME "|topic-create NAME PARTITIONS|topics|tool CLASS ARGS|classpath|jars" ;;
esac
