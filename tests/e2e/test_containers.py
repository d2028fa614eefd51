"""Containers as targets: process and network faults by container name.

Each podman test runs a container from a root filesystem the test builds in
its tmp dir (a statically linked busybox, plus redis-server and the
libraries ldd lists for the Redis test; no registry is reachable) and removes
it by id when it ends, pass or fail. Traffic goes over a veth pair the test
wires from the host into the container's namespace (containers run with
--network none), deleted at the end. Containers run with runc: crun
refuses this machine's hybrid cgroup layout. The Docker lookup is tested
against a fake Docker API on a unix socket (Docker is not installed here);
the "container" it describes is a process the test puts in a cgroup of its
own, so the cgroup path of the lookup runs too.
"""
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from conftest import BIN, cgroup2_mount, journal_records, proc_state, wait_for

BUSYBOX = "/bin/busybox"  # busybox-static: runs in a rootfs with no libraries
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
HOST_IP, CT_IP, PORT = "10.213.77.1", "10.213.77.2", 7000


def podman(*args, check=True):
    p = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode:
        raise AssertionError(f"podman {' '.join(args)}: {p.stderr}")
    return p.stdout.strip()


@pytest.fixture
def rootfs(tmp_path):
    assert shutil.which("podman"), "podman is not installed: run scripts/bootstrap"
    assert os.path.exists(BUSYBOX), "busybox-static is not installed: run scripts/bootstrap"
    d = tmp_path / "rootfs"
    (d / "bin").mkdir(parents=True)
    for sub in ("proc", "sys", "dev", "etc", "tmp"):
        (d / sub).mkdir()
    shutil.copy(BUSYBOX, d / "bin" / "busybox")
    for cmd in ("sh", "sleep", "nc", "cat"):
        os.symlink("busybox", d / "bin" / cmd)
    return str(d)


@pytest.fixture
def container(rootfs):
    """run(name, *cmd, network="none") starts a container; removed by id at the end."""
    ids = []

    def run(name, *cmd, network="none", start=True):
        # create, then start: the id is known (and removed) even if start fails
        cid = podman("create", "--name", name, "--network", network, *LIMITS, "--rootfs",
                     rootfs, *cmd)
        ids.append(cid)
        if not start:
            return cid, 0
        podman("start", cid)
        return cid, int(podman("inspect", "--format", "{{.State.Pid}}", cid))

    yield run
    for cid in ids:
        podman("rm", "-f", "-t", "0", cid, check=False)


def container_pids(init):
    """Host pids of every process in the pid namespace of `init`."""
    ns = os.stat(f"/proc/{init}/ns/pid")
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = os.stat(f"/proc/{d}/ns/pid")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino):
                out.append(int(d))
    return sorted(out)


def states(pids):
    return {p: proc_state(p) for p in pids}


def test_pause_by_container_name_and_revert(container, fl, spawn):
    name = f"fl-e2e-pause-{os.getpid()}"
    _, init = container(name, "/bin/sh", "-c", "sleep 300 & exec sleep 301")
    assert wait_for(lambda: len(container_pids(init)) == 2, 5)
    pids = container_pids(init)
    bystander = spawn(["sleep", "300"])  # same name on the host: must stay untouched
    rc, out, err = fl("inject", "process.pause", "--container", name, "--detach")
    assert rc == 0, err
    fid = out.strip()
    assert f"2 of 2 processes in container {name}" in err, err
    assert wait_for(lambda: all(s == "T" for s in states(pids).values()), 5), states(pids)
    assert proc_state(bystander.pid) != "T"
    rc, _, err = fl("recover", fid)
    assert rc == 0, err
    assert wait_for(lambda: all(s in ("S", "R") for s in states(pids).values()), 5), states(pids)


def test_container_selector_narrows_with_name(container, fl):
    name = f"fl-e2e-narrow-{os.getpid()}"
    _, init = container(name, "/bin/sh", "-c", "sleep 300 & wait")
    assert wait_for(lambda: len(container_pids(init)) == 2, 5)
    sleeper = [p for p in container_pids(init) if p != init][0]
    rc, out, err = fl("inject", "process.pause", "--container", name, "--name", "sleep",
                      "--detach")
    assert rc == 0, err
    assert proc_state(sleeper) == "T" and proc_state(init) != "T"
    assert fl("recover", out.strip())[0] == 0
    assert wait_for(lambda: proc_state(sleeper) != "T", 5)


def connect(ip, port, timeout=1.0):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        s.sendall(b"ping\n")
        return "ok" if s.recv(5) == b"ping\n" else "bad"
    except socket.timeout:
        return "timeout"
    except OSError as ex:
        return type(ex).__name__
    finally:
        s.close()


@pytest.fixture
def veth_to(request):
    """veth(pid): a veth pair from the host into pid's netns; deleted at the end."""
    made = []

    def make(pid):
        host = f"flct{os.getpid() % 100000}"
        subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth1",
                        "netns", str(pid)], check=True)
        made.append(host)
        subprocess.run(["ip", "addr", "add", f"{HOST_IP}/30", "dev", host], check=True)
        subprocess.run(["ip", "link", "set", host, "up"], check=True)
        for cmd in (["addr", "add", f"{CT_IP}/30", "dev", "eth1"], ["link", "set", "eth1", "up"]):
            subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", *cmd], check=True)
        return host

    yield make
    for host in made:
        subprocess.run(["ip", "link", "del", host], capture_output=True)


def add_program(rootfs, prog):
    """Copy `prog` and the shared libraries ldd names into the rootfs."""
    out = subprocess.run(["ldd", prog], capture_output=True, text=True, check=True).stdout
    files = [prog] + [w for line in out.splitlines() for w in line.split() if w.startswith("/")]
    for f in files:
        dst = os.path.join(rootfs, f.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.realpath(f), dst)


def redis_ping(ip, port, timeout=1.0):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        s.sendall(b"PING\r\n")
        return "ok" if s.recv(7) == b"+PONG\r\n" else "bad"
    except socket.timeout:
        return "timeout"
    except OSError as ex:
        return type(ex).__name__
    finally:
        s.close()


def test_containerized_redis_paused_by_name(rootfs, container, veth_to, fl):
    assert shutil.which("redis-server"), "redis-server is not installed: run scripts/bootstrap"
    add_program(rootfs, shutil.which("redis-server"))
    name = f"fl-e2e-redis-{os.getpid()}"
    _, init = container(name, shutil.which("redis-server"), "--port", "6379", "--bind", "0.0.0.0",
                        "--protected-mode", "no", "--save", "", "--appendonly", "no")
    veth_to(init)
    assert wait_for(lambda: redis_ping(CT_IP, 6379) == "ok", 10)
    rc, out, err = fl("inject", "process.pause", "--container", name, "--detach")
    assert rc == 0, err
    assert "redis-server" in err or f"container {name}" in err, err
    assert proc_state(init) == "T"
    assert redis_ping(CT_IP, 6379, 0.7) == "timeout"  # the kernel accepts, Redis never answers
    rc, _, err = fl("recover", out.strip())
    assert rc == 0, err
    assert redis_ping(CT_IP, 6379) == "ok"


def test_partition_by_container_name_and_heal(container, veth_to, fl):
    name = f"fl-e2e-part-{os.getpid()}"
    _, init = container(name, "/bin/nc", "-ll", "-p", str(PORT), "-e", "/bin/cat")
    veth_to(init)
    assert wait_for(lambda: connect(CT_IP, PORT) == "ok", 5)
    rc, out, err = fl("inject", "network.partition", "--container", name, "--peer", HOST_IP,
                      "--detach")
    assert rc == 0, err
    assert f"container {name}" in err, err
    assert connect(CT_IP, PORT, 0.7) == "timeout"
    # The host's own namespace is untouched: the fault lives in the container's.
    host_rules = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    ct_rules = subprocess.run(["nsenter", "-t", str(init), "-n", "nft", "list", "tables"],
                              capture_output=True, text=True).stdout
    assert "faultline" in ct_rules and ct_rules != host_rules
    rc, _, err = fl("recover", out.strip())
    assert rc == 0, err
    assert connect(CT_IP, PORT) == "ok"


def test_sigkill_owner_guardian_resumes_container(container, fl_popen, state_dir):
    name = f"fl-e2e-kill-{os.getpid()}"
    _, init = container(name, "/bin/sleep", "300")
    p = fl_popen("inject", "process.pause", "--container", name, "--duration", "60s",
                 "--lease", "2s")
    assert wait_for(lambda: proc_state(init) == "T", 10)
    assert wait_for(lambda: journal_records(state_dir) != [], 2)
    p.send_signal(signal.SIGKILL)
    p.wait(5)
    assert wait_for(lambda: proc_state(init) not in ("T", None), 8), proc_state(init)
    assert wait_for(lambda: journal_records(state_dir) == [], 5)


def test_missing_stopped_and_bad_containers(container, fl):
    rc, _, err = fl("inject", "process.pause", "--container", "fl-e2e-no-such", "--duration", "1s")
    assert rc == 3 and "podman knows no container 'fl-e2e-no-such'" in err, err
    rc, _, err = fl("inject", "network.partition", "--container", "fl-e2e-no-such", "--peer",
                    HOST_IP, "--duration", "1s")
    assert rc == 3 and "no container" in err, err
    name = f"fl-e2e-stopped-{os.getpid()}"
    container(name, "/bin/sleep", "300", start=False)
    rc, _, err = fl("inject", "process.pause", "--container", name, "--duration", "1s")
    assert rc == 3 and "is not running" in err and "podman start" in err, err
    rc, _, err = fl("inject", "process.pause", "--container", "a/b", "--duration", "1s")
    assert rc == 2 and "--container" in err, err
    rc, _, err = fl("inject", "network.loss", "--container", "x", "--pid", "1", "--percent", "5")
    assert rc == 2 and "give one of them" in err, err
    rc, _, err = fl("inject", "process.pause", "--container", "docker:x", "--duration", "1s",
                    env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert rc == 3 and "Docker is not running" in err, err
    # No runtime at all: no podman on PATH, no Docker socket.
    rc, _, err = fl("inject", "process.pause", "--container", "web", "--duration", "1s",
                    env={"PATH": "/nonexistent", "DOCKER_HOST": "unix:///nonexistent/d.sock"})
    assert rc == 3 and "no container runtime here" in err, err
    rc, _, err = fl("inject", "process.pause", "--container", "docker:web", "--duration", "1s",
                    env={"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert rc == 2 and "local unix socket" in err, err


# ---- Docker, through a fake API on a unix socket ----------------------------


class FakeDocker(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def fake_docker(path, containers):
    class Handler(BaseHTTPRequestHandler):
        def address_string(self):
            return "docker-client"

        def log_message(self, *a):
            pass

        def do_GET(self):
            parts = self.path.split("/")  # /v1.24/containers/NAME/json
            c = containers.get(parts[3]) if len(parts) == 5 and parts[4] == "json" else None
            body = json.dumps(c if c else {"message": "No such container"}).encode()
            self.send_response(200 if c else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = FakeDocker(path, Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def own_cgroup():
    """A fresh cgroup v2 directory; its processes are killed and it is removed at the end."""
    mnt = cgroup2_mount()
    assert mnt, "no cgroup2 hierarchy mounted"
    d = os.path.join(mnt, f"fl-e2e-ct-{os.getpid()}")
    os.mkdir(d)
    procs = []
    yield d, procs
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            os.kill(p.pid, signal.SIGKILL)
        p.wait()
    wait_for(lambda: not open(os.path.join(d, "cgroup.procs")).read().strip(), 5)
    os.rmdir(d)


def test_docker_api_lookup_pauses_the_cgroup(tmp_path, own_cgroup, fl, spawn):
    cg, procs = own_cgroup
    for _ in range(2):
        procs.append(subprocess.Popen(
            ["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec sleep 300"]))
    assert wait_for(lambda: len(open(f"{cg}/cgroup.procs").read().split()) == 2, 5)
    outside = spawn(["sleep", "300"])
    sock = str(tmp_path / "docker.sock")
    cid = "ab" * 32
    srv = fake_docker(sock, {
        "web": {"Id": cid, "Name": "/web",
                "State": {"Status": "running", "Running": True, "Pid": procs[0].pid}},
        "old": {"Id": "cd" * 32, "Name": "/old",
                "State": {"Status": "exited", "Running": False, "Pid": 0}},
    })
    env = {"DOCKER_HOST": f"unix://{sock}"}
    try:
        rc, out, err = fl("inject", "process.pause", "--container", "docker:web", "--detach",
                          env=env)
        assert rc == 0, err
        assert all(proc_state(p.pid) == "T" for p in procs)
        assert proc_state(outside.pid) != "T"
        assert fl("recover", out.strip())[0] == 0
        assert wait_for(lambda: all(proc_state(p.pid) != "T" for p in procs), 5)
        rc, _, err = fl("inject", "process.pause", "--container", "docker:old", "--duration",
                        "1s", env=env)
        assert rc == 3 and "is not running (status exited)" in err and "docker start" in err, err
        rc, _, err = fl("inject", "process.pause", "--container", "docker:gone", "--duration",
                        "1s", env=env)
        assert rc == 3 and "Docker knows no container 'gone'" in err, err
    finally:
        srv.shutdown()
        srv.server_close()


EXPERIMENT = """\
title: a container's processes pause and resume
hypothesis: the container comes back after the pause
duration: 3s
targets:
  app:
    container: {name}
steady_state:
  interval: 100ms
  probes:
    - name: alive
      type: command
      command: "true"
method:
  - name: pause-app
    kind: process.pause
    target: app
    start: 300ms
    duration: 1500ms
recovery:
  within: 5s
"""


def test_experiment_target_by_container(container, tmp_path, state_dir):
    name = f"fl-e2e-exp-{os.getpid()}"
    _, init = container(name, "/bin/sleep", "300")
    spec = tmp_path / "exp.yaml"
    spec.write_text(EXPERIMENT.format(name=name))
    env = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.Popen([BIN, "run", str(spec), "--db", str(tmp_path / "runs.db")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = set()
    while p.poll() is None:
        seen.add(proc_state(init))
        time.sleep(0.05)
    out, err = p.communicate()
    assert p.returncode == 0, out + err
    assert "T" in seen, seen
    assert proc_state(init) in ("S", "R")
    assert journal_records(state_dir) == []
