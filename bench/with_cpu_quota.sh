#!/usr/bin/env bash
# Run a command (and everything it starts) with the CPU time of CPUS cores at most: a
# repeatable stand-in for a VM in a slow spell, where the hypervisor gives this machine
# about half its cores' time. Needs root and a writable cgroup (v1 "cpu" or v2).
#
#   bench/with_cpu_quota.sh 1 python bench/bench_ui_latency.py --changes 24 --pause 1
#
# The quota is CPUS x a 10 ms period: short enough that a browser frame or a probe pass
# is slowed evenly, not stopped for a long stretch.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 CPUS COMMAND [ARGS...]" >&2
    exit 2
fi
cpus=$1
shift
period=10000
quota=$(python3 -c "import sys; q = float(sys.argv[1]); assert q > 0, 'CPUS must be > 0'; print(round(q * $period))" "$cpus")

if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then  # cgroup v2
    parent=/sys/fs/cgroup
    group=$parent/droplab-quota-$$
    grep -qw cpu $parent/cgroup.subtree_control || echo +cpu > $parent/cgroup.subtree_control
    mkdir "$group"
    echo "$quota $period" > "$group/cpu.max"
elif [[ -d /sys/fs/cgroup/cpu ]]; then  # cgroup v1
    parent=/sys/fs/cgroup/cpu
    group=$parent/droplab-quota-$$
    mkdir "$group"
    echo $period > "$group/cpu.cfs_period_us"
    echo "$quota" > "$group/cpu.cfs_quota_us"
else
    echo "$0: no writable cpu cgroup here" >&2
    exit 1
fi

cleanup() {
    echo $$ > "$parent/cgroup.procs"
    rmdir "$group" 2>/dev/null || true
}
trap cleanup EXIT
echo $$ > "$group/cgroup.procs"
echo "# at most $cpus CPU(s) of $(nproc): $*" >&2
"$@"
