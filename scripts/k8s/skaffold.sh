#!/usr/bin/env bash
# skaffold against the local node (make cluster-up), with the skaffold.yaml
# profile local-node: the image is built by buildah and imported into the
# node's containerd, the chart deployed with k8s/values-node.yaml.
#
#   scripts/k8s/skaffold.sh dev      # build, deploy, rebuild and redeploy on every change
#   scripts/k8s/skaffold.sh run      # build and deploy once
#   scripts/k8s/skaffold.sh delete   # remove what skaffold deployed
#
# skaffold asks a Docker Engine API for the ID of every image it builds
# without pushing. There is no Docker here, so for as long as skaffold runs,
# podman's Docker-compatible API service (Debian's podman) answers on a
# socket in the node's state directory, from the image store buildah builds
# into. It is stopped, and what it made removed, when skaffold exits.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $# -gt 0 ]] || die "usage: scripts/k8s/skaffold.sh dev|run|delete|... [skaffold flags]"
[[ $(id -u) -eq 0 ]] || die "needs root (buildah builds and the node's containerd)"
[[ -S "$NODE_STATE/containerd.sock" && -f "$NODE_RUN/images-values.yaml" ]] || die "the local node is not running: make cluster-up first"
"$HGP_K8S_DIR/build.sh" skaffold
( . "$HGP_REPO/scripts/lib.sh"; ensure_apt podman podman )

PODMAN_RUN=/run/highgopress-podman
sock="$NODE_STATE/podman.sock"
[[ -e /var/lib/containers ]] && made_containers_dir=0 || made_containers_dir=1
podman_pid=
cleanup() {
  if [[ -n $podman_pid ]]; then kill "$podman_pid" 2>/dev/null || true; wait "$podman_pid" 2>/dev/null || true; fi
  unmount_under "$BUILDAH_ROOT" "$PODMAN_RUN" >/dev/null
  rm -rf "$PODMAN_RUN" "$sock"
  if [[ $made_containers_dir == 1 ]]; then rm -rf /var/lib/containers; fi
}
trap cleanup EXIT
mkdir -p "$PODMAN_RUN/tmp"
podman --root "$BUILDAH_ROOT" --runroot "$PODMAN_RUN" --storage-driver overlay --tmpdir "$PODMAN_RUN/tmp" \
  --events-backend none --cgroup-manager cgroupfs system service --time=0 "unix://$sock" > "$NODE_RUN/logs/podman.log" 2>&1 &
podman_pid=$!
for _ in $(seq 1 100); do [[ -S $sock ]] && break; sleep 0.1; done
[[ -S $sock ]] || die "podman's API service did not start (log: $NODE_RUN/logs/podman.log)"

# skaffold's own settings for this node: a local cluster (nothing is pushed),
# and nothing sent anywhere (no update check, no usage metrics, no survey).
cat > "$NODE_RUN/skaffold-config.yaml" <<'YAML'
global:
  local-cluster: true
  update-check: false
  collect-metrics: false
  survey: {disable-prompt: true}
YAML

# File-change notifications never reach skaffold on these machines (its
# default trigger saw no edit in 20 s); polling every second does.
args=("$@")
if [[ $1 == dev && " $* " != *" --trigger"* ]]; then args+=(--trigger=polling --watch-poll-interval=1000); fi

cd "$HGP_REPO"
export DOCKER_HOST="unix://$sock" KUBECONFIG="$K8S_RUN/kubeconfig" PATH="$BIN:$PATH" \
  HELM_CACHE_HOME="$K8S_RUN/helm/cache" HELM_CONFIG_HOME="$K8S_RUN/helm/config" HELM_DATA_HOME="$K8S_RUN/helm/data" \
  SKAFFOLD_UPDATE_CHECK=false
"$BIN/skaffold" "${args[@]}" --profile local-node --config "$NODE_RUN/skaffold-config.yaml"
