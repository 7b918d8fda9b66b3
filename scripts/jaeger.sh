#!/usr/bin/env bash
# Local Jaeger v2 all-in-one (in-memory storage), built from the Go module
# proxy, on loopback. Config: scripts/infra/jaeger-config.yaml.
#
#   scripts/jaeger.sh start|stop|restart|status|logs [-f]|build|binary
#
# Env (ports, all on 127.0.0.1): JAEGER_UI_PORT (16686, UI + /api),
#      JAEGER_OTLP_GRPC_PORT (4317), JAEGER_OTLP_HTTP_PORT (4318),
#      JAEGER_THRIFT_HTTP_PORT (14268, POST /api/traces), JAEGER_GRPC_PORT
#      (14250), JAEGER_AGENT_COMPACT_PORT (6831/udp), JAEGER_AGENT_BINARY_PORT
#      (6832/udp), JAEGER_QUERY_GRPC_PORT (16685), JAEGER_SAMPLING_HTTP_PORT
#      (5778), JAEGER_SAMPLING_GRPC_PORT (5779), JAEGER_HEALTH_PORT (13133),
#      JAEGER_METRICS_PORT (8888); JAEGER_MAX_TRACES (100000),
#      JAEGER_LOG_LEVEL (info).
# Cache: $CACHE/bin/jaeger-<module version>. State: $RUN/jaeger/{jaeger.log,jaeger.pid}
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/cached-program.sh
source "$(dirname "${BASH_SOURCE[0]}")/cached-program.sh"

# Jaeger v2 is published on the Go module proxy under the v1 module path:
# release v2.12.0 == module github.com/jaegertracing/jaeger v1.75.0 (v2.x
# tags are not valid module versions; v1.76.0 is served too but is not an
# approved release). jaeger's go.mod has replace directives, so `go install
# ...@version` refuses; we build through the wrapper module
# scripts/infra/jaeger (go.mod requires this version and copies the replace
# directives; go.sum is seeded from jaeger's).
JAEGER_RELEASE=v2.12.0
JAEGER_MODULE_VERSION=v1.75.0

NAME=jaeger
export JAEGER_UI_PORT=${JAEGER_UI_PORT:-16686}
export JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-4317}
export JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318}
export JAEGER_THRIFT_HTTP_PORT=${JAEGER_THRIFT_HTTP_PORT:-14268}
export JAEGER_GRPC_PORT=${JAEGER_GRPC_PORT:-14250}
export JAEGER_AGENT_COMPACT_PORT=${JAEGER_AGENT_COMPACT_PORT:-6831}
export JAEGER_AGENT_BINARY_PORT=${JAEGER_AGENT_BINARY_PORT:-6832}
export JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}
export JAEGER_SAMPLING_HTTP_PORT=${JAEGER_SAMPLING_HTTP_PORT:-5778}
export JAEGER_SAMPLING_GRPC_PORT=${JAEGER_SAMPLING_GRPC_PORT:-5779}
export JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-13133}
export JAEGER_METRICS_PORT=${JAEGER_METRICS_PORT:-8888}
export JAEGER_MAX_TRACES=${JAEGER_MAX_TRACES:-100000}
export JAEGER_LOG_LEVEL=${JAEGER_LOG_LEVEL:-info}

BIN=$CACHE/bin/jaeger-$JAEGER_MODULE_VERSION
WRAPPER=$INFRA_DIR/jaeger
CONFIG=$INFRA_DIR/jaeger-config.yaml
UI_URL=http://127.0.0.1:$JAEGER_UI_PORT

ready() {
  http_ok "$UI_URL/" &&
    port_listening "$JAEGER_OTLP_GRPC_PORT" &&
    port_listening "$JAEGER_OTLP_HTTP_PORT"
}

# binary_runs -> the cached binary is a program that answers as this
# release. Anything else (a cache copied without its large files, a build cut
# short) is removed, so that it is built again.
binary_runs() {
  [[ -e $BIN ]] || return 1
  local out status=0 why
  if ! why=$(not_a_program "$BIN"); then
    out=$(timeout 30 "$BIN" --version 2>&1 | tail -n 3) || status=$?
    [[ $status == 0 && $out == *"jaeger version $JAEGER_RELEASE"* ]] && return 0
    why="its --version exited $status and printed: ${out:-nothing}"
  fi
  warn $NAME "$BIN is not Jaeger $JAEGER_RELEASE: $why; removing it"
  rm -f "$BIN" || die $NAME "cannot remove $BIN"
  return 1
}

build() {
  if binary_runs; then
    info $NAME "reusing cached binary $BIN (Jaeger $JAEGER_RELEASE)"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die $NAME "go is not installed (need Go >= 1.24 to build Jaeger)"
  grep -Eq "github.com/jaegertracing/jaeger $JAEGER_MODULE_VERSION( |$)" "$WRAPPER/go.mod" ||
    die $NAME "$WRAPPER/go.mod does not require jaeger $JAEGER_MODULE_VERSION; keep it in sync with JAEGER_MODULE_VERSION"
  mkdir -p "$CACHE/bin"
  (
    flock -w 3600 9 || die $NAME "timed out waiting for $BIN.lock"
    binary_runs && exit 0
    local log=$CACHE/bin/jaeger-$JAEGER_MODULE_VERSION.build.log
    info $NAME "building Jaeger $JAEGER_RELEASE (module $JAEGER_MODULE_VERSION) from the Go module proxy (first run only; ~10 min on 2 cores; log $log)"
    local pkg=github.com/jaegertracing/jaeger
    local ldflags built
    built=$(date -u +%FT%TZ)
    ldflags="-s -w -X $pkg/internal/version.latestVersion=$JAEGER_RELEASE -X $pkg/internal/version.date=$built"
    if ! (cd "$WRAPPER" && go build -trimpath -ldflags "$ldflags" -o "$BIN.tmp" "$pkg/cmd/jaeger") >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      rm -f "$BIN.tmp"
      die $NAME "go build failed; see $log"
    fi
    mv "$BIN.tmp" "$BIN"
    binary_runs || die $NAME "the binary just built does not run; see $log"
    info $NAME "built $BIN"
  ) 9>"$BIN.lock"
}

# Ports of Jaeger's extras that nothing here connects to (its gRPC ingest,
# query gRPC, remote sampling, health check, own metrics, the UDP agent):
# when another program holds one, Jaeger listens on a free port for it
# instead of exiting at start-up over a port nobody uses (it refuses port 0,
# so the free port is picked here, below the kernel's ephemeral range).
AUX_PORTS=(JAEGER_GRPC_PORT JAEGER_QUERY_GRPC_PORT JAEGER_SAMPLING_HTTP_PORT JAEGER_SAMPLING_GRPC_PORT
  JAEGER_HEALTH_PORT JAEGER_METRICS_PORT JAEGER_AGENT_COMPACT_PORT/udp JAEGER_AGENT_BINARY_PORT/udp)
yield_busy_aux_ports() {
  local entry var proto port
  for entry in "${AUX_PORTS[@]}"; do
    var=${entry%/*}
    proto=tcp
    [[ $entry == */udp ]] && proto=udp
    port_listening "${!var}" $proto || continue
    port=$((20000 + RANDOM % 12000))
    while port_listening $port $proto; do port=$((20000 + RANDOM % 12000)); done
    warn $NAME "$proto port ${!var} ($var) is taken by another program; Jaeger listens on $port for it instead"
    export "$var=$port"
  done
}

start() {
  local pid
  if pid=$(running_pid $NAME); then
    require_port_owner $NAME "$pid" "$JAEGER_UI_PORT"
    wait_ready $NAME "$HIGHGOPRESS_START_TIMEOUT" "$UI_URL/ and OTLP ports" ready
    info $NAME "already running (pid $pid); UI $UI_URL, OTLP grpc 127.0.0.1:$JAEGER_OTLP_GRPC_PORT http 127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
    return 0
  fi
  build
  claim_port $NAME "$JAEGER_UI_PORT" "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_THRIFT_HTTP_PORT"
  yield_busy_aux_ports
  info $NAME "starting Jaeger $JAEGER_RELEASE all-in-one (in-memory storage)"
  mkdir -p "$(svc_dir $NAME)"
  (cd "$(svc_dir $NAME)" && start_bg $NAME "$BIN" "--config=file:$CONFIG")
  wait_ready $NAME "$HIGHGOPRESS_START_TIMEOUT" "$UI_URL/ and OTLP ports" ready
  info $NAME "ready (pid $(running_pid $NAME)) after $(elapsed); UI $UI_URL, OTLP grpc 127.0.0.1:$JAEGER_OTLP_GRPC_PORT http 127.0.0.1:$JAEGER_OTLP_HTTP_PORT, thrift http 127.0.0.1:$JAEGER_THRIFT_HTTP_PORT/api/traces, agent udp 127.0.0.1:$JAEGER_AGENT_COMPACT_PORT; log $(log_file $NAME)"
}

status() {
  report_status $NAME ready "UI $UI_URL, OTLP grpc 127.0.0.1:$JAEGER_OTLP_GRPC_PORT http 127.0.0.1:$JAEGER_OTLP_HTTP_PORT" "not answering on $UI_URL / OTLP ports"
}

case ${1:-} in
  start | stop | restart | status | logs) service_command $NAME "$@" ;;
  build) build ;;
  binary) echo "$BIN" ;;
  *) usage_exit $NAME "|build|binary" ;;
esac
