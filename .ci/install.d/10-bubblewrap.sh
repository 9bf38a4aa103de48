#!/usr/bin/env bash
# bubblewrap (Debian): the local adapter's default job sandbox (adapters/local/_sandbox.py).
# Without it the local platform refuses to run jobs unless its config says sandbox = "none".
set -euo pipefail
if ! command -v bwrap >/dev/null; then
  echo "install.d/10-bubblewrap: installing bubblewrap" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends bubblewrap >/dev/null
fi
# the sandbox needs user namespaces; say so plainly if the machine forbids them
if ! bwrap --unshare-user --unshare-pid --ro-bind /usr /usr --symlink usr/bin /bin \
    --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev -- /bin/true; then
  echo "install.d/10-bubblewrap: bwrap cannot create namespaces here (user namespaces off?)" >&2
  exit 1
fi
