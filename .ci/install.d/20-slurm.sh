#!/usr/bin/env bash
# 20-slurm.sh - Debian packages for the Slurm adapter's one-node test cluster (adapters/slurm/cluster):
#   munge, slurmctld, slurmd, the Slurm clients, slurmrestd + its JWT auth plugin (REST mode), and
#   slurmdbd + its MySQL plugin + MariaDB (real sacct: accounting and usage of jobs that left squeue).
# Idempotent: installs only what is missing. Nothing is started here (no systemd on the test machine;
# the test fixture starts its own cluster in a per-run folder).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs="slurm-wlm slurmctld slurmd slurm-client munge slurmrestd slurm-wlm-jwt-plugin slurmdbd slurm-wlm-mysql-plugin mariadb-server mariadb-client"
missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "20-slurm.sh: installing" $missing >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
fi
