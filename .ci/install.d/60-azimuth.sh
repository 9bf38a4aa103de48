#!/usr/bin/env bash
# The Azimuth adapter's tests: the emulated portal's machines run their cloud-init user data
# as local /bin/sh scripts that report with curl (the Python side, azimuth-sdk included, comes
# from requirements-dev.txt). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v curl >/dev/null; then
  echo "60-azimuth.sh: installing curl" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends curl ca-certificates >/dev/null
fi
command -v curl >/dev/null
