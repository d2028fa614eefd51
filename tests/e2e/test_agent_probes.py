"""Probes that run on agent hosts: the lab's hosts are addressed as AGENT hosts
(agent URL and the lab's token file), so a probe really runs there, as a
`faultline probe` job of the host's agent, and the engine reads its samples
back. A tcp probe from h2 to a tiny server on h3 passes before, fails while the
experiment partitions h2 from h3 (a probe run from this machine would not
see that partition) and passes after; the probe's job is gone from the agent
afterwards. A command probe on an agent without --allow-commands is refused
before anything is injected. Each test builds its own lab (random name and
subnet) and removes it, with everything running in it, whatever happened."""
import json
import os
import random
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, faultline_pids, wait_for
from test_agent import agent_pids, nft_tables
from test_lab import PY, SERVE

PORT = 8471


@pytest.fixture
def lab(fl, state_dir, spawn):
    """A 3-host lab (agents in every host) with a tiny TCP server on h3."""
    name = "p%05x" % random.randrange(1 << 20)
    base = "10.%d.%d" % (random.randrange(200, 250), random.randrange(0, 255))
    rc, out, err = fl("lab", "up", "--name", name, "--hosts", 3, "--subnet", base + ".0/24")
    assert rc == 0, err
    try:
        spawn(["ip", "netns", "exec", f"{name}-h3", PY, "-c", SERVE, str(PORT)])
        yield name, base
    finally:
        fl("lab", "down", name)
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"{name}-h" not in ns
        assert wait_for(lambda: agent_pids(f"/labs/{name}/") == [], 5)


def token_of(state_dir, name):
    return os.path.join(state_dir, "labs", f"{name}.token")


def jobs(base, host, tok, port=7421):
    req = urllib.request.Request(f"http://{base}.{host}:{port}/api/v1/jobs",
                                 headers={"Authorization": f"Bearer {tok}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)["jobs"]


def run(fl, tmp_path, text):
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    out = tmp_path / "run.json"
    rc, so, se = fl("run", exp, "--db", tmp_path / "h.db", "--json", out, timeout=110)
    return rc, so, se, (json.loads(out.read_text()) if out.exists() else None)


def test_probe_command_line(fl, tmp_path):
    """`faultline probe` alone: samples as JSON lines on the interval grid, a
    slow sample's overrun ticks printed as missed, and its refusals."""
    rc, out, err = fl("probe", "--kind", "command", "--params",
                      json.dumps({"command": "sleep 0.25; echo 7"}), "--interval", "100ms",
                      "--count", "4")
    lines = [json.loads(l) for l in out.splitlines()]
    assert rc == 0 and len(lines) == 4, (out, err)
    assert [l["t_ms"] for l in lines] == [0, 100, 200, 300]
    assert [l["missed"] for l in lines][:3] == [False, True, True]  # 0 ran 250ms
    assert all(l["ok"] and l["value"] == 7 and l["error"] is None for l in lines), out
    rc, out, err = fl("probe", "--kind", "tcp", "--params", '{"address": "127.0.0.1:1"}',
                      "--duration", "250ms", "--interval", "100ms")
    lines = [json.loads(l) for l in out.splitlines()]
    assert rc == 1 and [l["t_ms"] for l in lines] == [0, 100, 200], out
    assert not lines[0]["ok"] and "refused" in lines[0]["error"], out
    for args, code, words in [
            (["--kind", "tpc"], 2, "unknown probe kind 'tpc'"),
            (["--kind", "tcp", "--params", '{"adress": "x:1"}'], 2, "did you mean 'address'"),
            (["--kind", "tcp", "--params", "{"], 2, "--params is not JSON"),
            (["--kind", "tcp", "--params", "{}"], 2, "address"),
            (["--kind", "tcp", "--params", '{"address": "a:1"}', "--count", "1", "--duration",
              "1s"], 2, "not both"),
            (["--kind", "tcp", "--interval", "5ms"], 2, "interval")]:
        rc, out, err = fl("probe", *args)
        assert rc == code and words in err and out == "", (args, rc, err)
    rc, out, err = fl("probe", "--kind", "command", "--params", '{"command": "true"}',
                      env={"FAULTLINE_NO_COMMANDS": "1"})
    assert rc == 5 and "--allow-commands" in err and out == "", err


def test_probe_on_agent_host_sees_the_partition_of_that_host(fl, lab, state_dir, tmp_path):
    name, base = lab
    # reachable from this machine and from h2 before the run
    assert wait_for(lambda: subprocess.run(
        [BIN, "probe", "--kind", "tcp", "--params", json.dumps({"address": f"{base}.4:{PORT}"}),
         "--count", "1"], capture_output=True).returncode == 0, 10)
    rc, out, err = fl("lab", "exec", f"{name}/h2", "--", BIN, "probe", "--kind", "tcp",
                      "--params", json.dumps({"address": f"{base}.4:{PORT}"}), "--count", "2",
                      "--interval", "100ms")
    assert rc == 0, err
    lines = [json.loads(l) for l in out.splitlines()]
    assert [l["ok"] for l in lines] == [True, True] and lines[1]["t_ms"] == 100, out
    rc, out, err, res = run(fl, tmp_path, f"""
title: a probe on agent host h2
hosts:
  h2: {{agent: "http://{base}.3:7421", token: "file:{token_of(state_dir, name)}"}}
  h3: {name}/h3
steady_state:
  preflight: 1s
  probes:
    - {{name: web, type: tcp, address: "{base}.4:{PORT}", host: h2, interval: 200ms,
       timeout: 300ms}}
method:
  - {{name: cut, kind: network.partition, host: h2, peer: "{base}.4", start: 500ms,
     duration: 2s}}
duration: 3s
recovery: {{within: 5s, stable: 600ms}}
""")
    assert res, out + err
    ev = [e["message"] for e in res["events"]]
    assert rc == 1 and res["verdict"] == "failed", (rc, ev)
    assert any(m.startswith("probe web runs on host h2 through its agent (job j") for m in ev), ev
    assert any("hypothesis broken" in m and "probe web" in m for m in ev), ev
    assert any(m.startswith("probe web recovered") for m in ev), ev
    came = [m for m in ev if "samples came from host h2's agent" in m]
    assert len(came) == 1 and not came[0].startswith("probe web: 0 "), ev
    # the samples: healthy before the cut, failing during it, healthy after
    inject = next(e["t_ms"] for e in res["events"] if e["message"].startswith("injecting"))
    rc, so, se = fl("show", res["id"], "--json", "--samples", "--db", tmp_path / "h.db")
    assert rc == 0, se
    s = [(x[0] - inject, x[2]) for x in json.loads(so)["probes"][0]["samples_data"]]
    assert s and all(ok for t, ok in s if t < 400), s
    assert not any(ok for t, ok in s if 900 <= t <= 2300), s
    assert any(ok for t, ok in s if t > 3000), s
    # the job is gone from h2's agent, and the partition from h2
    tok = open(token_of(state_dir, name)).read().strip()
    assert jobs(base, 3, tok) == []
    assert nft_tables(f"{name}-h2") == []


def test_command_probe_on_agent_without_allow_commands_is_refused(fl, lab, state_dir, tmp_path,
                                                                   spawn):
    name, base = lab
    # an agent of its own in h1, started without --allow-commands
    hostdir = str(tmp_path / "h1-agent")
    spawn(["ip", "netns", "exec", f"{name}-h1", BIN, "agent", "--listen", f"{base}.2:7422",
           "--tokens", os.path.join(state_dir, "labs", f"{name}.tokens"), "--state-dir",
           hostdir, "--name", "h1"])
    tok = open(token_of(state_dir, name)).read().strip()
    assert wait_for(lambda: subprocess.run(
        ["curl", "-sf", f"http://{base}.2:7422/api/v1/health"], capture_output=True
    ).returncode == 0, 10)
    rc, out, err, res = run(fl, tmp_path, f"""
title: a command probe where commands are not allowed
hosts:
  h1: {{agent: "http://{base}.2:7422", token: "file:{token_of(state_dir, name)}"}}
steady_state:
  preflight: 300ms
  probes:
    - {{name: cmd, type: command, command: "true", host: h1, interval: 100ms}}
method:
  - {{name: cut, kind: network.partition, host: h1, peer: "{base}.4", duration: 1s}}
""")
    assert rc == 5, (rc, out, err)
    assert res and res["verdict"] == "error", res
    assert "probe cmd" in res["explanation"] and "host h1" in res["explanation"] and \
        "--allow-commands" in res["explanation"] and "nothing was injected" in res["explanation"], \
        res["explanation"]
    assert not any(e["message"].startswith(("injecting", "cut j", "cut 0")) for e in res["events"])
    assert jobs(base, 2, tok, 7422) == []
    assert nft_tables(f"{name}-h1") == []


def test_samples_of_an_agent_cut_off_from_the_controller_are_read_late(fl, lab, state_dir,
                                                                        tmp_path):
    """The experiment cuts h2 (where the probe runs) off from this machine
    (what this machine sends to h2 is dropped, for longer than a request's 5s
    timeout, so the fault's apply reply still arrives): the run cannot read
    the samples meanwhile, reads them when the partition ends, and judges
    them; none is invented, and the probe (h2 -> h3, never cut) held
    throughout."""
    name, base = lab
    rc, out, err, res = run(fl, tmp_path, f"""
title: the controller cut off from the probe's host
hosts:
  h2: {{agent: "http://{base}.3:7421", token: "file:{token_of(state_dir, name)}"}}
steady_state:
  preflight: 600ms
  probes:
    - {{name: web, type: tcp, address: "{base}.4:{PORT}", host: h2, interval: 200ms,
       timeout: 300ms}}
method:
  - {{name: cut-ctl, kind: network.partition, host: h2, peer: "{base}.1", direction: in,
     duration: 7s}}
duration: 7500ms
""")
    assert res, out + err
    ev = [e["message"] for e in res["events"]]
    print("\n".join(ev))
    assert rc == 0 and res["verdict"] == "passed", (rc, res["explanation"], ev)
    assert any(m.startswith("probe web: host h2's agent cannot be reached since") for m in ev), "\n".join(ev)
    assert any(m.startswith("probe web: host h2's agent answers again") for m in ev), ev
    assert not any(m.startswith("no data from probe web") for m in ev), ev
    rc, so, se = fl("show", res["id"], "--json", "--samples", "--db", tmp_path / "h.db")
    inject = next(e["t_ms"] for e in res["events"] if e["message"].startswith("injecting"))
    s = [x[0] - inject for x in json.loads(so)["probes"][0]["samples_data"]]
    # the ticks during the cut are there (read late), about one every 200ms
    during = [t for t in s if 0 <= t <= 7000]
    assert len(during) >= 30, s
    tok = open(token_of(state_dir, name)).read().strip()
    assert jobs(base, 3, tok) == []
    assert nft_tables(f"{name}-h2") == []


def probe_job_pids(address):
    """PIDs of `faultline probe` processes probing address."""
    return faultline_pids((b"probe",), address)


@pytest.mark.parametrize("how", ["kill", "delete"])
def test_samples_that_never_arrive_count_as_failed_and_are_named(fl_popen, lab, state_dir,
                                                                 tmp_path, how):
    """The probe's job on h2 ends mid-run: SIGKILLed (by its PID), or deleted
    behind the run's back (DELETE /api/v1/jobs/ID: the agent forgets it, as a
    restarted agent would). Its samples stop for good. The run does not judge
    the remaining ticks healthy: they are recorded as failed, the gap is
    named, and the hypothesis fails."""
    name, base = lab
    address = f"{base}.4:{PORT}"
    tok = open(token_of(state_dir, name)).read().strip()
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: the probe's job ends
hosts:
  h2: {{agent: "http://{base}.3:7421", token: "file:{token_of(state_dir, name)}"}}
steady_state:
  preflight: 300ms
  probes:
    - {{name: web, type: tcp, address: "{address}", host: h2, interval: 200ms, timeout: 300ms}}
method:
  - {{name: wait, command: "sleep 2.5"}}
duration: 3s
""")
    run = fl_popen("run", exp, "--db", tmp_path / "h.db", "--json", tmp_path / "run.json")
    assert wait_for(lambda: probe_job_pids(address), 10)
    time.sleep(1.0)
    if how == "kill":
        pids = probe_job_pids(address)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
    else:
        (job,) = jobs(base, 3, tok)
        req = urllib.request.Request(f"http://{base}.3:7421/api/v1/jobs/{job['id']}",
                                     method="DELETE", headers={"Authorization": f"Bearer {tok}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    assert run.wait(timeout=60) == 1, run.stderr.read()
    res = json.loads((tmp_path / "run.json").read_text())
    ev = [e["message"] for e in res["events"]]
    print("\n".join(ev))
    gap = [m for m in ev if m.startswith("no data from probe web on host h2 between +")]
    assert len(gap) == 1 and "count as failed samples" in gap[0], ev
    want = "ended (exited, signal 9)" if how == "kill" else "no longer has the probe's job"
    assert want in gap[0], gap
    assert res["verdict"] == "failed" and "probe web" in res["explanation"], res["explanation"]
    assert jobs(base, 3, tok) == [] and probe_job_pids(address) == []


def test_guardrail_on_an_agent_host_probe_aborts_the_run(fl, lab, state_dir, tmp_path):
    """An inline guardrail probe on h2 sees h2 cut from h3 and aborts the run
    long before the fault's 20s: every fault is reverted at once."""
    name, base = lab
    rc, out, err, res = run(fl, tmp_path, f"""
title: a guardrail probe on agent host h2
hosts:
  h2: {{agent: "http://{base}.3:7421", token: "file:{token_of(state_dir, name)}"}}
steady_state:
  preflight: 300ms
  probes: [{{name: local, type: tcp, address: "{base}.4:{PORT}", interval: 200ms}}]
guardrails:
  - name: h2-sees-h3
    probe: {{type: tcp, address: "{base}.4:{PORT}", host: h2, interval: 100ms, timeout: 200ms}}
    tolerance: {{success_ratio: 50%, window: 600ms}}
    for: 200ms
method:
  - {{name: cut, kind: network.partition, host: h2, peer: "{base}.4", start: 300ms,
     duration: 20s}}
""")
    assert res, out + err
    ev = [e["message"] for e in res["events"]]
    assert rc == 8 and res["verdict"] == "aborted", (rc, ev)
    assert "guardrail h2-sees-h3 tripped" in res["explanation"] and \
        "success ratio" in res["explanation"], res["explanation"]
    print(res["explanation"])
    assert any("runs on host h2 through its agent" in m for m in ev), ev
    assert res["duration_ms"] < 15000, res["duration_ms"]
    tok = open(token_of(state_dir, name)).read().strip()
    assert jobs(base, 3, tok) == []
    assert nft_tables(f"{name}-h2") == []
