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

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
