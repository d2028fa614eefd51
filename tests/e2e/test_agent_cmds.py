"""Commands, restarts and workloads on AGENT hosts: a lab built with
`lab up --agent-commands` whose hosts the experiments address only through
their agents (agent: URL, token: file:...), so every setup/teardown command,
command step, process.kill restart and workload runs as a job of a host's
agent. Real effects: a redis-server started by setup through the agent
answers, a workload's history fetched from the agent checks valid, a killed
member comes back with a new pid (also when `faultline run` is SIGKILLed
before its restart: the agent runs it at the lease's end), and an agent
without --allow-commands is refused before anything runs. Each test builds
its own lab (random name, subnets 10.251-253.x.0/24 that no other test uses)
and removes it in a finalizer, with every process in it."""
import json
import os
import random
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import alive, wait_for

REDIS = "redis-server --protected-mode no --save '' --appendonly no --daemonize yes"


def agent_jobs(url, token):
    req = urllib.request.Request(url + "/api/v1/jobs", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)["jobs"]


def leftovers(name):
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [l.split()[0] for l in ns.splitlines() if l.startswith(name + "-h")]


@pytest.fixture
def lab(fl, state_dir):
    """lab(n, commands) -> (name, base, {h: agent url}, token): removed afterwards."""
    made = []

    def new(n=2, commands=True):
        name = "j%05x" % random.randrange(1 << 20)
        base = "10.%d.%d" % (random.randrange(251, 254), random.randrange(0, 255))
        made.append(name)
        rc, out, err = fl("lab", "up", "--name", name, "--hosts", n, "--subnet", base + ".0/24",
                          *(["--agent-commands"] if commands else []))
        assert rc == 0, err
        with open(os.path.join(state_dir, "labs", name + ".token")) as f:
            tok = f.read().strip()
        urls = {f"h{i}": f"http://{base}.{i + 1}:7421" for i in range(1, n + 1)}
        return name, base, urls, tok

    yield new
    for name in made:
        fl("lab", "down", name)
        assert leftovers(name) == [], leftovers(name)


def hosts_yaml(name, urls, state_dir):
    tok = f"file:{state_dir}/labs/{name}.token"
    return "hosts:\n" + "".join(f"  {h}: {{agent: \"{u}\", token: \"{tok}\"}}\n"
                                for h, u in urls.items())


def run_json(fl, d, text, *extra):
    (d / "exp.yaml").write_text(text)
    rc, so, se = fl("run", d / "exp.yaml", "--db", d / "h.db", "--json", d / "run.json", *extra,
                    timeout=100)
    run = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else None
    return rc, so, se, run


def one(evs, prefix):
    hits = [m for m in evs if m.startswith(prefix)]
    assert len(hits) == 1, (prefix, evs)
    return hits[0]


def test_setup_workload_restart_and_teardown_run_through_agents(fl, lab, state_dir, tmp_path,
                                                                 no_leftovers):
    name, base, urls, tok = lab(2)
    d = tmp_path
    text = f"""
title: a redis on an agent host, a workload from another, a member killed and restarted
{hosts_yaml(name, urls, state_dir)}
setup:
  - {{name: start, host: h2, command: "{REDIS} --port 6379 --pidfile {d}/r1.pid && {REDIS} --port 6380 --pidfile {d}/r2.pid && echo started"}}
  - name: ready
    host: h1
    command: "for i in $(seq 100); do redis-cli -h {base}.3 ping && redis-cli -h {base}.3 -p 6380 ping && cp {d}/r1.pid {d}/r1.saved && exit 0; sleep 0.1; done; exit 1"
    timeout: 20s
teardown:
  - {{name: stop, host: h2, command: "kill $(cat {d}/r1.pid {d}/r2.pid) && echo stopped"}}
method:
  - {{name: where, host: h2, command: "ip -brief addr show eth0 > {d}/where"}}
  - name: kill-r2
    kind: process.kill
    host: h2
    pidfile: {d}/r2.pid
    start: 500ms
    restart: {{command: "{REDIS} --port 6380 --pidfile {d}/r2.pid", after: 300ms}}
  - {{name: back, host: h1, command: "for i in $(seq 50); do redis-cli -h {base}.3 -p 6380 ping && exit 0; sleep 0.1; done; exit 1", start: 1500ms, timeout: 10s}}
  - {{name: new-pid, host: h2, command: "cp {d}/r2.pid {d}/r2.saved", start: 2s}}
duration: 2500ms
workload:
  - {{name: regs, host: h1, client: redis, workload: register, target: "{base}.3:6379",
      concurrency: 2, keys: 2, timeout: 500ms}}
checks:
  - {{workload: regs, model: kv}}
"""
    try:
        rc, so, se, run = run_json(fl, d, text)
        assert run, so + se
        evs = [e["message"] for e in run["events"]]
        assert rc == 0 and run["verdict"] == "passed", (evs, se[-3000:])
        # setup ran on h2 through its agent, its output kept with the run
        assert one(evs, "start: exited") == "start: exited with status 0; output:\nstarted"
        assert one(evs, "ready: exited").startswith("ready: exited with status 0; output:\nPONG")
        # the command step ran inside h2 (its address), as a job of h2's agent
        assert one(evs, "where: command exited") == "where: command exited with status 0"
        assert f"{base}.3/" in (d / "where").read_text()
        # the kill took the real process; the agent's restart brought a new one back
        killed = [m for m in evs if m.startswith("kill-r2 ") and "applied on host h2" in m]
        assert killed and "(1 gone)" in killed[0], evs
        old = int(killed[0].split("killed pid ")[1].split()[0])
        assert any(m.startswith("kill-r2: restart in 0.3s on host h2 by its agent (job j")
                   for m in evs), evs
        assert any(m.startswith("kill-r2: restarted") for m in evs), evs
        assert one(evs, "back: command exited") == "back: command exited with status 0"
        new = int((d / "r2.saved").read_text())
        assert new != old
        # the workload ran on h1 through its agent; its history checks valid
        assert any("on host h1 by its agent (job j" in m for m in evs), evs
        assert any(m.startswith("the workload finished: ") and
                   "history stored with run 1, fetched from host h1's agent (" in m
                   for m in evs), evs
        assert any(m.startswith("check kv: valid") for m in evs), evs
        rc, hist, err = fl("show", "1", "--history", "--db", d / "h.db")
        assert rc == 0 and "write" in hist, err
        # teardown stopped both servers
        assert one(evs, "stop: exited") == "stop: exited with status 0; output:\nstopped"
        r1 = int((d / "r1.saved").read_text())
        assert wait_for(lambda: not alive(r1) and not alive(new), 5)
        # the agents forgot every job the run gave them
        assert agent_jobs(urls["h1"], tok) == [] and agent_jobs(urls["h2"], tok) == []
    finally:
        for f in ("r1.saved", "r2.saved", "r2.pid"):  # whatever happened: stop them by pid
            try:
                os.kill(int((d / f).read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def test_agent_restarts_the_member_when_the_run_is_killed(fl, fl_popen, lab, state_dir, tmp_path,
                                                           no_leftovers):
    """SIGKILL of `faultline run` between the kill and its restart: the
    restart is a delayed job of the agent (on_lease_end run), so the agent
    brings the member back when the run's lease ends (15 s), long before the
    restart's own `after` (60 s)."""
    name, base, urls, tok = lab(1)
    d = tmp_path
    (d / "exp.yaml").write_text(f"""
title: the controller dies before the restart
{hosts_yaml(name, urls, state_dir)}
setup:
  - {{name: start, host: h1, command: "{REDIS} --port 6380 --pidfile {d}/r.pid"}}
  - {{name: ready, host: h1, command: "for i in $(seq 100); do redis-cli -p 6380 ping && exit 0; sleep 0.1; done; exit 1", timeout: 20s}}
steady_state:
  preflight: 200ms
  probes: [{{name: ok, type: command, command: "true", interval: 100ms}}]
method:
  - name: kill-r
    kind: process.kill
    host: h1
    pidfile: {d}/r.pid
    restart: {{command: "{REDIS} --port 6380 --pidfile {d}/r.pid", after: 60s}}
duration: 90s
""")
    try:
        ctl = fl_popen("run", d / "exp.yaml", "--db", d / "h.db")
        assert wait_for(lambda: (d / "r.pid").exists(), 20), ctl.stderr.read() if ctl.poll() else ""
        old = int((d / "r.pid").read_text())
        # killed, and the restart is pending on the agent
        assert wait_for(lambda: not alive(old) and
                        [j for j in agent_jobs(urls["h1"], tok) if j["state"] == "pending"], 20)
        ctl.send_signal(signal.SIGKILL)
        ctl.wait()
        t0 = time.monotonic()

        def back():
            try:
                pid = int((d / "r.pid").read_text())
            except (OSError, ValueError):
                return False
            return pid != old and alive(pid)
        assert wait_for(back, 25, step=0.1), agent_jobs(urls["h1"], tok)
        after = time.monotonic() - t0
        print(f"restarted by the agent {after:.1f} s after the run's SIGKILL (lease 15 s)")
        assert after < 20
        new = int((d / "r.pid").read_text())
        rc, out, err = fl("lab", "exec", f"{name}/h1", "--", "redis-cli", "-p", "6380", "ping")
        assert rc == 0 and out.strip() == "PONG", out + err
        os.kill(new, signal.SIGTERM)
        assert wait_for(lambda: not alive(new), 5)
    finally:
        try:
            os.kill(int((d / "r.pid").read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_run_interrupted_before_the_restart_is_due_restarts_at_once(fl, fl_popen, lab, state_dir,
                                                                      tmp_path, no_leftovers):
    """Ctrl-C before a restart is due (after: 300s): as on a lab host, the
    restart runs now - the agent's delayed job is replaced by one that starts
    at once - and the aborted run reports the member back."""
    name, base, urls, tok = lab(1)
    d = tmp_path
    (d / "exp.yaml").write_text(f"""
title: interrupted before the restart is due
{hosts_yaml(name, urls, state_dir)}
setup:
  - {{name: start, host: h1, command: "{REDIS} --port 6380 --pidfile {d}/r.pid"}}
  - {{name: ready, host: h1, command: "for i in $(seq 100); do redis-cli -p 6380 ping && cp {d}/r.pid {d}/r.old && exit 0; sleep 0.1; done; exit 1", timeout: 20s}}
teardown:
  - {{name: stop, host: h1, command: "redis-cli -p 6380 ping && cp {d}/r.pid {d}/r.new && kill $(cat {d}/r.pid)"}}
steady_state:
  preflight: 200ms
  probes: [{{name: ok, type: command, command: "true", interval: 100ms}}]
method:
  - name: kill-r
    kind: process.kill
    host: h1
    pidfile: {d}/r.pid
    restart: {{command: "{REDIS} --port 6380 --pidfile {d}/r.pid", after: 300s}}
duration: 1s
""")
    try:
        ctl = fl_popen("run", d / "exp.yaml", "--db", d / "h.db", "--json", d / "run.json")
        assert wait_for(lambda: (d / "r.old").exists(), 20), ctl.stderr.read() if ctl.poll() else ""
        old = int((d / "r.old").read_text())
        assert wait_for(lambda: not alive(old) and
                        [j for j in agent_jobs(urls["h1"], tok) if j["state"] == "pending"], 20)
        ctl.send_signal(signal.SIGINT)
        assert ctl.wait(timeout=60) == 8, ctl.stderr.read()
        run = json.loads((d / "run.json").read_text())
        evs = [e["message"] for e in run["events"]]
        assert run["verdict"] == "aborted", evs
        assert any(m.startswith("kill-r: restarted") for m in evs), evs
        # the teardown found the restarted member answering, with a new pid
        assert one(evs, "stop: exited").startswith("stop: exited with status 0"), evs
        assert int((d / "r.new").read_text()) != old
        assert agent_jobs(urls["h1"], tok) == []
    finally:
        for f in ("r.old", "r.new", "r.pid"):
            try:
                os.kill(int((d / f).read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def test_failed_or_timed_out_setup_on_an_agent_host_injects_nothing(fl, lab, state_dir,
                                                                     tmp_path, no_leftovers):
    name, base, urls, tok = lab(1)
    d = tmp_path
    rc, out, err = fl("lab", "status", name)
    assert rc == 0 and "(0 fault(s), runs commands)" in out, out + err
    for case, cmd, want in [
            ("status", "echo cannot load the data >&2; exit 4",
             "setup broken on host h1 failed (status 4): cannot load the data; nothing was injected"),
            ("timeout", "echo loading; sleep 30",
             "setup broken on host h1 failed (timed out after 1): loading; nothing was injected")]:
        (d / case).mkdir()
        text = f"""
title: a setup that fails on an agent host
{hosts_yaml(name, urls, state_dir)}
setup:
  - {{name: first, host: h1, command: "ip -brief addr show eth0 > {d}/{case}/first"}}
  - {{name: broken, host: h1, command: "{cmd}", timeout: 1s}}
  - {{name: never, host: h1, command: "touch {d}/{case}/never"}}
teardown:
  - {{name: clean, host: h1, command: "touch {d}/{case}/teardown-ran"}}
steady_state:
  probes: [{{name: ok, type: command, command: "true"}}]
method:
  - {{kind: network.partition, host: h1, peer: 192.0.2.9, duration: 1s}}
"""
        rc, so, se, run = run_json(fl, d / case, text)
        assert rc == 10 and run["verdict"] == "error", so + se
        assert run["explanation"] == want, run["explanation"]
        assert f"{base}.2/" in (d / case / "first").read_text()  # it ran inside h1
        assert not (d / case / "never").exists()
        assert (d / case / "teardown-ran").exists()
        assert not any("applied" in e["message"] for e in run["events"])
    assert agent_jobs(urls["h1"], tok) == []


def test_agent_without_allow_commands_is_refused_before_anything_runs(fl, lab, state_dir,
                                                                       tmp_path, no_leftovers):
    name, base, urls, tok = lab(1, commands=False)
    d = tmp_path
    rc, out, err = fl("lab", "status", name, "--json")
    assert rc == 0 and json.loads(out)[0]["hosts"][0]["agent"]["commands"] is False, out + err
    text = f"""
title: commands on an agent that runs none
{hosts_yaml(name, urls, state_dir)}
setup:
  - {{name: start, host: h1, command: "touch {d}/setup-ran"}}
steady_state:
  probes: [{{name: ok, type: command, command: "true"}}]
method:
  - {{kind: network.partition, host: h1, peer: 192.0.2.9, duration: 1s}}
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 5, so + se
    assert run["verdict"] == "error"
    assert run["explanation"].startswith(
        f"host h1: its agent ({urls['h1']}) runs no commands, and this experiment runs setup, "
        "teardown, command steps, restarts or host_from commands there; start that agent "
        "with `faultline agent "
        "--allow-commands` (a lab: `faultline lab up --agent-commands`); nothing was injected"), \
        run["explanation"]
    assert not (d / "setup-ran").exists()
    assert not any("applied" in e["message"] for e in run["events"])
    # validate cannot know the agent's flags: the file is valid
    rc, out, err = fl("validate", d / "exp.yaml")
    assert rc == 0, out + err
    # a host_from command asked from that agent host is a command there too
    text = f"""
title: a host_from query on an agent that runs no commands
{hosts_yaml(name, urls, state_dir)}
steady_state:
  probes: [{{name: ok, type: command, command: "true"}}]
method:
  - {{kind: network.partition, peer: 192.0.2.9, duration: 1s,
     host_from: {{command: "touch {d}/asked; echo h1", from: h1}}}}
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 5 and run["verdict"] == "error", so + se
    assert run["explanation"].startswith(f"host h1: its agent ({urls['h1']}) runs no commands"), \
        run["explanation"]
    assert not (d / "asked").exists()
    assert not any("applied" in e["message"] for e in run["events"])


def test_history_that_cannot_be_fetched_is_never_valid(fl, lab, state_dir, tmp_path,
                                                       no_leftovers):
    """The agent running the workload dies mid-run (SIGKILL by a command
    step): the history cannot be fetched to its end, so the check is
    recorded as error and the verdict is error, not a pass on a partial
    history."""
    name, base, urls, tok = lab(2)
    d = tmp_path
    with urllib.request.urlopen(urls["h1"] + "/api/v1/health", timeout=5) as r:
        agent1 = json.load(r)["pid"]
    text = f"""
title: the workload's agent dies
{hosts_yaml(name, urls, state_dir)}
setup:
  - {{name: start, host: h2, command: "{REDIS} --port 6379 --pidfile {d}/r.pid"}}
  - {{name: ready, host: h2, command: "for i in $(seq 100); do redis-cli ping && cp {d}/r.pid {d}/r.saved && exit 0; sleep 0.1; done; exit 1", timeout: 20s}}
teardown:
  - {{name: stop, host: h2, command: "kill $(cat {d}/r.saved)"}}
method:
  - {{name: agent-dies, command: "kill -9 {agent1}", start: 1s}}
duration: 2s
workload:
  - {{name: regs, host: h1, client: redis, workload: register, target: "{base}.3:6379",
      concurrency: 2, keys: 2}}
checks:
  - {{workload: regs, model: kv}}
"""
    try:
        rc, so, se, run = run_json(fl, d, text)
        assert run, so + se
        evs = [e["message"] for e in run["events"]]
        assert rc == 10 and run["verdict"] == "error", (evs, se[-2000:])
        assert "its checks did not run (a partial history cannot show that nothing was lost)" \
            in run["explanation"], run["explanation"]
        assert run["explanation"].startswith("the workload on host h1: its history could not be "
                                             "fetched"), run["explanation"]
        assert one(evs, "check kv: ") == "check kv: error: not run, the history is incomplete"
        assert not any("valid" in m for m in evs if m.startswith("check ")), evs
        assert one(evs, "stop: exited") == "stop: exited with status 0"
    finally:
        try:
            os.kill(int((d / "r.saved").read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
