#!/usr/bin/env bash
# 35-oidc-provider.sh - idempotent install of the real OpenID provider the identity tests start
# (Debian 12, root): node's `oidc-provider` (panva, OpenID Certified) from npm into
# $OIDC_PREFIX/node_modules (default /opt/ivoa-broker-oidc); nodejs/npm from Debian if missing.
# The fixture (tests/oidc/conftest.py) runs tests/oidc/provider.mjs with NODE_PATH there, or
# where IVOA_BROKER_OIDC_NODE_MODULES says.
set -euo pipefail
PREFIX=${OIDC_PREFIX:-/opt/ivoa-broker-oidc}
export DEBIAN_FRONTEND=noninteractive

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# oidc-provider 9 (tested: 9.13.3 on node 20.20) needs node >= 20; the tests' provider.mjs does
# not run on oidc-provider 8 (its keystore refuses the fixture's keys), so older node stops here.
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "35-oidc-provider.sh: node $(node --version) is too old for oidc-provider 9 (needs >= 20)" >&2
  exit 1
fi
SPEC=${OIDC_PROVIDER_SPEC:-"oidc-provider@^9"}

if [ ! -f "$PREFIX/node_modules/oidc-provider/package.json" ]; then
  mkdir -p "$PREFIX"
  [ -f "$PREFIX/package.json" ] || echo '{"name":"ivoa-broker-oidc","private":true,"type":"module"}' >"$PREFIX/package.json"
  (cd "$PREFIX" && npm install --silent --no-audit --no-fund --prefix "$PREFIX" "$SPEC" >/dev/null)
fi
version=$(node -p "require('$PREFIX/node_modules/oidc-provider/package.json').version")
echo "35-oidc-provider.sh: oidc-provider $version in $PREFIX/node_modules (node $(node --version))" >&2
