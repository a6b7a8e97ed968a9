#!/usr/bin/env bash
# A throw-away, single-node Slurm cluster on this machine, for testing gzbcat's Slurm scripts.
#
# It runs Debian's slurm-wlm and munge as plain background processes (no systemd), with all
# configuration, state, logs and the munge key in one folder, and stops exactly the processes
# it started. It must run as root (it installs packages and starts daemons that run jobs).
#
#   scripts/slurm/local_cluster.sh install      install slurm-wlm and munge if missing
#   scripts/slurm/local_cluster.sh start DIR    write a configuration into DIR and start
#                                               munged, slurmctld and slurmd (pids in DIR/*.pid)
#   scripts/slurm/local_cluster.sh env DIR      print the shell line that points sbatch,
#                                               squeue, scancel … at that cluster
#   scripts/slurm/local_cluster.sh stop DIR     cancel its jobs and stop the three daemons
#   scripts/slurm/local_cluster.sh run CMD …    all of the above around CMD in a new temporary
#                                               folder: install, start, CMD, stop (also when CMD
#                                               fails or is interrupted); prints the wall time
#
# `make cluster-test` is `local_cluster.sh run python -m pytest tests/cluster`.
# The cluster: one node named after this host with all its CPUs, one partition `debug`,
# no accounting database (ask `scontrol show job` or `squeue -t all`, not `sacct`), finished
# jobs remembered for an hour.

set -euo pipefail

SCRIPT="$(readlink -f "$0")"
PACKAGES=(slurm-wlm munge)

log() { echo "local_cluster: $*" >&2; }

install_packages() {
    if command -v munged >/dev/null && command -v slurmctld >/dev/null \
        && command -v slurmd >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    log "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet: update them only when the install fails.
    if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null
    fi
}

write_config() {
    local dir="$1" node cpus memory_mb
    node="$(hostname -s)"
    cpus="$(nproc)"
    # Offer the jobs a little less memory than the node reports, as slurmd refuses a node
    # whose configured memory exceeds what it finds.
    memory_mb="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
    memory_mb=$((memory_mb * 9 / 10))
    cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm/local_cluster.sh: a single-node test cluster, everything under $dir.
ClusterName=gzbcat-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid.conf
SlurmdPidFile=$dir/slurmd.pid.conf
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Keep finished jobs visible to scontrol and squeue for an hour (there is no accounting).
MinJobAge=3600
# A cancelled job's processes get SIGTERM, then SIGKILL this many seconds later.
KillWait=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

start_daemon() {
    # start_daemon NAME DIR COMMAND…: run COMMAND in the background and keep its pid.
    local name="$1" dir="$2"
    shift 2
    "$@" >"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/$name.pid"
}

wait_for() {
    # wait_for SECONDS WHAT LOGS COMMAND…: retry COMMAND once a second until it succeeds.
    local seconds="$1" what="$2" logs="$3"
    shift 3
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    log "$what did not come up within $seconds s; the end of its logs:"
    tail -n 20 "$logs"/*.log "$logs"/*.out 2>/dev/null >&2 || true
    return 1
}

node_is_idle() {
    [ "$(sinfo -h -o %T 2>/dev/null)" = "idle" ]
}

port_in_use() {
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local dir port
    dir="$(readlink -f "$1")"
    for port in 6817 6818; do
        if port_in_use "$port"; then
            log "port $port is taken: is another Slurm running here? (stop it first)"
            return 1
        fi
    done
    mkdir -p "$dir"/{munge,state,spool,log}
    # munged runs as the munge user, in a folder only it may write and everyone may enter
    # (clients reach its socket there; the key itself is readable by munge alone).
    chmod 755 "$dir"
    chown munge:munge "$dir/munge"
    chmod 711 "$dir/munge"
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chown munge:munge "$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    write_config "$dir"
    export SLURM_CONF="$dir/slurm.conf"

    start_daemon munged "$dir" setpriv --reuid=munge --regid=munge --clear-groups \
        munged --foreground --key-file="$dir/munge/munge.key" \
        --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munge.seed" --log-file="$dir/munge/munged.log"
    wait_for 20 munged "$dir/munge" test -S "$dir/munge/munge.socket" || return 1
    start_daemon slurmctld "$dir" slurmctld -D -f "$SLURM_CONF"
    start_daemon slurmd "$dir" slurmd -D -f "$SLURM_CONF"
    wait_for 60 "the node" "$dir/log" node_is_idle || return 1
    log "cluster up in $dir: $(sinfo -h -o '%D node, %c CPUs, partition %P')"
}

stop() {
    local dir name pid
    dir="$(readlink -f "$1")"
    export SLURM_CONF="$dir/slurm.conf"
    # Jobs first (their steps outlive slurmd), while the controller still answers.
    if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
        if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
            scancel --partition=debug 2>/dev/null || true
            for _ in $(seq 20); do
                [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
                sleep 1
            done
        fi
    fi
    for name in slurmd slurmctld munged; do
        [ -f "$dir/$name.pid" ] || continue
        pid="$(cat "$dir/$name.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 10); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$dir/$name.pid"
    done
    log "cluster in $dir stopped"
}

finish_run() {
    # The EXIT trap of `run`: stop the cluster however CMD ended, say how long it all took.
    local status=$?
    trap - EXIT
    stop "$RUN_DIR" || true
    if [ "$status" -eq 0 ]; then
        rm -rf "$RUN_DIR"
    else
        log "exit status $status; configuration and logs kept in $RUN_DIR"
    fi
    log "wall time $(($(date +%s) - RUN_STARTED)) s (install, start, CMD, stop)"
    exit "$status"
}

run() {
    [ "$#" -gt 0 ] || { log "run needs a command"; exit 2; }
    RUN_STARTED="$(date +%s)"
    install_packages
    RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gzbcat-slurm.XXXXXX")"
    trap finish_run EXIT
    trap 'exit 130' INT TERM
    start "$RUN_DIR"
    export SLURM_CONF="$RUN_DIR/slurm.conf"
    "$@"
}

command="${1:-}"
shift || true
case "$command" in
    install | start | stop | run)
        if [ "$(id -u)" -ne 0 ]; then
            log "run me as root: I install packages and start the Slurm and munge daemons"
            exit 2
        fi
        ;;
esac
case "$command" in
    install) install_packages ;;
    start)
        # Whatever started before a failure is stopped again.
        start "${1:?start needs a folder}" || {
            stop "$1"
            exit 1
        }
        ;;
    stop) stop "${1:?stop needs a folder}" ;;
    env) echo "export SLURM_CONF=$(readlink -f "${1:?env needs a folder}")/slurm.conf" ;;
    run) run "$@" ;;
    *)
        sed -n '2,/^$/p' "$SCRIPT" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
