"""Shared by the cluster examples' tests (test_examples_cluster.py,
test_examples_redis_sentinel.py): the `example` fixture runs one of
examples/*.sh as a user would, with a random lab name and subnet and the
test's state directory, and reads the run it stored. Whatever happens, its
finalizer stops the script's process group (by its pid), takes the lab down
(which stops every process in the lab's namespaces, by pid) and checks that
nothing of the lab is left."""
import json
import os
import random
import signal
import subprocess

import pytest

from conftest import BIN, ROOT
from test_lab import leftovers


@pytest.fixture
def example(fl, tmp_path, state_dir):
    """run(script) -> (exit status, stderr, the run as `show --json` prints it)."""
    labs, procs = [], []

    def run(script, timeout=120, **extra_env):
        name = "x%05x" % random.randrange(1 << 20)
        subnet = "10.%d.%d.0/24" % (random.randrange(200, 250), random.randrange(0, 255))
        labs.append(name)
        run_json = tmp_path / f"{name}.json"
        env = dict(os.environ, FAULTLINE=BIN, LAB=name, SUBNET=subnet,
                   DB=str(tmp_path / "history.db"), RUN_JSON=str(run_json),
                   FAULTLINE_STATE_DIR=state_dir, **extra_env)
        p = subprocess.Popen([os.path.join(ROOT, "examples", script)], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(p)
        out, err = p.communicate(timeout=timeout)
        print(out, err)  # shown when the test fails: the run's timeline and the checker's report
        return p.returncode, err, json.loads(run_json.read_text()) if run_json.exists() else None

    yield run
    for p in procs:
        if p.poll() is None:  # timed out: the script, `faultline run` and its workload
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)
                    p.wait(timeout=20)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
    for name in labs:
        fl("lab", "down", name)
        assert leftovers(name) == [], f"lab {name} left {leftovers(name)}"


def check_of(run):
    assert run is not None, "the run was not stored"
    assert run["history"] and run["history"]["operations"] > 100, run["history"]
    assert len(run["checks"]) == 1, run["checks"]
    return run["checks"][0]
