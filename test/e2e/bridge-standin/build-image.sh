#!/usr/bin/env bash
# Builds the e2e test's bridge STAND-IN image (not the real bridge; see README.md):
#
#   build-image.sh qq       -> kit-e2e/matrix-qq-standin:0.2.1
#   build-image.sh wechat   -> kit-e2e/matrix-wechat-standin:0.2.4
#   build-image.sh all      -> both
#   options: --force (rebuild even when up to date)
#
# The static binary is built on the host (CGO_ENABLED=0; Go's build cache makes a rebuild
# cheap), then `docker build` copies it onto kit-e2e/debian:bookworm (made by
# test/e2e/images/build.sh) with Debian's wget and ca-certificates. The image carries
# kit.e2e.recipe=<sha256 of the Go sources, go.mod, go.sum, Dockerfile, this script, the Go
# version and the base image's own recipe>; when the existing image has that label, nothing is
# built. The binary goes to <repo>/.cache/e2e/bridge-standin/ (git-ignored), never the tree.
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=$repo/.cache/e2e/bridge-standin
BASE_IMAGE=kit-e2e/debian:bookworm
LABEL=kit.e2e.recipe

log() { printf '\033[1m[bridge-standin]\033[0m %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

force=0
kinds=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    qq | wechat) kinds+=("$arg") ;;
    all) kinds+=(qq wechat) ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
((${#kinds[@]})) || { sed -n '2,15p' "$0" >&2; exit 2; }

command -v go >/dev/null || die "go is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine at ${DOCKER_HOST:-the default socket} (start dockerd?)"
base_recipe=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$BASE_IMAGE" 2>/dev/null) ||
  die "$BASE_IMAGE is missing: run test/e2e/images/build.sh base first"
# A base without the label (hand-made) is identified by its image id instead.
[[ -n $base_recipe && $base_recipe != "<no value>" ]] || base_recipe=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")

recipe_hash() {
  {
    printf '%s\n' "base=$base_recipe" "go=$(go env GOVERSION)" "goarch=amd64"
    (cd "$here" && find . -maxdepth 1 -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \
      -o -name Dockerfile -o -name build-image.sh \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

binary_built=0
build_binary() {
  ((binary_built)) && return
  local t=$(now)
  mkdir -p "$cache"
  (cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -buildvcs=false -ldflags '-s -w' \
    -o "$cache/bridge-standin" .)
  log "go build (static, CGO_ENABLED=0): $(since "$t")s, $(du -h "$cache/bridge-standin" | cut -f1)"
  binary_built=1
}

build_one() { # kind
  local kind=$1 image version upstream hash current old t
  case $kind in
    qq) version=0.2.1 upstream="github.com/duo/matrix-qq 0.2.1" ;;
    wechat) version=0.2.4 upstream="github.com/duo/matrix-wechat 0.2.4" ;;
  esac
  image=kit-e2e/matrix-$kind-standin:$version
  hash=$(recipe_hash)
  current=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$image" 2>/dev/null || true)
  if ((force == 0)) && [[ $current == "$hash" ]]; then
    log "$image: up to date (recipe ${hash:0:12}), skipped"
    return
  fi
  build_binary
  t=$(now)
  old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  log "$image: docker build FROM $BASE_IMAGE"
  # The context is streamed as a tar: the Dockerfile from here, the binary from the cache.
  if ! tar --owner=0 --group=0 -cf - -C "$here" Dockerfile -C "$cache" bridge-standin |
    docker build \
      --build-arg "BASE=$BASE_IMAGE" --build-arg "KIND=$kind" \
      --label "$LABEL=$hash" \
      --label "kit.e2e.standin=true" \
      --label "org.opencontainers.image.title=matrix-$kind stand-in (NOT the real bridge)" \
      --label "org.opencontainers.image.description=e2e test stand-in for $upstream, written for the kit; bridges no messages" \
      -t "$image" - >"$cache/docker-build-$kind.log" 2>&1; then
    tail -n 30 "$cache/docker-build-$kind.log" >&2
    die "$image: docker build failed (full log: $cache/docker-build-$kind.log)"
  fi
  # The previous build is now untagged: drop it unless something still uses it.
  if [[ -n $old && $(docker image inspect -f '{{.Id}}' "$image") != "$old" &&
    $(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null) == 0 ]]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
  log "$image: built in $(since "$t")s (recipe ${hash:0:12}, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=si)B)"
}

total=$(now)
for k in "${kinds[@]}"; do build_one "$k"; done
log "total $(since "$total")s"
