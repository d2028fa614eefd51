"""The cluster examples: etcd with its leader partitioned and a member
killed and restarted, and PostgreSQL with its primary paused (both must
check out valid). Each is one experiment file whose setup: builds the
cluster in `faultline lab` hosts and whose teardown: stops it and removes
its data; the test runs exactly that file (cluster_examples.example, which
also checks that the teardown left no process and no data behind)."""
import pytest

from cluster_examples import check_of, event_output, example  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_etcd_leader_partition_and_member_restart_is_valid(example):
    rc, out, run = example("etcd-leader-partition.yaml", 3)
    assert rc == 0, out
    assert run["verdict"] == "passed", run["explanation"]
    check = check_of(run)
    assert check["model"] == "kv" and check["result"] == "valid", check
    events = "\n".join(e["message"] for e in run["events"])
    # setup built the cluster and waited for a leader
    status, started = event_output(run, "wait-for-leader")
    assert status == 0 and ", true, " in started, started
    # the leader, found when the fault started, was cut off from the two others
    assert "partition-leader: host_from gave '" in events, events
    assert "partition-leader" in events and "reverted" in events
    cut = [e["message"] for e in run["events"]
           if e["message"].startswith("partition-leader: host_from gave")][0]
    assert cut.count("=") == 2, cut  # "peers hA=ADDR, hB=ADDR": the leader not among them
    # a member killed and started again
    assert ("killed 1 of 1 process matching '^etcd --name m3 --data-dir /tmp/faultline-x"
            in events), events
    assert "kill-member: restarted (revert of the kill)" in events, events
    # the restarted member rejoined; teardown stopped all three
    assert event_output(run, "members-healthy") == (0, "all 3 members healthy after the run")
    for k in (1, 2, 3):  # each host stopped its member: "stopped PID"
        status, stopped = event_output(run, f"stop-m{k}")
        assert status == 0 and len(stopped.split()) == 2, (k, stopped)


def test_postgres_primary_pause_with_replica_is_valid(example):
    rc, out, run = example("postgres-primary-pause.yaml", 2)
    assert rc == 0, out
    assert run["verdict"] == "passed", run["explanation"]
    check = check_of(run)
    assert check["model"] == "bank" and check["result"] == "valid", check
    probes = {p["name"]: p for p in run["probes"]}
    # the pause was real: the primary stopped answering; the standby did not
    assert probes["primary"]["failures"] > 0, probes
    assert probes["standby-reads"]["availability"] > probes["primary"]["availability"], probes
    status, caught_up = event_output(run, "standby-caught-up")
    assert status == 0 and caught_up.startswith("the standby caught up"), caught_up
    status, stopped = event_output(run, "stop-servers")
    assert status == 0 and len(stopped.split()) == 3, stopped  # primary and replica
