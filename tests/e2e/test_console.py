"""The web console in a real headless Chromium (Debian's chromium driven by
playwright-core from web/node_modules, tests/e2e/console_driver.mjs) against
a server whose store holds real runs: experiments that pause a real web
server while an HTTP probe measures it. Asserts that the charts drew (canvas
pixels), that the fault window is shaded where the run's events put it, that
a run started from the console shows live progress without a reload and is
then listed by the API, that a viewer sees no button that would fail (and
the API refuses it), that a wrong token gets the token form, that pages fit
in 360 px, and that no console error was logged. Screenshots of each page
are kept in BUILD/console-screenshots/ (printed)."""
import json
import os
import shutil
import socket
import subprocess
import urllib.request

import pytest

from conftest import BIN, proc_state, wait_for
from server_helpers import backend, servers, wait_run  # noqa: F401
from test_experiment_workload import EXPERIMENT, indent, server  # noqa: F401
from test_server_auth import hash_token

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tests", "e2e", "console_driver.mjs")
OPERATOR, VIEWER = "o" * 32, "v" * 32


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pause_web(pidfile, port, duration, start, pause, title):
    return (f"title: {title}\nduration: {duration}\n"
            f"targets:\n  web:\n    pidfile: {pidfile}\n"
            "steady_state:\n  interval: 50ms\n  preflight: 400ms\n  probes:\n"
            f"    - {{name: homepage, type: http, url: 'http://127.0.0.1:{port}/', "
            "timeout: 400ms, tolerance: {success_ratio: 50%, latency: {p99: 250ms}}}\n"
            f"method:\n  - {{name: freeze, kind: process.pause, target: web, start: {start}, "
            f"duration: {pause}}}\n"
            "recovery:\n  within: 3s\n")


@pytest.fixture
def web(spawn, tmp_path):
    """A real HTTP server on loopback (killed by PID) and its pidfile."""
    port = free_port()
    p = spawn(["python3", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
              cwd=str(tmp_path))

    def up():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            return True
        except OSError:
            return False

    assert wait_for(up, 10), "the test's web server did not start"
    pidfile = tmp_path / "web.pid"
    pidfile.write_text(f"{p.pid}\n")
    return port, str(pidfile)


def shots_dir():
    d = os.environ.get("FL_CONSOLE_SHOTS") or os.path.join(os.path.dirname(BIN),
                                                           "console-screenshots")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def shaded_span(shaded):
    xs = [i for i, v in enumerate(shaded) if v]
    return (min(xs), max(xs)) if xs else None


def bank_run(srv, server):  # noqa: F811
    """A run of a workload against a service that loses money: its check fails."""
    pid, port = server("http", broken=True)
    yaml = EXPERIMENT.format(
        title="transfers conserve money", port=port, pid=pid, pause="300ms",
        workload=indent(f"client: http\nworkload: bank\ntarget: http://127.0.0.1:{port}/api\n"
                        "concurrency: 4\naccounts: 3\ntotal: 300\n"),
        checks=indent("- model: bank\n  accounts: 3\n  total: 300"))
    st, r = srv.req("PUT", "/api/v1/experiments/bank", {"content": yaml})
    assert st in (200, 201), r
    st, r = srv.req("POST", "/api/v1/experiments/bank/runs")
    assert st == 202, r
    done = wait_run(srv, r["id"], timeout=60)
    assert done["verdict"] == "failed" and done["run"]["checks"][0]["result"] == "invalid", done
    # the check's HTML timeline, made from the stored history
    st, html = srv.req("GET", f"/api/v1/runs/{done['id']}/check.html")
    assert st == 200 and "<html" in html.lower() and "300" in html, html[:500]
    assert srv.req("GET", f"/api/v1/runs/{done['id']}/check.html?check=1")[0] == 404
    return done


def test_console_in_chromium(servers, web, server, fl, spawn, tmp_path):  # noqa: F811
    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed: run scripts/bootstrap")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"ops operator {hash_token(OPERATOR)}\nwatcher viewer {hash_token(VIEWER)}\n")
    srv = servers(extra=["--tokens", str(tokens)])
    srv.token = OPERATOR
    port, pidfile = web
    for name, yaml in (("freeze", pause_web(pidfile, port, "2500ms", "700ms", "1s", "freeze web")),
                       ("live", pause_web(pidfile, port, "6s", "1s", "3s", "freeze web longer"))):
        st, r = srv.req("PUT", f"/api/v1/experiments/{name}", {"content": yaml})
        assert st in (200, 201), r
    runs = []
    for _ in range(2):
        st, r = srv.req("POST", "/api/v1/experiments/freeze/runs")
        assert st == 202, r
        done = wait_run(srv, r["id"], timeout=40)
        assert done["verdict"] in ("passed", "failed"), done
        runs.append(done)
    bank = bank_run(srv, server)
    st, bulletin = srv.req("POST", f"/api/v1/runs/{bank['id']}/bulletin")
    assert st == 201, bulletin
    # a schedule whose gate stays closed: each fire is a skipped run with the reason
    st, r = srv.req("POST", "/api/v1/schedules", {
        "name": "gated", "experiment": "freeze", "cron": "@every 2s",
        "gates": [{"type": "command", "command": "false"}]})
    assert st == 201, r
    assert wait_for(lambda: srv.req("GET", "/api/v1/runs?schedule=gated")[1]["runs"], 15), \
        "the schedule did not fire"
    st, r = srv.req("GET", f"/api/v1/runs/{runs[0]['id']}/check.html")
    assert st == 404 and r["error"]["code"] == "no_history", r
    # the viewer may read but not start: the API refuses it
    st, r = srv.req("POST", "/api/v1/experiments/live/runs", token=VIEWER)
    assert st == 403, r

    # a detached fault the overview shows: a paused process
    victim = spawn(["sleep", "600"])
    rc, fault_id, err = fl("inject", "process.pause", "--pid", victim.pid, "--detach", "--lease",
                           "2m")
    assert rc == 0, err
    fault_id = fault_id.strip()
    assert proc_state(victim.pid) == "T"

    out = shots_dir()
    cfg = {"base": srv.url, "operator": OPERATOR, "viewer": VIEWER, "out": out,
           "runs": [runs[0]["id"], runs[1]["id"]], "live_experiment": "live",
           "workload_run": bank["id"], "fault_id": fault_id,
           "chromium": shutil.which("chromium")}
    p = subprocess.run(["node", DRIVER, json.dumps(cfg)], capture_output=True, text=True,
                       timeout=150)
    print(f"console screenshots: {out}")
    assert p.stdout, p.stderr[-3000:]
    res = json.loads(p.stdout)
    assert "fatal" not in res, res.get("fatal", "") + "\n" + p.stderr[-2000:]
    pages = res["pages"]
    assert not res["errors"], res["errors"]

    for key, run in (("runA", runs[0]), ("runB", runs[1])):
        pg = pages[key]
        assert pg["series"] > 100, f"{key}: the probe chart drew no series ({pg['series']} px)"
        assert run["verdict"] in pg["verdict"]
        assert pg["events"] == len(run["run"]["events"])
        # the fault window, from the run's events through the API, against the
        # shaded columns of the canvas
        ev = run["run"]["events"]
        start = next(e["t_ms"] for e in ev if " applied for " in e["message"])
        end = next(e["t_ms"] for e in ev if " reverted (" in e["message"])
        scale = pg["width"] / (pg["xMax"] - pg["xMin"])
        x0 = (start / 1000 - pg["xMin"]) * scale
        x1 = (end / 1000 - pg["xMin"]) * scale
        span = shaded_span(pg["shaded"])
        assert span, f"{key}: no shaded fault window on the chart"
        assert abs(span[0] - x0) <= 3 and abs(span[1] - x1) <= 3, (key, span, x0, x1)
        inside = pg["shaded"][int(x0) + 3:int(x1) - 3]
        assert sum(inside) >= 0.9 * len(inside), (key, "shading has holes")
        assert "Abort (revert every fault)" not in pg["buttons"]
    cmp = pages["compare"]
    assert cmp["series"] > 100 and shaded_span(cmp["shaded"])
    assert pages["overview"]["strips"] >= 2
    assert bulletin["title"] in pages["overview"]["bulletins"], pages["overview"]
    nxt = pages["overview"]["next"]
    assert "gated" in nxt and "closed: gate command 'false' exited with 1" in nxt, nxt

    live = pages["live"]
    assert live["noReload"], "the live run page reloaded"
    assert live["liveSamples"] > 0, live
    assert live["during"]["e"] > live["before"]["e"] and live["during"]["p"] > live["before"]["p"]
    st, r = srv.req("GET", "/api/v1/runs?experiment=live")
    assert st == 200 and [x["id"] for x in r["runs"]] == [live["id"]], r
    assert r["runs"][0]["state"] == "done" and r["runs"][0]["trigger"] == "api"
    st, r = srv.req("GET", f"/api/v1/runs/{live['id']}")
    assert r["who"] == "ops", r

    f = pages["fault"]
    assert f["viewerButtons"] == 0 and f["operatorButtons"] == ["Recover"], f
    assert f["recovered"] and wait_for(lambda: proc_state(victim.pid) in ("S", "R"), 10), \
        proc_state(victim.pid)
    st, r = srv.req("GET", "/api/v1/faults")
    assert r["faults"] == [], r

    kb = pages["keyboard"]
    assert kb["tabs"] < 10 and kb["ring"] not in ("none", "") and kb["url"].endswith("/runs"), kb
    assert kb["focusInMain"], kb

    wl = pages["workload"]
    assert wl["checks"] == 1 and "invalid" in wl["text"], wl
    assert "300" in wl["report"] and wl["saveLink"], wl["report"][:300]

    viewer = pages["viewer"]
    assert "watcher" in viewer["who"] and "viewer" in viewer["who"], viewer
    assert viewer["buttons"] == [], viewer["buttons"]
    assert viewer["strips"] >= 3
    assert "viewer" in pages["stranger"]["who"]
    for name in ("narrow-overview", "narrow-run"):
        assert pages[name]["scrollWidth"] <= 362, (name, pages[name])
    for name in ("overview", "run-a", "run-b", "compare", "runs", "run-live", "overview-viewer",
                 "run-workload", "overview-fault", "overview-fault-viewer",
                 "narrow-overview", "narrow-run", "token-form"):
        assert os.path.getsize(os.path.join(out, name + ".png")) > 5000, name
