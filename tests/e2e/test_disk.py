"""disk.fill on a tmpfs the test mounts itself (64 MiB), so it never touches
a real filesystem's free space."""
import os
import subprocess
import uuid

import pytest

from conftest import journal_records

pytestmark = pytest.mark.usefixtures("no_leftovers")

MiB = 1 << 20


@pytest.fixture
def scratch(tmp_path):
    d = tmp_path / ("fill-" + uuid.uuid4().hex[:8])
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip("cannot mount a tmpfs: " + r.stderr)
    yield str(d)
    subprocess.run(["umount", "-l", str(d)], check=True)


def avail(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def used_pct(path):
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return 100.0 * used / (used + st.f_bavail * st.f_frsize)


def fill_files(path):
    return [f for f in os.listdir(path) if f.startswith(".faultline-fill-")]


def test_fill_size_takes_space_and_gives_it_back(fl, scratch):
    free0 = avail(scratch)
    rc, out, err = fl("inject", "disk.fill", "--path", scratch, "--size", "16MiB", "--detach",
                      "--lease", "30s")
    assert rc == 0, err
    fid = out.strip().splitlines()[-1]
    assert fill_files(scratch) == [".faultline-fill-" + fid]
    dropped = free0 - avail(scratch)
    assert 15 * MiB <= dropped <= 17 * MiB, dropped
    with open("/var/lib/faultline/fill-dirs") as f:
        assert os.path.realpath(scratch) in f.read().split("\n")
    rc, out, err = fl("recover", fid)
    assert rc == 0, err
    assert fill_files(scratch) == []
    assert abs(avail(scratch) - free0) < MiB
    with open("/var/lib/faultline/fill-dirs") as f:
        assert os.path.realpath(scratch) not in f.read().split("\n"), "registry not tidied"


def test_fill_percent_foreground(fl_popen, scratch):
    inj = fl_popen("inject", "disk.fill", "--path", scratch, "--percent", "50", "--duration",
                   "2s")
    import time
    from conftest import wait_for
    assert wait_for(lambda: fill_files(scratch) and used_pct(scratch) > 45, 5), inj.stderr
    assert 49 <= used_pct(scratch) <= 51, used_pct(scratch)
    assert inj.wait(timeout=10) == 0
    assert fill_files(scratch) == []
    assert used_pct(scratch) < 1


def test_fill_sweeper_without_journal(fl, state_dir, scratch):
    rc, out, err = fl("inject", "disk.fill", "--path", scratch, "--size", "8MiB", "--detach",
                      "--lease", "30s")
    assert rc == 0, err
    for rec in journal_records(state_dir):
        os.unlink(os.path.join(state_dir, "faults", rec))
    assert fill_files(scratch)
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert fill_files(scratch) == []
    with open("/var/lib/faultline/fill-dirs") as f:
        assert os.path.realpath(scratch) not in f.read().split("\n")


@pytest.mark.parametrize("args,code,text", [
    (["--percent", "130"], 2, "percent"),
    (["--size", "garbage"], 2, "garbage"),
    (["--size", "1MiB", "--percent", "10"], 2, "exactly one"),
    ([], 2, "exactly one"),
    (["--size", "100MiB"], 4, "not enough free space"),
    (["--size", "65000KiB"], 4, "less than 1%"),
])
def test_fill_refusals(fl, scratch, args, code, text):
    rc, out, err = fl("inject", "disk.fill", "--path", scratch, *args, "--duration", "1s")
    assert rc == code, err
    assert text in err, err
    assert fill_files(scratch) == []


def test_fill_path_must_be_a_directory(fl, scratch, tmp_path):
    rc, out, err = fl("inject", "disk.fill", "--path", tmp_path / "nope", "--size", "1MiB")
    assert rc == 3, err
    f = tmp_path / "file"
    f.write_text("x")
    rc, out, err = fl("inject", "disk.fill", "--path", f, "--size", "1MiB")
    assert rc == 2 and "not a directory" in err, err
    rc, out, err = fl("inject", "disk.fill", "--size", "1MiB")
    assert rc == 2 and "--path" in err, err


def test_overlapping_fills(fl, scratch, state_dir):
    """Fills of a --size add up and end one by one; a --percent fill is
    refused while another fill uses the filesystem, and the other way round
    (docs/faults-disk.md, "Overlapping faults")."""
    free0 = avail(scratch)
    ids = []
    for size in ("16MiB", "8MiB"):
        rc, out, err = fl("inject", "disk.fill", "--path", scratch, "--size", size, "--detach",
                          "--lease", "30s")
        assert rc == 0, err
        ids.append(out.strip().splitlines()[-1])
    assert 23 * MiB <= free0 - avail(scratch) <= 25 * MiB
    rc, out, err = fl("inject", "disk.fill", "--path", scratch, "--percent", 90, "--detach")
    assert rc == 4, err
    assert "cannot overlap fault" in err and "the filesystem of device" in err, err
    assert sorted(journal_records(state_dir)) == sorted(i + ".json" for i in ids)
    assert fl("recover", ids[0])[0] == 0
    assert fill_files(scratch) == [".faultline-fill-" + ids[1]]
    assert 7 * MiB <= free0 - avail(scratch) <= 9 * MiB
    assert fl("recover", ids[1])[0] == 0
    assert abs(avail(scratch) - free0) < MiB
    # a --percent fill first: a later fill on the filesystem is refused
    rc, out, err = fl("inject", "disk.fill", "--path", scratch, "--percent", 50, "--detach",
                      "--lease", "30s")
    assert rc == 0, err
    fid = out.strip().splitlines()[-1]
    rc, out, err = fl("inject", "disk.fill", "--path", scratch, "--size", "1MiB", "--detach")
    assert rc == 4 and f"cannot overlap fault {fid}" in err, err
    assert fl("recover", fid)[0] == 0
    assert fill_files(scratch) == []
