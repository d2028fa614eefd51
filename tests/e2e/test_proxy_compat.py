"""`faultline proxy` against Toxiproxy 2.x's api.go, byte for byte where a
client can see it (issue 9 §7): status codes, Content-Type and body shapes of
every kind of answer, /populate's semantics, toxic leniency and order, the
noop toxic and reset_peer's timer; plus the bounds on toxic attributes (§2)
and the messages of the failures a user meets first (§5).

Each test starts its own proxy (tests/e2e/test_proxy.py's Proxyd, stopped by
PID in a finalizer) and its own loopback servers."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from test_proxy import BIN, Proxyd, Server, connect, free_port, recv_all, rtt

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


@pytest.fixture
def proxyd(tmp_path):
    d = Proxyd(str(tmp_path / "proxy.json"))
    yield d
    d.stop()


@pytest.fixture
def echo():
    s = Server("echo")
    yield s
    s.close()


def raw(proxyd, method, path, body=None):
    """(status, Content-Type or None, body text) exactly as sent."""
    c = http.client.HTTPConnection("127.0.0.1", proxyd.port, timeout=10)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        c.request(method, path, body=data)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def api_error(status, msg):
    return (status, TEXT, json.dumps({"error": msg, "status": status},
                                      separators=(",", ":")) + "\n")


def test_error_headers(proxyd):
    c = http.client.HTTPConnection("127.0.0.1", proxyd.port, timeout=10)
    try:
        c.request("GET", "/proxies/nope")
        r = c.getresponse()
        r.read()
        assert r.status == 404 and r.getheader("X-Content-Type-Options") == "nosniff"
    finally:
        c.close()


def test_status_content_type_and_bodies(proxyd, echo):
    # gorilla/mux: unknown path (a trailing slash too) -> Go's NotFound page
    for path in ("/nope", "/proxies/", "/", "/proxies/p/toxics/x/y"):
        assert raw(proxyd, "GET", path) == (404, TEXT, "404 page not found\n"), path
    # a known path with another method -> an empty 405, before any lookup
    for method, path in (("DELETE", "/proxies"), ("GET", "/reset"), ("PUT", "/proxies/nope"),
                         ("PUT", "/proxies/nope/toxics/nope"), ("GET", "/populate")):
        assert raw(proxyd, method, path) == (405, None, ""), (method, path)
    # apiError: the JSON as text/plain with a newline, Toxiproxy's words
    assert raw(proxyd, "GET", "/proxies/nope") == api_error(404, "proxy not found")
    assert raw(proxyd, "POST", "/proxies", {"upstream": echo.addr}) == \
        api_error(400, "missing required field: name")
    st, ct, body = raw(proxyd, "POST", "/proxies", b"{not json")
    assert (st, ct) == (400, TEXT) and body.endswith("\n")
    assert json.loads(body)["error"].startswith("bad request body: ")
    p = proxyd.create("p", echo.addr)
    assert raw(proxyd, "POST", "/proxies", {"name": "p", "upstream": echo.addr}) == \
        api_error(409, "proxy already exists")
    assert raw(proxyd, "GET", "/proxies/p/") == (404, TEXT, "404 page not found\n")
    assert raw(proxyd, "GET", "/proxies/p/toxics/nope") == api_error(404, "toxic not found")
    assert raw(proxyd, "POST", "/proxies/p/toxics", {"type": "bogus"}) == \
        api_error(400, "invalid toxic type")
    assert raw(proxyd, "POST", "/proxies/p/toxics", {"type": "latency", "stream": ""}) == \
        api_error(400, "stream was invalid, can be either upstream or downstream")
    # success bodies: compact JSON; Go's float32 formatting; attributes first
    st, ct, body = raw(proxyd, "POST", "/proxies/p/toxics", {"type": "latency", "toxicity": 0.3})
    assert (st, ct) == (200, JSON)
    assert body == ('{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream",'
                    '"type":"latency","stream":"downstream","toxicity":0.3}')
    assert raw(proxyd, "POST", "/proxies/p/toxics", {"type": "latency"}) == \
        api_error(409, "toxic already exists")
    st, ct, body = raw(proxyd, "POST", "/proxies/p/toxics", {"type": "noop", "stream": "UpStream"})
    assert body == ('{"attributes":{},"name":"noop_UpStream","type":"noop",'
                    '"stream":"UpStream","toxicity":1}')
    # the upstream chain is listed first
    st, ct, body = raw(proxyd, "GET", "/proxies/p/toxics")
    assert [t["name"] for t in json.loads(body)] == ["noop_UpStream", "latency_downstream"]
    proxyd.create("a", echo.addr)
    st, ct, body = raw(proxyd, "GET", "/proxies")
    assert (st, ct) == (200, JSON) and json.loads(body)["p"]["listen"] == p["listen"]
    assert body.index('"a":') < body.index('"p":')  # by name, as Go writes a map
    # deletes: 204, no body, no Content-Type
    assert raw(proxyd, "DELETE", "/proxies/p/toxics/noop_UpStream") == (204, None, "")
    # /version, written by hand in api.go
    st, ct, body = raw(proxyd, "GET", "/version")
    assert (st, ct) == (200, "application/json;charset=utf-8")
    assert re.fullmatch(r'\{"version": "[^"]+"\}\n', body), body


def test_populate_like_toxiproxy(proxyd, echo):
    assert raw(proxyd, "POST", "/populate", []) == (201, JSON, '{"proxies":null}')
    st, ct, body = raw(proxyd, "POST", "/populate", {"proxies": []})
    assert (st, ct) == (400, JSON)
    assert json.loads(body) == {
        "error": "bad request body: expected a JSON array of proxies, not an object",
        "status": 400, "proxies": None}
    st, _, body = raw(proxyd, "POST", "/populate", [{"name": "x", "upstream": echo.addr},
                                                   {"upstream": echo.addr}])
    assert st == 400 and json.loads(body)["error"] == "missing required field: name at proxy 2"
    assert proxyd.req("GET", "/proxies") == (200, {})  # nothing applied
    # a proxy that cannot listen is not added: every later /reset still works
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        taken = "127.0.0.1:%d" % busy.getsockname()[1]
        st, ct, body = raw(proxyd, "POST", "/populate", [
            {"name": "a", "listen": "127.0.0.1:0", "upstream": echo.addr},
            {"name": "b", "listen": taken, "upstream": echo.addr}])
        out = json.loads(body)
        assert (st, ct) == (500, JSON), body
        assert "bind: address already in use" in out["error"] and out["status"] == 500
        assert [p["name"] for p in out["proxies"]] == ["a"]
        st, all_ = proxyd.req("GET", "/proxies")
        assert set(all_) == {"a"}
        # what was applied before the failure is saved too
        assert [p["name"] for p in json.load(open(proxyd.state))] == ["a"]
        assert proxyd.req("POST", "/reset") == (204, None)
    finally:
        busy.close()
    a = all_["a"]
    port = a["listen"].rsplit(":", 1)[1]
    proxyd.toxic("a", "latency", attributes={"latency": 1})
    c = connect(a)
    rtt(c)
    # the same proxy written localhost:PORT, enabled:false: kept as it is
    st, out = proxyd.req("POST", "/populate", [
        {"name": "a", "listen": f"localhost:{port}", "upstream": echo.addr, "enabled": False}])
    assert st == 201 and out["proxies"][0]["enabled"] is True
    assert len(out["proxies"][0]["toxics"]) == 1
    rtt(c)  # the live link survived
    # another upstream replaces it: toxics and links go
    other = Server("echo")
    try:
        st, out = proxyd.req("POST", "/populate", [
            {"name": "a", "listen": a["listen"], "upstream": other.addr}])
        assert st == 201 and out["proxies"][0]["toxics"] == []
        assert recv_all(c) == b""
        c.close()
        c = connect(out["proxies"][0])
        rtt(c)
        c.close()
    finally:
        other.close()


def test_toxic_attributes_bounded_and_checked(proxyd, echo):
    """Issue 9 §2: overflowing values and unknown names used to be taken
    (no delay at all, UBSan signed overflow)."""
    p = proxyd.create("p", echo.addr)
    for attrs in ({"latency": 9223372036854775807}, {"jitter": 9223372036854775807},
                  {"latency": -9223372036854775807}, {"latency": 1000000000001}):
        st, ct, body = raw(proxyd, "POST", "/proxies/p/toxics",
                           {"type": "latency", "attributes": attrs})
        assert (st, ct) == (400, TEXT), attrs
        assert "outside -1000000000000..1000000000000" in json.loads(body)["error"]
    for typ, attrs in (("timeout", {"timeout": 2**63 - 1}), ("reset_peer", {"timeout": 2**62}),
                       ("slow_close", {"delay": 2**62}), ("bandwidth", {"rate": 2**62}),
                       ("slicer", {"delay": 2**62})):
        assert raw(proxyd, "POST", "/proxies/p/toxics",
                   {"type": typ, "attributes": attrs})[0] == 400, typ
    st, ct, body = raw(proxyd, "POST", "/proxies/p/toxics",
                       {"type": "latency", "attributes": {"latencyy": 100}})
    assert st == 400
    assert json.loads(body)["error"] == ("bad request body: a latency toxic has no attribute "
                                         "'latencyy' (its attributes: latency, jitter)")
    assert proxyd.req("GET", "/proxies/p/toxics") == (200, [])
    # an update is checked the same way and changes nothing when refused
    proxyd.toxic("p", "latency", attributes={"latency": 100})
    assert proxyd.req("PATCH", "/proxies/p/toxics/latency_downstream",
                      {"attributes": {"latency": 2**63 - 1}})[0] == 400
    c = connect(p)
    assert 0.1 <= rtt(c) < 1  # still the 100 ms (an upper bound only against a hang)
    c.close()
    # the bound itself is taken; limit_data's bytes take any int64
    assert proxyd.req("PATCH", "/proxies/p/toxics/latency_downstream",
                      {"attributes": {"latency": 1000000000000}})[0] == 200
    proxyd.toxic("p", "limit_data", attributes={"bytes": 2**63 - 1})
    assert proxyd.req("DELETE", "/proxies/p/toxics/latency_downstream")[0] == 204
    c = connect(p)
    assert rtt(c) < 1
    c.close()


def test_toxiproxy_leniency_on_traffic(proxyd, echo):
    """What Toxiproxy accepts is accepted, and does what it does there."""
    p = proxyd.create("p", echo.addr)
    # negative latency: no delay; null keeps the default; toxicity above 1: always
    t = proxyd.toxic("p", "latency", toxicity=1.5,
                     attributes={"latency": -100, "jitter": None})
    assert t["attributes"] == {"latency": -100, "jitter": 0} and t["toxicity"] == 1.5
    c = connect(p)
    # not 100 ms (the fastest of 5, so a loaded machine does not fail it)
    assert min(rtt(c) for _ in range(5)) < 0.09
    c.close()
    # a negative toxicity never applies
    proxyd.toxic("p", "limit_data", toxicity=-1, attributes={"bytes": 1})
    for _ in range(10):
        c = connect(p)
        c.sendall(b"hello")
        assert recv_all(c, 5) == b"hello"
        c.close()
    # stream in any letter case; noop passes everything
    t = proxyd.toxic("p", "noop", stream="UPSTREAM")
    assert t["stream"] == "UPSTREAM" and t["name"] == "noop_UPSTREAM"
    c = connect(p)
    c.sendall(b"x" * 100000)
    assert recv_all(c, 100000) == b"x" * 100000
    c.close()


def test_reset_peer_drops_first_data_and_spares_idle_links(proxyd, echo):
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "reset_peer", stream="upstream", attributes={"timeout": 300})
    idle = connect(p)
    time.sleep(0.5)
    c = connect(p)
    c.sendall(b"lost")  # dropped: the echo never sees it
    t = time.perf_counter()
    got = b""
    with pytest.raises(ConnectionResetError):
        while True:
            d = c.recv(10)
            if not d:
                break
            got += d
    assert got == b""
    assert 0.25 <= time.perf_counter() - t < 2
    assert proxyd.req("DELETE", "/proxies/p/toxics/reset_peer_upstream")[0] == 204
    rtt(idle)  # never reset, though idle far longer than the timeout
    idle.close()


class LoggedProxyd(Proxyd):
    """A Proxyd whose stderr goes to a file, to read its log while it runs."""

    def __init__(self, state, log):
        self.log = log
        super().__init__(state)

    def start(self):
        self.port = free_port()
        self.errf = open(self.log, "w")
        self.proc = subprocess.Popen(
            [BIN, "proxy", "--listen", f"127.0.0.1:{self.port}", "--state", self.state],
            stdout=subprocess.PIPE, stderr=self.errf, text=True)
        line = self.proc.stdout.readline()
        assert "API on" in line, open(self.log).read()
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                assert self.proc.wait(timeout=10) == 0, open(self.log).read()
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise
        self.proc = None
        self.errf.close()

    def wait_log(self, pattern):
        for _ in range(100):
            text = open(self.log).read()
            if re.search(pattern, text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not in the log: {text}")


def test_upstream_failures_are_logged_per_connection(tmp_path):
    d = LoggedProxyd(str(tmp_path / "proxy.json"), str(tmp_path / "err.log"))
    try:
        # accepted, as Toxiproxy accepts it, but said at once...
        p = d.create("p", "nosuch.invalid:80")
        d.wait_log(r"proxy p: upstream nosuch\.invalid:80: lookup nosuch\.invalid: .*"
                   r"PATCH /proxies/p")
        # ...and for each connection it closes
        for _ in range(2):
            c = connect(p)
            assert recv_all(c) == b""
            c.close()
        text = d.wait_log(r"(client 127\.0\.0\.1:\d+: upstream nosuch\.invalid:80: lookup "
                          r".*connection closed[\s\S]*){2}")
        assert "not host:port" not in text
        # a refused upstream is logged too (it was a debug line)
        q = d.create("q", f"127.0.0.1:{free_port()}")
        c = connect(q)
        try:
            recv_all(c)
        except ConnectionResetError:
            pass
        c.close()
        d.wait_log(r"proxy q: client 127\.0\.0\.1:\d+: cannot connect to upstream "
                   r"127\.0\.0\.1:\d+: Connection refused; connection closed")
        # an unresolvable listen host is named as such: 500, as in Toxiproxy
        st, ct, body = raw(d, "POST", "/proxies", {"name": "r", "listen": "nosuch.invalid:0",
                                                  "upstream": "127.0.0.1:1"})
        assert (st, ct) == (500, TEXT)
        assert json.loads(body)["error"].startswith(
            "listen tcp nosuch.invalid:0: lookup nosuch.invalid: ")
        st, _, body = raw(d, "POST", "/proxies", {"name": "r", "listen": "127.0.0.1",
                                                 "upstream": "127.0.0.1:1"})
        assert st == 500 and "missing port in address" in body
    finally:
        d.stop()


def run_proxy(*args, timeout=10):
    return subprocess.run([BIN, "proxy", *args], capture_output=True, text=True, timeout=timeout)


def test_startup_messages(tmp_path):
    # --state pointing at a directory
    r = run_proxy("--listen", "127.0.0.1:0", "--state", str(tmp_path))
    assert r.returncode == 2, r
    assert f"--state {tmp_path}: is a directory" in r.stderr
    assert f"--state {tmp_path}/proxy.json" in r.stderr
    assert "expected near end of file" not in r.stderr
    # the API port is taken
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        r = run_proxy("--listen", addr, "--state", "")
        assert r.returncode == 1, r
        assert f"--listen {addr}: cannot serve the API there: Address already in use" in r.stderr
        assert "--listen 127.0.0.1:0 picks a free one" in r.stderr
        assert "Failed to bind" not in r.stderr
    finally:
        busy.close()
    # a host that does not resolve, a missing port
    r = run_proxy("--listen", "nosuch.invalid:8474", "--state", "")
    assert r.returncode == 2 and "--listen nosuch.invalid:8474: lookup nosuch.invalid: " in r.stderr
    r = run_proxy("--listen", "8474", "--state", "")
    assert r.returncode == 2 and "missing port in address" in r.stderr


def test_limit_data_counts_across_an_update(proxyd, echo):
    """As in Toxiproxy (limit_data is its stateful toxic): updating the limit
    does not forget what already went through a live link."""
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "limit_data", attributes={"bytes": 10})
    c = connect(p)
    c.sendall(b"123456")
    assert recv_all(c, 6) == b"123456"
    assert proxyd.req("PATCH", "/proxies/p/toxics/limit_data_downstream",
                      {"attributes": {"bytes": 12}})[0] == 200
    c.sendall(b"abcdefghij")
    assert recv_all(c) == b"abcdef"  # 6 + 6 = 12, then the link closes
    c.close()
    # a new link counts from zero
    c = connect(p)
    c.sendall(b"x" * 12)
    assert recv_all(c) == b"x" * 12
    c.close()


def test_reset_peer_holds_a_fin_then_resets(proxyd, echo):
    """Toxiproxy's reset_peer takes the end of the stream as its first data:
    the FIN is held and the link reset `timeout` ms later; removing the
    toxic lets a held FIN go on."""
    p = proxyd.create("p", echo.addr)
    proxyd.toxic("p", "reset_peer", stream="upstream", attributes={"timeout": 300})
    c = connect(p)
    c.shutdown(socket.SHUT_WR)
    t = time.perf_counter()
    with pytest.raises(ConnectionResetError):
        while c.recv(10):
            pass
    assert time.perf_counter() - t >= 0.25
    c.close()
    proxyd.req("PATCH", "/proxies/p/toxics/reset_peer_upstream", {"attributes": {"timeout": 60000}})
    c = connect(p)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(0.3)
    with pytest.raises(socket.timeout):  # the FIN waits in the proxy: no end yet
        c.recv(10)
    assert proxyd.req("DELETE", "/proxies/p/toxics/reset_peer_upstream")[0] == 204
    c.settimeout(5)
    assert recv_all(c) == b""  # a clean end: the echo server saw the FIN and closed
    c.close()
