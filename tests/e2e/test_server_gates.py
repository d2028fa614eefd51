"""Gates, webhooks and /metrics of the server end to end: a real Prometheus
(started by the test on a free loopback port) scrapes a tiny exporter the
test controls (an error-budget gauge) and the faultline server itself; a
schedule gated on that budget is skipped with the gate's reason while the
budget is spent and runs once it is back; a webhook sink in the test gets
each verdict with a Slack-compatible `text` (after one failed attempt, which
is retried); /metrics passes `promtool check metrics`. The command and
previous-run gates are checked too."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import wait_for
from server_helpers import BACKENDS, backend, postgres, servers  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")

QUICK = ("title: quick\nduration: 300ms\nsteady_state:\n  interval: 100ms\n"
         "  preflight: 100ms\n  probes:\n    - {{name: p, type: command, command: '{cmd}'}}\n"
         "method:\n  - {{command: 'true'}}\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Loopback:
    """A threaded HTTP server on 127.0.0.1 with a handler class; shut down at the end."""

    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def exporter():
    state = {"budget": 0.1}

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = ("# TYPE error_budget_remaining_ratio gauge\n"
                    f"error_budget_remaining_ratio {state['budget']}\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = Loopback(H)
    srv.state = state
    yield srv
    srv.close()


@pytest.fixture
def sink():
    got, answers = [], {"fail_first": 1}

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fail = answers["fail_first"] > 0
            answers["fail_first"] -= 1
            if not fail:
                got.append(body)
            self.send_response(500 if fail else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = Loopback(H)
    srv.got = got
    yield srv
    srv.close()


@pytest.fixture
def prometheus(tmp_path):
    """prometheus(targets) starts a Prometheus scraping those host:port targets every second."""
    if not shutil.which("prometheus"):
        pytest.fail("prometheus is not installed: run scripts/bootstrap")
    procs = []

    def start(targets):
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                       "scrape_configs:\n" + "".join(
                           f"  - job_name: j{i}\n    static_configs:\n"
                           f"      - targets: ['{t}']\n" for i, t in enumerate(targets)))
        p = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                              f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        return f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def prom_value(url, query):
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={urllib.parse.quote(query)}",
                                    timeout=2) as f:
            res = json.loads(f.read())["data"]["result"]
        return float(res[0]["value"][1]) if res else None
    except (OSError, ValueError, KeyError):
        return None


def runs(srv, **filters):
    q = "&".join(f"{k}={v}" for k, v in filters.items())
    return list(reversed(srv.req("GET", f"/api/v1/runs?limit=1000&{q}")[1]["runs"]))


def test_prometheus_gate_webhooks_and_metrics(servers, exporter, sink, prometheus, tmp_path):
    srv = servers()
    host = lambda url: url.split("//")[1]
    prom = prometheus([host(exporter.url), host(srv.url)])
    assert wait_for(lambda: prom_value(prom, "error_budget_remaining_ratio") == 0.1, 60, 0.5), \
        "Prometheus never scraped the exporter"
    assert srv.req("POST", "/api/v1/webhooks", {"url": sink.url + "/hook"})[0] == 201
    srv.req("POST", "/api/v1/experiments", {"name": "quick", "content": QUICK.format(cmd="true")})
    gate = {"type": "prometheus", "url": prom, "query": "error_budget_remaining_ratio",
            "min": 0.25}
    st, r = srv.req("POST", "/api/v1/schedules", {"name": "gated", "experiment": "quick",
                                                  "cron": "@every 2s", "gates": [gate]})
    assert st == 201, r
    assert wait_for(lambda: len(runs(srv, verdict="skipped")) >= 2, 15, 0.3), runs(srv)
    skipped = runs(srv, verdict="skipped")[0]
    assert skipped["reason"] == ("gate prometheus 'error_budget_remaining_ratio' = 0.1, "
                                 "below the minimum 0.25"), skipped
    assert not runs(srv, verdict="passed"), "a closed gate must not start a run"
    exporter.state["budget"] = 0.9
    assert wait_for(lambda: prom_value(prom, "error_budget_remaining_ratio") == 0.9, 30, 0.5)
    assert wait_for(lambda: runs(srv, verdict="passed"), 15, 0.3), runs(srv)
    srv.req("POST", "/api/v1/schedules/gated/pause")
    # the sink saw the verdicts (its first answer was a 500: that delivery was retried)
    assert wait_for(lambda: {"skipped", "passed"} <= {b["verdict"] for b in sink.got}, 20, 0.3), \
        sink.got
    doc = next(b for b in sink.got if b["verdict"] == "passed")
    assert doc["event"] == "run.end" and doc["experiment"] == "quick"
    assert doc["text"].startswith("faultline: quick run ") and "passed" in doc["text"]
    assert doc["link"] == f"{srv.url}/api/v1/runs/{doc['run']}"
    st, d = srv.req("GET", "/api/v1/webhooks/1/deliveries")
    first = d["deliveries"][-1]
    assert first["status"] == "delivered" and first["attempts"] == 2, first
    assert first["http_status"] == 200
    # /metrics: valid for promtool, and scraped by Prometheus
    req = urllib.request.urlopen(srv.url + "/metrics", timeout=10)
    text = req.read().decode()
    assert req.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert 'faultline_runs{experiment="quick",verdict="skipped"}' in text
    assert 'faultline_runs{experiment="quick",verdict="passed"}' in text
    skips = [l for l in text.splitlines() if l.startswith("faultline_gate_skips_total ")]
    assert skips and float(skips[0].split()[1]) >= 2
    assert wait_for(lambda: (prom_value(prom, "faultline_gate_skips_total") or 0) >= 2, 30, 0.5)
    assert wait_for(lambda: not runs(srv, state="running"), 10)


def test_command_and_previous_run_gates(servers, tmp_path):
    srv = servers()
    flag = tmp_path / "open"
    srv.req("POST", "/api/v1/experiments", {"name": "flag", "content": QUICK.format(
        cmd=f"test -e {flag}")})
    st, r = srv.req("POST", "/api/v1/schedules", {
        "name": "cmd", "experiment": "flag", "cron": "@every 1s",
        "gates": [{"type": "command", "command": f"test -e {flag}", "timeout": "2s"}]})
    assert st == 201, r
    assert wait_for(lambda: runs(srv, schedule="cmd"), 10, 0.2)
    r = runs(srv, schedule="cmd")[0]
    assert r["verdict"] == "skipped" and r["reason"] == f"gate command 'test -e {flag}' " \
        "exited with 1", r
    srv.req("DELETE", "/api/v1/schedules/cmd")
    # the last run of "flag" did not pass: a previous_run_passed gate stays closed
    st, r = srv.req("POST", "/api/v1/experiments/flag/runs")
    assert wait_for(lambda: srv.req("GET", f"/api/v1/runs/{r['id']}")[1]["state"] == "done", 15)
    st, s = srv.req("POST", "/api/v1/schedules", {
        "name": "prev", "experiment": "flag", "cron": "@every 1s",
        "gates": [{"type": "previous_run_passed"}]})
    assert st == 201
    assert wait_for(lambda: runs(srv, schedule="prev"), 10, 0.2)
    got = runs(srv, schedule="prev")[0]
    assert got["verdict"] == "skipped"
    assert got["reason"] == (f"gate previous_run_passed: run {r['id']} of flag ended "
                             "not started: system not steady"), got
    srv.req("DELETE", "/api/v1/schedules/prev")
    for bad, msg in (([{"type": "vibes"}], "unknown type 'vibes'"),
                     ([{"type": "prometheus", "url": "http://x", "query": "q"}], "min"),
                     ([{"type": "command"}], "needs \"command\""),
                     ({"type": "command"}, "array")):
        st, r = srv.req("POST", "/api/v1/schedules", {"name": "b", "experiment": "flag",
                                                      "cron": "@every 1s", "gates": bad})
        assert st == 400 and r["error"]["code"] == "invalid_gate" and msg in \
            r["error"]["message"], r
    assert wait_for(lambda: not runs(srv, state="running"), 10)


def test_webhooks_for_run_start_and_abort(servers, sink, tmp_path):
    srv = servers()
    st, r = srv.req("POST", "/api/v1/webhooks", {"url": sink.url, "events": ["run.start",
                                                                             "run.abort"]})
    assert st == 201 and r["events"] == "run.start,run.abort", r
    slow = QUICK.format(cmd="true").replace("duration: 300ms", "duration: 20s")
    srv.req("POST", "/api/v1/experiments", {"name": "slow", "content": slow})
    st, run = srv.req("POST", "/api/v1/experiments/slow/runs")
    assert wait_for(lambda: [b["event"] for b in sink.got] == ["run.start"], 15, 0.2), sink.got
    assert sink.got[0]["text"] == f"faultline: slow run {run['id']} started"
    assert srv.req("POST", f"/api/v1/runs/{run['id']}/abort")[0] == 202
    assert wait_for(lambda: [b["event"] for b in sink.got] == ["run.start", "run.abort"], 15,
                    0.2), sink.got
    assert wait_for(lambda: srv.req("GET", f"/api/v1/runs/{run['id']}")[1]["state"] == "done",
                    15)
    time.sleep(0.5)
    assert [b["event"] for b in sink.got] == ["run.start", "run.abort"]  # no run.end asked for
    st, r = srv.req("POST", "/api/v1/webhooks", {"url": sink.url, "events": ["run.maybe"]})
    assert st == 400 and "run.start, run.end or run.abort" in r["error"]["message"]
