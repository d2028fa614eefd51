"""The postgres client follows a failover with a multi-host target: a
PostgreSQL primary and a streaming standby on loopback (initdb and the
servers as the unprivileged `postgres` user, on free ports); the target
lists the standby first. While clients write, the primary is shut down and
the standby promoted: the workers reconnect, libpq skips no-longer-reachable
and read-only hosts (target_session_attrs=read-write), writes continue on
the promoted server, the final read goes there, and the history checks out
linearizable. Every server is stopped by pid, even on failure."""
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, wait_for
from test_workload import PGBIN, children, free_port, read_history, stop_pid

pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture
def pg_pair():
    pw = pwd.getpwnam("postgres")
    as_pg = dict(user=pw.pw_uid, group=pw.pw_gid)
    d = tempfile.mkdtemp(prefix="fl-wl-pgfo-")
    os.chown(d, pw.pw_uid, pw.pw_gid)
    procs = []

    def start(name, port):
        log = open(f"{d}/{name}.log", "w")
        p = subprocess.Popen([f"{PGBIN}/postgres", "-D", f"{d}/{name}", "-p", str(port), "-k", d,
                              "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                             cwd=d, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, **as_pg)
        log.close()
        procs.append(p)
        ready = lambda: "ready to accept" in open(f"{d}/{name}.log").read()
        assert wait_for(ready, 30), open(f"{d}/{name}.log").read()
        return p

    try:
        p1, p2 = free_port(), free_port()
        subprocess.run([f"{PGBIN}/initdb", "-D", f"{d}/primary", "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], cwd=d, check=True, capture_output=True,
                       timeout=60, **as_pg)
        primary = start("primary", p1)
        subprocess.run([f"{PGBIN}/pg_basebackup", "-d",
                        f"host=127.0.0.1 port={p1} user=postgres", "-D", f"{d}/standby", "-R",
                        "-X", "stream", "-c", "fast"], cwd=d, check=True, capture_output=True,
                       timeout=60, **as_pg)
        standby = start("standby", p2)
        yield {"dir": d, "as_pg": as_pg, "primary": (primary, p1), "standby": (standby, p2)}
    finally:
        for p in procs:
            kids = children(p.pid)
            stop_pid(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                stop_pid(p.pid, signal.SIGKILL)
                p.wait()
            for k in kids:
                stop_pid(k, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def test_postgres_multi_host_target_follows_a_promotion(pg_pair, state_dir, tmp_path):
    (primary, p1), p2 = pg_pair["primary"], pg_pair["standby"][1]
    out = tmp_path / "h.jsonl"
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir, PGUSER="postgres")
    wl = subprocess.Popen([BIN, "workload", "--client", "postgres", "--workload", "register",
                           "--target", f"127.0.0.1:{p2},127.0.0.1:{p1}", "--concurrency", "3",
                           "--rate", "150", "--duration", "6s", "--timeout", "500ms", "--keys", "3",
                           "--out", str(out), "--check"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        # fail over: the primary shuts down (its walsender hands the standby
        # everything first), then the standby is promoted
        stop_pid(primary.pid, signal.SIGINT)
        primary.wait(timeout=20)
        subprocess.run([f"{PGBIN}/pg_ctl", "promote", "-w", "-D", f"{pg_pair['dir']}/standby"],
                       check=True, capture_output=True, timeout=30, **pg_pair["as_pg"])
        so, se = wl.communicate(timeout=60)
    finally:
        if wl.poll() is None:
            wl.kill()
            wl.wait()
    assert wl.returncode == 0, so + se
    assert so.startswith("VALID"), so
    ops = read_history(out)
    # writes were acknowledged before the failover and after it (on the
    # promoted standby, the only writable host left), and the final state
    # was read there
    infos = [o for o in ops if o["type"] == "info"]
    assert infos, "the shutdown left no unknown outcome or lost connection"
    last_info = max(o["time"] for o in infos)
    writes_after = [o for o in ops
                    if o["type"] == "ok" and o["f"] == "write" and o["time"] > last_info]
    assert writes_after, "no write was acknowledged after the failover"
    m = re.search(r"; (\d+) reconnects\)", se)
    assert m and int(m.group(1)) >= 1, se
    # the standby was promoted and holds the registers the clients wrote
    got = subprocess.run([f"{PGBIN}/psql", f"host=127.0.0.1 port={p2} user=postgres dbname=postgres",
                          "-XAtc", "SELECT pg_is_in_recovery(), count(*) FROM faultline_register"],
                         capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout.strip().startswith("f|"), got
    assert int(got.stdout.strip().split("|")[1]) >= 1, got
