"""clock.skew on real running programs: a C program the test builds
(dynamically linked and -static) and a Python loop see their clocks jump by
the offset and come back on revert; the guardian reverts when the owner is
SIGKILLed; a real etcd member serves a skewed HTTP Date header and lets a
lease expire at once when its monotonic clock jumps past the lease's TTL.

Each program prints its clocks every 100 ms; the tests compare clocks with
each other (realtime minus monotonic is constant unless something moves one
of them), so nothing here depends on how fast the machine is."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from email.utils import parsedate_to_datetime

import pytest

from conftest import journal_records, wait_for
from test_containers import LIMITS, podman, rootfs  # noqa: F401
from test_core import guardian_pids

HOUR = 3600.0

CLOCK_PROG = r"""
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
/* Every 100 ms: CLOCK_REALTIME, gettimeofday, time(), CLOCK_MONOTONIC. */
int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        struct timespec rt, mono;
        struct timeval tv;
        clock_gettime(CLOCK_REALTIME, &rt);
        gettimeofday(&tv, NULL);
        time_t t = time(NULL);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        printf("%lld.%09ld %lld.%06ld %lld %lld.%09ld\n", (long long)rt.tv_sec, rt.tv_nsec,
               (long long)tv.tv_sec, (long)tv.tv_usec, (long long)t, (long long)mono.tv_sec,
               mono.tv_nsec);
        usleep(100000);
    }
}
"""

PY_LOOP = ("import time, sys\n"
           "while True:\n"
           "    print(time.time(), time.monotonic(), flush=True)\n"
           "    time.sleep(0.1)\n")


@pytest.fixture(scope="module")
def progs():
    d = tempfile.mkdtemp(prefix="fl-clock-")
    src = os.path.join(d, "clk.c")
    with open(src, "w") as f:
        f.write(CLOCK_PROG)
    out = {}
    for kind, extra in (("dynamic", []), ("static", ["-static"])):
        out[kind] = os.path.join(d, f"clk-{kind}")
        subprocess.run(["gcc", "-O2", "-o", out[kind], src, *extra], check=True)
    yield out
    shutil.rmtree(d, ignore_errors=True)


class Printer:
    """A program started by the test that prints its clocks into a file."""

    def __init__(self, argv, path):
        self.path = path
        self.f = open(path, "w")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.f,
                                  stderr=subprocess.DEVNULL)
        self.pid = self.p.pid

    def last(self):
        """The clocks of the newest complete line, as floats."""
        with open(self.path) as f:
            lines = [ln.split() for ln in f.read().splitlines()]
        return [float(x) for x in lines[-2]] if len(lines) >= 2 else None

    def lines(self):
        with open(self.path) as f:
            return len(f.read().splitlines())

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.f.close()


@pytest.fixture
def printers(tmp_path):
    started = []

    def start(argv):
        pr = Printer(argv, str(tmp_path / f"out{len(started)}.txt"))
        started.append(pr)
        assert wait_for(lambda: pr.last() is not None, 10), "the program printed nothing"
        return pr

    yield start
    for pr in started:
        pr.stop()


def skew_of(pr, col, base):
    """How far column `col` is from the program's monotonic clock, relative to
    `base` (the same difference before the fault)."""
    v = pr.last()
    return v[col] - v[-1] - base[col]


def baseline(pr):
    v = pr.last()
    return [x - v[-1] for x in v]


def settles(pr, col, base, want, timeout=10):
    """Wait until the newest line (printed after now) shows skew `want` (+-1 s)."""
    n = pr.lines()
    return wait_for(lambda: pr.lines() > n + 1 and abs(skew_of(pr, col, base) - want) < 1.5,
                    timeout)


def detach(fl, *args):
    rc, out, err = fl("inject", "clock.skew", *args, "--detach", "--lease", "2m")
    assert rc == 0, err
    return out.strip().split()[-1]


@pytest.mark.parametrize("kind", ["dynamic", "static"])
def test_program_sees_the_offset_and_gets_its_clock_back(fl, progs, printers, kind, state_dir):
    pr = printers([progs[kind]])
    base = baseline(pr)
    fid = detach(fl, "--pid", pr.pid, "--offset", "+1h")
    # clock_gettime(REALTIME), gettimeofday and time all jump; MONOTONIC does not.
    for col in (0, 1, 2):
        assert settles(pr, col, base, HOUR), (col, pr.last(), base)
    mono_before = time.monotonic() - pr.last()[3]
    assert abs(mono_before) < 5
    rc, _, err = fl("recover", fid)
    assert rc == 0, err
    for col in (0, 1, 2):
        assert settles(pr, col, base, 0), (col, pr.last(), base)
    assert journal_records(state_dir) == []
    # Revert put the vDSO back byte for byte: the program still runs and reads time.
    assert pr.p.poll() is None


def test_negative_offset_on_the_monotonic_clock_only(fl, progs, printers):
    pr = printers([progs["static"]])
    base = baseline(pr)
    fid = detach(fl, "--pid", pr.pid, "--offset", "-90m", "--clocks", "monotonic")
    # realtime - monotonic grows by 90 minutes: monotonic went back, realtime did not.
    assert settles(pr, 0, base, 90 * 60), (pr.last(), base)
    assert abs(pr.last()[0] - time.time()) < 5
    assert fl("recover", fid)[0] == 0
    assert settles(pr, 0, base, 0)


def test_drift_makes_the_clock_run_fast(fl, progs, printers):
    """--drift 50% with no offset: the program's realtime runs 1.5x as fast
    as its monotonic clock (compared within the program, so the machine's
    speed does not matter), and is back in step after revert."""
    pr = printers([progs["static"]])
    base = baseline(pr)
    fid = detach(fl, "--pid", pr.pid, "--drift", "50%")
    n = pr.lines()
    assert wait_for(lambda: pr.lines() > n + 1, 5)
    first = pr.last()
    assert wait_for(lambda: pr.last()[3] - first[3] >= 2.0, 20)
    last = pr.last()
    rate = (last[0] - first[0]) / (last[3] - first[3])
    assert 1.4 < rate < 1.6, (first, last, rate)
    assert fl("recover", fid)[0] == 0
    # Revert takes the skew away: realtime and monotonic in step again.
    assert settles(pr, 0, base, 0)


def test_python_loop(fl, printers):
    pr = printers(["python3", "-c", PY_LOOP])
    base = baseline(pr)
    fid = detach(fl, "--pid", pr.pid, "--offset", "-2h30m", "--clocks", "realtime")
    assert settles(pr, 0, base, -2.5 * HOUR), (pr.last(), base)
    assert fl("recover", fid)[0] == 0
    assert settles(pr, 0, base, 0)


def test_owner_sigkilled_the_guardian_reverts(fl_popen, progs, printers, state_dir):
    pr = printers([progs["dynamic"]])
    base = baseline(pr)
    p = fl_popen("inject", "clock.skew", "--pid", pr.pid, "--offset", "+1h", "--duration", "5m")
    assert settles(pr, 0, base, HOUR, timeout=15), (pr.last(), base)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: journal_records(state_dir) == [], 15)
    assert settles(pr, 0, base, 0)


def test_second_skew_refused_and_exited_target_reverts(fl, progs, printers):
    pr = printers([progs["dynamic"]])
    fid = detach(fl, "--pid", pr.pid, "--offset", "+10m")
    rc, _, err = fl("inject", "clock.skew", "--pid", pr.pid, "--offset", "+1h", "--duration", "1s")
    assert rc == 4 and "already jump elsewhere" in err, err
    pr.stop()  # the target exits while skewed: revert has nothing to do
    rc, _, err = fl("recover", fid)
    assert rc == 0, err


def test_recover_all_restores_a_process_without_a_journal(fl, progs, printers, tmp_path):
    """A skew whose journal is gone (another state directory wiped) is found
    by `recover --all`, which knows faultline's jump in a vDSO entry."""
    pr = printers([progs["static"]])
    base = baseline(pr)
    other = str(tmp_path / "other-state")
    rc, _, err = fl("inject", "clock.skew", "--pid", pr.pid, "--offset", "+1h", "--detach",
                    "--lease", "10m", env={"FAULTLINE_STATE_DIR": other})
    assert rc == 0, err
    assert settles(pr, 0, base, HOUR)
    # The fault is journaled elsewhere (its guardian runs): the sweep leaves
    # it alone ...
    assert wait_for(lambda: guardian_pids(other), 10)
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert settles(pr, 0, base, HOUR)
    # ... until that journal is gone (its guardian with it): then the skew is
    # a leftover the sweep finds by faultline's jump in the vDSO.
    for rec in journal_records(other):
        os.unlink(os.path.join(other, "faults", rec))
    assert wait_for(lambda: not guardian_pids(other), 15)
    assert settles(pr, 0, base, HOUR)
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert "skewed clock of pid" in err, err
    assert settles(pr, 0, base, 0)


@pytest.mark.parametrize("args,code,text", [
    (["--pid", "1", "--offset", "+1h"], 4, "pid 1"),
    (["--name", "no-such-process-x", "--offset", "+1h"], 3, "no-such-process-x"),
    (["--pid", "{pid}"], 2, "needs --offset"),
    (["--pid", "{pid}", "--drift", "-100%"], 2, "-100%"),
    (["--pid", "{pid}", "--offset", "0", "--drift", "0"], 2, "moves no clock"),
    (["--pid", "{pid}", "--offset", "soon"], 2, "soon"),
    (["--pid", "{pid}", "--offset", "0s"], 2, "moves no clock"),
    (["--pid", "{pid}", "--offset", "+9000h"], 2, "longer than a year"),
    (["--pid", "{pid}", "--offset", "1h", "--clocks", "realtime,cpu"], 2, "'cpu' is not a clock"),
])
def test_usage_and_refusals(fl, progs, printers, args, code, text):
    pr = printers([progs["dynamic"]])
    args = [a.replace("{pid}", str(pr.pid)) for a in args]
    rc, _, err = fl("inject", "clock.skew", *args, "--duration", "1s")
    assert rc == code and text in err, (rc, err)


def test_help_names_the_options(fl):
    rc, out, _ = fl("inject", "clock.skew", "--help")
    assert rc == 0 and "--offset" in out and "--clocks" in out and "vDSO" in out


# ---- a real etcd member ------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def etcd():
    d = tempfile.mkdtemp(prefix="fl-clock-etcd-")
    port, peer = free_port(), free_port()
    p = subprocess.Popen(["etcd", "--name", "c", "--data-dir", f"{d}/data",
                          "--listen-client-urls", f"http://127.0.0.1:{port}",
                          "--advertise-client-urls", f"http://127.0.0.1:{port}",
                          "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                          "--initial-cluster", f"c=http://127.0.0.1:{peer}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: etcd_date(port) is not None, 20), "etcd did not start"
        yield p.pid, port
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


def etcd_date(port):
    """The server's clock as its HTTP Date header says (whole seconds)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as r:
            return parsedate_to_datetime(r.headers["Date"]).timestamp()
    except OSError:
        return None


def etcdctl(port, *args):
    r = subprocess.run(["etcdctl", f"--endpoints=http://127.0.0.1:{port}", *args],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_etcd_date_header_and_lease_expiry(fl, etcd, state_dir):
    pid, port = etcd
    assert abs(etcd_date(port) - time.time()) < 3
    # Realtime only: the HTTP Date header (Go's time.Now) is 2 hours ahead.
    fid = detach(fl, "--pid", pid, "--offset", "+2h")
    assert wait_for(lambda: abs(etcd_date(port) - time.time() - 2 * HOUR) < 3, 10)
    assert fl("recover", fid)[0] == 0
    assert wait_for(lambda: abs(etcd_date(port) - time.time()) < 3, 10)
    # A 60 s lease outlives a few seconds of normal time ...
    rc, out = etcdctl(port, "lease", "grant", "60")
    assert rc == 0, out
    lease = out.split()[1]
    assert etcdctl(port, "put", "k", "v", f"--lease={lease}")[0] == 0
    # ... but expires at once when etcd's monotonic clock (its lease timer)
    # jumps 2 minutes ahead, and the key attached to it goes with it.
    fid = detach(fl, "--pid", pid, "--offset", "+2m", "--clocks", "realtime,monotonic")
    assert wait_for(lambda: etcdctl(port, "get", "k")[1].strip() == "", 15)
    rc, out = etcdctl(port, "lease", "timetolive", lease)
    assert "expired" in out, out
    assert fl("recover", fid)[0] == 0
    assert wait_for(lambda: abs(etcd_date(port) - time.time()) < 3, 10)
    # After revert a new lease lives its full TTL again.
    rc, out = etcdctl(port, "lease", "grant", "60")
    lease = out.split()[1]
    time.sleep(2)
    rc, out = etcdctl(port, "lease", "timetolive", lease)
    assert rc == 0 and "remaining" in out and "expired" not in out, out
    assert journal_records(state_dir) == []


# ---- a podman container: every process of it -------------------------------


def test_container_by_name_every_process(fl, rootfs):  # noqa: F811
    """--container skews every process of the container (not only its first),
    here a busybox shell printing `date +%s` and its sleep."""
    os.symlink("busybox", os.path.join(rootfs, "bin", "date"))
    name = f"fl-e2e-clock-{os.getpid()}"
    cid = podman("create", "--name", name, "--network", "none", *LIMITS, "--rootfs", rootfs,
                 "sh", "-c", "while true; do date +%s; sleep 0.2; done")
    try:
        podman("start", cid)

        def seen():
            out = podman("logs", cid).split()
            return int(out[-1]) - time.time() if out else None

        assert wait_for(lambda: seen() is not None, 10)
        fid = detach(fl, "--container", name, "--offset", "+1h")
        assert wait_for(lambda: abs(seen() - HOUR) < 3, 10), seen()
        assert fl("recover", fid)[0] == 0
        assert wait_for(lambda: abs(seen()) < 3, 10), seen()
    finally:
        podman("rm", "-f", "-t", "0", cid, check=False)


def test_stopped_process_refused_but_reverted_while_stopped(fl, progs, printers):
    pr = printers([progs["dynamic"]])
    base = baseline(pr)
    os.kill(pr.pid, signal.SIGSTOP)
    try:
        rc, _, err = fl("inject", "clock.skew", "--pid", pr.pid, "--offset", "+1h",
                        "--duration", "1s")
        assert rc == 4 and "is stopped" in err, err
    finally:
        os.kill(pr.pid, signal.SIGCONT)
    # Skewed first, then stopped: revert works on the stopped process and
    # leaves it stopped.
    fid = detach(fl, "--pid", pr.pid, "--offset", "+1h")
    assert settles(pr, 0, base, HOUR)
    os.kill(pr.pid, signal.SIGSTOP)
    assert wait_for(lambda: open(f"/proc/{pr.pid}/stat").read().rsplit(")", 1)[1].split()[0]
                    == "T", 5)
    assert fl("recover", fid)[0] == 0
    assert open(f"/proc/{pr.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "T"
    os.kill(pr.pid, signal.SIGCONT)
    assert settles(pr, 0, base, 0)


def anon_code_pages(pid):
    """Anonymous 4 KiB r-x mappings (where clock.skew's code page lives)."""
    n = 0
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            n += hi - lo == 4096 and parts[1] == "r-xp" and len(parts) == 5
    return n


def test_skewing_again_reuses_the_code_page(fl, progs, printers):
    pr = printers([progs["static"]])
    base = baseline(pr)
    before = anon_code_pages(pr.pid)
    for hours in (1, 2, 3):
        fid = detach(fl, "--pid", pr.pid, "--offset", f"+{hours}h")
        assert settles(pr, 0, base, hours * HOUR)
        assert fl("recover", fid)[0] == 0
        assert settles(pr, 0, base, 0)
        # One page mapped by the first skew, reused by the next ones.
        assert anon_code_pages(pr.pid) == before + 1


def test_drift_in_a_time_namespace_starts_from_its_own_clock(fl, progs, printers):
    """A program in a time namespace whose monotonic clock is 100000 s ahead
    of the host's: a drift on its monotonic clock starts from its own
    reading (no jump of 50000 s for 50%), then runs 1.5x as fast."""
    pr = printers(["unshare", "--time", "--fork", "--kill-child", "--monotonic=100000",
                   progs["static"]])
    with open(f"/proc/{pr.pid}/task/{pr.pid}/children") as f:
        (child,) = [int(x) for x in f.read().split()]
    try:
        base = baseline(pr)
        assert base[0] < time.time() - 90000  # realtime - monotonic: the namespace's offset
        fid = detach(fl, "--pid", child, "--drift", "50%", "--clocks", "monotonic")
        n = pr.lines()
        assert wait_for(lambda: pr.lines() > n + 1, 5)
        first = pr.last()
        assert abs(skew_of(pr, 0, base)) < 5, (first, base)
        assert wait_for(lambda: pr.last()[0] - first[0] >= 2.0, 20)
        last = pr.last()
        rate = (last[3] - first[3]) / (last[0] - first[0])
        assert 1.4 < rate < 1.6, (first, last, rate)
        assert fl("recover", fid)[0] == 0
    finally:
        os.kill(child, signal.SIGKILL)  # unshare's child, not reaped by us
