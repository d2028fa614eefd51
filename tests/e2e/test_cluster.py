"""Experiments across `faultline lab` hosts: a setup section that starts servers
on lab hosts, partitions by host name (a group split that blocks both ways and
heals, a one-way partition that blocks one direction only), a process.kill whose
restart brings the server back, targets resolved when their fault starts (from a
command, an HTTP/JSON answer and a Redis Sentinel), and a teardown. Traffic goes
only between the namespaces of a lab the test builds; the lab (and every process
in it) is removed in a finalizer, whatever happened."""
import json
import random
import subprocess
import time

import pytest

from conftest import alive, cmdline, wait_for

PROBE = r"""
import socket, sys
mode = sys.argv[1]
if mode == "tcp":          # tcp HOST PORT: exit 0 when a connection is accepted within 1s
    try:
        socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=1).close()
    except OSError as e:
        print("failed:", e); sys.exit(1)
elif mode == "udp-send":   # udp-send HOST PORT TOKEN
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(sys.argv[4].encode() + b"\n", (sys.argv[2], int(sys.argv[3])))
elif mode == "udp-listen": # udp-listen PORT FILE: append every datagram to FILE
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    with open(sys.argv[3], "ab", buffering=0) as f:
        while True:
            f.write(s.recv(100))
"""


def lab_leftovers(name):
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [l.split()[0] for l in ns.splitlines() if l.startswith(name + "-h")] + \
        [l for l in links.splitlines() if f" flb-{name}:" in l or f" flv-{name}-" in l]


@pytest.fixture
def lab(fl):
    """A 3-host lab with a random name and subnet, removed (with every process
    running in it) when the test ends."""
    name = "c%05x" % random.randrange(1 << 20)
    subnet = "10.%d.%d.0/24" % (random.randrange(200, 250), random.randrange(0, 255))
    rc, out, err = fl("lab", "up", "--name", name, "--hosts", "3", "--subnet", subnet)
    assert rc == 0, err
    base = subnet.rsplit(".", 1)[0]
    yield name, {"h1": base + ".2", "h2": base + ".3", "h3": base + ".4"}
    fl("lab", "down", name)
    assert lab_leftovers(name) == [], lab_leftovers(name)


def run_json(fl, tmp_path, text, *extra):
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    out = tmp_path / "run.json"
    rc, so, se = fl("run", exp, "--db", tmp_path / "h.db", "--json", out, *extra, timeout=120)
    run = json.loads(out.read_text()) if out.exists() else None
    return rc, so, se, run


def events(run):
    return [e["message"] for e in run["events"]]


def one(evs, prefix):
    hits = [m for m in evs if m.startswith(prefix)]
    assert len(hits) == 1, (prefix, evs)
    return hits[0]


def nft_tables(ns):
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"],
                          capture_output=True, text=True).stdout


def test_cluster_scenario(fl, lab, tmp_path, no_leftovers):
    name, addr = lab
    d = tmp_path
    (d / "probe.py").write_text(PROBE)
    (d / "leader").write_text("h2\n")
    (d / "state.json").write_text(json.dumps({"leader": {"addr": addr["h1"] + ":8080"}}))
    py = f"python3 {d}/probe.py"
    serve = "python3 -m http.server 8080 --directory " + str(d)
    text = f"""
title: a scenario across three lab hosts
hosts:
  h1: {name}/h1
  h2: {name}/h2
  h3: {{lab: {name}/h3}}
setup:
  - {{host: h1, command: "{serve} >/dev/null 2>&1 & echo $! > {d}/h1.pid"}}
  - {{host: h2, command: "{serve} >/dev/null 2>&1 & echo $! > {d}/h2.pid"}}
  - {{host: h3, command: "{serve} >/dev/null 2>&1 & echo $! > {d}/h3.pid"}}
  - {{host: h1, command: "{py} udp-listen 9000 {d}/h1.udp >/dev/null 2>&1 & echo $! > {d}/h1u.pid"}}
  - {{host: h2, command: "{py} udp-listen 9000 {d}/h2.udp >/dev/null 2>&1 & echo $! > {d}/h2u.pid"}}
  - name: ready
    host: h1
    command: "for i in $(seq 100); do {py} tcp h2 8080 && {py} tcp h3 8080 && echo ready && exit 0; sleep 0.1; done; exit 1"
    timeout: 20s
teardown:
  - name: stop
    command: "kill $(cat {d}/h1.pid {d}/h2.pid {d}/h3.pid {d}/h1u.pid {d}/h2u.pid)"
steady_state:
  preflight: 300ms
  probes:
    - {{name: h2-up, type: tcp, address: "{addr['h2']}:8080", interval: 200ms}}
method:
  - {{name: split, kind: network.partition, between: "{{h1}} | {{h2, h3}}", duration: 3s}}
  - {{name: split-h1h2, host: h1, command: "{py} tcp h2 8080", start: 300ms}}
  - {{name: split-h3h2, host: h3, command: "{py} tcp h2 8080", start: 300ms}}
  - {{name: split-h2h1, host: h2, command: "{py} udp-send h1 9000 split-h2h1", start: 300ms}}
  - {{name: healed, host: h1, command: "for i in $(seq 50); do {py} tcp h2 8080 && exit 0; sleep 0.1; done; exit 1", start: 3300ms, timeout: 10s}}
  - {{name: oneway, kind: network.partition, between: "h1 -> h2", start: 3600ms, duration: 2s}}
  - {{name: ow-h2h1, host: h2, command: "{py} udp-send h1 9000 ow-h2h1", start: 3900ms}}
  - {{name: ow-h1h2, host: h1, command: "{py} udp-send h2 9000 ow-h1h2", start: 3900ms}}
  - name: kill-h3
    kind: process.kill
    host: h3
    cmdline: "http.server 8080"
    start: 5900ms
    restart: {{command: "{serve} >/dev/null 2>&1 & echo $! > {d}/h3.pid", after: 300ms}}
  - {{name: back, host: h1, command: "for i in $(seq 50); do {py} tcp h3 8080 && exit 0; sleep 0.1; done; exit 1", start: 6400ms, timeout: 10s}}
  - {{name: new-leader, command: "echo {addr['h3']}:8080 > {d}/leader", start: 6400ms}}
  - name: pause-leader
    kind: process.pause
    host_from: {{command: "cat {d}/leader"}}
    cmdline: "http.server 8080"
    start: 7400ms
    duration: 500ms
  - name: pause-http-leader
    kind: process.pause
    host_from: {{http: "http://{addr['h1']}:8080/state.json", pointer: /leader/addr, from: h2}}
    cmdline: "http.server 8080"
    start: 7400ms
    duration: 500ms
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 0, so + se
    evs = events(run)
    assert run["verdict"] == "passed", evs

    # setup ran on the hosts, in order, its output kept with the run
    assert any(m.startswith("ready: exited with status 0; output:\nready") for m in evs), evs
    # the group split: h1 cut from h2 both ways, h3 and h2 (one group) still talk
    assert one(evs, "split@h1: peers h2=" + addr["h2"]) == \
        f"split@h1: peers h2={addr['h2']}, h3={addr['h3']}"
    assert one(evs, "split-h1h2: command exited") == "split-h1h2: command exited with status 1"
    assert one(evs, "split-h3h2: command exited") == "split-h3h2: command exited with status 0"
    assert one(evs, "healed: command exited") == "healed: command exited with status 0"
    # its three pieces (one per host) healed together, in one tick, and the
    # heal's skew is reported like the apply's
    assert any(m.startswith("3 faults on 3 hosts started together: applied within ") for m in evs), evs
    healed = [i for i, m in enumerate(evs) if m.startswith("split@") and " reverted (" in m]
    assert len(healed) == 3 and healed[-1] - healed[0] == 2, evs
    assert evs[healed[-1] + 1].startswith("3 faults on 3 hosts ended together: reverted within "), evs
    h1_got = (d / "h1.udp").read_text() if (d / "h1.udp").exists() else ""
    h2_got = (d / "h2.udp").read_text() if (d / "h2.udp").exists() else ""
    assert "split-h2h1" not in h1_got
    # one-way: h1's packets to h2 dropped, h2's to h1 delivered
    assert "ow-h2h1" in h1_got
    assert "ow-h1h2" not in h2_got
    assert "oneway@h1" in " ".join(evs) and "oneway@h2" not in " ".join(evs)
    # nothing left in the hosts' firewalls
    for h in ("h1", "h2", "h3"):
        assert "faultline" not in nft_tables(f"{name}-{h}")

    # kill and restart: a new server on h3 answered
    killed = [m for m in evs if m.startswith("kill-h3 ") and "(1 gone)" in m][0]
    assert "in netns " + name + "-h3" in killed and "(1 gone)" in killed, killed
    assert any(m.startswith("kill-h3: restarted") for m in evs), evs
    assert one(evs, "back: command exited") == "back: command exited with status 0"
    old_pid = int(killed.split("(pid ")[1].split(")")[0])
    new_pid = int((d / "h3.pid").read_text())
    assert new_pid != old_pid

    # targets resolved when the fault starts: h2 at preflight, h3 when it began
    pre = [m for m in evs if m.startswith("pause-leader would")]
    assert pre and "host_from gave 'h2': host h2" in pre[0], evs
    assert one(evs, "pause-leader: host_from") == \
        f"pause-leader: host_from gave '{addr['h3']}:8080': host h3 (netns {name}-h3)"
    applied = [m for m in evs if m.startswith("pause-leader ") and " applied " in m][0]
    assert f"(pid {new_pid})" in applied, applied
    assert one(evs, "pause-http-leader: host_from") == \
        f"pause-http-leader: host_from gave '{addr['h1']}:8080': host h1 (netns {name}-h1)"

    # teardown ran and stopped what setup started
    assert one(evs, "stop: exited") == "stop: exited with status 0"
    for f in ("h1.pid", "h2.pid", "h3.pid"):
        pid = int((d / f).read_text())
        for _ in range(20):
            if not alive(pid):
                break
            time.sleep(0.05)
        assert not alive(pid), f


def test_setup_failure_injects_nothing_and_teardown_runs(fl, lab, tmp_path, no_leftovers):
    name, addr = lab
    d = tmp_path
    text = f"""
title: a setup that fails
hosts:
  h1: {name}/h1
setup:
  - {{name: first, host: h1, command: "echo starting; ip -brief addr show eth0 > {d}/setup-ran"}}
  - {{name: broken, host: h1, command: "echo cannot load the data >&2; exit 4"}}
  - {{name: never, command: "touch {d}/never"}}
teardown:
  - {{name: clean, command: "touch {d}/teardown-ran"}}
steady_state:
  probes: [{{name: ok, type: command, command: "true"}}]
method:
  - {{kind: network.partition, host: h1, peer: {addr['h2']}, duration: 1s}}
  - {{command: "touch {d}/method-ran"}}
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 10, so + se
    assert run["verdict"] == "error"
    assert run["explanation"].startswith("setup broken on host h1 failed (status 4): "
                                         "cannot load the data; nothing was injected")
    # the first command ran inside h1: it saw h1's address
    assert addr["h1"] in (d / "setup-ran").read_text()
    assert not (d / "never").exists() and not (d / "method-ran").exists()
    assert (d / "teardown-ran").exists()
    assert not any("applied" in m for m in events(run))


def test_failed_restart_is_an_error(fl, lab, tmp_path, spawn, no_leftovers):
    name, _ = lab
    victim = spawn(["ip", "netns", "exec", f"{name}-h2", "sleep", "1007"])
    text = f"""
title: a member that does not come back
hosts:
  h2: {name}/h2
steady_state:
  preflight: 200ms
  probes: [{{name: ok, type: command, command: "true", interval: 100ms}}]
method:
  - kind: process.kill
    host: h2
    cmdline: "^sleep 1007$"
    restart: {{command: "echo no such service >&2; exit 3", after: 100ms}}
"""
    # `ip netns exec` becomes the sleep: wait until it has
    assert wait_for(lambda: cmdline(victim.pid)[:2] == [b"sleep", b"1007"], 5), cmdline(victim.pid)
    rc, so, se, run = run_json(fl, tmp_path, text)
    assert rc == 10, so + se
    assert run["verdict"] == "error"
    assert "the killed member was not restarted (status 3: no such service); it is still down" \
        in run["explanation"], run["explanation"]
    victim.wait(timeout=5)


def test_invalid_cluster_files(fl, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""title: t
hosts:
  db: {agent: "https://10.0.0.5:7421", token: s3cr3t}
  h1: lab/h1
steady_state:
  probes: [{name: ok, type: command, command: "true"}]
method:
  - {kind: network.partition, between: "{h1} | {h9}", duration: 1s}
  - {kind: process.kill, cmdline: x, restart: {after: 1s}}
""")
    rc, out, err = fl("validate", bad)
    assert rc == 2
    lines = err.splitlines()
    assert any(l.startswith(f"{bad}:3:47: host 'db': token: names where the token is") for l in lines), err
    assert any(l.startswith(f"{bad}:8:5: between '{{h1}} | {{h9}}': 'h9' is not a host of the hosts: section")
               for l in lines), err
    assert any("restart takes command: (a shell command) or unit: (a systemd unit)" in l
               for l in lines), err


def test_target_from_redis_sentinel(fl, lab, tmp_path, no_leftovers):
    """The sentinels say which host holds the primary; the pause lands there."""
    name, addr = lab
    d = tmp_path
    (d / "sentinel.conf").write_text(
        f"port 26379\nprotected-mode no\nsentinel monitor m1 {addr['h2']} 6379 1\n")
    redis = "redis-server --port 6379 --protected-mode no --save '' --appendonly no"
    text = f"""
title: pause whichever host the sentinels call primary
hosts:
  h1: {name}/h1
  h2: {name}/h2
setup:
  - {{host: h2, command: "{redis} >/dev/null 2>&1 & echo $! > {d}/redis.pid"}}
  - {{host: h1, command: "redis-server {d}/sentinel.conf --sentinel >/dev/null 2>&1 & echo $! > {d}/sentinel.pid"}}
  - name: ready
    host: h1
    command: "for i in $(seq 100); do redis-cli -p 26379 SENTINEL get-master-addr-by-name m1 | grep -q . && exit 0; sleep 0.1; done; exit 1"
    timeout: 20s
teardown:
  - "kill $(cat {d}/redis.pid {d}/sentinel.pid)"
steady_state:
  preflight: 200ms
  probes: [{{name: ok, type: command, command: "true", interval: 100ms}}]
method:
  - kind: process.pause
    name: pause-primary
    host_from: {{sentinel: "{addr['h1']}:26379", master: m1, from: h1}}
    cmdline: "^redis-server"
    duration: 500ms
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 0, so + se
    evs = events(run)
    assert one(evs, "pause-primary: host_from") == \
        f"pause-primary: host_from gave '{addr['h2']}:6379': host h2 (netns {name}-h2)"
    applied = [m for m in evs if m.startswith("pause-primary ") and " applied " in m][0]
    assert f"(pid {int((d / 'redis.pid').read_text())})" in applied, applied


def test_two_workloads_checked_without_probes(fl, lab, tmp_path, no_leftovers):
    """A register workload on h1's redis and a bank workload on h2's, both
    driven from h3 through a partition of h1; no steady-state probes: the
    verdict rests on the two checks. Each history is stored with the run."""
    name, addr = lab
    d = tmp_path
    redis = "redis-server --port 6379 --protected-mode no --save '' --appendonly no"
    text = f"""
title: two workloads, two checks, no probes
hosts:
  h1: {name}/h1
  h2: {name}/h2
  h3: {name}/h3
setup:
  - {{host: h1, command: "{redis} >/dev/null 2>&1 & echo $! > {d}/r1.pid"}}
  - {{host: h2, command: "{redis} >/dev/null 2>&1 & echo $! > {d}/r2.pid"}}
  - name: ready
    host: h3
    command: "for i in $(seq 100); do redis-cli -h h1 ping && redis-cli -h h2 ping && exit 0; sleep 0.1; done; exit 1"
    timeout: 20s
teardown:
  - "kill $(cat {d}/r1.pid {d}/r2.pid)"
method:
  - {{kind: network.partition, between: "h3 <-> h1", start: 500ms, duration: 700ms}}
duration: 1500ms
workload:
  - {{name: regs, host: h3, client: redis, workload: register, target: "{addr['h1']}:6379",
      concurrency: 2, keys: 2, timeout: 200ms}}
  - {{name: money, host: h3, client: redis, workload: bank, target: "{addr['h2']}:6379",
      concurrency: 2, accounts: 3, total: 300}}
checks:
  - {{workload: regs, model: kv}}
  - {{workload: money, model: bank, accounts: 3, total: 300}}
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 0, so + se
    evs = events(run)
    assert run["verdict"] == "passed", evs
    assert run["explanation"] == "every check of the workloads' histories passed"
    assert any(m.startswith("check kv of workload regs: valid") for m in evs), evs
    assert any(m.startswith("check bank of workload money: valid") for m in evs), evs
    assert run["probes"] == []
    assert run["history"]["workload"] == "register"
    more = run["more_histories"]
    assert [(h["name"], h["workload"]) for h in more] == [("money", "bank")]
    assert more[0]["operations"] > 0
    # both histories are stored: the first as before, the second by its name
    rc, first, err = fl("show", "1", "--history", "--db", d / "h.db")
    assert rc == 0 and "write" in first and "transfer" not in first, err
    rc, second, err = fl("show", "1", "--history", "--workload", "money", "--db", d / "h.db")
    assert rc == 0 and "transfer" in second, err
    assert first != second


def test_faults_through_agents_start_together_and_revert(fl, fl_popen, lab, tmp_path, state_dir,
                                                          no_leftovers):
    """The lab's hosts run `faultline agent` (lab up starts them): the same
    namespaces are named twice, as agent hosts (faults applied by their agents)
    and as lab hosts (commands). A group split through three agents starts in
    one tick; the report gives the skew; the agents hold nothing afterwards."""
    name, addr = lab
    d = tmp_path
    (d / "probe.py").write_text(PROBE)
    py = f"python3 {d}/probe.py"
    tok = f"file:{state_dir}/labs/{name}.token"
    serve = "python3 -m http.server 8080 --directory " + str(d)
    text = f"""
title: a split applied by the hosts' agents
hosts:
  a1: {{agent: "http://{addr['h1']}:7421", token: "{tok}"}}
  a2: {{agent: "http://{addr['h2']}:7421", token: "{tok}"}}
  a3: {{agent: "http://{addr['h3']}:7421", token: "{tok}"}}
  h1: {name}/h1
  h2: {name}/h2
setup:
  - {{host: h2, command: "{serve} >/dev/null 2>&1 & echo $! > {d}/h2.pid"}}
  - {{host: h1, command: "for i in $(seq 100); do {py} tcp h2 8080 && exit 0; sleep 0.1; done; exit 1", timeout: 20s}}
teardown:
  - "kill $(cat {d}/h2.pid)"
steady_state:
  preflight: 200ms
  probes: [{{name: ok, type: command, command: "true", interval: 100ms}}]
method:
  - {{name: split, kind: network.partition, between: "{{a1}} | {{a2, a3}}", duration: 3s}}
  - {{name: cut, host: h1, command: "{py} tcp h2 8080", start: 500ms}}
  - {{name: healed, host: h1, command: "for i in $(seq 50); do {py} tcp h2 8080 && exit 0; sleep 0.1; done; exit 1", start: 3300ms, timeout: 10s}}
"""
    exp = d / "exp.yaml"
    exp.write_text(text)
    p = fl_popen("run", exp, "--db", d / "h.db", "--json", d / "run.json")
    # while the split holds, status lists the faults the experiment's agents hold
    seen = []

    def held():
        rc, out, err = fl("status", "--experiment", exp, "--json")
        if rc == 0:
            seen[:] = [f for h in json.loads(out)["hosts"] for f in h["faults"]]
        return len(seen) == 3

    assert wait_for(held, 20, step=0.2), seen
    assert {f["kind"] for f in seen} == {"network.partition"}
    so, se = p.communicate(timeout=120)
    assert p.returncode == 0, so + se
    run = json.loads((d / "run.json").read_text())
    evs = events(run)
    assert any(m.startswith("3 agent host(s) reachable, tokens accepted") for m in evs), evs
    applied = [m for m in evs if m.startswith("split@") and " applied on host " in m]
    assert len(applied) == 3 and all("by its agent" in m for m in applied), evs
    skew = [m for m in evs if "started together" in m]
    assert skew and skew[0].startswith("3 faults on 3 hosts started together: applied within "), evs
    assert one(evs, "cut: command exited") == "cut: command exited with status 1"
    assert one(evs, "healed: command exited") == "healed: command exited with status 0"
    # the agents' pieces heal together too, and the heal's skew is reported
    healed = [i for i, m in enumerate(evs) if m.startswith("split@") and " reverted on host " in m]
    assert len(healed) == 3 and healed[-1] - healed[0] == 2, evs
    assert evs[healed[-1] + 1].startswith("3 faults on 3 hosts ended together: reverted within "), evs
    assert len([m for m in evs if " reverted on host " in m]) == 3, evs
    rc, out, err = fl("status", "--hosts", f"{name}/h1,{name}/h2,{name}/h3")
    assert rc == 0 and "no active faults on 3 host(s)" in out, out + err
    rc, out, err = fl("status", "--experiment", exp)
    assert rc == 0 and out.count(": 0 active fault(s)") == 3, out + err


def test_unreachable_agent_fails_before_anything(fl, lab, tmp_path, state_dir, no_leftovers):
    name, addr = lab
    d = tmp_path
    tok = f"file:{state_dir}/labs/{name}.token"
    text = f"""
title: one agent does not answer
hosts:
  a1: {{agent: "http://{addr['h1']}:7421", token: "{tok}"}}
  gone: {{agent: "http://{addr['h3']}:7999", token: "{tok}"}}
setup:
  - "touch {d}/setup-ran"
teardown:
  - "touch {d}/teardown-ran"
steady_state:
  probes: [{{name: ok, type: command, command: "true"}}]
method:
  - {{kind: network.partition, between: "a1 <-> gone", duration: 1s}}
"""
    rc, so, se, run = run_json(fl, d, text)
    assert rc == 10, so + se
    assert run["verdict"] == "error"
    assert "gone" in run["explanation"] and "nothing was injected" in run["explanation"], \
        run["explanation"]
    assert not (d / "setup-ran").exists() and (d / "teardown-ran").exists()
    rc, out, err = fl("status", "--hosts", f"{name}/h1")
    assert rc == 0 and "no active faults" in out, out + err


def test_lab_built_with_another_state_dir_is_refused_not_guessed(fl, lab, tmp_path, no_leftovers):
    """A lab whose record is in another state directory: its namespaces are
    there, but not its hosts' addresses. A partition by host name must not
    go ahead with no address (it used to drop traffic to 0.0.0.0, i.e.
    nothing, and pass): it is refused before anything is injected, saying
    which state directory to use."""
    name, addr = lab
    other = tmp_path / "other-state"
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: a partition in a lab built with another state directory
hosts:
  h1: {name}/h1
  h2: {name}/h2
steady_state:
  probes: [{{name: ok, type: command, command: "true"}}]
method:
  - {{kind: network.partition, between: "h1 <-> h2", duration: 1s}}
""")
    rc, so, se = fl("run", exp, "--db", tmp_path / "h.db", env={"FAULTLINE_STATE_DIR": str(other)})
    assert rc == 3, so + se
    assert f"(lab {name}/h2): the lab's record, with its hosts' addresses, is not in the state " \
           f"directory {other}" in so, so + se
    assert "nothing was injected" in so and "0.0.0.0" not in so, so
    for h in ("h1", "h2"):
        assert "faultline" not in nft_tables(f"{name}-{h}")
    rc, out, err = fl("status", env={"FAULTLINE_STATE_DIR": str(other)})
    assert rc == 0 and "no active faults" in out, out + err


def test_split_until_the_end_heals_together(fl, lab, tmp_path, no_leftovers):
    """A between: split with no duration of its own lasts until the
    experiment's duration ends: its pieces are reverted then, in one tick,
    and the heal's skew is reported as for a split with a duration."""
    name, addr = lab
    rc, so, se, run = run_json(fl, tmp_path, f"""
title: a split for the whole experiment
hosts:
  h1: {name}/h1
  h2: {name}/h2
duration: 1s
steady_state:
  preflight: 300ms
  probes: [{{name: ok, type: command, command: "true", interval: 200ms}}]
method:
  - {{name: cut, kind: network.partition, between: "{{h1}} | {{h2}}"}}
""")
    assert rc == 0, so + se
    evs = events(run)
    healed = [i for i, m in enumerate(evs) if m.startswith("cut@") and " reverted (" in m]
    assert len(healed) == 2 and healed[1] - healed[0] == 1, evs
    assert evs[healed[1] + 1].startswith("2 faults on 2 hosts ended together: reverted within "), evs
    for h in ("h1", "h2"):
        assert "faultline" not in nft_tables(f"{name}-{h}")
