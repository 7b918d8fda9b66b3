#!/usr/bin/env bash
# Build the images the local node runs (k8s/images/README.md) with buildah and
# import them into the node's containerd. No Docker daemon and no registry:
# the base is a Debian root filesystem made by debootstrap, and each image's
# tag is a hash of its inputs, so an image whose inputs did not change is
# neither rebuilt nor imported again.
#
#   scripts/k8s/images.sh build    # build what changed; writes $NODE_RUN/images.env
#                                  # and $NODE_RUN/images-values.yaml (chart values)
#   scripts/k8s/images.sh import   # import every image into the running containerd
#   scripts/k8s/images.sh          # both
#   scripts/k8s/images.sh app [REF]  # only the project image, tagged REF (default
#                                  # $IMAGE, as skaffold's custom build sets it), imported
#                                  # also under the image-ID tag skaffold deploys
set -euo pipefail
shopt -s inherit_errexit # a failed build inside $(...) stops the script
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGES_DIR="$HGP_REPO/k8s/images"
ARCHIVES="$CACHE/images"
BUILDAH_RUN=/run/highgopress-buildah
DEBIAN_SUITE=bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt
mkdir -p "$ARCHIVES" "$NODE_RUN"

[[ $(id -u) -eq 0 ]] || die "building images needs root (buildah with overlay storage)"
ensure_node_packages

# One build at a time (node-up.sh, a build ahead of it, skaffold's); taken
# before the exit trap is set, so that one waiting here never unmounts
# another's build.
exec 6>"$ARCHIVES/.lock"
flock 6

# Buildah keeps its layers in the cache; its run state and mounts are removed
# on exit, and so is the blob-info cache it writes to /var/lib/containers
# whatever --root says, unless that directory was there before.
[[ -e /var/lib/containers ]] && made_containers_dir=0 || made_containers_dir=1
bh() { buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUN" --storage-driver overlay "$@"; }
cleanup_buildah() {
  bh unmount --all >/dev/null 2>&1 || true
  unmount_under "$BUILDAH_ROOT" "$BUILDAH_RUN" >/dev/null
  rm -rf "$BUILDAH_RUN"
  if [[ $made_containers_dir == 1 ]]; then rm -rf /var/lib/containers; fi
}
trap cleanup_buildah EXIT

# hash_inputs PATH|STRING... -> sha256 (12 hex) of the files under each path
# (names and contents) and of every other argument as a string
hash_inputs() {
  local a
  for a in "$@"; do
    if [[ -e $a ]]; then
      (cd "$a" 2>/dev/null && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) || sha256sum < "$a"
    else
      printf '%s\n' "$a"
    fi
  done | sha256sum | cut -c1-12
}

archive_of() { echo "$ARCHIVES/${1//[\/:]/_}.tar"; }

# build_image REF CONTEXT CONTAINERFILE [BUILD ARGS...] -> builds and saves REF
# unless its archive exists; prints REF
build_image() {
  local ref=$1 ctx=$2 file=$3; shift 3
  local archive start=$SECONDS
  archive=$(archive_of "$ref")
  if [[ -f $archive ]]; then log "$ref up to date"; echo "$ref"; return; fi
  log "building $ref"
  local args=() a
  for a in "$@"; do args+=(--build-arg "$a"); done
  mkdir -p "${npm_config_cache:-$HOME/.npm}"
  # RUN steps get the machine's npm cache and its CA bundle (package
  # registries may be reached through a proxy that only the machine's CAs
  # vouch for); neither ends up in the image.
  local npm_cache=${npm_config_cache:-$HOME/.npm}
  local mounts=(-v "$npm_cache:/root/.npm")
  if [[ -f $HOST_CA ]]; then
    printf 'cafile=%s\n' "$HOST_CA" > "$ARCHIVES/npmrc"
    mounts+=(-v "$HOST_CA:$HOST_CA:ro" -v "$ARCHIVES/npmrc:/usr/local/etc/npmrc:ro")
  fi
  # Buildah's chroot isolation now and then fails to start a RUN step
  # ("sealing memfd copy: Device or resource busy": the kernel gives up
  # waiting for pinned pages on a busy machine); a later try passes.
  local attempt log_file="$ARCHIVES/build.log"
  for attempt in 1 2 3; do
    # --layers: a stage whose inputs did not change (npm ci for an unchanged
    # package-lock.json) comes from buildah's cache; 10 s instead of 38 s for
    # the project image after a source change.
    bh build --quiet --isolation chroot --network host --pull-never --layers \
      --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
      "${mounts[@]}" -f "$file" -t "$ref" "${args[@]}" "$ctx" >/dev/null 2>"$log_file" && break
    tail -n 15 "$log_file" >&2
    [[ $attempt != 3 ]] || die "building $ref failed three times (the last try's output is above)"
    log "building $ref failed (try $attempt of 3); trying again in 5 s"
    sleep 5
  done
  bh push --quiet "$ref" "docker-archive:$archive.tmp:$ref" >&2
  mv "$archive.tmp" "$archive"
  log "built $ref in $((SECONDS - start)) s"
  echo "$ref"
}

# hashed NAME CONTEXT BASE... -> localhost/NAME:<hash of the context and bases>
hashed() { local name=$1; shift; echo "localhost/$name:$(hash_inputs "$@")"; }

# The Debian root filesystem every image starts from.
base_image() {
  local tag; tag=$(hash_inputs "debootstrap $DEBIAN_SUITE minbase ca-certificates")
  local ref="localhost/highgopress-debian:$tag"
  if bh inspect --type image "$ref" >/dev/null 2>&1; then echo "$ref"; return; fi
  local mirror; mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
  local tmp; tmp=$(mktemp -d "$ARCHIVES/debian.XXXXXX")
  log "making a Debian $DEBIAN_SUITE root filesystem with debootstrap from $mirror (once; about a minute)"
  debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$tmp/rootfs" "$mirror" > "$tmp/debootstrap.log" 2>&1 ||
    { tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed (log: $tmp/debootstrap.log)"; }
  rm -rf "$tmp/rootfs/var/lib/apt/lists/"* "$tmp/rootfs/var/cache/apt/"*.bin
  tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
  rm -rf "$tmp/rootfs"
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' > "$tmp/Containerfile"
  bh build --quiet --isolation chroot --pull-never -f "$tmp/Containerfile" -t "$ref" "$tmp" >/dev/null
  rm -rf "$tmp"
  echo "$ref"
}

# stage NAME -> a fresh build context with the image's own files
stage() {
  local ctx="$ARCHIVES/ctx/$1"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$IMAGES_DIR/$1/." "$ctx/"
  echo "$ctx"
}

node_image() {
  local base=$1 node_dir ctx
  # Always the pinned release, whatever node this machine has.
  node_dir=$("$HGP_REPO/scripts/with-node.sh" --pinned-dir)
  ctx=$(stage node)
  mkdir -p "$ctx/node/bin" "$ctx/node/lib"
  cp -a "$node_dir/bin/node" "$node_dir/bin/npm" "$node_dir/bin/npx" "$ctx/node/bin/"
  cp -a "$node_dir/lib/node_modules" "$ctx/node/lib/"
  build_image "$(hashed highgopress-node "$ctx" "$base")" "$ctx" "$ctx/Containerfile" "BASE=$base"
}

# The project image from its own Dockerfile (the runtime stage), on the local Node image.
app_tag() { hash_inputs "$HGP_REPO/Dockerfile" "$HGP_REPO/package.json" "$HGP_REPO/package-lock.json" \
  "$HGP_REPO/tsconfig.json" "$HGP_REPO/buf.yaml" "$HGP_REPO/buf.gen.yaml" "$HGP_REPO/proto" "$HGP_REPO/services" "$1"; }
app_image() { # app_image NODE_IMAGE [REF]
  local node=$1 ref=${2:-localhost/highgopress:$(app_tag "$1")}
  build_image "$ref" "$HGP_REPO" "$HGP_REPO/Dockerfile" "NODE_IMAGE=$node"
  prune_app_archives
}

# The project image changes with every source change, and each archive is
# ~440 MB: only the newest few of its own (content-hash names) and of
# skaffold's (image-ID names) are kept. Layers shared between builds stay in
# buildah's store, where they make the next build fast.
prune_app_archives() {
  local glob keep
  for glob in "localhost_highgopress_*.tar 4" "highgopress_*.tar 2"; do
    keep=${glob#* }
    # On a fresh machine a kind may have no archive yet: ls of nothing would fail the build.
    compgen -G "$ARCHIVES/${glob% *}" >/dev/null || continue
    # shellcheck disable=SC2012,SC2086 # names are ours: no spaces or newlines
    ls -t "$ARCHIVES"/${glob% *} | tail -n +$((keep + 1)) | xargs -r rm -f
  done
}

build_all() {
  local t0=$SECONDS base node ctx
  base=$(base_image)
  node=$(node_image "$base")
  APP_IMAGE=$(app_image "$node")

  ctx=$(stage redis)
  REDIS_IMAGE=$(build_image "$(hashed highgopress-redis "$ctx" "$base")" "$ctx" "$ctx/Containerfile" "BASE=$base")

  local libs; libs=$("$HGP_REPO/scripts/kafka.sh" jars)
  ctx=$(stage kafka)
  cp -al "$libs" "$ctx/libs" 2>/dev/null || cp -a "$libs" "$ctx/libs"
  KAFKA_IMAGE=$(build_image "$(hashed highgopress-kafka "$ctx" "$base")" "$ctx" "$ctx/Containerfile" "BASE=$base")

  ctx=$(stage prometheus)
  cp -a "$BIN/prometheus" "$ctx/prometheus"
  PROMETHEUS_IMAGE=$(build_image "$(hashed highgopress-prometheus "$ctx" "$base")" "$ctx" "$ctx/Containerfile" "BASE=$base")

  "$HGP_REPO/scripts/jaeger.sh" build >&2
  local jaeger; jaeger=$("$HGP_REPO/scripts/jaeger.sh" binary)
  ctx=$(stage jaeger)
  cp -a "$jaeger" "$ctx/jaeger"
  JAEGER_IMAGE=$(build_image "$(hashed highgopress-jaeger "$ctx" "$base")" "$ctx" "$ctx/Containerfile" "BASE=$base")

  ctx=$(stage coredns)
  cp -a "$BIN/coredns" "$ctx/coredns"
  COREDNS_IMAGE=$(build_image "$(hashed highgopress-coredns "$ctx" "$base")" "$ctx" "$ctx/Containerfile" "BASE=$base")

  ctx=$(stage pause)
  cp -a "$BIN/pause" "$ctx/pause"
  PAUSE_IMAGE=$(build_image "$(hashed highgopress-pause "$ctx")" "$ctx" "$ctx/Containerfile")

  local v
  for v in APP_IMAGE REDIS_IMAGE KAFKA_IMAGE PROMETHEUS_IMAGE JAEGER_IMAGE COREDNS_IMAGE PAUSE_IMAGE; do
    printf '%s=%q\n' "$v" "${!v}"
  done > "$NODE_RUN/images.env"
  # Chart values naming these images (k8s/values-node.yaml holds the rest).
  {
    printf 'image: {repository: %s, tag: "%s"}\n' "${APP_IMAGE%:*}" "${APP_IMAGE##*:}"
    local dep ref
    for dep in redis kafka prometheus jaeger; do
      v=${dep^^}_IMAGE
      ref=${!v}
      printf '%s:\n  image: {repository: %s, tag: "%s"}\n' "$dep" "${ref%:*}" "${ref##*:}"
    done
  } > "$NODE_RUN/images-values.yaml"
  log "images ready in $((SECONDS - t0)) s ($NODE_RUN/images.env)"
}

# normalized REF -> the name containerd stores it under (docker.io/library/x:t for x:t)
normalized() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then echo "docker.io/library/$ref"
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then echo "docker.io/$ref"
  else echo "$ref"; fi
}

# ctr on the node's containerd, without its warning that cgroup v1 is deprecated
# (printed on every call; these machines have nothing else)
node_ctr() { "$BIN/ctr" --address "$NODE_STATE/containerd.sock" -n k8s.io "$@" 2> >(grep -v "cgroup v1 is deprecated" >&2); }

# import_image REF -> into containerd's k8s.io namespace unless already there
import_image() {
  local ref=$1
  if node_ctr images ls -q "name==$(normalized "$ref")" | grep . >/dev/null; then return; fi
  log "importing $ref into containerd"
  # --local: ctr reads the archive itself and sends containerd only the
  # blobs it lacks. Through containerd 2's transfer service (ctr's default)
  # the whole archive, ~440 MB for the project image of which a source
  # change alters a few MB, is streamed every time: 9 s instead of 4-5.
  node_ctr images import --local --snapshotter overlayfs "$(archive_of "$ref")" >/dev/null
}

import_all() {
  [[ -f "$NODE_RUN/images.env" ]] || die "no images built yet: run scripts/k8s/images.sh build"
  # shellcheck disable=SC1091
  . "$NODE_RUN/images.env"
  local v
  for v in APP_IMAGE REDIS_IMAGE KAFKA_IMAGE PROMETHEUS_IMAGE JAEGER_IMAGE COREDNS_IMAGE PAUSE_IMAGE; do
    import_image "${!v}"
  done
}

case ${1:-all} in
  build) build_all ;;
  import) import_all ;;
  all) build_all; import_all ;;
  app)
    ref=${2:-${IMAGE:-}}
    [[ -n $ref ]] || die "usage: scripts/k8s/images.sh app REF (or IMAGE=REF)"
    node=$(node_image "$(base_image)")
    same="localhost/highgopress:$(app_tag "$node")"
    if bh inspect --type image "$same" >/dev/null 2>&1 && node_ctr images ls -q "name==$(normalized "$same")" | grep . >/dev/null; then
      # The image of exactly these inputs is built and on the node already
      # (make cluster-up, or an earlier build): REF becomes a second name for it.
      log "$ref has the inputs of $same, which the node has: tagged, not rebuilt"
      bh tag "$same" "$ref"
      node_ctr images tag --force "$(normalized "$same")" "$(normalized "$ref")" >/dev/null
    else
      # skaffold's tag is its own hash of the sources, not this script's: build
      # whatever an archive of that name holds.
      rm -f "$(archive_of "$ref")"
      app_image "$node" "$ref" >/dev/null
      node_ctr images rm "$(normalized "$ref")" >/dev/null 2>&1 || true
      import_image "$ref"
    fi
    # skaffold deploys <name>:<image ID> (the ID its Docker API reports for REF).
    id=$(bh inspect --type image --format '{{.FromImageID}}' "$ref")
    node_ctr images tag --force "$(normalized "$ref")" "$(normalized "${ref%:*}:${id#sha256:}")" >/dev/null
    ;;
  *) die "usage: scripts/k8s/images.sh [build|import|all|app REF]" ;;
esac
