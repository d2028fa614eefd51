"""The etcd example (examples/etcd-leader-partition.yaml) on AGENT hosts,
as on real machines: a lab built with `lab up --agent-commands` (4 hosts:
h1-h3 the members, h4 the clients' machine), and the example file with only
its hosts: section pointed at the hosts' agents (agent: URL, token:
file:...) plus a client host that its workload and probe run on - the
variant is derived from the file here, never copied. So every setup and
teardown command, the workload, the probe, the partition, the kill and its
restart go through the agents; the run must pass with the kv check valid,
its events must say so, and afterwards no agent holds a job or a fault, no
member is left running and the data directory is gone. The lab (random
name, subnet 10.254.x.0/24 that no other test uses) and everything in it
is removed in a finalizer, by pid."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest
import yaml

from cluster_examples import check_of, event_output, lab_processes
from conftest import BIN, ROOT, alive
from test_lab import leftovers

pytestmark = pytest.mark.usefixtures("no_leftovers")

EXAMPLE = os.path.join(ROOT, "examples", "etcd-leader-partition.yaml")


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True  # the spec refuses anchors and aliases


def agents_variant(path, urls, token_file):
    """The example with its hosts: replaced by the agents of h1-h3 and a
    client host (h4's agent) for the workload and the probes."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    assert set(doc["hosts"]) == {"h1", "h2", "h3"}, doc["hosts"]
    doc["hosts"] = {h: {"agent": u, "token": "file:" + token_file} for h, u in urls.items()}
    doc["hosts"]["client"] = doc["hosts"].pop("h4")
    # every command of the example already names its host
    for c in doc["setup"] + doc["teardown"]:
        assert isinstance(c, dict) and c.get("host") in ("h1", "h2", "h3"), c
    doc["workload"]["host"] = "client"
    for p in doc["steady_state"]["probes"]:
        p["host"] = "client"
    return yaml.dump(doc, Dumper=NoAliases, sort_keys=False, width=1 << 20)


def api(url, token, path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


@pytest.fixture
def agent_lab(fl, state_dir):
    """(name, net, {h: agent url}, token, token file); removed afterwards with
    everything in it, and the members' data directory."""
    name = "ea%05x" % random.randrange(1 << 20)
    net = "10.254.%d" % random.randrange(0, 255)
    rc, _, err = fl("lab", "up", "--name", name, "--hosts", 4, "--subnet", net + ".0/24",
                    "--agent-commands")
    assert rc == 0, err
    try:
        tok_file = os.path.join(state_dir, "labs", name + ".token")
        with open(tok_file) as f:
            tok = f.read().strip()
        urls = {f"h{k}": f"http://{net}.{k + 1}:7421" for k in range(1, 5)}
        yield name, net, urls, tok, tok_file
    finally:
        fl("lab", "down", name)
        shutil.rmtree(f"/tmp/faultline-{name}", ignore_errors=True)
        assert leftovers(name) == [], leftovers(name)


def test_etcd_example_through_agents_is_valid(agent_lab, state_dir, tmp_path):
    name, net, urls, tok, tok_file = agent_lab
    variant = tmp_path / "etcd-agents.yaml"
    variant.write_text(agents_variant(EXAMPLE, urls, tok_file))
    env = dict(os.environ, LAB=name, NET=net, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.Popen([BIN, "run", str(variant), "--db", str(tmp_path / "h.db"),
                          "--json", str(tmp_path / "run.json")],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=100)
    finally:
        if p.poll() is None:  # timed out: stop `faultline run` by its process group
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    print(out, err)  # shown when the test fails: the timeline and the checker's report
    run = json.loads((tmp_path / "run.json").read_text())
    evs = [e["message"] for e in run["events"]]
    text = "\n".join(evs)
    assert p.returncode == 0 and run["verdict"] == "passed", (run["explanation"], text)
    check = check_of(run)
    assert check["model"] == "kv" and check["result"] == "valid", check

    # every setup and teardown command ran on its host, by the host's agent
    for c in ["start-m1", "start-m2", "start-m3", "wait-for-leader",
              "members-healthy", "stop-m1", "stop-m2", "stop-m3"]:
        assert any(re.match(re.escape(c) + r" on host h[123] by its agent: `", m)
                   for m in evs), (c, text)
    # setup: the members started, a leader elected
    for k in (1, 2, 3):
        assert event_output(run, f"start-m{k}") == (0, ""), event_output(run, f"start-m{k}")
    status, started = event_output(run, "wait-for-leader")
    assert status == 0 and ", true, " in started, started
    # the probe and the workload ran on the client host, as jobs of its agent
    assert any(m.startswith("probe majority-serving runs on host client through its agent (job j")
               for m in evs), text
    assert any("on host client by its agent (job j" in m for m in evs), text
    assert any(m.startswith("the workload finished: ") and "fetched from host client's agent (" in m
               for m in evs), text
    # the leader, found when the fault started (etcdctl run by h1's agent),
    # was cut off by its agent
    cut = [m for m in evs if m.startswith("partition-leader: host_from gave")]
    assert len(cut) == 1, text
    assert "(through its agent), asked on host h1 by its agent;" in cut[0], text
    assert any(re.match(r"partition-leader \S+ applied on host h[123] by its agent", m)
               for m in evs), text
    assert any(re.match(r"partition-leader \S+ reverted on host h[123] by its agent", m)
               for m in evs), text
    # the member on h3 killed by h3's agent, and restarted by it (a job)
    killed = [m for m in evs
              if m.startswith("kill-member ") and "applied on host h3 by its agent" in m]
    pattern = f"'^etcd --name m3 --data-dir /tmp/faultline-{name}/m3 '"
    assert len(killed) == 1 and f"killed 1 of 1 process matching {pattern}" in killed[0], text
    old = int(re.search(r"\(pid (\d+)\)", killed[0]).group(1))
    assert not alive(old)
    assert any(m.startswith("kill-member: restart in 1.0s on host h3 by its agent (job j")
               for m in evs), text
    assert any(m.startswith("kill-member: restarted") for m in evs), text
    # teardown, on h1-h3 by their agents: the restarted member rejoined,
    # each host stopped its member (a member that is gone) and removed its data
    assert event_output(run, "members-healthy") == (0, "all 3 members healthy after the run")
    for k in (1, 2, 3):
        status, stopped = event_output(run, f"stop-m{k}")
        assert status == 0 and re.fullmatch(r"stopped \d+", stopped), (k, stopped)
        pid = int(stopped.split()[1])
        assert pid != old and not alive(pid), (k, pid)
    assert lab_processes(name) == {}, "the teardown left processes in the lab"
    assert not os.path.exists(f"/tmp/faultline-{name}"), "the teardown left the data directory"
    # no agent holds a job or a fault of the run
    for h, u in urls.items():
        assert api(u, tok, "/api/v1/jobs")["jobs"] == [], h
        assert api(u, tok, "/api/v1/faults")["faults"] == [], h
