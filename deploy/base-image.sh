#!/usr/bin/env bash
# base-image.sh - a Debian root file system for deploy/Containerfile, from Debian packages only
# (no registry needed): debootstrap --variant=minbase with python3 and python3-venv, packed as a
# tar that `podman import` (or `docker import`) turns into the base image.
#
#   deploy/base-image.sh OUT.tar [SUITE] [MIRROR]
#
# SUITE defaults to the host's Debian codename (bookworm on Debian 12), MIRROR to
# http://deb.debian.org/debian. Root is needed (debootstrap). The tar is written next to OUT
# first and renamed at the end, so a reader never sees half a file; if OUT exists nothing is done.
set -euo pipefail
out=${1:?usage: base-image.sh OUT.tar [SUITE] [MIRROR]}
suite=${2:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
mirror=${3:-http://deb.debian.org/debian}
[ -s "$out" ] && exit 0
command -v debootstrap >/dev/null || { echo "base-image.sh: debootstrap is not installed" >&2; exit 3; }
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "base-image.sh: debootstrap $suite from $mirror (a few minutes, once per machine)" >&2
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$work/root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# what an image does not need: package caches and lists, docs, man pages
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
  "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/usr/share/locale/"*
tar --numeric-owner -C "$work/root" -cf "$work/base.tar" .
mv "$work/base.tar" "$out"
