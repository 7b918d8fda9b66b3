#!/usr/bin/env bash
# Stop the local cluster: the node (node-down.sh, when one was started), then
# the control plane started by up.sh (controller-manager, apiserver, etcd),
# then remove the node bridge that carries the API server's address.
#   scripts/k8s/down.sh           # stop, keep state (the next up.sh resumes it)
#   scripts/k8s/down.sh --purge   # stop and delete etcd data, credentials and logs
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stop() { proc_stop "$K8S_RUN" "$@"; }
"$HGP_K8S_DIR/node-down.sh"
stop kube-controller-manager
stop kube-apiserver
stop etcd
if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  log "removing bridge $NODE_BRIDGE"
  ip link delete "$NODE_BRIDGE"
fi
if [[ "${1:-}" == "--purge" ]]; then
  log "deleting $K8S_RUN"
  rm -rf "$K8S_RUN"
fi
log "control plane stopped"
