"""process.kill and process.pause on processes the test starts itself.

Targets are `sleep` processes with a command line (and, for --name, a comm)
unique to the test, so no selector can reach anything else on the host."""
import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BIN, alive, journal_records, proc_state, wait_for
from test_workload import postgres_server  # noqa: F401 (a fixture: a real PostgreSQL)

pytestmark = pytest.mark.usefixtures("no_leftovers")


def marker():
    """A sleep duration unique to this test: `sleep 1000.<digits>`."""
    return "1000." + str(uuid.uuid4().int % 10**9)


@pytest.fixture
def sleepers(spawn):
    def start(n, name=None, tmp=None):
        m = marker()
        argv0 = "/bin/sleep"
        if name:
            # comm is the executable's file name: a symlink renames it.
            argv0 = os.path.join(tmp, name)
            os.symlink("/bin/sleep", argv0)
        procs = [spawn([argv0, m]) for _ in range(n)]
        assert wait_for(lambda: all(proc_state(p.pid) for p in procs), 2)
        return procs, "^" + re.escape(argv0) + " " + re.escape(m) + "$"

    return start


def test_kill_by_pid_kills_only_that_process(fl, sleepers):
    (victim, sibling), _ = sleepers(2)
    rc, out, err = fl("inject", "process.kill", "--pid", victim.pid)
    assert rc == 0, err
    # Really gone (reaped by us with SIGKILL's status), the sibling untouched.
    assert victim.wait(timeout=5) == -signal.SIGKILL
    assert alive(sibling.pid) and proc_state(sibling.pid) == "S"


def test_kill_by_name_with_term(fl, sleepers, tmp_path):
    name = "flt" + uuid.uuid4().hex[:10]
    procs, _ = sleepers(3, name=name, tmp=str(tmp_path))
    rc, out, err = fl("inject", "process.kill", "--name", name, "--mode", "all",
                      "--signal", "TERM")
    assert rc == 0, err
    for p in procs:
        assert p.wait(timeout=5) == -signal.SIGTERM


def test_kill_by_cmdline_mode_fixed_and_signal_number(fl, sleepers):
    procs, rx = sleepers(4)
    rc, out, err = fl("inject", "process.kill", "--cmdline", rx, "--mode", "fixed:2",
                      "--signal", "9", "--seed", 5)
    assert rc == 0, err
    assert "killed 2 of 4 processes" in err and "(2 gone)" in err, err
    assert wait_for(lambda: sum(p.poll() is not None for p in procs) == 2, 5)
    assert sum(alive(p.pid) for p in procs) == 2


def test_dry_run_shows_the_seeded_picks_and_touches_nothing(fl, sleepers):
    procs, rx = sleepers(6)
    runs = [fl("inject", "process.kill", "--cmdline", rx, "--mode", "fixed-percent:50",
               "--seed", 77, "--dry-run") for _ in range(2)]
    for rc, out, err in runs:
        assert rc == 0, err
        assert "3 of 6 processes" in out, out
    assert runs[0][1] == runs[1][1]
    assert all(alive(p.pid) for p in procs)


def test_kill_by_pidfile(fl, sleepers, tmp_path):
    (p,), _ = sleepers(1)
    pf = tmp_path / "x.pid"
    pf.write_text(f"{p.pid}\n")
    rc, out, err = fl("inject", "process.kill", "--pidfile", pf, "--signal", "SIGKILL")
    assert rc == 0, err
    assert p.wait(timeout=5) == -signal.SIGKILL


def test_kill_by_cgroup(fl, sleepers):
    from conftest import cgroup2_mount
    mnt = cgroup2_mount()
    if not mnt:
        pytest.skip("no cgroup2")
    (p, other), _ = sleepers(2)
    cg = os.path.join(mnt, "fltest-" + uuid.uuid4().hex[:8])
    os.mkdir(cg)
    try:
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))
        rc, out, err = fl("inject", "process.kill", "--cgroup", os.path.basename(cg))
        assert rc == 0, err
        assert p.wait(timeout=5) == -signal.SIGKILL
        assert alive(other.pid)
    finally:
        wait_for(lambda: not open(os.path.join(cg, "cgroup.procs")).read().strip(), 5)
        os.rmdir(cg)


def test_pause_then_resume(fl, sleepers):
    (p, sibling), _ = sleepers(2)
    rc, out, err = fl("inject", "process.pause", "--pid", p.pid, "--detach", "--lease", "30s")
    assert rc == 0, err
    fid = out.strip().splitlines()[-1]
    assert proc_state(p.pid) == "T"
    assert proc_state(sibling.pid) == "S"
    rc, out, err = fl("recover", fid)
    assert rc == 0, err
    assert wait_for(lambda: proc_state(p.pid) == "S", 2)
    assert alive(p.pid)


def test_pause_foreground_duration(fl_popen, sleepers):
    (p,), rx = sleepers(1)
    inj = fl_popen("inject", "process.pause", "--cmdline", rx, "--duration", "1500ms")
    assert wait_for(lambda: proc_state(p.pid) == "T", 5), inj.stderr
    assert inj.wait(timeout=10) == 0
    assert proc_state(p.pid) == "S"


def stopped_set(procs):
    return {p.pid for p in procs if proc_state(p.pid) == "T"}


def test_pause_mode_fixed_is_seeded(fl, sleepers):
    procs, rx = sleepers(5)
    picks = []
    for seed in (1234, 1234, 99):
        rc, out, err = fl("inject", "process.pause", "--cmdline", rx, "--mode", "fixed:2",
                          "--seed", seed, "--detach", "--lease", "30s")
        assert rc == 0, err
        fid = out.strip().splitlines()[-1]
        picks.append(stopped_set(procs))
        assert len(picks[-1]) == 2, picks
        assert fl("recover", fid)[0] == 0
        assert wait_for(lambda: not stopped_set(procs), 2)
    assert picks[0] == picks[1], "same seed, same processes"
    # Another seed may pick the same pair by chance (1 in 10); 99 does not.
    assert picks[2] != picks[0]


def test_pause_revert_skips_recycled_identity(fl, sleepers):
    """Revert only continues the process recorded at plan: a process that
    died in between is simply skipped, and revert still succeeds."""
    (p, q), _ = sleepers(2)
    rc, out, err = fl("inject", "process.pause", "--pid", p.pid, "--pid", q.pid, "--detach",
                      "--lease", "30s")
    assert rc == 0, err
    fid = out.strip().splitlines()[-1]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    rc, out, err = fl("recover", fid)
    assert rc == 0, err
    assert wait_for(lambda: proc_state(q.pid) == "S", 2)


@pytest.mark.parametrize("args,code,text", [
    (["--pid", "1"], 4, "pid 1"),
    (["--name", "no-such-proc"], 3, "no-such-proc"),
    (["--cmdline", "a(b"], 2, "regular expression"),
    (["--name", "x", "--mode", "fixed:0"], 2, "mode"),
    (["--name", "x", "--mode", "fixed-percent:130"], 2, "percent"),
    ([], 2, "--pid"),
])
def test_pause_refusals(fl, args, code, text):
    rc, out, err = fl("inject", "process.pause", *args, "--duration", "1s")
    assert rc == code, err
    assert text in err


def test_kill_refuses_self_and_bad_signal(fl, sleepers):
    (p,), _ = sleepers(1)
    rc, out, err = fl("inject", "process.kill", "--pid", os.getpid())
    assert rc == 4, err
    assert "faultline itself" in err or "shell" in err
    rc, out, err = fl("inject", "process.kill", "--pid", p.pid, "--signal", "NOPE")
    assert rc == 2 and "signal" in err
    rc, out, err = fl("inject", "process.kill", "--pid", p.pid, "--signal", "STOP")
    assert rc == 2 and "process.pause" in err
    assert alive(p.pid) and proc_state(p.pid) == "S"
    rc, out, err = fl("inject", "process.kill", "--pid", p.pid, "--duration", "5s")
    assert rc == 2, "an instant fault cannot be held"
    assert alive(p.pid)


# ---- overlapping pauses compose: the process runs again only when the last
# pause on it ends (docs/faults-process.md, "Overlapping pauses").

def states_for(pid, secs):
    """pid's states sampled for secs seconds, in order."""
    seen, end = [], time.time() + secs
    while time.time() < end:
        seen.append(proc_state(pid))
        time.sleep(0.02)
    return seen


def test_overlapping_foreground_pauses_hold_until_the_later_ends(fl_popen, fl, sleepers):
    (p,), _ = sleepers(1)
    a = fl_popen("inject", "process.pause", "--pid", p.pid, "--duration", "3s")
    assert wait_for(lambda: proc_state(p.pid) == "T", 5), a.stderr.read() if a.poll() else ""
    time.sleep(0.3)
    b = fl_popen("inject", "process.pause", "--pid", p.pid, "--duration", "5s")

    def applied():
        rc, out, _ = fl("status", "--json")
        return rc == 0 and [f["state"] for f in json.loads(out)["faults"]] == ["applied"] * 2

    # both hold before A ends (on a loaded machine B can take a while to apply)
    assert wait_for(applied, 10)
    assert a.poll() is None, "A ended before B was applied: the machine is too slow for this test"
    assert a.wait(timeout=15) == 0, a.stderr.read()
    assert "reverted after 3.0s" in a.stderr.read()
    # A has ended; B, which ends 2s later at the earliest, still holds the
    # process: it stays stopped (before the fix it ran again at once).
    seen = states_for(p.pid, 1.0)
    assert set(seen) == {"T"}, f"ran while B held it: {seen}"
    assert b.wait(timeout=15) == 0
    err = b.stderr.read()
    assert "holding for 5.0s" in err and "reverted after 5.0s" in err, err
    assert wait_for(lambda: proc_state(p.pid) == "S", 2)


def test_overlapping_detached_pauses_hold_until_the_later_ends(fl, sleepers, state_dir):
    (p,), _ = sleepers(1)
    rc, out, err = fl("inject", "process.pause", "--pid", p.pid, "--detach", "--duration", "1s")
    assert rc == 0, err
    a = out.strip().splitlines()[-1]
    time.sleep(0.3)
    rc, out, err = fl("inject", "process.pause", "--pid", p.pid, "--detach", "--duration", "3s")
    assert rc == 0, err
    b = out.strip().splitlines()[-1]
    # The guardian reverts A at its end; B still holds the process.
    assert wait_for(lambda: a + ".json" not in journal_records(state_dir), 10)
    assert b + ".json" in journal_records(state_dir)
    seen = states_for(p.pid, 1.0)
    assert set(seen) == {"T"}, f"ran while B held it: {seen}"
    assert wait_for(lambda: b + ".json" not in journal_records(state_dir), 10)
    assert wait_for(lambda: proc_state(p.pid) == "S", 2)


def test_recovering_one_pause_keeps_the_other(fl, sleepers):
    """Reverting one fault by hand (recover ID) releases only that fault's hold."""
    (p,), _ = sleepers(1)
    ids = []
    for _ in range(2):
        rc, out, err = fl("inject", "process.pause", "--pid", p.pid, "--detach", "--lease", "30s")
        assert rc == 0, err
        ids.append(out.strip().splitlines()[-1])
    rc, out, err = fl("recover", ids[1])
    assert rc == 0, err
    assert "stays stopped: fault %s still pauses it" % ids[0] in err, err
    time.sleep(0.2)
    assert proc_state(p.pid) == "T"
    assert fl("recover", ids[0])[0] == 0
    assert wait_for(lambda: proc_state(p.pid) == "S", 2)


def test_someone_elses_stop_survives_overlapping_pauses(fl, sleepers):
    """A process stopped before any fault stays stopped after both end."""
    (p,), _ = sleepers(1)
    os.kill(p.pid, signal.SIGSTOP)
    assert wait_for(lambda: proc_state(p.pid) == "T", 2)
    ids = []
    for _ in range(2):
        rc, out, err = fl("inject", "process.pause", "--pid", p.pid, "--detach", "--lease", "30s")
        assert rc == 0, err
        ids.append(out.strip().splitlines()[-1])
    for fid in ids:
        assert fl("recover", fid)[0] == 0
    time.sleep(0.2)
    assert proc_state(p.pid) == "T"
    os.kill(p.pid, signal.SIGCONT)


def test_overlapping_pauses_in_one_experiment(state_dir, sleepers, tmp_path):
    (p,), _ = sleepers(1)
    exp = tmp_path / "overlap.yaml"
    exp.write_text(f"""title: two overlapping pauses on one process
duration: 5s
targets:
  victim:
    pid: {p.pid}
steady_state:
  interval: 200ms
  preflight: 200ms
  probes:
    - name: ok
      type: command
      command: "true"
method:
  - name: pause-a
    kind: process.pause
    target: victim
    start: 200ms
    duration: 1s
  - name: pause-b
    kind: process.pause
    target: victim
    start: 500ms
    duration: 3s
""")
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    run = subprocess.Popen([BIN, "run", str(exp), "--db", str(tmp_path / "h.db")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    states, lines = {}, []
    try:
        for line in run.stdout:
            lines.append(line)
            for step in ("pause-a", "pause-b"):
                if step in line and " reverted " in line:
                    time.sleep(0.2)
                    states[step] = proc_state(p.pid)
        assert run.wait(timeout=30) == 0, "".join(lines)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert states == {"pause-a": "T", "pause-b": "S"}, (states, "".join(lines))


# ---- --pidfile reads the pid on the first line (docs/faults-process.md)

def test_pause_by_postgres_postmaster_pid(fl, postgres_server):
    """PostgreSQL's own postmaster.pid (pid, data directory, start time,
    port, ... one per line) selects the postmaster."""
    pm = postgres_server["pid"]
    pidfile = os.path.join(os.readlink(f"/proc/{pm}/cwd"), "postmaster.pid")
    with open(pidfile) as f:
        lines = f.read().splitlines()
    assert len(lines) > 3 and lines[0] == str(pm), lines
    rc, out, err = fl("inject", "process.pause", "--pidfile", pidfile, "--detach", "--lease",
                      "30s")
    assert rc == 0, err
    fid = out.strip().splitlines()[-1]
    try:
        assert proc_state(pm) == "T"
    finally:
        assert fl("recover", fid)[0] == 0
    assert wait_for(lambda: proc_state(pm) not in ("T", None), 2)


@pytest.mark.parametrize("text,ok", [
    ("{pid}\n/var/lib/data\n1700000000\n5432\n", True),
    ("  {pid}  \nmore\n", True),
    ("{pid}", True),
    ("x{pid}\n", False),
    ("{pid} 12\n", False),
    ("\n{pid}\n", False),
    ("99999999999999999999\n", False),
])
def test_pidfile_first_line(fl, sleepers, tmp_path, text, ok):
    (p,), _ = sleepers(1)
    pf = tmp_path / "x.pid"
    pf.write_text(text.format(pid=p.pid))
    rc, out, err = fl("inject", "process.pause", "--pidfile", pf, "--detach", "--lease", "30s")
    if ok:
        assert rc == 0, err
        assert proc_state(p.pid) == "T"
        assert fl("recover", out.strip().splitlines()[-1])[0] == 0
    else:
        assert rc == 3, err
        assert f"--pidfile {pf} does not hold a process id on its first line" in err, err
        assert proc_state(p.pid) == "S"


# ---- messages: misspellings get a suggestion; zero is never a duration
# (docs/cli.md)

@pytest.mark.parametrize("args,text", [
    (["process.pasue", "--pid", "2"],
     "unknown fault kind 'process.pasue' (did you mean process.pause?)"),
    (["netwrk.partition", "--help"],
     "unknown fault kind 'netwrk.partition' (did you mean network.partition?)"),
    (["process.pause", "--pidd", "2"], "process.pause does not take --pidd (did you mean --pid?)"),
    (["process.pause", "--pid", "2", "--duraton", "1s"],
     "does not take --duraton (did you mean --duration?)"),
    (["process.pause", "--pid", "2", "--detach", "--leas", "1m"], "(did you mean --lease?)"),
    (["process.pause", "--pid", "2", "--duration", "0"],
     "--duration: 0 is not accepted (it means neither 'forever' nor 'the default'): leave "
     "--duration out"),
    (["process.pause", "--pid", "2", "--detach", "--lease", "0"],
     "--lease: 0 is not accepted"),
    (["process.pause", "--pid", "2", "--detach", "--lease", "500ms"],
     "--lease: '500ms' is shorter than 1.0s, the least --lease takes"),
    (["stress.cpu", "--hard-stop", "0"], "--hard-stop: 0 is not accepted"),
])
def test_usage_messages(fl, state_dir, args, text):
    rc, out, err = fl("inject", *args)
    assert rc == 2, err
    assert text in err, err
    assert journal_records(state_dir) == []


def test_unknown_kind_far_from_any_gets_no_guess(fl):
    rc, out, err = fl("inject", "zzz")
    assert rc == 2
    assert "unknown fault kind 'zzz'; run `faultline inject --help`" in err, err


def test_zero_duration_is_refused_in_experiments_too(fl, tmp_path):
    """The same rule in YAML: duration 0 and hard-stop 0 are refused."""
    exp = tmp_path / "zero.yaml"
    exp.write_text("""title: zero
duration: 2s
steady_state:
  probes:
    - {name: ok, type: command, command: "true"}
method:
  - kind: stress.cpu
    duration: 0s
  - kind: stress.cpu
    hard-stop: 0
""")
    rc, out, err = fl("validate", str(exp))
    assert rc == 2, err
    assert f"{exp}:8:15: duration must be longer than 0" in err, err
    assert f"{exp}:10:16: stress.cpu: --hard-stop: 0 is not accepted" in err, err
