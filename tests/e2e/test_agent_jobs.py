"""`faultline agent` jobs (docs/agent.md, "Jobs"): processes the agent runs on its
host for a controller, tied to a session's lease. Each test starts its own agent
on loopback (port 0, a tokens file, its own --state-dir), talks HTTP to it, and
checks the real effect on the processes (by PID: alive, gone) and on the files
under STATE_DIR/jobs. A finalizer stops every agent it started and kills, by PID
and start time, any job process still alive, so nothing outlives a failing
test."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, wait_for

TOKEN = "jobs-test-operator-0123456789"
VIEWER = "jobs-test-viewer-0123456789"


def start_time(pid):
    """Field 22 of /proc/PID/stat, or None when the pid is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def alive(pid):
    return start_time(pid) is not None


class Agent:
    def __init__(self, proc, port, state):
        self.proc, self.port, self.state = proc, port, state
        self.url = f"http://127.0.0.1:{port}/api/v1"

    def call(self, method, path, body=None, token=TOKEN, raw=False):
        """(status, reply JSON or (bytes, headers) when raw)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                payload, status, headers = r.read(), r.status, r.headers
        except urllib.error.HTTPError as e:
            payload, status, headers = e.read(), e.code, e.headers
        if raw and status == 200:
            return status, (payload, headers)
        return status, json.loads(payload)

    def start(self, body, session="s0123456789abcdef"):
        body = dict({"session": session}, **body)
        st, r = self.call("POST", "/jobs", body)
        assert st == 201, r
        return r

    def status(self, jid):
        st, r = self.call("GET", "/jobs/" + jid)
        assert st == 200, r
        return r

    def wait_state(self, jid, states, timeout):
        assert wait_for(lambda: self.status(jid)["state"] in states, timeout), self.status(jid)
        return self.status(jid)

    def files(self):
        d = os.path.join(self.state, "jobs")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


@pytest.fixture
def agents(tmp_path):
    """agents(*options, state=DIR) -> Agent: an agent on 127.0.0.1:0 with an
    operator and a viewer token. Every agent is stopped (SIGTERM, then
    SIGKILL) and every job pid seen is killed by PID when the test ends."""
    tokens = tmp_path / "tokens"
    hashes = [subprocess.run([BIN, "server", "--hash-token"], input=t + "\n",
                             capture_output=True, text=True, check=True).stdout.strip()
              for t in (TOKEN, VIEWER)]
    tokens.write_text(f"ctl operator {hashes[0]}\nro viewer {hashes[1]}\n")
    started, pids = [], []

    def new(*opts, state=None):
        state = state or str(tmp_path / f"agent{len(started)}")
        r, w = os.pipe()
        log = tmp_path / f"agent{len(started)}.log"
        with open(log, "w") as lf:
            p = subprocess.Popen([BIN, "agent", "--listen", "127.0.0.1:0", "--tokens",
                                  str(tokens), "--state-dir", state, "--name", "jobs1",
                                  "--notify-fd", str(w), *opts], pass_fds=(w,),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=lf)
        os.close(w)
        started.append((p, log))
        line = os.read(r, 64).decode()
        os.close(r)
        assert line.startswith("ready "), log.read_text()
        a = Agent(p, int(line.split()[1]), state)
        a.pids = pids
        return a

    yield new
    for p, _ in started:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for pid, st in pids:
        if st is not None and start_time(pid) == st:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for _, log in started:  # the agent's log: every job start/end, and no sanitizer report
        text = log.read_text()
        assert "Sanitizer" not in text and "runtime error" not in text, text


def children(pid):
    """[(child pid, state letter)] of pid's children, from /proc."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append((int(p), fields[0]))
    return out


def track(a, status):
    """Remember a job's pid (and start time) for the finalizer; returns the pid."""
    pid = status["pid"]
    if pid:
        a.pids.append((pid, start_time(pid)))
    return pid


def read_all(a, jid, piece):
    """The job's whole stdout, asked for `piece` bytes at a time, until X-Job-Eof."""
    out, calls = b"", 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st, (data, h) = a.call("GET", f"/jobs/{jid}/output?offset={len(out)}&max={piece}",
                               raw=True)
        assert st == 200 and len(data) <= piece
        assert h["Content-Type"] == "application/octet-stream"
        out += data
        calls += 1
        if h["X-Job-Eof"] == "1":
            assert h["X-Job-State"] in ("exited", "killed", "timed_out")
            return out, calls
        if not data:
            time.sleep(0.05)
    raise AssertionError("no X-Job-Eof: 1 within 20 s")


def test_command_output_in_pieces_exit_code_and_stderr_tail(agents):
    a = agents("--allow-commands")
    st, h = a.call("GET", "/health", token=None)
    assert st == 200 and h["commands"] is True and h["jobs"] == 0
    cmd = "for i in $(seq 1 200); do echo line$i; done; echo oops >&2; exit 3"
    j = a.start({"kind": "command", "command": cmd, "name": "lines"})
    assert j["id"].startswith("j") and len(j["id"]) == 17 and j["state"] == "running"
    track(a, j)
    out, calls = read_all(a, j["id"], 100)
    expected = "".join(f"line{i}\n" for i in range(1, 201)).encode()
    assert out == expected and calls >= len(expected) // 100
    s = a.wait_state(j["id"], ["exited"], 5)
    assert s["exit"] == 3 and s["signal"] is None and s["stderr_tail"] == "oops\n"
    assert s["stdout_bytes"] == len(expected) and not s["truncated"]
    assert s["name"] == "lines" and s["kind"] == "command" and s["duration_ms"] >= 0
    assert not alive(j["pid"])
    st, lst = a.call("GET", "/jobs", token=VIEWER)
    assert st == 200 and [x["id"] for x in lst["jobs"]] == [j["id"]]
    # the stderr tail keeps the last 4 KiB, as valid UTF-8
    j2 = a.start({"kind": "command",
                  "command": "head -c 10000 /dev/zero | tr '\\0' x >&2; printf '\\377end' >&2"})
    track(a, j2)
    s2 = a.wait_state(j2["id"], ["exited"], 10)
    assert len(s2["stderr_tail"].encode()) <= 4096 + 3 and s2["stderr_tail"].endswith("\ufffdend")
    # every ended job is reaped: the agent has no zombie children
    assert not [c for c in children(a.proc.pid) if c[1] == "Z"], children(a.proc.pid)


def test_timeout_kills_the_job_and_its_process_group(agents):
    a = agents("--allow-commands")
    j = a.start({"kind": "command", "command": "sleep 61 & echo $!; sleep 60",
                 "timeout_ms": 500})
    pid = track(a, j)
    assert wait_for(lambda: a.status(j["id"])["stdout_bytes"] > 0, 5)
    st, (data, _) = a.call("GET", f"/jobs/{j['id']}/output", raw=True)
    child = int(data.split()[0])
    a.pids.append((child, start_time(child)))
    assert alive(pid) and alive(child)
    s = a.wait_state(j["id"], ["timed_out"], 5)
    assert s["signal"] == signal.SIGTERM and s["exit"] is None
    assert wait_for(lambda: not alive(pid) and not alive(child), 3)
    assert not [c for c in children(a.proc.pid) if c[1] == "Z"], children(a.proc.pid)


def test_a_server_leaving_the_group_just_after_its_command_ends_lives(agents):
    """A daemon's fork calls setsid a moment after its starter exits: the
    agent gives what is still in the job's group a grace to leave; what stays
    (a bare `cmd &`) is killed."""
    a = agents("--allow-commands")
    late = a.start({"kind": "command", "command": "(sleep 0.3; exec setsid sleep 61) & echo $!"})
    stay = a.start({"kind": "command", "command": "sleep 62 & echo $!"})
    pids = {}
    for name, j in (("late", late), ("stay", stay)):
        track(a, j)
        out, _ = read_all(a, j["id"], 100)
        pids[name] = int(out.split()[0])
        a.pids.append((pids[name], start_time(pids[name])))
    for j in (late, stay):
        assert a.wait_state(j["id"], ["exited"], 10)["exit"] == 0
    assert not alive(pids["stay"])
    assert alive(pids["late"]) and os.getpgid(pids["late"]) == pids["late"]
    os.kill(pids["late"], signal.SIGKILL)
    assert not [c for c in children(a.proc.pid) if c[1] == "Z"], children(a.proc.pid)


def test_unrenewed_lease_kills_the_job_renewed_one_lives(agents):
    a = agents("--allow-commands")
    lease = 1.0
    gone = a.start({"kind": "command", "command": "sleep 60", "lease_ms": int(lease * 1000)},
                   session="dying")
    kept = a.start({"kind": "command", "command": "sleep 60", "lease_ms": int(lease * 1000)},
                   session="renewed")
    t0 = time.monotonic()
    p_gone, p_kept = track(a, gone), track(a, kept)
    after = None
    while after is None and time.monotonic() - t0 < lease + 2.0:
        a.call("POST", "/sessions/renewed/renew", {"lease_ms": 1000})  # only the other one
        if not alive(p_gone):
            after = time.monotonic() - t0
        time.sleep(0.01)
    assert after is not None, "the job outlived its lease by 2 s"
    print(f"job killed {after * 1000:.0f} ms after its start (lease {lease * 1000:.0f} ms)")
    assert lease - 0.2 <= after <= lease + 2.0
    s = a.wait_state(gone["id"], ["killed"], 1)  # reaped within the reaper's 50 ms
    assert s["signal"] == signal.SIGTERM
    # the other session renews: its job outlives several leases
    for _ in range(6):
        st, r = a.call("POST", "/sessions/renewed/renew", {"lease_ms": 1000})
        assert st == 200 and r["jobs"] == [kept["id"]]
        time.sleep(0.4)
    assert alive(p_kept) and a.status(kept["id"])["state"] == "running"
    assert wait_for(lambda: not alive(p_kept), lease + 3.0)


def test_on_lease_end_run_starts_a_pending_job_at_lease_end(agents):
    a = agents("--allow-commands")
    t0 = time.monotonic()
    j = a.start({"kind": "command", "command": "echo restarted", "delay_ms": 600000,
                 "lease_ms": 800, "on_lease_end": "run"})
    dropped = a.start({"kind": "command", "command": "echo never", "delay_ms": 600000,
                       "lease_ms": 800})
    assert j["state"] == "pending" and j["pid"] is None
    time.sleep(0.3)
    assert a.status(j["id"])["state"] == "pending"
    s = a.wait_state(j["id"], ["exited"], 5)
    print(f"on_lease_end run job ended {(time.monotonic() - t0) * 1000:.0f} ms after it was "
          "posted (lease 800 ms)")
    assert s["exit"] == 0
    st, (data, h) = a.call("GET", f"/jobs/{j['id']}/output", raw=True)
    assert data == b"restarted\n" and h["X-Job-Eof"] == "1"
    d = a.wait_state(dropped["id"], ["killed"], 1)  # its lease ends a moment later
    assert d["state"] == "killed" and d["pid"] is None and d["stdout_bytes"] == 0


def test_agent_sigkilled_restarted_kills_the_jobs_left_running(agents, tmp_path):
    state = str(tmp_path / "crash")
    a = agents("--allow-commands", state=state)
    j = a.start({"kind": "command", "command": "sleep 60", "lease_ms": 60000})
    later = a.start({"kind": "command", "command": "echo after restart", "delay_ms": 600000,
                     "lease_ms": 60000, "on_lease_end": "run"})
    pid = track(a, j)
    assert sorted(a.files()) == sorted([j["id"] + ".json", j["id"] + ".out",
                                        later["id"] + ".json"])
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    time.sleep(0.3)
    assert alive(pid)  # the job outlives the agent that started it...
    b = agents("--allow-commands", state=state)
    assert wait_for(lambda: not alive(pid), 3)  # ...until the next agent starts
    # the pending on_lease_end run job starts at once under the new agent
    s = b.wait_state(later["id"], ["exited"], 5)
    st, (data, _) = b.call("GET", f"/jobs/{later['id']}/output", raw=True)
    assert data == b"after restart\n"
    st, _ = b.call("GET", f"/jobs/{j['id']}")
    assert st == 404
    assert j["id"] + ".out" not in b.files() and j["id"] + ".json" not in b.files()


def test_agent_stopping_kills_its_jobs(agents):
    a = agents("--allow-commands")
    j = a.start({"kind": "command", "command": "sleep 60", "lease_ms": 60000})
    pid = track(a, j)
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=10) == 0
    assert not alive(pid) and a.files() == []
    log = open(os.path.join(os.path.dirname(a.state), "agent0.log")).read()
    assert f"job {j['id']} (command, command) started" in log and "the agent is stopping" in log


def test_commands_refused_without_allow_commands_probe_workload_run_own_binary(agents):
    a = agents()
    st, h = a.call("GET", "/health", token=None)
    assert h["commands"] is False
    st, r = a.call("POST", "/jobs", {"kind": "command", "command": "true", "session": "s1"})
    assert st == 403 and r["error"]["exit"] == 5 and "--allow-commands" in r["error"]["message"]
    st, r = a.call("POST", "/jobs", {"kind": "workload", "args": ["--help"], "session": "s1",
                                     "env": {"LD_PRELOAD": "/nonexistent.so"}})
    assert st == 403 and r["error"]["exit"] == 5 and "dynamic loader" in r["error"]["message"]
    # kind workload runs the agent's own binary: `faultline workload --help`
    j = a.start({"kind": "workload", "args": ["--help"]})
    track(a, j)
    s = a.wait_state(j["id"], ["exited"], 10)
    st, (data, _) = a.call("GET", f"/jobs/{j['id']}/output", raw=True)
    assert s["exit"] == 0 and data.startswith(b"usage: faultline workload")
    # ...with FAULTLINE_NO_COMMANDS=1 (this agent refuses commands) and the job's env
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)  # accepts, never answers: the workload waits on it
    try:
        j = a.start({"kind": "workload", "env": {"JOBS_TEST": "yes"},
                     "args": ["--client", "http", "--workload", "register", "--target",
                              f"http://127.0.0.1:{srv.getsockname()[1]}", "--timeout", "20s",
                              "--out", "/dev/null"]})
        pid = track(a, j)
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"FAULTLINE_NO_COMMANDS=1" in env and b"JOBS_TEST=yes" in env
        assert b"FAULTLINE_JOB_ID=" + j["id"].encode() in env
        assert os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(BIN)
        assert argv[1] == b"workload"
        assert os.getpgid(pid) == pid  # its own process group
        st, r = a.call("DELETE", f"/jobs/{j['id']}")
        assert st == 200 and r["state"] == "killed"
        assert wait_for(lambda: not alive(pid), 4)
    finally:
        srv.close()


def test_delete_kills_the_job_and_removes_its_files(agents):
    a = agents("--allow-commands")
    j = a.start({"kind": "command", "command": "echo hello; exec sleep 60", "lease_ms": 60000})
    pid = track(a, j)
    assert wait_for(lambda: a.status(j["id"])["stdout_bytes"] == 6, 5)
    assert j["id"] + ".out" in a.files() and j["id"] + ".json" in a.files()
    st, _ = a.call("DELETE", f"/jobs/{j['id']}", token=VIEWER)
    assert st == 403
    st, r = a.call("DELETE", f"/jobs/{j['id']}")
    assert st == 200 and r["state"] == "killed" and r["stdout_bytes"] == 6
    assert wait_for(lambda: not alive(pid), 4)
    assert wait_for(lambda: a.files() == [], 2), a.files()
    st, r = a.call("GET", f"/jobs/{j['id']}")
    assert st == 404 and r["error"]["exit"] == 3
    st, r = a.call("DELETE", f"/jobs/{j['id']}")
    assert st == 404


def test_output_cap_truncates_and_says_so(agents):
    a = agents("--allow-commands", "--job-output-max", "1000")
    j = a.start({"kind": "command", "command": "head -c 300000 /dev/zero | tr '\\0' y"})
    track(a, j)
    s = a.wait_state(j["id"], ["exited"], 10)
    assert s["exit"] == 0 and s["stdout_bytes"] == 1000 and s["truncated"] is True
    out, _ = read_all(a, j["id"], 4096)
    assert out == b"y" * 1000
    assert os.path.getsize(os.path.join(a.state, "jobs", j["id"] + ".out")) == 1000


def test_bad_requests_and_the_job_limit(agents, fl, tmp_path):
    a = agents("--allow-commands")
    bad = [
        ({"kind": "command", "command": "true"}, "session"),
        ({"kind": "shell", "command": "true", "session": "s"}, "not a job kind"),
        ({"kind": "command", "session": "s"}, "needs \"command\""),
        ({"kind": "command", "command": "x" * 20000, "session": "s"}, "at most 16384"),
        ({"kind": "workload", "command": "true", "session": "s"}, "args"),
        ({"kind": "workload", "args": ["a"] * 300, "session": "s"}, "at most 256"),
        ({"kind": "workload", "args": [1], "session": "s"}, "args[0]"),
        ({"kind": "command", "command": "true", "session": "s", "lease_ms": 5}, "lease_ms"),
        ({"kind": "command", "command": "true", "session": "s", "timeout_ms": -1}, "timeout_ms"),
        ({"kind": "command", "command": "true", "session": "s", "delay_ms": 10 ** 10},
         "delay_ms"),
        ({"kind": "command", "command": "true", "session": "s", "on_lease_end": "stay"},
         "on_lease_end"),
        ({"kind": "command", "command": "true", "session": "s", "env": {"1X": "y"}}, "env"),
        ({"kind": "probe", "session": "s", "env": {"FAULTLINE_NO_COMMANDS": "0"}},
         "the agent's to set"),
        ({"kind": "command", "command": "true", "session": "s", "color": 1}, "unknown field"),
    ]
    for body, words in bad:
        st, r = a.call("POST", "/jobs", body)
        assert st == 400 and r["error"]["exit"] == 2 and words in r["error"]["message"], (body, r)
    st, r = a.call("POST", "/jobs", {"kind": "command", "command": "true", "session": "s"},
                   token=VIEWER)
    assert st == 403
    st, r = a.call("GET", "/jobs/jffffffffffffffff/output?offset=x")
    assert st == 400 and "offset" in r["error"]["message"]
    st, r = a.call("GET", "/jobs/jffffffffffffffff/output")
    assert st == 404
    assert a.files() == []
    # 256 jobs held at once (pending ones cost no process); the 257th is refused
    for i in range(256):
        a.start({"kind": "command", "command": "true", "delay_ms": 600000})
    st, r = a.call("POST", "/jobs", {"kind": "command", "command": "true", "session": "s"})
    assert st == 429 and r["error"]["exit"] == 4 and "256" in r["error"]["message"]
    # bad agent options
    rc, _, err = fl("agent", "--job-output-max", "lots", "--state-dir", str(tmp_path / "x"))
    assert rc == 2 and "--job-output-max" in err


def test_recover_all_hosts_ends_the_jobs_as_their_leases_end_would(agents, fl):
    """`recover --all --hosts` ends every job as its lease's end would: a
    running "kill" job's process is gone (by pid), a pending "kill" job is
    dropped, a pending on_lease_end "run" job (a restart) starts at once
    instead of after its delay; the command prints each one."""
    a = agents("--allow-commands")
    running = a.start({"kind": "command", "command": "sleep 300", "lease_ms": 60000})
    pid = track(a, running)
    restart = a.start({"kind": "command", "command": "echo restarted", "delay_ms": 600000,
                       "lease_ms": 60000, "on_lease_end": "run"})
    dropped = a.start({"kind": "command", "command": "echo never", "delay_ms": 600000,
                       "lease_ms": 60000})
    assert alive(pid) and a.status(restart["id"])["state"] == "pending"
    rc, out, err = fl("recover", "--all", "--hosts", f"127.0.0.1:{a.port}", "--token", TOKEN)
    assert rc == 0, err
    assert f"job {running['id']} killed" in out and f"job {dropped['id']} killed" in out, out
    assert f"job {restart['id']} started" in out, out
    assert wait_for(lambda: not alive(pid), 5)
    assert a.wait_state(running["id"], ["killed"], 5)["state"] == "killed"
    d = a.status(dropped["id"])
    assert d["state"] == "killed" and d["pid"] is None, d
    s = a.wait_state(restart["id"], ["exited"], 5)
    assert s["exit"] == 0
    st, (data, _) = a.call("GET", f"/jobs/{restart['id']}/output", raw=True)
    assert data == b"restarted\n"
    # the reply over HTTP names them; a second recover finds nothing left to end
    st, rep = a.call("POST", "/recover", {})
    assert st == 200 and rep["jobs_killed"] == [] and rep["jobs_started"] == [], rep
    assert rep["reverted"] == [] and rep["host"] == "jobs1", rep
