#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, to try hydra/launcher=slurm without a cluster.
#
#   eval "$(bash scripts/slurm_local.sh start)"     # prints: export SLURM_CONF=<dir>/slurm.conf
#   adda-train -m hydra/launcher=slurm_local seed=0,1 ...
#   bash scripts/slurm_local.sh stop
#
#   start [--accounting]   install slurm-wlm + munge (Debian, once), write a config into a
#                          throw-away folder, start munged, slurmctld and slurmd (with
#                          --accounting also MariaDB and slurmdbd, so sacct works)
#   stop                   stop every daemon start started, by the PIDs it recorded
#   status                 the daemons' PIDs and sinfo
#
# Two partitions share the node: "debug" (default) and "urgent", whose jobs preempt debug's
# (requeued after SIGUSR2, the signal submitit checkpoints on).  ADDA_SLURM_DIR picks the folder
# (default /tmp/adda-slurm).  Needs root (or sudo) to install packages; the daemons run as you.
set -euo pipefail
DIR=${ADDA_SLURM_DIR:-/tmp/adda-slurm}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
say() { echo "slurm_local: $*" >&2; }
die() { say "error: $*"; exit 2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

install_packages() {
  local wanted=(slurmctld slurmd munged sbatch)
  [ "${ACCOUNTING:-0}" = 1 ] && wanted+=(slurmdbd mariadbd)
  local missing=0
  for b in "${wanted[@]}"; do command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  local pkgs=(slurm-wlm munge)
  [ "${ACCOUNTING:-0}" = 1 ] && pkgs+=(slurmdbd mariadb-server)
  say "installing ${pkgs[*]} (apt-get, once)"
  command -v apt-get >/dev/null || die "no apt-get here: install ${pkgs[*]} with your package manager, then run start again"
  { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${pkgs[@]}"; } \
    >"${TMPDIR:-/tmp}/slurm_local_apt.log" 2>&1 \
    || die "could not install ${pkgs[*]} (needs root or sudo; log: ${TMPDIR:-/tmp}/slurm_local_apt.log)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Wait (bounded) until a command succeeds.
wait_for() {
  local what=$1; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up within 10 s (logs in $DIR/*.log)"
}

write_config() {
  local host cpus mem_mb user
  host=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  user=$(id -un)
  mkdir -p "$DIR"/{state,spool,munge}
  chmod 755 "$DIR/munge"
  cat >"$CONF" <<EOF
# Written by scripts/slurm_local.sh: a one-node cluster for trying adda's SLURM launcher.
ClusterName=adda-local
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=${ADDA_SLURM_PORT:-6917}
SlurmdPort=$(( ${ADDA_SLURM_PORT:-6917} + 1 ))
AuthType=auth/munge
CredType=cred/munge
# A short credential life: a requeued job starts at once instead of waiting out 120 s.
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Without a default memory per CPU one job would take the node's whole memory, and so the node.
DefMemPerCPU=$(( mem_mb / cpus / 2 ))
# Seconds between SIGTERM and SIGKILL: enough to write a checkpoint, short for tests.
KillWait=5
MinJobAge=600
InactiveLimit=0
# Preemption by partition priority: the victim gets its --signal (submitit's SIGUSR2), then is
# requeued by SLURM, once (preempt_send_user_signal: the signal comes at preemption, not only
# at the job's --signal time, so the job checkpoints instead of running twice).
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
JobRequeue=1
JobAcctGatherType=jobacct_gather/none
$( if [ "${ACCOUNTING:-0}" = 1 ]; then
     echo "AccountingStorageType=accounting_storage/slurmdbd"
     echo "AccountingStorageHost=$host"
     echo "AccountingStoragePort=$(( ${ADDA_SLURM_PORT:-6917} + 2 ))"
     echo "# For slurmdbd this names the munge socket to use."
     echo "AccountingStoragePass=$DIR/munge/munge.socket"
   else
     echo "AccountingStorageType=accounting_storage/none"
   fi )
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=5
PartitionName=urgent Nodes=$host MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
}

start_munge() {
  [ -f "$DIR/munge/munge.key" ] || { dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$DIR/munge/munge.key"; }
  pid_alive "$DIR/munge/munged.pid" && return 0
  /usr/sbin/munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge.log" --seed-file="$DIR/munge/munge.seed"
  wait_for munged test -S "$DIR/munge/munge.socket"
}

start_accounting() {
  local port=$(( ${ADDA_SLURM_PORT:-6917} + 2 )) sock=$DIR/mysql/mysqld.sock
  if ! pid_alive "$DIR/mysql/mysqld.pid"; then
    if [ ! -d "$DIR/mysql/data/mysql" ]; then
      mkdir -p "$DIR/mysql/data"
      mariadb-install-db --user="$(id -un)" --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket \
        >"$DIR/mysql-install.log" 2>&1 || die "mariadb-install-db failed (log: $DIR/mysql-install.log)"
    fi
    mariadbd --user="$(id -un)" --datadir="$DIR/mysql/data" --socket="$sock" --pid-file="$DIR/mysql/mysqld.pid" \
      --skip-networking --log-error="$DIR/mysql.log" >/dev/null 2>&1 &
    wait_for MariaDB mariadb --socket="$sock" -e "select 1"
  fi
  cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
DbdHost=$(hostname -s)
DbdPort=$port
SlurmUser=$(id -un)
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=adda_slurm_acct
StorageUser=$(id -un)
StoragePass=/unused
EOF
  chmod 600 "$DIR/slurmdbd.conf"
  # slurmdbd reaches MariaDB through its socket, as the same Unix user (socket authentication).
  mariadb --socket="$sock" -e "CREATE DATABASE IF NOT EXISTS adda_slurm_acct"
  pid_alive "$DIR/slurmdbd.pid" || MYSQL_UNIX_PORT=$sock slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for slurmdbd sacctmgr -i list cluster
}

start() {
  install_packages
  write_config
  start_munge
  [ "${ACCOUNTING:-0}" = 1 ] && start_accounting
  pid_alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
  wait_for slurmctld scontrol ping
  if [ "${ACCOUNTING:-0}" = 1 ]; then
    sacctmgr -i add cluster adda-local >/dev/null 2>&1 || true
  fi
  pid_alive "$DIR/slurmd.pid" || slurmd -f "$CONF"
  wait_for "the node" bash -c "sinfo -h -o %T | grep -q -E '^(idle|mixed|allocated)'"
  say "up in $DIR ($(sinfo -h -o '%D node, %c CPUs, %m MB' | head -1)); stop with: bash scripts/slurm_local.sh stop"
  echo "export SLURM_CONF=$CONF"
}

stop() {
  local stopped=()
  for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/slurmdbd.pid" "$DIR/mysql/mysqld.pid" "$DIR/munge/munged.pid"; do
    if pid_alive "$pidfile"; then
      local pid; pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      stopped+=("$(basename "$pidfile" .pid)")
    fi
    rm -f "$pidfile"
  done
  say "stopped ${stopped[*]:-nothing (none was running)}"
}

status() {
  for pidfile in "$DIR/munge/munged.pid" "$DIR/mysql/mysqld.pid" "$DIR/slurmdbd.pid" "$DIR/slurmctld.pid" "$DIR/slurmd.pid"; do
    if pid_alive "$pidfile"; then echo "$(basename "$pidfile" .pid) $(cat "$pidfile")"; fi
  done
  [ -f "$CONF" ] && sinfo 2>/dev/null || true
}

ACCOUNTING=0
cmd=${1:-}; shift || true
for arg in "$@"; do
  case $arg in
    --accounting) ACCOUNTING=1 ;;
    *) die "unknown option $arg: use start [--accounting], stop or status" ;;
  esac
done
case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: bash scripts/slurm_local.sh start [--accounting] | stop | status" ;;
esac
