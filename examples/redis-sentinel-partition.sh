#!/bin/bash
# Build a Redis primary, two replicas and three Sentinels in `faultline lab`
# hosts (one redis-server and one sentinel per host), run
# examples/redis-sentinel-partition.yaml against them, say where the primary
# is afterwards, and take everything down.
#
# Usage (as root): examples/redis-sentinel-partition.sh
# Environment: FAULTLINE (the binary; default faultline), LAB (default
# redislab), SUBNET (default 10.79.0.0/24), DB (the run's history store;
# default a temporary file), RUN_JSON (the run as `faultline show --json`
# prints it; default a temporary file), REDIS_MAX_LAG (unset: Redis'
# defaults; N: every server gets min-replicas-to-write 1 and
# min-replicas-max-lag N, so a primary that has heard from no replica for N
# seconds refuses writes: the mitigation docs/examples.md describes).
# Exit status: the run's (docs/experiments.md); expect 1 (failed: the set
# check finds lost adds); 20 when the cluster could not be built.
#
# This script is the setup and, by a trap, the teardown: the lab goes down,
# and with it every process in its namespaces, even on failure. Experiments'
# own setup:/teardown: sections could now hold these steps (docs/examples.md).
set -euo pipefail

FL=${FAULTLINE:-faultline}
LAB=${LAB:-redislab}
SUBNET=${SUBNET:-10.79.0.0/24}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/fl-redis-XXXXXX)
DB=${DB:-$WORK/history.db}
RUN_JSON=${RUN_JSON:-$WORK/run.json}

# shellcheck disable=SC2317  # run by the trap
cleanup() {
    "$FL" lab down "$LAB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "redis-sentinel-partition: $*" >&2
    for f in "$WORK"/*.log; do [ -e "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
    exit 20
}

"$FL" lab up --name "$LAB" --hosts 3 --subnet "$SUBNET" >/dev/null
base=${SUBNET%.*/*}
addr=("" "$base.2" "$base.3" "$base.4")

start() { # host, log name, command...
    local k=$1 log=$2
    shift 2
    setsid "$FL" lab exec "$LAB/h$k" -- "$@" >>"$WORK/$log.log" 2>&1 </dev/null &
}
for k in 1 2 3; do
    mkdir -p "$WORK/r$k"
    repl=()
    [ "$k" != 1 ] && repl=(--replicaof "${addr[1]}" 6379)
    [ -n "${REDIS_MAX_LAG:-}" ] &&
        repl+=(--min-replicas-to-write 1 --min-replicas-max-lag "$REDIS_MAX_LAG")
    start "$k" "redis$k" redis-server --port 6379 --bind "${addr[$k]}" --protected-mode no \
        --save "" --appendonly no --repl-diskless-sync-delay 0 --dir "$WORK/r$k" "${repl[@]}"
    # a sentinel rewrites its configuration file: each has its own
    cat >"$WORK/sentinel$k.conf" <<EOS
port 26379
bind ${addr[$k]}
protected-mode no
dir $WORK/r$k
sentinel monitor mymaster ${addr[1]} 6379 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 2000
sentinel parallel-syncs mymaster 1
EOS
    start "$k" "sentinel$k" redis-server "$WORK/sentinel$k.conf" --sentinel
done

# Ready: both replicas in sync with the primary, and every sentinel sees
# the other two.
ready() {
    for k in 2 3; do
        redis-cli -h "${addr[$k]}" -p 6379 INFO replication 2>/dev/null |
            grep -q '^master_link_status:up' || return 1
    done
    for k in 1 2 3; do
        redis-cli -h "${addr[$k]}" -p 26379 SENTINEL ckquorum mymaster 2>/dev/null |
            grep -q '^OK 3 usable' || return 1
    done
}
for _ in $(seq 150); do ready && break; sleep 0.2; done
ready || die "the replicas and sentinels were not ready in 30s"

export SENTINELS="sentinel://${addr[1]}:26379,${addr[2]}:26379,${addr[3]}:26379/mymaster"
export PRIMARY_NS=$LAB-h1 PEER_A=${addr[2]} PEER_B=${addr[3]} SURVIVOR=${addr[2]}:26379
echo "redis-sentinel-partition: primary ${addr[1]} (h1), replicas ${addr[2]} ${addr[3]}," \
     "a sentinel on each" >&2
rc=0
"$FL" run "$HERE/redis-sentinel-partition.yaml" --db "$DB" --json "$RUN_JSON" || rc=$?
now=$(redis-cli -h "${addr[2]}" -p 26379 SENTINEL get-master-addr-by-name mymaster | head -1)
echo "redis-sentinel-partition: the sentinels now name $now as the primary (it was ${addr[1]})" >&2
exit $rc
