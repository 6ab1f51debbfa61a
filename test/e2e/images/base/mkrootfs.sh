#!/usr/bin/env bash
# Usage: mkrootfs.sh SUITE MIRROR ARCH OUT.tar
# A minbase debootstrap of Debian, trimmed for a container and packed for `docker import`.
# There is no registry to pull debian:bookworm from, so this is the root of every e2e image.
set -Eeuo pipefail
suite=$1 mirror=$2 arch=$3 out=$4

work=$(mktemp -d "${TMPDIR:-/tmp}/kit-e2e-rootfs.XXXXXX")
root=$work/rootfs
cleanup() {
  # debootstrap mounts /proc and /sys inside the target and can leave them behind when it
  # fails: unmount first so rm never walks into the host's /proc or /sys.
  awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

debootstrap --variant=minbase --arch="$arch" "$suite" "$root" "$mirror"

# No init in a container: package scripts must not try to start services during `docker build`.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# Docker provides these per container; the host's copies must not leak into the image.
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

# Keep images small the way Debian's official (slim) images do: apt drops downloaded .debs
# after each install (they were 150 MB of the PostgreSQL image), dpkg skips docs and man pages.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CONF
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*

# Every Dockerfile starts with `apt-get update`; stale lists and .debs only cost space.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
find "$root/var/log" -type f -delete

tar --numeric-owner --one-file-system -C "$root" -cf "$out.part" .
mv "$out.part" "$out"
