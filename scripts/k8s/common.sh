# Shared settings for scripts/k8s/*.sh (sourced, not executed).
HGP_K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HGP_REPO="$(cd "$HGP_K8S_DIR/../.." && pwd)"
# shellcheck source=versions.sh
. "$HGP_K8S_DIR/versions.sh"
CACHE="${HIGHGOPRESS_CACHE:-$HOME/.cache/highgopress}"
BIN="$CACHE/bin"
# Control plane and node are one per machine (ports, the hgp0 bridge), so
# their state stays in the clone's .run/k8s whatever HIGHGOPRESS_RUN says:
# `make test` (its servers in .run/test) and `make cluster-up` share them.
K8S_RUN="$HGP_REPO/.run/k8s"
ETCD_CLIENT_PORT="${HGP_ETCD_PORT:-2379}"
ETCD_PEER_PORT="${HGP_ETCD_PEER_PORT:-2380}"
APISERVER_PORT="${HGP_APISERVER_PORT:-6443}"
KCM_PORT="${HGP_KCM_PORT:-10257}"

# The node's network. The API server listens on the bridge's own address so
# that pods reach it through the `kubernetes` Service like on any cluster;
# nothing listens on the machine's outside interfaces.
NODE_BRIDGE=hgp0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
CLUSTER_DNS=10.96.0.10
NODE_NAME=highgopress-node
NODE_RUN="$K8S_RUN/node"
# Runtime state with short paths (unix sockets are limited to 108 bytes):
# containerd's state, shim sockets and runc's container state.
NODE_STATE=/run/highgopress-node
# Images and containerd's content store outlive a cluster and its clone.
NODE_IMAGES="$CACHE/containerd"

# Host settings the node changes (kubelet, the bridge plugin, this project's
# scripts): node-up.sh records them first, node-down.sh restores them.
NODE_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)

# ensure_node_packages -> the Debian packages the node and the image builds need
ensure_node_packages() {
  (
    # shellcheck source=../lib.sh
    . "$HGP_REPO/scripts/lib.sh"
    ensure_apt iptables iptables
    ensure_apt conntrack conntrack
    ensure_apt nft nftables
    ensure_apt buildah buildah
    ensure_apt debootstrap debootstrap
    ensure_apt gcc gcc
    [[ -f /usr/include/seccomp.h ]] || ensure_apt /usr/include/seccomp.h libseccomp-dev pkg-config
  )
}

log() { printf '==> %s\n' "$*" >&2; }
# The processes these scripts run in the background: pid in DIR/NAME.pid, log
# appended to DIR/logs/NAME.log, own session, the scripts' lock fds closed.
proc_running() { local f="$1/$2.pid"; [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null; }
proc_start() { # proc_start DIR NAME CMD...
  local dir=$1 name=$2; shift 2
  mkdir -p "$dir/logs"
  printf '\n===== %s: starting %s =====\n' "$(date -u +%FT%TZ)" "$name" >>"$dir/logs/$name.log"
  setsid nohup "$@" >>"$dir/logs/$name.log" 2>&1 < /dev/null 6>&- 7>&- 8>&- 9>&- &
  echo $! > "$dir/$name.pid"
}
proc_wait() { # proc_wait WHAT SECONDS DIR NAME CMD... : retry CMD until it succeeds while NAME (if not "") runs
  local what=$1 secs=$2 dir=$3 name=$4; shift 4
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $name ]] && ! proc_running "$dir" "$name"; then
      tail -n 30 "$dir/logs/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $dir/logs/$name.log)"
    fi
    if (( SECONDS > deadline )); then
      [[ -n $name ]] && tail -n 30 "$dir/logs/$name.log" >&2
      die "timed out after ${secs}s waiting for $what"
    fi
    sleep 0.3
  done
}
proc_stop() { # proc_stop DIR NAME [SECONDS] : SIGTERM, SIGKILL after SECONDS (10)
  local dir=$1 name=$2 secs=${3:-10} f="$1/$2.pid" pid i
  [[ -f "$f" ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in $secs s; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

# unmount_under PATH... -> every mount at or below the paths, deepest first;
# prints how many there were
unmount_under() {
  local mounts m
  mounts=$(for m in "$@"; do awk -v p="${m%/}" '$5 == p || index($5, p "/") == 1 {print $5}' /proc/self/mountinfo; done | sort -r -u)
  [[ -n $mounts ]] || { echo 0; return 0; }
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done <<<"$mounts"
  wc -l <<<"$mounts"
}

# BUILDAH_ROOT: the image store buildah (images.sh) and podman (skaffold.sh)
# share; its overlay driver mounts a directory of it on itself.
BUILDAH_ROOT="$CACHE/buildah"

# ensure_bridge -> the node bridge exists with the node's address (created by
# up.sh before the API server binds to it, removed by down.sh).
ensure_bridge() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $NODE_BRIDGE with $NODE_IP (the node's address; pods use it as their gateway)"
    ip link add "$NODE_BRIDGE" type bridge
  fi
  # grep reads all of it (no -q): an early exit can fail the pipeline under pipefail with SIGPIPE on ip.
  ip addr show dev "$NODE_BRIDGE" | grep " $NODE_IP/" >/dev/null || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
