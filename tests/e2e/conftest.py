"""Shared fixtures for the end-to-end tests: they act as a user through the
faultline binary.

- FAULTLINE_BIN picks the binary (default build/faultline under the repo).
- Every test gets its own state directory (journal + guardian), so tests do
  not see each other's faults.
- `no_leftovers` asserts after a test that its journal is empty and that no
  faultline stress cgroup or stressor process appeared during the test and
  stayed.
- Processes the tests act on are started by the tests (`spawn`) and killed by
  PID in a finalizer, never by name.
"""
import os
import signal
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FAULTLINE_BIN", os.path.join(ROOT, "build", "faultline"))


def _record_execs(path):
    """Append every program a test starts to `path` (JSON lines), so that
    scripts/check-commands can check that scripts/bootstrap installs each one."""
    import json
    import sys

    def hook(event, args):
        rec = None
        if event == "subprocess.Popen":
            argv = args[1]
            if isinstance(argv, (str, bytes)):
                rec = {"shell": os.fsdecode(argv)}
            else:
                rec = {"argv": [os.fsdecode(a) if isinstance(a, (str, bytes)) else str(a) for a in argv]}
                if args[0] and not isinstance(args[0], int):
                    rec["argv"][0] = os.fsdecode(args[0]) if rec["argv"][0] != os.fsdecode(args[0]) and \
                        os.path.basename(os.fsdecode(args[0])) != rec["argv"][0] else rec["argv"][0]
        elif event in ("os.exec", "os.posix_spawn"):
            rec = {"argv": [os.fsdecode(args[0])] + [os.fsdecode(a) for a in list(args[1])[1:]]}
        elif event == "os.system":
            rec = {"shell": os.fsdecode(args[0])}
        if rec is not None:
            rec["test"] = os.environ.get("PYTEST_CURRENT_TEST", "tests/e2e").split(" ")[0].split("::")[0]
            with open(path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    sys.addaudithook(hook)


if os.environ.get("FL_EXEC_LOG"):
    _record_execs(os.environ["FL_EXEC_LOG"])


def cgroup2_mount():
    """The cgroup2 mount point from /proc/self/mountinfo, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4].replace("\\040", " ")
    return None


def stress_cgroups():
    """Names of the cgroups under <cgroup2>/faultline/ (one per stress fault)."""
    mnt = cgroup2_mount()
    root = os.path.join(mnt, "faultline") if mnt else None
    if not root or not os.path.isdir(root):
        return set()
    return {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}


def cgroup_dir(fault_id):
    return os.path.join(cgroup2_mount(), "faultline", fault_id)


def cgroup_pids(fault_id):
    try:
        with open(os.path.join(cgroup_dir(fault_id), "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def faultline_pids(subcommands, part, whole=False):
    """PIDs of faultline processes whose subcommand (argv[1]) is one of
    subcommands and whose command line mentions part (a path, an address);
    whole: part must be one whole argument (a state dir)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            argv = cmdline(int(p))
            hit = part.encode() in argv if whole else part.encode() in b" ".join(argv)
            if len(argv) > 1 and argv[1] in subcommands and hit:
                out.append(int(p))
    return out


def proc_state(pid):
    """One-letter state from /proc/PID/stat, None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def alive(pid):
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def stressor_pids():
    """Live `faultline __stressor` processes."""
    out = set()
    for p in os.listdir("/proc"):
        if p.isdigit() and b"__stressor" in cmdline(int(p)) and alive(int(p)):
            out.add(int(p))
    return out


def journal_records(state_dir):
    d = os.path.join(state_dir, "faults")
    return sorted(f for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []


def wait_for(pred, timeout, step=0.05):
    """True once pred() holds, polling every `step` s for up to `timeout` s
    (monotonic clock); pred()'s last answer otherwise. The one copy: netlab
    and test_core re-export it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.fixture
def state_dir(tmp_path):
    d = tmp_path / "state"
    return str(d)


@pytest.fixture
def fl(state_dir):
    """Run faultline with this test's state dir: fl(*args) -> (rc, stdout, stderr)."""

    def run(*args, timeout=60, env=None):
        e = dict(os.environ)
        e["FAULTLINE_STATE_DIR"] = state_dir
        e.update(env or {})
        p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, env=e)
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.fixture
def fl_popen(state_dir):
    """Start faultline in the background; killed in a finalizer if still running."""
    procs = []

    def start(*args, **kw):
        e = dict(os.environ)
        e["FAULTLINE_STATE_DIR"] = state_dir
        p = subprocess.Popen([BIN, *map(str, args)], env=e, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def spawn():
    """Start a target process; it is killed by PID when the test ends."""
    procs = []

    def start(argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()


@pytest.fixture
def no_leftovers(state_dir):
    """After the test: journal empty, no new stress cgroup, no new stressor."""
    cgroups_before = stress_cgroups()
    stressors_before = stressor_pids()
    yield
    ok_journal = wait_for(lambda: journal_records(state_dir) == [], 5)
    ok_cg = wait_for(lambda: not (stress_cgroups() - cgroups_before), 5)
    ok_st = wait_for(lambda: not (stressor_pids() - stressors_before), 5)
    left = (journal_records(state_dir), stress_cgroups() - cgroups_before,
            stressor_pids() - stressors_before)
    if not (ok_journal and ok_cg and ok_st):
        # Clean up for the next test, then fail this one.
        e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
        for rec in left[0]:
            subprocess.run([BIN, "recover", rec[:-5]], env=e, capture_output=True)
        for pid in left[2]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert left[0] == [], f"faults left in the journal: {left[0]}"
    assert not left[1], f"stress cgroups left: {left[1]}"
    assert not left[2], f"stressor processes left: {left[2]}"
