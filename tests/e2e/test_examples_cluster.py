"""The cluster examples: etcd with its leader partitioned and a member
killed and restarted, and PostgreSQL with its primary paused (both must
check out valid). The script builds the cluster in
`faultline lab` hosts, runs its experiment with a workload and a checker,
and takes the lab down (cluster_examples.example)."""
import pytest

from cluster_examples import check_of, example  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_etcd_leader_partition_and_member_restart_is_valid(example):
    rc, err, run = example("etcd-leader-partition.sh")
    assert rc == 0, err
    assert run["verdict"] == "passed", run["explanation"]
    check = check_of(run)
    assert check["model"] == "kv" and check["result"] == "valid", check
    events = "\n".join(e["message"] for e in run["events"])
    # the faults really happened: the leader cut off, a member killed and started again
    assert "partition-leader" in events and "reverted" in events
    assert "killed 1 of 1 process matching '^etcd --name m" in events, events
    assert "restart-member: command exited with status 0" in events, events
    # clients that were on the cut-off leader failed over (unknown outcomes, reconnects)
    assert "all 3 members healthy after the run" in err, err


def test_postgres_primary_pause_with_replica_is_valid(example):
    rc, err, run = example("postgres-primary-pause.sh")
    assert rc == 0, err
    assert run["verdict"] == "passed", run["explanation"]
    check = check_of(run)
    assert check["model"] == "bank" and check["result"] == "valid", check
    probes = {p["name"]: p for p in run["probes"]}
    # the pause was real: the primary stopped answering; the standby did not
    assert probes["primary"]["failures"] > 0, probes
    assert probes["standby-reads"]["availability"] > probes["primary"]["availability"], probes
    assert "the standby caught up" in err, err
