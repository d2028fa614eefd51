"""The console's Experiment, Schedules and Bulletins pages in a real headless
chromium (playwright-core, console_pages.mjs) against a server with real
runs: the trend charts draw, the dry run shows the resolved plan, a YAML
edit with an error shows it at its line and saves nothing, a valid edit
saves, start-now starts a real run, the schedule form previews five fire
times as the user types and names the wrong field, pause works from the
keyboard, a bulletin made from a run exports Markdown and filters by
status, a viewer sees no button that would fail and the API refuses it,
and no console errors. Screenshots are kept in console-screenshots/pages/
next to the binary (or $FL_CONSOLE_SHOTS/pages/), with test_console.py's."""
import json
import os
import subprocess

import pytest

from conftest import BIN, proc_state
from server_helpers import backend, pause_yaml, servers, sleeper, wait_run  # noqa: F401
from test_server_auth import hash_token

pytestmark = pytest.mark.usefixtures("no_leftovers")

HERE = os.path.dirname(os.path.abspath(__file__))
OP, VIEW, ADMIN = "o" * 32, "v" * 32, "a" * 32


@pytest.fixture
def out_dir():
    """Screenshots, with test_console.py's: FL_CONSOLE_SHOTS or console-screenshots/ next
    to the binary; this test's in pages/ there."""
    d = os.environ.get("FL_CONSOLE_SHOTS") or os.path.join(os.path.dirname(os.path.abspath(BIN)),
                                                           "console-screenshots")
    d = os.path.join(d, "pages")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".png"):
            os.unlink(os.path.join(d, f))
    return d


def test_experiment_schedule_and_bulletin_pages(servers, sleeper, tmp_path, out_dir):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"ops operator {hash_token(OP)}\nwatcher viewer {hash_token(VIEW)}\n"
                      f"root admin {hash_token(ADMIN)}\n")
    srv = servers(extra=["--tokens", str(tokens)])
    srv.token = OP
    target, pidfile = sleeper
    flag = tmp_path / "healthy"
    flag.write_text("")
    good = pause_yaml(pidfile, str(flag), duration="1s", pause="500ms")
    lines = good.split("\n")
    assert "type: command" in lines[9]
    bad = "\n".join(lines[:9] + ["    - {name: alive, type: tcp, address: 'x'}"] + lines[10:])
    edited = good.replace("title: pause sleeper", "title: pause sleeper v2")
    assert srv.req("PUT", "/api/v1/experiments/pause", {"content": good})[0] == 201
    # real runs: two that pass, one that does not start (the probe's flag is gone)
    runs = []
    for healthy in (True, True, False):
        if not healthy:
            flag.unlink()
        st, r = srv.req("POST", "/api/v1/experiments/pause/runs")
        assert st == 202, r
        runs.append(wait_run(srv, r["id"]))
    flag.write_text("")
    assert [r["verdict"] for r in runs][:2] == ["passed", "passed"], runs
    assert runs[2]["verdict"] != "passed", runs[2]
    st, r = srv.req("POST", "/api/v1/schedules", {"name": "nightly", "experiment": "pause",
                                                  "cron": "0 3 * * *"})
    assert st == 201, r

    env = dict(os.environ, URL=srv.url, OP_TOKEN=OP, VIEW_TOKEN=VIEW, OUT=out_dir, EXP="pause",
               BAD_YAML=bad, GOOD_YAML=edited, SCHED="nightly", RUN=str(runs[0]["id"]))
    p = subprocess.run(["node", os.path.join(HERE, "console_pages.mjs")], env=env,
                       capture_output=True, text=True, timeout=100)
    assert p.stdout.strip(), p.stderr
    o = json.loads(p.stdout.strip().splitlines()[-1])
    assert "failed" not in o, (o.get("failed"), p.stderr[-2000:], o)

    # Experiment page: trends drawn from the runs, strip of their verdicts
    assert o["strip"] == [f"run {r['id']}: {r['verdict']}" for r in runs], o["strip"]
    assert min(o["trendInk"]) > 200 and o["highlightedKeys"] > 5, o
    assert o["bulletinLinks"] == len(runs), o
    assert o["tabIndents"] is True and o["escapeTabLeaves"] == "save", o
    assert f"{target.pid}" in o["dryRun"] and "process.pause" in o["dryRun"], o["dryRun"]
    assert proc_state(target.pid) in ("S", "R")
    # the bad edit: marked at line 10, listed, refused; the good one saved
    assert o["badLines"] == [10] and o["badCodeLines"] == [10], o
    assert "line 10, column 7" in o["badList"] and "not saved" in o["badStatus"], o
    assert o["caretLine"] == 10, o
    assert "saved" in o["goodStatus"] and o["errorsAfterSave"] == 0, o
    st, x = srv.req("GET", "/api/v1/experiments/pause")
    assert x["content"] == edited and x["title"] == "pause sleeper v2", x
    # the refused save stored nothing (422), the good one did (200)
    st, audit = srv.req("GET", "/api/v1/audit", token=ADMIN)
    puts = [a["status"] for a in reversed(audit["audit"])
            if a["method"] == "PUT" and a["path"] == "/api/v1/experiments/pause"]
    assert puts == [201, 422, 200], audit
    # start now: a real run of the edited experiment
    started = wait_run(srv, o["startedRun"])
    assert started["experiment"] == "pause" and started["verdict"] == "passed", started
    assert started["who"] == "ops", started

    # Experiments list: a new one from the form's template, validated and stored
    assert o["listed"] == 1 and "from-template" in o["newTitle"], o
    st, x = srv.req("GET", "/api/v1/experiments/from-template")
    assert st == 200 and x["title"] == "a new experiment", x

    # Schedules page: keyboard pause, preview, gate, create
    assert o["stateBefore"] == "active" and o["tabbedToPause"], o
    assert o["stateAfterPause"] == "paused" and o["pausedInApi"] is True, o
    assert o["stateAfterResume"] == "active", o
    st, sc = srv.req("GET", "/api/v1/schedules/nightly")
    assert sc["paused"] is False and sc["next_ms"] > 0, sc
    assert o["previewCount"] == 5 and len(o["previewUtc"]) == 5, o
    assert all(t.endswith(("0:00.000Z", "5:00.000Z")) for t in o["previewUtc"]), o["previewUtc"]
    assert "hour" in o["cronError"] and "25" in o["cronError"], o["cronError"]
    assert o["nextTimes"] == 5 and "previous run passed" in o["gatesShown"], o
    st, sc = srv.req("GET", "/api/v1/schedules/from-console")
    assert st == 200, sc
    assert (sc["cron"], sc["experiment"], sc["paused"], sc["gates"]) == \
        ("0 4 * * mon", "pause", True, [{"type": "previous_run_passed"}]), sc

    # Bulletins page: made from the run, Markdown export, edit, status filter
    st, b = srv.req("GET", f"/api/v1/bulletins/{o['bulletin']}")
    assert b["runs"] == [runs[0]["id"]] and b["status"] == "mitigated", b
    assert b["recommendations"] == "Add a retry with backoff.", b
    assert b["title"] in o["markdown"] and "passed" in o["markdown"], o["markdown"]
    assert o["downloadName"] == f"bulletin-{o['bulletin']}.md"
    assert o["mitigatedList"] == [o["bulletin"]] and o["openList"] == [], o

    # a viewer: pages with data, no button that would fail, and the API refuses
    v = dict(o["viewer"])
    overflow = v.pop("overflow")
    assert v["experiment"] == {"save": 0, "start": 0, "textarea": 0, "dryRun": 1, "bulletinLinks": 0,
                               "yaml": v["experiment"]["yaml"]} and v["experiment"]["yaml"] > 5, v
    assert v["experiments"] == {"create": 0}, v
    assert v["schedules"] == {"pause": 0, "form": 0, "rows": 2}, v
    assert v["schedule"] == {"pause": 0, "form": 0}, v
    assert v["bulletins"] == {"create": 0, "rows": 1}, v
    assert v["bulletin"] == {"edit": 0, "remove": 0, "export": 1}, v
    assert all(px <= 0 for px in overflow.values()), overflow
    for method, path, body in (("PUT", "/api/v1/experiments/pause", {"content": good}),
                               ("POST", "/api/v1/experiments/pause/runs", None),
                               ("POST", "/api/v1/schedules/nightly/resume", None),
                               ("PATCH", "/api/v1/schedules/nightly", {"keep": 3}),
                               ("PATCH", f"/api/v1/bulletins/{o['bulletin']}", {"status": "open"}),
                               ("POST", f"/api/v1/runs/{runs[0]['id']}/bulletin", None)):
        st, r = srv.req(method, path, body, token=VIEW)
        assert st == 403, (method, path, r)
    assert srv.req("GET", "/api/v1/experiments/pause")[1]["content"] == edited

    # no console errors but chromium's own line for each refused request,
    # and the only refusals are those the test provoked on purpose: the
    # invalid save (422) and the invalid cron (400)
    errs, refused = o["consoleErrors"], o["refused"]
    assert all(e.startswith("Failed to load resource: the server responded with a status of ")
               for e in errs) and len(errs) == len(refused), (errs, refused)
    # (the preview may also refuse a half-typed expression on a slow machine)
    assert refused.count("422 PUT /api/v1/experiments/pause") == 1 and \
        set(refused) == {"422 PUT /api/v1/experiments/pause", "400 GET /api/v1/cron/next"}, refused
    shots = sorted(f for f in os.listdir(out_dir) if f.endswith(".png"))
    assert shots == ["bulletin.png", "bulletins.png", "experiment-error.png", "experiment.png",
                     "narrow-bulletin.png", "narrow-experiment.png", "narrow-schedules.png",
                     "schedule.png", "schedules.png", "viewer-experiment.png"], shots
