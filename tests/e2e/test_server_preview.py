"""The server's endpoints for editors (the console's experiment and schedule
pages): validate YAML without storing it (errors at their line and column),
a dry run's resolved plan (the target's real pid, nothing applied),
the next fire times of an unsaved cron expression, editing a schedule
(PATCH) and an experiment's run trend (availability, time to recover).
Each test starts its own server on 127.0.0.1 with its own store."""
import pytest

from conftest import proc_state
from server_helpers import backend, pause_yaml, servers, sleeper, wait_run  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")

BAD = ("title: t\nsteady_state:\n  probes:\n    - {name: p, type: tcp, address: 'x'}\n"
       "method:\n  - {command: 'true'}\n")


def audit_paths(srv):
    st, r = srv.req("GET", "/api/v1/audit")
    assert st == 200, r
    return [a["path"] for a in r["audit"]]


def test_validate_and_dry_run_store_nothing(servers, sleeper):
    srv = servers()
    target, pidfile = sleeper
    good = pause_yaml(pidfile)
    st, r = srv.req("POST", "/api/v1/experiments/validate", {"name": "p", "content": good})
    assert st == 200 and r["valid"] is True and r["title"] == "pause sleeper", r
    st, r = srv.req("POST", "/api/v1/experiments/validate", {"content": BAD})
    assert st == 422 and r["error"]["code"] == "invalid_experiment", r
    d = r["error"]["details"][0]
    assert (d["line"], d["column"]) == (4, 7) and "HOST:PORT" in d["message"], r
    st, r = srv.req("POST", "/api/v1/experiments/validate", {"content": good, "x": 1})
    assert st == 400 and r["error"]["code"] == "unknown_field"
    assert srv.req("POST", "/api/v1/experiments/validate", {})[0] == 400
    assert srv.req("GET", "/api/v1/experiments")[1]["experiments"] == []

    # dry run of unsaved text: the plan names the target's pid and applies nothing
    st, r = srv.req("POST", "/api/v1/experiments/draft/dry-run", {"content": good})
    assert st == 200 and r["ok"] is True and r["error"] is None, r
    assert f"{target.pid}" in r["plan"] and "process.pause" in r["plan"], r["plan"]
    assert proc_state(target.pid) in ("S", "R")
    assert srv.req("POST", "/api/v1/experiments/nope/dry-run")[0] == 404
    # a stored experiment's dry run; an unplannable one says why
    srv.req("PUT", "/api/v1/experiments/p", {"content": good})
    st, r = srv.req("POST", "/api/v1/experiments/p/dry-run")
    assert st == 200 and r["ok"] and f"{target.pid}" in r["plan"], r
    gone = pause_yaml(pidfile + ".missing")
    st, r = srv.req("POST", "/api/v1/experiments/p/dry-run", {"content": gone})
    assert st == 200 and r["ok"] is False and "CANNOT PLAN" in r["plan"], r
    assert "missing" in r["error"], r
    st, r = srv.req("POST", "/api/v1/experiments/p/dry-run", {"content": BAD})
    assert st == 422 and r["error"]["details"][0]["line"] == 4
    assert proc_state(target.pid) in ("S", "R")
    # previews leave no audit row; the PUT does
    paths = audit_paths(srv)
    assert "/api/v1/experiments/p" in paths
    assert not [p for p in paths if p.endswith(("/validate", "/dry-run"))], paths


def test_cron_preview(servers):
    srv = servers()
    st, r = srv.req("GET", "/api/v1/cron/next?cron=*/15%209-17%20*%20*%201-5&after=0")
    assert st == 200 and r["after_ms"] == 0, r
    # 1970-01-01 was a Thursday: 09:00, 09:15, ... UTC
    assert r["next_ms"] == [(9 * 60 + m) * 60000 for m in (0, 15, 30, 45, 60)], r
    st, r = srv.req("GET", "/api/v1/cron/next?cron=@every%2010m&count=3&after=1000")
    assert st == 200 and r["next_ms"] == [601000, 1201000, 1801000], r
    st, r = srv.req("GET", "/api/v1/cron/next?cron=*%2025%20*%20*%20*")
    assert st == 400 and r["error"]["code"] == "invalid_cron" and "hour" in \
        r["error"]["message"], r
    st, r = srv.req("GET", "/api/v1/cron/next?cron=0%200%2031%202%20*")
    assert st == 400 and r["error"]["code"] == "never_fires", r
    assert srv.req("GET", "/api/v1/cron/next")[0] == 400
    assert srv.req("GET", "/api/v1/cron/next?cron=@hourly&count=0")[0] == 400


def test_schedule_patch(servers, sleeper):
    srv = servers()
    _, pidfile = sleeper
    srv.req("PUT", "/api/v1/experiments/p", {"content": pause_yaml(pidfile)})
    srv.req("PUT", "/api/v1/experiments/q", {"content": pause_yaml(pidfile, title="q")})
    st, r = srv.req("POST", "/api/v1/schedules", {"name": "s", "experiment": "p",
                                                  "cron": "0 3 * * *", "jitter": "2m",
                                                  "paused": True})
    assert st == 201, r
    st, r = srv.req("PATCH", "/api/v1/schedules/s", {"cron": "30 4 * * 1", "keep": 7,
                                                     "gates": [{"type": "previous_run_passed"}]})
    assert st == 200, r
    assert (r["cron"], r["keep"], r["jitter_ms"], r["experiment"], r["paused"]) == \
        ("30 4 * * 1", 7, 120000, "p", True), r
    assert r["gates"] == [{"type": "previous_run_passed"}], r
    st, r = srv.req("PATCH", "/api/v1/schedules/s", {"experiment": "q", "paused": False})
    assert st == 200 and r["experiment"] == "q" and r["paused"] is False and r["next_ms"] > 0
    st, r = srv.req("PATCH", "/api/v1/schedules/s", {"cron": "0 0 * * mon-fri-x"})
    assert st == 400 and r["error"]["code"] == "invalid_cron", r
    st, r = srv.req("PATCH", "/api/v1/schedules/s", {"concurrency": "sometimes"})
    assert st == 400 and r["error"]["code"] == "invalid_field", r
    st, r = srv.req("PATCH", "/api/v1/schedules/s", {"name": "t"})
    assert st == 400 and r["error"]["code"] == "unknown_field", r
    st, r = srv.req("PATCH", "/api/v1/schedules/s", {"experiment": "nope"})
    assert st == 404, r
    assert srv.req("PATCH", "/api/v1/schedules/none", {"keep": 1})[0] == 404
    st, r = srv.req("GET", "/api/v1/schedules/s")
    assert (r["cron"], r["experiment"], r["keep"]) == ("30 4 * * 1", "q", 7), r
    srv.req("DELETE", "/api/v1/schedules/s")


def test_experiment_trend(servers, sleeper, tmp_path):
    srv = servers()
    _, pidfile = sleeper
    flag = tmp_path / "healthy"
    flag.write_text("")
    yaml = pause_yaml(pidfile, str(flag), duration="1s", pause="500ms")
    srv.req("PUT", "/api/v1/experiments/p", {"content": yaml})
    st, r = srv.req("GET", "/api/v1/experiments/p/trend")
    assert st == 200 and r["runs"] == [], r
    ids = []
    for _ in range(2):
        st, r = srv.req("POST", "/api/v1/experiments/p/runs")
        assert st == 202, r
        ids.append(r["id"])
        wait_run(srv, r["id"])
    st, r = srv.req("GET", "/api/v1/experiments/p/trend?limit=5")
    assert st == 200 and [x["id"] for x in r["runs"]] == ids, r
    for x in r["runs"]:
        assert x["verdict"] == "passed" and x["availability"] == 100.0, x
        assert x["history_run"] and "time_to_recover_ms" in x
    st, r = srv.req("GET", "/api/v1/experiments/p/trend?limit=1")
    assert [x["id"] for x in r["runs"]] == ids[1:]
    assert srv.req("GET", "/api/v1/experiments/nope/trend")[0] == 404
    assert srv.req("GET", "/api/v1/experiments/p/trend?limit=0")[0] == 400
