#!/usr/bin/env bash
# Start/stop the local infrastructure servers used by tests and local runs.
#
#   scripts/infra.sh start|stop|restart|status [redis kafka prometheus jaeger ...]
#   scripts/infra.sh logs NAME [-f]
#
# Default: all four (`stop` also stops redis-cluster, the Redis Cluster of
# REDIS_MODE=cluster). Started in the given order (default redis, kafka,
# prometheus, jaeger), stopped in reverse. `status` exits non-zero if any of
# the listed servers is not running.
# See scripts/<name>.sh for each server's env vars; HIGHGOPRESS_CACHE and
# HIGHGOPRESS_RUN apply to all (scripts/lib.sh).
set -euo pipefail
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

ALL=(redis kafka prometheus jaeger)
KNOWN=(redis redis-cluster kafka prometheus jaeger)

usage() {
  echo "usage: scripts/infra.sh start|stop|restart|status [${KNOWN[*]}]" >&2
  echo "       scripts/infra.sh logs NAME [-f]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift

if [[ $cmd == logs ]]; then
  [[ $# -ge 1 ]] || usage
  exec "$SCRIPTS_DIR/$1.sh" logs "${@:2}"
fi

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  if [[ $cmd == stop ]]; then names=("${KNOWN[@]}"); else names=("${ALL[@]}"); fi
fi
for n in "${names[@]}"; do
  [[ -x $SCRIPTS_DIR/$n.sh && $n != infra && $n != lib ]] || {
    echo "infra.sh: unknown server '$n' (known: ${KNOWN[*]})" >&2
    exit 2
  }
done

reversed=()
for ((i = ${#names[@]} - 1; i >= 0; i--)); do
  reversed+=("${names[i]}")
done

t0=$(date +%s)
rc=0
case $cmd in
  start)
    for n in "${names[@]}"; do
      "$SCRIPTS_DIR/$n.sh" start
    done
    echo "==> infra: started ${names[*]} in $(($(date +%s) - t0))s"
    ;;
  stop)
    for n in "${reversed[@]}"; do
      "$SCRIPTS_DIR/$n.sh" stop
    done
    echo "==> infra: stopped ${reversed[*]} in $(($(date +%s) - t0))s"
    ;;
  restart)
    for n in "${reversed[@]}"; do
      "$SCRIPTS_DIR/$n.sh" stop
    done
    for n in "${names[@]}"; do
      "$SCRIPTS_DIR/$n.sh" start
    done
    echo "==> infra: restarted ${names[*]} in $(($(date +%s) - t0))s"
    ;;
  status)
    for n in "${names[@]}"; do
      "$SCRIPTS_DIR/$n.sh" status || rc=1
    done
    ;;
  *) usage ;;
esac
exit $rc
