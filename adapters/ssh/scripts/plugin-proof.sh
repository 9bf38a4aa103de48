#!/usr/bin/env bash
# plugin-proof.sh - the SSH plug-in, installed like a third-party one, runs a job through the broker.
#   1. a fresh venv gets ivoa-broker and ivoa-broker-ssh from their folders (regular, not editable, installs);
#   2. `ivoa-broker adapters` must list the "ssh" plug-in from its own distribution;
#   3. a throw-away loopback sshd is started (adapters/ssh/tests/sshd_server.py);
#   4. `ivoa-broker serve` runs with one platform, "remote" (plug-in ssh), and a UWS job is run with curl;
#   5. the job's phase, its result list and a result file are printed; everything started is stopped by pid.
# Usage: adapters/ssh/scripts/plugin-proof.sh [BASE_DIR]     (needs openssh-server, curl, network-free pip)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
BASE=${1:-$(mktemp -d /tmp/ssh-plugin-proof.XXXXXX)}
PORT=${PORT:-18765}
mkdir -p "$BASE"
cd "$BASE"

echo "== 1. fresh venv in $BASE/venv"
[ -x venv/bin/python ] || python3 -m venv venv
venv/bin/pip install -q "$REPO" "$REPO/adapters/ssh" 2>&1 | grep -v -e "is ignored" -e "^$" || true

echo "== 2. installed plug-ins"
venv/bin/ivoa-broker adapters > plugins.txt || true  # rc 1: the default "local" platform is absent
sed -n '/plug-ins/,/platforms/p' plugins.txt
grep -q "^  ssh .*\[ivoa-broker-ssh\].*ok" plugins.txt || { echo "ssh plug-in missing"; exit 1; }

echo "== 3. loopback sshd"
python3 "$REPO/adapters/ssh/tests/sshd_server.py" "$BASE/sshd" > sshd.env &
for _ in $(seq 100); do grep -q IVOA_SSH_WORK_DIR sshd.env 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1091
. ./sshd.env
SSHD_PID=$(cat "$BASE/sshd/sshd.pid")

cat > broker.toml <<TOML
[server]
host = "127.0.0.1"
port = $PORT
database = "$BASE/broker.db"
work_dir = "$BASE/broker-work"

[auth]
anonymous = true

[adapters.remote]
plugin = "ssh"
[adapters.remote.config]
host = "$IVOA_SSH_HOST"
port = $IVOA_SSH_PORT
username = "$IVOA_SSH_USER"
key_file = "$IVOA_SSH_KEY_FILE"
known_hosts = "$IVOA_SSH_KNOWN_HOSTS"
work_dir = "$IVOA_SSH_WORK_DIR"
TOML

echo "== 4. broker with platform 'remote' (plug-in ssh)"
venv/bin/ivoa-broker serve --config broker.toml > broker.log 2>&1 &
BROKER_PID=$!
cleanup() { kill "$BROKER_PID" 2>/dev/null || true; kill "$SSHD_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/availability" > /dev/null && break; sleep 0.1; done

JOB=$(curl -s -o /dev/null -w '%{redirect_url}' -X POST "http://127.0.0.1:$PORT/jobs" \
  --data-urlencode cmd=sh --data-urlencode args=-c \
  --data-urlencode 'args=echo "ran over ssh as $(id -un)"; echo 42 > answer.txt' \
  -d platform=remote -d PHASE=RUN)
echo "job: $JOB"
PHASE=""
for _ in $(seq 30); do
  PHASE=$(curl -s "$JOB/phase")
  case "$PHASE" in COMPLETED|ERROR|ABORTED) break ;; esac
  curl -s "$JOB?WAIT=2" > /dev/null
done

echo "== 5. outcome"
echo "phase: $PHASE"
curl -s -H 'Accept: application/json' "$JOB/results"; echo
echo "answer.txt: $(curl -s "$JOB/results/out/answer.txt")"
echo "stdout: $(curl -s "$JOB/results/stdout")"
[ "$PHASE" = COMPLETED ]
