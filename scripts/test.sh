#!/usr/bin/env bash
# Runs every test: starts the real servers the tests talk to (Redis, a
# 6-node Redis Cluster, Kafka, Prometheus, Jaeger on loopback; etcd + kube-apiserver on the node bridge),
# built or installed from package registries with downloads cached in
# ${HIGHGOPRESS_CACHE:-~/.cache/highgopress}, then runs node's test runner
# over dist/test, in three runs:
#   1. the files that use the control plane without a node (those that call
#      ensureControlPlane): their pods must never run, so they come first;
#   2. everything else, one file at a time (the fault tests stop and start
#      the shared loopback servers);
#   3. the end-to-end suite (dist/test/cluster), which adds the node itself
#      and stops it when it ends. Its tools and images are built meanwhile
#      from the start of run 1, at the lowest CPU priority (scripts/k8s/
#      node-up.sh build; on a cold cache that is most of the work of run 3).
# HIGHGOPRESS_TEST_PARALLEL=1 starts run 3 in the background beside run 2
# (it talks only to its own pods, and mostly waits for them): about 6 min
# less, but on 2 cores the tests that need the box to serve a load then
# fail at times (README). Its output goes to .run/test/node.log and is
# printed (then followed) when run 2 ends. Everything is stopped on exit.
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
# Each run writes its spec output to <run>.log and one short entry per failed
# test to failures-<run>.txt (test/support/failure-summary.ts); both are read
# on exit, so that the closing lines of a red run say what failed and why.
runs=(control-plane node rest)
mkdir -p "$HIGHGOPRESS_RUN"
for r in "${runs[@]}"; do rm -f "$HIGHGOPRESS_RUN/$r.log" "$HIGHGOPRESS_RUN/failures-$r.txt"; done
rm -f "$HIGHGOPRESS_RUN"/start-{k8s,infra}.log
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
cleanup() {
  # An interrupted run stops the end-to-end suite first, so that its node is stopped below.
  if [[ -n ${node_bg:-} ]]; then kill_tree "$node_bg"; wait "$node_bg" 2>/dev/null || true; fi
  if [[ -n ${node_build:-} ]]; then kill_tree "$node_build"; wait "$node_build" 2>/dev/null || true; fi
  # A control plane still starting is waited for, so that it is stopped too.
  if [[ -n ${k8s_up:-} ]]; then wait "$k8s_up" 2>/dev/null || true; fi
  if [[ ${HIGHGOPRESS_KEEP_INFRA:-} != 1 ]]; then
    echo "==> test: stopping what the tests started"
    if [[ " ${started[*]} " == *" k8s "* ]]; then scripts/k8s/down.sh || true; fi
    scripts/infra.sh stop || true
  fi
  local r failed=()
  for r in "${runs[@]}"; do [[ -s $HIGHGOPRESS_RUN/failures-$r.txt ]] && failed+=("$HIGHGOPRESS_RUN/failures-$r.txt"); done
  if ((${#failed[@]})); then
    echo "==> test: what failed (the full output is above)"
    cat "${failed[@]}"
  fi
  # A start that failed before any test ran: its errors again (or its last
  # lines), since CI shows only the end of the output.
  local log
  if [[ ${tests_started:-0} == 0 ]]; then
    echo "==> test: no test ran; how starting what the tests need ended:"
    for log in "$HIGHGOPRESS_RUN"/start-{k8s,infra}.log; do
      [[ -s $log ]] || continue
      echo "--- $log"
      if grep -q ERROR "$log"; then grep -B15 ERROR "$log"; else tail -n 5 "$log"; fi
    done
  fi
  # The runner's own totals of every run, summed.
  local logs=()
  for r in "${runs[@]}"; do [[ -f $HIGHGOPRESS_RUN/$r.log ]] && logs+=("$HIGHGOPRESS_RUN/$r.log"); done
  if ((${#logs[@]})); then
    awk '/^ℹ pass /{p+=$3} /^ℹ (fail|cancelled) /{f+=$3} /^ℹ skipped /{s+=$3} /^ℹ todo /{t+=$3}
      END {printf "%d passed, %d failed, %d skipped, %d todo\n", p, f, s, t}' "${logs[@]}"
  fi
}
trap cleanup EXIT

# The control plane starts meanwhile (independent of the servers); both are awaited.
echo "==> test: starting the local Kubernetes control plane (etcd + kube-apiserver)"
started+=(k8s)
{ scripts/k8s/up.sh 2>&1 | tee "$HIGHGOPRESS_RUN/start-k8s.log"; } &
k8s_up=$!
echo "==> test: starting Redis, a Redis Cluster, Kafka, Prometheus and Jaeger"
started+=(infra)
scripts/infra.sh start redis redis-cluster kafka prometheus jaeger 2>&1 | tee "$HIGHGOPRESS_RUN/start-infra.log"
wait "$k8s_up"
k8s_up=
eval "$(scripts/k8s/env.sh)"

# Directories given here mean every *.test.js under them.
files=()
for t in "${@:-dist/test}"; do
  if [[ -d $t ]]; then mapfile -t -O "${#files[@]}" files < <(find "${t%/}" -name '*.test.js' | sort); else files+=("$t"); fi
done
control_plane=() node_suite=() rest=()
for f in "${files[@]}"; do
  if [[ $f == */test/cluster/* ]]; then node_suite+=("$f")
  elif grep -q ensureControlPlane "$f"; then control_plane+=("$f")
  else rest+=("$f"); fi
done

# One test file at a time per run; each run has its own failure summary.
run_tests() {
  local name=$1; shift
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=./dist/test/support/failure-summary.js --test-reporter-destination="$HIGHGOPRESS_RUN/failures-$name.txt" \
    "$@"
}
status=0
node_build_log=$HIGHGOPRESS_RUN/node-build.log
if ((${#node_suite[@]})); then
  echo "==> test: building the node's tools and images meanwhile, at the lowest CPU priority (log $node_build_log)"
  nice -n 19 scripts/k8s/node-up.sh build > "$node_build_log" 2>&1 &
  node_build=$!
fi
# The end-to-end suite starts once that build has ended (polled: in the
# side-by-side mode a subshell waits, which cannot wait for its sibling); if
# it failed, the suite's own node-up.sh tries again and says why.
await_node_build() {
  [[ -n ${node_build:-} ]] || return 0
  echo "==> test: the node's tools and images, built since ${node_build_started}s, now $((SECONDS - t0))s:"
  while kill -0 "$node_build" 2>/dev/null; do sleep 2; done
  tail -n 3 "$node_build_log"
  wait "$node_build" 2>/dev/null || true
  node_build=
}
node_build_started=$((SECONDS - t0))
tests_started=1
echo "==> test: ${#files[@]} test files (infrastructure ready after $((SECONDS - t0))s)"
if ((${#control_plane[@]})); then
  echo "==> test: the control plane without a node: ${control_plane[*]}"
  run_tests control-plane "${control_plane[@]}" | tee "$HIGHGOPRESS_RUN/control-plane.log" || status=1
  # Their namespaces go before the node comes up, so no pod or volume claim of theirs lands on it.
  echo "==> test: waiting for the test namespaces to be deleted"
  for _ in $(seq 120); do
    kubectl get namespaces --no-headers 2>/dev/null | grep -q Terminating || break
    sleep 1
  done
fi
node_log=$HIGHGOPRESS_RUN/node.log
if ((${#node_suite[@]})) && [[ ${HIGHGOPRESS_TEST_PARALLEL:-} == 1 ]] && ((${#rest[@]})); then
  echo "==> test: the real-node suite runs meanwhile in the background (${node_suite[*]}); its output follows the other tests' (now in $node_log)"
  node_started=$((SECONDS - t0))
  { await_node_build; run_tests node "${node_suite[@]}"; } > "$node_log" 2>&1 &
  node_bg=$!
fi
if ((${#rest[@]})); then
  run_tests rest "${rest[@]}" | tee "$HIGHGOPRESS_RUN/rest.log" || status=1
fi
if [[ -n ${node_bg:-} ]]; then
  echo "==> test: the real-node suite (started at ${node_started}s, now $((SECONDS - t0))s): its output so far, then as it comes"
  tail -n +1 -f --pid="$node_bg" "$node_log"
  wait "$node_bg" || status=1
  node_bg= node_build=
elif ((${#node_suite[@]})); then
  await_node_build
  run_tests node "${node_suite[@]}" | tee "$node_log" || status=1
fi
echo "==> test: finished in $((SECONDS - t0))s"
exit "$status"
