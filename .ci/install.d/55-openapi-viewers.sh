#!/usr/bin/env bash
# 55-openapi-viewers.sh - the OpenAPI tools tests/eb/test_openapi_viewers.py checks /openapi.yaml
# with, from npm into /opt/openapi-viewers: Redocly's CLI (lint), Redoc and Swagger UI (their
# standalone bundles, rendered offline in headless Debian chromium, which 45-chromium.sh
# installs; without it only the lint runs). Installs only what is missing.
set -euo pipefail
prefix=/opt/openapi-viewers
want="@redocly/cli@2.77.0 redoc@2.5.4 swagger-ui-dist@5.35.0"
if [ -x "$prefix/node_modules/.bin/redocly" ] \
  && [ -f "$prefix/node_modules/redoc/bundles/redoc.standalone.js" ] \
  && [ -f "$prefix/node_modules/swagger-ui-dist/swagger-ui-bundle.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "55-openapi-viewers.sh: installing nodejs and npm (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "55-openapi-viewers.sh: npm install $want into $prefix" >&2
# shellcheck disable=SC2086
npm install --prefix "$prefix" --no-fund --no-audit --loglevel=error $want >/dev/null
