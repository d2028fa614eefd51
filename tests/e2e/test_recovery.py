"""What faultline leaves behind, and what it says when it cannot work:
failed applies, damaged journal records, the state directory, guardian kills.

Faults act on `sleep` processes the tests start (killed by PID in
finalizers) and on tmpfs mounts and namespaces the tests create."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from test_core import BIN, fl, guardian_pids, proc_state, records, wait_for
from test_core import sleeper, state  # noqa: F401 (fixtures)


@pytest.fixture
def mounts():
    """mount(path, options) mounts a small tmpfs; unmounted after the test."""
    done = []

    def mount(path, options="size=4m"):
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], check=True)
        done.append(path)
        return path

    yield mount
    for path in reversed(done):
        subprocess.run(["umount", "-l", path], capture_output=True)


def tree(path):
    """Every path under `path` (to see that nothing was created)."""
    out = []
    for root, dirs, files in os.walk(path):
        out += [os.path.join(root, n) for n in dirs + files]
    return sorted(out)


# ---- the state directory ---------------------------------------------------

def test_read_only_state_dir_says_why(tmp_path, mounts, sleeper):
    ro = mounts(str(tmp_path / "ro"), "ro,size=1m")
    sd = os.path.join(ro, "state")
    p = sleeper()
    r = fl("inject", "process.pause", "--pid", str(p.pid), "--duration", "1s",
           "--state-dir", sd)
    assert r.returncode == 7, r.stderr
    msg = r.stderr.strip().splitlines()[-1]
    assert msg == (f"faultline: error: cannot use state directory {sd}: cannot create {sd}: "
                   "Read-only file system (choose another with --state-dir or "
                   "FAULTLINE_STATE_DIR)"), msg
    assert "needs root" not in msg
    assert proc_state(p.pid) == "S"


def test_missing_state_dir_says_why(tmp_path, sleeper):
    sd = "/proc/faultline-no-such-dir/state"
    p = sleeper()
    r = fl("inject", "process.pause", "--pid", str(p.pid), "--duration", "1s",
           "--state-dir", sd)
    assert r.returncode == 7, r.stderr
    msg = r.stderr.strip().splitlines()[-1]
    assert msg == ("faultline: error: cannot use state directory /proc/faultline-no-such-dir/"
                   "state: cannot create /proc/faultline-no-such-dir: No such file or directory"
                   " (choose another with --state-dir or FAULTLINE_STATE_DIR)"), msg
    # A state directory that is a file is an error for readers too.
    f = tmp_path / "file"
    f.write_text("x")
    r = fl("status", "--state-dir", str(f))
    assert r.returncode == 7 and "Not a directory" in r.stderr, r.stderr


def test_reading_commands_create_nothing(tmp_path):
    sd = str(tmp_path / "a" / "state")
    for args in (["status"], ["status", "--json"], ["recover", "0badf00d"],
                 ["recover", "--forget", "0badf00d"]):
        r = fl(*args, "--state-dir", sd)
        assert r.returncode in (0, 3), (args, r.stderr)
        assert not os.path.exists(tmp_path / "a"), args
    r = fl("status", "--json", "--state-dir", sd)
    assert json.loads(r.stdout) == {"guardian": False, "faults": [], "damaged": []}
    # An existing, empty state directory gets nothing new either.
    os.makedirs(os.path.join(sd, "faults"))
    before = tree(sd)
    fl("status", "--state-dir", sd)
    fl("recover", "0badf00d", "--state-dir", sd)
    assert tree(sd) == before


# ---- a fault that failed to apply leaves nothing ---------------------------

FILL_REGISTRY = "/var/lib/faultline/fill-dirs"


def registered_fill_dirs():
    try:
        with open(FILL_REGISTRY) as f:
            return [line.strip() for line in f]
    except FileNotFoundError:
        return []


def test_failed_fill_on_read_only_mount_leaves_no_record(state, tmp_path, mounts):
    ro = mounts(str(tmp_path / "ro"), "ro,size=4m")
    r = fl("inject", "disk.fill", "--path", ro, "--size", "1MiB", "--duration", "30s",
           "--detach", state=state)
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr, r.stderr
    assert "revert" not in r.stderr, r.stderr
    assert records(state) == []
    assert ro not in registered_fill_dirs()
    st = json.loads(fl("status", "--json", state=state).stdout)
    assert st["faults"] == [] and st["damaged"] == []
    # The guardian started for the record has nothing to do and exits.
    assert wait_for(lambda: guardian_pids(state) == [], 5)
    log = os.path.join(state, "guardian.log")
    if os.path.exists(log):
        with open(log) as f:
            assert "revert of" not in f.read()


# ---- damaged and forged journal records -------------------------------------

def pause_record(fid, pid, **over):
    """A journal record as inject writes it for a detached process.pause."""
    with open(f"/proc/{pid}/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19])
    rec = {"version": 1, "id": fid, "kind": "process.pause", "state": "applied",
           "params": {"pid": [str(pid)]}, "owner": None,
           "undo": {"pids": [{"pid": pid, "start": start}]},
           "created_ms": 0, "created_wall_ms": 0, "lease_ms": 60000, "lease_until": 0,
           "end_at": 0, "duration_ms": 0, "seed": 1, "description": f"pause pid {pid}"}
    rec.update(over)
    return rec


def put(state, name, text):
    d = os.path.join(state, "faults")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w") as f:
        f.write(text)


def log_lines(state, needle):
    try:
        with open(os.path.join(state, "guardian.log")) as f:
            return [line for line in f if needle in line]
    except FileNotFoundError:
        return []


def test_damaged_records_are_reported_and_forgotten(state, sleeper):
    p = sleeper()
    os.kill(p.pid, signal.SIGSTOP)  # what a truncated pause record leaves behind
    assert wait_for(lambda: proc_state(p.pid) == "T", 2)
    whole = json.dumps(pause_record("aaaa0001", p.pid), indent=2)
    put(state, "aaaa0001", whole[: len(whole) // 2])                     # truncated
    put(state, "aaaa0002", json.dumps(pause_record("aaaa0002", p.pid, kind="process.freeze")))
    put(state, "zz-forged", json.dumps(pause_record("zz-forged", p.pid)))  # non-hex id
    put(state, "aaaa0004", json.dumps(pause_record("0badbeef", p.pid)))  # id differs
    damaged = {"aaaa0001": "aaaa0001.json", "aaaa0002": "unknown fault kind 'process.freeze'",
               "zz-forged": "not a fault id", "aaaa0004": "differs from its file name"}

    r = fl("status", state=state)
    assert r.returncode == 0
    assert "no active faults that faultline can revert" in r.stdout, r.stdout
    assert "4 damaged journal records" in r.stdout and "--forget" in r.stdout
    for name, problem in damaged.items():
        line = [ln for ln in r.stdout.splitlines() if ln.startswith(name + " ")]
        assert line and problem in line[0], (name, r.stdout)
    st = json.loads(fl("status", "--json", state=state).stdout)
    assert st["faults"] == []
    assert sorted(d["id"] for d in st["damaged"]) == sorted(damaged)
    byid = {d["id"]: d for d in st["damaged"]}
    assert byid["aaaa0002"]["kind"] == "process.freeze"
    assert byid["aaaa0002"]["undo"]["pids"][0]["pid"] == p.pid
    assert byid["aaaa0001"]["kind"] is None

    r = fl("recover", "aaaa0001", state=state)
    assert r.returncode == 7 and "recover --forget aaaa0001" in r.stderr, r.stderr
    r = fl("recover", "aaaa0002", state=state)
    assert r.returncode == 7 and "unknown kind" in r.stderr and "--forget" in r.stderr
    r = fl("recover", "--forget", "../../etc/passwd", state=state)
    assert r.returncode == 2, r.stderr
    r = fl("recover", "--forget", "aaaa0009", state=state)
    assert r.returncode == 3 and "no journal record aaaa0009" in r.stderr
    r = fl("recover", "--all", "--forget", "aaaa0001", state=state)
    assert r.returncode == 2
    r = fl("recover", "--all", state=state)
    assert r.returncode == 1, r.stderr
    for name in damaged:
        assert f"journal record {state}/faults/{name}.json cannot be reverted" in r.stderr
    assert sorted(records(state)) == sorted(n + ".json" for n in damaged)
    # The user checks by hand, resumes the process, and discards the records.
    os.kill(p.pid, signal.SIGCONT)
    r = fl("recover", "--forget", *damaged, state=state)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("nothing was reverted") == 4
    assert records(state) == []
    assert fl("status", state=state).stdout == "no active faults\n"


def test_guardian_backs_off_failing_and_damaged_records(state):
    """A revert that keeps failing and a damaged record cost a bounded
    number of log lines, not ten a second."""
    # Sound, but its revert refuses: the undo names a file that is not a fill file.
    fill = {"version": 1, "id": "bbbb0001", "kind": "disk.fill", "state": "applied",
            "params": {"path": "/tmp", "size": 1}, "owner": None,
            "undo": {"dir": "/tmp", "file": "/tmp/not-a-fill-file"},
            "created_ms": 0, "created_wall_ms": 0, "lease_ms": 1000, "lease_until": 0,
            "end_at": 0, "duration_ms": 0, "seed": 1, "description": "forged"}
    put(state, "bbbb0001", json.dumps(fill))
    put(state, "bbbb0002", '{"version": 1, "id": "bbbb0002", "ki')
    r = fl("status", state=state)  # starts the guardian: a sound record is journaled
    assert "bbbb0001" in r.stdout and "bbbb0002" in r.stdout
    assert wait_for(lambda: guardian_pids(state) != [], 3)
    time.sleep(4)
    failing = log_lines(state, "revert of bbbb0001 failed")
    assert 1 <= len(failing) <= 3, failing    # tries at 0, 1, 3 s (then 7, 15, ... 60 s)
    assert "next try in" in failing[-1] and "not a faultline fill file" in failing[-1]
    assert len(log_lines(state, "bbbb0002")) == 1
    with open(os.path.join(state, "guardian.log")) as f:
        assert len(f.read().splitlines()) < 12
    st = json.loads(fl("status", "--json", state=state).stdout)
    assert "not a faultline fill file" in st["faults"][0]["last_error"]
    r = fl("recover", "--forget", "bbbb0001", "bbbb0002", state=state)
    assert r.returncode == 0 and "sound record" in r.stderr, r.stderr
    assert records(state) == []
    assert wait_for(lambda: guardian_pids(state) == [], 5)


# ---- recover --all is scoped to its state directory --------------------------

def test_recover_all_spares_other_state_dirs(tmp_path, mounts):
    from netlab import Lab
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    scratch = mounts(str(tmp_path / "scratch"), "size=8m")
    lab = Lab()
    try:
        r = fl("inject", "network.partition", "--netns", lab.a, "--peer", lab.b_ip,
               "--detach", "--lease", "1m", "--state-dir", a)
        assert r.returncode == 0, r.stderr
        part = r.stdout.strip()
        r = fl("inject", "disk.fill", "--path", scratch, "--size", "1MiB", "--detach",
               "--lease", "1m", "--state-dir", a)
        assert r.returncode == 0, r.stderr
        fill = r.stdout.strip()
        fill_file = os.path.join(scratch, ".faultline-fill-" + fill)
        assert lab.faultline_tables(lab.a) == ["faultline_" + part]
        assert os.path.exists(fill_file)
        # A leftover nobody journals is still swept from B.
        subprocess.run(["ip", "netns", "exec", lab.b, "nft", "add", "table", "inet",
                        "faultline_0badf00d"], check=True)

        r = fl("recover", "--all", "--state-dir", b)
        assert r.returncode == 0, r.stderr
        # kept: exactly A's two faults (the partition's table, the fill file)
        # among whatever else is live host-wide (other state directories:
        # another test's or another user's faults, which are not this test's
        # to count); the total it prints is the number it says it kept
        kept = re.findall(r"keeping (.+): fault (\w+) is journaled in state directory (\S+)$",
                          r.stderr, re.M)
        assert sorted(i for _, i, d in kept if d == a) == sorted([part, fill]), r.stderr
        assert f"{len(kept)} kept (live faults of other state directories)" in r.stdout, \
            (r.stdout, r.stderr)
        assert f"fault {part} is journaled in state directory {a}" in r.stderr, r.stderr
        assert lab.faultline_tables(lab.a) == ["faultline_" + part]
        assert lab.faultline_tables(lab.b) == []
        assert os.path.exists(fill_file)
        st = json.loads(fl("status", "--json", "--state-dir", a).stdout)
        assert sorted(f["id"] for f in st["faults"]) == sorted([part, fill])
        assert not os.path.exists(b)

        r = fl("recover", "--all", "--state-dir", a)
        assert r.returncode == 0, r.stderr
        assert f"reverted {part}" in r.stdout and f"reverted {fill}" in r.stdout
        assert lab.leftovers() == [] and not os.path.exists(fill_file)
        assert records(a) == []
    finally:
        fl("recover", "--all", "--state-dir", a)
        lab.close()
    assert wait_for(lambda: guardian_pids(a) == [], 5)


# ---- a SIGKILLed guardian ----------------------------------------------------

def sentinels(state):
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"__sentinel" in args and state.encode() in args:
            out.append(int(p))
    return out


def kill_guardian_and_time_revert(state, inject, reverted, lease):
    """Inject a detached fault with `lease`, SIGKILL its guardian at once,
    run no other faultline command, and return how long after the lease's
    end the fault was gone."""
    t0 = time.monotonic()
    r = fl(*inject, "--detach", "--lease", f"{lease}s", "--duration", "60s", state=state)
    assert r.returncode == 0, r.stderr
    guardians = guardian_pids(state)
    assert len(guardians) == 1
    os.kill(guardians[0], signal.SIGKILL)
    assert wait_for(lambda: guardians[0] not in guardian_pids(state), 2)
    assert wait_for(reverted, lease + 2, step=0.02), "the fault outlived its lease"
    late = time.monotonic() - t0 - lease
    with open(os.path.join(state, "guardian.log")) as f:
        log = f.read()
    assert "the sentinel becomes the guardian" in log and "lease expired" in log, log
    assert wait_for(lambda: records(state) == [], 2)
    assert wait_for(lambda: guardian_pids(state) == [] and sentinels(state) == [], 5)
    return late


def test_sigkilled_guardian_of_detached_pause(state, sleeper):
    p = sleeper()
    late = kill_guardian_and_time_revert(
        state, ["inject", "process.pause", "--pid", str(p.pid)],
        lambda: proc_state(p.pid) == "S", 2)
    assert late < 1.0, f"resumed {late:.2f}s after the lease ended"


def test_sigkilled_guardian_of_detached_partition(state):
    from netlab import Lab
    lab = Lab()
    try:
        late = kill_guardian_and_time_revert(
            state, ["inject", "network.partition", "--netns", lab.a, "--peer", lab.b_ip],
            lambda: lab.faultline_tables(lab.a) == [], 2)
        assert late < 1.0, f"table removed {late:.2f}s after the lease ended"
    finally:
        fl("recover", "--all", state=state)
        lab.close()


def test_killed_sentinel_is_replaced(state, sleeper):
    p = sleeper()
    r = fl("inject", "process.pause", "--pid", str(p.pid), "--detach", "--lease", "1m",
           state=state)
    fid = r.stdout.strip()
    assert wait_for(lambda: len(sentinels(state)) == 1, 2)
    first = sentinels(state)[0]
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: len(sentinels(state)) == 1 and sentinels(state)[0] != first, 3)
    # ...and the new one does its job.
    os.kill(guardian_pids(state)[0], signal.SIGKILL)
    assert wait_for(lambda: len(guardian_pids(state)) == 1, 2)
    assert fl("recover", fid, state=state).returncode == 0
    assert proc_state(p.pid) == "S"
    # SIGTERM stops the guardian and its sentinel for good.
    r = fl("inject", "process.pause", "--pid", str(p.pid), "--detach", "--lease", "1m",
           state=state)
    assert wait_for(lambda: len(sentinels(state)) == 1 and len(guardian_pids(state)) == 1, 3)
    os.kill(guardian_pids(state)[0], signal.SIGTERM)
    assert wait_for(lambda: guardian_pids(state) == [] and sentinels(state) == [], 3)
    assert fl("recover", r.stdout.strip(), state=state).returncode == 0
    assert proc_state(p.pid) == "S"


def test_boot_unit_is_valid(tmp_path):
    """deploy/systemd/faultline-recover.service, pointed at this binary, is a
    unit systemd accepts, and runs `recover --all` once at boot."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "deploy", "systemd", "faultline-recover.service")) as f:
        text = f.read()
    assert "ExecStart=/usr/local/bin/faultline recover --all\n" in text
    assert "Type=oneshot" in text and "WantedBy=sysinit.target" in text
    unit = tmp_path / "faultline-recover.service"
    unit.write_text(text.replace("/usr/local/bin/faultline", os.path.abspath(BIN)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_any_command_restarts_a_missing_guardian(state, sleeper):
    """Guardian and sentinel both killed: the next faultline command of any
    kind (here `check --help`) starts a guardian for $FAULTLINE_STATE_DIR."""
    p = sleeper()
    fid = fl("inject", "process.pause", "--pid", str(p.pid), "--detach", "--lease", "1m",
             state=state).stdout.strip()
    assert wait_for(lambda: len(sentinels(state)) == 1, 2)
    for pid in sentinels(state) + guardian_pids(state):
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: guardian_pids(state) == [] and sentinels(state) == [], 2)
    time.sleep(0.3)
    assert guardian_pids(state) == [] and proc_state(p.pid) == "T"
    assert fl("check", "--help", state=state).returncode == 0
    assert len(guardian_pids(state)) == 1
    assert wait_for(lambda: len(sentinels(state)) == 1, 2)
    assert fl("recover", fid, state=state).returncode == 0
    assert proc_state(p.pid) == "S"
