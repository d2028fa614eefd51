"""A two-namespace network lab for the network fault tests.

`Lab` creates two network namespaces with unique names (fl-<random>-a and
fl-<random>-b) joined by a veth pair, with addresses in a random 10.x/24
and a random fdxx::/64 that exist only inside those namespaces. All test traffic stays between
them (or on their loopback). Helper processes run inside a namespace via
`ip netns exec`, are remembered by PID and killed by PID at teardown; the
namespaces are deleted even when the test failed.
"""
import json
import os
import random
import signal
import subprocess
import sys

from conftest import wait_for  # noqa: F401 (re-exported: the tests import it from here)

# A TCP server that accepts forever; each connection is read until EOF.
TCP_SERVER = r"""
import socket, sys, threading
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ready", flush=True)
def serve(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# Try one TCP connect; prints {"result": "ok"|"refused"|"timeout"|..., "secs": t}.
TCP_CONNECT = r"""
import json, socket, sys, time
t = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    r = "ok"
except ConnectionRefusedError:
    r = "refused"
except ConnectionResetError:
    r = "reset"
except (socket.timeout, TimeoutError):
    r = "timeout"
except OSError as e:
    r = "error:%s" % e
print(json.dumps({"result": r, "secs": time.monotonic() - t}))

"""

# UDP receiver: counts distinct sequence numbers until `idle` seconds pass
# without a packet (after the first) or `limit` seconds in all.
UDP_RECEIVER = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
idle, limit = float(sys.argv[3]), float(sys.argv[4])
print("ready", flush=True)
seen = set()
start = time.monotonic()
s.settimeout(0.2)
last = None
while time.monotonic() - start < limit:
    try:
        d, _ = s.recvfrom(2048)
        seen.add(int(d.split(b" ")[0]))
        last = time.monotonic()
    except socket.timeout:
        if last is not None and time.monotonic() - last > idle:
            break
print(json.dumps({"received": len(seen)}), flush=True)
"""

# UDP sender: `count` numbered datagrams at about `pps` packets per second.
UDP_SENDER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
count, pps = int(sys.argv[3]), float(sys.argv[4])
t0 = time.monotonic()
for i in range(count):
    while time.monotonic() < t0 + i / pps:
        pass
    try:
        s.sendto(b"%d payload" % i, dst)
    except OSError:
        pass
"""

# TCP sink: one connection; prints the bytes received in [skip, skip+window]
# seconds after the first byte, and the rate over that window.
TCP_SINK = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
skip, window = float(sys.argv[3]), float(sys.argv[4])
print("ready", flush=True)
c, _ = s.accept()
first = None
got = 0
while True:
    d = c.recv(65536)
    now = time.monotonic()
    if not d:
        break
    if first is None:
        first = now
    if skip <= now - first <= skip + window:
        got += len(d)
    if now - first > skip + window:
        break
print(json.dumps({"bytes": got, "bits_per_sec": got * 8 / window}), flush=True)
"""

# TCP source: sends as fast as the socket takes it for `secs` seconds.
TCP_SOURCE = r"""
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
buf = b"x" * 16384
end = time.monotonic() + float(sys.argv[3])
try:
    while time.monotonic() < end:
        c.send(buf)
except OSError:
    pass
"""


def sh(*args, check=True, timeout=30, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=check,
                          timeout=timeout, **kw)


class Lab:
    """Two namespaces a and b joined by veth; a_ip/b_ip their addresses."""

    def __init__(self):
        tag = "%06x" % random.getrandbits(24)
        self.a, self.b = f"fl-{tag}-a", f"fl-{tag}-b"
        net = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
        self.a_ip, self.b_ip = f"{net}.1", f"{net}.2"
        self.a_dev, self.b_dev = f"fl{tag}a", f"fl{tag}b"
        net6 = "fd%02x:%04x:%04x::" % (random.getrandbits(8), random.getrandbits(16),
                                       random.getrandbits(16))
        self.a_ip6, self.b_ip6 = net6 + "1", net6 + "2"
        self.procs = []
        self._created = []
        try:
            for ns in (self.a, self.b):
                sh("ip", "netns", "add", ns)
                self._created.append(ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", self.a_dev, "netns", self.a, "type", "veth", "peer", "name",
               self.b_dev, "netns", self.b)
            sh("ip", "-n", self.a, "addr", "add", f"{self.a_ip}/24", "dev", self.a_dev)
            sh("ip", "-n", self.b, "addr", "add", f"{self.b_ip}/24", "dev", self.b_dev)
            sh("ip", "-n", self.a, "addr", "add", f"{self.a_ip6}/64", "dev", self.a_dev, "nodad")
            sh("ip", "-n", self.b, "addr", "add", f"{self.b_ip6}/64", "dev", self.b_dev, "nodad")
            sh("ip", "-n", self.a, "link", "set", self.a_dev, "up")
            sh("ip", "-n", self.b, "link", "set", self.b_dev, "up")
            # Reachable both ways and both families before any test starts
            # (IPv6 neighbour discovery can lose the very first packets).
            for ns, ip in ((self.a, self.b_ip), (self.a, self.b_ip6), (self.b, self.a_ip),
                           (self.b, self.a_ip6)):
                assert wait_for(lambda: self.connect(ns, ip, 9, 0.3)[0] == "refused", 5), \
                    f"lab not reachable: {ns} -> {ip}"
        except BaseException:
            self.close()
            raise

    # ---- processes inside a namespace ------------------------------------

    def popen(self, ns, script, *args):
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", script,
                              *map(str, args)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def start_ready(self, ns, script, *args):
        """Start a helper that prints 'ready' once listening."""
        p = self.popen(ns, script, *args)
        line = p.stdout.readline()
        assert line.strip() == "ready", f"helper did not start: {line!r} {p.stderr.read()}"
        return p

    def run(self, ns, script, *args, timeout=30):
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", script,
                            *map(str, args)], capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def tcp_server(self, ns, ip, port):
        return self.start_ready(ns, TCP_SERVER, ip, port)

    def connect(self, ns, ip, port, timeout=1.0):
        """(result, seconds) of one TCP connect from ns."""
        out = json.loads(self.run(ns, TCP_CONNECT, ip, port, timeout).strip().splitlines()[-1])
        return out["result"], out["secs"]

    # ---- kernel state ----------------------------------------------------

    def nft_tables(self, ns):
        out = sh("ip", "netns", "exec", ns, "nft", "list", "tables").stdout
        return [l.split()[-1] for l in out.splitlines() if l.startswith("table ")]

    def faultline_tables(self, ns):
        return [t for t in self.nft_tables(ns) if t.startswith("faultline_")]

    def qdiscs(self, ns):
        return sh("ip", "netns", "exec", ns, "tc", "qdisc", "show").stdout

    def leftovers(self):
        """Every faultline_* table and fa17: qdisc in the lab, as text."""
        out = []
        for ns in (self.a, self.b):
            out += [f"{ns}: table {t}" for t in self.faultline_tables(ns)]
            out += [f"{ns}: {l}" for l in self.qdiscs(ns).splitlines() if " fa17: " in l]
        return out

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        self.procs = []
        for ns in self._created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._created = []


def held(lab, state_dir):
    """A lab fixture's body: yield the lab; after the test, fail it if a
    fault table or journal record is left (removing them with
    `faultline recover --all` first), and delete the lab in any case."""
    from conftest import BIN, journal_records
    try:
        yield lab
        left = lab.leftovers()
        journal = journal_records(state_dir)
        if left or journal:
            e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
            subprocess.run([BIN, "recover", "--all"], env=e, capture_output=True, timeout=30)
        assert left == [], f"left in the kernel: {left}"
        assert journal == [], f"left in the journal: {journal}"
    finally:
        lab.close()
