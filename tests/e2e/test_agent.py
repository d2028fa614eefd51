"""`faultline agent` through a lab: faults applied on lab hosts by their agents,
held under network leases the controller renews, reverted by the agent when
the controller dies or is cut off, and by the next agent after a crash. Each
test builds its own lab (random name and subnet), sends traffic only between
the lab's namespaces, and removes the lab in a finalizer, checking that no
namespace, link or agent process is left."""
import json
import os
import random
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, faultline_pids, wait_for
from test_lab import CONNECT, PY, SERVE  # the lab tests' tiny TCP server and client


def agent_pids(path_part):
    """PIDs of `faultline agent` processes (and their guardians and sentinels)
    whose command line mentions path_part."""
    return faultline_pids((b"agent", b"__guardian", b"__sentinel"), path_part)


def nft_tables(netns):
    out = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "tables"],
                         capture_output=True, text=True).stdout
    return [l.split()[-1] for l in out.splitlines() if "faultline_" in l]


@pytest.fixture
def lab(fl, state_dir):
    """lab(n) -> (name, base, hosts json): a lab with an agent in every host,
    removed afterwards whatever happened (no namespace, link or agent left)."""
    made = []

    def new(n=3):
        name = "a%05x" % random.randrange(1 << 20)
        base = "10.%d.%d" % (random.randrange(200, 250), random.randrange(0, 255))
        made.append(name)
        rc, out, err = fl("lab", "up", "--name", name, "--hosts", n, "--subnet", base + ".0/24",
                          "--json")
        assert rc == 0, err
        return name, base, json.loads(out)

    yield new
    for name in made:
        fl("lab", "down", name)
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"{name}-h" not in ns
        assert wait_for(lambda: agent_pids(f"/labs/{name}/") == [], 5), \
            f"agents of {name} left: {agent_pids(f'/labs/{name}/')}"
        assert not os.path.exists(os.path.join(state_dir, "labs", name))


def test_lab_up_starts_healthy_agents(fl, lab, state_dir):
    name, base, j = lab(3)
    assert all(h["agent"]["ok"] for h in j["hosts"]), j
    rc, out, err = fl("lab", "status", name)
    assert rc == 0 and out.count("agent pid") == 3, out + err
    # the token is the lab's, readable by root only
    tok = os.path.join(state_dir, "labs", f"{name}.token")
    assert os.stat(tok).st_mode & 0o777 == 0o600
    # health needs no token; the faults do
    url = f"http://{base}.2:7421/api/v1"
    with urllib.request.urlopen(url + "/health", timeout=5) as r:
        h = json.load(r)
    assert h["ok"] and h["name"] == "h1" and h["faults"] == 0


def test_partition_through_agent_blocks_both_ways_and_heals(fl, fl_popen, lab, spawn,
                                                            state_dir):
    name, base, _ = lab(3)
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    for h in ("h1", "h3"):
        spawn([BIN, "lab", "exec", f"{name}/{h}", "--", PY, "-c", SERVE, "7000"], env=env)

    def connect(src, dst):
        return fl("lab", "exec", f"{name}/{src}", "--", PY, "-c", CONNECT, dst, "7000")[0]

    assert wait_for(lambda: connect("h1", f"{base}.4") == 0 and
                    connect("h3", f"{base}.2") == 0, 10)
    ctl = fl_popen("inject", "network.partition", "--peer", f"{base}.4", "--host", f"{name}/h1",
                   "--duration", "60s")
    assert wait_for(lambda: nft_tables(f"{name}-h1"), 10), ctl.stderr.read() if ctl.poll() else ""
    assert connect("h1", f"{base}.4") != 0          # h1 -> h3 cut
    assert connect("h3", f"{base}.2") != 0          # h3 -> h1 cut: both directions
    assert connect("h2", f"{base}.4") == 0          # the rest is untouched
    rc, out, err = fl("status", "--hosts", f"{name}/h1,{name}/h2")
    assert rc == 0 and "network.partition" in out and f"{name}/h1" in out, out + err
    ctl.send_signal(signal.SIGINT)
    assert ctl.wait(timeout=10) == 0, ctl.stderr.read()
    assert nft_tables(f"{name}-h1") == []
    assert connect("h1", f"{base}.4") == 0 and connect("h3", f"{base}.2") == 0
    rc, out, _ = fl("status", "--hosts", f"{name}/h1", "--json")
    assert rc == 0 and json.loads(out)["faults"] == []


def test_controller_killed_agent_reverts_at_lease_end(fl, fl_popen, lab):
    name, base, _ = lab(2)
    lease = 2.0
    ctl = fl_popen("inject", "network.partition", "--peer", f"{base}.3", "--host", f"{name}/h1",
                   "--lease", "2s")
    assert wait_for(lambda: nft_tables(f"{name}-h1"), 10)
    time.sleep(1.0)  # a few renewals: the lease is held while the controller lives
    assert nft_tables(f"{name}-h1")
    ctl.send_signal(signal.SIGKILL)
    ctl.wait()
    t0 = time.monotonic()
    assert wait_for(lambda: nft_tables(f"{name}-h1") == [], lease + 3, step=0.01)
    after = time.monotonic() - t0
    print(f"reverted {after * 1000:.0f} ms after the controller's SIGKILL (lease {lease:.0f} s)")
    # the last renewal came at most a third of a lease before the kill
    assert lease / 3 <= after + 0.3 and after <= lease + 1.0
    rc, out, _ = fl("status", "--hosts", f"{name}/h1", "--json")
    assert json.loads(out)["faults"] == []


def test_partition_of_controller_from_agent_reverts_at_lease_end(fl, fl_popen, lab):
    """The fault itself cuts the controller (on the bridge address) off from
    the agent: renewals stop arriving, and the agent ends the fault alone."""
    name, base, _ = lab(2)
    ctl = fl_popen("inject", "network.partition", "--peer", f"{base}.1", "--host", f"{name}/h1",
                   "--lease", "2s", "--duration", "60s")
    assert wait_for(lambda: nft_tables(f"{name}-h1"), 10)
    t0 = time.monotonic()
    assert wait_for(lambda: nft_tables(f"{name}-h1") == [], 6, step=0.01)
    after = time.monotonic() - t0
    print(f"agent reverted the partition {after * 1000:.0f} ms after it was applied (lease 2 s)")
    assert after <= 2.0 + 1.0
    assert ctl.poll() is None  # the controller lives on, cut off until the revert
    ctl.send_signal(signal.SIGINT)
    assert ctl.wait(timeout=15) == 0
    assert "already reverted by its agent" in ctl.stderr.read()


def test_agent_killed_and_restarted_reverts_its_journal(fl, lab, spawn, state_dir):
    """SIGKILL of the agent together with its guardian and sentinel (as a
    crash of the whole service would): the fault stays; the next agent reverts
    it from the journal as it starts."""
    name, base, _ = lab(2)
    rc, out, err = fl("inject", "network.partition", "--peer", f"{base}.3", "--host",
                      f"{name}/h1", "--detach", "--lease", "5m")
    assert rc == 0, err
    fid = out.strip()
    hostdir = os.path.join(state_dir, "labs", name, "h1")
    assert nft_tables(f"{name}-h1") == [f"faultline_{fid}"]
    pids = agent_pids(hostdir)
    assert len(pids) >= 2  # the agent and its guardian (and sentinel)
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    for p in pids:
        os.kill(p, signal.SIGKILL)
    assert wait_for(lambda: agent_pids(hostdir) == [], 5)
    assert nft_tables(f"{name}-h1") == [f"faultline_{fid}"]
    assert os.path.exists(os.path.join(hostdir, "faults", f"{fid}.json"))
    spawn(["ip", "netns", "exec", f"{name}-h1", BIN, "agent", "--listen", f"{base}.2:7421",
           "--tokens", os.path.join(state_dir, "labs", f"{name}.tokens"), "--state-dir",
           hostdir, "--name", "h1"])
    assert wait_for(lambda: nft_tables(f"{name}-h1") == [], 10)
    assert not os.path.exists(os.path.join(hostdir, "faults", f"{fid}.json"))
    rc, out, err = fl("status", "--hosts", f"{name}/h1")
    assert rc == 0 and "no active faults" in out, out + err


def test_wrong_token_is_refused_with_401(fl, lab):
    name, base, _ = lab(1)
    rc, out, err = fl("status", "--hosts", f"{name}/h1", "--token", "not-the-token")
    assert rc == 5 and "HTTP 401" in err and "not in this agent's tokens file" in err, err
    req = urllib.request.Request(f"http://{base}.2:7421/api/v1/faults",
                                 headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as ex:
        urllib.request.urlopen(req, timeout=5)
    assert ex.value.code == 401
    body = json.load(ex.value)
    assert body["error"]["code"] == "unauthenticated" and "--tokens" in body["error"]["message"]
    rc, out, err = fl("inject", "network.partition", "--peer", f"{base}.9", "--host",
                      f"{name}/h1", "--token", "not-the-token", "--detach")
    assert rc == 5 and nft_tables(f"{name}-h1") == []


def test_unreachable_agent_fails_before_anything_is_injected(fl, lab):
    name, base, _ = lab(2)
    rc, out, err = fl("inject", "network.partition", "--peer", f"{base}.9", "--host",
                      f"{name}/h1,{base}.3:7999", "--detach")
    assert rc == 1, err
    assert "nothing was injected" in err and f"agent {base}.3" in err and \
        "cannot be reached" in err, err
    assert nft_tables(f"{name}-h1") == []
    rc, out, err = fl("status", "--hosts", f"{name}/h1")
    assert rc == 0 and "no active faults" in out


def test_agent_bad_requests_and_recover_all(fl, lab, state_dir):
    name, base, _ = lab(2)
    tok = open(os.path.join(state_dir, "labs", f"{name}.token")).read().strip()
    url = f"http://{base}.2:7421/api/v1"

    def post(path, body):
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {tok}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as ex:
            return ex.code, json.load(ex)

    st, b = post("/faults", {"kind": "network.partiton", "session": "t1"})
    assert st == 400 and "not a fault kind" in b["error"]["message"]
    st, b = post("/faults", {"kind": "network.partition", "session": "t1",
                             "params": {"peer": f"{base}.3", "bogus": 1}})
    assert st == 400 and "'bogus'" in b["error"]["message"]
    st, b = post("/faults", {"kind": "network.partition", "session": "t1", "lease_ms": 5,
                             "params": {"peer": f"{base}.3"}})
    assert st == 400 and "lease_ms" in b["error"]["message"]
    st, b = post("/faults", {"kind": "network.partition", "params": {"peer": f"{base}.3"}})
    assert st == 400 and "session" in b["error"]["message"]
    assert nft_tables(f"{name}-h1") == []
    # two faults through the API, then recover --all --hosts reverts both
    for peer in (f"{base}.3", f"{base}.9"):
        st, b = post("/faults", {"kind": "network.partition", "session": "t1",
                                 "lease_ms": 60000, "params": {"peer": peer}})
        assert st == 201 and b["session"] == "t1" and b["lease_left_ms"] > 50000, b
    assert len(nft_tables(f"{name}-h1")) == 2
    rc, out, err = fl("recover", "--all", "--hosts", f"{name}/h1,{name}/h2")
    assert rc == 0 and f"{name}/h1: 2 fault(s) reverted" in out, out + err
    assert nft_tables(f"{name}-h1") == []


def test_agent_refuses_open_listen_without_tokens(fl, state_dir):
    rc, _, err = fl("agent", "--listen", "0.0.0.0:0", "--state-dir", state_dir + "/a")
    assert rc == 4 and "without --tokens" in err
    rc, _, err = fl("agent", "--tokens", "/nonexistent/tokens")
    assert rc == 2 and "/nonexistent/tokens" in err


def test_agent_over_tls(fl, tmp_path, state_dir):
    """--tls-cert/--tls-key: the agent serves HTTPS; a controller that trusts the
    certificate ($FAULTLINE_CACERT) reaches it, one that does not is told it
    cannot reach the agent, and nothing is served over plain HTTP."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    token = "tls-test-token-0123456789"
    h = subprocess.run([BIN, "server", "--hash-token"], input=token + "\n", capture_output=True,
                       text=True).stdout.strip()
    tokens = tmp_path / "tokens"
    tokens.write_text(f"ctl operator {h}\n")
    r, w = os.pipe()
    agent = subprocess.Popen([BIN, "agent", "--listen", "127.0.0.1:0", "--tokens", str(tokens),
                              "--tls-cert", str(cert), "--tls-key", str(key), "--state-dir",
                              state_dir + "/tls", "--name", "tls1", "--notify-fd", str(w)],
                             pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(w)
    try:
        line = os.read(r, 64).decode()
        os.close(r)
        assert line.startswith("ready "), agent.stderr.read()
        url = f"https://127.0.0.1:{line.split()[1]}"
        rc, out, err = fl("status", "--hosts", url, "--token", token)
        assert rc == 1 and "agent 127.0.0.1" in err and "cannot be reached" in err, err
        rc, out, err = fl("status", "--hosts", url, "--token", token,
                          env={"FAULTLINE_CACERT": str(cert)})
        assert rc == 0 and "no active faults" in out, err
        with pytest.raises(Exception):
            urllib.request.urlopen(url.replace("https", "http") + "/api/v1/health",
                                   timeout=5).read()
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=10) == 0
    rc, _, err = fl("agent", "--listen", "127.0.0.1:0", "--tls-cert", str(cert),
                    "--state-dir", state_dir + "/tls2")
    assert rc == 2 and "go together" in err


def test_prepared_fault_starts_on_commit_or_drops_at_lease_end(fl, lab, state_dir):
    """prepare journals and guards a fault without injecting it; commit starts
    it; one never committed is dropped at the end of its lease, having never
    touched the host."""
    name, base, _ = lab(1)
    tok = open(os.path.join(state_dir, "labs", f"{name}.token")).read().strip()
    url = f"http://{base}.2:7421/api/v1"

    def post(path, body):
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {tok}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as ex:
            return ex.code, json.load(ex)

    fault = {"kind": "network.partition", "session": "p1", "prepare": True,
             "params": {"peer": f"{base}.9"}}
    st, b = post("/faults", dict(fault, lease_ms=60000))
    assert st == 201 and b["state"] == "prepared", b
    fid = b["id"]
    assert nft_tables(f"{name}-h1") == []                    # journaled, not injected
    assert os.path.exists(os.path.join(state_dir, "labs", name, "h1", "faults", f"{fid}.json"))
    st, b = post(f"/faults/{fid}/commit", {})
    assert st == 201 and b["id"] == fid and b["state"] == "applied", b
    assert nft_tables(f"{name}-h1") == [f"faultline_{fid}"]
    st, b = post(f"/faults/{fid}/commit", {})
    assert st == 404 and "no prepared fault" in b["error"]["message"]
    st, b = post("/faults", dict(fault, lease_ms=500))
    assert st == 201
    late = b["id"]
    time.sleep(1.0)
    st, b = post(f"/faults/{late}/commit", {})
    assert st == 404                                          # its lease ended first
    assert nft_tables(f"{name}-h1") == [f"faultline_{fid}"]   # and it never applied
    rc, out, err = fl("recover", "--all", "--hosts", f"{name}/h1")
    assert rc == 0 and nft_tables(f"{name}-h1") == []


def test_lab_up_killed_while_agents_start_is_swept(fl, state_dir):
    """A `lab up` SIGKILLed while its agents start leaves a lab marked as
    building, agents running in it; `recover --all` removes the lab and its
    agents (by pid), and their state."""
    name = "k%05x" % random.randrange(1 << 20)
    base = "10.%d.%d" % (random.randrange(200, 250), random.randrange(0, 255))
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.Popen([BIN, "lab", "up", "--name", name, "--hosts", "32", "--subnet",
                          base + ".0/24"], env=e, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: agent_pids(f"/labs/{name}/") or p.poll() is not None, 60,
                        step=0.002)
        p.send_signal(signal.SIGKILL)
        p.wait()
        rc, out, _ = fl("lab", "status", name, "--json")
        ready = rc == 0 and json.loads(out)[0]["ready"]
        if ready:  # it finished before the kill landed: then lab down removes it all
            rc, _, err = fl("lab", "down", name)
        else:
            rc, _, err = fl("recover", "--all")
        assert rc == 0, err
        print("lab up was", "ready" if ready else "still building", "when killed")
        assert wait_for(lambda: agent_pids(f"/labs/{name}/") == [], 5)
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"{name}-h" not in ns
        assert not os.path.exists(os.path.join(state_dir, "labs", name))
    finally:
        fl("lab", "down", name)
