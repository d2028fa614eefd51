"""Target logs captured with a run (`logs:`): a real process writes its log
file during a real experiment that pauses it; the stored lines stop while
the fault holds and resume after it is reverted, marked with the run's
events in `faultline show --logs` and GET /api/v1/runs/ID/logs. Also a
command's output, a bound that drops lines, a file that never appears, and
bad `logs:` entries refused with file:line:col."""
import json
import subprocess

import pytest

from conftest import BIN, proc_state, wait_for
from server_helpers import backend, servers, wait_run  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")


def experiment(tmp_path, pidfile, log):
    return (f"title: logs\nduration: 3s\n"
            f"targets:\n  writer:\n    pidfile: {pidfile}\n"
            "steady_state:\n  interval: 100ms\n  preflight: 500ms\n  probes:\n"
            "    - {name: ok, type: command, command: 'true'}\n"
            "method:\n  - {name: freeze, kind: process.pause, target: writer, start: 500ms, "
            "duration: 1500ms}\n"
            "logs:\n"
            f"  - {{name: app, file: {log}}}\n"
            f"  - {{name: small, file: {log}, max: 1KiB}}\n"
            "  - {name: cmd, command: 'echo from-the-command; exec sleep 60'}\n"
            f"  - {{name: gone, file: {tmp_path}/never.log}}\n")


@pytest.fixture
def writer(spawn, tmp_path):
    """A process that appends a numbered line to its log every 50 ms."""
    log = tmp_path / "app.log"
    log.write_text("written before the run\n")
    p = spawn(["sh", "-c", f"i=0; while :; do i=$((i+1)); echo \"tick $i $(printf '%0100d' 0)\" "
                           f">> {log}; sleep 0.05; done"])
    pidfile = tmp_path / "writer.pid"
    pidfile.write_text(f"{p.pid}\n")
    assert wait_for(lambda: "tick 3" in log.read_text(), 5)
    return p, str(pidfile), log


def check_logs(doc):
    src = {s["name"]: s for s in doc["sources"]}
    assert src["app"]["kind"] == "file" and src["app"]["error"] is None, src
    assert src["app"]["lines"] >= 20 and src["app"]["dropped"] == 0, src
    assert src["small"]["bytes"] <= 1024 and src["small"]["dropped"] > 0, src
    assert src["cmd"]["kind"] == "command" and src["cmd"]["lines"] == 1, src
    assert "never appeared" in src["gone"]["error"], src
    app = [x for x in doc["lines"] if x["source"] == "app"]
    assert all(x["line"].startswith("tick ") for x in app), app[:3]  # none from before the run
    ev = doc["events"]
    applied = next(e["t_ms"] for e in ev if "applied" in e["message"])
    reverted = next(e["t_ms"] for e in ev if "reverted" in e["message"])
    during = [x for x in app if applied + 200 < x["t_ms"] < reverted - 50]
    assert not during, ("the paused writer wrote", during, applied, reverted)
    assert [x for x in app if x["t_ms"] < applied], "no lines before the fault"
    assert [x for x in app if x["t_ms"] > reverted + 100], "no lines after the revert"
    assert any(x["line"] == "from-the-command" for x in doc["lines"])


def test_a_paused_writers_log_shows_the_gap(servers, writer, tmp_path):
    p, pidfile, log = writer
    srv = servers()
    st, r = srv.req("POST", "/api/v1/experiments",
                    {"name": "logs", "content": experiment(tmp_path, pidfile, log)})
    assert st == 201, r
    st, r = srv.req("POST", "/api/v1/experiments/logs/runs")
    r = wait_run(srv, r["id"], timeout=40)
    assert r["verdict"] == "passed", r
    assert proc_state(p.pid) in ("S", "R")
    assert any(e["message"].startswith("target logs: app: ") for e in r["run"]["events"])
    assert {x["name"] for x in r["run"]["logs"]} == {"app", "small", "cmd", "gone"}
    st, doc = srv.req("GET", f"/api/v1/runs/{r['id']}/logs")
    assert st == 200, doc
    check_logs(doc)
    st, one = srv.req("GET", f"/api/v1/runs/{r['id']}/logs?source=cmd")
    assert [x["line"] for x in one["lines"]] == ["from-the-command"], one
    # the same from the CLI, on the history store
    out = subprocess.run([BIN, "show", str(r["history_run"]), "--logs", "--json", "--db",
                          srv.db], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    check_logs(json.loads(out.stdout))
    out = subprocess.run([BIN, "show", str(r["history_run"]), "--logs", "--db", srv.db],
                         capture_output=True, text=True, timeout=30)
    text = out.stdout
    assert "log app (file " in text and "== inject" in text and "| tick " in text, text
    assert text.index("freeze") < text.rindex("| tick "), text
    out = subprocess.run([BIN, "--server", srv.url, "show", str(r["id"]), "--logs"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "== inject" in out.stdout, out.stdout + out.stderr


def test_bad_log_sources_are_refused_with_their_place(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("title: t\nsteady_state:\n  probes:\n    - {name: p, type: command, "
                 "command: 'true'}\nmethod:\n  - {command: 'true'}\nlogs:\n"
                 "  - {name: a, file: relative.log}\n"
                 "  - {name: b, file: /x, unit: y}\n"
                 "  - {file: /y}\n"
                 "  - {name: d, file: /z, max: 10GiB}\n"
                 "  - {name: a, command: 'true'}\n")
    p = subprocess.run([BIN, "validate", str(f)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stdout + p.stderr
    err = p.stderr
    assert f"{f}:8:21: file: give an absolute path" in err, err
    assert f"{f}:9:31: a log source takes one of" in err, err
    assert f"{f}:10:5: a log source needs name:" in err, err
    assert f"{f}:11:" in err and "max:" in err, err
    assert f"{f}:12:5: a second log source named 'a'" in err, err
