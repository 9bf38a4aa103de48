#!/usr/bin/env bash
# slurm-up.sh - a throw-away one-node Slurm 22.05 cluster (Debian 12) in one state folder, as root,
# without systemd or cgroups. Everything it starts lives under $SLURM_BASE and listens on the ports
# given, so two runs on one machine do not collide:
#   munged (its own socket and key), [mariadbd + slurmdbd], slurmctld, slurmd, [slurmrestd with JWT].
# Nothing goes to /etc: clients find the cluster through SLURM_CONF=$SLURM_BASE/etc/slurm.conf.
# Writes $SLURM_BASE/env (KEY=VALUE lines: SLURM_CONF, SLURM_JOB_ROOT, SLURMRESTD_URL, SLURM_JWT_TOKEN,
# SLURM_TEST_USER) and pid files; stop with slurm-down.sh. Packages: .ci/install.d/20-slurm.sh.
#
# Environment (defaults in brackets):
#   SLURM_BASE (required; an empty directory, traversable by other users)
#   SLURM_CTLD_PORT [6817] SLURMD_PORT [6818] SLURM_DBD_PORT [6819] SLURM_DB_PORT [3306] SLURM_REST_PORT [6820]
#   SLURM_WITH_DBD [1]  slurmdbd + MariaDB: real sacct (accounting and usage of jobs that left the queue)
#   SLURM_WITH_REST [1] slurmrestd (JWT, OpenAPI v0.0.38 and v0.0.37) for the REST client mode
#   SLURM_TEST_USER [slurmci] the user REST jobs run as; SLURM_REST_USER [slurmrest] runs slurmrestd
#   SLURM_NODE_CPUS [24] SLURM_NODE_MEM_MB [4096] what the one node offers (CPUs may exceed the real
#   ones: SlurmdParameters=config_overrides; the jobs of the tests are tiny)
#
# What the tests rely on, and how this configuration makes it real:
#   memory limit:  SelectTypeParameters=CR_Core_Memory + JobAcctGatherType=jobacct_gather/linux with
#                  JobAcctGatherParams=OverMemoryKill (sampled every second; no cgroups needed): a job
#                  above its --mem is killed and ends OUT_OF_MEMORY
#   time limit:    OverTimeLimit=0, KillWait=2: a job past its --time ends TIMEOUT (slurmctld checks
#                  time limits every 30 s, and --time has a one-minute granularity)
#   fast turnover: SchedulerParameters batch_sched_delay=0, sched_interval=2, bf_interval=1;
#                  MinJobAge=30 (+ up to 60 s purge interval): ended jobs soon leave squeue and are found through sacct
set -euo pipefail
BASE=${SLURM_BASE:?set SLURM_BASE to an empty state folder}
CTLD_PORT=${SLURM_CTLD_PORT:-6817}
D_PORT=${SLURMD_PORT:-6818}
DBD_PORT=${SLURM_DBD_PORT:-6819}
DB_PORT=${SLURM_DB_PORT:-3306}
REST_PORT=${SLURM_REST_PORT:-6820}
WITH_DBD=${SLURM_WITH_DBD:-1}
WITH_REST=${SLURM_WITH_REST:-1}
TEST_USER=${SLURM_TEST_USER:-slurmci}
REST_USER=${SLURM_REST_USER:-slurmrest}
CPUS=${SLURM_NODE_CPUS:-24}
MEM=${SLURM_NODE_MEM_MB:-4096}
HOST=$(hostname -s)
# job ids differ between runs (cgroup paths are named by job id and shared by all runs)
FIRST_JOB_ID=${SLURM_FIRST_JOB_ID:-$(( (CTLD_PORT % 600) * 100000 + 1 ))}

for tool in slurmctld slurmd munged; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "slurm-up: $tool is not installed (.ci/install.d/20-slurm.sh)" >&2; exit 3; }
done
for u in "$TEST_USER" "$REST_USER"; do id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"; done

chmod 755 "$BASE"
mkdir -p "$BASE/etc" "$BASE/state/ctld" "$BASE/state/d" "$BASE/log" "$BASE/jobs" "$BASE/munge"
chmod 1777 "$BASE/jobs"   # job folders: root (CLI mode) and $TEST_USER (REST mode) create theirs here
chown munge:munge "$BASE/munge"; chmod 700 "$BASE/munge"
export SLURM_CONF=$BASE/etc/slurm.conf
MUNGE_SOCKET=$BASE/munge/munge.socket

wait_for() { # wait_for SECONDS CMD...
  local t=$1; shift; local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && { echo "slurm-up: timeout: $*" >&2; return 1; }; sleep 0.2; done
}

# --- munge: its own key and socket (the machine's munged, if any, is not touched); Slurm finds
#     the socket through AuthInfo=socket=..., and for slurmdbd connections AccountingStoragePass=...
mkdir -p "$BASE/munge/run"; chown munge:munge "$BASE/munge/run"; chmod 755 "$BASE/munge" "$BASE/munge/run"
MUNGE_SOCKET=$BASE/munge/run/munge.socket
dd if=/dev/urandom of="$BASE/munge/munge.key" bs=1024 count=1 2>/dev/null
chown munge:munge "$BASE/munge/munge.key"; chmod 400 "$BASE/munge/munge.key"
runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" --key-file="$BASE/munge/munge.key" \
  --pid-file="$BASE/munge/run/munged.pid" --log-file="$BASE/munge/munged.log" --seed-file="$BASE/munge/munged.seed"
cp "$BASE/munge/run/munged.pid" "$BASE/munged.pid"
wait_for 10 bash -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"

dd if=/dev/urandom of="$BASE/etc/jwt_hs256.key" bs=32 count=1 2>/dev/null; chmod 600 "$BASE/etc/jwt_hs256.key"
JWT=""
[ "$WITH_REST" = 1 ] && JWT="AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$BASE/etc/jwt_hs256.key"
ACCT="AccountingStorageType=accounting_storage/none"
[ "$WITH_DBD" = 1 ] && ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCKET"

cat > "$SLURM_CONF" <<CONF
ClusterName=ivbtest
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
$JWT
MpiDefault=none
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
FirstJobId=$FIRST_JOB_ID
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=64
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=1,default_queue_depth=200
SlurmdParameters=config_overrides
ReturnToService=2
OverTimeLimit=0
KillWait=2
MessageTimeout=5
InactiveLimit=0
MinJobAge=30
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
StateSaveLocation=$BASE/state/ctld
SlurmdSpoolDir=$BASE/state/d
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.txt
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=60 State=UP
PartitionName=short Nodes=ALL MaxTime=2 MaxMemPerNode=1024 State=UP
CONF
chmod 644 "$SLURM_CONF"
cat > "$BASE/etc/cgroup.conf" <<CONF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
ConstrainCores=no
ConstrainDevices=no
CONF

if [ "$WITH_DBD" = 1 ]; then
  DB=$BASE/mariadb
  mkdir -p "$DB"; chown mysql:mysql "$DB"
  mariadb-install-db --user=mysql --datadir="$DB/data" --auth-root-authentication-method=socket \
      >"$BASE/log/mariadb-install.log" 2>&1
  setsid mariadbd --no-defaults --user=mysql --datadir="$DB/data" --socket="$DB/mysqld.sock" \
      --bind-address=127.0.0.1 --port="$DB_PORT" --pid-file="$DB/mariadbd.pid" \
      --log-error="$DB/error.log" --innodb-buffer-pool-size=32M --skip-name-resolve \
      </dev/null >/dev/null 2>&1 &
  wait_for 30 mariadb --no-defaults --socket="$DB/mysqld.sock" -e 'select 1'
  cp "$DB/mariadbd.pid" "$BASE/mariadbd.pid"
  mariadb --no-defaults --socket="$DB/mysqld.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  cat > "$BASE/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
$JWT
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$BASE/etc/slurmdbd.conf"
  /usr/sbin/slurmdbd
  wait_for 30 sacctmgr -n list cluster
  sacctmgr -i add cluster ivbtest >/dev/null || true
  sacctmgr -i add account default Description=default Organization=local >/dev/null || true
  sacctmgr -i add user root,"$TEST_USER" Account=default >/dev/null || true
fi

/usr/sbin/slurmctld
wait_for 20 scontrol ping
/usr/sbin/slurmd
wait_for 30 bash -c "sinfo -h -n $HOST -o %t | grep -qx idle"

{
  echo "SLURM_CONF=$SLURM_CONF"
  echo "SLURM_JOB_ROOT=$BASE/jobs"
  echo "SLURM_TEST_USER=$TEST_USER"
  echo "SLURM_WITH_DBD=$WITH_DBD"
} > "$BASE/env"

if [ "$WITH_REST" = 1 ]; then
  specs=openapi/v0.0.38,openapi/v0.0.37
  [ "$WITH_DBD" = 1 ] && specs="$specs,openapi/dbv0.0.38,openapi/dbv0.0.37"
  SLURM_JWT=daemon setsid setpriv --reuid="$REST_USER" --regid="$REST_USER" --init-groups \
      /usr/sbin/slurmrestd -s "$specs" -a rest_auth/jwt "127.0.0.1:$REST_PORT" \
      </dev/null >"$BASE/log/slurmrestd.log" 2>&1 &
  echo $! > "$BASE/slurmrestd.pid"
  TOKEN=$(scontrol token username="$TEST_USER" lifespan=86400 | cut -d= -f2)
  wait_for 20 curl -sf -m2 -H "X-SLURM-USER-NAME: $TEST_USER" -H "X-SLURM-USER-TOKEN: $TOKEN" \
      "http://127.0.0.1:$REST_PORT/slurm/v0.0.38/ping"
  {
    echo "SLURMRESTD_URL=http://127.0.0.1:$REST_PORT"
    echo "SLURM_JWT_TOKEN=$TOKEN"
  } >> "$BASE/env"
fi
echo "slurm-up: cluster up on $HOST (state $BASE, slurmctld port $CTLD_PORT)" >&2
