#!/usr/bin/env bash
# PostgreSQL (Debian) for the PostgreSQL store's tests and the multi-replica tests. Only the
# server programs are used (initdb, pg_ctl under /usr/lib/postgresql/*/bin, and psql): the
# tests start their own throw-away server (ivoa_broker/testing/postgres.py) in a temporary
# folder on a free port, so the package's own cluster service is stopped if it started one.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
  echo "install.d/25-postgresql: installing postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    postgresql postgresql-client >/dev/null
  # the package starts a default cluster on :5432; the tests never use it
  if command -v pg_ctlcluster >/dev/null; then
    for cluster in /etc/postgresql/*/main; do
      [ -d "$cluster" ] || continue
      version=$(basename "$(dirname "$cluster")")
      pg_ctlcluster "$version" main stop 2>/dev/null || true
    done
  fi
fi
# the tests run the server as this unprivileged account when they run as root
id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
