"""faultline workload against real servers the test starts itself on loopback
(redis-server, PostgreSQL 15 as the unprivileged `postgres` user), on ports
picked free at run time, in temp dirs; every server is stopped by PID.

The PostgreSQL bank workload runs with SERIALIZABLE transactions while
every PostgreSQL process is paused by `faultline inject process.pause`, and
must check out valid; the same workload with the deliberately broken
non-transactional mode must be caught creating or losing money."""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import BIN, proc_state, wait_for

pytestmark = pytest.mark.usefixtures("no_leftovers")

PGBIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def read_history(path):
    ops = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                ops.append(json.loads(line))
    return ops


def stop_pid(pid, sig):
    """Signal pid, continuing it first in case it is paused."""
    for s in (signal.SIGCONT, sig):
        try:
            os.kill(pid, s)
        except ProcessLookupError:
            return


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


@pytest.fixture(scope="module")
def redis_server():
    d = tempfile.mkdtemp(prefix="fl-wl-redis-")
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", d],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: port_open(port), 10), "redis-server did not start"
        yield port
    finally:
        stop_pid(p.pid, signal.SIGKILL)
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_server():
    """A throwaway PostgreSQL cluster owned by the `postgres` user."""
    pw = pwd.getpwnam("postgres")
    d = tempfile.mkdtemp(prefix="fl-wl-pg-")
    os.chown(d, pw.pw_uid, pw.pw_gid)
    port = free_port()
    p = None
    try:
        subprocess.run([f"{PGBIN}/initdb", "-D", f"{d}/data", "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], user=pw.pw_uid, group=pw.pw_gid, cwd=d,
                       check=True, capture_output=True, timeout=60)
        log = open(f"{d}/log", "w")
        p = subprocess.Popen([f"{PGBIN}/postgres", "-D", f"{d}/data", "-p", str(port), "-k", d,
                              "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                              "-c", "max_connections=60"],
                             user=pw.pw_uid, group=pw.pw_gid, cwd=d, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ready = lambda: "ready to accept connections" in open(f"{d}/log").read()
        assert wait_for(ready, 20), open(f"{d}/log").read()
        yield {"port": port, "pid": p.pid,
               "target": f"host=127.0.0.1 port={port} dbname=postgres user=postgres"}
    finally:
        if p is not None:
            kids = children(p.pid)
            stop_pid(p.pid, signal.SIGINT)  # fast shutdown
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                stop_pid(p.pid, signal.SIGKILL)
                p.wait()
            for k in kids:
                stop_pid(k, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def workload(fl, *args, timeout=60):
    return fl("workload", *args, timeout=timeout)


def test_redis_register_checks_out_valid(fl, redis_server, tmp_path):
    out = tmp_path / "h.jsonl"
    rc, so, se = workload(fl, "--client", "redis", "--workload", "register", "--target",
                          f"127.0.0.1:{redis_server}", "--concurrency", 6, "--rate", 3000,
                          "--duration", "2s", "--keys", 4, "--seed", 7, "--namespace",
                          "flwltest", "--out", out, "--check")
    assert rc == 0, so + se
    assert so.startswith("VALID"), so
    assert "redis register:" in se and "seed 7" in se, se
    ops = read_history(out)
    done = [o for o in ops if o["type"] != "invoke"]
    fs = {o["f"] for o in done if o["type"] == "ok"}
    assert fs == {"read", "write", "cas"}, fs
    assert {o["key"] for o in ops} == {0, 1, 2, 3}
    assert {o["process"] for o in ops} >= set(range(6))
    # the rate limit held (3000/s over 2s, plus slack for scheduling)
    assert 50 < len(done) <= 6000 + 60, len(done)
    # every op was really applied to this redis: the last ok write or cas per
    # key is not contradicted by the server's final value
    last = {}
    for o in ops:
        if o["type"] == "ok" and o["f"] in ("write", "cas"):
            last[o["key"]] = o["value"] if o["f"] == "write" else o["value"][1]
    for k, v in last.items():
        got = subprocess.run(["redis-cli", "-p", str(redis_server), "GET",
                              f"flwltest:register:{k}"], capture_output=True, text=True).stdout
        assert got.strip() != "", f"key {k} missing in redis"
    # the history stands on its own too
    rc, so, se = fl("check", "--model", "kv", out)
    assert rc == 0, so + se
    # same seed, same op choice for each worker (first op of each process 0..5)
    out2 = tmp_path / "h2.jsonl"
    rc, _, se = workload(fl, "--client", "redis", "--workload", "register", "--target",
                         f"127.0.0.1:{redis_server}", "--concurrency", 6, "--rate", 3000,
                         "--duration", "300ms", "--keys", 4, "--seed", 7, "--namespace",
                         "flwltest", "--out", out2)
    assert rc == 0, se

    def first_ops(path):
        seen = {}
        for o in read_history(path):
            if o["type"] == "invoke" and o["process"] not in seen:
                seen[o["process"]] = (o["f"], o.get("key"), o["value"] if o["f"] != "read" else None)
        return {p: v for p, v in seen.items() if p < 6}

    assert first_ops(out) == first_ops(out2)


@pytest.mark.parametrize("kind,extra", [("set", []), ("counter", []),
                                        ("bank", ["--accounts", 4, "--total", 400])])
def test_redis_other_workloads_check_out_valid(fl, redis_server, tmp_path, kind, extra):
    out = tmp_path / "h.jsonl"
    rc, so, se = workload(fl, "--client", "redis", "--workload", kind, "--target",
                          f"127.0.0.1:{redis_server}", "--concurrency", 4, "--duration", "1s",
                          "--namespace", "flwltest", "--out", out, "--check", *extra)
    assert rc == 0, so + se
    ops = read_history(out)
    final = [o for o in ops if o["f"] == "read" and o["type"] == "ok"]
    assert final, "no successful read"
    if kind == "set":
        adds = {o["value"] for o in ops if o["f"] == "add" and o["type"] == "ok"}
        assert set(final[-1]["value"]) == adds and len(adds) > 10
    if kind == "counter":
        adds = sum(o["value"] for o in ops if o["f"] == "add" and o["type"] == "ok")
        assert final[-1]["value"] == adds
    if kind == "bank":
        assert sum(final[-1]["value"]) == 400 and len(final[-1]["value"]) == 4


def test_postgres_bank_serializable_under_pause_is_valid(fl, postgres_server, tmp_path, state_dir):
    out = tmp_path / "bank.jsonl"
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    wl = subprocess.Popen([BIN, "workload", "--client", "postgres", "--workload", "bank",
                           "--target", postgres_server["target"], "--isolation", "serializable",
                           "--concurrency", "6", "--duration", "6s", "--timeout", "500ms",
                           "--accounts", "5", "--total", "1000", "--out", str(out), "--check"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inj = None
    try:
        time.sleep(1.5)
        pm = postgres_server["pid"]
        pids = [pm] + children(pm)
        args = [a for p in pids for a in ("--pid", str(p))]
        t0 = time.monotonic()
        inj = subprocess.Popen([BIN, "inject", "process.pause", *args, "--duration", "2s"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the fault is real: the postmaster and its backends are stopped ...
        # (a backend whose client hung up exits and stays a zombie until its
        # paused parent reaps it; the pids are stopped one after another, so
        # wait for all of them rather than look once after the postmaster)
        assert wait_for(lambda: all(proc_state(p) in ("T", "Z", None) for p in pids), 2), \
            {p: proc_state(p) for p in pids}
        iso, ise = inj.communicate(timeout=20)
        assert inj.returncode == 0, ise
        assert time.monotonic() - t0 >= 1.9
        # ... and fully reverted
        assert proc_state(pm) not in ("T", None)
        assert all(proc_state(p) != "T" for p in pids)
        so, se = wl.communicate(timeout=60)
    finally:
        for p in (wl, inj):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert wl.returncode == 0, so + se
    assert so.startswith("VALID"), so
    ops = read_history(out)
    infos = [o for o in ops if o["type"] == "info"]
    assert infos and all(o.get("error") for o in infos), "the pause left no unknown outcome"
    assert any(o["error"] == "timeout" for o in infos)
    # timeouts and connection errors are never recorded as fail
    assert not [o for o in ops if o["type"] == "fail" and
                (o["error"] == "timeout" or o["error"].startswith("connection"))]
    # transfers committed before and after the pause: the workload recovered
    oks = [o["time"] for o in ops if o["type"] == "ok" and o["f"] == "transfer"]
    assert any(t < min(o["time"] for o in infos) for t in oks)
    assert any(t > max(o["time"] for o in infos) for t in oks)
    # a process whose op had an unknown outcome continues under a new id,
    # on a new connection
    assert max(o["process"] for o in ops) >= 6
    m = re.search(r"; (\d+) reconnects\)", se)
    assert m and int(m.group(1)) >= 1, se
    rc, so2, se2 = fl("check", "--model", "bank", "--accounts", 5, "--total", 1000, out)
    assert rc == 0, so2 + se2


def test_postgres_non_transactional_bank_is_caught_losing_money(fl, postgres_server, tmp_path):
    out = tmp_path / "bank.jsonl"
    rc, so, se = workload(fl, "--client", "postgres", "--workload", "bank", "--target",
                          postgres_server["target"], "--postgres-mode", "non-transactional",
                          "--concurrency", 8, "--duration", "2s", "--accounts", 5, "--total",
                          1000, "--out", out, "--check")
    assert rc == 1, so + se
    assert so.startswith("INVALID") and "expected 1000" in so, so
    rc, so, se = fl("check", "--model", "bank", "--accounts", 5, "--total", 1000, out)
    assert rc == 1, so + se
    assert "wrong total" in so, so


def test_postgres_register_and_set_check_out_valid(fl, postgres_server, tmp_path):
    for kind in ("register", "set", "counter"):
        out = tmp_path / f"{kind}.jsonl"
        rc, so, se = workload(fl, "--client", "postgres", "--workload", kind, "--target",
                              f"postgresql://postgres@127.0.0.1:{postgres_server['port']}/postgres",
                              "--concurrency", 4,
                              "--duration", "1s", "--out", out, "--check")
        assert rc == 0, kind + so + se
        ok = [o for o in read_history(out) if o["type"] == "ok"]
        assert len(ok) > 50, kind


def test_usage_errors_and_unreachable_target(fl, tmp_path):
    out = tmp_path / "h.jsonl"
    rc, so, se = workload(fl, "--client", "mysql", "--workload", "bank", "--target", "x:1")
    assert rc == 3 and "unknown client 'mysql'" in se, se
    rc, so, se = workload(fl, "--client", "redis", "--workload", "register")
    assert rc == 3 and "--target is required" in se, se
    rc, so, se = workload(fl, "--client", "redis", "--workload", "bank", "--target", "h:1",
                          "--mix", "cas=1")
    assert rc == 3 and "no 'cas'" in se, se
    rc, so, se = workload(fl, "--client", "redis", "--workload", "bank", "--target", "h:1",
                          "--duration", "soon")
    assert rc == 3 and "--duration" in se, se
    rc, so, se = workload(fl, "--client", "redis", "--workload", "register", "--target",
                          "localhost")
    assert rc == 3 and "HOST:PORT" in se, se
    # nothing listens on this port: a clear message, exit 4, no history
    port = free_port()
    rc, so, se = workload(fl, "--client", "redis", "--workload", "register", "--target",
                          f"127.0.0.1:{port}", "--duration", "1s", "--out", out)
    assert rc == 4, se
    assert f"cannot connect to redis at 127.0.0.1:{port}" in se, se
    rc, so, se = workload(fl, "--client", "postgres", "--workload", "bank", "--target",
                          f"127.0.0.1:{port}", "--duration", "1s", "--out", out)
    assert rc == 4, se
    assert "cannot connect to postgres" in se, se
    rc, so, _ = workload(fl, "--help")
    assert rc == 0 and "--postgres-mode" in so and "Exit:" in so


@pytest.fixture(scope="module")
def etcd_server():
    d = tempfile.mkdtemp(prefix="fl-wl-etcd-")
    port, peer = free_port(), free_port()
    p = subprocess.Popen(["etcd", "--name", "t", "--data-dir", f"{d}/data",
                          "--listen-client-urls", f"http://127.0.0.1:{port}",
                          "--advertise-client-urls", f"http://127.0.0.1:{port}",
                          "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                          "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: port_open(port), 20), "etcd did not start"
        yield port
    finally:
        stop_pid(p.pid, signal.SIGKILL)
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


def etcd_revision(port):
    """etcd's store revision: it grows by one with every committed write."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v3/kv/range",
                                 data=json.dumps({"key": "eA=="}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.load(r)["header"]["revision"])


@pytest.mark.parametrize("kind", ["register", "bank", "set", "counter", "queue"])
def test_etcd_workloads_check_out_valid(fl, etcd_server, tmp_path, kind, state_dir):
    out = tmp_path / "h.jsonl"
    # runs until etcd has committed 60 more writes (its reset takes a dozen at
    # most), however slow fsync is on a busy machine; SIGINT ends it
    # early, with the history completed and checked
    rev0 = etcd_revision(etcd_server)
    wl = subprocess.Popen([BIN, "workload", "--client", "etcd", "--workload", kind, "--target",
                           f"http://127.0.0.1:{etcd_server}", "--concurrency", "4",
                           "--duration", "120s", "--namespace", "flwltest", "--out", str(out),
                           "--check"], env=dict(os.environ, FAULTLINE_STATE_DIR=state_dir),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: etcd_revision(etcd_server) >= rev0 + 60, 100, 0.1), \
            etcd_revision(etcd_server) - rev0
        wl.send_signal(signal.SIGINT)
        so, se = wl.communicate(timeout=60)
    finally:
        if wl.poll() is None:
            wl.kill()
            wl.wait()
    assert wl.returncode == 0, so + se
    ok = [o for o in read_history(out) if o["type"] == "ok"]
    assert len(ok) > 20, se
    # the data is really in etcd
    got = subprocess.run(["etcdctl", f"--endpoints=127.0.0.1:{etcd_server}", "get",
                          "--prefix", "--keys-only", f"flwltest/{kind}/"],
                         capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"))
    if kind == "queue":  # the final drain really emptied it, and gave back every message
        assert got.returncode == 0 and got.stdout.strip() == "", got
        enq, came_out = queue_counts(read_history(out))
        assert len(enq) > 10 and sorted(enq) == sorted(came_out)
        return
    assert got.returncode == 0 and f"flwltest/{kind}/" in got.stdout, got


# A small service implementing the http client's API (docs/workload.md), for
# the generic http client. BROKEN=1 makes transfers read-sleep-write without
# a lock, so concurrent transfers lose updates.
SERVICE = r'''
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, broken = int(sys.argv[1]), sys.argv[2] == "1"
lock = threading.Lock()
st = {"reg": {}, "bank": [], "set": set(), "counter": 0, "queue": []}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, obj=None):
        b = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(n) or b"null")
    def do_GET(self):
        p = self.path[len("/api"):]
        with lock:
            if p.startswith("/register/"):
                k = int(p.split("/")[2])
                return self.reply(200, st["reg"][k]) if k in st["reg"] else self.reply(404)
            if p == "/bank/balances":
                return self.reply(200, {str(i): b for i, b in enumerate(st["bank"])})
            if p == "/set":
                return self.reply(200, sorted(st["set"]))
            if p == "/counter":
                return self.reply(200, {"value": st["counter"]})
        self.reply(404)
    def do_PUT(self):
        k = int(self.path[len("/api"):].split("/")[2])
        v = self.body()
        with lock:
            st["reg"][k] = v
        self.reply(204)
    def do_POST(self):
        p, b = self.path[len("/api"):], self.body()
        if p == "/reset":
            with lock:
                st["reg"].clear(); st["set"].clear(); st["counter"] = 0; st["queue"] = []
                st["txn"] = {}
                n = b["accounts"]
                st["bank"] = [b["total"] // n + (b["total"] % n if i == 0 else 0) for i in range(n)]
            return self.reply(204)
        if p == "/bank/transfer":
            f, t, a = b["from"], b["to"], b["amount"]
            if broken:
                bf, bt = st["bank"][f], st["bank"][t]
                if bf < a:
                    return self.reply(409, {"error": "insufficient funds"})
                time.sleep(0.001)
                st["bank"][f], st["bank"][t] = bf - a, bt + a
                return self.reply(200, {})
            with lock:
                if st["bank"][f] < a:
                    return self.reply(409, {"error": "insufficient funds"})
                st["bank"][f] -= a; st["bank"][t] += a
            return self.reply(200, {})
        if p.endswith("/cas"):
            k = int(p.split("/")[2])
            with lock:
                if st["reg"].get(k) != b["old"]:
                    return self.reply(412, {"error": "value differs"})
                st["reg"][k] = b["new"]
            return self.reply(200, {})
        if p == "/set":
            with lock:
                st["set"].add(b["value"])
            return self.reply(201)
        if p == "/counter":
            with lock:
                st["counter"] += b["amount"]
            return self.reply(200, {})
        if p == "/queue":
            with lock:
                st["queue"].append(b["value"])
            return self.reply(201)
        if p == "/queue/dequeue":
            with lock:
                if not st["queue"]:
                    return self.reply(204)
                return self.reply(200, {"value": st["queue"].pop(0)})
        if p == "/queue/drain":
            with lock:
                q, st["queue"] = st["queue"], []
            return self.reply(200, q)
        if p == "/txn":
            # serializable: the whole transaction under the lock; the broken
            # service takes the lock per micro-op, so transactions interleave
            t = st.setdefault("txn", {})
            def mop(f, k, v):
                if f == "r":
                    cur = t.get(k)
                    return [f, k, list(cur) if isinstance(cur, list) else cur]
                if f == "append":
                    t.setdefault(k, []).append(v)
                else:
                    t[k] = v
                return [f, k, v]
            if broken:
                out = []
                for m in b["value"]:
                    time.sleep(0.0005)
                    with lock:
                        out.append(mop(*m))
            else:
                with lock:
                    out = [mop(*m) for m in b["value"]]
            return self.reply(200, {"value": out})
        self.reply(404)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


@pytest.fixture
def http_service(tmp_path):
    procs = []

    def start(broken):
        script = tmp_path / "service.py"
        script.write_text(SERVICE)
        port = free_port()
        p = subprocess.Popen(["/usr/bin/python3", str(script), str(port), "1" if broken else "0"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        assert wait_for(lambda: port_open(port), 10), "service did not start"
        return f"http://127.0.0.1:{port}/api"

    yield start
    for p in procs:
        stop_pid(p.pid, signal.SIGKILL)
        p.wait()


@pytest.mark.parametrize("kind", ["register", "bank", "set", "counter", "queue"])
def test_http_client_against_a_correct_service_is_valid(fl, http_service, tmp_path, kind):
    url = http_service(False)
    out = tmp_path / "h.jsonl"
    rc, so, se = workload(fl, "--client", "http", "--workload", kind, "--target", url,
                          "--concurrency", 4, "--duration", "700ms", "--out", out, "--check")
    assert rc == 0, so + se
    ops = read_history(out)
    assert len([o for o in ops if o["type"] == "ok"]) > 20, se
    if kind == "register":
        assert any(o["f"] == "cas" and o["type"] == "fail" and "412" in o["error"] for o in ops)
    if kind == "queue":
        enq, came_out = queue_counts(ops)
        assert len(enq) > 10 and sorted(enq) == sorted(came_out)


def test_http_client_catches_a_service_that_loses_money(fl, http_service, tmp_path):
    url = http_service(True)
    out = tmp_path / "h.jsonl"
    rc, so, se = workload(fl, "--client", "http", "--workload", "bank", "--target", url,
                          "--concurrency", 8, "--duration", "1s", "--accounts", 3,
                          "--total", 300, "--out", out, "--check")
    assert rc == 1, so + se
    assert "expected 300" in so, so


# ---- queue: every acknowledged enqueue comes out exactly once ----


def queue_counts(ops):
    enq = [o["value"] for o in ops if o["f"] == "enqueue" and o["type"] == "ok"]
    out = [o["value"] for o in ops if o["f"] == "dequeue" and o["type"] == "ok"
           and o["value"] is not None]
    drains = [o for o in ops if o["f"] == "drain" and o["type"] == "ok"]
    assert len(drains) == 1, "no final drain"
    return enq, out + drains[0]["value"]


def test_redis_queue_checks_out_valid_and_lost_values_are_caught(fl, redis_server, tmp_path):
    out = tmp_path / "q.jsonl"
    rc, so, se = workload(fl, "--client", "redis", "--workload", "queue", "--target",
                          f"127.0.0.1:{redis_server}", "--concurrency", 4, "--duration", "1s",
                          "--namespace", "flwltest", "--out", out, "--check")
    assert rc == 0, so + se
    assert so.startswith("VALID: total-queue analysis:") and " 0 lost" in so, so
    enq, came_out = queue_counts(read_history(out))
    assert len(enq) > 50 and sorted(enq) == sorted(came_out)
    # the same history with one dequeued value dropped from the record: lost
    lines = out.read_text().splitlines()
    i = next(k for k, l in enumerate(lines)
             if '"type":"ok","f":"dequeue"' in l and '"value":null' not in l)
    value = json.loads(lines[i])["value"]
    lines[i] = lines[i].replace(f'"value":{value}', '"value":null')
    bad = tmp_path / "lost.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    rc, so, se = fl("check", "--model", "total-queue", bad)
    assert rc == 1 and so.startswith("INVALID") and " 1 lost" in so, so + se
    assert f"never came out): {value}" in so, so


def test_redis_queue_under_pause_is_valid(fl, redis_server, tmp_path, state_dir):
    """Redis stopped mid-run: enqueues and dequeues time out (info), the
    workers reconnect, and nothing acknowledged is lost."""
    out = tmp_path / "q.jsonl"
    pid = int(subprocess.run(["redis-cli", "-p", str(redis_server), "INFO", "server"],
                             capture_output=True, text=True).stdout.split("process_id:")[1]
              .split()[0])
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    wl = subprocess.Popen([BIN, "workload", "--client", "redis", "--workload", "queue",
                           "--target", f"127.0.0.1:{redis_server}", "--concurrency", "4",
                           "--duration", "4s", "--timeout", "300ms", "--namespace", "flwlq",
                           "--out", str(out), "--check"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        rc, _, se = fl("inject", "process.pause", "--pid", pid, "--duration", "1s")
        assert rc == 0, se
        assert proc_state(pid) not in ("T", None)
        so, se = wl.communicate(timeout=60)
    finally:
        if wl.poll() is None:
            wl.kill()
            wl.wait()
    assert wl.returncode == 0, so + se
    assert " 0 lost" in so and " 0 duplicated" in so, so
    ops = read_history(out)
    infos = [o for o in ops if o["type"] == "info"]
    assert infos and all(o["error"] == "timeout" or o["error"].startswith("connection")
                         for o in infos), infos[:3]


def test_postgres_queue_valid_and_non_transactional_duplicates_caught(fl, postgres_server,
                                                                     tmp_path):
    out = tmp_path / "q.jsonl"
    rc, so, se = workload(fl, "--client", "postgres", "--workload", "queue", "--target",
                          postgres_server["target"], "--concurrency", 6, "--duration", "2s",
                          "--out", out, "--check")
    assert rc == 0, so + se
    enq, came_out = queue_counts(read_history(out))
    assert len(enq) > 50 and sorted(enq) == sorted(came_out)
    # look-then-take dequeues: two clients take the same row
    out = tmp_path / "broken.jsonl"
    rc, so, se = workload(fl, "--client", "postgres", "--workload", "queue", "--target",
                          postgres_server["target"], "--postgres-mode", "non-transactional",
                          "--concurrency", 8, "--duration", "3s", "--mix",
                          "enqueue=1,dequeue=3", "--out", out, "--check")
    assert rc == 1, so + se
    assert so.startswith("INVALID") and "duplicated (came out more often than put in)" in so, so




def test_cluster_targets_bad_input_and_unreachable(fl, tmp_path):
    """Sentinel, multi-endpoint etcd and multi-host postgres targets: a
    malformed one is a usage error (3) that shows how to write it; one where
    nothing answers is exit 4, naming every address tried."""
    out = tmp_path / "h.jsonl"
    p1, p2 = free_port(), free_port()  # nothing listens there

    def run(client, target):
        return workload(fl, "--client", client, "--workload", "register", "--target", target,
                        "--duration", "300ms", "--timeout", "200ms", "--out", out)

    rc, _, se = run("redis", "sentinel://127.0.0.1:26379")
    assert rc == 3 and "sentinel://HOST:PORT[,HOST:PORT...]/NAME" in se, se
    rc, _, se = run("redis", "sentinel://127.0.0.1:nope/mymaster")
    assert rc == 3 and "sentinel '127.0.0.1:nope' is not HOST:PORT" in se, se
    rc, _, se = run("redis", f"sentinel://127.0.0.1:{p1},127.0.0.1:{p2}/mymaster")
    assert rc == 4, se
    assert "cannot find the primary 'mymaster' through the sentinels" in se, se
    assert f"127.0.0.1:{p1}" in se and f"127.0.0.1:{p2}" in se, se
    rc, _, se = run("etcd", f"http://127.0.0.1:{p1},http://127.0.0.1:{p2}")
    assert rc == 4 and "no healthy etcd member among the 2 endpoints" in se, se
    assert f"127.0.0.1:{p1}" in se and f"127.0.0.1:{p2}" in se, se
    rc, _, se = run("postgres", f"127.0.0.1:{p1},bogus")
    assert rc == 3 and "'bogus' is not HOST:PORT" in se, se
    rc, _, se = run("postgres", "host=a,b nosuchoption=1")
    assert rc == 3 and "libpq cannot read it" in se, se
    rc, _, se = run("postgres", f"127.0.0.1:{p1},127.0.0.1:{p2}")
    assert rc == 4 and "cannot connect to postgres" in se, se
    assert not out.exists()
