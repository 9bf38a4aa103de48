#!/usr/bin/env bash
# Install everything the whole test suite needs on a fresh Debian 12 machine (as root):
# Debian packages for the real platforms the tests start (OpenSSH; the OpenStack control plane's
# RabbitMQ, MariaDB and its own venv of OpenStack services), then the broker, every adapter and
# the conformance suite in editable mode. Idempotent: quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
  fi
  bash adapters/openstack/stack/install.sh
  # one idempotent script per platform or tool the tests start (Slurm, containers, hubs, ...)
  for part in .ci/install.d/*.sh; do
    [ -e "$part" ] || continue
    echo "install.sh: $part" >&2
    bash "$part"
  done
else
  echo "install.sh: not root or no apt-get: platform packages not installed; their tests will skip" >&2
fi

"$PY" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
