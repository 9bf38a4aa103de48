#!/usr/bin/env bash
# 30-containers.sh - Docker Engine (Debian docker.io: dockerd + containerd + runc) and rootful Podman
# (its Docker-compatible API service), plus busybox-static for the tiny local test image (no registry
# is reachable: adapters/docker/tests build the image from /bin/busybox and import it).
# Installs only what is missing; starts nothing (the tests start private daemons themselves).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs="docker.io podman runc iptables uidmap catatonit busybox-static"
missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -z "$missing" ] && exit 0
echo "30-containers.sh: installing $missing" >&2
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
