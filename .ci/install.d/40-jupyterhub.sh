#!/usr/bin/env bash
# 40-jupyterhub.sh - idempotent install of the real JupyterHub the jupyterhub (and binderhub) adapter
# tests start (Debian 12, root):
#   - a dedicated venv ($JHUB_VENV, default /opt/ivoa-broker-jupyterhub/venv) with jupyterhub,
#     jupyterlab, notebook and ipykernel from PyPI, so the hub's pins never touch the broker's env;
#   - configurable-http-proxy from npm into $JHUB_PREFIX/node_modules (nodejs/npm from Debian if missing).
# The test fixture (ivoa_broker_jupyterhub.testing) finds both there, or where JHUB_VENV / JHUB_CHP say.
set -euo pipefail
PREFIX=${JHUB_PREFIX:-/opt/ivoa-broker-jupyterhub}
VENV=${JHUB_VENV:-$PREFIX/venv}
# The versions this was developed with; override with JHUB_PIP_SPECS.
# jsonschema<4.24: newer ones pull rfc3987-syntax, whose import builds a Lark grammar (seconds of
# CPU on every single-user server start, through jupyter-events); 4.23 validates the same formats.
SPECS=${JHUB_PIP_SPECS:-"jupyterhub>=5,<7 jupyterlab>=4 notebook>=7 ipykernel>=6 jsonschema[format-nongpl]<4.24"}
CHP_SPEC=${JHUB_CHP_SPEC:-"configurable-http-proxy@^5"}
export DEBIAN_FRONTEND=noninteractive

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

if [ ! -x "$VENV/bin/jupyterhub" ] || ! "$VENV/bin/python" -c "import jupyterhub, jupyterlab, notebook, ipykernel" 2>/dev/null \
   || ! "$VENV/bin/python" -c "import sys, jsonschema._format; sys.exit('rfc3987_syntax' in sys.modules)"; then
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $SPECS 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import jupyterhub, jupyterlab, notebook, ipykernel"
fi

if [ ! -x "$PREFIX/node_modules/.bin/configurable-http-proxy" ]; then
  mkdir -p "$PREFIX"
  (cd "$PREFIX" && npm install --silent --no-audit --no-fund --prefix "$PREFIX" "$CHP_SPEC" >/dev/null)
fi
"$PREFIX/node_modules/.bin/configurable-http-proxy" --version >/dev/null
echo "40-jupyterhub.sh: jupyterhub $("$VENV/bin/jupyterhub" --version) in $VENV," \
  "configurable-http-proxy $("$PREFIX/node_modules/.bin/configurable-http-proxy" --version)" >&2
