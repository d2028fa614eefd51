"""Experiments with a `workload:` and `checks:` section: `faultline run`
drives real clients through the faults, stores the history with the run and
makes the checker's answer part of the verdict.

Servers (redis-server, a small HTTP service from test_workload) run on
loopback on free ports and are killed by PID; the faults are process pauses
of those servers."""
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import BIN, ROOT, proc_state, wait_for
from test_workload import SERVICE, free_port, port_open, stop_pid

pytestmark = pytest.mark.usefixtures("no_leftovers")

EXPERIMENT = """\
title: {title}
hypothesis: the service keeps its promises through a pause
steady_state:
  interval: 100ms
  preflight: 300ms
  probes:
    - name: port
      type: tcp
      address: 127.0.0.1:{port}
      timeout: 500ms
method:
  - name: pause
    kind: process.pause
    pid: {pid}
    start: 300ms
    duration: {pause}
workload:
{workload}
checks:
{checks}
"""


@pytest.fixture
def server(tmp_path):
    """start("redis") or start("http", broken=True) -> (pid, port)."""
    procs = []

    def start(kind, broken=False):
        port = free_port()
        if kind == "redis":
            d = tmp_path / f"redis-{port}"
            d.mkdir()
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(d)]
        else:
            script = tmp_path / "service.py"
            script.write_text(SERVICE)
            argv = ["/usr/bin/python3", str(script), str(port), "1" if broken else "0"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        assert wait_for(lambda: port_open(port), 10), f"{kind} did not start"
        return p.pid, port

    yield start
    for p in procs:
        stop_pid(p.pid, signal.SIGKILL)
        p.wait()


def run_experiment(fl, tmp_path, text=None, path=None, env=None):
    f = path
    if f is None:
        f = tmp_path / "exp.yaml"
        f.write_text(text)
    db = tmp_path / "history.db"
    rc, out, err = fl("validate", f, env=env)
    assert rc == 0, out + err
    rc, out, err = fl("run", f, "--db", db, timeout=120, env=env)
    show = fl("show", "1", "--json", "--db", db)
    assert show[0] == 0, show[2]
    return rc, out + err, json.loads(show[1]), db


def indent(yaml_map):
    return "\n".join("  " + line for line in yaml_map.strip().splitlines())


def test_redis_register_through_a_pause_checks_out_and_passes(fl, server, tmp_path):
    pid, port = server("redis")
    example = os.path.join(ROOT, "examples", "redis-register-pause-checked.yaml")
    env = {"REDIS_ADDR": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_PID": str(pid)}
    rc, out, run, db = run_experiment(fl, tmp_path, path=example, env=env)
    assert rc == 0, out
    assert run["verdict"] == "passed", run["explanation"]
    assert proc_state(pid) in ("S", "R"), "redis must be resumed"
    hist = run["history"]
    assert hist["client"] == "redis" and hist["workload"] == "register"
    assert hist["operations"] > 20 and hist["bytes"] > 0
    assert [c["model"] for c in run["checks"]] == ["kv"]
    assert run["checks"][0]["result"] == "valid", run["checks"][0]["output"]
    msgs = [e["message"] for e in run["events"]]
    assert any("redis register clients started" in m for m in msgs), msgs
    # the PING probe saw the pause (a tcp connect would not) and the recovery
    ping = next(p for p in run["probes"] if p["name"] == "redis-ping")
    assert ping["kind"] == "redis" and ping["failures"] >= 2, ping
    assert ping["time_to_recover_ms"] is not None, ping
    assert any(m.startswith("check kv: valid") for m in msgs), msgs

    # The stored history is the real one: it checks out again from `show --history`,
    # and the pause left operations with an unknown outcome or a long latency.
    rc, hist_text, err = fl("show", "1", "--history", "--db", db)
    assert rc == 0, err
    ops = [json.loads(l) for l in hist_text.splitlines() if l.strip() and not l.startswith("#")]
    assert len([o for o in ops if o["type"] == "invoke"]) > 20
    assert {o["type"] for o in ops} >= {"invoke", "ok"}
    # every report counts the same operations: the workload's own line,
    # show --json and the human show
    invokes = len([o for o in ops if o["type"] == "invoke"])
    assert hist["operations"] == invokes and hist["events"] == len(ops)
    done = next(m for m in msgs if m.startswith("the workload finished:"))
    assert f"{invokes} operations" in done and f"({len(ops)} events)" in done, done
    rc, text, err = fl("show", "1", "--db", db)
    assert f"history: {invokes} operations ({len(ops)} events)" in text, text
    # the timeline points at where the history really is, not a deleted temporary file
    assert "stored with run 1" in done, done
    for m in msgs:
        for path in re.findall(r"/\S*history\.jsonl", m):
            assert os.path.exists(path), f"the timeline points at {path}, which is gone: {m}"
    h = tmp_path / "again.jsonl"
    h.write_text(hist_text)
    rc, out, err = fl("check", "--model", "kv", h)
    assert rc == 0, out + err


def test_money_losing_service_fails_the_run_with_the_checkers_explanation(fl, server,
                                                                         tmp_path):
    pid, port = server("http", broken=True)
    text = EXPERIMENT.format(
        title="transfers conserve money", port=port, pid=pid, pause="300ms",
        workload=indent(f"""
client: http
workload: bank
target: http://127.0.0.1:{port}/api
concurrency: 8
accounts: 3
total: 300
"""),
        checks=indent("- model: bank\n  accounts: 3\n  total: 300"))
    rc, out, run, _ = run_experiment(fl, tmp_path, text)
    assert rc == 1, out
    assert run["verdict"] == "failed"
    assert "bank check found the history invalid" in run["explanation"], run["explanation"]
    assert run["checks"][0]["result"] == "invalid"
    assert "expected 300" in run["checks"][0]["output"]
    # The hypothesis about liveness held: only the checker saw the lost money.
    msgs = [e["message"] for e in run["events"]]
    assert any("hypothesis held" in m for m in msgs), msgs
    assert proc_state(pid) in ("S", "R")


def test_workload_that_cannot_connect_is_an_error_before_any_fault(fl, server, tmp_path):
    pid, port = server("redis")
    dead = free_port()
    text = EXPERIMENT.format(
        title="unreachable workload target", port=port, pid=pid, pause="1s",
        workload=indent(f"client: redis\nworkload: register\ntarget: 127.0.0.1:{dead}"),
        checks=indent("- model: kv"))
    rc, out, run, _ = run_experiment(fl, tmp_path, text)
    assert rc == 10, out
    assert run["verdict"] == "error"
    assert "the workload exited with status 4 before any fault" in run["explanation"], \
        run["explanation"]
    msgs = [e["message"] for e in run["events"]]
    assert not any("applied" in m for m in msgs), msgs
    assert proc_state(pid) in ("S", "R")
    assert run["checks"] == []


def test_redis_queue_through_a_pause_delivers_everything_once(fl, server, tmp_path):
    pid, port = server("redis")
    example = os.path.join(ROOT, "examples", "redis-queue-pause-checked.yaml")
    env = {"REDIS_ADDR": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_PID": str(pid)}
    rc, out, run, db = run_experiment(fl, tmp_path, path=example, env=env)
    assert rc == 0, out
    assert run["verdict"] == "passed", run["explanation"]
    assert proc_state(pid) in ("S", "R"), "redis must be resumed"
    assert run["history"]["workload"] == "queue" and run["history"]["operations"] > 20
    assert [c["model"] for c in run["checks"]] == ["total-queue"]
    assert run["checks"][0]["result"] == "valid", run["checks"][0]["output"]
    assert " 0 lost" in run["checks"][0]["output"], run["checks"][0]["output"]
    rc, hist_text, err = fl("show", "1", "--history", "--db", db)
    assert rc == 0, err
    ops = [json.loads(l) for l in hist_text.splitlines() if l.strip() and not l.startswith("#")]
    assert [o for o in ops if o["f"] == "drain" and o["type"] == "ok"], "no final drain"
