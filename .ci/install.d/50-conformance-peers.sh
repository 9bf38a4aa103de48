#!/usr/bin/env bash
# Peers of the conformance suite (conformance/tests/test_peer_*.py), idempotent, as root:
#  - GAVO DaCHS 2.7 (Debian gavodachs2-server) and PostgreSQL 15. The package's postinst
#    needs a running PostgreSQL (it creates the "gavo" database and runs "dachs init"), so the
#    Debian cluster 15/main is started for the install and stopped again if we started it.
#    The tests never use that cluster: their fixture makes a private one per run.
#  - django-uws (PyPI) with Django 4.2 in its own virtualenv under $CONFORMANCE_PEERS_DIR
#    (default ~/.cache/ivoa-broker-conformance), made by the fixture's own ensure_venv().
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600)

configured() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if ! configured gavodachs2-server || ! configured postgresql-15; then
  echo "50-conformance-peers: installing gavodachs2-server (DaCHS) and postgresql-15" >&2
  if ! configured postgresql-15; then
    "${APT[@]}" update -qq
    "${APT[@]}" install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null
  fi
  started=""
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | grep -q '^15 *main ' || pg_createcluster 15 main >/dev/null
    if pg_lsclusters -h | grep -q '^15 *main .* down '; then
      pg_ctlcluster 15 main start
      started=yes
    fi
  fi
  status=0
  "${APT[@]}" install -y -qq --no-install-recommends gavodachs2-server >/dev/null || status=$?
  if [ "$status" != 0 ]; then dpkg --configure -a || status=$?; fi
  [ -n "$started" ] && pg_ctlcluster 15 main stop
  [ "$status" = 0 ] || { echo "50-conformance-peers: DaCHS did not install" >&2; exit 1; }
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "50-conformance-peers: installing python3-venv (for django-uws's own virtualenv)" >&2
  "${APT[@]}" install -y -qq --no-install-recommends python3-venv >/dev/null
fi
"$PY" conformance/tests/conformance_django_uws.py --venv-only
