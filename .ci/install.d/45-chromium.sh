#!/usr/bin/env bash
# Headless Chromium and its WebDriver (Debian) for the browser tests of the HTML pages
# (tests/browser/). selenium itself comes from PyPI (the core's [test] extra).
set -euo pipefail
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "install.d/45-chromium: installing chromium and chromium-driver" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null
fi
