#!/usr/bin/env bash
# Runs every test: starts the real servers the tests talk to (Redis, a
# 6-node Redis Cluster, Kafka, Prometheus, Jaeger on loopback; etcd + kube-apiserver on the node bridge),
# built or installed from package registries with downloads cached in
# ${HIGHGOPRESS_CACHE:-~/.cache/highgopress}, then runs node's test runner
# over dist/test. The end-to-end suite (dist/test/cluster) adds the node
# itself and stops it when it ends; everything is stopped on exit.
# Expects `npm run build` to have run (make test does it).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh dist/test/unit  # a subset (paths under dist/test)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS

# The tests' servers keep their data in .run/test, apart from `make run`'s
# .run: counters, rankings and topics written by tests never show up there.
export HIGHGOPRESS_RUN=${HIGHGOPRESS_RUN:-$PWD/.run/test}

started=()
# One short entry per failed test (test/support/failure-summary.ts), printed
# last so that the closing lines of a red run say what failed and why.
failures=$HIGHGOPRESS_RUN/failures.txt
mkdir -p "$HIGHGOPRESS_RUN"
rm -f "$failures"
cleanup() {
  # A control plane still starting is waited for, so that it is stopped too.
  if [[ -n ${k8s_up:-} ]]; then wait "$k8s_up" 2>/dev/null || true; fi
  if [[ ${HIGHGOPRESS_KEEP_INFRA:-} != 1 ]]; then
    echo "==> test: stopping what the tests started"
    if [[ " ${started[*]} " == *" k8s "* ]]; then scripts/k8s/down.sh || true; fi
    scripts/infra.sh stop || true
  fi
  if [[ -s $failures ]]; then
    echo "==> test: what failed (the full output is above)"
    cat "$failures"
  fi
}
trap cleanup EXIT

# The control plane starts meanwhile (independent of the servers); both are awaited.
echo "==> test: starting the local Kubernetes control plane (etcd + kube-apiserver)"
started+=(k8s)
scripts/k8s/up.sh &
k8s_up=$!
echo "==> test: starting Redis, a Redis Cluster, Kafka, Prometheus and Jaeger"
started+=(infra)
scripts/infra.sh start redis redis-cluster kafka prometheus jaeger
wait "$k8s_up"
eval "$(scripts/k8s/env.sh)"

# node --test takes files or glob patterns (a directory is read as a file
# since Node 22): a directory given here means every *.test.js under it.
targets=()
for t in "${@:-dist/test}"; do
  if [[ -d $t ]]; then targets+=("${t%/}/**/*.test.js"); else targets+=("$t"); fi
done
echo "==> test: running node --test ${targets[*]} (infrastructure ready after $((SECONDS - t0))s)"
# One test file at a time: the fault tests stop and start the shared servers.
node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./dist/test/support/failure-summary.js --test-reporter-destination="$failures" \
  "${targets[@]}"
echo "==> test: finished in $((SECONDS - t0))s"
