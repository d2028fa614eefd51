"""The server's scheduler end to end, driven through the CLI clients
(`faultline experiment`, `faultline schedule`): an experiment uploaded
through the API runs by itself @every 2s with the right verdicts; forbid
skips overlapping runs; replace aborts the old run; pause stops firing;
bad cron expressions and schedules that never fire are refused."""
import json
import os
import subprocess
import time

import pytest

from conftest import BIN, journal_records, wait_for
from server_helpers import BACKENDS, backend, postgres, servers, sleeper  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")


def cli(srv, *args):
    e = dict(os.environ, FAULTLINE_SERVER=srv.url)
    e.pop("FAULTLINE_TOKEN", None)
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=60, env=e)
    return p.returncode, p.stdout, p.stderr


def quick_yaml(flag, duration="500ms"):
    return ("title: quick check\n"
            f"duration: {duration}\n"
            "steady_state:\n  interval: 100ms\n  preflight: 200ms\n  probes:\n"
            f"    - {{name: flag, type: command, command: 'test -e {flag}'}}\n"
            "method:\n  - {command: 'true'}\n")


def runs(srv, **filters):
    q = "&".join(f"{k}={v}" for k, v in filters.items())
    st, r = srv.req("GET", f"/api/v1/runs?limit=1000&{q}")
    assert st == 200, r
    return list(reversed(r["runs"]))


def test_every_2s_runs_with_the_right_verdicts(servers, tmp_path, state_dir):
    srv = servers()
    flag = tmp_path / "healthy"
    flag.write_text("")
    exp = tmp_path / "quick.yaml"
    exp.write_text(quick_yaml(flag))
    rc, out, err = cli(srv, "experiment", "add", "quick", exp)
    assert rc == 0 and "added experiment quick" in out, err
    rc, out, err = cli(srv, "experiment", "list")
    assert rc == 0 and "quick" in out and "quick check" in out
    rc, out, err = cli(srv, "schedule", "add", "often", "--experiment", "quick", "--every", "2s")
    assert rc == 0 and "added schedule often" in out, err
    done = lambda: [r for r in runs(srv, schedule="often") if r["state"] == "done"]
    assert wait_for(lambda: len(done()) >= 3, 20, step=0.3), runs(srv)
    assert all(r["verdict"] == "passed" and r["trigger"] == "schedule" for r in done()[:3]), \
        done()
    # the system stops being steady: the next runs say so, and inject nothing
    flag.unlink()
    assert wait_for(lambda: any(r["verdict"] == "not started: system not steady"
                                for r in done()), 10, step=0.3), done()
    first = done()[0]
    st, detail = srv.req("GET", f"/api/v1/runs/{first['id']}")
    assert detail["run"]["verdict"] == "passed" and detail["history_run"] >= 1
    # pause: nothing more fires
    rc, out, err = cli(srv, "schedule", "pause", "often")
    assert rc == 0 and "paused often" in out
    time.sleep(0.5)
    n = len(runs(srv, schedule="often"))
    time.sleep(3)
    assert len(runs(srv, schedule="often")) == n
    rc, out, err = cli(srv, "schedule", "list")
    assert rc == 0 and "often" in out and "paused" in out
    rc, out, err = cli(srv, "schedule", "resume", "often")
    assert rc == 0 and "resumed often" in out
    assert wait_for(lambda: len(runs(srv, schedule="often")) > n, 6, step=0.3)
    rc, out, err = cli(srv, "schedule", "rm", "often")
    assert rc == 0
    rc, out, err = cli(srv, "schedule", "rm", "often")
    assert rc == 3 and "no schedule" in err
    assert wait_for(lambda: not runs(srv, state="running"), 10)
    assert journal_records(state_dir) == []


def test_forbid_skips_overlapping_runs_and_replace_aborts(servers, tmp_path):
    srv = servers()
    flag = tmp_path / "healthy"
    flag.write_text("")
    srv.req("POST", "/api/v1/experiments", {"name": "slow", "content": quick_yaml(flag, "6s")})
    st, r = srv.req("POST", "/api/v1/schedules", {"name": "f", "experiment": "slow",
                                                  "cron": "@every 2s"})
    assert st == 201 and r["concurrency"] == "forbid", r
    assert wait_for(lambda: len([x for x in runs(srv, schedule="f")
                                 if x["verdict"] == "skipped"]) >= 2, 12, step=0.3), runs(srv)
    all_runs = runs(srv, schedule="f")
    first, skipped = all_runs[0], [x for x in all_runs if x["verdict"] == "skipped"]
    assert first["verdict"] in ("running", "passed")
    assert f"run {first['id']} of schedule f is still running (concurrency: forbid)" \
        in skipped[0]["reason"]
    running = [x for x in all_runs if x["state"] == "running"]
    assert len(running) <= 1, all_runs
    assert srv.req("DELETE", "/api/v1/schedules/f")[0] == 200
    assert wait_for(lambda: not runs(srv, state="running"), 15)
    st, r = srv.req("POST", "/api/v1/schedules", {"name": "r", "experiment": "slow",
                                                  "cron": "@every 2s",
                                                  "concurrency": "replace"})
    assert st == 201
    assert wait_for(lambda: any(x["verdict"] == "aborted" for x in runs(srv, schedule="r")),
                    15, step=0.3), runs(srv, schedule="r")
    srv.req("DELETE", "/api/v1/schedules/r")
    assert wait_for(lambda: not runs(srv, state="running"), 15)


def test_bad_schedules_are_refused_with_the_reason(servers, tmp_path):
    srv = servers()
    flag = tmp_path / "healthy"
    exp = tmp_path / "quick.yaml"
    exp.write_text(quick_yaml(flag))
    assert cli(srv, "experiment", "add", "quick", exp)[0] == 0
    rc, out, err = cli(srv, "schedule", "add", "s", "--experiment", "quick", "--cron",
                       "*/15 25 * * *")
    assert rc == 2 and "cron field 2 (hour) '25': out of range" in err, err
    rc, out, err = cli(srv, "schedule", "add", "s", "--experiment", "quick", "--cron",
                       "0 0 31 feb *")
    assert rc == 2 and "never fires" in err, err
    rc, out, err = cli(srv, "schedule", "add", "s", "--experiment", "quick", "--cron",
                       "* * * *")
    assert rc == 2 and "has 4 fields" in err
    rc, out, err = cli(srv, "schedule", "add", "s", "--experiment", "nope", "--every", "1m")
    assert rc == 3 and "no experiment 'nope'" in err
    rc, out, err = cli(srv, "schedule", "add", "s", "--experiment", "quick", "--every", "1m",
                       "--concurrency", "sometimes")
    assert rc == 2 and "concurrency" in err
    rc, out, err = cli(srv, "schedule", "add", "s", "--experiment", "quick",
                       "--cron", "30 9-17/4 * * mon-fri", "--jitter", "1m", "--paused")
    assert rc == 0, err
    rc, out, err = cli(srv, "schedule", "next", "s", "--count", "4", "--json")
    assert rc == 0
    times = json.loads(out)["next_ms"]
    assert len(times) == 4
    for t in times:
        tm = time.gmtime(t / 1000)
        assert tm.tm_min == 30 and tm.tm_hour in (9, 13, 17) and tm.tm_wday < 5, tm
    rc, out, err = cli(srv, "schedule", "next", "s")
    assert rc == 0 and len(out.splitlines()) == 5 and ":30:00Z" in out
    # an experiment with a schedule cannot be removed
    rc, out, err = cli(srv, "experiment", "rm", "quick")
    assert rc == 4 and "schedule" in err
    rc, out, err = cli(srv, "experiment", "show", "quick")
    assert rc == 0 and out == exp.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\nsteady_state:\n  probes:\n    - {name: p, type: tcp, "
                   "address: 'x'}\nmethod:\n  - {command: 'true'}\n")
    rc, out, err = cli(srv, "experiment", "add", "bad", bad)
    assert rc == 2 and f"{bad}:4:7: tcp probe 'p'" in err, err
    rc, out, err = cli(srv, "experiment", "add", "../x", exp)
    assert rc == 2 and "experiment name '../x'" in err
    rc, out, err = cli(srv, "schedule", "pause", "a/b")
    assert rc == 2 and "schedule name 'a/b'" in err
    e = dict(os.environ, FAULTLINE_SERVER="http://127.0.0.1:1")
    p = subprocess.run([BIN, "experiment", "list"], capture_output=True, text=True, env=e)
    assert p.returncode == 1 and "cannot reach the server" in p.stderr


def test_slots_missed_while_down_run_once_or_not_at_all(servers, tmp_path):
    """catch_up once (default): a server back after several missed slots starts one run,
    not one per slot; catch_up skip: none until the next slot."""
    srv = servers()
    flag = tmp_path / "healthy"
    flag.write_text("")
    srv.req("POST", "/api/v1/experiments", {"name": "q", "content": quick_yaml(flag)})
    for name, policy in (("once", "once"), ("skip", "skip")):
        st, r = srv.req("POST", "/api/v1/schedules", {"name": name, "experiment": "q",
                                                      "cron": "@every 3s", "catch_up": policy,
                                                      "concurrency": "allow"})
        assert st == 201, r
    srv.stop()
    time.sleep(7.5)  # two slots of each schedule pass while the server is down
    before = {n: len(runs_of(srv, n)) for n in ("once", "skip")}
    srv2 = servers()
    time.sleep(1.5)  # less than the period: only catch-up runs can have started
    assert len(runs(srv2, schedule="once")) == before["once"] + 1, runs(srv2)
    assert len(runs(srv2, schedule="skip")) == before["skip"], runs(srv2)
    srv2.req("DELETE", "/api/v1/schedules/once")
    srv2.req("DELETE", "/api/v1/schedules/skip")
    assert wait_for(lambda: not runs(srv2, state="running"), 10)


def runs_of(srv, schedule):
    """The runs of a schedule straight from the store, while no server runs."""
    return srv.sql(f"SELECT id FROM srv_runs WHERE schedule = '{schedule}'")


@pytest.mark.parametrize("backend", BACKENDS)
def test_keep_bounds_a_schedules_runs(servers, tmp_path):
    srv = servers()
    flag = tmp_path / "healthy"
    srv.req("POST", "/api/v1/experiments", {"name": "q", "content": quick_yaml(flag)})
    st, r = srv.req("POST", "/api/v1/schedules", {
        "name": "k", "experiment": "q", "cron": "@every 1s", "keep": 2,
        "gates": [{"type": "command", "command": "false"}]})
    assert st == 201, r
    seen = set()

    def enough():
        ids = [x["id"] for x in runs(srv, schedule="k")]
        assert len(ids) <= 2, ids
        seen.update(ids)
        return len(seen) >= 4

    assert wait_for(enough, 15, 0.2), seen
    assert all(x["verdict"] == "skipped" for x in runs(srv, schedule="k"))
    srv.req("DELETE", "/api/v1/schedules/k")
    # runs that ran: their files go with them. concurrency allow: under load a
    # run can outlast the 1s period, and forbid would then record a skipped run
    # (no files) that keep: 1 may be the one it keeps
    flag.write_text("")
    st, r = srv.req("POST", "/api/v1/schedules", {"name": "f", "experiment": "q",
                                                  "cron": "@every 1s", "keep": 1,
                                                  "concurrency": "allow"})
    assert st == 201, r
    finished = lambda: [x for x in runs(srv, schedule="f") if x["state"] == "done"]
    ran = set()
    assert wait_for(lambda: ran.update(x["id"] for x in finished()) or len(ran) >= 3, 20, 0.2)
    srv.req("DELETE", "/api/v1/schedules/f")
    assert wait_for(lambda: not runs(srv, state="running"), 15)
    kept = {x["id"] for x in runs(srv, schedule="f")}
    assert all(x["verdict"] != "skipped" for x in runs(srv, schedule="f")), runs(srv)
    files = os.listdir(srv.work_dir + "/runs")
    assert ran - kept, (ran, kept)
    for gone in ran - kept:
        assert f"{gone}.yaml" not in files and f"{gone}.log" not in files, (gone, files)
    for k in kept:
        assert f"{k}.log" in files
    # and their records in the history store (runs, events, samples, probes)
    history = {int(h) for (h,) in srv.sql("SELECT history_run FROM srv_runs WHERE "
                                          "history_run IS NOT NULL")}
    assert history and {int(r) for (r,) in srv.sql("SELECT id FROM runs")} == history
    for table in ("events", "samples", "probes"):
        left = {int(r) for (r,) in srv.sql(f"SELECT DISTINCT run_id FROM {table}")}
        assert left <= history, (table, left, history)


def test_blackout_windows_skip_with_the_window_as_reason(servers, tmp_path):
    srv = servers()
    flag = tmp_path / "healthy"
    flag.write_text("")
    exp = tmp_path / "quick.yaml"
    exp.write_text(quick_yaml(flag))
    assert cli(srv, "experiment", "add", "q", exp)[0] == 0
    now = time.time()
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    rc, out, err = cli(srv, "schedule", "add", "always", "--experiment", "q", "--every", "1s",
                       "--blackout-cron", "* * * * *")
    assert rc == 0, err
    rc, out, err = cli(srv, "schedule", "add", "freeze", "--experiment", "q", "--every", "1s",
                       "--blackout", f"{fmt(now - 3600)}..{fmt(now + 3600)}")
    assert rc == 0, err
    rc, out, err = cli(srv, "schedule", "add", "past", "--experiment", "q", "--every", "1s",
                       "--blackout", f"{fmt(now - 7200)}..{fmt(now - 3600)}")
    assert rc == 0, err
    assert wait_for(lambda: all(runs(srv, schedule=n) for n in ("always", "freeze", "past")),
                    10, 0.2)
    a, f = runs(srv, schedule="always")[0], runs(srv, schedule="freeze")[0]
    assert a["verdict"] == "skipped" and a["reason"] == "in blackout window 1 (cron '* * * * *')"
    assert f["verdict"] == "skipped" and f["reason"].startswith("in blackout window 1 (")
    assert runs(srv, schedule="past")[0]["verdict"] != "skipped"
    for n in ("always", "freeze", "past"):
        cli(srv, "schedule", "rm", n)
    rc, out, err = cli(srv, "schedule", "add", "b", "--experiment", "q", "--every", "1m",
                       "--blackout-cron", "* 25 * * *")
    assert rc == 2 and "blackout 1: cron field 2 (hour)" in err, err
    rc, out, err = cli(srv, "schedule", "add", "b", "--experiment", "q", "--every", "1m",
                       "--blackout", f"{fmt(now)}..{fmt(now - 60)}")
    assert rc == 2 and "is not before" in err, err
    rc, out, err = cli(srv, "schedule", "add", "b", "--experiment", "q", "--every", "1m",
                       "--blackout", "tomorrow..later")
    assert rc == 2 and "UTC times" in err, err
    assert wait_for(lambda: not runs(srv, state="running"), 10)
