#!/usr/bin/env bash
# Runs the whole system locally on loopback: Redis, Kafka, Prometheus and
# Jaeger (installed or built on first use, cached), then the counter,
# analytics and gateway services (tools/run.ts, which starts them the way the
# tests and the bench do: tools/local-system.ts). Prints the URLs; Ctrl-C
# stops everything. Expects `npm run build` to have run (make run does it).
#
# Env: GATEWAY_PORT (8080) and every variable in README.md "Configuration";
#      HIGHGOPRESS_KEEP_INFRA=1 leaves the servers running after Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec node dist/tools/run.js
