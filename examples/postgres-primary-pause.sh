#!/bin/bash
# Build a PostgreSQL primary and a streaming replica in two `faultline lab`
# hosts (initdb, pg_basebackup and the servers as the postgres user), run
# examples/postgres-primary-pause.yaml, check that the standby caught up,
# and take everything down.
#
# Usage (as root): examples/postgres-primary-pause.sh
# Environment: FAULTLINE (the binary; default faultline), LAB (default
# pglab), SUBNET (default 10.80.0.0/24), PGBIN (default
# /usr/lib/postgresql/15/bin), DB (the run's history store; default a
# temporary file), RUN_JSON (the run as `faultline show --json` prints it;
# default a temporary file).
# Exit status: the run's (docs/experiments.md: 0 passed); 20 when the
# servers could not be built, 21 when the standby did not catch up.
#
# This script is the setup and, by a trap, the teardown: the lab goes down,
# and with it every process in its namespaces, even on failure. Experiments'
# own setup:/teardown: sections could now hold these steps (docs/examples.md).
set -euo pipefail

FL=${FAULTLINE:-faultline}
LAB=${LAB:-pglab}
SUBNET=${SUBNET:-10.80.0.0/24}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/fl-pg-XXXXXX)
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
    echo "postgres-primary-pause: $*" >&2
    for f in "$WORK"/*.log; do [ -e "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
    exit 20
}
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
sql() { # address, query
    "$PGBIN/psql" "host=$1 port=5432 dbname=postgres user=postgres connect_timeout=2" -XAtc "$2"
}

"$FL" lab up --name "$LAB" --hosts 2 --subnet "$SUBNET" >/dev/null
base=${SUBNET%.*/*}
primary=$base.2 replica=$base.3
chown postgres: "$WORK"

as_pg "$PGBIN/initdb" -D "$WORK/primary" -A trust -U postgres --no-sync -E UTF8 \
    >"$WORK/initdb.log" 2>&1 || die "initdb failed"
cat >>"$WORK/primary/postgresql.conf" <<EOS
port = 5432
unix_socket_directories = ''
max_connections = 40
EOS
echo "host all,replication all 0.0.0.0/0 trust" >>"$WORK/primary/pg_hba.conf"

start() { # host, data directory, cluster name, listen address
    setsid "$FL" lab exec "$LAB/$1" -- setpriv --reuid=postgres --regid=postgres --init-groups \
        "$PGBIN/postgres" -D "$WORK/$2" -c "cluster_name=$3" -c "listen_addresses=$4" \
        >>"$WORK/$2.log" 2>&1 </dev/null &
}
start h1 primary "$LAB-primary" "$primary"
for _ in $(seq 100); do sql "$primary" "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
sql "$primary" "SELECT 1" >/dev/null 2>&1 || die "the primary did not start"

as_pg "$PGBIN/pg_basebackup" -d "host=$primary port=5432 user=postgres" -D "$WORK/replica" \
    -R -X stream -c fast >"$WORK/basebackup.log" 2>&1 || die "pg_basebackup failed"
start h2 replica "$LAB-replica" "$replica"
streaming() { [ "$(sql "$replica" "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ]; }
for _ in $(seq 100); do streaming && break; sleep 0.2; done
streaming || die "the replica is not streaming from the primary"
echo "postgres-primary-pause: primary $primary (h1), streaming replica $replica (h2)" >&2

export PRIMARY_ADDR=$primary REPLICA_ADDR=$replica PRIMARY_CLUSTER=$LAB-primary
rc=0
"$FL" run "$HERE/postgres-primary-pause.yaml" --db "$DB" --json "$RUN_JSON" || rc=$?

# The standby replays everything the primary wrote: the same balances.
balances="SELECT string_agg(balance::text, ',' ORDER BY id) FROM faultline_bank"
want=$(sql "$primary" "$balances")
caught_up() { [ "$(sql "$replica" "$balances")" = "$want" ]; }
for _ in $(seq 50); do caught_up && break; sleep 0.2; done
if caught_up; then
    echo "postgres-primary-pause: the standby caught up: the same balances ($want) on both" >&2
else
    echo "postgres-primary-pause: the standby did not catch up (primary: $want)" >&2
    [ "$rc" = 0 ] && rc=21
fi
exit $rc
