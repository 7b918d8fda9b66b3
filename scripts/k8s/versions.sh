# Pinned versions of the local control-plane tools (sourced by build.sh/up.sh).
# Everything is built from the Go module proxy; nothing is downloaded from a web site.
HGP_K8S_VERSION="${HGP_K8S_VERSION:-v1.37.1}"   # k8s.io/kubernetes (kube-apiserver, kube-controller-manager, kubectl)
HGP_ETCD_VERSION="${HGP_ETCD_VERSION:-v3.6.16}" # go.etcd.io/etcd/server/v3
# helm.sh/helm/v3 (v3.22.0 is served but not an approved release). Not helm 4:
# skaffold v2.16.1, the newest the module proxy serves, runs `helm version
# --client` and passes --post-renderer a program, which helm 4 no longer takes.
HGP_HELM_VERSION="${HGP_HELM_VERSION:-v3.21.4}"
HGP_SKAFFOLD_VERSION="${HGP_SKAFFOLD_VERSION:-v2.16.1}" # github.com/GoogleContainerTools/skaffold/v2 (validates skaffold.yaml)

# The node (scripts/k8s/node-up.sh): container runtime, network, cluster DNS.
HGP_CONTAINERD_VERSION="${HGP_CONTAINERD_VERSION:-v2.4.2}" # github.com/containerd/containerd/v2
HGP_RUNC_VERSION="${HGP_RUNC_VERSION:-v1.5.3}"             # github.com/opencontainers/runc (cgo + libseccomp)
HGP_CNI_VERSION="${HGP_CNI_VERSION:-v1.10.0}"              # github.com/containernetworking/plugins
HGP_COREDNS_VERSION="${HGP_COREDNS_VERSION:-v1.15.0}"      # github.com/coredns/coredns
# Prometheus 3.5.0 (its Go module is numbered v0.305.0). The in-cluster one
# needs Kubernetes service discovery, which Debian's package leaves out.
HGP_PROMETHEUS_VERSION="${HGP_PROMETHEUS_VERSION:-v0.305.0}" # github.com/prometheus/prometheus

# Staging modules that k8s.io/kubernetes replaces with ./staging/src/k8s.io/<name>;
# the wrapper module replaces each with its published v0.<minor>.<patch> release.
HGP_K8S_STAGING=(
  api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client cri-streaming csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver streaming
)
