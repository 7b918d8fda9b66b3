# Shared settings for scripts/k8s/*.sh (sourced, not executed).
HGP_K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HGP_REPO="$(cd "$HGP_K8S_DIR/../.." && pwd)"
# shellcheck source=versions.sh
. "$HGP_K8S_DIR/versions.sh"
CACHE="${HIGHGOPRESS_CACHE:-$HOME/.cache/highgopress}"
BIN="$CACHE/bin"
RUN="${HIGHGOPRESS_RUN:-$HGP_REPO/.run}"
K8S_RUN="$RUN/k8s"
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
# ensure_bridge -> the node bridge exists with the node's address (created by
# up.sh before the API server binds to it, removed by down.sh).
ensure_bridge() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $NODE_BRIDGE with $NODE_IP (the node's address; pods use it as their gateway)"
    ip link add "$NODE_BRIDGE" type bridge
  fi
  ip addr show dev "$NODE_BRIDGE" | grep -q " $NODE_IP/" || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
