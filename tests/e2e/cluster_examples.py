"""Shared by the cluster examples' tests (test_examples_cluster.py,
test_examples_redis_sentinel.py): the `example` fixture runs one of the
cluster experiment files as a user would - `faultline lab up`, then
`faultline run examples/FILE.yaml`, whose setup: builds the cluster and
whose teardown: stops it - with a random lab name and subnet (LAB, NET)
and the test's state directory, and reads the run it stored. It then
asserts that the teardown left nothing behind: every pid the teardown
reported stopping is gone, no process but the lab's agents is left in the
lab's namespaces, and the data directory /tmp/faultline-LAB is removed.
Whatever happens, its finalizer stops `faultline run` (by its process
group), takes the lab down (which stops every process in the lab's
namespaces, by pid), removes the data directory and checks that nothing of
the lab is left."""
import json
import os
import random
import re
import shutil
import signal
import subprocess

import pytest

from conftest import BIN, ROOT, alive
from test_lab import leftovers


def lab_processes(name):
    """pid -> command line of every process in lab `name`'s namespaces but
    its agents (`faultline agent`, which `lab down` stops)."""
    inodes = {os.stat(f"/run/netns/{ns}").st_ino
              for ns in os.listdir("/run/netns") if ns.startswith(name + "-h")}
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino not in inodes:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        words = [a.decode(errors="replace") for a in argv if a]
        if len(words) > 1 and os.path.basename(words[0]) == "faultline" and words[1] == "agent":
            continue
        out[int(pid)] = " ".join(words)
    return out


def event_output(run, name):
    """The output of the setup/teardown command `name`, from the run's events."""
    for e in run["events"]:
        m = re.match(re.escape(name) + r": exited with status (\d+)(?:; output:\n(.*))?$",
                     e["message"], re.S)
        if m:
            return int(m.group(1)), m.group(2) or ""
    return None, ""


@pytest.fixture
def example(fl, tmp_path, state_dir):
    """run(file, hosts, **env) -> (exit status, stdout + stderr, the run as
    `show --json` prints it)."""
    labs, procs = [], []

    def run(file, hosts, timeout=120, **extra_env):
        name = "x%05x" % random.randrange(1 << 20)
        net = "10.%d.%d" % (random.randrange(200, 250), random.randrange(0, 255))
        labs.append(name)
        rc, _, err = fl("lab", "up", "--name", name, "--hosts", hosts, "--subnet", net + ".0/24")
        assert rc == 0, err
        run_json = tmp_path / f"{name}.json"
        env = dict(os.environ, LAB=name, NET=net, FAULTLINE_STATE_DIR=state_dir, **extra_env)
        p = subprocess.Popen([BIN, "run", os.path.join(ROOT, "examples", file),
                              "--db", str(tmp_path / "history.db"), "--json", str(run_json)],
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(p)
        out, err = p.communicate(timeout=timeout)
        print(out, err)  # shown when the test fails: the run's timeline and the checker's report
        stored = json.loads(run_json.read_text()) if run_json.exists() else None
        # the teardown stopped what the setup started, and removed its data
        if stored:
            for e in stored["events"]:
                for pid in re.findall(r"\nstopped((?: \d+)+)$", e["message"]):
                    for p_ in map(int, pid.split()):
                        assert not alive(p_), f"pid {p_}, which the teardown stopped, is alive"
        assert lab_processes(name) == {}, "the teardown left processes in the lab"
        assert not os.path.exists(f"/tmp/faultline-{name}"), "the teardown left the data directory"
        return p.returncode, out + err, stored

    yield run
    for p in procs:
        if p.poll() is None:  # timed out: `faultline run` and its workload
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)
                    p.wait(timeout=20)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
    for name in labs:
        fl("lab", "down", name)
        shutil.rmtree(f"/tmp/faultline-{name}", ignore_errors=True)
        assert leftovers(name) == [], f"lab {name} left {leftovers(name)}"


def check_of(run):
    assert run is not None, "the run was not stored"
    assert run["history"] and run["history"]["operations"] > 100, run["history"]
    assert len(run["checks"]) == 1, run["checks"]
    return run["checks"][0]
