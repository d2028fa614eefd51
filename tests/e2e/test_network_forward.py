"""The shapes of the packet-filter rule sets that test_network.py does not
reach: forwarded traffic through a router namespace (network.partition
filters the forward hook), three or more peers (their rules live once in
shared from_peers/to_peers chains), and a peer port with both directions
(the rules after the address match live in one shared chain).

The lab is three namespaces, client - router - server, with the router
forwarding between two veth links; all traffic stays inside them. Each test
checks that the fault really cuts the traffic it names, leaves the rest
alone, and that after recover nothing is left and traffic flows again."""
import os
import random

import pytest

from netlab import Lab, held, sh, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, nftables)")

PORT = 7100


class RouterLab(Lab):
    """c (client) -- r (router) -- s (server); c_ip/s_ip and c_ip6/s_ip6."""

    def __init__(self):
        tag = "%06x" % random.getrandbits(24)
        self.c, self.r, self.s = f"fl-{tag}-c", f"fl-{tag}-r", f"fl-{tag}-s"
        n1 = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
        n2 = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
        while n2 == n1:
            n2 = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
        g = "fd%02x:%04x:%04x" % (random.getrandbits(8), random.getrandbits(16),
                                  random.getrandbits(16))
        self.c_ip, self.rc_ip, self.rs_ip, self.s_ip = f"{n1}.1", f"{n1}.2", f"{n2}.2", f"{n2}.1"
        self.c_ip6, self.rc_ip6 = f"{g}:1::1", f"{g}:1::2"
        self.s_ip6, self.rs_ip6 = f"{g}:2::1", f"{g}:2::2"
        self.procs = []
        self._created = []
        try:
            for ns in (self.c, self.r, self.s):
                sh("ip", "netns", "add", ns)
                self._created.append(ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", f"fl{tag}c", "netns", self.c, "type", "veth", "peer", "name",
               f"fl{tag}rc", "netns", self.r)
            sh("ip", "link", "add", f"fl{tag}s", "netns", self.s, "type", "veth", "peer", "name",
               f"fl{tag}rs", "netns", self.r)
            for ns, dev, ip, ip6 in ((self.c, f"fl{tag}c", self.c_ip, self.c_ip6),
                                     (self.r, f"fl{tag}rc", self.rc_ip, self.rc_ip6),
                                     (self.r, f"fl{tag}rs", self.rs_ip, self.rs_ip6),
                                     (self.s, f"fl{tag}s", self.s_ip, self.s_ip6)):
                sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                sh("ip", "-n", ns, "addr", "add", f"{ip6}/64", "dev", dev, "nodad")
                sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "netns", "exec", self.r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            sh("ip", "netns", "exec", self.r, "sysctl", "-q", "-w",
               "net.ipv6.conf.all.forwarding=1")
            sh("ip", "-n", self.c, "route", "add", "default", "via", self.rc_ip)
            sh("ip", "-n", self.s, "route", "add", "default", "via", self.rs_ip)
            sh("ip", "-n", self.c, "-6", "route", "add", "default", "via", self.rc_ip6)
            sh("ip", "-n", self.s, "-6", "route", "add", "default", "via", self.rs_ip6)
            for ns, ip in ((self.c, self.s_ip), (self.c, self.s_ip6), (self.s, self.c_ip),
                           (self.s, self.c_ip6)):
                assert wait_for(lambda: self.connect(ns, ip, 9, 0.3)[0] == "refused", 5), \
                    f"lab not reachable: {ns} -> {ip}"
        except BaseException:
            self.close()
            raise

    def leftovers(self):
        return [f"{ns}: table {t}" for ns in (self.c, self.r, self.s)
                for t in self.faultline_tables(ns)]


@pytest.fixture
def rlab(state_dir):
    yield from held(RouterLab(), state_dir)


def test_partition_in_router_cuts_forwarded_traffic(rlab, fl):
    """One peer: the router drops what it forwards to and from the server,
    both families; the client still reaches the router itself."""
    rlab.tcp_server(rlab.s, "0.0.0.0", PORT)
    rlab.tcp_server(rlab.s, "::", PORT + 1)
    rlab.tcp_server(rlab.r, rlab.rc_ip, PORT)
    assert rlab.connect(rlab.c, rlab.s_ip, PORT)[0] == "ok"
    rc, out, err = fl("inject", "network.partition", "--netns", rlab.r, "--peer", rlab.s_ip,
                      "--peer", rlab.s_ip6, "--detach")
    assert rc == 0, err
    fid = out.strip()
    assert rlab.connect(rlab.c, rlab.s_ip, PORT, 0.7)[0] == "timeout"
    assert rlab.connect(rlab.c, rlab.s_ip6, PORT + 1, 0.7)[0] == "timeout"
    assert rlab.connect(rlab.s, rlab.c_ip, 9, 0.7)[0] == "timeout"
    assert rlab.connect(rlab.c, rlab.rc_ip, PORT)[0] == "ok"  # not a peer
    assert fl("recover", fid)[0] == 0
    assert rlab.faultline_tables(rlab.r) == []
    assert rlab.connect(rlab.c, rlab.s_ip, PORT)[0] == "ok"
    assert rlab.connect(rlab.c, rlab.s_ip6, PORT + 1)[0] == "ok"


def test_partition_three_peers_port_direction_out(rlab, fl):
    """Three peers (shared from/to chains) and a port: only packets towards
    the peers with that port are dropped, forwarded or local."""
    rlab.tcp_server(rlab.s, "0.0.0.0", PORT)
    rlab.tcp_server(rlab.s, "0.0.0.0", PORT + 1)
    rlab.tcp_server(rlab.c, "0.0.0.0", PORT)
    rlab.tcp_server(rlab.r, rlab.rc_ip, PORT)
    rc, out, err = fl("inject", "network.partition", "--netns", rlab.r, "--peer", rlab.s_ip,
                      "--peer", "192.0.2.0/24", "--peer", "2001:db8::/32", "--port", PORT,
                      "--direction", "out", "--detach")
    assert rc == 0, err
    fid = out.strip()
    # forwarded client -> server on the port: the SYN is dropped
    assert rlab.connect(rlab.c, rlab.s_ip, PORT, 0.7)[0] == "timeout"
    # another port passes, and so does the port on a host that is no peer
    assert rlab.connect(rlab.c, rlab.s_ip, PORT + 1)[0] == "ok"
    assert rlab.connect(rlab.c, rlab.rc_ip, PORT)[0] == "ok"
    # from the router itself (output hook) to the server's port: dropped
    assert rlab.connect(rlab.r, rlab.s_ip, PORT, 0.7)[0] == "timeout"
    # server -> client's port: the SYN is not towards a peer and passes, the
    # client's answer goes to the server from source port PORT: dropped
    assert rlab.connect(rlab.s, rlab.c_ip, PORT, 0.7)[0] == "timeout"
    assert fl("recover", fid)[0] == 0
    assert rlab.connect(rlab.c, rlab.s_ip, PORT)[0] == "ok"


def test_partition_three_peers_direction_in(rlab, fl):
    """Direction in through the shared from_peers chain: packets from the
    server are dropped (so the handshake's answer never arrives), packets
    to it are not (the server sees the SYN)."""
    rlab.tcp_server(rlab.s, "0.0.0.0", PORT)
    rlab.tcp_server(rlab.c, "0.0.0.0", PORT)
    rc, out, err = fl("inject", "network.partition", "--netns", rlab.r, "--peer", rlab.s_ip,
                      "--peer", "192.0.2.7", "--peer", rlab.s_ip6, "--direction", "in",
                      "--detach")
    assert rc == 0, err
    fid = out.strip()
    assert rlab.connect(rlab.c, rlab.s_ip, PORT, 0.7)[0] == "timeout"
    assert rlab.connect(rlab.s, rlab.c_ip, PORT, 0.7)[0] == "timeout"
    assert rlab.connect(rlab.c, rlab.rc_ip, 9)[0] == "refused"  # the router still answers
    assert fl("recover", fid)[0] == 0
    assert rlab.connect(rlab.s, rlab.c_ip, PORT)[0] == "ok"


def test_reject_both_port_ipv4_and_ipv6(rlab, fl):
    """reject, both directions, a port, peers of both families: the shared
    per-family chains refuse at once and let the kernel's answers pass."""
    rlab.tcp_server(rlab.s, "0.0.0.0", PORT)
    rlab.tcp_server(rlab.s, "::", PORT + 1)
    rc, out, err = fl("inject", "network.reject", "--netns", rlab.c, "--peer",
                      f"{rlab.s_ip}:{PORT}", "--peer", f"[{rlab.s_ip6}]:{PORT + 1}", "--detach")
    assert rc == 0, err
    fid = out.strip()
    res, secs = rlab.connect(rlab.c, rlab.s_ip, PORT, 2)
    assert res in ("refused", "reset") and secs < 1.5, (res, secs)
    res, secs = rlab.connect(rlab.c, rlab.s_ip6, PORT + 1, 2)
    assert res in ("refused", "reset") and secs < 1.5, (res, secs)
    # the IPv4 peer's rule names only its own port (the server listens on
    # PORT + 1 for both families)
    assert rlab.connect(rlab.c, rlab.s_ip, PORT + 1)[0] == "ok"
    assert fl("recover", fid)[0] == 0
    assert rlab.connect(rlab.c, rlab.s_ip, PORT)[0] == "ok"
