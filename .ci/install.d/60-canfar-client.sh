#!/usr/bin/env bash
# The official CANFAR client (PyPI `canfar` 1.5.x) in its own virtualenv, as a user installs it,
# for adapters/canfar/tests/test_canfar_official_client.py (which makes one per run from PyPI
# when this one is missing). typer<0.29: `canfar create` 1.5.2 imports typer._click.types,
# which typer 0.29 removed.
set -euo pipefail
VENV=${IVOA_BROKER_CANFAR_CLIENT:-/opt/ivoa-broker/canfar-client}
PY=${PYTHON:-python3}
if "$VENV/bin/python" -c 'import canfar, typer._click.types, sys; sys.exit(not canfar.__version__.startswith("1.5"))' 2>/dev/null; then
  exit 0
fi
echo "60-canfar-client: installing canfar 1.5.x into $VENV" >&2
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check 'canfar>=1.5,<1.6' 'typer<0.29'
"$VENV/bin/python" -c 'import canfar; print("60-canfar-client: canfar", canfar.__version__)' >&2
