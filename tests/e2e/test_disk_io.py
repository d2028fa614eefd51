"""disk.io: a FUSE filesystem over a directory the test makes fails, slows or
shortens the file operations the fault selects; the rest reach the files
underneath. Every test checks the mount is gone at the end."""
import errno
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import journal_records, wait_for


def mounts(path=None):
    with open("/proc/self/mountinfo") as f:
        out = [l.split()[4] for l in f if " - fuse.faultline " in l]
    return [m for m in out if path is None or m == str(path)]


def workers(comm=None):
    """Live disk.io processes: the filesystem ("faultline-io") and its
    unmount sentinel ("faultline-iogd"), or those with the given comm."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if b"__diskio-worker" not in f.read():
                        continue
                with open(f"/proc/{p}/comm") as f:
                    c = f.read().strip()
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue
                if comm is None or c == comm:
                    out.append(int(p))
            except OSError:
                pass
    return out


@pytest.fixture
def d():
    """A directory other users can reach too (pytest's tmp_path is 0700)."""
    top = tempfile.mkdtemp(prefix="fl-dio-")
    os.chmod(top, 0o755)
    d = pathlib.Path(top) / "data"
    d.mkdir()
    (d / "a.txt").write_text("hello\n")
    (d / "b.aof").write_bytes(b"x" * 1000)
    yield d
    for m in mounts(d):  # never leave a mount, even when the test failed
        subprocess.run(["umount", "-l", m])
    left = mounts(d)
    shutil.rmtree(top, ignore_errors=True)
    assert left == []


def inject(fl, d, *args):
    rc, out, err = fl("inject", "disk.io", "--path", str(d), *args, "--detach", "--lease", "2m")
    assert rc == 0, err
    assert mounts(d) == [str(d)]
    return out.strip().split()[-1]


def read(p):
    try:
        with open(p, "rb") as f:
            return f.read()
    except OSError as e:
        return e.errno


def test_eio_on_reads_of_matching_files_then_revert(fl, d):
    fid = inject(fl, d, "--op", "read", "--file", "*.txt", "--errno", "EIO")
    assert read(d / "a.txt") == errno.EIO
    assert read(d / "b.aof") == b"x" * 1000            # another file: untouched
    (d / "c.txt").write_text("new\n")                  # writes are not selected
    assert sorted(os.listdir(d)) == ["a.txt", "b.aof", "c.txt"]
    rc, out, _ = fl("status")
    assert "EIO on read of *.txt under" in out
    assert fl("recover", fid)[0] == 0
    assert mounts(d) == [] and workers() == []
    assert read(d / "a.txt") == b"hello\n"
    assert read(d / "c.txt") == b"new\n"              # what was written went underneath


def test_fsync_error_only_for_fsync(fl, d):
    fid = inject(fl, d, "--op", "fsync", "--file", "*.aof", "--errno", "EIO")
    fd = os.open(d / "b.aof", os.O_WRONLY | os.O_APPEND)
    try:
        assert os.write(fd, b"y") == 1
        with pytest.raises(OSError) as ei:
            os.fsync(fd)
        assert ei.value.errno == errno.EIO
    finally:
        os.close(fd)
    fd = os.open(d / "a.txt", os.O_WRONLY)
    os.fsync(fd)                                       # *.txt is not selected
    os.close(fd)
    assert fl("recover", fid)[0] == 0


def test_enospc_on_write_and_files_keep_their_owner(fl, d):
    os.chmod(d, 0o777)
    fid = inject(fl, d, "--op", "write", "--errno", "ENOSPC")
    with pytest.raises(OSError) as ei:
        with open(d / "a.txt", "wb") as f:
            f.write(b"more")
            f.flush()
    assert ei.value.errno == errno.ENOSPC
    # a file made through the mount by another user is that user's
    r = subprocess.run(["runuser", "-u", "nobody", "--", "touch", str(d / "mine")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert fl("recover", fid)[0] == 0
    st = os.stat(d / "mine")
    assert st.st_uid != 0


def test_delay_and_short_reads(fl, d):
    fid = inject(fl, d, "--op", "read", "--file", "b.aof", "--delay", "300ms")
    t = time.monotonic()
    assert read(d / "b.aof") == b"x" * 1000
    assert time.monotonic() - t >= 0.3
    assert fl("recover", fid)[0] == 0
    fid = inject(fl, d, "--op", "read", "--file", "b.aof", "--short")
    fd = os.open(d / "b.aof", os.O_RDONLY)
    try:
        assert len(os.read(fd, 1000)) == 500           # half of what was asked
    finally:
        os.close(fd)
    assert fl("recover", fid)[0] == 0


def test_percent_fails_a_share(fl, d):
    fid = inject(fl, d, "--op", "open", "--file", "a.txt", "--errno", "EACCES", "--percent", "50")
    got = [read(d / "a.txt") for _ in range(60)]
    assert errno.EACCES in got and b"hello\n" in got, got
    assert fl("recover", fid)[0] == 0


def test_redis_cannot_make_its_aof_durable(fl, d, spawn):
    """A real service: Redis with an append-only file refuses to run on a
    disk whose fsync fails, and runs again on the same directory once the
    fault is reverted."""
    fid = inject(fl, d, "--op", "fsync", "--errno", "EIO")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = d.parent / "redis.log"
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", str(log)]

    def ping():
        return subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                              text=True, timeout=10).stdout.strip()

    redis = spawn(argv)
    assert wait_for(lambda: redis.poll() is not None, 15), "redis kept running"
    assert "Input/output error" in log.read_text()
    assert ping() != "PONG"
    assert fl("recover", fid)[0] == 0
    assert mounts(d) == []
    redis = spawn(argv)
    assert wait_for(lambda: ping() == "PONG", 15)
    assert redis.poll() is None


def test_owner_killed_guardian_unmounts(fl_popen, fl, d, state_dir):
    p = fl_popen("inject", "disk.io", "--path", str(d), "--errno", "EIO", "--op", "read",
                 "--duration", "1m")
    assert wait_for(lambda: read(d / "a.txt") == errno.EIO, 10)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: journal_records(state_dir) == [], 15)
    assert mounts(d) == [] and read(d / "a.txt") == b"hello\n"
    assert wait_for(lambda: workers() == [], 5)


def test_worker_killed_mount_goes_with_it(fl, d):
    """The sentinel unmounts when the filesystem process dies, even by
    SIGKILL, so the directory never stays broken (ENOTCONN)."""
    for _ in range(3):
        fid = inject(fl, d, "--errno", "EIO", "--op", "read")
        [pid] = workers("faultline-io")
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: mounts(d) == [], 5)
        assert read(d / "a.txt") == b"hello\n"
        assert wait_for(lambda: workers() == [], 5)
        assert fl("recover", fid)[0] == 0


def test_second_fault_on_a_directory_refused(fl, d):
    fid = inject(fl, d, "--errno", "EIO", "--op", "read")
    rc, _, err = fl("inject", "disk.io", "--path", str(d), "--errno", "EIO", "--duration", "1s")
    assert rc == 4 and "file operations under" in err, err
    assert fl("recover", fid)[0] == 0


@pytest.mark.parametrize("args,code,msg", [
    (["--errno", "EBOGUS"], 2, "--errno"),
    ([], 2, "say what happens"),
    (["--errno", "EIO", "--short"], 2, "exclude each other"),
    (["--short", "--op", "fsync"], 2, "--short acts on read and write"),
    (["--errno", "EIO", "--op", "frobnicate"], 2, "--op 'frobnicate'"),
    (["--errno", "EIO", "--percent", "0"], 2, "percent"),
])
def test_bad_input(fl, d, args, code, msg, state_dir):
    rc, _, err = fl("inject", "disk.io", "--path", str(d), *args, "--duration", "1s")
    assert rc == code and msg in err, err
    assert mounts(d) == [] and journal_records(state_dir) == []


def test_bad_paths(fl, d):
    rc, _, err = fl("inject", "disk.io", "--path", str(d / "nope"), "--errno", "EIO",
                    "--duration", "1s")
    assert rc == 3 and "nope" in err
    rc, _, err = fl("inject", "disk.io", "--path", str(d / "a.txt"), "--errno", "EIO",
                    "--duration", "1s")
    assert rc == 2 and "not a directory" in err
    for p in ("/", "/usr", "/proc/sys"):
        rc, _, err = fl("inject", "disk.io", "--path", p, "--errno", "EIO", "--duration", "1s")
        assert rc == 4, err
    assert mounts() == [] or all(not m.startswith(("/usr", "/proc")) for m in mounts())
