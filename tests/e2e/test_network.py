"""Network fault kinds end to end: real namespaces, real traffic, real
kernel state. Every test builds its own two-namespace lab (netlab.Lab) and
checks after itself that no faultline nft table or fa17: qdisc is left in
the lab and that the journal is empty."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import journal_records
from netlab import Lab, held, UDP_RECEIVER, UDP_SENDER, TCP_SINK, TCP_SOURCE, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, nftables)")

PORT = 7000


@pytest.fixture
def lab(state_dir):
    yield from held(Lab(), state_dir)


def applied(lab, ns):
    return bool(lab.faultline_tables(ns))


def test_partition_foreground_duration(lab, fl_popen, state_dir):
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    lab.tcp_server(lab.a, lab.a_ip, PORT)
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"
    p = fl_popen("inject", "network.partition", "--netns", lab.a, "--peer", lab.b_ip,
                 "--duration", "3s")
    assert wait_for(lambda: applied(lab, lab.a), 5), p.stderr.read() if p.poll() else ""
    # both directions cut: connects time out, nothing refuses
    assert lab.connect(lab.a, lab.b_ip, PORT, 0.7)[0] == "timeout"
    assert lab.connect(lab.b, lab.a_ip, PORT, 0.7)[0] == "timeout"
    assert p.wait(15) == 0, p.stderr.read()
    err = p.stderr.read()
    assert "drop traffic between netns %s and %s (both directions)" % (lab.a, lab.b_ip) in err
    assert "reverted" in err
    assert lab.faultline_tables(lab.a) == []
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"
    assert lab.connect(lab.b, lab.a_ip, PORT)[0] == "ok"


def test_partition_detached_then_recover(lab, fl):
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    rc, out, err = fl("inject", "network.partition", "--netns", lab.a, "--peer",
                      lab.b_ip + "/32", "--port", PORT, "--detach", "--lease", "2m")
    assert rc == 0, err
    fid = out.strip()
    assert lab.faultline_tables(lab.a) == ["faultline_" + fid]
    assert lab.connect(lab.a, lab.b_ip, PORT, 0.7)[0] == "timeout"
    # only that port: another port is still reachable (refused, nothing listens)
    assert lab.connect(lab.a, lab.b_ip, PORT + 1, 0.7)[0] == "refused"
    st = json.loads(fl("status", "--json")[1])
    assert [f["id"] for f in st["faults"]] == [fid]
    rc, out, err = fl("recover", fid)
    assert rc == 0, err
    assert lab.faultline_tables(lab.a) == []
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"
    # reverting again is a no-op
    assert fl("recover", fid)[0] == 0


def test_partition_ipv6_peer_port(lab, fl):
    lab.tcp_server(lab.b, lab.b_ip6, PORT)
    lab.tcp_server(lab.b, lab.b_ip6, PORT + 1)
    assert lab.connect(lab.a, lab.b_ip6, PORT)[0] == "ok"
    rc, out, err = fl("inject", "network.partition", "--netns", lab.a, "--peer",
                      f"[{lab.b_ip6}]:{PORT}", "--protocol", "tcp", "--detach")
    assert rc == 0, err
    assert lab.connect(lab.a, lab.b_ip6, PORT, 0.7)[0] == "timeout"
    assert lab.connect(lab.a, lab.b_ip6, PORT + 1)[0] == "ok"  # other port untouched
    assert lab.connect(lab.a, lab.b_ip, PORT + 5)[0] == "refused"  # IPv4 untouched
    assert fl("recover", out.strip())[0] == 0
    assert lab.connect(lab.a, lab.b_ip6, PORT)[0] == "ok"


def test_blackhole_times_out(lab, fl):
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    rc, out, err = fl("inject", "network.blackhole", "--netns", lab.a, "--peer",
                      f"{lab.b_ip}:{PORT}", "--direction", "out", "--detach")
    assert rc == 0, err
    res, secs = lab.connect(lab.a, lab.b_ip, PORT, 0.8)
    assert res == "timeout" and secs >= 0.7
    assert fl("recover", out.strip())[0] == 0
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"


def test_reject_refuses_at_once(lab, fl):
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    lab.tcp_server(lab.a, lab.a_ip, PORT)
    rc, out, err = fl("inject", "network.reject", "--netns", lab.a, "--peer", lab.b_ip,
                      "--detach")
    assert rc == 0, err
    # from inside the scope and from the peer: immediate refusal, no timeout
    for ns, ip in ((lab.a, lab.b_ip), (lab.b, lab.a_ip)):
        res, secs = lab.connect(ns, ip, PORT, 3)
        assert res in ("refused", "reset"), (ns, res)
        assert secs < 0.5, (ns, secs)
    assert fl("recover", out.strip())[0] == 0
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"


def udp_run(lab, count, pps, port):
    recv = lab.start_ready(lab.b, UDP_RECEIVER, lab.b_ip, port, 1.0, 30)
    lab.run(lab.a, UDP_SENDER, lab.b_ip, port, count, pps)
    out, _ = recv.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1])["received"]


def test_loss_percent(lab, fl):
    # Baseline: the senders and receivers themselves lose nothing.
    base = udp_run(lab, 500, 5000, 9000)
    assert base == 500, base
    rc, out, err = fl("inject", "network.loss", "--netns", lab.a, "--percent", "30",
                      "--peer", lab.b_ip, "--protocol", "udp", "--detach")
    assert rc == 0, err
    try:
        n = 4000
        got = udp_run(lab, n, 5000, 9001)
    finally:
        assert fl("recover", out.strip())[0] == 0
    loss = 100.0 * (n - got) / n
    print("network.loss 30%%: measured %.1f%% over %d packets" % (loss, n))
    assert abs(loss - 30) <= 5, f"measured loss {loss:.1f}%"


def test_bandwidth_rate(lab, fl):
    rc, out, err = fl("inject", "network.bandwidth", "--netns", lab.a, "--rate", "2mbit",
                      "--detach")
    assert rc == 0, err
    fid = out.strip()
    assert "qdisc tbf fa17: dev %s root" % lab.a_dev in lab.qdiscs(lab.a)
    try:
        sink = lab.start_ready(lab.b, TCP_SINK, lab.b_ip, PORT, 0.5, 3.0)
        lab.popen(lab.a, TCP_SOURCE, lab.b_ip, PORT, 5)
        res, _ = sink.communicate(timeout=20)
        bps = json.loads(res.strip().splitlines()[-1])["bits_per_sec"]
    finally:
        assert fl("recover", fid)[0] == 0
    print("network.bandwidth 2mbit: measured %.3f mbit/s over 3s" % (bps / 1e6))
    assert abs(bps - 2e6) <= 0.2 * 2e6, f"measured {bps / 1e6:.2f} mbit/s for 2mbit"
    # the kernel's default qdisc is back
    assert " fa17: " not in lab.qdiscs(lab.a)
    assert "noqueue" in lab.qdiscs(lab.a)


def test_bandwidth_refuses_user_qdisc(lab, fl):
    subprocess.run(["ip", "netns", "exec", lab.a, "tc", "qdisc", "add", "dev", lab.a_dev,
                    "root", "handle", "1:", "tbf", "rate", "10mbit", "burst", "32k", "latency",
                    "50ms"], check=True)
    rc, _, err = fl("inject", "network.bandwidth", "--netns", lab.a, "--rate", "1mbit",
                    "--detach")
    assert rc == 4, err
    assert "configured root qdisc" in err and lab.a_dev in err
    assert "qdisc tbf 1: dev" in lab.qdiscs(lab.a)


def test_bad_input(lab, fl):
    rc, _, err = fl("inject", "network.partition", "--netns", "fl-no-such-ns", "--peer",
                    "10.0.0.1", "--duration", "1s")
    assert rc == 3, err
    assert "fl-no-such-ns" in err and "ip netns list" in err
    rc, _, err = fl("inject", "network.loss", "--netns", lab.a, "--percent", "130")
    assert rc == 2, err
    rc, _, err = fl("inject", "network.bandwidth", "--rate", "1mbit", "--duration", "1s")
    assert rc == 2, err
    assert "--dev" in err
    rc, _, err = fl("inject", "network.partition", "--netns", lab.a, "--peer", "db.internal")
    assert rc == 2 and "--peer" in err, err
    rc, _, err = fl("inject", "network.bandwidth", "--netns", lab.a, "--rate", "1mbit",
                    "--direction", "in")
    assert rc == 6 and "ifb" in err, err


def test_scope_by_pid(lab, fl):
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    holder = lab.tcp_server(lab.a, lab.a_ip, PORT)  # a process living in netns a
    rc, out, err = fl("inject", "network.partition", "--pid", holder.pid, "--peer", lab.b_ip,
                      "--detach")
    assert rc == 0, err
    assert applied(lab, lab.a)
    assert lab.connect(lab.a, lab.b_ip, PORT, 0.7)[0] == "timeout"
    assert fl("recover", out.strip())[0] == 0
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"


def test_revert_after_namespace_gone_is_noop(state_dir, fl):
    lab = Lab()
    try:
        rc, out, err = fl("inject", "network.partition", "--netns", lab.a, "--peer", lab.b_ip,
                          "--detach")
        assert rc == 0, err
    finally:
        lab.close()
    rc, _, err = fl("recover", out.strip())
    assert rc == 0, err
    assert journal_records(state_dir) == []


def test_sigkill_mid_fault_guardian_reverts(lab, fl_popen, state_dir):
    lease = 2.0
    p = fl_popen("inject", "network.partition", "--netns", lab.a, "--peer", lab.b_ip,
                 "--duration", "60s", "--lease", "2s")
    assert wait_for(lambda: applied(lab, lab.a), 5)
    assert wait_for(lambda: journal_records(state_dir) != [], 2)
    p.send_signal(signal.SIGKILL)
    p.wait(5)
    t0 = time.monotonic()
    assert wait_for(lambda: not applied(lab, lab.a), lease + 1), "table still there"
    assert wait_for(lambda: journal_records(state_dir) == [], 2)
    print("guardian reverted after %.2fs" % (time.monotonic() - t0))


def test_recover_all_sweeps_leftovers(lab, fl):
    # leftovers with faultline's names that no journal knows about
    subprocess.run(["ip", "netns", "exec", lab.a, "nft", "add", "table", "inet",
                    "faultline_0badf00d"], check=True)
    subprocess.run(["ip", "netns", "exec", lab.b, "tc", "qdisc", "add", "dev", lab.b_dev, "root",
                    "handle", "fa17:", "tbf", "rate", "1mbit", "burst", "10k", "latency", "50ms"],
                   check=True)
    rc, out, err = fl("recover", "--all")
    assert rc == 0, err
    assert "faultline_0badf00d" in err and "fa17:" in err
    assert lab.leftovers() == []


# ---- overlapping faults on one namespace (docs/faults-network.md,
# "Overlapping faults")

def test_overlapping_partitions_compose(lab, fl):
    """Each nft fault is its own table: reverting one leaves the other
    cutting the traffic until it ends too."""
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    ids = []
    for kind in ("network.partition", "network.blackhole"):
        rc, out, err = fl("inject", kind, "--netns", lab.a, "--peer", lab.b_ip, "--detach",
                          "--lease", "1m")
        assert rc == 0, err
        ids.append(out.strip())
    assert sorted(lab.faultline_tables(lab.a)) == sorted("faultline_" + i for i in ids)
    assert fl("recover", ids[0])[0] == 0
    assert lab.faultline_tables(lab.a) == ["faultline_" + ids[1]]
    assert lab.connect(lab.a, lab.b_ip, PORT, 0.7)[0] == "timeout"
    assert fl("recover", ids[1])[0] == 0
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"


def test_second_bandwidth_limit_on_a_device_is_refused(lab, fl, state_dir):
    rc, out, err = fl("inject", "network.bandwidth", "--netns", lab.a, "--rate", "2mbit",
                      "--detach", "--lease", "1m")
    assert rc == 0, err
    fid = out.strip()
    try:
        rc, out, err = fl("inject", "network.bandwidth", "--netns", lab.a, "--rate", "1mbit",
                          "--detach", "--lease", "1m")
        assert rc == 4, err
        assert lab.a_dev in err and "already shaped by faultline" in err, err
        # the first limit is untouched, and the refused fault left no record
        assert "rate 2Mbit" in lab.qdiscs(lab.a), lab.qdiscs(lab.a)
        assert journal_records(state_dir) == [fid + ".json"]
    finally:
        assert fl("recover", fid)[0] == 0
    assert " fa17: " not in lab.qdiscs(lab.a)


def test_second_proxy_fault_on_a_target_is_refused(lab, fl, state_dir):
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "100ms", "--detach", "--lease", "1m")
    assert rc == 0, err
    fid = out.strip()
    other = None
    try:
        rc, out, err = fl("inject", "network.jitter", "--netns", lab.a, "--target",
                          f"{lab.b_ip}:{PORT}", "--jitter", "50ms", "--detach", "--lease", "1m")
        assert rc == 4, err
        assert f"cannot overlap fault {fid}" in err and f"{lab.b_ip}:{PORT}" in err, err
        assert f"faultline recover {fid}" in err
        assert journal_records(state_dir) == [fid + ".json"]
        assert lab.faultline_tables(lab.a) == ["faultline_" + fid]
        # another port of the same host is another target: allowed
        rc, out, err = fl("inject", "network.jitter", "--netns", lab.a, "--target",
                          f"{lab.b_ip}:{PORT + 1}", "--jitter", "50ms", "--detach", "--lease",
                          "1m")
        assert rc == 0, err
        other = out.strip()
    finally:
        assert fl("recover", fid)[0] == 0
        if other:
            assert fl("recover", other)[0] == 0
    assert lab.faultline_tables(lab.a) == []


def test_overlap_is_seen_through_another_name_of_the_namespace(lab, fl, state_dir):
    """--netns A and --pid of a process living in A name one namespace: the
    second proxy fault on the same target is refused, whichever name it uses
    (claims compare the namespace's inode, not the scope's wording)."""
    inside = lab.tcp_server(lab.a, lab.a_ip, PORT + 7)  # a process in namespace a
    ino = os.stat(f"/proc/{inside.pid}/ns/net").st_ino
    assert ino == os.stat(f"/run/netns/{lab.a}").st_ino
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "100ms", "--detach", "--lease", "1m")
    assert rc == 0, err
    fid = out.strip()
    other = None
    try:
        rc, out, err = fl("inject", "network.jitter", "--pid", inside.pid, "--target",
                          f"{lab.b_ip}:{PORT}", "--jitter", "50ms", "--detach", "--lease", "1m")
        other = out.strip() if rc == 0 else None
        assert rc == 4, (out, err)
        assert f"cannot overlap fault {fid}" in err and f"net:[{ino}]" in err, err
        assert journal_records(state_dir) == [fid + ".json"]
        assert lab.faultline_tables(lab.a) == ["faultline_" + fid]
    finally:
        assert fl("recover", fid)[0] == 0
        if other:
            fl("recover", other)
    assert lab.faultline_tables(lab.a) == []


@pytest.mark.parametrize("args,text", [
    # the message names the option the bad value was given to
    (["network.delay", "--target", "10.9.9.9:99999", "--latency", "1s"],
     "--target: '10.9.9.9:99999': the port must be a number from 1 to 65535"),
    (["network.partition", "--peer", "10.9.9.9:99999"],
     "--peer: '10.9.9.9:99999': the port must be a number from 1 to 65535"),
    (["network.reset", "--endpoint", "10.9.9.9:0"],
     "--endpoint: '10.9.9.9:0': the port must be a number from 1 to 65535"),
    # a number too large is "too large", not unreadable
    (["network.bandwidth", "--dev", "lo", "--rate", "99999999tbit"],
     "--rate: rate '99999999tbit' is too large"),
])
def test_bad_values_are_named_by_their_option(fl, args, text):
    rc, _, err = fl("inject", *args, "--duration", "1s")
    assert rc == 2, err
    assert text in err, err
    assert "--peer" not in err or "--peer" in args


# ---- kernel netem (network.delay/jitter without --target, duplicate, reorder, corrupt) ----

def kernel_has_netem(lab):
    """The answer of an independent oracle: iproute2's tc adding a netem
    qdisc on lo of the lab's second namespace (removed again at once)."""
    r = subprocess.run(["ip", "netns", "exec", lab.b, "tc", "qdisc", "add", "dev", "lo", "root",
                        "netem", "delay", "1ms"], capture_output=True, text=True)
    if r.returncode == 0:
        subprocess.run(["ip", "netns", "exec", lab.b, "tc", "qdisc", "del", "dev", "lo", "root"],
                       check=True)
    return r.returncode == 0


NETEM_ONLY = [
    ("network.duplicate", "--percent", "5"),
    ("network.reorder", "--percent", "25", "--latency", "10ms"),
    ("network.corrupt", "--percent", "1"),
]


def test_netem_detection_matches_the_kernel(lab, fl, state_dir):
    """faultline's run-time netem probe must agree with tc. On this project's
    kernel (no sch_netem) every netem use exits 6 saying so and touches
    nothing; on a kernel with netem, delay without --target really delays
    the namespace's packets and revert removes the qdisc."""
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    if not kernel_has_netem(lab):
        for args in [("network.delay", "--latency", "100ms"),
                     ("network.jitter", "--jitter", "20ms")] + NETEM_ONLY:
            rc, _, err = fl("inject", *args, "--netns", lab.a, "--detach")
            assert rc == 6, err
            assert "lacks sch_netem" in err and "scratch network namespace" in err, err
            if args[0] in ("network.delay", "network.jitter"):
                assert "--target" in err, "names the proxy fallback: " + err
        assert " fa17: " not in lab.qdiscs(lab.a)
        assert journal_records(state_dir) == []
        return
    # kernel netem present (never run on the development machine)
    t0 = time.monotonic()
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"
    base = time.monotonic() - t0
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--latency", "300ms",
                      "--detach")
    assert rc == 0, err
    fid = out.strip()
    try:
        assert "qdisc netem fa17: dev %s root" % lab.a_dev in lab.qdiscs(lab.a)
        t0 = time.monotonic()
        assert lab.connect(lab.a, lab.b_ip, PORT, 5)[0] == "ok"
        assert time.monotonic() - t0 - base >= 0.2  # the SYN waited 300ms on the way out
        # a second root qdisc fault on the same device is refused
        rc, _, err = fl("inject", "network.bandwidth", "--netns", lab.a, "--rate", "1mbit",
                        "--detach")
        assert rc == 4, err
    finally:
        assert fl("recover", fid)[0] == 0
    assert " fa17: " not in lab.qdiscs(lab.a)
    assert "noqueue" in lab.qdiscs(lab.a)


def test_netem_switch(lab, fl, state_dir):
    """FAULTLINE_NETEM=off forces the fallbacks without probing; any other
    value than off/auto is a usage error. The proxy path ignores it."""
    rc, _, err = fl("inject", "network.delay", "--netns", lab.a, "--latency", "50ms",
                    env={"FAULTLINE_NETEM": "off"})
    assert rc == 6 and "switched off (FAULTLINE_NETEM=off)" in err and "--target" in err, err
    rc, _, err = fl("inject", "network.corrupt", "--netns", lab.a, "--percent", "1",
                    env={"FAULTLINE_NETEM": "sometimes"})
    assert rc == 2 and "FAULTLINE_NETEM='sometimes'" in err, err
    # --target: the proxy, whatever the switch says
    lab.tcp_server(lab.b, lab.b_ip, PORT)
    rc, out, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                      f"{lab.b_ip}:{PORT}", "--latency", "50ms", "--detach",
                      env={"FAULTLINE_NETEM": "off"})
    assert rc == 0, err
    assert applied(lab, lab.a)
    assert lab.connect(lab.a, lab.b_ip, PORT)[0] == "ok"
    assert fl("recover", out.strip())[0] == 0
    assert not applied(lab, lab.a)
    assert journal_records(state_dir) == []


def test_netem_bad_input(lab, fl):
    rc, _, err = fl("inject", "network.duplicate", "--percent", "5")
    assert rc == 2 and "--dev" in err, err  # never the host's devices by default
    rc, _, err = fl("inject", "network.reorder", "--netns", lab.a, "--percent", "5")
    assert rc == 2 and "--latency" in err, err
    rc, _, err = fl("inject", "network.delay", "--netns", lab.a, "--target",
                    f"{lab.b_ip}:{PORT}", "--dev", lab.a_dev, "--latency", "10ms")
    assert rc == 2 and "do not go together" in err, err
    rc, _, err = fl("inject", "network.delay", "--latency", "10ms")
    assert rc == 2 and "--target" in err and "--dev" in err, err
