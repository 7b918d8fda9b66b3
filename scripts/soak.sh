#!/usr/bin/env bash
# The soak test (not part of `make test`): the whole system under a steady
# mixed load at half of its measured capacity for 10 minutes, reporting RSS
# growth per service, errors, latency and exact consistency. Starts Redis
# and Kafka with scripts/infra.sh (stops them afterwards unless they were
# already running); the services run on free ports with their own topic,
# outbox stream and consumer group.
#
#   scripts/soak.sh                                  # 10 min at 50 %
#   scripts/soak.sh --minutes 30 --fraction 0.5 --connections 64 --keys 10000
#
# Results: printed, and written to $HIGHGOPRESS_RUN/soak/<start>.json
# (HIGHGOPRESS_RUN defaults to .run). Exit status 1 on any error or mismatch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -f dist/bench/soak/soak.js ]] || npm run build
started=()
if ! scripts/infra.sh status redis kafka >/dev/null 2>&1; then
  scripts/infra.sh start redis kafka
  started=(kafka redis)
fi
cleanup() {
  if [[ ${#started[@]} -gt 0 && ${HIGHGOPRESS_KEEP_INFRA:-} != 1 ]]; then scripts/infra.sh stop "${started[@]}" || true; fi
}
trap cleanup EXIT
node dist/bench/soak/soak.js "$@"
