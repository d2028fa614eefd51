"""stress.cpu and stress.memory: real stressor processes in a faultline cgroup,
measured from /proc, and always gone afterwards (revert, guardian, sweeper)."""
import json
import os
import signal
import time

import pytest

from conftest import (alive, cgroup_dir, cgroup_pids, cgroup2_mount, journal_records,
                      stress_cgroups, wait_for)

pytestmark = [pytest.mark.usefixtures("no_leftovers"),
              pytest.mark.skipif(cgroup2_mount() is None, reason="no cgroup2 mounted")]

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def detach(fl, *args):
    rc, out, err = fl("inject", *args, "--detach", "--lease", "60s")
    assert rc == 0, err
    return out.strip().splitlines()[-1]


def test_cpu_stress_burns_cpu_in_its_cgroup(fl):
    fid = detach(fl, "stress.cpu", "--workers", 2)
    pids = cgroup_pids(fid)
    assert len(pids) == 2, pids
    before = {p: cpu_seconds(p) for p in pids}
    # Busy: each worker piles up CPU time (0.3 s each, a third of a core for
    # a second on a quiet machine). A loaded machine only makes that take
    # longer, so wait for it rather than time it; an idle worker never gets
    # there.
    used = lambda: {p: cpu_seconds(p) - before[p] for p in pids}  # noqa: E731
    assert wait_for(lambda: all(u > 0.3 for u in used().values()), 20, step=0.1), used()
    rc, out, err = fl("recover", fid)
    assert rc == 0, err
    assert not os.path.exists(cgroup_dir(fid))
    assert not any(alive(p) for p in pids)


def test_cpu_stress_load_percent(fl):
    fid = detach(fl, "stress.cpu", "--workers", 1, "--load", 30)
    (pid,) = cgroup_pids(fid)
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(2.0)
    share = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    # 30% of a core, duty-cycled: clearly not a full core (a loaded machine
    # only lowers the share) ...
    busy = wait_for(lambda: cpu_seconds(pid) - c0 >= 0.3, 20, step=0.1)
    used = cpu_seconds(pid) - c0
    assert fl("recover", fid)[0] == 0
    assert share < 0.55, share
    # ... and clearly busy: it piles up 0.3 s of CPU (0.6 s at 30% on a quiet
    # machine in the window above; a loaded one only makes that take longer)
    assert busy, (used, share)


def test_memory_stress_holds_size(fl):
    size = 96 << 20
    fid = detach(fl, "stress.memory", "--size", "96MiB", "--workers", 2)
    pids = cgroup_pids(fid)
    assert len(pids) == 2
    rss = sum(vm_rss(p) for p in pids)
    assert rss >= size * 0.95, rss
    time.sleep(2.5)  # still held after a re-touch round
    assert sum(vm_rss(p) for p in pids) >= size * 0.95
    assert fl("recover", fid)[0] == 0
    assert not os.path.exists(cgroup_dir(fid))
    assert not any(alive(p) for p in pids)


def test_stressors_stop_at_hard_deadline(fl):
    """Even with nothing reverting it, a stressor exits at its hard stop."""
    fid = detach(fl, "stress.cpu", "--workers", 1, "--hard-stop", "1s")
    (pid,) = cgroup_pids(fid)
    assert wait_for(lambda: not alive(pid), 3)
    assert fl("recover", fid)[0] == 0


def test_foreground_duration_reverts(fl):
    rc, out, err = fl("inject", "stress.cpu", "--workers", 1, "--duration", "1s")
    assert rc == 0, err
    assert "reverted" in err


def test_guardian_kills_stressors_when_inject_is_killed(fl_popen, state_dir):
    before = stress_cgroups()
    inj = fl_popen("inject", "stress.cpu", "--workers", 1, "--duration", "60s", "--lease", "2s")
    assert wait_for(lambda: stress_cgroups() - before, 5), "no stress cgroup appeared"
    (fid,) = stress_cgroups() - before
    assert wait_for(lambda: cgroup_pids(fid), 2)
    pids = cgroup_pids(fid)
    inj.send_signal(signal.SIGKILL)
    inj.wait()
    t0 = time.time()
    assert wait_for(lambda: not any(alive(p) for p in pids), 3.0), "stressors outlived the lease"
    assert wait_for(lambda: not os.path.exists(cgroup_dir(fid)), 1)
    assert time.time() - t0 < 3.0
    assert wait_for(lambda: journal_records(state_dir) == [], 2)


def test_recover_all_sweeps_without_journal(fl, state_dir):
    fid = detach(fl, "stress.memory", "--size", "8MiB")
    pids = cgroup_pids(fid)
    # Lose the journal (a wiped /run): only the naming convention is left.
    for rec in journal_records(state_dir):
        os.unlink(os.path.join(state_dir, "faults", rec))
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert not os.path.exists(cgroup_dir(fid))
    assert not any(alive(p) for p in pids)


@pytest.mark.parametrize("args,code", [
    (["stress.memory"], 2),                          # --size is required
    (["stress.memory", "--size", "garbage"], 2),
    (["stress.memory", "--size", "1TiB"], 4),        # more than the host has
    (["stress.cpu", "--load", "130"], 2),
    (["stress.cpu", "--load", "0"], 2),
    (["stress.cpu", "--workers", "0"], 2),
])
def test_stress_refusals(fl, args, code):
    rc, out, err = fl("inject", *args, "--duration", "1s")
    assert rc == code, err


def test_stressor_exits_when_moved_out_of_its_cgroup(fl):
    fid = detach(fl, "stress.cpu", "--workers", 1, "--load", 10)
    (pid,) = cgroup_pids(fid)
    with open(os.path.join(cgroup2_mount(), "cgroup.procs"), "w") as f:
        f.write(str(pid))
    assert wait_for(lambda: not alive(pid), 2), "a stressor outside its cgroup kept running"
    assert fl("recover", fid)[0] == 0


def test_detached_stress_ends_with_its_lease(fl, state_dir):
    rc, out, err = fl("inject", "stress.memory", "--size", "16MiB", "--detach", "--lease", "1s")
    assert rc == 0, err
    fid = out.strip().splitlines()[-1]
    pids = cgroup_pids(fid)
    assert pids
    t0 = time.time()
    assert wait_for(lambda: not os.path.exists(cgroup_dir(fid)), 4), "lease expiry did not revert"
    assert not any(alive(p) for p in pids)
    assert time.time() - t0 < 3.0
    assert wait_for(lambda: journal_records(state_dir) == [], 2)


@pytest.mark.parametrize("args,want_s", [
    (["--detach", "--lease", "5s"], 35),                     # the lease ends first: + 30s
    (["--detach", "--lease", "5s", "--duration", "20s"], 35),
    (["--detach", "--duration", "20s"], 50),                  # the lease defaults to the duration
    (["--duration", "20s"], 50),
    ([], 3600),                                               # foreground: its lease is renewed
    (["--detach", "--lease", "5s", "--hard-stop", "9s"], 9),
])
def test_stressor_deadline_follows_duration_or_detached_lease(fl, args, want_s):
    rc, out, err = fl("inject", "stress.cpu", "--workers", 1, *args, "--dry-run")
    assert rc == 0, err
    undo = json.loads(out.split("undo record: ", 1)[1].splitlines()[0])
    left = undo["deadline_ms"] / 1000 - time.clock_gettime(time.CLOCK_BOOTTIME)  # fl_now_ms
    assert want_s - 3 < left <= want_s + 0.5, (args, left)


def test_overlapping_stresses_compose(fl):
    """Two stress faults add up, each in its own cgroup: reverting one stops
    only its own workers (docs/faults-stress.md, "Overlapping faults")."""
    a = detach(fl, "stress.cpu", "--workers", 1)
    b = detach(fl, "stress.memory", "--size", "32MiB", "--workers", 1)
    pa, pb = cgroup_pids(a), cgroup_pids(b)
    assert len(pa) == 1 and len(pb) == 1
    assert fl("recover", a)[0] == 0
    assert not any(alive(p) for p in pa)
    assert all(alive(p) for p in pb) and cgroup_pids(b) == pb
    assert vm_rss(pb[0]) >= (32 << 20) * 0.95
    assert fl("recover", b)[0] == 0
    assert not any(alive(p) for p in pb)
