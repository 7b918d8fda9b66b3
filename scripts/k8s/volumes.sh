#!/usr/bin/env bash
# Local PersistentVolumes for the node: a default StorageClass
# (highgopress-local) and a small pool of `local` volumes in directories
# under $NODE_RUN/volumes. `local` volumes honour the pod's fsGroup, so
# non-root containers can write to them. A volume whose claim was deleted
# (Released) is wiped and offered again. Run by node-up.sh; idempotent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The end-to-end suite's releases claim 12 over its run (a Redis Cluster's six
# and a replacement among them); released ones are offered again at the next start.
POOL_SIZE=${HGP_VOLUMES:-12}
kc() { "$BIN/kubectl" --kubeconfig "$K8S_RUN/kubeconfig" "$@"; }

{
  cat <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: highgopress-local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
YAML
  for ((i = 0; i < POOL_SIZE; i++)); do
    mkdir -p "$NODE_RUN/volumes/pv-$i"
    cat <<YAML
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: highgopress-local-$i
  labels: {app.kubernetes.io/managed-by: highgopress-node}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: highgopress-local
  local: {path: "$NODE_RUN/volumes/pv-$i"}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}
YAML
  done
} | kc apply -f - >/dev/null

kc get pv -l app.kubernetes.io/managed-by=highgopress-node \
  -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name} {.spec.local.path}{"\n"}{end}' |
  while read -r name path; do
    log "recycling released volume $name ($path)"
    find "$path" -mindepth 1 -delete
    kc patch pv "$name" --type json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
  done
log "local volumes: $(kc get pv -l app.kubernetes.io/managed-by=highgopress-node --no-headers | awk '{print $5}' | sort | uniq -c | tr '\n' ' ')"
