#!/usr/bin/env bash
# 35-debootstrap.sh - debootstrap (Debian) and curl for tests/test_container_image.py: no registry
# is reachable, so deploy/base-image.sh makes the image's Debian base from Debian packages (once
# per machine, cached in /var/cache/ivoa-broker) and the test talks to the container with curl.
# Podman itself comes from 30-containers.sh. Installs only what is missing; starts nothing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs="debootstrap curl"
missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -z "$missing" ] && exit 0
echo "35-debootstrap.sh: installing $missing" >&2
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
