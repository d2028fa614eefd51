"""`faultline lab`: hosts as network namespaces on a bridge. Each test builds its
own lab with a random name and subnet, sends traffic only between the lab's
namespaces, and removes the lab in a finalizer (checking nothing is left)."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import BIN, wait_for

PY = "/usr/bin/python3"
SERVE = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen()
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
"""
CONNECT = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
    print(s.recv(10).decode())
except OSError as e:
    print("failed:", e); sys.exit(1)
"""


def leftovers(name):
    """Everything of lab `name` still on the machine."""
    out = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [l.split()[0] for l in ns.splitlines() if l.startswith(name + "-h")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for prefix in (f"flb-{name}:", f"flv-{name}-", f"flp-{name}-"):
        out += [l.split(":")[1].strip() for l in links.splitlines() if f" {prefix}" in l]
    if os.path.isdir("/etc/netns"):
        out += [d for d in os.listdir("/etc/netns") if d.startswith(name + "-h")]
    return out


@pytest.fixture
def lab(fl):
    """A fresh lab name and subnet; the lab is removed afterwards whatever happened."""
    made = []

    def new():
        name = "t%05x" % random.randrange(1 << 20)
        subnet = "10.%d.%d.0/24" % (random.randrange(200, 250), random.randrange(0, 255))
        made.append(name)
        return name, subnet

    yield new
    for name in made:
        fl("lab", "down", name)
        assert leftovers(name) == [], f"lab {name} left {leftovers(name)}"


def test_lab_up_exec_partition_down(fl, lab, spawn, state_dir):
    name, subnet = lab()
    rc, out, err = fl("lab", "up", "--name", name, "--hosts", "5", "--subnet", subnet, "--json")
    assert rc == 0, err
    j = json.loads(out)
    assert j["ready"] and j["bridge"] == f"flb-{name}" and len(j["hosts"]) == 5
    base = subnet.rsplit(".", 1)[0]
    assert j["bridge_addr"] == base + ".1"
    assert [h["addr"] for h in j["hosts"]] == [f"{base}.{i}" for i in range(2, 7)]
    assert all(h["up"] and h["netns"] == f"{name}-h{i + 1}" for i, h in enumerate(j["hosts"]))

    # every host names every other in its /etc/hosts, for `lab exec` and `ip netns exec`
    rc, out, err = fl("lab", "exec", f"{name}/h1", "--", "cat", "/etc/hosts")
    assert rc == 0 and f"{base}.4\th3 {name}-h3" in out, out + err
    out = subprocess.run(["ip", "netns", "exec", f"{name}-h2", "cat", "/etc/hosts"],
                         capture_output=True, text=True).stdout
    assert f"{base}.2\th1 {name}-h1" in out
    # eth0 inside carries the host's address
    rc, out, _ = fl("lab", "exec", f"{name}/h2", "--", "ip", "-br", "addr", "show", "eth0")
    assert rc == 0 and f"{base}.3/24" in out

    server = spawn([BIN, "lab", "exec", f"{name}/h3", "--", PY, "-c", SERVE, "7000"],
                   env=dict(os.environ, FAULTLINE_STATE_DIR=state_dir))

    def connect(src, dst):
        return fl("lab", "exec", f"{name}/{src}", "--", PY, "-c", CONNECT, dst, "7000")

    assert wait_for(lambda: connect("h1", "h3")[0] == 0, 10)
    rc, out, _ = connect("h1", "h3")
    assert out.strip() == "hi"
    rc, out, _ = fl("lab", "status", name, "--json")
    assert json.loads(out)[0]["hosts"][2]["processes"] >= 1

    # a partition between two lab hosts blocks traffic both ways, and heals
    rc, out, err = fl("inject", "network.partition", "--netns", f"{name}-h1", "--peer",
                      f"{base}.4", "--detach", "--lease", "1m")
    assert rc == 0, err
    fid = out.strip().split()[-1]
    assert connect("h1", "h3")[0] != 0
    spawn([BIN, "lab", "exec", f"{name}/h1", "--", PY, "-c", SERVE, "7000"],
          env=dict(os.environ, FAULTLINE_STATE_DIR=state_dir))
    assert wait_for(lambda: connect("h2", "h1")[0] == 0, 10)  # h1 serves; h2 reaches it
    assert connect("h3", "h1")[0] != 0                        # h3 does not: both directions
    assert connect("h2", "h3")[0] == 0                        # others are untouched
    rc, _, err = fl("recover", fid)
    assert rc == 0, err
    assert connect("h1", "h3")[0] == 0 and connect("h3", "h1")[0] == 0

    # down stops the lab's processes (by pid) and removes everything
    rc, out, err = fl("lab", "down", name)
    assert rc == 0, err
    assert "5 namespace(s)" in out and "process(es) stopped" in out
    assert wait_for(lambda: server.poll() is not None, 5)
    assert leftovers(name) == []
    rc, _, err = fl("lab", "status", name)
    assert rc == 3 and "no lab named" in err


def test_lab_name_in_use_and_overlapping_subnet_refused(fl, lab):
    name, subnet = lab()
    rc, _, err = fl("lab", "up", "--name", name, "--hosts", "2", "--subnet", subnet)
    assert rc == 0, err
    rc, _, err = fl("lab", "up", "--name", name, "--hosts", "2", "--subnet", "10.199.3.0/24")
    assert rc == 4 and "exists already" in err and f"lab down {name}" in err
    other, _ = lab()
    # the first lab's bridge route covers this subnet
    rc, _, err = fl("lab", "up", "--name", other, "--hosts", "2",
                    "--subnet", subnet.replace(".0/24", ".0/25"))
    assert rc == 4 and "overlaps the route" in err, err
    assert leftovers(other) == []  # a refused lab leaves nothing


@pytest.mark.parametrize("args,msg", [
    (["--name", "Bad-Name"], "lower-case letters and digits"),
    (["--name", "waytoolongname"], "1-8"),
    (["--hosts", "0"], "--hosts"),
    (["--hosts", "33"], "--hosts"),
    (["--subnet", "10.9.9.9/24"], "did you mean 10.9.9.0/24"),
    (["--subnet", "10.9.9.0/30"], "/16 to /29"),
    (["--subnet", "10.9.9.0/29", "--hosts", "7"], "use a shorter prefix"),
    (["--subnet", "nonsense"], "A.B.C.D/P"),
])
def test_lab_up_bad_input(fl, args, msg):
    rc, _, err = fl("lab", "up", *args)
    assert rc == 2 and msg in err, err


def test_lab_reading_commands_create_nothing(fl, state_dir):
    rc, out, err = fl("lab", "status")
    assert rc == 0
    rc, _, err = fl("lab", "status", "nosuchlb")
    assert rc == 3 and "no lab named 'nosuchlb'" in err
    rc, _, err = fl("lab", "down", "nosuchlb")
    assert rc == 3
    rc, _, err = fl("lab", "exec", "nosuchlb/h1", "--", "true")
    assert rc == 3
    assert not os.path.exists(state_dir)


def test_lab_exec_errors(fl, lab):
    name, subnet = lab()
    assert fl("lab", "up", "--name", name, "--hosts", "1", "--subnet", subnet)[0] == 0
    rc, _, err = fl("lab", "exec", f"{name}/h9", "--", "true")
    assert rc == 3 and "has no host 'h9'" in err
    rc, _, err = fl("lab", "exec", f"{name}/h1", "--", "/nonexistent/cmd")
    assert rc == 127 and "cannot run" in err
    rc, _, err = fl("lab", "exec", f"{name}/h1", "--", "sh", "-c", "exit 7")
    assert rc == 7
    rc, _, err = fl("lab", "exec", "nohost")
    assert rc == 2 and "NAME/HOST" in err


def test_lab_up_killed_midway_is_swept(fl, lab, state_dir):
    """A `lab up` SIGKILLed while building leaves a lab marked as building;
    `recover --all` removes it (its builder is dead) and `lab down` finds
    nothing more."""
    name, subnet = lab()
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.Popen([BIN, "lab", "up", "--name", name, "--hosts", "32",
                          "--subnet", subnet], env=e,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: os.path.exists(f"/run/netns/{name}-h1"), 10, step=0.002)
    p.send_signal(signal.SIGKILL)
    p.wait()
    rc, out, _ = fl("lab", "status", name, "--json")
    assert rc == 0
    st = json.loads(out)[0]
    assert not st["ready"] and 1 <= len(st["hosts"]) < 32
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert leftovers(name) == []
