#!/bin/bash
# Build a 3-member etcd cluster in `faultline lab` hosts, run
# examples/etcd-leader-partition.yaml against it, and take everything down.
#
# Usage (as root): examples/etcd-leader-partition.sh
# Environment: FAULTLINE (the binary; default faultline), LAB (lab name,
# default etcdlab), SUBNET (default 10.78.0.0/24), DB (the run's history
# store; default a temporary file), RUN_JSON (where the run is written as
# `faultline show --json` prints it; default a temporary file).
# Exit status: the run's (docs/experiments.md: 0 passed, 1 failed, ...);
# 20 when the cluster could not be built.
#
# This script is the setup, finds the leader and passes it in variables,
# and is the teardown (a trap: the lab goes down, and with it every process
# in its namespaces, even on failure). Experiments' own setup:/teardown:
# and host_from: could now hold these steps (docs/examples.md).
set -euo pipefail

FL=${FAULTLINE:-faultline}
LAB=${LAB:-etcdlab}
SUBNET=${SUBNET:-10.78.0.0/24}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/fl-etcd-XXXXXX)
DB=${DB:-$WORK/history.db}
RUN_JSON=${RUN_JSON:-$WORK/run.json}
export ETCDCTL_API=3

# shellcheck disable=SC2317  # run by the trap
cleanup() {
    "$FL" lab down "$LAB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "etcd-leader-partition: $*" >&2
    for f in "$WORK"/m*.log; do [ -e "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
    exit 20
}

"$FL" lab up --name "$LAB" --hosts 3 --subnet "$SUBNET" >/dev/null
base=${SUBNET%.*/*}
addr=("" "$base.2" "$base.3" "$base.4")
cluster="m1=http://${addr[1]}:2380,m2=http://${addr[2]}:2380,m3=http://${addr[3]}:2380"
endpoints="http://${addr[1]}:2379,http://${addr[2]}:2379,http://${addr[3]}:2379"

# One start script per member: the cluster's setup, and the restart step.
for k in 1 2 3; do
    cat >"$WORK/start-m$k.sh" <<EOS
#!/bin/sh
exec setsid "$FL" lab exec "$LAB/h$k" -- etcd --name m$k --data-dir "$WORK/m$k" \\
    --listen-client-urls http://${addr[$k]}:2379 --advertise-client-urls http://${addr[$k]}:2379 \\
    --listen-peer-urls http://${addr[$k]}:2380 --initial-advertise-peer-urls http://${addr[$k]}:2380 \\
    --initial-cluster $cluster --initial-cluster-state new --initial-cluster-token $LAB \\
    >>"$WORK/m$k.log" 2>&1 </dev/null &
EOS
    chmod +x "$WORK/start-m$k.sh"
    "$WORK/start-m$k.sh"
done

healthy() { etcdctl --endpoints="$endpoints" --command-timeout=1s endpoint health >/dev/null 2>&1; }
for _ in $(seq 100); do healthy && break; sleep 0.2; done
healthy || die "the cluster did not become healthy in 20s"

# The leader: the member whose status says IS LEADER (5th field).
leader=
for k in 1 2 3; do
    st=$(etcdctl --endpoints="http://${addr[$k]}:2379" endpoint status 2>/dev/null || true)
    [ "$(echo "$st" | awk -F', ' '{print $5}')" = true ] && leader=$k
done
[ -n "$leader" ] || die "no member says it is the leader"
others=()
for k in 1 2 3; do [ "$k" != "$leader" ] && others+=("$k"); done
kill=${others[1]} survivor=${others[0]}
echo "etcd-leader-partition: leader m$leader (${addr[$leader]}); m$kill will be killed and" \
     "restarted; m$survivor stays" >&2

export ETCD_ENDPOINTS=$endpoints LEADER_NS=$LAB-h$leader
export PEER_A=${addr[${others[0]}]} PEER_B=${addr[${others[1]}]}
export KILL_MEMBER=m$kill RESTART_MEMBER=$WORK/start-m$kill.sh
export SURVIVOR_URL=http://${addr[$survivor]}:2379
rc=0
"$FL" run "$HERE/etcd-leader-partition.yaml" --db "$DB" --json "$RUN_JSON" || rc=$?
# The restarted member rejoined: every member healthy again.
for _ in $(seq 50); do healthy && break; sleep 0.2; done
healthy && echo "etcd-leader-partition: all 3 members healthy after the run" >&2 ||
    echo "etcd-leader-partition: not every member is healthy after the run" >&2
exit $rc
