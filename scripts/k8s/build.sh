#!/usr/bin/env bash
# Build the local Kubernetes control plane used by the chart tests, from the Go
# module proxy only: helm, etcd, kube-apiserver, kube-controller-manager, kubectl.
# Binaries go to $CACHE/bin (CACHE=${HIGHGOPRESS_CACHE:-~/.cache/highgopress}).
# Idempotent: a tool already built at its pinned version is skipped.
#
#   scripts/k8s/build.sh            # everything
#   scripts/k8s/build.sh helm etcd  # only some tools (helm|etcd|kube)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Go is needed only when something must be built.
need_go() {
  command -v go >/dev/null || die "Go 1.26+ is required to build the control-plane tools (apt-get install golang-go, if new enough)"
  local minor; minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
  [[ "$minor" -ge 26 ]] || die "Go 1.26+ is required to build Kubernetes $HGP_K8S_VERSION (found $(go env GOVERSION))"
}

mkdir -p "$BIN" "$CACHE/src" "$BIN/.stamps"
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

# stamp_ok NAME VALUE BINARIES... -> 0 when every binary exists and was built as VALUE
stamp_ok() {
  local name=$1 want=$2; shift 2
  local b; for b in "$@"; do [[ -x "$BIN/$b" ]] || return 1; done
  [[ "$(cat "$BIN/.stamps/$name" 2>/dev/null)" == "$want" ]]
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
  local v=$HGP_K8S_VERSION stamp="kube $HGP_K8S_VERSION"
  if stamp_ok kube "$stamp" kube-apiserver kube-controller-manager kubectl; then log "Kubernetes $v already built"; return; fi
  lock_builds
  if stamp_ok kube "$stamp" kube-apiserver kube-controller-manager kubectl; then log "Kubernetes $v built meanwhile by another build.sh"; return; fi
  need_go
  local sv="v0.${v#v1.}" major minor
  major=$(echo "${v#v}" | cut -d. -f1); minor=$(echo "${v#v}" | cut -d. -f2)
  log "building kube-apiserver, kube-controller-manager, kubectl $v (staging modules $sv; cold build: 10-25 minutes on 2 cores)"
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
  ( cd "$src" && go build -trimpath -ldflags "$ldf" -o "$src/out/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl )
  mv -f "$src/out/kube-apiserver" "$src/out/kube-controller-manager" "$src/out/kubectl" "$BIN/"
  echo "$stamp" > "$BIN/.stamps/kube"
  log "Kubernetes binaries built in $((SECONDS - start)) s: $("$BIN/kubectl" version --client 2>/dev/null | head -1)"
}

build_skaffold() {
  local v=$HGP_SKAFFOLD_VERSION stamp="skaffold $HGP_SKAFFOLD_VERSION" m=github.com/GoogleContainerTools/skaffold/v2
  if stamp_ok skaffold "$stamp" skaffold; then log "skaffold $v already built"; return; fi
  lock_builds
  if stamp_ok skaffold "$stamp" skaffold; then log "skaffold $v built meanwhile by another build.sh"; return; fi
  need_go
  log "building skaffold $v (validates skaffold.yaml; cold build: 5-15 minutes)"
  # skaffold's go.mod carries replace directives, which 'go install pkg@version'
  # refuses; build inside the downloaded module so they apply, with its go.sum.
  local dir; dir=$(go mod download -json "$m@$v" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d "$dir" ]] || die "could not download $m@$v from the Go module proxy"
  ( cd "$dir" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
      -ldflags "-s -w -X $m/pkg/skaffold/version.version=$v" -o "$CACHE/src/skaffold.new" ./cmd/skaffold )
  mv -f "$CACHE/src/skaffold.new" "$BIN/skaffold"
  echo "$stamp" > "$BIN/.stamps/skaffold"
  log "skaffold: $("$BIN/skaffold" version)"
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
      *) die "unknown tool '$w' (expected helm, etcd, kube or skaffold)" ;;
    esac
  done
  log "control-plane tools ready in $BIN ($((SECONDS - t0)) s)"
}

# Everything above only defines functions, so editing this file while a build
# runs cannot derail it.
main "$@"
exit $?
