#!/usr/bin/env bash
# Kubernetes adapter tests: kubectl (Debian's kubernetes-client) drives the API emulator;
# openssl makes the emulator's throw-away TLS certificate (kubectl sends tokens only over TLS).
# No control plane is installed: none is obtainable on Debian 12 (see the adapter README).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v openssl >/dev/null || missing+=(openssl)
command -v unshare >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "40-kubernetes.sh: installing ${missing[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v kubectl >/dev/null
