"""The cluster examples: a Redis primary with two replicas and three
Sentinels, the primary partitioned while clients write (a known way to lose
acknowledged writes: the tests report what the checker finds). The
experiment file's setup: builds the cluster in `faultline lab` hosts and
its teardown: stops it and removes its data; the test runs exactly that
file (cluster_examples.example, which also checks that the teardown left
no process and no data behind)."""
import json

import pytest

from cluster_examples import check_of, event_output, example  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_redis_sentinel_partition_loses_acknowledged_writes(example):
    """Losing acknowledged writes here is a known property of Redis
    (asynchronous replication): the cut-off primary keeps acknowledging
    adds that the failover then discards."""
    rc, out, run = example("redis-sentinel-partition.yaml", 3)
    assert rc == 1, out
    assert run["verdict"] == "failed", run["explanation"]
    check = check_of(run)
    assert check["model"] == "set" and check["result"] == "invalid", check
    assert " lost" in check["output"], check["output"]
    print("redis sentinel partition: the set check says:", check["output"].splitlines()[0])
    events = "\n".join(e["message"] for e in run["events"])
    assert "partition-primary: peers h2=" in events and ", h3=" in events, events
    # a replica was promoted: the sentinels name another primary
    status, now = event_output(run, "where-is-the-primary")
    assert status == 0 and "the sentinels now name " in now, now
    new, was = now.split("now name ")[1].split(" as the primary (it was ")
    assert new and new != was.rstrip(")"), now
    status, stopped = event_output(run, "stop-servers")
    assert status == 0 and len(stopped.split()) == 7, stopped  # 3 servers, 3 sentinels


def test_redis_sentinel_partition_with_min_replicas_bounds_the_loss(example, fl, tmp_path):
    """The mitigation docs/examples.md describes: with min-replicas-to-write 1
    and min-replicas-max-lag 2 the cut-off primary refuses writes
    (NOREPLICAS) once it has not heard from a replica for 2s, and no add
    sent after its first refusal is lost: the loss is bounded by the lag,
    not by how long the partition and the demotion take. This holds because
    the setup waits until every sentinel knows both replicas (issue 13: a
    replica the failover's leader did not know stayed a replica of the old
    primary, which then acknowledged adds again after the heal, all lost)."""
    rc, out, run = example("redis-sentinel-partition.yaml", 3,
                           MIN_REPLICAS_TO_WRITE="1", MIN_REPLICAS_MAX_LAG="2")
    assert rc in (0, 1), out
    check = check_of(run)
    assert check["result"] in ("valid", "invalid"), check
    print("with min-replicas-max-lag 2, the set check says:", check["output"].splitlines()[0])
    rc, hist, e = fl("show", run["id"], "--history", "--db", tmp_path / "history.db")
    assert rc == 0, e
    ops = [json.loads(l) for l in hist.splitlines() if l.startswith("{")]
    refused = [o["time"] for o in ops if o["type"] == "fail" and
               o.get("error", "").startswith("NOREPLICAS")]
    assert refused, "the primary never refused a write"
    final = set([o for o in ops if o["f"] == "read" and o["type"] == "ok"][-1]["value"])
    lost = [o for o in ops if o["f"] == "add" and o["type"] == "ok" and o["value"] not in final]
    # by when each add was sent: one sent before the first refusal may be
    # answered (OK, by the server) after it (another client's answer, read
    # later); one sent after it reaches a primary that refuses
    sent = {(o["process"], o["value"]): o["time"] for o in ops
            if o["f"] == "add" and o["type"] == "invoke"}
    late = [o for o in lost if sent[(o["process"], o["value"])] > min(refused)]
    assert not late, f"adds sent after the first refusal ({min(refused)}) were lost: {late[:5]}"
