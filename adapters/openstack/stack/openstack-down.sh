#!/usr/bin/env bash
# openstack-down.sh - stop what openstack-up.sh started, by pid file (and rabbitmqctl for RabbitMQ).
BASE=${OS_BASE:-/tmp/ivoa-broker-openstack}
NODE=${OS_RABBIT_NODE:-rabbit@localhost}
stop_pid() { # stop_pid PID: TERM, wait (nova services shut down gracefully, slowly), then KILL
  local p=$1; kill "$p" 2>/dev/null || return 0
  for _ in $(seq 120); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$p" 2>/dev/null || true
}
pids=()
for f in "$BASE"/nova/{compute,scheduler,conductor}.pid "$BASE"/{nova,neutron,glance,placement,ks}/gunicorn.pid; do
  [ -f "$f" ] && pids+=("$(cat "$f")") && rm -f "$f"
done
for p in "${pids[@]}"; do stop_pid "$p" & done   # in parallel
wait
if [ -f "$BASE/mysql/mysqld.pid" ]; then stop_pid "$(cat "$BASE/mysql/mysqld.pid")"; fi
if [ -f "$BASE/rabbit/rabbit.pid" ]; then
  RABBITMQ_PID_FILE="$BASE/rabbit/rabbit.pid" rabbitmqctl -q -n "$NODE" stop >/dev/null 2>&1 || stop_pid "$(cat "$BASE/rabbit/rabbit.pid")"
  rm -f "$BASE/rabbit/rabbit.pid"
fi
# epmd was started by rabbitmq-server; stop it only when no Erlang node is left registered
if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then epmd -kill >/dev/null 2>&1 || true; fi
exit 0
