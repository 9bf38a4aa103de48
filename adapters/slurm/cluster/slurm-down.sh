#!/usr/bin/env bash
# slurm-down.sh - stop what slurm-up.sh started in $SLURM_BASE: first cancel the jobs still
# there (so no job step outlives its slurmd), then each daemon by its pid file, newest first.
BASE=${SLURM_BASE:?set SLURM_BASE to the state folder of slurm-up.sh}
export SLURM_CONF=$BASE/etc/slurm.conf

alive() { # a pid that is gone or a zombie (not yet reaped by pid 1) counts as stopped
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}

if [ -f "$BASE/slurmctld.pid" ] && alive "$(cat "$BASE/slurmctld.pid")"; then
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null
    for _ in $(seq 50); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
for name in slurmrestd slurmd slurmctld slurmdbd mariadbd munged; do
  f=$BASE/$name.pid
  [ -f "$f" ] || continue
  p=$(cat "$f")
  if [ -n "$p" ] && kill "$p" 2>/dev/null; then
    for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -9 "$p" 2>/dev/null
  fi
  rm -f "$f"
done
exit 0
