"""Proxy fault kinds end to end (network.delay, network.jitter,
network.reset, network.timeout, network.slow): the userspace proxy in
transparent mode, fed by an nftables redirect, with real namespaces and
unchanged clients (a plain connect to the service's own address).

Each test builds its own two-namespace lab (netlab.Lab): a TCP echo service
in namespace b, clients in namespace a. After every test: no faultline nft
table in the lab, no proxy worker process of the test's faults, and an
empty journal."""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import pytest

from conftest import BIN, journal_records
from netlab import Lab, wait_for

PORT = 7000

# Echo server: answers every chunk with the same bytes.
ECHO_SERVER = r"""
import socket, sys, threading
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ready", flush=True)
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# One request/response on a fresh connection, N times; prints the round
# trips (connect included) in seconds, or the error of the first failure.
RTT_CLIENT = r"""
import json, socket, sys, time
host, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = []
for i in range(n):
    t = time.monotonic()
    try:
        c = socket.create_connection((host, port), timeout=timeout)
        c.sendall(b"ping %d" % i)
        d = c.recv(100)
        c.close()
        if d != b"ping %d" % i:
            out.append("closed" if not d else "bad:%r" % d)
            break
        out.append(time.monotonic() - t)
    except ConnectionResetError:
        out.append("reset"); break
    except (socket.timeout, TimeoutError):
        out.append("timeout"); break
    except OSError as e:
        out.append("error:%s" % e); break
print(json.dumps(out))
"""

# Bulk download: the server side of a connection in b sends `size` bytes...
# measured by the client in a as bytes per second.
BULK_SERVER = r"""
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("ready", flush=True)
def serve(c):
    try:
        c.recv(10)
        c.sendall(b"x" * int(sys.argv[3]))
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
BULK_CLIENT = r"""
import json, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
c.sendall(b"go")
t = time.monotonic(); n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
print(json.dumps({"bytes": n, "secs": time.monotonic() - t}))
"""


def worker_pids(fault_id=None):
    """Live `faultline proxy --fault-worker` processes (of one fault)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if len(argv) >= 4 and argv[1] == b"proxy" and argv[2] == b"--fault-worker":
            cfg = json.loads(argv[3])
            if fault_id is None or cfg.get("id") == fault_id:
                out.append(int(d))
    return out


@pytest.fixture
def lab(state_dir, tmp_path, monkeypatch):
    # every worker's stderr: checked for sanitizer reports at the end
    wlog = tmp_path / "workers.log"
    monkeypatch.setenv("FAULTLINE_PROXY_WORKER_LOG", str(wlog))
    lab = Lab()
    workers_before = set(worker_pids())
    yield lab
    try:
        text = wlog.read_text() if wlog.exists() else ""
        assert "Sanitizer" not in text and "runtime error" not in text, text
        ok = wait_for(lambda: not (set(worker_pids()) - workers_before) and
                      not lab.leftovers() and journal_records(state_dir) == [], 8)
        left, journal = lab.leftovers(), journal_records(state_dir)
        workers = set(worker_pids()) - workers_before
        if not ok:
            e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
            for rec in journal:
                subprocess.run([BIN, "recover", rec[:-5]], env=e, capture_output=True,
                               timeout=30)
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        assert left == [], f"left in the kernel: {left}"
        assert journal == [], f"left in the journal: {journal}"
        assert not workers, f"proxy workers left: {workers}"
    finally:
        lab.close()


def rtts(lab, ip, n=5, timeout=5.0):
    out = json.loads(lab.run(lab.a, RTT_CLIENT, ip, PORT, n, timeout, timeout=60).strip())
    return out


def median_rtt(lab, ip, n=5):
    out = rtts(lab, ip, n)
    assert all(isinstance(x, float) for x in out), out
    return statistics.median(out)


def table_in(lab, ns):
    return lab.faultline_tables(ns)


def fault_id_from(lab, ns):
    t = table_in(lab, ns)
    return t[0][len("faultline_"):] if t else None


def test_delay_raises_rtt_and_reverts(lab, fl_popen, state_dir):
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    base = median_rtt(lab, lab.b_ip)
    p = fl_popen("inject", "network.delay", "--netns", lab.a, "--target",
                 f"{lab.b_ip}:{PORT}", "--latency", "200ms", "--duration", "3s",
                 stdin=subprocess.DEVNULL)
    assert wait_for(lambda: table_in(lab, lab.a), 5), p.stderr.read() if p.poll() else ""
    fid = fault_id_from(lab, lab.a)
    assert len(worker_pids(fid)) == 1
    during = median_rtt(lab, lab.b_ip, 3)
    assert 0.6 * 0.2 <= during - base <= 1.4 * 0.2, (base, during)
    assert p.wait(15) == 0, p.stderr.read()
    err = p.stderr.read()
    assert f"200ms latency on the server-to-client data of new TCP connections to " \
           f"{lab.b_ip}:{PORT} in netns {lab.a} (userspace proxy)" in err, err
    assert "reverted" in err
    assert table_in(lab, lab.a) == []
    assert worker_pids(fid) == []
    after = median_rtt(lab, lab.b_ip)
    assert after < base + 0.06, (base, after)


def test_existing_connection_keeps_direct_path(lab, fl_popen):
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    holder = subprocess.Popen(
        ["ip", "netns", "exec", lab.a, sys.executable, "-c", r"""
import json, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("ready", flush=True)
for line in sys.stdin:
    t = time.monotonic(); c.sendall(b"x"); d = c.recv(10)
    print(json.dumps([time.monotonic() - t, d.decode()]), flush=True)
""", lab.b_ip, str(PORT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lab.procs.append(holder)
    assert holder.stdout.readline().strip() == "ready"
    p = fl_popen("inject", "network.delay", "--netns", lab.a, "--target",
                 f"{lab.b_ip}:{PORT}", "--latency", "300ms", "--direction", "both",
                 "--duration", "3s", stdin=subprocess.DEVNULL)
    assert wait_for(lambda: table_in(lab, lab.a), 5)
    # new connections: +300ms each way
    during = median_rtt(lab, lab.b_ip, 3)
    assert during >= 0.6 * 0.6, during
    # the connection that existed before the fault: untouched
    holder.stdin.write("go\n")
    holder.stdin.flush()
    secs, data = json.loads(holder.stdout.readline())
    assert data == "x" and secs < 0.1, secs
    assert p.wait(15) == 0, p.stderr.read()
    holder.stdin.write("go\n")
    holder.stdin.flush()
    secs, data = json.loads(holder.stdout.readline())
    assert data == "x" and secs < 0.1, secs
    holder.stdin.close()


def test_sigkill_inject_guardian_removes_redirect_and_proxy(lab, fl_popen, state_dir):
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    p = fl_popen("inject", "network.delay", "--netns", lab.a, "--target",
                 f"{lab.b_ip}:{PORT}", "--latency", "200ms", "--duration", "60s")
    assert wait_for(lambda: table_in(lab, lab.a), 5)
    fid = fault_id_from(lab, lab.a)
    assert wait_for(lambda: worker_pids(fid), 5)
    assert median_rtt(lab, lab.b_ip, 1) > 0.15
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: not table_in(lab, lab.a) and not worker_pids(fid), 10), \
        (table_in(lab, lab.a), worker_pids(fid))
    assert wait_for(lambda: journal_records(state_dir) == [], 5)
    assert median_rtt(lab, lab.b_ip, 3) < 0.1


def test_killed_proxy_takes_its_redirect_along(lab, fl_popen, state_dir):
    """The redirect never outlives the proxy: SIGKILL the worker and the
    kernel drops the owned table at once; the service is reachable directly
    (not refused), and the revert later is a clean no-op."""
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    p = fl_popen("inject", "network.delay", "--netns", lab.a, "--target",
                 f"{lab.b_ip}:{PORT}", "--latency", "200ms", "--duration", "60s")
    assert wait_for(lambda: table_in(lab, lab.a), 5)
    fid = fault_id_from(lab, lab.a)
    assert wait_for(lambda: worker_pids(fid), 5)
    for pid in worker_pids(fid):
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not table_in(lab, lab.a), 2), table_in(lab, lab.a)
    assert median_rtt(lab, lab.b_ip, 3) < 0.1
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()
    assert journal_records(state_dir) == []


def test_detached_then_recover_and_sweep(lab, fl, state_dir):
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "150ms", "--detach",
                      "--duration", "60s")
    assert rc == 0, err
    fid = out.strip()
    assert table_in(lab, lab.a) == [f"faultline_{fid}"]
    assert len(worker_pids(fid)) == 1
    assert median_rtt(lab, lab.b_ip, 1) > 0.1
    rc, out, err = fl("recover", fid)
    assert rc == 0, err
    assert table_in(lab, lab.a) == [] and worker_pids(fid) == []
    assert median_rtt(lab, lab.b_ip, 3) < 0.1

    # A worker whose journal record is lost: `recover --all` finds it by name.
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "150ms", "--detach",
                      "--duration", "60s")
    assert rc == 0, err
    fid = out.strip()
    os.unlink(os.path.join(state_dir, "faults", fid + ".json"))
    assert worker_pids(fid)
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert "proxy fault worker" in err, err
    assert table_in(lab, lab.a) == [] and worker_pids(fid) == []
    assert median_rtt(lab, lab.b_ip, 3) < 0.1


def test_delay_in_server_namespace_and_ipv6(lab, fl):
    """Scope b (the server's side): connections entering b are redirected in
    prerouting. And an IPv6 target from a's side."""
    lab.start_ready(lab.b, ECHO_SERVER, "::", PORT)
    base = median_rtt(lab, lab.b_ip, 3)
    rc, out, err = fl("inject", "network.delay", "--netns", lab.b, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "200ms", "--detach",
                      "--duration", "30s")
    assert rc == 0, err
    during = median_rtt(lab, lab.b_ip, 3)
    assert 0.12 <= during - base <= 0.28, (base, during)
    assert fl("recover", out.strip())[0] == 0
    assert median_rtt(lab, lab.b_ip, 3) < base + 0.06

    base6 = median_rtt(lab, lab.b_ip6, 3)
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                      f"[{lab.b_ip6}]:{PORT}", "--latency", "200ms", "--detach",
                      "--duration", "30s")
    assert rc == 0, err
    during6 = median_rtt(lab, lab.b_ip6, 3)
    assert 0.12 <= during6 - base6 <= 0.28, (base6, during6)
    assert fl("recover", out.strip())[0] == 0
    assert median_rtt(lab, lab.b_ip6, 3) < base6 + 0.06


def test_reset_and_timeout(lab, fl):
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    rc, out, err = fl("inject", "network.reset", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--detach", "--duration", "30s")
    assert rc == 0, err
    r = rtts(lab, lab.b_ip, 1, 2.0)
    assert r[0] == "reset", r
    assert fl("recover", out.strip())[0] == 0
    assert isinstance(rtts(lab, lab.b_ip, 1)[0], float)

    rc, out, err = fl("inject", "network.timeout", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--detach", "--duration", "30s")
    assert rc == 0, err
    t = time.monotonic()
    r = rtts(lab, lab.b_ip, 1, 1.0)
    assert r == ["timeout"] and time.monotonic() - t >= 0.9, r
    assert fl("recover", out.strip())[0] == 0
    assert isinstance(rtts(lab, lab.b_ip, 1)[0], float)


def test_jitter_and_slow(lab, fl):
    size = 200_000
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    rc, out, err = fl("inject", "network.jitter", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--jitter", "100ms", "--detach", "--duration", "30s")
    assert rc == 0, err
    r = rtts(lab, lab.b_ip, 8)
    assert all(isinstance(x, float) for x in r), r
    # each round trip waits 0..200ms: they spread out
    assert max(r) - min(r) > 0.03 and max(r) < 0.6, r
    assert fl("recover", out.strip())[0] == 0

    lab.start_ready(lab.b, BULK_SERVER, lab.b_ip, PORT + 1, size)
    rc, out, err = fl("inject", "network.slow", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT + 1}", "--rate", "800kbit", "--detach",
                      "--duration", "30s")
    assert rc == 0, err
    res = json.loads(lab.run(lab.a, BULK_CLIENT, lab.b_ip, PORT + 1).strip())
    assert res["bytes"] == size
    rate = res["bytes"] / res["secs"]  # bytes/s; 800kbit = 100 KB/s
    assert 0.8 * 100_000 <= rate <= 1.2 * 100_000, rate
    # the echo port is not a target of this fault: untouched
    assert median_rtt(lab, lab.b_ip, 3) < 0.1
    assert fl("recover", out.strip())[0] == 0


def test_bad_input(lab, fl, state_dir):
    cases = [
        (["network.delay", "--target", f"{lab.b_ip}:{PORT}", "--dev", "lo", "--latency", "1s"],
         "--target"),
        (["network.delay", "--netns", lab.a, "--target", f"{lab.b_ip}:{PORT}"], "--latency"),
        (["network.delay", "--netns", lab.a, "--target", "db.example:80", "--latency", "1s"],
         "--target"),
        (["network.delay", "--netns", lab.a, "--target", f"{lab.b_ip}:{PORT}", "--latency",
          "1s", "--direction", "sideways"], "--direction"),
        (["network.slow", "--netns", lab.a, "--target", f"{lab.b_ip}:{PORT}", "--rate",
          "1kbit"], "--rate"),
        (["network.jitter", "--netns", lab.a, "--target", f"{lab.b_ip}:{PORT}"], "--jitter"),
    ]
    for args, word in cases:
        rc, out, err = fl("inject", *args)
        assert rc == 2, (args, rc, err)
        assert word in err, (args, err)
    rc, out, err = fl("inject", "network.delay", "--netns", "fl-no-such-ns", "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "1s")
    assert rc == 3, err
    # without --target, delay is kernel netem's (docs/faults-network.md); with
    # netem off (or absent, as here) that says to give --target
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--latency", "1s",
                      env={"FAULTLINE_NETEM": "off"})
    assert rc == 6 and "--target" in err, err
    assert journal_records(state_dir) == []


def test_experiment_with_network_delay(lab, tmp_path, state_dir):
    """The engine drives proxy kinds like any other: a step of network.delay
    in an experiment file raises the RTT while it runs and is gone after."""
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    base = median_rtt(lab, lab.b_ip, 3)
    spec = tmp_path / "delay.yaml"
    spec.write_text(f"""
title: delay the echo service
duration: 4s
steady_state:
  interval: 200ms
  probes:
    - name: up
      type: command
      command: "true"
method:
  - name: slow-echo
    kind: network.delay
    netns: {lab.a}
    endpoint: {lab.b_ip}:{PORT}
    latency: 200ms
    start: 0s
    duration: 3s
""")
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.Popen([BIN, "run", str(spec), "--db", str(tmp_path / "runs.db")], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: table_in(lab, lab.a), 8), p.stderr.read() if p.poll() else ""
        during = median_rtt(lab, lab.b_ip, 3)
        assert 0.12 <= during - base <= 0.28, (base, during)
        out, err = p.communicate(timeout=30)
        assert table_in(lab, lab.a) == [], err
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert median_rtt(lab, lab.b_ip, 3) < base + 0.06


def api(base, method, path, body=None):
    import urllib.request
    r = urllib.request.Request(base + path, method=method,
                               data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(r, timeout=10) as resp:
        text = resp.read().decode()
        return resp.status, json.loads(text) if text else None


def start_intercepting_proxy(lab, state):
    p = subprocess.Popen([BIN, "proxy", "--listen", "127.0.0.1:0", "--state", state, "--netns",
                          lab.a, "--intercept", f"echo={lab.b_ip}:{PORT}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    second = p.stdout.readline()
    assert "intercepting new TCP connections to %s:%d with proxy echo" % (lab.b_ip, PORT) \
        in first, (first, second, p.stderr.read() if p.poll() is not None else "")
    assert "API on" in second, second
    return p, "http://" + second.split("API on ")[1].strip()


def test_proxy_cli_intercept(lab, tmp_path):
    """`faultline proxy --netns A --intercept NAME=ADDR:PORT`: transparent
    mode from the command line, toxics through the Toxiproxy API; the
    redirect lives exactly as long as the process (SIGTERM and SIGKILL)."""
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    base = median_rtt(lab, lab.b_ip, 3)
    state = str(tmp_path / "proxy.json")
    p, url = start_intercepting_proxy(lab, state)
    try:
        assert [t for t in lab.nft_tables(lab.a) if t.startswith("fl_proxy_")]
        st, proxies = api(url, "GET", "/proxies")
        assert proxies["echo"]["upstream"] == "transparent"
        # no toxic yet: intercepted, forwarded to the original destination
        assert median_rtt(lab, lab.b_ip, 3) < base + 0.06
        st, _ = api(url, "POST", "/proxies/echo/toxics",
                    {"type": "latency", "attributes": {"latency": 250}})
        assert st == 200
        during = median_rtt(lab, lab.b_ip, 3)
        assert 0.6 * 0.25 <= during - base <= 1.4 * 0.25, (base, during)
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        err = p.stderr.read()
        assert "LeakSanitizer" not in err and "AddressSanitizer" not in err, err
        assert lab.nft_tables(lab.a) == []
        assert median_rtt(lab, lab.b_ip, 3) < base + 0.06

        # restart from the state file: the same transparent proxy and its
        # toxic come back; SIGKILL takes the redirect along
        p, url = start_intercepting_proxy(lab, state)
        st, proxies = api(url, "GET", "/proxies/echo")
        assert proxies["toxics"][0]["attributes"]["latency"] == 250
        assert median_rtt(lab, lab.b_ip, 3) - base >= 0.15
        p.kill()
        p.wait()
        assert wait_for(lambda: lab.nft_tables(lab.a) == [], 2), lab.nft_tables(lab.a)
        assert median_rtt(lab, lab.b_ip, 3) < base + 0.06
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (p.stdout, p.stderr):
            f.close()


def test_proxy_cli_intercept_bad_input(tmp_path):
    for arg, word in (("echo", "NAME=ADDR"), ("=10.0.0.2:80", "NAME=ADDR"),
                      ("echo=db.example:80", "--intercept")):
        r = subprocess.run([BIN, "proxy", "--listen", "127.0.0.1:0", "--state", "",
                            "--intercept", arg], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (arg, r.returncode, r.stderr)
        assert word in r.stderr, (arg, r.stderr)
    r = subprocess.run([BIN, "proxy", "--listen", "127.0.0.1:0", "--state", "", "--netns",
                        "fl-no-such-ns"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 3 and "fl-no-such-ns" in r.stderr, r.stderr


def test_scope_by_pid(lab, fl):
    """--pid: the namespace of a process (here the echo server's, b)."""
    srv = lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT)
    base = median_rtt(lab, lab.b_ip, 3)
    rc, out, err = fl("inject", "network.delay", "--pid", srv.pid, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "200ms", "--detach", "--duration", "30s")
    assert rc == 0, err
    fid = out.strip()
    assert lab.faultline_tables(lab.b) == [f"faultline_{fid}"]
    during = median_rtt(lab, lab.b_ip, 3)
    assert 0.12 <= during - base <= 0.28, (base, during)
    assert fl("recover", fid)[0] == 0
    assert lab.faultline_tables(lab.b) == [] and worker_pids(fid) == []
