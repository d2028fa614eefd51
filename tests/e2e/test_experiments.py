"""Experiments end to end: `faultline validate/run/runs/show` against real
software (redis-server, python3 -m http.server) that the tests start inside
network namespaces they create themselves, joined by a veth pair with
addresses in 10.x.y.0/24. Nothing is reachable from outside those
namespaces; everything is torn down by name/pid the test created.

Each test uses its own history store (--db) and state directory, and checks
that no fault is left applied: the journal is empty and no faultline_* nft
table exists in the namespaces (or on the host)."""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BIN, ROOT, journal_records, proc_state, wait_for

pytestmark = pytest.mark.usefixtures("no_leftovers")

EXAMPLES = os.path.join(ROOT, "examples")


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, **kw)


def nft_tables(ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["nft", "list", "tables"]
    out = sh(*cmd, check=False).stdout
    return [line for line in out.splitlines() if "faultline_" in line]


@pytest.fixture
def netpair():
    """Two namespaces joined by a veth pair: (ns_a, addr_a, ns_b, addr_b)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    tag = uuid.uuid4().hex[:6]
    a, b = f"flxa{tag}", f"flxb{tag}"
    net = f"10.{100 + int(tag[:2], 16) % 100}.{int(tag[2:4], 16)}"
    addr_a, addr_b = f"{net}.1", f"{net}.2"
    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
        sh("ip", "link", "add", f"fa{tag}", "type", "veth", "peer", "name", f"fb{tag}")
        sh("ip", "link", "set", f"fa{tag}", "netns", a)
        sh("ip", "link", "set", f"fb{tag}", "netns", b)
        for ns, dev, addr in ((a, f"fa{tag}", addr_a), (b, f"fb{tag}", addr_b)):
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield a, addr_a, b, addr_b
    finally:
        for ns in (a, b):
            sh("ip", "netns", "del", ns, check=False)


def in_ns(ns, *argv):
    return ["ip", "netns", "exec", ns, *argv]


@pytest.fixture
def run(fl, tmp_path):
    """faultline with this test's store: run(*args, env=...) -> (rc, out, err)."""
    db = str(tmp_path / "history.db")

    def go(*args, env=None, timeout=120):
        return fl(*args, "--db", db, env=env, timeout=timeout)

    go.db = db
    return go


def show(run, run_id, samples=True):
    args = ["show", str(run_id), "--json"] + (["--samples"] if samples else [])
    rc, out, err = run(*args)
    assert rc == 0, err
    return json.loads(out)


def last_run(run):
    rc, out, err = run("runs", "--json")
    assert rc == 0, err
    runs = json.loads(out)
    assert runs
    return runs[-1]


# ---- redis: a replica partition the primary's clients must not notice ----


@pytest.fixture
def redis_pair(netpair, spawn, tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    a, addr_a, b, addr_b = netpair
    port = "6379"
    for name, ns, addr, extra in (("primary", a, addr_a, []),
                                  ("replica", b, addr_b, ["--replicaof", addr_a, port])):
        d = tmp_path / name
        d.mkdir()
        spawn(in_ns(ns, "redis-server", "--port", port, "--bind", addr, "--dir", str(d),
                    "--save", "", "--appendonly", "no", "--protected-mode", "no",
                    "--daemonize", "no", *extra))
    ping = lambda ns, addr: sh(*in_ns(ns, "redis-cli", "-h", addr, "-p", port, "ping"),
                               check=False).stdout.strip() == "PONG"
    assert wait_for(lambda: ping(a, addr_a) and ping(b, addr_b), 10)
    link_up = lambda: "master_link_status:up" in sh(
        *in_ns(b, "redis-cli", "-h", addr_b, "-p", port, "info", "replication"),
        check=False).stdout
    assert wait_for(link_up, 15), "replica never connected"
    reaches = lambda: sh(*in_ns(b, "timeout", "1", "redis-cli", "-h", addr_a, "-p", port,
                                "ping"), check=False).stdout.strip() == "PONG"
    return dict(PRIMARY_NS=a, PRIMARY_ADDR=addr_a, REPLICA_NS=b, REDIS_PORT=port,
                link_up=link_up, replica_reaches_primary=reaches)


def test_redis_replica_partition_passes(run, fl, redis_pair, state_dir):
    env = {k: v for k, v in redis_pair.items() if isinstance(v, str)}
    example = os.path.join(EXAMPLES, "redis-replica-partition.yaml")
    rc, out, err = fl("validate", example, env=env)
    assert rc == 0, err

    # Run in the background to watch the partition really happen.
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir, **env)
    p = subprocess.Popen([BIN, "run", example, "--db", run.db], env=e, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: nft_tables(env["REPLICA_NS"]), 15), "no partition table"
        assert nft_tables(env["PRIMARY_NS"]) == [], "the primary's side must be untouched"
        assert wait_for(lambda: not redis_pair["replica_reaches_primary"](), 10), \
            "the replica should be cut off from its primary during the partition"
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, out + err
    assert "passed" in out

    r = last_run(run)
    assert r["verdict"] == "passed" and r["exit_code"] == 0
    doc = show(run, r["id"])
    writes = next(x for x in doc["probes"] if x["name"] == "primary-writes")
    assert writes["samples"] >= 20 and writes["failures"] == 0
    assert writes["availability"] == 100
    assert 0 < writes["p99_ms"] < 250
    assert writes["time_to_recover_ms"] is not None and 0 <= writes["time_to_recover_ms"] < 5000
    assert len(writes["samples_data"]) >= writes["samples"]
    assert any("partition-replica" in ev["message"] and "applied" in ev["message"]
               for ev in doc["events"])
    assert any("reverted" in ev["message"] for ev in doc["events"])
    assert nft_tables(env["REPLICA_NS"]) == [] and nft_tables() == []
    assert journal_records(state_dir) == []
    # and replication heals once the partition is gone
    assert wait_for(redis_pair["link_up"], 30)


# ---- HTTP: a paused server fails the hypothesis; a guardrail aborts ------


@pytest.fixture
def http_server(netpair, spawn, tmp_path):
    a, addr_a, _, _ = netpair
    port = 8000 + int(uuid.uuid4().hex[:3], 16) % 1000
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello\n")
    p = spawn(in_ns(a, "python3", "-m", "http.server", str(port), "--bind", addr_a,
                    "--directory", str(www)))
    url = f"http://{addr_a}:{port}/"
    ok = lambda: sh(*in_ns(a, "python3", "-c",
                           f"import urllib.request;urllib.request.urlopen('{url}',timeout=1)"),
                    check=False).returncode == 0
    assert wait_for(ok, 10), "http.server did not come up"
    pidfile = tmp_path / "web.pid"
    pidfile.write_text(f"{p.pid}\n")
    return dict(HTTP_NS=a, HTTP_URL=url, HTTP_PIDFILE=str(pidfile)), p


def test_paused_http_server_fails_with_explanation_and_recovers(run, http_server, state_dir,
                                                                tmp_path):
    env, server = http_server
    example = os.path.join(EXAMPLES, "http-pause.yaml")
    out_json, out_xml = tmp_path / "run.json", tmp_path / "run.xml"
    rc, out, err = run("run", example, "--json", out_json, "--junit", out_xml, env=env)
    assert rc == 1, out + err
    doc = json.loads(out_json.read_text())
    assert doc["verdict"] == "failed" and doc["exit_code"] == 1
    assert "probe homepage" in doc["explanation"]
    assert "success ratio" in doc["explanation"] and "< 99%" in doc["explanation"]
    assert "after injection" in doc["explanation"]
    home = doc["probes"][0]
    assert home["failures"] >= 5 and home["availability"] < 99
    # the pause starts 1s into injection: detection is right after that
    assert 900 <= home["time_to_detect_ms"] <= 2500
    assert home["time_to_recover_ms"] is not None and home["time_to_recover_ms"] < 5000
    full = show(run, doc["id"])
    assert len(full["probes"][0]["samples_data"]) >= home["samples"]
    xml = out_xml.read_text()
    assert "<failure" in xml and "homepage" in xml
    # the server runs again, nothing is left
    assert proc_state(server.pid) in ("S", "R")
    assert journal_records(state_dir) == []
    # human-readable show
    rc, text, err = run("show", str(doc["id"]))
    assert rc == 0 and "verdict: failed" in text and "homepage" in text


def test_guardrail_aborts_long_pause_at_once(run, http_server, state_dir):
    env, server = http_server
    example = os.path.join(EXAMPLES, "http-pause-guardrail.yaml")
    t0 = time.time()
    rc, out, err = run("run", example, env=env)
    took = time.time() - t0
    assert rc == 8, out + err
    assert took < 12, f"the 15s pause should have been cut short, run took {took:.1f}s"
    r = last_run(run)
    assert r["verdict"] == "aborted"
    assert "guardrail homepage-down tripped" in r["explanation"]
    assert proc_state(server.pid) in ("S", "R"), "the server must be resumed"
    assert journal_records(state_dir) == []


def test_not_steady_injects_nothing(run, http_server, state_dir):
    env, server = http_server
    env = dict(env, HTTP_URL=env["HTTP_URL"].rsplit(":", 1)[0] + ":1/")
    rc, out, err = run("run", os.path.join(EXAMPLES, "http-pause.yaml"), env=env)
    assert rc == 9, out + err
    r = last_run(run)
    assert r["verdict"] == "not started: system not steady"
    assert "nothing was injected" in r["explanation"]
    assert not any("applied" in ev["message"] for ev in show(run, r["id"])["events"])
    assert proc_state(server.pid) in ("S", "R")


def test_sigint_reverts_and_records_aborted(run, http_server, state_dir):
    env, server = http_server
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir, **env)
    p = subprocess.Popen([BIN, "run", os.path.join(EXAMPLES, "http-pause.yaml"), "--db",
                          run.db], env=e, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: proc_state(server.pid) == "T", 10), "never paused"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 8, out + err
    assert proc_state(server.pid) in ("S", "R")
    r = last_run(run)
    assert r["verdict"] == "aborted" and "interrupted by SIGINT" in r["explanation"]
    assert journal_records(state_dir) == []


def test_dry_run_resolves_targets_and_touches_nothing(run, http_server, state_dir):
    env, server = http_server
    rc, out, err = run("run", os.path.join(EXAMPLES, "http-pause.yaml"), "--dry-run", env=env)
    assert rc == 0, err
    assert f'"pid":{server.pid}' in out.replace(" ", "")
    assert "+1.0s..+4.0s pause-web: process.pause" in out
    assert "nothing was injected" in out
    assert proc_state(server.pid) in ("S", "R")
    assert journal_records(state_dir) == []
    rc, out, err = run("runs", "--json")
    assert rc == 0 and json.loads(out) == []


def test_validate_reports_file_line_col(fl, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\nsteady_state:\n  probes:\n    - {name: p, type: tcp, "
                   "address: 'x'}\nmethod:\n  - kind: network.loss\n    percent: 150\n")
    rc, out, err = fl("validate", str(bad))
    assert rc == 2
    lines = err.splitlines()
    assert f"{bad}:4:7: tcp probe 'p': address 'x' must be HOST:PORT (or [V6]:PORT)" in lines
    assert any(l.startswith(f"{bad}:7:14: network.loss: --percent:") for l in lines), err
    rc, out, err = fl("run", str(bad))
    assert rc == 2


def test_every_example_validates_without_its_environment(tmp_path):
    """validate is a reading command: it needs none of the variables a run
    takes (namespaces, addresses, pid files). An unset one is a warning
    naming it; the run itself still refuses the file, saying which."""
    import glob
    examples = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")))
    assert len(examples) >= 8, examples
    clean = {"PATH": os.environ["PATH"], "FAULTLINE_STATE_DIR": str(tmp_path / "state")}
    p = subprocess.run([BIN, "validate", *examples], env=clean, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(": ok: ") == len(examples), p.stdout
    assert ("http-pause.yaml:14:14: warning: environment variable HTTP_PIDFILE is not set: "
            "`faultline run` refuses the file until it is") in p.stderr, p.stderr
    p = subprocess.run([BIN, "run", os.path.join(ROOT, "examples", "http-pause.yaml"),
                        "--db", str(tmp_path / "h.db")], env=clean, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert "http-pause.yaml:14:14: environment variable HTTP_PIDFILE is not set" in p.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "h.db").exists()


def test_fault_that_cannot_be_applied_is_an_error_with_inject_exit_code(run, http_server,
                                                                       tmp_path, state_dir):
    env, server = http_server
    gone = tmp_path / "gone.pid"
    gone.write_text("4000000\n")
    rc, out, err = run("run", os.path.join(EXAMPLES, "http-pause.yaml"),
                       env=dict(env, HTTP_PIDFILE=str(gone)))
    assert rc == 3, out + err  # FL_ENOTARGET, as `faultline inject` would exit
    r = last_run(run)
    assert r["verdict"] == "error" and "pause-web" in r["explanation"]
    assert "nothing was injected" in r["explanation"]
    assert proc_state(server.pid) in ("S", "R")
    assert journal_records(state_dir) == []


def test_killed_runner_faults_are_reverted_by_the_guardian(run, http_server, state_dir):
    """The journal + lease guarantee holds for experiments too: SIGKILL the
    runner mid-fault and the guardian resumes the paused server."""
    env, server = http_server
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir, **env)
    p = subprocess.Popen([BIN, "run", os.path.join(EXAMPLES, "http-pause.yaml"), "--db",
                          run.db], env=e, text=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: proc_state(server.pid) == "T", 10), "never paused"
        p.kill()
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert wait_for(lambda: proc_state(server.pid) in ("S", "R"), 10), \
        "the guardian should have resumed the server"
    assert wait_for(lambda: journal_records(state_dir) == [], 10)
    r = last_run(run)  # the run never reached a verdict, and its runner is gone
    assert r["verdict"] == "interrupted", r


def test_runs_filters_by_experiment_and_keeps_the_newest(run, tmp_path):
    for title in ("A", "B", "A"):
        spec = tmp_path / f"{title}.yaml"
        spec.write_text(f"title: {title}\nsteady_state:\n  probes:\n"
                        "    - {name: p, type: command, command: 'false'}\n"
                        "method:\n  - {command: 'true'}\nduration: 1s\n")
        rc, out, err = run("run", str(spec))
        assert rc == 9, out + err  # not steady: recorded, nothing done

    def ids(*args):
        rc, out, err = run("runs", "--json", *args)
        assert rc == 0, err
        return [r["id"] for r in json.loads(out)]

    assert ids() == [1, 2, 3]
    assert ids("--experiment", "A") == [1, 3]
    assert ids("--experiment", "B") == [2]
    assert ids("--experiment", "C") == []
    assert ids("--last", "2") == [2, 3]
    assert ids("--experiment", "A", "--last", "1") == [3]
    rc, out, err = run("runs", "--last", "1")
    assert rc == 0 and len(out.splitlines()) == 2 and out.splitlines()[1].startswith("3 "), out
    for bad in ("0", "x"):
        rc, out, err = run("runs", "--last", bad)
        assert rc == 2 and "--last" in err


# ---- the history store: reading commands create nothing ------------------

SIMPLE = """title: simple
duration: 300ms
steady_state:
  interval: 100ms
  preflight: 200ms
  probes:
    - {name: fine, type: command, command: 'true'}
method:
  - {command: 'true'}
"""


def test_reading_commands_create_nothing_and_odd_stores_are_refused(fl, tmp_path):
    exp = tmp_path / "simple.yaml"
    exp.write_text(SIMPLE)
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    rc, out, err = fl("runs", "--db", str(missing))
    assert rc == 0 and "no history store at" in err, out + err
    rc, out, err = fl("runs", "--db", str(missing), "--json")
    assert rc == 0 and json.loads(out) == []
    rc, out, err = fl("show", "1", "--db", str(missing))
    assert rc == 3 and "no history store at" in err
    assert not (tmp_path / "nonexistent").exists(), "a reading command created a directory"

    journal_existed = os.path.exists("/dev/null-journal")
    rc, out, err = fl("run", str(exp), "--db", "/dev/null")
    assert rc == 7, out + err
    assert "/dev/null is not a regular file (a character device)" in err
    assert journal_existed or not os.path.exists("/dev/null-journal")
    rc, out, err = fl("runs", "--db", str(tmp_path))
    assert rc == 7 and "is a directory" in err

    db = tmp_path / "store" / "h.db"
    rc, out, err = fl("run", str(exp), "--db", str(db))
    assert rc == 0, out + err
    before = sorted(os.listdir(db.parent))
    for args in (["runs"], ["runs", "--json"], ["show", "1"], ["show", "1", "--json",
                                                               "--samples"]):
        rc, out, err = fl(*args, "--db", str(db))
        assert rc == 0, err
    assert sorted(os.listdir(db.parent)) == before == ["h.db"]


def test_read_only_store_says_what_and_how_to_fix(fl, tmp_path):
    exp = tmp_path / "simple.yaml"
    exp.write_text(SIMPLE)
    src = tmp_path / "h.db"
    rc, out, err = fl("run", str(exp), "--db", str(src))
    assert rc == 0, out + err
    mnt = tmp_path / "ro"
    mnt.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt))
    try:
        shutil.copy(src, mnt / "h.db")
        sh("mount", "-o", "remount,ro", str(mnt))
        rc, out, err = fl("run", str(exp), "--db", str(mnt / "h.db"))
        assert rc == 7, out + err
        assert "Read-only file system" in err and "choose another with --db" in err, err
        assert "unable to open database file" not in err
        rc, out, err = fl("runs", "--db", str(mnt / "h.db"), "--json")
        assert rc == 0 and len(json.loads(out)) == 1, err
    finally:
        sh("umount", str(mnt), check=False)


# ---- probes that see a frozen server (a tcp connect cannot) ---------------

from test_workload import children, free_port, port_open, postgres_server, stop_pid  # noqa: E402,F401


@pytest.fixture
def local_redis(tmp_path):
    port = free_port()
    d = tmp_path / "redis"
    d.mkdir()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                          "", "--appendonly", "no", "--dir", str(d)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: port_open(port), 10), "redis-server did not start"
        yield p.pid, port
    finally:
        stop_pid(p.pid, signal.SIGKILL)
        p.wait()


def by_name(doc):
    return {p["name"]: p for p in doc["probes"]}


def test_redis_and_request_probes_see_a_paused_redis_that_tcp_cannot(run, fl, local_redis,
                                                                      tmp_path, state_dir):
    pid, port = local_redis
    exp = tmp_path / "redis-pause.yaml"
    exp.write_text(f"""title: redis probes through a pause
duration: 2500ms
steady_state:
  interval: 100ms
  preflight: 300ms
  probes:
    - {{name: port, type: tcp, address: "127.0.0.1:{port}", timeout: 300ms}}
    - {{name: ping, type: redis, address: "127.0.0.1:{port}", timeout: 300ms}}
    - {{name: exchange, type: tcp, address: "127.0.0.1:{port}", send: "PING\\r\\n",
        expect: "^\\\\+PONG", timeout: 300ms}}
    - {{name: dbsize, type: redis, address: "127.0.0.1:{port}", command: DBSIZE,
        timeout: 300ms, tolerance: {{success_ratio: 10%, equals: 0}}}}
method:
  - {{name: pause-redis, kind: process.pause, pid: {pid}, start: 500ms, duration: 1s}}
recovery: {{within: 3s}}
""")
    rc, out, err = fl("validate", str(exp))
    assert rc == 0, err
    assert "warning: tcp probe 'port' only connects" in err
    assert "'exchange'" not in err and "'ping'" not in err
    rc, out, err = run("run", str(exp))
    assert rc == 1, out + err
    doc = show(run, last_run(run)["id"])
    probes = by_name(doc)
    # the blind spot: the kernel accepted every connection while redis was frozen
    assert probes["port"]["failures"] == 0, probes["port"]
    for name in ("ping", "exchange"):
        p = probes[name]
        # about 1s of 100ms ticks; fewer when the apply was slow (the pause
        # is then shorter) or the last stalled request was answered in time
        assert p["failures"] >= 3, p
        assert 300 <= p["time_to_detect_ms"] <= 1500, p
        assert p["time_to_recover_ms"] is not None and p["time_to_recover_ms"] < 2000, p
        assert f"probe {name}:" in doc["explanation"]
    assert "probe port:" not in doc["explanation"]
    # DBSIZE's integer reply is the value
    assert any(s[1] == 0 and s[2] for s in probes["dbsize"]["samples_data"])
    assert proc_state(pid) in ("S", "R")
    assert journal_records(state_dir) == []


def test_sql_probe_sees_a_paused_postgres_and_its_recovery(run, fl, postgres_server, tmp_path,
                                                           state_dir):
    pg = postgres_server
    # every PostgreSQL process, including the backends the probes' connections
    # will fork: a cgroup of their own, selected by the pause
    from conftest import cgroup2_mount
    mnt = cgroup2_mount()
    assert mnt, "no cgroup2 mount"
    with open(f"/proc/{pg['pid']}/cgroup") as f:
        home = os.path.join(mnt, f.read().strip().split("::", 1)[1].lstrip("/"))
    cg = os.path.join(mnt, f"fl-e2e-pg-{uuid.uuid4().hex[:8]}")
    os.mkdir(cg)
    try:
        for p in [pg["pid"]] + children(pg["pid"]):
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(p))
        _sql_probe_run(run, fl, pg, cg, tmp_path, state_dir)
    finally:
        for p in open(os.path.join(cg, "cgroup.procs")).read().split():
            try:
                with open(os.path.join(home, "cgroup.procs"), "w") as f:
                    f.write(p)
            except OSError:
                pass
        os.rmdir(cg)


def _sql_probe_run(run, fl, pg, cg, tmp_path, state_dir):
    exp = tmp_path / "pg-pause.yaml"
    exp.write_text(f"""title: postgres answers queries again after a pause
duration: 3s
steady_state:
  interval: 100ms
  preflight: 500ms
  probes:
    - {{name: port, type: tcp, address: "127.0.0.1:{pg['port']}", timeout: 400ms}}
    - name: select
      type: sql
      dsn: "{pg['target']} connect_timeout=2"
      query: SELECT 1
      expect: "1"
      timeout: 400ms
    - name: count
      type: sql
      dsn: "{pg['target']}"
      query: SELECT count(*) FROM pg_database WHERE datname = 'postgres'
      timeout: 400ms
      tolerance: {{equals: 1, success_ratio: 10%}}
method:
  - name: pause-postgres
    kind: process.pause
    cgroup: {os.path.basename(cg)}
    mode: all
    start: 500ms
    duration: 1500ms
recovery: {{within: 5s}}
""")
    rc, out, err = fl("validate", str(exp))
    assert rc == 0, err
    assert "warning: tcp probe 'port'" in err
    rc, out, err = run("run", str(exp), timeout=120)
    assert rc == 1, out + err
    doc = show(run, last_run(run)["id"])
    probes = by_name(doc)
    assert probes["port"]["failures"] == 0, probes["port"]
    sel = probes["select"]
    assert sel["failures"] >= 4, sel
    assert 300 <= sel["time_to_detect_ms"] <= 1800, sel
    assert sel["time_to_recover_ms"] is not None and sel["time_to_recover_ms"] < 4000, sel
    assert "probe select:" in doc["explanation"]
    # the value is the query's result
    assert any(s[1] == 1 and s[2] for s in probes["count"]["samples_data"])
    pids = [int(p) for p in open(os.path.join(cg, "cgroup.procs")).read().split()]
    assert len(pids) >= 3 and all(proc_state(p) != "T" for p in pids)
    assert journal_records(state_dir) == []


def test_infinite_probe_values_are_shown_not_dropped(run, tmp_path):
    exp = tmp_path / "inf.yaml"
    exp.write_text(SIMPLE.replace("command: 'true'}", "command: 'echo 1e999'}", 1))
    rc, out, err = run("run", str(exp))
    assert rc == 0, out + err
    doc = show(run, last_run(run)["id"])
    p = doc["probes"][0]
    data = p["samples_data"]
    assert data and len(data) >= p["samples"], p  # no sample dropped
    assert all(s[1] == "inf" for s in data), data[:3]


def test_validate_names_a_directory_and_suggests_keys(fl, tmp_path):
    rc, out, err = fl("validate", str(tmp_path) + "/")
    assert rc == 2
    assert "is a directory, not an experiment file" in err and "empty" not in err, err
    bad = tmp_path / "typo.yaml"
    bad.write_text(SIMPLE.replace("duration:", "durration:").replace("type: command",
                                                                       "type: comand"))
    rc, out, err = fl("validate", str(bad))
    assert rc == 2
    assert "unknown key 'durration' in the experiment; did you mean 'duration'?" in err, err
    assert "unknown probe type 'comand'; did you mean 'command'?" in err, err
