#!/usr/bin/env bash
# install.sh - idempotent install of everything the OpenStack adapter's test stack needs (Debian 12, root).
#   Debian: rabbitmq-server, mariadb-server, curl.
#   A separate venv ($OS_VENV, default /opt/ivoa-broker-openstack/venv) holding the OpenStack services, so
#   their pins (SQLAlchemy<2.1, oslo.*, eventlet ...) never touch the broker's global environment.
#   The adapter itself only needs openstacksdk in the global environment (pip install adapters/openstack).
# Safe to run again: each step is skipped when what it makes is already there.
set -euo pipefail
VENV=${OS_VENV:-/opt/ivoa-broker-openstack/venv}
# The versions this stack was developed and timed with (PyPI); override with OS_PIP_SPECS.
SPECS=${OS_PIP_SPECS:-"keystone==30.0.0 nova==34.0.0 openstack-placement==16.0.0 glance==33.0.0 neutron==29.0.0
  gunicorn openstacksdk pymysql SQLAlchemy<2.1"}
export DEBIAN_FRONTEND=noninteractive

need_apt=0
for p in rabbitmq-server mariadb-server curl; do dpkg -s "$p" >/dev/null 2>&1 || need_apt=1; done
if [ "$need_apt" = 1 ]; then
  # other installers may hold the dpkg lock (shared machines): wait for it rather than fail
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends rabbitmq-server mariadb-server mariadb-client curl >/dev/null
fi

if [ ! -x "$VENV/bin/nova-compute" ] || ! "$VENV/bin/python" -c "import pymysql, openstack, neutron, glance, keystone, placement" 2>/dev/null; then
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $SPECS 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -W ignore -c "import pymysql, openstack, neutron, glance, keystone, placement, nova" 2>/dev/null
fi
echo "install.sh: OpenStack services ready in $VENV"
