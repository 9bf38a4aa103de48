#!/usr/bin/env bash
# git for the BinderHub emulator and tests (adapters/binderhub): the tests make local
# repositories, serve one over git's HTTP protocol, and the emulator clones them (git's HTTP
# transport, git-remote-http, is part of Debian's git package). JupyterHub: 40-jupyterhub.sh.
set -euo pipefail
if command -v git >/dev/null 2>&1 && [ -x "$(git --exec-path)/git-remote-http" ]; then
  exit 0
fi
echo "45-binderhub: installing git" >&2
apt-get install -y -q -o DPkg::Lock::Timeout=600 git >&2
