#!/usr/bin/env bash
# Builds, on the local Docker engine ($DOCKER_HOST as usual), the images the e2e tests use in
# place of registry images (no registry is reachable on our machines):
#
#   kit-e2e/debian:bookworm       minbase debootstrap, `docker import`ed      (base/)
#   kit-e2e/postgres:15-bookworm  Debian's postgresql-15, official-style entrypoint (postgres/)
#   kit-e2e/debian:trixie         the same for Debian 13, the base of:
#   kit-e2e/postgres:17-trixie    Debian 13's postgresql-17: the e2e moves to it by backup and restore (postgres-next)
#   kit-e2e/synapse:v1.163.2      matrix-synapse from host-downloaded wheels   (synapse/)
#   kit-e2e/synapse:v1.162.0      the same recipe, the release before: the e2e upgrades from it (synapse-previous)
#   kit-e2e/haproxy:2.6           Debian's haproxy, the official image's config path (haproxy/): the Docker filter
#
# Each image carries the label kit.e2e.recipe=<sha256 of its recipe files, versions and parent>
# and is rebuilt only when that changes, so a warm run takes seconds. Downloads are cached under
# <repo>/.cache/e2e (git-ignored): the rootfs tarball and the Synapse wheels.
#
# Usage: test/e2e/images/build.sh [--force] [base|postgres|postgres-next|synapse|synapse-previous|haproxy ...]   (default: all)
#   --force  rebuild even when the labels match (cached downloads and docker layers are reused;
#            delete <repo>/.cache/e2e for a build from nothing).
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../infra/cli/packages.sh"
mkdir -p "$here/../../../.cache/e2e"
cache=$(cd "$here/../../../.cache/e2e" && pwd)

DEBIAN_SUITE=bookworm
# PostgreSQL's next major version comes from the next Debian release (bookworm has 15 only).
NEXT_SUITE=trixie
NEXT_PG_MAJOR=17
DEBIAN_MIRROR=http://deb.debian.org/debian
ARCH=amd64
PG_MAJOR=15
SYNAPSE_VERSION=1.163.2
SYNAPSE_PREVIOUS_VERSION=1.162.0
# bookworm's haproxy package is 2.6.x.
HAPROXY_VERSION=2.6
# The wheels are chosen for the container's interpreter, not the host's: bookworm's python3 is
# 3.11 and its glibc 2.36, so any manylinux_2_5 .. manylinux_2_36 x86_64 wheel runs there.
WHEEL_PYTHON=3.11
WHEEL_GLIBC_MINOR=36
WHEEL_ARCH=x86_64

BASE_IMAGE=kit-e2e/debian:$DEBIAN_SUITE
LABEL=kit.e2e.recipe

# What `docker import` writes into the base image's config (part of its recipe hash).
# PATH must be explicit: an imported image has no ENV at all, and Dockerfiles extend $PATH.
BASE_CHANGES=(
  "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "ENV LANG=C.UTF-8"
  'CMD ["bash"]'
)

force=0
targets=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    base | postgres | postgres-next | synapse | synapse-previous | haproxy) targets+=("$arg") ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(base postgres postgres-next synapse synapse-previous haproxy)

if [[ -t 2 ]]; then tag=$'\e[1m[e2e-images]\e[0m'; else tag='[e2e-images]'; fi
log() { printf '%s %s\n' "$tag" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

# sha256 over the given strings and every file (path, mode, content) under a recipe directory.
recipe_hash() {
  local dir=$1; shift
  {
    printf '%s\n' "$@"
    (cd "$dir" && find . -type f -printf '%m %p\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

image_recipe() { docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

up_to_date() { # image hash
  ((force == 0)) && [[ $(image_recipe "$1") == "$2" ]]
}

# After a rebuild the previous image is untagged: drop it unless something still uses it.
drop_if_dangling() { # old-image-id
  [[ -n $1 ]] || return 0
  [[ $(docker image inspect -f '{{len .RepoTags}}' "$1" 2>/dev/null) == 0 ]] || return 0
  docker rmi "$1" >/dev/null 2>&1 && log "removed the previous, now untagged image ${1:7:12}" || true
}

declare -A took status
timed() { # name command...
  local name=$1 start=$EPOCHREALTIME; shift
  "$@"
  took[$name]=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  log "$name: ${status[$name]} in ${took[$name]}s"
}

declare -A base_hash
build_base() { # name suite
  local name=$1 suite=$2 image=kit-e2e/debian:$2 rootfs_hash hash tarball old
  rootfs_hash=$(recipe_hash "$here/base" "suite=$suite" "mirror=$DEBIAN_MIRROR" "arch=$ARCH")
  hash=$(printf '%s\n' "$rootfs_hash" "${BASE_CHANGES[@]}" | sha256sum | cut -d' ' -f1)
  base_hash[$suite]=$hash
  if up_to_date "$image" "$hash"; then status[$name]="up to date ($image, recipe ${hash:0:12})"; return; fi

  tarball=$cache/debian-$suite-$ARCH-minbase-${rootfs_hash:0:12}.tar
  if [[ -s $tarball ]]; then
    log "$name: using cached rootfs $tarball"
  else
    need debootstrap debootstrap
    install_needed "$name"
    log "$name: debootstrap --variant=minbase $suite from $DEBIAN_MIRROR -> $tarball"
    "$here/base/mkrootfs.sh" "$suite" "$DEBIAN_MIRROR" "$ARCH" "$tarball"
    # Tarballs of older recipes are never used again.
    find "$cache" -maxdepth 1 -name "debian-$suite-$ARCH-minbase-*.tar" ! -path "$tarball" -print -delete |
      sed 's/^/[e2e-images] removed stale /' >&2
  fi

  old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  local changes=() c
  for c in "${BASE_CHANGES[@]}" "LABEL $LABEL=$hash"; do changes+=(--change "$c"); done
  log "$name: docker import $tarball -> $image"
  docker import "${changes[@]}" --message "kit e2e: debootstrap minbase $suite" "$tarball" "$image" >/dev/null
  drop_if_dangling "$old"
  status[$name]="built $image (recipe ${hash:0:12})"
}

# docker build of one recipe directory; extra tar members (wheels) are appended to its context.
docker_build() { # name image hash dir [--extra dir-containing member] -- build-args...
  local name=$1 image=$2 hash=$3 dir=$4 old; shift 4
  local extra=()
  while [[ ${1:-} == --extra ]]; do extra+=(-C "$2" "$3"); shift 3; done
  old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  log "$name: docker build $dir -> $image"
  # The context is streamed as a tar so host-cached files outside the recipe dir can join it
  # without being copied into the source tree.
  tar --owner=0 --group=0 -C "$dir" -cf - . "${extra[@]}" |
    docker build --label "$LABEL=$hash" --build-arg "BASE=$BASE_IMAGE" "$@" -t "$image" -
  drop_if_dangling "$old"
  # Untagged intermediate stages (labelled kit.e2e.stage in their Dockerfile) of older recipes.
  local id
  for id in $(docker images -q --no-trunc -f dangling=true -f "label=kit.e2e.stage"); do
    [[ $(image_recipe "$id") == "$hash" ]] || drop_if_dangling "$id"
  done
  status[$name]="built $image (recipe ${hash:0:12})"
}

build_postgres() { # name major suite
  local name=$1 major=$2 suite=$3 image=kit-e2e/postgres:$2-$3 hash
  # docker_build builds FROM $BASE_IMAGE: this suite's.
  local BASE_IMAGE=kit-e2e/debian:$suite
  hash=$(recipe_hash "$here/postgres" "base=${base_hash[$suite]}" "pg_major=$major")
  if up_to_date "$image" "$hash"; then status[$name]="up to date ($image, recipe ${hash:0:12})"; return; fi
  docker_build "$name" "$image" "$hash" "$here/postgres" --build-arg "PG_MAJOR=$major"
}

build_haproxy() { # name
  local name=$1 image=kit-e2e/haproxy:$HAPROXY_VERSION hash
  hash=$(recipe_hash "$here/haproxy" "base=${base_hash[$DEBIAN_SUITE]}" "haproxy=$HAPROXY_VERSION")
  if up_to_date "$image" "$hash"; then status[$name]="up to date ($image, recipe ${hash:0:12})"; return; fi
  docker_build "$name" "$image" "$hash" "$here/haproxy"
}

# Wheels are downloaded on the host: pip inside a container does not trust the proxy's CA.
fetch_wheels() { # version
  local version=$1 dir=$cache/synapse-wheels-$1
  local spec="matrix-synapse==$version python=$WHEEL_PYTHON glibc=2.$WHEEL_GLIBC_MINOR arch=$WHEEL_ARCH"
  if [[ -f $dir/.spec && $(<"$dir/.spec") == "$spec" ]]; then
    log "synapse: using cached wheels in $dir"
    return
  fi
  log "synapse: pip download $spec -> $dir"
  # pip does not widen --platform to older glibc tags by itself (only the legacy aliases), so
  # every manylinux tag up to bookworm's glibc is listed.
  local platforms=() v
  for v in $(seq "$WHEEL_GLIBC_MINOR" -1 5); do platforms+=(--platform "manylinux_2_${v}_$WHEEL_ARCH"); done
  platforms+=(--platform "manylinux2014_$WHEEL_ARCH" --platform "manylinux2010_$WHEEL_ARCH" --platform "manylinux1_$WHEEL_ARCH")
  rm -rf "$dir.part"
  python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version "$WHEEL_PYTHON" --implementation cp --abi "cp${WHEEL_PYTHON/./}" \
    "${platforms[@]}" -d "$dir.part" "matrix-synapse==$version"
  printf '%s' "$spec" >"$dir.part/.spec"
  rm -rf "$dir" && mv "$dir.part" "$dir"
  log "synapse: $(find "$dir" -name '*.whl' | wc -l) wheels, $(du -sh "$dir" | cut -f1)"
}

build_synapse() { # name version
  local name=$1 version=$2 image=kit-e2e/synapse:v$2 hash wheels_sum ca_sum
  fetch_wheels "$version"
  wheels_sum=$(cd "$cache/synapse-wheels-$version" && sha256sum ./*.whl | sha256sum | cut -d' ' -f1)
  # This machine reaches PyPI through a TLS-intercepting proxy only the host's bundle trusts; the
  # image gets that bundle so pip in it (the upkeep job installs the state compressor) works as
  # the official image's pip does on a VPS with plain internet access.
  mkdir -p "$cache/host-ca" && cp /etc/ssl/certs/ca-certificates.crt "$cache/host-ca/ca-certificates.crt"
  ca_sum=$(sha256sum "$cache/host-ca/ca-certificates.crt" | cut -d' ' -f1)
  hash=$(recipe_hash "$here/synapse" "base=${base_hash[$DEBIAN_SUITE]}" "synapse=$version" "wheels=$wheels_sum" "ca=$ca_sum")
  if up_to_date "$image" "$hash"; then status[$name]="up to date ($image, recipe ${hash:0:12})"; return; fi
  docker_build "$name" "$image" "$hash" "$here/synapse" --extra "$cache" "synapse-wheels-$version" --extra "$cache" host-ca \
    --build-arg "SYNAPSE_VERSION=$version" --build-arg "WHEELS=synapse-wheels-$version" --build-arg "RECIPE=$hash"
}

docker info >/dev/null 2>&1 || die "no Docker engine at ${DOCKER_HOST:-the default socket} (start dockerd?)"

total_start=$EPOCHREALTIME
# The other images are built FROM the base, so it is always brought up to date first.
timed base build_base base "$DEBIAN_SUITE"
for t in "${targets[@]}"; do
  case $t in
    postgres) timed postgres build_postgres postgres "$PG_MAJOR" "$DEBIAN_SUITE" ;;
    postgres-next)
      timed base-next build_base base-next "$NEXT_SUITE"
      timed postgres-next build_postgres postgres-next "$NEXT_PG_MAJOR" "$NEXT_SUITE"
      ;;
    synapse) timed synapse build_synapse synapse "$SYNAPSE_VERSION" ;;
    synapse-previous) timed synapse-previous build_synapse synapse-previous "$SYNAPSE_PREVIOUS_VERSION" ;;
    haproxy) timed haproxy build_haproxy haproxy ;;
  esac
done

log "summary:"
for t in base base-next "${targets[@]}"; do
  [[ -n ${took[$t]:-} ]] || continue
  printf '  %-16s %7ss  %s\n' "$t" "${took[$t]}" "${status[$t]}" >&2
  took[$t]=
done
log "total $(awk -v a="$total_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
