#!/usr/bin/env bash
# The whole system on a real single-node Kubernetes on this machine, without
# Docker: control plane + node (node-up.sh, which builds the tools and images
# on first use), then the chart installed with k8s/values-node.yaml and the
# locally built images. Idempotent: a second run upgrades the release in
# place (new images roll the pods) and is seconds when nothing changed.
#
#   scripts/k8s/cluster-up.sh     # make cluster-up
#   scripts/k8s/down.sh           # make cluster-down (stops the node and control plane)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RELEASE=${HGP_RELEASE:-highgopress}
NAMESPACE=${HGP_NAMESPACE:-highgopress}
t0=$SECONDS

"$HGP_K8S_DIR/node-up.sh"
export KUBECONFIG="$K8S_RUN/kubeconfig" PATH="$BIN:$PATH"
helm_env=(HELM_CACHE_HOME="$K8S_RUN/helm/cache" HELM_CONFIG_HOME="$K8S_RUN/helm/config" HELM_DATA_HOME="$K8S_RUN/helm/data")

log "installing the chart: helm upgrade --install $RELEASE charts/highgopress -n $NAMESPACE (waits until every pod is Ready)"
t_install=$SECONDS
env "${helm_env[@]}" helm upgrade --install "$RELEASE" "$HGP_REPO/charts/highgopress" \
  --namespace "$NAMESPACE" --create-namespace \
  -f "$HGP_REPO/k8s/values-node.yaml" -f "$NODE_RUN/images-values.yaml" \
  --wait --timeout 10m >/dev/null
log "release $RELEASE ready $((SECONDS - t_install)) s after helm upgrade --install"

ip_of() { kubectl -n "$NAMESPACE" get svc "$RELEASE-$1" -o jsonpath='{.spec.clusterIP}'; }
cat <<INFO

HighGoPress runs on the local node (make cluster-up took $((SECONDS - t0)) s).
  kubeconfig   export KUBECONFIG=$KUBECONFIG   (or: eval "\$(scripts/k8s/env.sh)")
  pods         kubectl -n $NAMESPACE get pods
  gateway      http://$(ip_of gateway):8080      e.g. curl -X POST http://$(ip_of gateway):8080/api/v1/counter/increment ...
  Prometheus   http://$(ip_of prometheus):9090
  Jaeger UI    http://$(ip_of jaeger):16686
These are the Services' cluster IPs, reachable from this machine only
(kube-proxy routes them to the pods). From elsewhere on the machine's
loopback: kubectl -n $NAMESPACE port-forward svc/$RELEASE-gateway 8080:8080
Stop everything with: make cluster-down
INFO
