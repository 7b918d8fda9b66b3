#!/usr/bin/env bash
# Start a local Kubernetes control plane: etcd (loopback) + kube-apiserver (on
# the node bridge's address, $NODE_IP, reachable from this machine and from
# pods only) + kube-controller-manager. No kubelet: objects are stored,
# validated, admitted and reconciled, but no pod runs until
# scripts/k8s/node-up.sh adds the node (make cluster-up does both).
# Builds the binaries first if needed (scripts/k8s/build.sh). Idempotent: a
# component already running and healthy is left alone, so a warm start is seconds.
#
#   scripts/k8s/up.sh            # start (or confirm running)
#   eval "$(scripts/k8s/env.sh)" # then kubectl/helm talk to it
#   scripts/k8s/down.sh          # stop (--purge also deletes the etcd data)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

t0=$SECONDS
mkdir -p "$K8S_RUN"
# One up.sh at a time (test files and other engineers' suites may race).
exec 8>"$K8S_RUN/.up.lock"
flock 8
"$HGP_K8S_DIR/build.sh" helm etcd kube
[[ $(id -u) -eq 0 ]] || die "the control plane needs root (it creates the network bridge $NODE_BRIDGE for its address)"
command -v ip >/dev/null || die "iproute2 is required (apt-get install iproute2)"
command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
command -v curl >/dev/null || die "curl is required (apt-get install curl)"

mkdir -p "$K8S_RUN/pki" "$K8S_RUN/logs"
PKI="$K8S_RUN/pki"
KUBECONFIG_FILE="$K8S_RUN/kubeconfig"

running() { proc_running "$K8S_RUN" "$@"; }
port_busy() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }
start() { proc_start "$K8S_RUN" "$@"; }
wait_for() { local what=$1 secs=$2; shift 2; proc_wait "$what" "$secs" "$K8S_RUN" "$@"; } # wait_for WHAT SECONDS NAME CMD...

ensure_bridge

# --- credentials (generated once) -------------------------------------------
# A serving certificate for another address (an older checkout's) is replaced.
if [[ -f "$PKI/apiserver.crt" ]] && ! openssl x509 -in "$PKI/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep "IP Address:$NODE_IP" >/dev/null; then
  rm -f "$PKI/apiserver.crt"
fi
if [[ ! -f "$PKI/ca.crt" || ! -f "$PKI/apiserver.crt" || ! -f "$PKI/kubelet-client.crt" ]]; then
  log "generating CA, serving certificate and service-account key pair in $PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=highgopress-local-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' "$NODE_IP" > "$PKI/apiserver.ext"
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  # The API server's client certificate towards the kubelet (logs, exec, port-forward).
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$PKI/kubelet-client.key" -out "$PKI/kubelet-client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$PKI/kubelet-client.ext"
  openssl x509 -req -in "$PKI/kubelet-client.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/kubelet-client.ext" -out "$PKI/kubelet-client.crt" 2>/dev/null
  [[ -f "$PKI/sa.key" ]] || openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  rm -f "$PKI/tokens.csv"
fi
if [[ ! -f "$PKI/tokens.csv" ]]; then
  admin_token=$(openssl rand -hex 24)
  printf '%s,admin,admin-uid,"system:masters"\n' "$admin_token" > "$PKI/tokens.csv"
  chmod 600 "$PKI/tokens.csv"
fi
admin_token=$(cut -d, -f1 "$PKI/tokens.csv")
ca_b64=$(base64 -w0 < "$PKI/ca.crt")
umask 077
cat > "$KUBECONFIG_FILE" <<KC
apiVersion: v1
kind: Config
clusters:
- name: highgopress-local
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $ca_b64
users:
- name: admin
  user:
    token: $admin_token
contexts:
- name: highgopress-local
  context: {cluster: highgopress-local, user: admin, namespace: default}
current-context: highgopress-local
KC
umask 022

# --- etcd ---------------------------------------------------------------------
etcd_healthy() { curl -sf --max-time 5 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }
# A component that runs is waited for, never started again: on a busy machine
# one health check can fail, and a second copy would only find its port taken.
if running etcd; then
  wait_for "etcd health" 60 etcd etcd_healthy
  log "etcd already running (pid $(cat "$K8S_RUN/etcd.pid"), 127.0.0.1:$ETCD_CLIENT_PORT)"
else
  port_busy "$ETCD_CLIENT_PORT" && die "port $ETCD_CLIENT_PORT is in use by another process; set HGP_ETCD_PORT to a free port"
  log "starting etcd $HGP_ETCD_VERSION on 127.0.0.1:$ETCD_CLIENT_PORT (data: $K8S_RUN/etcd)"
  start etcd "$BIN/etcd" --name highgopress --data-dir "$K8S_RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "highgopress=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn
  wait_for "etcd health" 60 etcd etcd_healthy
fi

# --- kube-apiserver -------------------------------------------------------------
curl_api() { curl -sf --max-time 5 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $admin_token" "https://$NODE_IP:$APISERVER_PORT$1"; }
if running kube-apiserver; then
  wait_for "kube-apiserver /readyz" 120 kube-apiserver curl_api /readyz
  log "kube-apiserver already running (pid $(cat "$K8S_RUN/kube-apiserver.pid"), https://$NODE_IP:$APISERVER_PORT)"
else
  port_busy "$APISERVER_PORT" "$NODE_IP" && die "port $APISERVER_PORT is in use by another process; set HGP_APISERVER_PORT to a free port"
  log "starting kube-apiserver $HGP_K8S_VERSION on https://$NODE_IP:$APISERVER_PORT"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --kubelet-client-certificate "$PKI/kubelet-client.crt" --kubelet-client-key "$PKI/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$PKI/tokens.csv" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --authorization-mode RBAC \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,PodSecurity \
    --allow-privileged=false --profiling=false --v=1
  wait_for "kube-apiserver /readyz" 120 kube-apiserver curl_api /readyz
fi

# --- kube-controller-manager ----------------------------------------------------------
kcm_healthy() { curl -sfk --max-time 5 "https://127.0.0.1:$KCM_PORT/healthz"; }
if running kube-controller-manager; then
  wait_for "kube-controller-manager /healthz" 60 kube-controller-manager kcm_healthy
  log "kube-controller-manager already running (pid $(cat "$K8S_RUN/kube-controller-manager.pid"))"
else
  port_busy "$KCM_PORT" && die "port $KCM_PORT is in use by another process; set HGP_KCM_PORT to a free port"
  log "starting kube-controller-manager $HGP_K8S_VERSION"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$KUBECONFIG_FILE" \
    --authentication-kubeconfig "$KUBECONFIG_FILE" --authorization-kubeconfig "$KUBECONFIG_FILE" --authentication-skip-lookup \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --leader-elect=false --profiling=false --v=1
  wait_for "kube-controller-manager /healthz" 60 kube-controller-manager kcm_healthy
fi

log "waiting for the default namespace and ServiceAccount"
wait_for "namespace default" 60 "" curl_api /api/v1/namespaces/default
wait_for "serviceaccount default/default (created by kube-controller-manager)" 60 kube-controller-manager \
  curl_api /api/v1/namespaces/default/serviceaccounts/default
log "control plane ready in $((SECONDS - t0)) s: export KUBECONFIG=$KUBECONFIG_FILE (or: eval \"\$(scripts/k8s/env.sh)\")"
