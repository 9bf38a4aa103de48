#!/usr/bin/env bash
# slurm-down.sh - stop what slurm-up.sh started in $SLURM_BASE, by pid file only, newest first.
BASE=${SLURM_BASE:?set SLURM_BASE to the state folder of slurm-up.sh}
for name in slurmrestd slurmd slurmctld slurmdbd mariadbd munged; do
  f=$BASE/$name.pid
  [ -f "$f" ] || continue
  p=$(cat "$f")
  if [ -n "$p" ] && kill "$p" 2>/dev/null; then
    for _ in $(seq 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  fi
  rm -f "$f"
done
exit 0
