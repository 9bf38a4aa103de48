#!/usr/bin/env bash
# image.sh - build the OCI image of deploy/Containerfile without a registry:
#   1. the Debian base: deploy/base-image.sh once per machine, cached as
#      $IVOA_BROKER_IMAGE_CACHE/base-<release>.tar (default /var/cache/ivoa-broker), imported
#      as localhost/ivoa-broker-base:<release> when the engine does not have it yet;
#   2. wheels of the broker and the local platform (pip wheel on the host, from a copy of the
#      sources, so the checkout stays clean) and of their dependencies (made once per machine
#      and dependency set, cached as $IVOA_BROKER_IMAGE_CACHE/wheels-<hash>);
#   3. $PODMAN build (docker format, so HEALTHCHECK is kept).
#
#   deploy/image.sh [TAG]     # default localhost/ivoa-broker:latest
#
# PODMAN is the engine command with its options (default "podman"; "docker" works too),
# PYTHON the interpreter whose pip builds the wheels (default python3; 3.11 like the image).
set -euo pipefail
tag=${1:-localhost/ivoa-broker:latest}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
podman=${PODMAN:-podman}
python=${PYTHON:-python3}
cache=${IVOA_BROKER_IMAGE_CACHE:-/var/cache/ivoa-broker}
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
base_tar="$cache/base-$release.tar"
base_image="localhost/ivoa-broker-base:$release"

mkdir -p "$cache"
# one debootstrap per machine even when several builds start at once
(flock 9; "$here/base-image.sh" "$base_tar" "$release") 9>"$cache/.base-$release.lock"
# shellcheck disable=SC2086
if ! $podman image inspect "$base_image" >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  $podman import --quiet "$base_tar" "$base_image" >/dev/null
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/ivoa-broker-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/src" "$ctx/wheels"
tar -C "$root" --exclude=__pycache__ --exclude='*.egg-info' --exclude=build --exclude=tests \
  -cf - setup.cfg pyproject.toml README.md ivoa_broker adapters/local | tar -C "$ctx/src" -xf -
# the dependencies' wheels once per machine and dependency set (cached next to the base);
# the broker's own two wheels every time (they are what changed)
key=$( (echo build-tools-1
  sed -n '/^install_requires/,/^[[]/p' "$root/setup.cfg"
  grep '^dependencies' "$root/adapters/local/pyproject.toml") | sha256sum | cut -c1-16)
deps="$cache/wheels-$key"
if [ ! -d "$deps" ]; then
  fresh=$(mktemp -d "$cache/.wheels.XXXXXX")
  "$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$fresh" \
    "setuptools>=68" wheel "$ctx/src" "$ctx/src/adapters/local"
  rm -f "$fresh"/ivoa_broker-*.whl "$fresh"/ivoa_broker_local-*.whl
  mv -T "$fresh" "$deps" 2>/dev/null || rm -rf "$fresh"   # another build was first
fi
# their build backend (setuptools, wheel) comes from the cache too: no index is asked
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-index \
  --find-links "$deps" --wheel-dir "$ctx/wheels" "$ctx/src" "$ctx/src/adapters/local"
cp "$deps"/*.whl "$ctx/wheels/"
cp "$here/container.toml" "$ctx/container.toml"
# shellcheck disable=SC2086
$podman build --quiet --format docker --build-arg "BASE=$base_image" \
  -f "$here/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "$tag"
