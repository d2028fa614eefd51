"""faultline server on a PostgreSQL store (--db postgresql://...): a CLI on
another "host" (another process with only the URL) sees the server's runs;
PostgreSQL stopped in the middle of a run: the run's fault is reverted on
time, and its records are written when the database returns, or the run is
marked NOT STORED when it stays away longer than FAULTLINE_DB_WAIT. Each test
starts its own PostgreSQL (it stops it on purpose), stopped by PID."""
import json
import os
import subprocess
import time

import pytest

from conftest import BIN, journal_records, proc_state, wait_for
from server_helpers import Postgres, pause_yaml, servers, sleeper, wait_run  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture
def own_pg():
    pg = Postgres()
    try:
        yield pg.start()
    finally:
        pg.stop()


@pytest.fixture
def backend(own_pg):
    return "postgresql"


@pytest.fixture
def postgres(own_pg):
    return own_pg


def test_a_cli_reads_the_servers_history_from_postgresql(servers, sleeper, postgres, state_dir):
    srv = servers()
    _, pidfile = sleeper
    srv.req("POST", "/api/v1/experiments", {"name": "p", "content": pause_yaml(
        pidfile, duration="1s", pause="500ms")})
    st, r = srv.req("POST", "/api/v1/experiments/p/runs")
    r = wait_run(srv, r["id"])
    assert r["verdict"] == "passed" and r["stored"] is True, r
    e = dict(os.environ, FAULTLINE_DB=srv.db, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.run([BIN, "runs", "--json"], capture_output=True, text=True, env=e, timeout=30)
    assert p.returncode == 0, p.stderr
    runs = json.loads(p.stdout)
    assert [x["id"] for x in runs] == [r["history_run"]] and runs[0]["verdict"] == "passed"
    p = subprocess.run([BIN, "show", str(r["history_run"])], capture_output=True, text=True,
                       env=e, timeout=30)
    assert p.returncode == 0 and "passed" in p.stdout, p.stdout + p.stderr
    # a runner gone on this host reads interrupted; one of another host
    # (a shared store) cannot be judged from here and stays running
    hid = r["history_run"]
    srv.sql(f"UPDATE runs SET verdict = 'running', runner_pid = 999999 WHERE id = {hid}")
    p = subprocess.run([BIN, "runs", "--json"], capture_output=True, text=True, env=e, timeout=30)
    assert json.loads(p.stdout)[0]["verdict"] == "interrupted", p.stdout
    srv.sql(f"UPDATE runs SET runner_host = 'another-host' WHERE id = {hid}")
    p = subprocess.run([BIN, "runs", "--json"], capture_output=True, text=True, env=e, timeout=30)
    assert json.loads(p.stdout)[0]["verdict"] == "running", p.stdout
    # a reader creates nothing in a database without a history
    empty = srv.db.rsplit("/", 1)[0] + "/postgres"
    p = subprocess.run([BIN, "runs", "--db", empty], capture_output=True, text=True, timeout=30)
    assert "no history store in the database" in p.stderr, p.stderr
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0\n"


def pause_run(srv, pidfile):
    srv.req("POST", "/api/v1/experiments", {"name": "p", "content": pause_yaml(
        pidfile, duration="3s", pause="2s")})
    st, r = srv.req("POST", "/api/v1/experiments/p/runs")
    assert st == 202, r
    return r


def test_database_away_mid_run_reverts_on_time_and_writes_when_it_returns(
        servers, sleeper, own_pg, state_dir):
    srv = servers()
    target, pidfile = sleeper
    r = pause_run(srv, pidfile)
    assert wait_for(lambda: proc_state(target.pid) == "T", 10)
    paused_at = time.monotonic()
    own_pg.halt()
    # the pause ends on time although the store is gone
    assert wait_for(lambda: proc_state(target.pid) in ("S", "R"), 6), "fault not reverted"
    assert time.monotonic() - paused_at < 4.5
    time.sleep(2)  # the run has ended and waits for the database
    own_pg.launch()
    r = wait_run(srv, r["id"], timeout=40)
    assert r["verdict"] == "passed" and r["stored"] is True, r
    msgs = [ev["message"] for ev in r["run"]["events"]]
    assert any("reverted" in m for m in msgs) and any("passed" in m for m in msgs), msgs
    assert r["run"]["verdict"] == "passed" and len(r["run"]["probes"]) == 1, r["run"]
    assert journal_records(state_dir) == []


def test_database_away_too_long_marks_the_run_not_stored(servers, sleeper, own_pg, state_dir):
    srv = servers(env={"FAULTLINE_DB_WAIT": "1"})
    target, pidfile = sleeper
    r = pause_run(srv, pidfile)
    assert wait_for(lambda: proc_state(target.pid) == "T", 10)
    own_pg.halt()
    assert wait_for(lambda: proc_state(target.pid) in ("S", "R"), 6), "fault not reverted"
    assert wait_for(lambda: not srv.run_pids(), 15), "the run process did not end"
    own_pg.launch()
    r = wait_run(srv, r["id"], timeout=30)
    assert r["stored"] is False and r["reason"].startswith("NOT STORED:"), r
    assert r["verdict"] == "passed" and r["exit_code"] == 0, r
    assert "faults were reverted" in r["reason"], r
    assert journal_records(state_dir) == []
