#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the `slurm` test tier (pytest -m slurm) and for
# trying scripts/slurm/train.sbatch by hand. Debian's slurm-wlm and munge, run as root, no
# systemd: munged, then slurmctld and slurmd, all on localhost.
#
#   sudo bash scripts/slurm/local_cluster.sh        # then: srun -n2 hostname
#   sudo bash scripts/slurm/local_cluster.sh stop   # stop the daemons it started, no others
#
# Idempotent: when `sinfo` already answers, it prints the partition and returns. Exit code 0
# means the cluster runs; anything else means it could not be set up here (not root, no apt,
# no network), and the slurm tests then skip. Each daemon it starts is recorded (name and pid)
# in $LOCAL_CLUSTER_STARTED (default /run/local_cluster.started); `stop` stops exactly those,
# so daemons that were running before are left alone (.ci/run stops them when it ends).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
STARTED=${LOCAL_CLUSTER_STARTED:-/run/local_cluster.started}

log() { echo "local_cluster: $*" >&2; }

cluster_up() { timeout 10 sinfo --noheader >/dev/null 2>&1; }

# run `command...`, which starts daemon `name`, and record the pids of `name` it added; a daemon
# that forks into the background can appear a moment after the command returns (slurmd does)
start_recorded() {
    local name=$1 before pid added
    shift
    before=" $(pgrep -x "$name" | tr '\n' ' ' || true) "
    "$@"
    for _ in $(seq 25); do
        added=0
        for pid in $(pgrep -x "$name" || true); do
            [[ $before == *" $pid "* ]] || { echo "$name $pid" >>"$STARTED"; added=1; }
        done
        [ "$added" -eq 1 ] && return
        sleep 0.2
    done
}

# a process that runs (a zombie has stopped; its parent has yet to reap it)
running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

# stop the recorded daemons, last started first; a pid now held by another program is skipped
stop_started() {
    local name pid
    [ -s "$STARTED" ] || return 0
    while read -r name pid; do
        [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$name" ] || continue
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do running "$pid" || break; sleep 0.2; done
        if running "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
        log "stopped $name (pid $pid)"
    done < <(tac "$STARTED")
    rm -f "$STARTED"
}

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    log "installing slurm-wlm and munge"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    if ! munge -n </dev/null >/dev/null 2>&1; then
        start_recorded munged runuser -u munge -- munged
    fi
}

write_config() {
    local host cpus
    # never overwrite a real cluster's configuration, only our own
    if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -q '^# written by local_cluster.sh' "$CONF_DIR/slurm.conf"; then
        log "$CONF_DIR/slurm.conf exists and is not ours: leaving it alone"
        return 1
    fi
    host=$(hostname -s)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc reads them: too few CPUs for the tests
    mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
    # linuxproc/none: no cgroups needed, so it runs inside containers too
    cat >"$CONF_DIR/slurm.conf" <<EOF
# written by local_cluster.sh
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ReturnToService=2
# requeued jobs restart at once; processes ignoring SIGTERM are killed after 5 s
JobRequeue=1
KillWait=5
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
}

start_daemons() {
    pgrep -x slurmctld >/dev/null || start_recorded slurmctld slurmctld
    pgrep -x slurmd >/dev/null || start_recorded slurmd slurmd
    for _ in $(seq 30); do
        if cluster_up && [ -n "$(sinfo --noheader -t idle,mix,alloc -o %n)" ]; then
            return
        fi
        sleep 1
    done
    log "slurmctld/slurmd did not come up; see $LOG_DIR/"
    return 1
}

main() {
    if cluster_up; then
        log "already running"
        sinfo
        return
    fi
    [ "$(id -u)" -eq 0 ] || { log "needs root (packages, daemons, /etc/slurm)"; return 1; }
    install_packages
    start_munge
    write_config
    start_daemons
    sinfo
}

# sourced (the tests): the functions only
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

case "${1:-start}" in
    start) main ;;
    stop) stop_started ;;
    *) log "usage: local_cluster.sh [start|stop]"; exit 2 ;;
esac
