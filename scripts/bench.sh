#!/usr/bin/env bash
# The five-level load test (bench/README.md). Installs wrk (Debian package)
# if missing, then runs bench/run.ts, which starts Redis, Kafka, Prometheus,
# Jaeger and the services on bench ports (state in .run/bench), runs the
# levels against the system and a same-run fastify ceiling, and stops
# everything it started. Expects `npm run build` to have run (make bench does).
#
#   scripts/bench.sh [--quick] [--levels L1,L5] [--scenarios write-hot] [--repeat 3] ...
#   make bench BENCH_ARGS="--quick"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_apt wrk wrk
[[ -f dist/bench/run.js ]] || die bench "dist/bench/run.js is missing; run 'npm run build' (make bench does)"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
exec node dist/bench/run.js ${BENCH_ARGS:-} "$@"
