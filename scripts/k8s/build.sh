#!/usr/bin/env bash
# Build the local Kubernetes control plane used by the chart tests, from the Go
# module proxy only: helm, etcd, kube-apiserver, kube-controller-manager, kubectl,
# and the node's kube-scheduler, kubelet and kube-proxy (one go build, so they
# share most of the compile work).
# Binaries go to $CACHE/bin (CACHE=${HIGHGOPRESS_CACHE:-~/.cache/highgopress}).
# Idempotent: a tool already built at its pinned version is skipped.
#
#   scripts/k8s/build.sh            # everything
#   scripts/k8s/build.sh helm etcd  # only some tools (helm|etcd|kube|skaffold|containerd|runc|cni|coredns|
#                                   # pause|prometheus; node = the last six)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=scripts/cached-program.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cached-program.sh"

# Go is needed only when something must be built.
need_go() {
  command -v go >/dev/null || die "Go 1.26+ is required to build the control-plane tools (apt-get install golang-go, if new enough)"
  local minor; minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
  [[ "$minor" -ge 26 ]] || die "Go 1.26+ is required to build Kubernetes $HGP_K8S_VERSION (found $(go env GOVERSION))"
}

mkdir -p "$BIN" "$CACHE/src" "$BIN/.stamps"
KUBE_BINARIES=(kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)
# Serialise builds; taken only when something must be built (see main), so a
# warm check never waits for an unrelated build such as skaffold's.
lock_builds() {
  [[ -n "${HGP_BUILD_LOCKED:-}" ]] && return
  exec 9>"$CACHE/.build.lock"
  if ! flock -n 9; then log "another build.sh is running; waiting for it"; flock 9; fi
  HGP_BUILD_LOCKED=1
}

export CGO_ENABLED=0 GOTOOLCHAIN=local GO111MODULE=on
export GOFLAGS="-mod=mod -buildvcs=false"

# stamp_ok NAME VALUE BINARIES... -> 0 when NAME was built as VALUE and every
# binary is a program. A stamp with a binary that is not one (see
# cached-program.sh) is removed, with why, so that the tool is built again.
stamp_ok() {
  local name=$1 want=$2; shift 2
  [[ "$(cat "$BIN/.stamps/$name" 2>/dev/null)" == "$want" ]] || return 1
  local b why; for b in "$@"; do
    if why=$(not_a_program "$BIN/$b"); then
      log "the cached $BIN/$b is not usable: $why; building $name again"
      rm -f "$BIN/.stamps/$name"
      return 1
    fi
  done
}
# mod_time MODULE VERSION -> the release date recorded by the module proxy (for buildDate)
mod_time() {
  local info; info=$(go mod download -json "$1@$2" 2>/dev/null | sed -n 's/.*"Info": "\(.*\)".*/\1/p')
  if [[ -n "$info" && -f "$info" ]]; then sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$info" | head -1; else date -u +%Y-%m-%dT%H:%M:%SZ; fi
}

build_helm() {
  local v=$HGP_HELM_VERSION k8s_major k8s_minor
  k8s_major=$(echo "${HGP_K8S_VERSION#v}" | cut -d. -f1); k8s_minor=$(echo "${HGP_K8S_VERSION#v}" | cut -d. -f2)
  local stamp="helm $v k8s $k8s_major.$k8s_minor"
  if stamp_ok helm "$stamp" helm; then log "helm $v already built"; return; fi
  lock_builds
  if stamp_ok helm "$stamp" helm; then log "helm $v built meanwhile by another build.sh"; return; fi
  need_go
  log "building helm $v (Kubernetes version $k8s_major.$k8s_minor; cold build: 1-3 minutes)"
  local p=helm.sh/helm/v3 tmp; tmp=$(mktemp -d "$CACHE/src/helm.XXXXXX")
  local ldf="-s -w -X $p/internal/version.version=$v -X $p/internal/version.metadata= -X $p/internal/version.gitTreeState=clean"
  ldf+=" -X $p/pkg/lint/rules.k8sVersionMajor=$k8s_major -X $p/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ldf+=" -X $p/pkg/chartutil.k8sVersionMajor=$k8s_major -X $p/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  # 'go install pkg@version' refuses -mod flags; build outside any module.
  ( cd "$tmp" && GOFLAGS=-buildvcs=false GOBIN="$tmp" go install -trimpath -ldflags "$ldf" "$p/cmd/helm@$v" )
  mv -f "$tmp/helm" "$BIN/helm"; rm -rf "$tmp"
  echo "$stamp" > "$BIN/.stamps/helm"
  log "helm: $("$BIN/helm" version --short)"
}

build_etcd() {
  local v=$HGP_ETCD_VERSION stamp="etcd $HGP_ETCD_VERSION"
  if stamp_ok etcd "$stamp" etcd; then log "etcd $v already built"; return; fi
  lock_builds
  if stamp_ok etcd "$stamp" etcd; then log "etcd $v built meanwhile by another build.sh"; return; fi
  need_go
  log "building etcd $v from go.etcd.io/etcd/server/v3 (cold build: 1-3 minutes)"
  local src="$CACHE/src/etcd-$v"
  mkdir -p "$src"
  cat > "$src/go.mod" <<MOD
module highgopress.local/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $v
MOD
  cat > "$src/main.go" <<'GO'
// Command etcd is the etcd server, built from the published server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  ( cd "$src" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$src/etcd" . )
  mv -f "$src/etcd" "$BIN/etcd"
  echo "$stamp" > "$BIN/.stamps/etcd"
  log "etcd: $("$BIN/etcd" --version | head -1)"
}

build_kube() {
  local v=$HGP_K8S_VERSION stamp="kube $HGP_K8S_VERSION +node"
  if stamp_ok kube "$stamp" "${KUBE_BINARIES[@]}"; then log "Kubernetes $v already built"; return; fi
  lock_builds
  if stamp_ok kube "$stamp" "${KUBE_BINARIES[@]}"; then log "Kubernetes $v built meanwhile by another build.sh"; return; fi
  need_go
  local sv="v0.${v#v1.}" major minor
  major=$(echo "${v#v}" | cut -d. -f1); minor=$(echo "${v#v}" | cut -d. -f2)
  log "building ${KUBE_BINARIES[*]} $v (staging modules $sv; cold build: 12-25 minutes on 2 cores)"
  local src="$CACHE/src/kubernetes-$v"
  mkdir -p "$src"
  {
    printf 'module highgopress.local/kubernetes\n\ngo 1.26.0\n\ngodebug default=go1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$v"
    local m; for m in "${HGP_K8S_STAGING[@]}"; do printf '\tk8s.io/%s => k8s.io/%s %s\n' "$m" "$m" "$sv"; done
    printf ')\n'
  } > "$src/go.mod"
  local date; date=$(mod_time k8s.io/kubernetes "$v")
  local ldf="-s -w" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldf+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  log "resolving modules for k8s.io/kubernetes $v"
  ( cd "$src" && go mod download k8s.io/kubernetes )
  mkdir -p "$src/out"
  local start=$SECONDS
  local b pkgs=() outs=()
  for b in "${KUBE_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); outs+=("$src/out/$b"); done
  ( cd "$src" && go build -trimpath -ldflags "$ldf" -o "$src/out/" "${pkgs[@]}" )
  mv -f "${outs[@]}" "$BIN/"
  echo "$stamp" > "$BIN/.stamps/kube"
  log "Kubernetes binaries built in $((SECONDS - start)) s: $("$BIN/kubectl" version --client 2>/dev/null | head -1)"
}

# module_dir MODULE VERSION -> the module's source in the Go module cache
module_dir() {
  local dir; dir=$(go mod download -json "$1@$2" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d "$dir" ]] || die "could not download $1@$2 from the Go module proxy"
  echo "$dir"
}

# build_in_module NAME VERSION MODULE LDFLAGS OUTDIR PACKAGES... : builds inside
# the downloaded module (its own go.mod, go.sum and replace directives apply).
build_in_module() {
  local name=$1 v=$2 m=$3 ldf=$4 out=$5; shift 5
  local dir; dir=$(module_dir "$m" "$v")
  local tmp; tmp=$(mktemp -d "$CACHE/src/$name.XXXXXX")
  ( cd "$dir" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w $ldf" -o "$tmp/" "$@" )
  mkdir -p "$out"; mv -f "$tmp"/* "$out/"; rmdir "$tmp"
}

# tool_built NAME VERSION BINARIES... -> 0 when already built; else takes the
# build lock and checks again (another build.sh may have finished it).
tool_built() {
  local name=$1 version=$2 stamp="$1 $2"; shift 2
  if stamp_ok "$name" "$stamp" "$@"; then log "$name $version already built"; return 0; fi
  lock_builds
  if stamp_ok "$name" "$stamp" "$@"; then log "$name $version built meanwhile by another build.sh"; return 0; fi
  need_go
  return 1
}

build_skaffold() {
  local v=$HGP_SKAFFOLD_VERSION m=github.com/GoogleContainerTools/skaffold/v2
  tool_built skaffold "$v" skaffold && return
  log "building skaffold $v (validates skaffold.yaml; cold build: 5-15 minutes)"
  # skaffold's go.mod carries replace directives, which 'go install pkg@version'
  # refuses; build inside the downloaded module so they apply, with its go.sum.
  build_in_module skaffold "$v" "$m" "-X $m/pkg/skaffold/version.version=$v" "$BIN" ./cmd/skaffold
  echo "skaffold $v" > "$BIN/.stamps/skaffold"
  log "skaffold: $("$BIN/skaffold" version)"
}

build_containerd() {
  local v=$HGP_CONTAINERD_VERSION m=github.com/containerd/containerd/v2
  tool_built containerd "$v" containerd containerd-shim-runc-v2 ctr && return
  log "building containerd $v, its runc shim and ctr (cold build: about 2 minutes)"
  build_in_module containerd "$v" "$m" "-X $m/version.Version=$v -X $m/version.Package=$m" "$BIN" \
    ./cmd/containerd ./cmd/containerd-shim-runc-v2 ./cmd/ctr
  echo "containerd $v" > "$BIN/.stamps/containerd"
  log "containerd: $("$BIN/containerd" --version)"
}

build_runc() {
  local v=$HGP_RUNC_VERSION
  tool_built runc "$v" runc && return
  command -v gcc >/dev/null || die "gcc is required to build runc (apt-get install gcc)"
  [[ -f /usr/include/seccomp.h ]] || die "libseccomp-dev is required to build runc (apt-get install libseccomp-dev pkg-config)"
  log "building runc $v with seccomp (cgo; cold build: about 30 s)"
  CGO_ENABLED=1 build_in_module runc "$v" github.com/opencontainers/runc "-X main.version=${v#v}" "$BIN" -tags seccomp .
  echo "runc $v" > "$BIN/.stamps/runc"
  log "runc: $("$BIN/runc" --version | head -1)"
}

build_cni() {
  local v=$HGP_CNI_VERSION
  tool_built cni "$v" cni/bridge cni/host-local cni/loopback cni/portmap && return
  log "building CNI plugins $v: bridge, host-local, loopback, portmap (cold build: about 30 s)"
  build_in_module cni "$v" github.com/containernetworking/plugins "" "$BIN/cni" \
    ./plugins/main/bridge ./plugins/ipam/host-local ./plugins/main/loopback ./plugins/meta/portmap
  echo "cni $v" > "$BIN/.stamps/cni"
}

build_coredns() {
  local v=$HGP_COREDNS_VERSION
  tool_built coredns "$v" coredns && return
  log "building CoreDNS $v (cold build: about 2 minutes)"
  build_in_module coredns "$v" github.com/coredns/coredns "-X github.com/coredns/coredns/coremain.GitCommit=$v" "$BIN" .
  echo "coredns $v" > "$BIN/.stamps/coredns"
  log "coredns: $("$BIN/coredns" -version | head -1)"
}

# Prometheus for the node's image, with the service discoveries it uses
# (kubernetes, dns) instead of all of them: Prometheus' documented way to
# choose them is a generated plugins/plugins.go, written here into a copy of
# the module. Its web UI is built from npm sources by Prometheus' own
# release process and is not part of the module: the API and /metrics answer.
build_prometheus() {
  local v=$HGP_PROMETHEUS_VERSION m=github.com/prometheus/prometheus
  tool_built prometheus "$v" prometheus && return
  # v0.3MM.P is release 3.MM.P
  local release; release="3.$(echo "${v#v0.}" | sed -E 's/^3([0-9]{2})\.([0-9]+)$/\1.\2/; s/^0//')"
  log "building Prometheus $release (module $v) with kubernetes and dns service discovery (cold build: about 3 minutes)"
  local dir src="$CACHE/src/prometheus-$v"
  dir=$(module_dir "$m" "$v")
  rm -rf "$src"; cp -r "$dir" "$src"; chmod -R u+w "$src"
  cat > "$src/plugins/plugins.go" <<'GO'
// Written by scripts/k8s/build.sh (Prometheus' "make plugins" with a plugins.yml
// of kubernetes and dns): the service discoveries the local node uses.

package plugins

import (
	// Register dns plugin.
	_ "github.com/prometheus/prometheus/discovery/dns"
	// Register kubernetes plugin.
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
)
GO
  local p=github.com/prometheus/common/version
  ( cd "$src" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
      -ldflags "-s -w -X $p.Version=$release -X $p.Branch=release -X $p.BuildUser=highgopress" -o "$CACHE/src/prometheus.new" ./cmd/prometheus )
  mv -f "$CACHE/src/prometheus.new" "$BIN/prometheus"
  rm -rf "$src"
  echo "prometheus $v" > "$BIN/.stamps/prometheus"
  log "prometheus: $("$BIN/prometheus" --version 2>&1 | head -1)"
}

# The pod sandbox ("pause") image's only binary, from the Kubernetes module's
# own source: no registry holds it for us.
build_pause() {
  local v=$HGP_K8S_VERSION
  tool_built pause "$v" pause && return
  command -v gcc >/dev/null || die "gcc is required to build the pause binary (apt-get install gcc)"
  local dir; dir=$(module_dir k8s.io/kubernetes "$v")
  log "building the pause binary from k8s.io/kubernetes $v build/pause/linux/pause.c"
  gcc -Os -Wall -Werror -static -DVERSION="$v" -o "$CACHE/src/pause.new" "$dir/build/pause/linux/pause.c"
  mv -f "$CACHE/src/pause.new" "$BIN/pause"
  echo "pause $v" > "$BIN/.stamps/pause"
}

main() {
  local want=("$@") w t0=$SECONDS
  [[ ${#want[@]} -gt 0 ]] || want=(helm etcd kube)
  for w in "${want[@]}"; do
    case "$w" in
      helm) build_helm ;;
      etcd) build_etcd ;;
      kube|kubernetes) build_kube ;;
      skaffold) build_skaffold ;;
      containerd) build_containerd ;;
      runc) build_runc ;;
      cni) build_cni ;;
      coredns) build_coredns ;;
      pause) build_pause ;;
      prometheus) build_prometheus ;;
      node) build_containerd; build_runc; build_cni; build_coredns; build_pause; build_prometheus ;;
      *) die "unknown tool '$w' (expected helm, etcd, kube, skaffold, containerd, runc, cni, coredns, pause, prometheus or node)" ;;
    esac
  done
  log "control-plane tools ready in $BIN ($((SECONDS - t0)) s)"
}

# Everything above only defines functions, so editing this file while a build
# runs cannot derail it.
main "$@"
exit $?
