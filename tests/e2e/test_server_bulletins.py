"""Known-limit bulletins end to end, through `faultline bulletin`: one made
from a failed run in one command, linked to it; search and status filters;
an update; the Markdown export for a wiki; bad input refused."""
import json
import os
import subprocess

import pytest

from conftest import BIN, wait_for
from server_helpers import BACKENDS, backend, postgres, servers, wait_run  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")


def cli(srv, *args):
    e = dict(os.environ, FAULTLINE_SERVER=srv.url)
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=60, env=e)
    return p.returncode, p.stdout, p.stderr


def test_bulletin_from_a_failed_run_and_its_markdown(servers, tmp_path):
    srv = servers()
    flag = tmp_path / "healthy"
    flag.write_text("")
    yaml = ("title: flaky\nduration: 1s\nsteady_state:\n  interval: 100ms\n  preflight: 200ms\n"
            "  probes:\n    - name: flag\n      type: command\n"
            f"      command: 'test -e {flag}'\n"
            "method:\n  - {command: 'rm -f " + str(flag) + "', start: 200ms}\n")
    assert srv.req("POST", "/api/v1/experiments", {"name": "flaky", "content": yaml})[0] == 201
    st, r = srv.req("POST", "/api/v1/experiments/flaky/runs")
    run = wait_run(srv, r["id"])
    assert run["verdict"] == "failed", run
    rc, out, err = cli(srv, "bulletin", "add", "--from-run", run["id"], "--recommendations",
                       "Keep the flag file; alert when it is gone.")
    assert rc == 0 and out.startswith("added bulletin 1: flaky: failed"), out + err
    rc, out, err = cli(srv, "bulletin", "add", "--title", "Disk full stops the ledger",
                       "--background", "Seen in a drill.", "--status", "mitigated")
    assert rc == 0, err
    rc, out, err = cli(srv, "bulletin", "show", "1")
    b = json.loads(out)
    assert b["runs"] == [run["id"]] and b["status"] == "open"
    assert f"Run {run['id']} of experiment flaky ended failed" in b["background"]
    rc, out, err = cli(srv, "bulletin", "list", "--search", "ledger", "--json")
    assert [x["id"] for x in json.loads(out)] == [2]
    rc, out, err = cli(srv, "bulletin", "list", "--status", "open")
    assert rc == 0 and "flaky: failed" in out and "ledger" not in out
    rc, out, err = cli(srv, "bulletin", "set", "1", "--status", "resolved", "--initiatives",
                       "Monitor added.")
    assert rc == 0 and "updated bulletin 1" in out, err
    rc, md, err = cli(srv, "bulletin", "export", "1")
    assert rc == 0, err
    assert md.startswith("# Known limit 1: flaky: failed\n")
    assert "- **Status:** resolved" in md and "## Recommendations\n\nKeep the flag file" in md
    # the run's link is the console's page of the run, which the server answers
    assert f"- [run {run['id']}]({srv.url}/runs/{run['id']}) of `flaky`" in md
    st, page = srv.req("GET", f"/runs/{run['id']}")
    assert st == 200 and "<title>faultline</title>" in page and 'src="/js/app.js"' in page, page
    assert "## Ongoing initiatives\n\nMonitor added." in md
    # bad input
    rc, out, err = cli(srv, "bulletin", "add", "--title", "x", "--status", "fixed")
    assert rc == 2 and "open, mitigated or resolved" in err
    rc, out, err = cli(srv, "bulletin", "add", "--title", "x", "--run", "999")
    assert rc == 2 and "not the id of a run" in err
    rc, out, err = cli(srv, "bulletin", "add", "--background", "no title")
    assert rc == 2 and "'title' is required" in err
    rc, out, err = cli(srv, "bulletin", "export", "42")
    assert rc == 3 and "no bulletin 42" in err
    assert cli(srv, "bulletin", "rm", "2")[0] == 0
    assert cli(srv, "bulletin", "show", "2")[0] == 3
