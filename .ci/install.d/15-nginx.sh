#!/usr/bin/env bash
# nginx (Debian) for the reverse-proxy tests: a prefix-stripping proxy in front of the broker.
# Only the binary is used; the tests start their own nginx with their own config on free ports,
# so the package's own service is stopped and disabled if the package starts it.
set -euo pipefail
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "install.d/15-nginx: installing nginx-light" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nginx-light >/dev/null
  # the Debian package may start a default server on :80; the tests never use it
  if [ -f /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
fi
