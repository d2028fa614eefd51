"""Transactional workloads (list-append, rw-register) against a real
PostgreSQL 15 the tests start themselves (the `postgres_server` fixture of
test_workload.py: initdb as the unprivileged `postgres` user, a free port on
loopback, stopped by PID), checked by `faultline check --model list-append
|rw-register`.

These are real findings on a real database, not fabricated histories:
SERIALIZABLE stays valid even while every PostgreSQL process is paused;
REPEATABLE READ (snapshot isolation in PostgreSQL) shows write skew, G2-item,
which serializability forbids and snapshot isolation allows; the broken
non-transactional mode (each micro-op its own transaction) loses updates."""
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import BIN, proc_state, wait_for
from test_proxy import Proxyd
from test_workload import (children, etcd_server, http_service, postgres_server,  # noqa: F401
                           read_history, redis_server)

pytestmark = pytest.mark.usefixtures("no_leftovers")


def run_workload(fl, pg, kind, out, *extra, duration="3s"):
    return fl("workload", "--client", "postgres", "--workload", kind, "--target", pg["target"],
              "--keys", 3, "--txn-length", 4, "--concurrency", 8, "--duration", duration,
              "--out", out, *extra, timeout=90)


def txns(path):
    return [o for o in read_history(path) if o["f"] == "txn"]


def history_start_ns(path):
    """Time 0 of a history on CLOCK_MONOTONIC (time.monotonic_ns()), from its
    header, so that its events can be placed against the test's own clock."""
    with open(path) as f:
        head = f.readline()
    m = re.search(r"\bstart_mono_ns=(\d+)", head)
    assert m, head
    return int(m.group(1))


def pg_appended(port, table):
    """How many elements the list-append workload has committed to `table`
    (-1 while the table does not exist yet or the server does not answer)."""
    try:
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-AtX",
                            "-c", f"SELECT coalesce(sum(cardinality(v)), 0) FROM {table}",
                            "postgres"], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return -1
    return int(r.stdout) if r.returncode == 0 and r.stdout.strip().isdigit() else -1


def settled_processes(pm):
    """The postmaster and its children once the list holds still for 0.3s:
    the backend of the psql that last looked at the table is gone then."""
    last, deadline = None, time.monotonic() + 10
    while True:
        now = [pm] + children(pm)
        if now == last or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(0.3)


def commits_around(progress, fault):
    """Wait until the workload commits (progress() grows by 100),
    run fault() and return its (start, end) on the monotonic clock in ns, then
    wait until the workload commits again: the fault falls inside the run,
    however slowly the workload started on a loaded machine."""
    before = max(progress(), 0)
    # 100: well past what resetting the keys may count, so the workers are
    # connected and committing (a pause while they connect makes no unknowns)
    assert wait_for(lambda: progress() >= before + 100, 60, 0.1), "the workload never committed"
    t0 = time.monotonic_ns()
    fault()
    t1 = time.monotonic_ns()
    after = progress()
    assert wait_for(lambda: progress() > after, 60, 0.1), "no commit after the fault"
    return t0, t1


def test_list_append_serializable_under_pause_is_valid(fl, postgres_server, tmp_path,
                                                        state_dir):
    out = tmp_path / "la.jsonl"
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    # stopped by SIGINT once it has committed before and after the pause
    wl = subprocess.Popen([BIN, "workload", "--client", "postgres", "--workload", "list-append",
                           "--target", postgres_server["target"], "--isolation", "serializable",
                           "--keys", "3", "--concurrency", "6", "--duration", "120s",
                           "--namespace", "flpause", "--timeout", "500ms", "--out", str(out),
                           "--check"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inj = None

    def pause():
        nonlocal inj
        pm = postgres_server["pid"]
        # a child (an autovacuum worker, a backend) may exit between listing
        # and inject, which then refuses its pid (exit 3): list them again
        for _ in range(5):
            pids = settled_processes(pm)
            args = [a for p in pids for a in ("--pid", str(p))]
            inj = subprocess.Popen([BIN, "inject", "process.pause", *args, "--duration", "2s"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
            stopped = lambda: all(proc_state(p) in ("T", "Z", None) for p in pids)
            held = wait_for(lambda: stopped() or inj.poll() is not None, 20) and stopped()
            if not held:
                inj.kill()
            iso, ise = inj.communicate(timeout=20)
            if held or not (inj.returncode == 3 and "no process with pid" in ise):
                break
        assert held, ({p: proc_state(p) for p in pids}, inj.returncode, ise)
        assert inj.returncode == 0, ise
        assert proc_state(pm) not in ("T", None)

    try:
        t0, t1 = commits_around(lambda: pg_appended(postgres_server["port"],
                                                    "flpause_list_append"), pause)
        wl.send_signal(signal.SIGINT)
        so, se = wl.communicate(timeout=60)
    finally:
        for p in (wl, inj):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert wl.returncode == 0, so + se
    assert "VALID: no anomaly that serializable forbids" in so, so
    ops = txns(out)
    ok = [o for o in ops if o["type"] == "ok"]
    # real data: committed transactions read lists that appends built
    assert any(m[0] == "r" and len(m[2]) >= 2 for o in ok for m in o["value"]), ok[:5]
    assert any(m[0] == "append" for o in ok for m in o["value"])
    # the pause left unknown outcomes, recorded as info with the reason
    infos = [o for o in ops if o["type"] == "info"]
    assert infos and all(o.get("error") for o in infos)
    # serialization failures are recorded as fail, with PostgreSQL's SQLSTATE
    # (40001, 40P01, 23505 mostly; under a pause others such as 25P02 may come)
    assert all(re.fullmatch(r"[0-9A-Z]{5}", o["error"].split(":")[0]) or
               o["error"] == "transaction rolled back" for o in ops if o["type"] == "fail"), \
        [o for o in ops if o["type"] == "fail"][:5]
    # unknown outcomes during the pause (from the inject until its end plus
    # one operation timeout and a second of slack), and commits before and
    # after it: the workload recovered
    start = history_start_ns(out)
    p0, p1 = t0 - start, t1 - start
    assert any(p0 < o["time"] < p1 + 1.5e9 for o in infos), (p0, p1, infos[:5])
    oks = [o["time"] for o in ok]
    assert min(oks) < p0 and max(oks) > p1, (p0, p1, min(oks), max(oks))
    rc, so2, se2 = fl("check", "--model", "list-append", "--consistency-models",
                      "strict-serializable", out)
    assert rc == 0, so2 + se2


def test_list_append_serializable_through_a_partition_is_valid(fl, postgres_server, tmp_path):
    """The clients reach PostgreSQL through `faultline proxy`; a timeout toxic
    on both directions (nothing gets through) partitions them for 2 s."""
    out = tmp_path / "part.jsonl"
    px = Proxyd("")
    wl = None
    try:
        p = px.create("pg", f"127.0.0.1:{postgres_server['port']}")
        port = p["listen"].rsplit(":", 1)[1]
        # stopped by SIGINT once it has committed before and after the partition
        wl = subprocess.Popen([BIN, "workload", "--client", "postgres", "--workload",
                               "list-append", "--target",
                               f"host=127.0.0.1 port={port} dbname=postgres user=postgres",
                               "--isolation", "serializable", "--keys", "3", "--concurrency", "6",
                               "--duration", "120s", "--namespace", "flpart", "--timeout",
                               "500ms", "--out", str(out), "--check"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def partition():
            px.toxic("pg", "timeout", name="cut_down", stream="downstream",
                     attributes={"timeout": 0})
            px.toxic("pg", "timeout", name="cut_up", stream="upstream",
                     attributes={"timeout": 0})
            time.sleep(2)
            assert px.req("DELETE", "/proxies/pg/toxics/cut_down")[0] == 204
            assert px.req("DELETE", "/proxies/pg/toxics/cut_up")[0] == 204

        # progress read straight from the server, not through the proxy
        t0, t1 = commits_around(lambda: pg_appended(postgres_server["port"],
                                                    "flpart_list_append"), partition)
        wl.send_signal(signal.SIGINT)
        so, se = wl.communicate(timeout=60)
    finally:
        if wl is not None and wl.poll() is None:
            wl.kill()
            wl.wait()
        px.stop()
    assert wl.returncode == 0, so + se
    assert "VALID: no anomaly that serializable forbids" in so, so
    ops = txns(out)
    infos = [o for o in ops if o["type"] == "info"]
    start = history_start_ns(out)
    p0, p1 = t0 - start, t1 - start
    assert any(p0 < o["time"] < p1 + 1.5e9 for o in infos), \
        ("the partition left no unknown outcome", p0, p1, infos[:5])
    oks = [o["time"] for o in ops if o["type"] == "ok"]
    assert min(oks) < p0 and max(oks) > p1, (p0, p1, min(oks), max(oks))


def test_check_usage_errors(fl, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"process":0,"type":"invoke","f":"txn","value":[["w","x",1]]}\n'
                   '{"process":0,"type":"ok","f":"txn","value":[["w","x",1]]}\n')
    rc, so, se = fl("check", "--model", "list-append", bad)
    assert rc == 3 and "bad.jsonl:1:1: transaction micro-op 1" in se and "rw-register" in se, se
    rc, so, se = fl("check", "--model", "rw-register", "--consistency-models", "snapshot", bad)
    assert rc == 3 and "unknown model 'snapshot'" in se, se
    rc, so, se = fl("check", "--model", "kv", "--consistency-models", "serializable", bad)
    assert rc == 3 and "list-append and rw-register only" in se, se
    rc, so, se = fl("check", "--model", "rw-register", "--consistency-models",
                    "read-committed,serializable", bad)
    assert rc == 0 and "VALID: no anomaly that read-committed or serializable forbids" in so, so
    rc, so, se = fl("check", "--help")
    assert rc == 0 and "--consistency-models" in so and "list-append" in so


def test_repeatable_read_shows_write_skew_that_snapshot_isolation_allows(fl, postgres_server,
                                                                         tmp_path):
    out = tmp_path / "rr.jsonl"
    # write-skew-shaped: few keys, every transaction reads and appends
    rc, so, se = run_workload(fl, postgres_server, "list-append", out, "--isolation",
                              "repeatable-read", "--keys", 2, "--mix", "read=1,append=1",
                              "--check", duration="4s")
    # --check holds REPEATABLE READ to what PostgreSQL promises: snapshot isolation
    assert rc == 0, so + se
    assert "G2-item" in so and "VALID: no anomaly that snapshot-isolation forbids" in so, so
    rc, so, se = fl("check", "--model", "list-append", "--consistency-models", "serializable",
                    out)
    assert rc == 1, so + se
    assert "INVALID: not serializable because G2-item" in so, so
    assert "G2-item (write skew): T1 " in so and " -rw-> " in so, so
    rc, so2, se2 = fl("check", "--model", "list-append", "--consistency-models",
                      "snapshot-isolation", "--json", out)
    assert rc == 0, so2 + se2
    assert '"G2-item"' in so2 and '"snapshot-isolation"' not in so2.split('"not"')[1].split("]")[0]


@pytest.mark.parametrize("kind", ["list-append", "rw-register"])
def test_broken_non_transactional_mode_loses_updates(fl, postgres_server, tmp_path, kind):
    out = tmp_path / f"{kind}.jsonl"
    rc, so, se = run_workload(fl, postgres_server, kind, out, "--postgres-mode",
                              "non-transactional", "--keys", 2, "--check")
    assert rc == 1, so + se
    assert "lost-update" in so or "G-single" in so, so
    assert "INVALID: not serializable because" in so, so
    # even read committed forbids what a read-then-write in two transactions does
    rc, so, se = fl("check", "--model", kind, "--consistency-models", "snapshot-isolation", out)
    assert rc == 1 and ("lost-update" in so or "G-single" in so), so


def test_rw_register_serializable_is_valid(fl, postgres_server, tmp_path):
    out = tmp_path / "rw.jsonl"
    rc, so, se = run_workload(fl, postgres_server, "rw-register", out, "--isolation",
                              "serializable", "--check")
    assert rc == 0, so + se
    assert "VALID" in so, so
    ok = [o for o in txns(out) if o["type"] == "ok"]
    assert any(m[0] == "r" and m[2] is not None for o in ok for m in o["value"])
    assert any(m[0] == "w" for o in ok for m in o["value"])


@pytest.mark.parametrize("kind", ["list-append", "rw-register"])
def test_redis_transactions_are_strict_serializable_through_a_pause(fl, redis_server, tmp_path,
                                                                     state_dir, kind):
    """Redis runs one Lua script at a time, so transactions made of one script
    each are strict serializable; a pause of the server turns some into
    unknowns (info) and loses nothing."""
    out = tmp_path / "h.jsonl"
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    # stopped by SIGINT once it has committed before and after the pause
    wl = subprocess.Popen([BIN, "workload", "--client", "redis", "--workload", kind, "--target",
                           f"127.0.0.1:{redis_server}", "--keys", "4", "--concurrency", "4",
                           "--duration", "120s", "--timeout", "300ms", "--out", str(out)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = redis_pid(redis_server)

    states = []

    def pause():
        stop = threading.Event()

        def watch():  # the server's state while the pause should hold it
            while not stop.is_set():
                states.append(proc_state(pid))
                time.sleep(0.02)

        th = threading.Thread(target=watch)
        th.start()
        try:
            rc, _, err = fl("inject", "process.pause", "--pid", pid, "--duration", "1s")
        finally:
            stop.set()
            th.join()
        assert rc == 0, err

    try:
        t0, t1 = commits_around(lambda: redis_scripts_run(redis_server), pause)
        wl.send_signal(signal.SIGINT)
        so, se = wl.communicate(timeout=60)
    finally:
        if wl.poll() is None:
            wl.kill()
            wl.wait()
    assert wl.returncode == 0, se
    ops = txns(out)
    assert any(o["type"] == "ok" for o in ops)
    # the pause held the server (sampled every 20ms) ...
    assert states.count("T") >= 10, ("the server was not held stopped", "".join(
        x or "-" for x in states))
    # ... and left unknown outcomes while it did
    start = history_start_ns(out)
    p0, p1 = t0 - start, t1 - start
    assert any(o["type"] == "info" and p0 < o["time"] < p1 + 1.3e9 for o in ops), \
        ("the pause left no unknown transaction", p0, p1,
         [(o["time"], o.get("error")) for o in ops if o["type"] == "info"][:10])
    oks = [o["time"] for o in ops if o["type"] == "ok"]
    assert min(oks) < p0 and max(oks) > p1, (p0, p1, min(oks), max(oks))
    rc, so, se = fl("check", "--model", kind, "--consistency-models", "strict-serializable",
                    out)
    assert rc == 0 and so.startswith("VALID"), so + se


def redis_scripts_run(port):
    """How many Lua scripts (one per transaction) the server has run so far
    (its own count: INFO commandstats)."""
    try:
        out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"],
                             capture_output=True, text=True, timeout=5).stdout
    except subprocess.TimeoutExpired:
        return -1
    m = re.search(r"^cmdstat_eval:calls=(\d+)", out, re.M)
    return int(m.group(1)) if m else 0


def redis_pid(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "server"], capture_output=True,
                         text=True).stdout
    return int(next(l.split(":")[1] for l in out.splitlines() if l.startswith("process_id:")))


@pytest.mark.parametrize("kind", ["list-append", "rw-register"])
def test_etcd_transactions_are_strict_serializable(fl, etcd_server, tmp_path, kind):
    """etcd: a snapshot txn, then a txn that commits only if no touched key
    changed; contended keys make some transactions fail, none are wrong."""
    out = tmp_path / "h.jsonl"
    rc, so, se = fl("workload", "--client", "etcd", "--workload", kind, "--target",
                    f"http://127.0.0.1:{etcd_server}", "--keys", 3, "--concurrency", 4,
                    "--duration", "2s", "--out", out, timeout=60)
    assert rc == 0, se
    ops = txns(out)
    assert any(o["type"] == "ok" for o in ops) and any(o["type"] == "fail" for o in ops)
    rc, so, se = fl("check", "--model", kind, "--consistency-models", "strict-serializable",
                    out)
    assert rc == 0 and so.startswith("VALID"), so + se


@pytest.mark.parametrize("kind", ["list-append", "rw-register"])
def test_http_transactions_of_a_teams_service(fl, http_service, tmp_path, kind):
    """POST /txn of the test service: serializable when it holds its lock for
    the whole transaction; the broken one interleaves micro-ops and the
    checker names what that does (G-single, G2-item or lost updates)."""
    for broken in (False, True):
        out = tmp_path / f"h{int(broken)}.jsonl"
        rc, so, se = fl("workload", "--client", "http", "--workload", kind, "--target",
                        http_service(broken), "--keys", 2, "--concurrency", 6, "--duration",
                        "2s", "--out", out, timeout=60)
        assert rc == 0, se
        rc, so, se = fl("check", "--model", kind, "--consistency-models", "serializable", out)
        if broken:
            assert rc == 1 and so.startswith("INVALID"), so + se
        else:
            assert rc == 0 and so.startswith("VALID"), so + se
