"""Containers as targets for the stress kinds: `stress.cpu` and
`stress.memory --container NAME` run their workers in the container's
cgroups, so the container's own limits bind them and its accounting shows
the load. Each test runs a podman container (runc, a root filesystem the
test builds: tests/e2e/test_containers.py) with a CPU quota and a memory
limit, and removes it by id at the end.

The development host is hybrid (cgroup v1 controllers, an empty cgroup2):
the limits and counters read here are the container's v1 cpu and memory
cgroups; the fault's own cgroup is <container's cgroup2>/faultline-<id>."""
import os
import shutil
import signal

import pytest

from conftest import (cgroup2_mount, journal_records, stressor_pids,  # noqa: F401
                      wait_for)
from test_containers import LIMITS, podman, rootfs  # noqa: F401
from test_core import guardian_pids

MiB = 1024 * 1024


@pytest.fixture
def limited(rootfs):  # noqa: F811
    """A running container with a 0.2 CPU quota and a 256 MiB memory limit:
    (name, init pid); removed by id at the end."""
    assert shutil.which("podman"), "podman is not installed: run scripts/bootstrap"
    name = f"fl-e2e-stress-{os.getpid()}"
    cid = podman("create", "--name", name, "--network", "none", *LIMITS, "--cpus", "0.2",
                 "--memory", "256m", "--rootfs", rootfs, "sleep", "600")
    try:
        podman("start", cid)
        yield name, int(podman("inspect", "--format", "{{.State.Pid}}", cid))
    finally:
        podman("rm", "-f", "-t", "0", cid, check=False)


def cgroups_of(pid):
    """{controller or '' (cgroup2): path} from /proc/PID/cgroup."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                out[c] = path
    return out


def v1_file(init, ctrl, name):
    return f"/sys/fs/cgroup/{ctrl}{cgroups_of(init)[ctrl]}/{name}"


def read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


def cpu_stat(init):
    with open(v1_file(init, "cpu", "cpu.stat")) as f:
        return dict((k, int(v)) for k, v in (ln.split() for ln in f))


def nested(init, fid):
    return os.path.join(cgroup2_mount() + cgroups_of(init)[""], f"faultline-{fid}")


@pytest.fixture(autouse=True)
def needs_v1():
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        pytest.fail("these tests read the cgroup v1 memory controller of the development host")


def test_memory_stress_counts_against_the_container(limited, fl, no_leftovers):
    name, init = limited
    usage = v1_file(init, "memory", "memory.usage_in_bytes")
    before = read_int(usage)
    rc, out, err = fl("inject", "stress.memory", "--container", name, "--size", "64MiB",
                      "--detach", "--lease", "2m")
    assert rc == 0, err
    fid = out.strip()
    assert f"in the cgroups of container {name}" in err, err
    # The container's own memory counter holds the 64 MiB ...
    assert wait_for(lambda: read_int(usage) - before >= 60 * MiB, 15), read_int(usage)
    # ... because the stressor sits in the container's cgroups, v1 and v2.
    workers = stressor_pids()
    assert workers
    for ctrl in ("memory", "cpu", "pids"):
        with open(v1_file(init, ctrl, "cgroup.procs")) as f:
            assert workers <= {int(x) for x in f.read().split()}, ctrl
    with open(os.path.join(nested(init, fid), "cgroup.procs")) as f:
        assert workers == {int(x) for x in f.read().split()}
    rc, _, err = fl("recover", fid)
    assert rc == 0, err
    assert wait_for(lambda: read_int(usage) - before < 16 * MiB, 10), read_int(usage)
    assert not os.path.exists(nested(init, fid))
    with open(v1_file(init, "memory", "cgroup.procs")) as f:
        assert [int(x) for x in f.read().split()] == [init]


def test_cpu_stress_is_throttled_by_the_container_quota(limited, fl, no_leftovers):
    name, init = limited
    before = cpu_stat(init)
    used = read_int(v1_file(init, "cpuacct", "cpuacct.usage"))
    rc, _, err = fl("inject", "stress.cpu", "--container", name, "--workers", 2,
                    "--duration", "2s")
    assert rc == 0, err
    after = cpu_stat(init)
    # The container's CFS quota (0.2 CPU) held two busy workers back, and the
    # CPU they used is the container's.
    assert after["nr_throttled"] > before["nr_throttled"], (before, after)
    assert read_int(v1_file(init, "cpuacct", "cpuacct.usage")) > used


def test_owner_sigkilled_guardian_removes_the_workers(limited, fl_popen, state_dir,
                                                      no_leftovers):
    name, init = limited
    p = fl_popen("inject", "stress.cpu", "--container", name, "--workers", 1, "--load", 50,
                 "--duration", "1m")
    cg = lambda: [d for d in os.listdir(cgroup2_mount() + cgroups_of(init)[""])  # noqa: E731
                  if d.startswith("faultline-")]
    assert wait_for(lambda: cg() and stressor_pids(), 15)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: journal_records(state_dir) == [], 15)
    assert wait_for(lambda: not cg(), 10), cg()


def test_recover_all_finds_a_nested_stress_cgroup(limited, fl, tmp_path):
    name, init = limited
    other = str(tmp_path / "other")
    rc, out, err = fl("inject", "stress.cpu", "--container", name, "--workers", 1, "--load", 10,
                      "--detach", "--lease", "10m", env={"FAULTLINE_STATE_DIR": other})
    assert rc == 0, err
    fid = out.strip()
    assert os.path.isdir(nested(init, fid))
    # The journal is lost (the guardian exits with nothing to guard): the
    # cgroup is a leftover that `recover --all` finds by its name.
    for rec in journal_records(other):
        os.unlink(os.path.join(other, "faults", rec))
    assert wait_for(lambda: not guardian_pids(other), 15)
    rc, _, err = fl("recover", "--all")
    assert rc == 0, err
    assert f"faultline-{fid}" in err, err
    assert not os.path.exists(nested(init, fid))
    assert wait_for(lambda: not stressor_pids(), 10)


def test_missing_stopped_and_bad_containers(rootfs, fl):  # noqa: F811
    rc, _, err = fl("inject", "stress.cpu", "--container", "no-such-ct-x", "--duration", "1s")
    assert rc == 3 and "no-such-ct-x" in err, err
    rc, _, err = fl("inject", "stress.memory", "--container", "a/b", "--size", "1MiB",
                    "--duration", "1s")
    assert rc == 2 and "--container 'a/b'" in err, err
    name = f"fl-e2e-stopped-{os.getpid()}"
    cid = podman("create", "--name", name, "--network", "none", *LIMITS, "--rootfs", rootfs,
                 "sleep", "60")
    try:
        rc, _, err = fl("inject", "stress.cpu", "--container", name, "--duration", "1s")
        assert rc == 3 and "not running" in err, err
    finally:
        podman("rm", "-f", "-t", "0", cid, check=False)
