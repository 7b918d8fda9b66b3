#!/usr/bin/env bash
# Add a real node to the local control plane (scripts/k8s/up.sh): containerd +
# runc, CNI bridge networking, kubelet, kube-scheduler, kube-proxy (iptables),
# CoreDNS for cluster.local, and a pool of local PersistentVolumes. The images
# every pod needs are built and imported first (scripts/k8s/images.sh), since
# no registry is reachable: pulls are pointed at a closed local port.
#
# Everything it changes on the machine is undone by scripts/k8s/node-down.sh:
# sysctls are recorded before the first change and restored, and the bridge,
# iptables rules, mounts and cgroups it creates are removed.
#
#   scripts/k8s/node-up.sh        # start (or confirm running); idempotent
#   scripts/k8s/node-up.sh build  # only build its tools and images (no control
#                                 # plane needed; nothing on the machine changes
#                                 # but the packages it installs)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

t0=$SECONDS
[[ $(id -u) -eq 0 ]] || die "the node needs root (containers, network devices, iptables, cgroups)"
if [[ ${1:-} == build ]]; then
  # build.sh and images.sh each hold their own lock, so a node-up.sh started
  # meanwhile waits for what this one is building.
  ensure_node_packages
  "$HGP_K8S_DIR/build.sh" kube node
  "$HGP_K8S_DIR/images.sh" build
  log "the node's tools and images are built ($((SECONDS - t0)) s)"
  exit 0
fi
grep -q cgroup /proc/filesystems || die "cgroups are not available on this kernel"
mkdir -p "$NODE_RUN" "$NODE_RUN/logs"
exec 7>"$NODE_RUN/.up.lock"
flock 7

ensure_node_packages
"$HGP_K8S_DIR/up.sh"
"$HGP_K8S_DIR/build.sh" kube node
"$HGP_K8S_DIR/images.sh" build
# shellcheck disable=SC1091
. "$NODE_RUN/images.env"

running() { proc_running "$NODE_RUN" "$@"; }
start() { proc_start "$NODE_RUN" "$@"; }
wait_for() { local what=$1 secs=$2; shift 2; proc_wait "$what" "$secs" "$NODE_RUN" "$@"; } # wait_for WHAT SECONDS NAME CMD...
kc() { "$BIN/kubectl" --kubeconfig "$K8S_RUN/kubeconfig" "$@"; }

# --- host settings: recorded once, before anything changes them ----------------
if [[ ! -f "$NODE_RUN/sysctls.saved" ]]; then
  for key in "${NODE_SYSCTLS[@]}"; do
    printf '%s=%s\n' "$key" "$(sysctl -n "$key")"
  done > "$NODE_RUN/sysctls.saved.tmp"
  mv "$NODE_RUN/sysctls.saved.tmp" "$NODE_RUN/sysctls.saved"
fi
[[ -f "$NODE_RUN/nft-tables.saved" ]] || nft list tables > "$NODE_RUN/nft-tables.saved"
# Directories kubelet and the CNI plugins create outside this checkout
# whatever they are told; node-down.sh removes those that were not here before.
if [[ ! -f "$NODE_RUN/host-paths.created" ]]; then
  for p in /var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd; do
    [[ -e $p ]] || echo "$p"
  done > "$NODE_RUN/host-paths.created"
fi
# Service traffic between pods on one bridge must pass iptables (kube-proxy's DNAT).
sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1
# Pods may talk to each other, to Services and to the node, never past it: no
# masquerading is configured, and this rule drops anything routed from the
# bridge to another interface.
iptables -C FORWARD -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -m comment --comment highgopress-node -j DROP 2>/dev/null ||
  iptables -I FORWARD 1 -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -m comment --comment highgopress-node -j DROP

# --- containerd ------------------------------------------------------------------
mkdir -p "$NODE_STATE" "$NODE_IMAGES" "$NODE_RUN/cni/net.d" "$NODE_RUN/cni/ipam" "$NODE_RUN/registry/_default"
# Every registry resolves to a closed port on loopback: an image that was not
# built here fails at once instead of being fetched from outside.
cat > "$NODE_RUN/registry/_default/hosts.toml" <<'TOML'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
TOML
cat > "$NODE_RUN/cni/net.d/10-highgopress.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "highgopress",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_RUN/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": false}
  ]
}
JSON
cat > "$NODE_RUN/containerd.toml" <<TOML
version = 4
root = "$NODE_IMAGES"
state = "$NODE_STATE/containerd"
disabled_plugins = ["io.containerd.nri.v1.nri"]
[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = "$NODE_STATE/containerd.sock"
  [plugins.'io.containerd.server.v1.ttrpc']
    address = "$NODE_STATE/containerd.sock.ttrpc"
  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = "$NODE_STATE/s"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "$PAUSE_IMAGE"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "$NODE_RUN/registry"
  [plugins.'io.containerd.cri.v1.runtime']
    # This VM refuses negative OOM scores; without this RunPodSandbox fails.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$BIN/runc"
          Root = "$NODE_STATE/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["$BIN/cni"]
      conf_dir = "$NODE_RUN/cni/net.d"
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
TOML
containerd_ok() { timeout 5 "$BIN/ctr" --address "$NODE_STATE/containerd.sock" version; }
# A component that runs is waited for, never started again (up.sh says why).
if running containerd; then
  wait_for "containerd" 60 containerd containerd_ok
  log "containerd already running (pid $(cat "$NODE_RUN/containerd.pid"))"
else
  log "starting containerd $HGP_CONTAINERD_VERSION (images and content: $NODE_IMAGES)"
  # The shim is found on PATH.
  PATH="$BIN:$PATH" start containerd "$BIN/containerd" --config "$NODE_RUN/containerd.toml" --log-level warn
  wait_for "containerd" 60 containerd containerd_ok
fi

"$HGP_K8S_DIR/images.sh" import

# --- kubelet -----------------------------------------------------------------------
: > "$NODE_RUN/resolv.conf" # pods with dnsPolicy Default get no outside resolver
cat > "$NODE_RUN/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 is all these machines have; kubelet refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /
failSwapOn: false
# kubelet would otherwise set kernel sysctls and iptables chains of its own.
protectKernelDefaults: false
makeIPTablesUtilChains: false
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $K8S_RUN/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$NODE_STATE/containerd.sock
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
resolvConf: $NODE_RUN/resolv.conf
# Small disk and memory margins for a laptop-sized box; images can never be
# pulled again here, so image garbage collection never runs.
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
podPidsLimit: 4096
shutdownGracePeriod: 0s
YAML
kubelet_ok() { curl -sf --max-time 5 http://127.0.0.1:10248/healthz; }
if running kubelet; then
  wait_for "kubelet /healthz" 60 kubelet kubelet_ok
  log "kubelet already running (pid $(cat "$NODE_RUN/kubelet.pid"))"
else
  # A Node object left by an earlier run would look Ready before this kubelet reports.
  kc delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null
  log "starting kubelet $HGP_K8S_VERSION as node $NODE_NAME ($NODE_IP)"
  PATH="$BIN:$PATH" start kubelet "$BIN/kubelet" --config "$NODE_RUN/kubelet.yaml" \
    --kubeconfig "$K8S_RUN/kubeconfig" --root-dir "$NODE_RUN/kubelet" --cert-dir "$NODE_RUN/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
  wait_for "kubelet /healthz" 60 kubelet kubelet_ok
fi

# --- kube-scheduler ---------------------------------------------------------------------
scheduler_ok() { curl -sfk --max-time 5 https://127.0.0.1:10259/healthz; }
if running kube-scheduler; then
  wait_for "kube-scheduler /healthz" 60 kube-scheduler scheduler_ok
  log "kube-scheduler already running (pid $(cat "$NODE_RUN/kube-scheduler.pid"))"
else
  log "starting kube-scheduler $HGP_K8S_VERSION"
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$K8S_RUN/kubeconfig" \
    --authentication-kubeconfig "$K8S_RUN/kubeconfig" --authorization-kubeconfig "$K8S_RUN/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false --v=1
  wait_for "kube-scheduler /healthz" 60 kube-scheduler scheduler_ok
fi

# --- kube-proxy ----------------------------------------------------------------------------
# Written only when it changes: a running kube-proxy watches its configuration
# file and exits on any write to it, even of the same content.
proxy_config=$(mktemp)
cat > "$proxy_config" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
clientConnection:
  kubeconfig: $K8S_RUN/kubeconfig
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables:
  # Else kube-proxy turns on route_localnet for NodePorts on 127.0.0.1.
  localhostNodePorts: false
# Zero: leave the machine's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
if cmp -s "$proxy_config" "$NODE_RUN/kube-proxy.yaml"; then rm -f "$proxy_config"; else mv "$proxy_config" "$NODE_RUN/kube-proxy.yaml"; fi
proxy_ok() { curl -sf --max-time 5 http://127.0.0.1:10256/healthz; }
if running kube-proxy; then
  wait_for "kube-proxy /healthz" 60 kube-proxy proxy_ok
  log "kube-proxy already running (pid $(cat "$NODE_RUN/kube-proxy.pid"))"
else
  log "starting kube-proxy $HGP_K8S_VERSION (iptables mode)"
  start kube-proxy "$BIN/kube-proxy" --config "$NODE_RUN/kube-proxy.yaml" --v=1
  wait_for "kube-proxy /healthz" 60 kube-proxy proxy_ok
fi

log "waiting for node $NODE_NAME to be Ready"
wait_for "node $NODE_NAME Ready" 120 kubelet kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s

# --- add-ons: cluster DNS and local volumes ----------------------------------------------
sed -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@CLUSTER_DNS@|$CLUSTER_DNS|g" "$HGP_REPO/k8s/node/coredns.yaml" | kc apply -f - >/dev/null
"$HGP_K8S_DIR/volumes.sh"
log "waiting for CoreDNS"
wait_for "CoreDNS rollout" 120 "" kc -n kube-system rollout status deployment/coredns --timeout=2s
log "node ready in $((SECONDS - t0)) s: kubectl get pods -A (eval \"\$(scripts/k8s/env.sh)\")"
