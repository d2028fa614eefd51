"""`faultline agent` serves requests concurrently: while one controller's
apply is slow (a 2 GiB disk.fill on a tmpfs the test mounts itself: the
kernel zeroes every page of it), another controller's lease renewal, a
health check and a listing answer before that apply returns, and the slow
fault then holds and reverts. The same while a revert is slow (a disk.io
whose filesystem process the test freezes in a freezer cgroup of its own:
the revert's SIGTERM waits until the test thaws it), whether a DELETE or the
lease reaper reverts it, and a second revert of that fault at once (a
recover, a DELETE) does not revert it again. The agent listens
on loopback only and its journal is the test's state directory."""
import json
import os
import signal
import subprocess
import threading
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import BIN, cgroup2_mount, wait_for

pytestmark = pytest.mark.usefixtures("no_leftovers")

MiB = 1 << 20
SLOW = 2048 * MiB


@pytest.fixture
def big_tmpfs(tmp_path):
    d = tmp_path / ("fill-" + uuid.uuid4().hex[:8])
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2200m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    assert r.returncode == 0, "cannot mount a tmpfs: " + r.stderr
    yield str(d)
    subprocess.run(["umount", "-l", str(d)], check=True)


class Freezer:
    """A freezer cgroup of the test's own (cgroup v1's freezer controller, else
    cgroup v2's cgroup.freeze): freeze(pid) moves pid into it and freezes it,
    thaw() thaws it. close() thaws, moves what is left back to the root
    cgroup and removes the cgroup."""

    def __init__(self):
        v1 = "/sys/fs/cgroup/freezer"
        name = "faultline-test-" + uuid.uuid4().hex[:8]
        if os.path.isfile(os.path.join(v1, "freezer.state")) or \
                os.path.isfile(os.path.join(v1, "cgroup.procs")) and not cgroup2_mount():
            self.root, self.v2 = v1, False
        else:
            self.root, self.v2 = cgroup2_mount(), True
        assert self.root, "no freezer cgroup on this machine (cgroup v1 freezer or cgroup v2)"
        self.dir = os.path.join(self.root, name)
        os.mkdir(self.dir)

    def _write(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(value)

    def freeze(self, pid):
        self._write("cgroup.procs", str(pid))
        if self.v2:
            self._write("cgroup.freeze", "1")
        else:
            self._write("freezer.state", "FROZEN")

    def thaw(self):
        if self.v2:
            self._write("cgroup.freeze", "0")
        else:
            self._write("freezer.state", "THAWED")

    def close(self):
        self.thaw()
        with open(os.path.join(self.dir, "cgroup.procs")) as f:
            left = f.read().split()
        for pid in left:
            try:
                with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass  # gone meanwhile
        assert wait_for(lambda: not open(os.path.join(self.dir, "cgroup.procs")).read(), 10)
        os.rmdir(self.dir)


@pytest.fixture
def freezer():
    fz = Freezer()
    yield fz
    fz.close()


def sigterm_pending(pid):
    """True once pid has a SIGTERM pending (queued, not acted on: frozen)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("ShdPnd:", "SigPnd:")) and \
                        int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
                    return True
    except OSError:
        pass
    return False


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Agent:
    """A loopback agent on a free port: url (its API base), proc, log()."""

    def __init__(self, state_dir, log_path):
        self.log_path = log_path
        r, w = os.pipe()
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen(
                [BIN, "agent", "--listen", "127.0.0.1:0", "--state-dir", state_dir,
                 "--notify-fd", str(w)], pass_fds=(w,), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log)
        os.close(w)
        line = os.read(r, 64).decode()
        os.close(r)
        assert line.startswith("ready "), self.log()
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/api/v1"

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM: the agent reverts what it holds and exits 0 (under
        scripts/tsan, a data race would make it exit 66)."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        assert rc == 0, f"agent exited {rc}:\n{self.log()}"


@pytest.fixture
def agent(state_dir, tmp_path):
    a = Agent(state_dir, str(tmp_path / "agent.log"))
    yield a
    if a.proc.poll() is None:  # the test failed early: revert what it holds
        a.proc.send_signal(signal.SIGINT)
        try:
            a.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            a.proc.kill()
            a.proc.wait()


def call(url, method="GET", body=None):
    """(status, reply JSON) of one request on its own connection."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def avail(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_files(path):
    return sorted(f for f in os.listdir(path) if f.startswith(".faultline-fill-"))


def test_renew_health_and_list_answer_while_a_slow_apply_runs(agent, big_tmpfs):
    api = agent.url
    # controller B holds a small fill under a lease it renews
    st, b = call(api + "/faults", "POST",
                 {"kind": "disk.fill", "params": {"path": big_tmpfs, "size": "1MiB"},
                  "session": "ctl-b", "lease_ms": 60000})
    assert st == 201, b
    free0 = avail(big_tmpfs)

    # controller A applies a fill the kernel needs a while to allocate
    slow = {}

    def apply_slow():
        slow["reply"] = call(api + "/faults", "POST",
                             {"kind": "disk.fill",
                              "params": {"path": big_tmpfs, "size": f"{SLOW // MiB}MiB"},
                              "session": "ctl-a", "lease_ms": 60000})

    t = threading.Thread(target=apply_slow)
    t.start()
    try:
        # A's inject is under way once its fill file exists
        assert wait_for(lambda: len(fill_files(big_tmpfs)) == 2 or not t.is_alive(), 30, 0.005)
        assert t.is_alive(), f"the slow apply returned before the test could look: {slow}"
        st, renew = call(api + "/sessions/ctl-b/renew", "POST", {"lease_ms": 60000})
        st_h, health = call(api + "/health")
        st_l, listing = call(api + "/faults")
        # order, not a clock: all three answered while A's apply was still running
        answered_first = t.is_alive()
    finally:
        t.join(120)
    assert st == 200 and renew["live"] == [b["id"]], renew
    assert st_h == 200 and health["ok"], health
    assert st_l == 200 and b["id"] in [f["id"] for f in listing["faults"]], listing
    assert answered_first, "renew/health/list waited for the slow apply to finish"

    # the slow fault holds: its file takes the space, B's lease was renewed
    st, a = slow["reply"]
    assert st == 201, a
    assert fill_files(big_tmpfs) == sorted(
        [".faultline-fill-" + b["id"], ".faultline-fill-" + a["id"]]), (a, b, agent.log())
    assert free0 - avail(big_tmpfs) >= SLOW - MiB
    st, rec = call(api + f"/faults/{b['id']}")
    assert st == 200 and rec["lease_left_ms"] > 50000, rec
    # and reverts: the space comes back
    for fid in (a["id"], b["id"]):
        st, rep = call(api + f"/faults/{fid}", "DELETE")
        assert st == 200 and rep["reverted"], rep
    assert fill_files(big_tmpfs) == []
    assert avail(big_tmpfs) >= free0 + MiB // 2
    st, listing = call(api + "/faults")
    assert st == 200 and listing["faults"] == [], listing
    agent.stop()


def test_concurrent_prepares_commits_and_renewals_keep_the_journal_whole(agent, big_tmpfs):
    """Eight controllers prepare and commit their own fill at once while the
    sessions are renewed in a loop: every fault is applied, its record says
    so (a renewal never writes back a stale record over the commit's), and
    a recover reverts them all."""
    api = agent.url
    n = 8
    ids, errors = [None] * n, []
    stop = threading.Event()

    def controller(i):
        st, r = call(api + "/faults", "POST",
                     {"kind": "disk.fill", "params": {"path": big_tmpfs, "size": "1MiB"},
                      "session": f"ctl-{i}", "lease_ms": 60000, "prepare": True})
        if st != 201:
            errors.append(r)
            return
        st, r = call(api + f"/faults/{r['id']}/commit", "POST", {})
        if st != 201:
            errors.append(r)
            return
        ids[i] = r["id"]

    def renewer():
        while not stop.is_set():
            for i in range(n):
                st, r = call(api + f"/sessions/ctl-{i}/renew", "POST", {"lease_ms": 60000})
                if st != 200:
                    errors.append(r)

    ren = threading.Thread(target=renewer)
    ren.start()
    ts = [threading.Thread(target=controller, args=(i,)) for i in range(n)]
    try:
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
    finally:
        stop.set()
        ren.join(60)
    assert errors == [] and all(ids), (errors, ids)
    assert fill_files(big_tmpfs) == sorted(".faultline-fill-" + i for i in ids)
    st, listing = call(api + "/faults")
    assert st == 200 and sorted(f["id"] for f in listing["faults"]) == sorted(ids), listing
    assert all(f["state"] == "applied" and f["lease_left_ms"] > 50000
               for f in listing["faults"]), listing
    st, rep = call(api + "/recover", "POST", {})
    assert st == 200 and sorted(rep["reverted"]) == sorted(ids) and rep["failed"] == [], rep
    assert fill_files(big_tmpfs) == []
    agent.stop()


def test_revert_during_a_slow_apply_undoes_it_and_the_apply_answers_409(agent, big_tmpfs):
    """A DELETE of the fault being applied: the revert takes the journal
    record, the commit then finds it gone, undoes the inject and answers
    409. (The DELETE's own answer may wait for the allocation: the kernel
    holds the file's lock while it allocates, and the revert unlinks it.)"""
    api = agent.url
    free0 = avail(big_tmpfs)
    slow = {}

    def apply_slow():
        slow["reply"] = call(api + "/faults", "POST",
                             {"kind": "disk.fill",
                              "params": {"path": big_tmpfs, "size": f"{SLOW // MiB}MiB"},
                              "session": "ctl-a", "lease_ms": 60000})

    t = threading.Thread(target=apply_slow)
    t.start()
    try:
        assert wait_for(lambda: fill_files(big_tmpfs) or not t.is_alive(), 30, 0.005)
        assert t.is_alive(), f"the slow apply returned before the test could look: {slow}"
        fid = fill_files(big_tmpfs)[0][len(".faultline-fill-"):]
        st, rep = call(api + f"/faults/{fid}", "DELETE")
    finally:
        t.join(120)
    assert st == 200 and rep["reverted"], rep
    st, err = slow["reply"]
    assert st == 409 and "reverted while it was being applied" in err["error"]["message"], err
    # nothing of it stays: no file, the space is back, no record
    assert fill_files(big_tmpfs) == []
    assert wait_for(lambda: avail(big_tmpfs) >= free0 - MiB, 10)
    st, listing = call(api + "/faults")
    assert st == 200 and listing["faults"] == [], listing
    agent.stop()


def test_renew_and_health_answer_while_a_slow_revert_runs_and_it_reverts_once(
        agent, tmp_path, freezer):
    """A DELETE whose revert is slow (the disk.io filesystem process is frozen,
    so the SIGTERM the revert sends waits until the test thaws it): another
    session's renewal and a health check answer while that revert runs, its
    own session's renewal no longer renews it; a recover sent meanwhile reverts the other faults but not that one again;
    once thawed, the DELETE reverts it (the filesystem is unmounted)."""
    api = agent.url
    io_dir, fill_dir = tmp_path / "io", tmp_path / "fill"
    io_dir.mkdir()
    fill_dir.mkdir()
    st, a = call(api + "/faults", "POST",
                 {"kind": "disk.io", "params": {"path": str(io_dir), "delay": "1ms"},
                  "session": "ctl-a", "lease_ms": 60000})
    assert st == 201, a
    st, b = call(api + "/faults", "POST",
                 {"kind": "disk.fill", "params": {"path": str(fill_dir), "size": "1MiB"},
                  "session": "ctl-b", "lease_ms": 60000})
    assert st == 201, b
    worker = a["undo"]["worker"]["pid"]
    assert mounted(str(io_dir)) and pid_alive(worker)
    freezer.freeze(worker)  # from here on, nothing of the test touches io_dir
    replies = {}

    def send(key, *req):
        replies[key] = call(*req)

    t_del = threading.Thread(target=send, args=("delete", api + f"/faults/{a['id']}", "DELETE"))
    t_rec = threading.Thread(target=send, args=("recover", api + "/recover", "POST", {}))
    t_del.start()
    try:
        # the revert is under way once the frozen process has its SIGTERM pending
        assert wait_for(lambda: sigterm_pending(worker) or not t_del.is_alive(), 30, 0.005)
        assert t_del.is_alive(), f"the DELETE returned before the test could look: {replies}"
        st, renew = call(api + "/sessions/ctl-b/renew", "POST", {"lease_ms": 60000})
        st_h, health = call(api + "/health")
        # A's own session renewed meanwhile: the fault being reverted is not
        # renewed, listed as live or put back
        st_a, renew_a = call(api + "/sessions/ctl-a/renew", "POST", {"lease_ms": 60000})
        # order, not a clock: all answered while the revert still waited
        answered_first = t_del.is_alive() and pid_alive(worker)
        t_rec.start()  # a second revert of the same fault, racing the first
        wait_for(lambda: not t_rec.is_alive(), 0.3)
    finally:
        freezer.thaw()
        t_del.join(60)
        if t_rec.ident:
            t_rec.join(60)
    assert st == 200 and renew["live"] == [b["id"]], renew
    assert st_h == 200 and health["ok"], health
    assert st_a == 200 and renew_a["live"] == [], renew_a
    assert answered_first, "renew/health waited for the slow revert to finish"
    st, rep = replies["delete"]
    assert st == 200 and rep["reverted"], rep
    # the recover reverted B, not A again (A was the DELETE's)
    st, rec = replies["recover"]
    assert st == 200 and rec["reverted"] == [b["id"]] and rec["failed"] == [], rec
    assert wait_for(lambda: not pid_alive(worker), 10)
    assert not mounted(str(io_dir))
    assert os.listdir(fill_dir) == []
    st, listing = call(api + "/faults")
    assert st == 200 and listing["faults"] == [], listing
    st, _ = call(api + f"/faults/{a['id']}")
    assert st == 404
    log = agent.log()
    assert log.count(f"fault {a['id']} reverted") == 1, log
    agent.stop()


def test_a_slow_revert_at_lease_end_holds_up_no_request_and_a_racing_delete_finds_it_gone(
        agent, tmp_path, freezer):
    """The lease reaper (the agent's main thread) reverting a fault whose
    filesystem process is frozen: another session's renewal and a health check
    answer meanwhile, and a DELETE of that fault racing the reaper does not
    revert it again ("reverted": false once the reaper's revert is done)."""
    api = agent.url
    io_dir, fill_dir = tmp_path / "io", tmp_path / "fill"
    io_dir.mkdir()
    fill_dir.mkdir()
    st, b = call(api + "/faults", "POST",
                 {"kind": "disk.fill", "params": {"path": str(fill_dir), "size": "1MiB"},
                  "session": "ctl-b", "lease_ms": 60000})
    assert st == 201, b
    # A's session never renews: its lease ends 3 s after the apply
    st, a = call(api + "/faults", "POST",
                 {"kind": "disk.io", "params": {"path": str(io_dir), "delay": "1ms"},
                  "session": "ctl-a", "lease_ms": 3000})
    assert st == 201, a
    worker = a["undo"]["worker"]["pid"]
    freezer.freeze(worker)  # from here on, nothing of the test touches io_dir
    replies = {}

    def delete():
        replies["delete"] = call(api + f"/faults/{a['id']}", "DELETE")

    t_del = threading.Thread(target=delete)
    try:
        # the reaper's revert is under way once the frozen process has its SIGTERM
        assert wait_for(lambda: sigterm_pending(worker) or not pid_alive(worker), 30, 0.005)
        assert pid_alive(worker), "the revert ended before the test could look"
        st, renew = call(api + "/sessions/ctl-b/renew", "POST", {"lease_ms": 60000})
        st_h, health = call(api + "/health")
        answered_first = pid_alive(worker) and sigterm_pending(worker)
        t_del.start()
        wait_for(lambda: not t_del.is_alive(), 0.3)
    finally:
        freezer.thaw()
        if t_del.ident:
            t_del.join(60)
    assert st == 200 and renew["live"] == [b["id"]], renew
    assert st_h == 200 and health["ok"], health
    assert answered_first, "renew/health waited for the reaper's slow revert"
    st, rep = replies["delete"]
    assert st == 200 and rep == {"id": a["id"], "reverted": False}, rep
    assert wait_for(lambda: not pid_alive(worker), 10)
    assert not mounted(str(io_dir))
    log = agent.log()
    assert log.count(f"fault {a['id']} reverted") == 1 and "lease expired" in log, log
    st, rep = call(api + f"/faults/{b['id']}", "DELETE")
    assert st == 200 and rep["reverted"], rep
    st, listing = call(api + "/faults")
    assert st == 200 and listing["faults"] == [], listing
    agent.stop()
