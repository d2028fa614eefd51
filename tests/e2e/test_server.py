"""faultline server end to end: the HTTP API (experiments, runs), runs as
processes that survive a SIGKILLed server, and adoption or `interrupted`
after a restart. Each test starts its own server on 127.0.0.1 (a free port)
with its own store and state directory; the targets are `sleep` processes the
test starts (server_helpers.py)."""
import os
import signal
import subprocess

import pytest

from conftest import BIN, journal_records, proc_state, wait_for
from server_helpers import (BACKENDS, Server, backend, pause_yaml, postgres, servers,  # noqa: F401
                            sleeper, wait_run)

pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.mark.parametrize("backend", BACKENDS)
def test_experiments_api_validates_and_reports_errors(servers, sleeper):
    srv = servers()
    _, pidfile = sleeper
    good = pause_yaml(pidfile)
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": good})
    assert st == 201 and r["title"] == "pause sleeper", r
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": good})
    assert st == 409 and r["error"]["code"] == "exists"
    bad = ("title: t\nsteady_state:\n  probes:\n    - {name: p, type: tcp, address: 'x'}\n"
           "method:\n  - {command: 'true'}\n")
    st, r = srv.req("PUT", "/api/v1/experiments/bad", {"content": bad})
    assert st == 422, r
    d = r["error"]["details"][0]
    assert (d["line"], d["column"]) == (4, 7) and "HOST:PORT" in d["message"], r
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "x", "content": good, "extra": 1})
    assert st == 400 and "extra" in r["error"]["message"]
    st, r = srv.req("POST", "/api/v1/experiments", raw=b"{not json")
    assert st == 400 and r["error"]["code"] == "invalid_json"
    st, r = srv.req("POST", "/api/v1/experiments", raw=b"x" * (1 << 20 + 1))
    assert st == 413 and r["error"]["code"] == "body_too_large"
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "../etc", "content": good})
    assert st == 400 and r["error"]["code"] == "invalid_name"
    st, r = srv.req("PUT", "/api/v1/experiments/pause", {"content": good.replace(
        "pause sleeper", "renamed")})
    assert st == 200 and r["title"] == "renamed"
    st, r = srv.req("GET", "/api/v1/experiments")
    assert st == 200 and [x["name"] for x in r["experiments"]] == ["pause"]
    st, r = srv.req("GET", "/api/v1/experiments/pause")
    assert st == 200 and "process.pause" in r["content"]
    assert srv.req("GET", "/api/v1/experiments/nope")[0] == 404
    assert srv.req("DELETE", "/api/v1/experiments/pause")[0] == 200
    assert srv.req("DELETE", "/api/v1/experiments/pause")[0] == 404
    assert srv.req("GET", "/api/v1/nowhere")[0] == 404
    assert srv.req("DELETE", "/api/v1/runs")[0] == 405
    st, r = srv.req("POST", "/api/v1/experiments/nope/runs")
    assert st == 404 and "nope" in r["error"]["message"]
    assert srv.req("GET", "/api/v1/runs?limit=0")[0] == 400
    assert srv.req("GET", "/api/v1/runs/abc")[0] == 400
    assert srv.req("GET", "/api/v1/runs/99")[0] == 404


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_through_api_pauses_target_and_records_verdict(servers, sleeper, state_dir, tmp_path):
    srv = servers()
    target, pidfile = sleeper
    flag = tmp_path / "healthy"
    flag.write_text("")
    srv.req("POST", "/api/v1/experiments", {"name": "pause",
                                            "content": pause_yaml(pidfile, str(flag))})
    st, r = srv.req("POST", "/api/v1/experiments/pause/runs")
    assert st == 202 and r["state"] == "running" and r["trigger"] == "api", r
    run_id = r["id"]
    assert wait_for(lambda: proc_state(target.pid) == "T", 10), "the run never paused it"
    r = wait_run(srv, run_id)
    assert r["verdict"] == "passed" and r["exit_code"] == 0, r
    assert proc_state(target.pid) in ("S", "R")
    assert r["run"]["verdict"] == "passed"
    assert any("applied" in ev["message"] for ev in r["run"]["events"])
    assert any("reverted" in ev["message"] for ev in r["run"]["events"])
    st, full = srv.req("GET", f"/api/v1/runs/{run_id}?samples=1")
    assert len(full["run"]["probes"][0]["samples_data"]) >= 10
    # not steady: the probe's flag is gone, nothing is injected
    flag.unlink()
    st, r = srv.req("POST", "/api/v1/runs", {"experiment": "pause"})
    r = wait_run(srv, r["id"])
    assert r["verdict"] == "not started: system not steady" and r["exit_code"] == 9, r
    # abort: SIGTERM to the run process, which reverts and records "aborted"
    flag.write_text("")
    st, r = srv.req("POST", "/api/v1/experiments/pause/runs")
    assert wait_for(lambda: proc_state(target.pid) == "T", 10)
    st, a = srv.req("POST", f"/api/v1/runs/{r['id']}/abort")
    assert st == 202 and a["aborting"] is True
    r = wait_run(srv, r["id"])
    assert r["verdict"] == "aborted", r
    assert proc_state(target.pid) in ("S", "R")
    assert srv.req("POST", f"/api/v1/runs/{r['id']}/abort")[0] == 409
    # filters and pagination, newest first
    st, page = srv.req("GET", "/api/v1/runs?limit=2")
    assert page["total"] == 3 and [x["id"] for x in page["runs"]] == [3, 2]
    st, page = srv.req("GET", "/api/v1/runs?limit=2&offset=2")
    assert [x["id"] for x in page["runs"]] == [1]
    st, page = srv.req("GET", "/api/v1/runs?verdict=passed")
    assert [x["id"] for x in page["runs"]] == [1]
    assert journal_records(state_dir) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkilled_server_leaves_the_run_going_and_the_next_adopts_it(servers, sleeper,
                                                                       state_dir):
    srv = servers()
    target, pidfile = sleeper
    srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": pause_yaml(
        pidfile, duration="5s", pause="4s")})
    st, r = srv.req("POST", "/api/v1/experiments/pause/runs")
    assert wait_for(lambda: proc_state(target.pid) == "T", 10)
    srv.kill9()
    run_pid = r["pid"]
    assert proc_state(run_pid) not in (None, "Z"), "the run must outlive the server"
    srv2 = servers()
    st, r2 = srv2.req("GET", f"/api/v1/runs/{r['id']}")
    assert r2["adopted"] is True and r2["state"] == "running", r2
    r2 = wait_run(srv2, r["id"])
    assert r2["verdict"] == "passed" and r2["adopted"] is True, r2
    assert proc_state(target.pid) in ("S", "R")
    assert journal_records(state_dir) == []


def test_server_and_run_killed_mid_run_leave_no_fault_and_read_interrupted(servers, sleeper,
                                                                           state_dir):
    srv = servers()
    target, pidfile = sleeper
    srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": pause_yaml(
        pidfile, duration="20s", pause="15s")})
    st, r = srv.req("POST", "/api/v1/experiments/pause/runs")
    assert wait_for(lambda: proc_state(target.pid) == "T", 10)
    srv.kill9()
    os.kill(r["pid"], signal.SIGKILL)  # as if the host had lost both
    assert wait_for(lambda: proc_state(target.pid) in ("S", "R"), 10), \
        "the guardian should have resumed the target"
    assert wait_for(lambda: journal_records(state_dir) == [], 10)
    srv2 = servers()
    st, r2 = srv2.req("GET", f"/api/v1/runs/{r['id']}")
    assert r2["state"] == "done" and r2["verdict"] == "interrupted", r2
    assert "server stopped" in r2["reason"] and "guardian reverted" in r2["reason"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_server_per_store(servers):
    servers()
    second = servers(start=False)
    e = dict(os.environ, FAULTLINE_STATE_DIR=second.state_dir)
    p = subprocess.run([BIN, "server", "--listen", "127.0.0.1:0", "--db", second.db],
                       capture_output=True, text=True, timeout=20, env=e)
    assert p.returncode == 4 and "another faultline server" in p.stderr, p.stderr


def test_live_events_stream_while_the_run_goes(servers, sleeper, state_dir):
    """GET /api/v1/runs/ID/events streams the run's events as they happen
    (Server-Sent Events) and ends with the verdict."""
    import urllib.request
    srv = servers()
    target, pidfile = sleeper
    srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": pause_yaml(
        pidfile, duration="3s", pause="2s")})
    st, r = srv.req("POST", "/api/v1/experiments/pause/runs")
    stream = urllib.request.urlopen(f"{srv.url}/api/v1/runs/{r['id']}/events", timeout=30)
    assert stream.headers["Content-Type"] == "text/event-stream"
    events, cur, paused_seen_live = [], {}, False
    for raw in stream:
        line = raw.decode().rstrip("\n")
        if not line:
            if cur:
                events.append(cur)
                if cur.get("event") == "event" and "applied" in cur["data"]:
                    # the stream is live: the fault is still held when its event arrives
                    paused_seen_live = proc_state(target.pid) == "T"
            cur = {}
            continue
        if line.startswith(":"):
            continue
        k, _, v = line.partition(": ")
        cur[k] = v
    import json as _json
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end" and kinds.count("end") == 1, kinds
    end = _json.loads(events[-1]["data"])
    assert end["verdict"] == "passed" and end["state"] == "done"
    msgs = [_json.loads(e["data"])["message"] for e in events if e["event"] == "event"]
    assert any("applied" in m for m in msgs) and any("reverted" in m for m in msgs), msgs
    assert paused_seen_live, "the applied event should arrive while the fault is held"
    ids = [int(e["id"]) for e in events if "id" in e]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    # resuming after an event id gives only the later ones
    req = urllib.request.Request(f"{srv.url}/api/v1/runs/{r['id']}/events",
                                 headers={"Last-Event-ID": str(ids[-3])})
    tail = urllib.request.urlopen(req, timeout=30).read().decode()
    assert tail.count("event: event") == 2 and tail.count("event: end") == 1, tail
    assert srv.req("GET", "/api/v1/runs/999/events")[0] == 404
    assert journal_records(state_dir) == []


def test_systemd_unit_verifies(tmp_path):
    """deploy/systemd/faultline-server.service is a valid unit (systemd-analyze verify)."""
    import shutil
    from conftest import ROOT
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    unit = open(os.path.join(ROOT, "deploy", "systemd", "faultline-server.service")).read()
    assert "KillMode=process" in unit and "RuntimeDirectoryPreserve=yes" in unit
    local = tmp_path / "faultline-server.service"
    local.write_text(unit.replace("/usr/local/bin/faultline", BIN))
    p = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                       text=True)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr


def test_active_faults_listed_and_recovered_through_the_api(servers, sleeper, state_dir):
    srv = servers()
    target, pidfile = sleeper
    srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": pause_yaml(
        pidfile, duration="20s", pause="15s")})
    st, r = srv.req("POST", "/api/v1/experiments/pause/runs")

    def applied():  # the engine checks the pause holds before it says "applied"
        run = srv.req("GET", f"/api/v1/runs/{r['id']}")[1]["run"]
        return run and any("applied" in ev["message"] for ev in run["events"])

    assert wait_for(applied, 15, 0.2)
    st, f = srv.req("GET", "/api/v1/faults")
    assert st == 200 and f["state_dir"] == state_dir
    (fault,) = f["faults"]
    assert fault["kind"] == "process.pause" and fault["owner_pid"] == r["pid"]
    assert fault["owner_alive"] is True and fault["lease_left_ms"] > 0
    st, rec = srv.req("POST", f"/api/v1/faults/{fault['id']}/recover")
    assert st == 200 and rec["reverted"] is True, rec
    assert proc_state(target.pid) in ("S", "R")
    assert journal_records(state_dir) == []
    assert srv.req("GET", "/api/v1/faults")[1]["faults"] == []
    assert srv.req("POST", f"/api/v1/faults/{fault['id']}/recover")[0] == 404
    assert srv.req("POST", "/api/v1/faults/..%2Fx/recover")[0] in (400, 404)
    srv.req("POST", f"/api/v1/runs/{r['id']}/abort")
    done = wait_run(srv, r["id"])
    assert done["verdict"] == "aborted", (done["reason"], done["log"])
    assert proc_state(target.pid) in ("S", "R")


def test_openapi_description_matches_the_routes(servers):
    import re
    srv = servers()
    st, doc = srv.req("GET", "/api/v1/openapi.json")
    assert st == 200 and doc["openapi"] == "3.0.3"
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    for key in (("POST", "/api/v1/experiments"), ("PUT", "/api/v1/experiments/{name}"),
                ("POST", "/api/v1/runs/{id}/abort"), ("GET", "/api/v1/runs/{id}/events"),
                ("POST", "/api/v1/schedules"), ("GET", "/metrics"),
                ("POST", "/api/v1/webhooks"), ("GET", "/api/v1/audit")):
        assert key in ops, key
    assert ops[("POST", "/api/v1/webhooks")]["x-faultline-role"] == "admin"
    assert "202" in ops[("POST", "/api/v1/experiments/{name}/runs")]["responses"]
    for (method, path), op in ops.items():
        names = re.findall(r"{(\w+)}", path)
        assert [p["name"] for p in op["parameters"]] == names, (method, path)
        assert op["summary"] and "default" in op["responses"]
        # every described operation is served: a request never answers 404/405 "no endpoint"
        if method == "GET" and not names and path != "/api/v1/runs/{id}/events":
            st, r = srv.req("GET", path)
            # cron/next needs its ?cron= and says so
            assert st == 200 or (path == "/api/v1/cron/next" and
                                 r["error"]["code"] == "missing_field"), (path, r)
