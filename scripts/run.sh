#!/usr/bin/env bash
# Runs the whole system locally on loopback: Redis, Kafka, Prometheus and
# Jaeger (installed or built on first use, cached), then the counter,
# analytics and gateway services. Prints the URLs; Ctrl-C stops everything.
# Expects `npm run build` to have run (make run does it).
#
# Env: GATEWAY_PORT (8080) and every variable in README.md "Configuration";
#      HIGHGOPRESS_KEEP_INFRA=1 leaves the servers running after Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN=${HIGHGOPRESS_RUN:-$PWD/.run}
mkdir -p "$RUN/services"

scripts/infra.sh start redis kafka prometheus jaeger

export HOST=${HOST:-127.0.0.1}
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> run: stopping services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${HIGHGOPRESS_KEEP_INFRA:-} != 1 ]]; then scripts/infra.sh stop; fi
  echo "==> run: stopped"
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

start_service() { # NAME [ENV=VALUE...]
  local name=$1
  shift
  env "$@" node "dist/services/$name/main.js" >"$RUN/services/$name.log" 2>&1 &
  pids+=($!)
  echo "==> run: $name started (pid $!, log $RUN/services/$name.log)"
}

wait_ready() { # NAME URL
  for _ in $(seq 1 120); do
    if curl -fs -o /dev/null "$2"; then echo "==> run: $1 ready"; return 0; fi
    sleep 0.5
  done
  echo "==> run: $1 did not become ready; last log lines:" >&2
  tail -n 20 "$RUN/services/$1.log" >&2
  return 1
}

start_service counter METRICS_PORT=9101
start_service analytics METRICS_PORT=9102
wait_ready counter http://127.0.0.1:9101/readyz
wait_ready analytics http://127.0.0.1:9102/readyz
start_service gateway
wait_ready gateway "http://127.0.0.1:${GATEWAY_PORT:-8080}/readyz"

cat <<MSG

HighGoPress is running:
  API         http://127.0.0.1:${GATEWAY_PORT:-8080}/api/v1/health
  try         curl -s -XPOST http://127.0.0.1:${GATEWAY_PORT:-8080}/api/v1/counter/increment -H 'content-type: application/json' -d '{"resource_id":"article_1","counter_type":"like"}'
  metrics     http://127.0.0.1:${GATEWAY_PORT:-8080}/metrics, :9101/metrics (counter), :9102/metrics (analytics)
  Prometheus  http://127.0.0.1:${PROMETHEUS_PORT:-9090}
  Jaeger      http://127.0.0.1:${JAEGER_UI_PORT:-16686} (query API under /api)
  logs        $RUN/services/*.log
Press Ctrl-C to stop everything.
MSG

# Exit (and stop everything) if any service dies.
wait -n "${pids[@]}" || true
echo "==> run: a service exited on its own; see $RUN/services/" >&2
exit 1
