"""http.fault end to end: HTTP/1.1 faults through the userspace proxy in
transparent mode (an nftables redirect in namespace a, a real HTTP/1.1
server in namespace b, unchanged clients: curl and python's http.client),
and the `http` toxic through the proxy API (API mode).

The lab fixture (test_proxy_faults.py) checks after every test: no
faultline nft table left, no proxy worker left, an empty journal."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import BIN, journal_records
from netlab import wait_for
from test_proxy_faults import ECHO_SERVER, fault_id_from, lab, table_in, worker_pids  # noqa: F401

PORT = 8080

# An HTTP/1.1 server (keep-alive): GET /chunked answers with a chunked body,
# GET /x answers "ok /x\n", POST echoes its body; HEAD works too.
HTTP_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_HEAD(self):
        self.send_response(200); self.send_header("Content-Length", "5"); self.end_headers()
    def do_GET(self):
        if self.path.startswith("/chunked"):
            self.send_response(200); self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defgh"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = ("ok " + self.path + "\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Origin", "server"); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H)
print("ready", flush=True)
srv.serve_forever()
"""

# Several requests on ONE keep-alive connection; prints
# [[path, status, body, {headers}], ...] and the number of connections made.
KEEPALIVE_CLIENT = r"""
import http.client, json, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
out, socks = [], set()
for spec in json.loads(sys.argv[3]):
    method, path, body = spec
    c.request(method, path, body=body.encode() if body else None)
    socks.add(id(c.sock))
    r = c.getresponse()
    data = r.read()
    out.append([path, r.status, data.decode(errors="replace"), dict(r.getheaders())])
print(json.dumps({"responses": out, "connections": len(socks)}))
"""


def curl(lab, path, extra=()):
    """(status, body, seconds) of one curl request from namespace a."""
    t = time.monotonic()
    r = subprocess.run(["ip", "netns", "exec", lab.a, "curl", "-s", "-m", "10", "-w",
                        "\n%{http_code}", *extra, f"http://{lab.b_ip}:{PORT}{path}"],
                       capture_output=True, text=True, timeout=20)
    secs = time.monotonic() - t
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body, secs


def keepalive(lab, specs):
    return json.loads(lab.run(lab.a, KEEPALIVE_CLIENT, lab.b_ip, PORT, json.dumps(specs),
                              timeout=60))


def start_fault(lab, fl_popen, *args):
    p = fl_popen("inject", "http.fault", "--netns", lab.a, "--target", f"{lab.b_ip}:{PORT}",
                 *args, stdin=subprocess.DEVNULL)
    assert wait_for(lambda: table_in(lab, lab.a), 5), p.stderr.read() if p.poll() else ""
    return p


def test_status_on_matching_paths_then_revert(lab, fl_popen):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    assert curl(lab, "/api/x")[:2] == (200, "ok /api/x\n")
    p = start_fault(lab, fl_popen, "--path", "/api/*", "--status", "503", "--percent", "100",
                    "--duration", "3s")
    fid = fault_id_from(lab, lab.a)
    assert len(worker_pids(fid)) == 1
    assert curl(lab, "/api/x")[:2] == (503, "faultline: injected HTTP 503\n")
    assert curl(lab, "/api/deep/er?q=1")[0] == 503
    assert curl(lab, "/index")[:2] == (200, "ok /index\n")
    assert curl(lab, "/apix")[0] == 200  # the glob is /api/*, not /api*
    assert p.wait(15) == 0, p.stderr.read()
    err = p.stderr.read()
    assert "HTTP 503 for /api/* on the HTTP requests of new TCP connections" in err and "reverted" in err, err
    assert table_in(lab, lab.a) == [] and worker_pids(fid) == []
    assert curl(lab, "/api/x")[:2] == (200, "ok /api/x\n")


def test_keepalive_pipeline_chunked_and_bodies(lab, fl_popen):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    p = start_fault(lab, fl_popen, "--path-regex", "^/api/[0-9]+$", "--method", "GET",
                    "--status", "429", "--body", "slow down\n", "--set-header", "Retry-After: 7",
                    "--duration", "30s")
    r = keepalive(lab, [["GET", "/a", None], ["GET", "/api/1", None], ["GET", "/chunked", None],
                        ["POST", "/api/2", "x" * 100000], ["GET", "/api/22", None],
                        ["GET", "/api/x", None], ["HEAD", "/api/3", None], ["GET", "/b", None]])
    assert r["connections"] == 1
    got = [(path, st, body) for path, st, body, _ in r["responses"]]
    assert got == [("/a", 200, "ok /a\n"), ("/api/1", 429, "slow down\n"),
                   ("/chunked", 200, "abcdefgh"), ("/api/2", 200, "x" * 100000),
                   ("/api/22", 429, "slow down\n"), ("/api/x", 200, "ok /api/x\n"),
                   ("/api/3", 200, ""), ("/b", 200, "ok /b\n")], got
    assert r["responses"][1][3]["Retry-After"] == "7"
    # pipelined requests: the answer takes its turn between real responses
    out = lab.run(lab.a, r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/5 HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
d = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    d += b
sys.stdout.write(d.decode())
""", lab.b_ip, PORT)
    assert out.index("ok /p1") < out.index("429 Too Many Requests") < out.index("ok /p3"), out
    # 150 pipelined requests in one write: past FL_HTTP_PIPELINE_MAX (64) waiting
    # for their responses, the rest wait unparsed and nothing is lost or reordered
    out = lab.run(lab.a, r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
reqs = b"".join(b"GET /%s/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (b"api" if i % 3 == 0 else b"q", i)
                for i in range(150))
s.sendall(reqs + b"GET /end HTTP/1.1\r\nConnection: close\r\n\r\n")
d = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    d += b
sys.stdout.write(d.decode())
""", lab.b_ip, PORT)
    assert out.count("HTTP/1.1 429 ") == 50 and out.count("HTTP/1.1 200 ") == 101, out[-500:]
    pos = [out.index("ok /q/%d\n" % i) for i in range(150) if i % 3]
    assert pos == sorted(pos) and out.rstrip().endswith("ok /end"), out[-300:]
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()


def test_delay_matching_requests(lab, fl_popen):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    p = start_fault(lab, fl_popen, "--path", "/slow*", "--delay", "400ms", "--duration", "30s")
    st, body, slow = curl(lab, "/slow")
    assert (st, body) == (200, "ok /slow\n")
    st, body, fast = curl(lab, "/fast")
    assert (st, body) == (200, "ok /fast\n")
    assert slow >= 0.4 * 0.9 and fast < slow - 0.2, (slow, fast)
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()
    st, _, slow = curl(lab, "/slow")
    assert st == 200 and slow < 0.3, slow


def test_rewrite_response_headers_and_body(lab, fl_popen):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    p = start_fault(lab, fl_popen, "--path", "/r/*", "--body", '{"balance": -1}',
                    "--set-header", "X-Origin: faultline", "--set-header", "X-Chaos: yes",
                    "--duration", "30s")
    r = keepalive(lab, [["GET", "/r/a", None], ["GET", "/chunked", None],
                        ["GET", "/r/chunked", None], ["GET", "/n", None]])
    (p1, s1, b1, h1), (_, s2, b2, h2), (_, s3, b3, h3), (_, s4, b4, h4) = r["responses"]
    assert (s1, b1, h1["X-Origin"], h1["X-Chaos"]) == (200, '{"balance": -1}', "faultline", "yes")
    assert h1["Content-Length"] == str(len('{"balance": -1}'))
    assert (s2, b2) == (200, "abcdefgh") and "X-Chaos" not in h2
    assert (s3, b3) == (200, '{"balance": -1}') and "Transfer-Encoding" not in h3
    assert (s4, b4, h4["X-Origin"]) == (200, "ok /n\n", "server")
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()
    assert curl(lab, "/r/a")[:2] == (200, "ok /r/a\n")


def test_patch_response_body(lab, fl_popen):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    p = start_fault(lab, fl_popen, "--path", "/*", "--method", "GET", "--find", "c",
                    "--replace", "CCC", "--duration", "30s")
    r = keepalive(lab, [["GET", "/abc", None], ["GET", "/chunked", None],
                        ["POST", "/c", "cc"], ["GET", "/x", None]])
    got = [(st, body, h.get("Content-Length")) for _, st, body, h in r["responses"]]
    assert got == [(200, "ok /abCCC\n", "10"), (200, "abCCCdefgh", "10"), (200, "cc", "2"),
                   (200, "ok /x\n", "6")], got
    assert "Transfer-Encoding" not in r["responses"][1][3]
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()


def test_header_match_and_non_http_passes_unchanged(lab, fl_popen):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    p = start_fault(lab, fl_popen, "--header", "X-User: test-*", "--status", "503",
                    "--duration", "30s")
    assert curl(lab, "/x", ["-H", "X-User: test-42"])[0] == 503
    assert curl(lab, "/x", ["-H", "X-User: alice"])[0] == 200
    assert curl(lab, "/x")[0] == 200
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()
    # a TCP service that does not speak HTTP: bytes pass unchanged
    lab.start_ready(lab.b, ECHO_SERVER, lab.b_ip, PORT + 1)
    p = fl_popen("inject", "http.fault", "--netns", lab.a, "--target", f"{lab.b_ip}:{PORT + 1}",
                 "--status", "503", "--duration", "30s", stdin=subprocess.DEVNULL)
    assert wait_for(lambda: table_in(lab, lab.a), 5)
    out = lab.run(lab.a, r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
msg = b"\x16\x03\x01 not http\r\n\r\n" + bytes(range(256))
s.sendall(msg)
d = b""
while len(d) < len(msg):
    d += s.recv(4096)
print(d == msg)
""", lab.b_ip, PORT + 1)
    assert out.strip() == "True"
    p.send_signal(signal.SIGINT)
    assert p.wait(15) == 0, p.stderr.read()


def test_sigkill_owner_guardian_reverts(lab, fl_popen, state_dir):
    lab.start_ready(lab.b, HTTP_SERVER, lab.b_ip, PORT)
    p = start_fault(lab, fl_popen, "--path", "/*", "--status", "500", "--duration", "60s")
    fid = fault_id_from(lab, lab.a)
    assert wait_for(lambda: worker_pids(fid), 5)
    assert curl(lab, "/x")[0] == 500
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: not table_in(lab, lab.a) and not worker_pids(fid), 10), \
        (table_in(lab, lab.a), worker_pids(fid))
    assert wait_for(lambda: journal_records(state_dir) == [], 5)
    assert curl(lab, "/x")[:2] == (200, "ok /x\n")


@pytest.mark.parametrize("args,want", [
    ([], "say what to do"),
    (["--status", "700"], "status"),
    (["--status", "503", "--path-regex", "(["], "path_regex"),
    (["--status", "503", "--header", "Bad Name: x"], "header"),
    (["--set-header", "novalue"], "Name: value"),
    (["--find", "x"], "go together"),
    (["--status", "503", "--direction", "both"], "direction"),
])
def test_usage_errors(fl, args, want):
    rc, out, err = fl("inject", "http.fault", "--target", "127.0.0.1:1", *args)
    assert rc == 2, (rc, err)
    assert want in err, err


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_api_mode_http_toxic(tmp_path):
    """`faultline proxy` API: an `http` toxic on a proxy in front of a
    loopback HTTP server, updated and removed live."""
    import urllib.request
    sport, pport, aport = free_port(), free_port(), free_port()
    srv = subprocess.Popen([sys.executable, "-c", HTTP_SERVER, "127.0.0.1", str(sport)],
                           stdout=subprocess.PIPE, text=True)
    px = subprocess.Popen([BIN, "proxy", "--listen", f"127.0.0.1:{aport}", "--state", ""],
                          stderr=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        api = f"http://127.0.0.1:{aport}"

        def call(method, path, body=None):
            req = urllib.request.Request(api + path, method=method,
                                         data=json.dumps(body).encode() if body else None)
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        assert wait_for(lambda: call_ok(api), 5)
        st, _ = call("POST", "/proxies", {"name": "web", "listen": f"127.0.0.1:{pport}",
                                          "upstream": f"127.0.0.1:{sport}"})
        assert st == 201
        st, body = call("POST", "/proxies/web/toxics",
                        {"name": "h", "type": "http", "toxicity": 1,
                         "attributes": {"path": "/api/*", "status": 503, "body": "down"}})
        assert st == 200, body
        assert json.loads(body)["attributes"] == {"path": "/api/*", "status": 503, "body": "down"}

        def get(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{pport}{path}", timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        assert get("/api/x") == (503, "down")
        assert get("/x") == (200, "ok /x\n")
        # toxicity 0: never applies (drawn per request)
        st, body = call("POST", "/proxies/web/toxics/h", {"toxicity": 0})
        assert st == 200 and json.loads(body)["attributes"]["status"] == 503, body
        assert get("/api/x") == (200, "ok /api/x\n")
        st, body = call("POST", "/proxies/web/toxics/h",
                        {"toxicity": 1, "attributes": {"path_regex": "^/x$", "status": 418}})
        assert st == 200, body
        assert get("/x")[0] == 418 and get("/api/x")[0] == 200
        st, body = call("POST", "/proxies/web/toxics",
                        {"type": "http", "attributes": {"status": 99}})
        assert st == 400 and "status" in body, body
        st, body = call("POST", "/proxies/web/toxics",
                        {"type": "http", "attributes": {"colour": "red"}})
        assert st == 400 and "no attribute 'colour'" in body, body
        assert call("DELETE", "/proxies/web/toxics/h")[0] == 204
        assert get("/x") == (200, "ok /x\n")
    finally:
        for p in (px, srv):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    err = px.stderr.read()
    assert "Sanitizer" not in err and "runtime error" not in err, err


def call_ok(api):
    import urllib.request
    try:
        with urllib.request.urlopen(api + "/version", timeout=1):
            return True
    except OSError:
        return False
