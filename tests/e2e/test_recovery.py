"""What faultline leaves behind, and what it says when it cannot work:
failed applies, damaged journal records, the state directory, guardian kills.

Faults act on `sleep` processes the tests start (killed by PID in
finalizers) and on tmpfs mounts and namespaces the tests create."""
import json
import os
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
    for args in (["status"], ["status", "--json"], ["recover", "0badf00d"]):
        r = fl(*args, "--state-dir", sd)
        assert r.returncode in (0, 3), (args, r.stderr)
        assert not os.path.exists(tmp_path / "a"), args
    r = fl("status", "--json", "--state-dir", sd)
    assert json.loads(r.stdout) == {"guardian": False, "faults": []}
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
    assert st["faults"] == []
    # The guardian started for the record has nothing to do and exits.
    assert wait_for(lambda: guardian_pids(state) == [], 5)
    log = os.path.join(state, "guardian.log")
    if os.path.exists(log):
        with open(log) as f:
            assert "revert of" not in f.read()
