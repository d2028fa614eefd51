"""`faultline --server URL runs|show|run|status`: the usual commands against a
server (token from a file or the environment), with errors that name the
server. The server runs on 127.0.0.1 with its own store; the target is a
`sleep` the test starts (server_helpers.py)."""
import json
import os
import signal
import subprocess

import pytest

from conftest import BIN, journal_records, proc_state, wait_for
from server_helpers import backend, pause_yaml, servers, sleeper  # noqa: F401
from test_server_auth import TOKENS, tokens_file  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")


def remote(srv, *args, env=None, token_file=None, timeout=60):
    e = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_TOKEN")}
    e.update(env or {})
    pre = ["--server", srv.url] + (["--token-file", str(token_file)] if token_file else [])
    p = subprocess.run([BIN, *pre, *map(str, args)], capture_output=True, text=True, env=e,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_run_runs_show_status_against_a_server(servers, sleeper, tokens_file, tmp_path,
                                               state_dir):
    srv = servers(extra=["--tokens", str(tokens_file)])
    srv.token = TOKENS["ops"][1]
    target, pidfile = sleeper
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": pause_yaml(
        pidfile, duration="2s", pause="1s")})
    assert st == 201, r
    ops = tmp_path / "ops.token"
    ops.write_text(TOKENS["ops"][1] + "\n")
    # run follows the run to its verdict and exits with its code
    rc, out, err = remote(srv, "run", "pause", token_file=ops)
    assert rc == 0, out + err
    assert "applied" in out and "reverted" in out, out
    assert out.splitlines()[-1].startswith("passed: the hypothesis held"), out
    assert proc_state(target.pid) in ("S", "R")
    # the token from the environment, a viewer may read
    viewer = {"FAULTLINE_TOKEN": TOKENS["watcher"][1]}
    rc, out, err = remote(srv, "runs", env=viewer)
    assert rc == 0 and "passed" in out and "pause" in out, out + err
    rc, out, err = remote(srv, "runs", "--json", "--verdict", "passed", env=viewer)
    runs = json.loads(out)
    assert [x["verdict"] for x in runs] == ["passed"], runs
    rc, out, err = remote(srv, "show", runs[0]["id"], env=viewer)
    assert rc == 0 and f"server run {runs[0]['id']} on {srv.url}" in out, out + err
    assert "process.pause" in out or "pause-it" in out, out
    rc, out, err = remote(srv, "show", runs[0]["id"], "--json", env=viewer)
    assert json.loads(out)["run"]["verdict"] == "passed"
    # status while a detached run holds its fault
    rc, out, err = remote(srv, "run", "pause", "--detach", token_file=ops)
    assert rc == 0 and "started on" in out, out + err
    assert wait_for(lambda: proc_state(target.pid) == "T", 10)
    rc, out, err = remote(srv, "status", env=viewer)
    assert rc == 0 and "process.pause" in out and "1 run going" in out, out + err
    st_json = json.loads(remote(srv, "status", "--json", env=viewer)[1])
    assert len(st_json["runs"]) == 1 and st_json["faults"], st_json
    assert wait_for(lambda: "no active faults" in remote(srv, "status", env=viewer)[1], 15)
    # errors name the server, with the documented exit codes
    rc, out, err = remote(srv, "run", "pause", env=viewer)
    assert rc == 5 and srv.url in err and "HTTP 403" in err, err
    rc, out, err = remote(srv, "runs")
    assert rc == 5 and srv.url in err and "HTTP 401" in err, err
    rc, out, err = remote(srv, "show", 999, env=viewer)
    assert rc == 3 and srv.url in err, err
    rc, out, err = remote(srv, "run", "nope", token_file=ops)
    assert rc == 3 and srv.url in err and "nope" in err, err
    rc, out, err = remote(srv, "runs", token_file=tmp_path / "missing")
    assert rc == 1 and "token file" in err and "missing" in err, err
    rc, out, err = remote(srv, "inject", "x")
    assert rc == 2 and "does not run against a server" in err, err
    p = subprocess.run([BIN, "--server", "http://127.0.0.1:1", "runs"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1 and "http://127.0.0.1:1" in p.stderr, p.stderr
    assert journal_records(state_dir) == []


def test_ctrl_c_aborts_the_followed_run(servers, sleeper, state_dir):
    srv = servers()
    target, pidfile = sleeper
    srv.req("POST", "/api/v1/experiments", {"name": "pause", "content": pause_yaml(
        pidfile, duration="20s", pause="20s")})
    p = subprocess.Popen([BIN, "--server", srv.url, "run", "pause"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: proc_state(target.pid) == "T", 10)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 8 and "aborting run" in err and "aborted" in out, out + err
    assert proc_state(target.pid) in ("S", "R")
    assert journal_records(state_dir) == []
