"""Helpers of the server's end-to-end tests (test_server*.py): a Server the
test starts on 127.0.0.1 with a free port and its own store, the fixtures
`servers` and `sleeper`, and an experiment that pauses the sleeper.
Finalizers kill by PID the servers and every run process of the test's store
(found by the store's unique path, or work directory, on their command line).

The store is SQLite unless the test parametrizes `backend` with BACKENDS:
then it runs once more on a real PostgreSQL (`postgres` fixture: initdb as
the postgres user, a free port, one database per test, stopped by PID).
FL_TEST_SERVER_BACKEND=postgresql runs every server test on PostgreSQL (the
few that read the SQLite file directly then fail: a manual check only)."""
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest

from conftest import BIN, cmdline, wait_for


SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


PGBIN = "/usr/lib/postgresql/15/bin"
BACKENDS = ["sqlite", "postgresql"]


class Postgres:
    """A PostgreSQL server of the test session, started on first use."""

    def __init__(self):
        self.dir, self.proc, self.port, self.n = None, None, None, itertools.count(1)

    def start(self):
        pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="fl-srv-pg-")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run([f"{PGBIN}/initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U",
                        "postgres", "--no-sync", "-E", "UTF8"], user=pw.pw_uid,
                       group=pw.pw_gid, cwd=self.dir, check=True, capture_output=True, timeout=60)
        return self.launch()

    def launch(self):
        """Start (or start again, on the same port and data) the postgres process."""
        pw = pwd.getpwnam("postgres")
        log = open(f"{self.dir}/log", "w")
        self.proc = subprocess.Popen(
            [f"{PGBIN}/postgres", "-D", f"{self.dir}/data", "-p", str(self.port), "-k", self.dir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=80"],
            user=pw.pw_uid, group=pw.pw_gid, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT)
        log.close()
        assert wait_for(lambda: "ready to accept connections" in open(f"{self.dir}/log").read(),
                        30), open(f"{self.dir}/log").read()
        return self

    def halt(self):
        """Stop the postgres process (fast shutdown: clients are disconnected)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def psql(self, sql, db="postgres"):
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                              capture_output=True, text=True, timeout=30, check=True).stdout

    def new_database(self):
        name = f"fl_{os.getpid()}_{next(self.n)}"
        self.psql(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        self.halt()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    pg = Postgres()
    try:
        yield pg.start()
    finally:
        pg.stop()


@pytest.fixture
def backend():
    """The store's kind; tests parametrize it with BACKENDS to run on both."""
    return os.environ.get("FL_TEST_SERVER_BACKEND", "sqlite")


class Server:
    def __init__(self, db, state_dir, extra=(), env=None, err_path=None, work_dir=None):
        self.db, self.state_dir, self.extra, self.env = db, state_dir, list(extra), env or {}
        self.proc, self.url, self.token, self.err_path = None, None, None, err_path
        self.killed, self.stopped_rc = False, None
        self.pg = db.startswith("postgresql://")
        self.work_dir = work_dir or db + ".server"
        if self.pg:
            self.extra += ["--work-dir", self.work_dir]

    def start(self, listen="127.0.0.1:0"):
        e = dict(os.environ, FAULTLINE_STATE_DIR=self.state_dir, **self.env)
        with open(self.err_path, "a") as err:
            self.proc = subprocess.Popen([BIN, "server", "--listen", listen, "--db", self.db,
                                          *self.extra], env=e, stdout=subprocess.PIPE,
                                         stderr=err, text=True)
        line = self.proc.stdout.readline()
        assert "listening on" in line, line + open(self.err_path).read()
        self.url = line.split("listening on ")[1].split()[0]
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.killed = True

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.stopped_rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def sanitizer_reports(self):
        """Sanitizer reports in the server's stderr and in its runs' output."""
        logs = [self.err_path]
        runs = self.work_dir + "/runs"
        if os.path.isdir(runs):
            logs += [os.path.join(runs, f) for f in os.listdir(runs) if f.endswith(".log")]
        found = []
        for path in logs:
            if os.path.exists(path):
                text = open(path, errors="replace").read()
                if any(s in text for s in SANITIZER):
                    found.append(f"{path}:\n{text[-3000:]}")
        return found

    def sql(self, query):
        """Rows of a query straight from the store (tuples of text), on either backend."""
        if self.pg:
            out = subprocess.run(["psql", self.db, "-v", "ON_ERROR_STOP=1", "-AtF", "\t", "-c",
                                  query], capture_output=True, text=True, timeout=30,
                                 check=True).stdout
            return [tuple(line.split("\t")) for line in out.splitlines()]
        import sqlite3
        con = sqlite3.connect(self.db)
        try:
            return [tuple("" if v is None else str(v) for v in row)
                    for row in con.execute(query).fetchall()]
        finally:
            con.close()

    def req(self, method, path, body=None, token=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        r = urllib.request.Request(self.url + path, method=method, data=data)
        tok = token or self.token
        if tok:
            r.add_header("Authorization", "Bearer " + tok)
        try:
            with urllib.request.urlopen(r, timeout=30) as f:
                text = f.read().decode()
                status = f.status
        except urllib.error.HTTPError as err:
            text, status = err.read().decode(), err.code
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def run_pids(self):
        """Live processes running experiments for this store."""
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                cl = cmdline(int(p))
                mine = (any(a.startswith(self.work_dir.encode() + b"/runs/") for a in cl)
                        if self.pg else self.db.encode() in cl)
                if b"run" in cl and mine and int(p) != os.getpid():
                    out.append(int(p))
        return out


@pytest.fixture
def servers(request, tmp_path, state_dir, backend):
    """servers(extra=..., env=...) starts a server on this test's store."""
    made = []
    if backend == "postgresql":
        db = request.getfixturevalue("postgres").new_database()
    else:
        db = str(tmp_path / "history.db")

    def make(extra=(), env=None, start=True):
        work = str(tmp_path / "work") if backend == "postgresql" else None
        s = Server(db, state_dir, extra, env, str(tmp_path / f"server{len(made)}.err"), work)
        made.append(s)
        return s.start() if start else s

    yield make
    for s in made:
        s.stop()
    for s in made[:1]:
        for pid in s.run_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        wait_for(lambda: not s.run_pids(), 15)
        for pid in s.run_pids():
            os.kill(pid, signal.SIGKILL)
    stopped = [s for s in made if s.proc and not s.killed]
    assert all(s.stopped_rc in (0, None) for s in stopped), \
        [(s.err_path, s.stopped_rc) for s in stopped]
    assert not [r for s in made for r in s.sanitizer_reports()], \
        [r for s in made for r in s.sanitizer_reports()]


@pytest.fixture
def sleeper(spawn, tmp_path):
    """A target process and its pidfile."""
    p = spawn(["sleep", "600"])
    pidfile = tmp_path / "target.pid"
    pidfile.write_text(f"{p.pid}\n")
    return p, str(pidfile)


def pause_yaml(pidfile, flag=None, duration="4s", pause="3s", title="pause sleeper"):
    probe = f"test -e {flag}" if flag else "true"
    return (f"title: {title}\nduration: {duration}\n"
            f"targets:\n  victim:\n    pidfile: {pidfile}\n"
            "steady_state:\n  interval: 100ms\n  preflight: 300ms\n  probes:\n"
            f"    - {{name: alive, type: command, command: '{probe}'}}\n"
            f"method:\n  - {{name: pause-it, kind: process.pause, target: victim, "
            f"start: 0s, duration: {pause}}}\n")


def wait_run(srv, run_id, timeout=30):
    done = {}

    def finished():
        st, r = srv.req("GET", f"/api/v1/runs/{run_id}")
        done["r"] = r
        return st == 200 and r["state"] == "done"

    assert wait_for(finished, timeout, step=0.2), done.get("r")
    return done["r"]
