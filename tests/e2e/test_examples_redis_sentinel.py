"""The cluster examples: a Redis primary with two replicas and three
Sentinels, the primary partitioned while clients write (a known way to lose
acknowledged writes: the tests report what the checker finds). The script builds the cluster in
`faultline lab` hosts, runs its experiment with a workload and a checker,
and takes the lab down (cluster_examples.example)."""
import json

import pytest

from cluster_examples import check_of, example  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_redis_sentinel_partition_reports_what_the_checker_finds(example):
    """Losing acknowledged writes here is a known property of Redis
    (asynchronous replication): the test does not assert valid, it asserts
    that the run completed, the sentinels failed over, and the checker gave
    a verdict, which it reports."""
    rc, err, run = example("redis-sentinel-partition.sh")
    assert rc in (0, 1), err
    assert run["verdict"] in ("passed", "failed"), run["explanation"]
    check = check_of(run)
    assert check["model"] == "set" and check["result"] in ("valid", "invalid"), check
    print("redis sentinel partition: the set check says:", check["output"].splitlines()[0])
    assert "partition-primary" in "\n".join(e["message"] for e in run["events"])
    # a replica was promoted: the sentinels name another primary
    line = [l for l in err.splitlines() if "the sentinels now name" in l]
    assert line and "now name None" not in line[0], err
    now, was = line[0].split("now name ")[1].split(" as the primary (it was ")
    assert now != was.rstrip(")"), line[0]
    if check["result"] == "invalid":
        assert " lost" in check["output"], check["output"]


def test_redis_sentinel_partition_with_min_replicas_bounds_the_loss(example, fl, tmp_path):
    """The mitigation docs/examples.md describes: with min-replicas-to-write 1
    and min-replicas-max-lag 2 the cut-off primary refuses writes
    (NOREPLICAS) once it has not heard from a replica for 2s, and no add it
    acknowledged after its first refusal is lost: the loss is bounded by the
    lag, not by how long the partition and the demotion take."""
    rc, err, run = example("redis-sentinel-partition.sh", REDIS_MAX_LAG="2")
    assert rc in (0, 1), err
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
    assert all(o["time"] < min(refused) for o in lost), "an add acknowledged after the refusals began was lost"
