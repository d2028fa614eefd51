"""`faultline proxy` end to end: the Toxiproxy-compatible API (every endpoint,
status code and default) and real loopback traffic through every toxic.

Each test starts its own proxy on a free port with a temporary --state file,
and its own echo/source servers on 127.0.0.1; the proxy is stopped by PID
(SIGTERM) in a finalizer, which also checks it exited cleanly (0, and no
LeakSanitizer report when the binary is built with ASan)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FAULTLINE_BIN", os.path.join(ROOT, "build", "faultline"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxyd:
    """One `faultline proxy` process and a tiny JSON client for its API."""

    def __init__(self, state, extra=()):
        self.state = state
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [BIN, "proxy", "--listen", f"127.0.0.1:{self.port}", "--state", self.state,
             *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "API on" in line, f"proxy did not start: {line!r} {self.proc.stderr.read()}"
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError("proxy did not stop on SIGTERM")
            err = self.proc.stderr.read()
            assert rc == 0, f"proxy exited {rc}: {err}"
            assert "LeakSanitizer" not in err and "AddressSanitizer" not in err, err
        self.proc = None

    def req(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        r = urllib.request.Request(self.base + path, data=data, method=method)
        r.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def create(self, name, upstream, **kw):
        st, p = self.req("POST", "/proxies",
                         {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, **kw})
        assert st == 201, p
        return p

    def toxic(self, proxy, type_, **kw):
        st, t = self.req("POST", f"/proxies/{proxy}/toxics", {"type": type_, **kw})
        assert st == 200, t
        return t


@pytest.fixture
def proxyd(tmp_path):
    d = Proxyd(str(tmp_path / "proxy.json"))
    yield d
    d.stop()


class Server:
    """A threaded TCP server on 127.0.0.1: `echo` echoes, `source` sends
    `size` bytes then closes."""

    def __init__(self, mode="echo", size=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.mode, self.size = mode, size
        self.stopped = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c):
        try:
            if self.mode == "source":
                c.sendall(b"x" * self.size)
            else:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stopped = True
        self.sock.close()


@pytest.fixture
def echo():
    s = Server()
    yield s
    s.close()


def connect(proxy):
    host, port = proxy["listen"].rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def recv_all(c, n=None):
    out = b""
    while n is None or len(out) < n:
        d = c.recv(65536)
        if not d:
            break
        out += d
    return out


def rtt(c, msg=b"ping"):
    t = time.perf_counter()
    c.sendall(msg)
    assert recv_all(c, len(msg)) == msg
    return time.perf_counter() - t


# ---------------------------------------------------------------- API


def test_api_proxies(proxyd, echo):
    assert proxyd.req("GET", "/proxies") == (200, {})
    st, p = proxyd.req("POST", "/proxies",
                       {"name": "db", "listen": "127.0.0.1:0", "upstream": echo.addr})
    assert st == 201
    assert set(p) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert p["name"] == "db" and p["upstream"] == echo.addr
    assert p["enabled"] is True and p["toxics"] == []
    assert p["listen"].startswith("127.0.0.1:") and not p["listen"].endswith(":0")
    # duplicate, missing fields, bad JSON, bad types
    st, e = proxyd.req("POST", "/proxies", {"name": "db", "upstream": echo.addr})
    assert st == 409 and e == {"error": "proxy already exists", "status": 409}
    for bad in ({"upstream": echo.addr}, {"name": "x"}, {"name": 5, "upstream": echo.addr},
                {"name": "x", "upstream": echo.addr, "enabled": "yes"}):
        st, e = proxyd.req("POST", "/proxies", bad)
        assert st == 400 and e["status"] == 400 and e["error"], bad
    st, e = proxyd.req("POST", "/proxies", raw=b"{not json")
    assert st == 400 and e["status"] == 400
    # show, index, unknown
    assert proxyd.req("GET", "/proxies/db") == (200, p)
    assert proxyd.req("GET", "/proxies") == (200, {"db": p})
    assert proxyd.req("GET", "/proxies/nope") == (404, {"error": "proxy not found",
                                                        "status": 404})
    # traffic flows
    c = connect(p)
    rtt(c)
    # update keeps unspecified fields; enabled:false closes listener and links
    for method in ("POST", "PATCH"):
        st, q = proxyd.req(method, "/proxies/db", {"enabled": False})
        assert st == 200 and q["enabled"] is False
        assert q["upstream"] == echo.addr and q["listen"] == p["listen"]
        assert recv_all(c) == b""  # the live link was closed
        with pytest.raises(ConnectionRefusedError):
            connect(p)
        st, q = proxyd.req(method, "/proxies/db", {"enabled": True})
        assert st == 200 and q["enabled"] is True
        c = connect(p)
        rtt(c)
    c.close()
    assert proxyd.req("POST", "/proxies/nope", {"enabled": False})[0] == 404
    # delete
    assert proxyd.req("DELETE", "/proxies/db") == (204, None)
    assert proxyd.req("DELETE", "/proxies/db")[0] == 404
    assert proxyd.req("GET", "/proxies") == (200, {})
    with pytest.raises(ConnectionRefusedError):
        connect(p)


def test_api_toxics(proxyd, echo):
    proxyd.create("p", echo.addr)
    assert proxyd.req("GET", "/proxies/p/toxics") == (200, [])
    st, t = proxyd.req("POST", "/proxies/p/toxics", {"type": "latency"})
    assert st == 200
    assert t == {"name": "latency_downstream", "type": "latency", "stream": "downstream",
                 "toxicity": 1.0, "attributes": {"latency": 0, "jitter": 0}}
    st, e = proxyd.req("POST", "/proxies/p/toxics", {"type": "latency"})
    assert st == 409 and e == {"error": "toxic already exists", "status": 409}
    st, e = proxyd.req("POST", "/proxies/p/toxics", {"type": "bogus"})
    assert st == 400 and e["status"] == 400
    st, e = proxyd.req("POST", "/proxies/p/toxics", {"type": "latency", "stream": "sideways"})
    assert st == 400 and e["status"] == 400
    st, e = proxyd.req("POST", "/proxies/p/toxics", raw=b"[")
    assert st == 400
    assert proxyd.req("POST", "/proxies/nope/toxics", {"type": "latency"})[0] == 404
    defaults = {
        "bandwidth": {"rate": 0}, "slow_close": {"delay": 0}, "timeout": {"timeout": 0},
        "reset_peer": {"timeout": 0}, "limit_data": {"bytes": 0},
        "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    }
    for typ, attrs in defaults.items():
        st, t = proxyd.req("POST", "/proxies/p/toxics",
                           {"type": typ, "stream": "upstream", "toxicity": 0})
        assert st == 200
        assert t == {"name": f"{typ}_upstream", "type": typ, "stream": "upstream",
                     "toxicity": 0, "attributes": attrs}
    st, t = proxyd.req("POST", "/proxies/p/toxics",
                       {"name": "slow", "type": "latency", "stream": "upstream",
                        "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 10}})
    assert st == 200 and t["name"] == "slow"
    assert proxyd.req("GET", "/proxies/p/toxics/slow") == (200, t)
    assert proxyd.req("GET", "/proxies/p/toxics/nope") == (404, {"error": "toxic not found",
                                                                 "status": 404})
    # update merges attributes and keeps unspecified fields
    st, u = proxyd.req("POST", "/proxies/p/toxics/slow", {"attributes": {"latency": 200}})
    assert st == 200
    assert u["attributes"] == {"latency": 200, "jitter": 10}
    assert u["toxicity"] == 0.5 and u["stream"] == "upstream" and u["type"] == "latency"
    st, u = proxyd.req("PATCH", "/proxies/p/toxics/slow", {"toxicity": 1})
    assert st == 200 and u["toxicity"] == 1 and u["attributes"]["latency"] == 200
    st, p = proxyd.req("GET", "/proxies/p")
    # as Toxiproxy lists them: the upstream chain first, each in insertion order
    assert [x["name"] for x in p["toxics"]] == [
        "bandwidth_upstream", "slow_close_upstream", "timeout_upstream", "reset_peer_upstream",
        "limit_data_upstream", "slicer_upstream", "slow", "latency_downstream"]
    assert proxyd.req("DELETE", "/proxies/p/toxics/slow") == (204, None)
    assert proxyd.req("DELETE", "/proxies/p/toxics/slow")[0] == 404
    assert proxyd.req("DELETE", "/proxies/nope/toxics/slow")[0] == 404


def test_api_populate_reset_version_metrics(proxyd, echo):
    st, out = proxyd.req("POST", "/populate", [
        {"name": "a", "listen": "127.0.0.1:0", "upstream": echo.addr},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": echo.addr, "enabled": False}])
    assert st == 201 and [p["name"] for p in out["proxies"]] == ["a", "b"]
    assert out["proxies"][1]["enabled"] is False
    st, e = proxyd.req("POST", "/populate", [{"name": "c"}])
    assert st == 400 and e["status"] == 400
    proxyd.toxic("a", "latency", attributes={"latency": 1})
    assert proxyd.req("POST", "/reset") == (204, None)
    st, all_ = proxyd.req("GET", "/proxies")
    assert all_["a"]["toxics"] == [] and all_["b"]["enabled"] is True
    st, v = proxyd.req("GET", "/version")
    assert st == 200 and v["version"]
    c = connect(all_["a"])
    rtt(c, b"x" * 1000)
    c.close()
    st, m = proxyd.req("GET", "/metrics")
    assert st == 200
    assert 'faultline_proxy_bytes_total{proxy="a",direction="upstream"} 1000' in m
    assert 'faultline_proxy_bytes_total{proxy="a",direction="downstream"} 1000' in m
    assert 'faultline_proxy_connections_total{proxy="a"} 1' in m
    assert proxyd.req("GET", "/nope")[0] == 404


def test_api_guards(proxyd):
    # a browser may not drive the API (as in Toxiproxy), bodies are capped,
    # and a known path with the wrong method is 405
    r = urllib.request.Request(proxyd.base + "/proxies", method="GET",
                               headers={"User-Agent": "Mozilla/5.0"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(r, timeout=10)
    assert e.value.code == 403
    st, e = proxyd.req("POST", "/proxies", raw=b"[" * (2 << 20))
    assert st == 413
    assert proxyd.req("DELETE", "/proxies")[0] == 405
    assert proxyd.req("GET", "/reset")[0] == 405


# ---------------------------------------------------------------- toxics on traffic


def test_bulk_integrity_while_toxics_change(proxyd, echo):
    """8 MiB of random bytes echoed intact while toxics come and go mid-stream
    (the direction switches between splice, the copy fast path and the ring)."""
    p = proxyd.create("p", echo.addr)
    data = os.urandom(8 << 20)
    c = connect(p)
    got = bytearray()

    def reader():
        while len(got) < len(data):
            d = c.recv(1 << 20)
            if not d:
                break
            got.extend(d)

    t = threading.Thread(target=reader)
    t.start()
    step = len(data) // 8
    for i in range(8):
        c.sendall(data[i * step:(i + 1) * step])
        if i == 1:
            proxyd.toxic("p", "latency", attributes={"latency": 1})
            proxyd.toxic("p", "slicer", stream="upstream",
                         attributes={"average_size": 4096, "size_variation": 1000})
        if i == 4:
            proxyd.req("DELETE", "/proxies/p/toxics/latency_downstream")
            proxyd.req("DELETE", "/proxies/p/toxics/slicer_upstream")
    t.join(60)
    assert len(got) == len(data) and bytes(got) == data
    c.close()




def proxy_rss_kib(proxyd):
    with open(f"/proc/{proxyd.proc.pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))


def proxy_pipe_fds(proxyd):
    n = 0
    for fd in os.listdir(f"/proc/{proxyd.proc.pid}/fd"):
        try:
            n += os.readlink(f"/proc/{proxyd.proc.pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return n


@pytest.mark.parametrize("toxic", [False, True])
def test_back_pressure_bounds_memory(proxyd, toxic):
    """An upstream that never reads: the client is blocked after a bounded
    amount (kernel socket buffers + at most one pipe and one 64 KiB ring per
    direction), and the proxy's memory does not grow with what the client
    tries to send (docs/proxy.md, "Data path and memory")."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    try:
        p = proxyd.create("bp", "127.0.0.1:%d" % srv.getsockname()[1])
        if toxic:  # data-touching: the user-space ring instead of splice
            proxyd.toxic("bp", "latency", stream="upstream", attributes={"latency": 5})
        r0 = proxy_rss_kib(proxyd)
        c = connect(p)
        up, _ = srv.accept()  # accepted, never read
        c.setblocking(False)
        sent, idle, chunk = 0, 0, b"x" * (1 << 20)
        while idle < 20 and sent < (256 << 20):
            try:
                sent += c.send(chunk)
                idle = 0
            except BlockingIOError:
                idle += 1
                time.sleep(0.05)
        grown = proxy_rss_kib(proxyd) - r0
        assert sent < (64 << 20), f"the client could push {sent >> 20} MiB into a stuck link"
        assert grown < 8 << 10, f"proxy RSS grew by {grown} KiB for one stuck link"
        c.close()
        up.close()
    finally:
        srv.close()


def test_splice_pipes_are_pooled_not_held(proxyd, echo):
    """After bulk transfers on many links end, the proxy keeps at most its
    pool of spare splice pipes (16 pipes, 32 fds), not one per link ever made."""
    p = proxyd.create("pool", echo.addr)
    data = os.urandom(4 << 20)

    def one():
        c = connect(p)
        t = threading.Thread(target=lambda: c.sendall(data))
        t.start()
        assert recv_all(c, len(data)) == data
        t.join()
        c.close()

    ts = [threading.Thread(target=one) for _ in range(24)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert wait_for(lambda: proxy_pipe_fds(proxyd) <= 32, 5), proxy_pipe_fds(proxyd)


def test_latency_on_a_live_link(proxyd, echo):
    p = proxyd.create("p", echo.addr)
    c = connect(p)
    assert rtt(c) < 0.05
    proxyd.toxic("p", "latency", attributes={"latency": 100})
    proxyd.toxic("p", "latency", stream="upstream", attributes={"latency": 50})
    samples = sorted(rtt(c) for _ in range(5))
    assert 0.150 <= samples[2] < 0.200, samples
    proxyd.req("DELETE", "/proxies/p/toxics/latency_downstream")
    proxyd.req("DELETE", "/proxies/p/toxics/latency_upstream")
    assert rtt(c) < 0.05  # the same link, never dropped
    c.close()


def test_bandwidth(proxyd):
    src = Server("source", 1500 * 1000)
    try:
        p = proxyd.create("p", src.addr)
        proxyd.toxic("p", "bandwidth", attributes={"rate": 1000})  # KB/s
        c = connect(p)
        t = time.perf_counter()
        got = len(recv_all(c))
        dt = time.perf_counter() - t
        assert got == 1500 * 1000
        rate = got / dt / 1000
        assert 800 <= rate <= 1200, f"{rate:.0f} KB/s"
    finally:
        src.close()


def test_slicer(proxyd, echo):
    """200 bytes come back as 10-byte slices 20 ms apart. What a loaded machine
    cannot fake: the bytes never arrive faster than one slice per delay
    (counted from before the send), so the whole takes at least 19 delays,
    and the reader, however late it wakes, sees them in several pieces."""
    delay = 0.020
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "slicer", attributes={"average_size": 10, "size_variation": 0,
                                            "delay": int(delay * 1e6)})
    c = connect(p)
    t0 = time.perf_counter()
    c.sendall(b"y" * 200)
    got, sizes = 0, []
    while got < 200:
        n = len(c.recv(65536))
        assert n, "closed early"
        t = time.perf_counter() - t0
        got += n
        sizes.append(n)
        # at most one slice at once plus one per delay since the send (one
        # slice of slack for timer rounding)
        assert got <= 10 * (2 + t / delay), (got, t, sizes)
    assert got == 200
    assert time.perf_counter() - t0 >= 19 * delay * 0.95, sizes
    assert len(sizes) >= 3 and all(n % 10 == 0 for n in sizes), sizes


def test_timeout_holds_then_closes(proxyd, echo):
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "timeout", attributes={"timeout": 0})
    c = connect(p)
    c.settimeout(0.5)
    c.sendall(b"held")
    with pytest.raises(socket.timeout):
        c.recv(10)
    proxyd.req("DELETE", "/proxies/p/toxics/timeout_downstream")
    c.settimeout(5)
    assert rtt(c, b"again") < 0.05  # removed: the link lives on
    proxyd.toxic("p", "timeout", attributes={"timeout": 300})
    c2 = connect(p)
    t = time.perf_counter()
    c2.sendall(b"x")
    assert recv_all(c2) == b""
    assert 0.25 <= time.perf_counter() - t < 2


def test_reset_peer(proxyd, echo):
    # As in Toxiproxy: the timer starts at the first data in the toxic's
    # direction (downstream: the echo), that data is dropped, and an idle
    # link is never reset.
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "reset_peer", attributes={"timeout": 200})
    idle = connect(p)
    c = connect(p)
    time.sleep(0.4)
    c.sendall(b"ping")
    t = time.perf_counter()
    with pytest.raises(ConnectionResetError):
        while True:
            if not c.recv(10):
                break
    assert 0.15 <= time.perf_counter() - t < 2
    # the idle link outlived the timeout by far and still works once the toxic goes
    assert proxyd.req("DELETE", "/proxies/p/toxics/reset_peer_downstream")[0] == 204
    rtt(idle)
    idle.close()


def test_limit_data(proxyd, echo):
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "limit_data", attributes={"bytes": 100})
    c = connect(p)
    c.sendall(b"z" * 1000)
    assert recv_all(c) == b"z" * 100


def test_slow_close(proxyd, echo):
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "slow_close", attributes={"delay": 300})
    c = connect(p)
    c.sendall(b"bye")
    c.shutdown(socket.SHUT_WR)
    t = time.perf_counter()
    assert recv_all(c) == b"bye"
    assert time.perf_counter() - t >= 0.28


def affected_count(proxyd, p, n):
    """Connections (of n) where a limit_data bytes=1 toxic cut the echo short."""
    hit = 0
    for _ in range(n):
        c = connect(p)
        c.sendall(b"hello")
        got = recv_all(c, 5)
        hit += got == b"h"
        assert got in (b"h", b"hello")
        c.close()
    return hit


def test_toxicity(proxyd, echo):
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "limit_data", toxicity=0, attributes={"bytes": 1})
    assert affected_count(proxyd, p, 50) == 0
    proxyd.req("POST", "/proxies/p/toxics/limit_data_downstream", {"toxicity": 0.5})
    hit = affected_count(proxyd, p, 200)
    # Binomial(200, 0.5): sd 7.07; 4.5 sd either side fails by chance ~1e-5.
    assert 68 <= hit <= 132, hit
    proxyd.req("POST", "/proxies/p/toxics/limit_data_downstream", {"toxicity": 1})
    assert affected_count(proxyd, p, 20) == 20


def test_restart_keeps_proxies(tmp_path, echo):
    d = Proxyd(str(tmp_path / "state" / "proxy.json"))
    try:
        p = d.create("keep", echo.addr)
        d.toxic("keep", "latency", attributes={"latency": 50})
        d.create("off", echo.addr, enabled=False)
        d.stop()
        d.start()
        st, all_ = d.req("GET", "/proxies")
        assert st == 200 and set(all_) == {"keep", "off"}
        assert all_["keep"]["listen"] == p["listen"]
        assert all_["keep"]["toxics"][0]["attributes"]["latency"] == 50
        assert all_["off"]["enabled"] is False
        # the 50 ms latency holds again, and no more than it: the best of a
        # few round trips, against the best of the same without the proxy
        # (measured here, so a loaded machine moves both)
        c, direct = connect(all_["keep"]), connect({"listen": echo.addr})
        with_toxic = min(rtt(c) for _ in range(5))
        without = min(rtt(direct) for _ in range(5))
        assert 0.05 <= with_toxic < without + 0.09, (with_toxic, without)
        c.close()
        direct.close()
    finally:
        d.stop()


def test_config_populates(tmp_path, echo):
    cfg = tmp_path / "proxies.json"
    cfg.write_text(json.dumps([{"name": "c", "listen": "127.0.0.1:0", "upstream": echo.addr}]))
    d = Proxyd(str(tmp_path / "proxy.json"), ["--config", str(cfg)])
    try:
        st, p = d.req("GET", "/proxies/c")
        assert st == 200 and p["enabled"]
        c = connect(p)
        rtt(c)
        c.close()
    finally:
        d.stop()


def test_upstream_down_closes_client(proxyd):
    p = proxyd.create("p", f"127.0.0.1:{free_port()}")
    c = connect(p)
    try:
        assert recv_all(c) == b""
    except ConnectionResetError:
        pass


# ---------------------------------------------------------------- a real Toxiproxy client

CLIENT_DIR = os.path.join(ROOT, "tests", "e2e", "toxiproxy-client")


@pytest.mark.skipif(not shutil.which("node") or not os.path.isdir(
    os.path.join(CLIENT_DIR, "node_modules", "toxiproxy-node-client")),
    reason="needs node and `npm ci --prefix tests/e2e/toxiproxy-client` (scripts/bootstrap)")
def test_toxiproxy_node_client(proxyd, echo):
    env = dict(os.environ, TOXIPROXY_URL=proxyd.base, UPSTREAM=echo.addr)
    r = subprocess.run(["node", "latency.js"], cwd=CLIENT_DIR, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["before"] < 50
    assert 100 <= m["withToxic"] < 150, m
    assert 200 <= m["afterUpdate"] < 250, m
    assert m["after"] < 50, m
    assert proxyd.req("GET", "/proxies") == (200, {})
