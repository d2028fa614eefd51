"""process.kill's restart is journaled (a process.restart record written before
the kill): when `faultline run` is SIGKILLed between the kill and the restart,
its guardian runs the restart at once; when the guardian is gone too,
`faultline recover --all` does, on the step's host (here a lab host's network
namespace). A tiny HTTP server proves it: the new one answers, with a new pid.
Every server is killed by pid and the lab removed in finalizers."""
import json
import os
import random
import signal
import socket
import subprocess

import pytest

from conftest import alive, journal_records, wait_for
from test_cluster import lab_leftovers
from test_core import guardian_pids, sentinel_pids


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def read_pid(path):
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


@pytest.fixture
def servers():
    """pid files of the servers a test starts (by hand or by a restart):
    every pid they name is killed when the test ends."""
    files = []
    yield files
    for f in files:
        pid = read_pid(f)
        if pid > 1 and alive(pid):
            os.kill(pid, signal.SIGKILL)


def experiment(tmp_path, port, pidfile, host_lines="", step_host="", bind="127.0.0.1"):
    serve = f"python3 -m http.server {port} --bind {bind} --directory {tmp_path}"
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: kill a member and restart it later
{host_lines}
steady_state:
  probes: [{{name: ok, type: command, command: "true", interval: 200ms}}]
method:
  - name: kill-web
    kind: process.kill
    {step_host}
    cmdline: "http.server {port} "
    restart: {{command: "{serve} >/dev/null 2>&1 & echo $! > {pidfile}", after: 30s}}
duration: 40s
""")
    return exp


def start_run(fl_popen, exp, tmp_path):
    return fl_popen("run", exp, "--db", tmp_path / "h.db")


def restart_record(state_dir):
    for f in journal_records(state_dir):
        with open(os.path.join(state_dir, "faults", f)) as fh:
            rec = json.load(fh)
        if rec["kind"] == "process.restart":
            return rec
    return None


def test_guardian_restarts_after_the_run_is_killed(fl, fl_popen, spawn, servers, tmp_path,
                                                  state_dir, no_leftovers):
    port = free_port()
    pidfile = tmp_path / "web.pid"
    servers.append(pidfile)
    old = spawn(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1",
                 "--directory", str(tmp_path)])
    assert wait_for(lambda: answers("127.0.0.1", port), 10)
    run = start_run(fl_popen, experiment(tmp_path, port, pidfile), tmp_path)
    assert wait_for(lambda: old.poll() is not None, 15), "the server was never killed"
    rec = restart_record(state_dir)
    assert rec and rec["params"]["step"] == "kill-web" and rec["owner"]["pid"] == run.pid, rec
    assert "python3 -m http.server" in rec["params"]["command"]

    # status lists it as a pending restart, due in about 30s
    rc, out, err = fl("status", "--json")
    assert rc == 0, err
    (f,) = [f for f in json.loads(out)["faults"] if f["kind"] == "process.restart"]
    assert 20000 < f["restart_due_in_ms"] <= 30000, f
    assert f["description"].startswith("pending restart of step 'kill-web'"), f
    rc, out, err = fl("status")
    assert "process.restart" in out and "(due in " in out, out

    run.kill()
    run.wait(timeout=10)
    assert not answers("127.0.0.1", port)
    # the guardian sees its owner gone and runs the restart at once
    assert wait_for(lambda: read_pid(pidfile) > 0 and answers("127.0.0.1", port), 15), \
        open(os.path.join(state_dir, "guardian.log")).read()
    new = read_pid(pidfile)
    assert new != old.pid and alive(new)
    assert wait_for(lambda: journal_records(state_dir) == [], 5)
    log = open(os.path.join(state_dir, "guardian.log")).read()
    assert f"reverting fault {rec['id']} (process.restart): owner process died" in log, log
    assert "overdue restart of step 'kill-web' (due in " in log, log
    assert "exited with status 0" in log, log


@pytest.fixture
def lab(fl):
    name = "r%05x" % random.randrange(1 << 20)
    subnet = "10.%d.%d.0/24" % (random.randrange(200, 250), random.randrange(0, 255))
    rc, out, err = fl("lab", "up", "--name", name, "--hosts", "2", "--subnet", subnet)
    assert rc == 0, err
    yield name, subnet.rsplit(".", 1)[0] + ".3"
    fl("lab", "down", name)
    assert lab_leftovers(name) == [], lab_leftovers(name)


def netns_inode(path):
    return os.stat(path).st_ino


def test_recover_all_restarts_on_the_lab_host(fl, fl_popen, spawn, servers, lab, tmp_path,
                                               state_dir, no_leftovers):
    name, h2 = lab
    port = free_port()
    pidfile = tmp_path / "web.pid"
    servers.append(pidfile)
    old = spawn(["ip", "netns", "exec", f"{name}-h2", "python3", "-m", "http.server", str(port),
                 "--bind", "0.0.0.0", "--directory", str(tmp_path)])
    assert wait_for(lambda: answers(h2, port), 10)
    exp = experiment(tmp_path, port, pidfile, host_lines=f"hosts:\n  h2: {name}/h2",
                     step_host="host: h2", bind="0.0.0.0")
    run = start_run(fl_popen, exp, tmp_path)
    assert wait_for(lambda: old.poll() is not None, 15), "the server was never killed"
    rec = restart_record(state_dir)
    assert rec and rec["params"]["lab"] == f"{name}/h2", rec

    # the guardian and its sentinel die too (together, so neither brings
    # the other back), then the run
    assert wait_for(lambda: len(guardian_pids(state_dir)) == 1 and
                    len(sentinel_pids(state_dir)) == 1, 5)
    for pid in sentinel_pids(state_dir) + guardian_pids(state_dir):
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: guardian_pids(state_dir) == [] and sentinel_pids(state_dir) == [], 5)
    run.kill()
    run.wait(timeout=10)
    assert not wait_for(lambda: answers(h2, port), 1), "nobody should have restarted it yet"
    assert journal_records(state_dir) == [rec["id"] + ".json"]

    # --state-dir, FAULTLINE_STATE_DIR elsewhere: this command starts no
    # guardian for the journal first (every command does that for
    # $FAULTLINE_STATE_DIR), so the restart is recover's own
    rc, out, err = fl("recover", "--all", "--state-dir", state_dir, timeout=120,
                      env={"FAULTLINE_STATE_DIR": str(tmp_path / "elsewhere")})
    assert rc == 0, out + err
    assert f"reverted {rec['id']}" in out, out
    assert "overdue restart of step 'kill-web' (due in " in err, err
    assert f"on lab host {name}/h2: exited with status 0" in err, err
    assert wait_for(lambda: read_pid(pidfile) > 0 and answers(h2, port), 10)
    new = read_pid(pidfile)
    assert new != old.pid and alive(new)
    # it runs inside h2's network namespace, as the step said
    assert netns_inode(f"/proc/{new}/ns/net") == netns_inode(f"/run/netns/{name}-h2")
    assert journal_records(state_dir) == []
