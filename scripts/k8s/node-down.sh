#!/usr/bin/env bash
# Stop the node started by node-up.sh and undo what it did to the machine:
# containers and their processes, kube-proxy's and the CNI plugins' iptables
# rules, the pod network namespaces and mounts, the cgroups kubelet made, the
# directories it created outside this checkout, and the sysctls it changed.
# Safe to run at any time, also after a failed or interrupted node-up.sh.
# The control plane keeps running (scripts/k8s/down.sh stops it, and calls
# this first).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $(id -u) -eq 0 ]] || die "stopping the node needs root"
[[ -d "$NODE_RUN" ]] || { log "no node state in $NODE_RUN; nothing to stop"; exit 0; }
t0=$SECONDS

stop() { proc_stop "$NODE_RUN" "$@"; }
sock="$NODE_STATE/containerd.sock"
ctr() { "$BIN/ctr" --address "$sock" -n k8s.io "$@"; }

# kubelet first, so nothing restarts what is stopped below.
stop kubelet
stop kube-scheduler
stop kube-proxy
# Every container process at once (they would each take their grace period),
# then containerd's records of them, then containerd and the shims.
kubepods_cgroups() { find /sys/fs/cgroup/*/ -maxdepth 1 -type d -name 'kubepods*' 2>/dev/null; }
kill_leftovers() {
  local pids
  pids=$( { kubepods_cgroups | while read -r d; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done
            pgrep -f "^$BIN/containerd-shim-runc-v2 " || true; } | sort -u)
  [[ -n $pids ]] || return 0
  log "killing $(wc -w <<<"$pids") $1"
  kill -KILL $pids 2>/dev/null || true
  sleep 0.5
}
if [[ -S $sock ]] && ctr version >/dev/null 2>&1; then
  ids=$(ctr tasks ls -q 2>/dev/null || true)
  if [[ -n $ids ]]; then
    log "stopping $(wc -w <<<"$ids") containers"
    for id in $ids; do ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do timeout 10 "$BIN/ctr" --address "$sock" -n k8s.io tasks delete --force "$id" >/dev/null 2>&1 || true; done
  fi
  for id in $(ctr containers ls -q 2>/dev/null || true); do ctr containers delete "$id" >/dev/null 2>&1 || true; done
fi
stop containerd 20
kill_leftovers "leftover processes of the node"

# Mounts: pod volumes and the kubelet root (a bind mount of itself), network
# namespaces, container root filesystems.
n=$(unmount_under "$NODE_RUN" "$NODE_STATE" "$NODE_IMAGES")
[[ $n == 0 ]] || log "unmounted $n mounts"

# cgroups, deepest first.
cg=$(kubepods_cgroups | while read -r d; do find "$d" -depth -type d; done)
if [[ -n $cg ]]; then
  log "removing $(wc -l <<<"$cg") cgroups"
  while read -r d; do rmdir "$d" 2>/dev/null || true; done <<<"$cg"
fi

# iptables: kube-proxy's own cleanup, then any KUBE-/CNI- chain and the jumps
# to them (kube-proxy --cleanup leaves KUBE-FIREWALL and its jumps behind),
# then this project's FORWARD rule.
if [[ -x "$BIN/kube-proxy" ]]; then "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
for ipt in iptables ip6tables; do
  command -v $ipt >/dev/null || continue
  for table in filter nat mangle raw; do
    { $ipt-save -t $table 2>/dev/null | grep -E '^-A .* -j (KUBE-|CNI-)' || true; } | sed 's/^-A /-D /' |
      while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null || true; done
    chains=$($ipt-save -t $table 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p' || true)
    for c in $chains; do $ipt -t $table -F "$c" 2>/dev/null || true; done
    for c in $chains; do $ipt -t $table -X "$c" 2>/dev/null || true; done
  done
done
while iptables -D FORWARD -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -m comment --comment highgopress-node -j DROP 2>/dev/null; do :; done
# nftables tables kube-proxy made (it probes nftables even in iptables mode).
if command -v nft >/dev/null && [[ -f "$NODE_RUN/nft-tables.saved" ]]; then
  nft list tables 2>/dev/null | while read -r _ family name; do
    grep -qx "table $family $name" "$NODE_RUN/nft-tables.saved" || nft delete table "$family" "$name" 2>/dev/null || true
  done
  rm -f "$NODE_RUN/nft-tables.saved"
fi

# Pod interfaces left on the bridge (their namespaces are gone) and IP leases.
for veth in $(ip -o link show master "$NODE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link delete "$veth" 2>/dev/null || true
done
rm -rf "$NODE_RUN/cni/ipam" "$NODE_STATE"

# Directories outside this checkout that did not exist before node-up.sh.
if [[ -f "$NODE_RUN/host-paths.created" ]]; then
  while read -r p; do [[ -n $p ]] && rm -rf "$p"; done < "$NODE_RUN/host-paths.created"
  rm -f "$NODE_RUN/host-paths.created"
fi

if [[ -f "$NODE_RUN/sysctls.saved" ]]; then
  log "restoring sysctls: $(tr '\n' ' ' < "$NODE_RUN/sysctls.saved")"
  while IFS= read -r kv; do sysctl -qw "$kv" || true; done < "$NODE_RUN/sysctls.saved"
  rm -f "$NODE_RUN/sysctls.saved"
fi

# The Node object would make the next kubelet look Ready before it reports.
if [[ -f "$K8S_RUN/kubeconfig" ]]; then
  "$BIN/kubectl" --kubeconfig "$K8S_RUN/kubeconfig" --request-timeout=5s delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
fi
log "node stopped in $((SECONDS - t0)) s"
