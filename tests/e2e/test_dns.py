"""dns.fault: a network namespace the test makes, with a real resolver
(dnsmasq, answering example.test and other.test itself) on its loopback, and
/etc/netns/NS/resolv.conf pointing at it. Queries are made from inside that
namespace with dig and getent; nothing leaves it."""
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BIN, alive, journal_records, wait_for

DNSMASQ = "/usr/sbin/dnsmasq"


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


@pytest.fixture
def dnsns(spawn):
    ns = "fl-dns-" + uuid.uuid4().hex[:6]
    sh("ip", "netns", "add", ns, check=True)
    etc = f"/etc/netns/{ns}"
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up", check=True)
        os.makedirs(etc)
        with open(f"{etc}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")
        spawn(["ip", "netns", "exec", ns, DNSMASQ, "--keep-in-foreground", "--no-resolv",
               "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=",
               "--address=/example.test/10.1.2.3", "--address=/other.test/10.4.5.6"])
        assert wait_for(lambda: "10.4.5.6" in dig(ns, "b.other.test", short=True), 10)
        yield ns
    finally:
        sh("ip", "netns", "del", ns)
        shutil.rmtree(etc, ignore_errors=True)


def dig(ns, name, *extra, short=False, timeout=1):
    args = ["ip", "netns", "exec", ns, "dig", f"+time={timeout}", "+tries=1", *extra, name]
    if short:
        args.insert(5, "+short")
    return sh(*args, timeout=30).stdout


def status(ns, name, *extra, timeout=1):
    out = dig(ns, name, *extra, timeout=timeout)
    m = re.search(r"status: (\w+)", out)
    if m:
        return m.group(1)
    return "TIMEOUT" if "timed out" in out or "no servers could be reached" in out else out


def tables(ns):
    return sh("ip", "netns", "exec", ns, "nft", "list", "tables").stdout


def responders():
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if b"__dns-worker" in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return [p for p in out if alive(p)]


def inject(fl, ns, *args):
    rc, out, err = fl("inject", "dns.fault", "--netns", ns, *args, "--detach", "--lease", "2m")
    assert rc == 0, err
    return out.strip().split()[-1]


def test_nxdomain_for_matching_names_forward_the_rest_and_revert(fl, dnsns):
    ns = dnsns
    fid = inject(fl, ns, "--name", "*.example.test", "--error", "nxdomain")
    assert "faultline_" in tables(ns)
    assert status(ns, "a.example.test") == "NXDOMAIN"
    assert status(ns, "a.example.test", "+tcp") == "NXDOMAIN"      # TCP too
    assert status(ns, "A.EXAMPLE.TEST") == "NXDOMAIN"              # names are case-insensitive
    assert "10.4.5.6" in dig(ns, "b.other.test", short=True)       # others reach the resolver
    assert "10.4.5.6" in dig(ns, "b.other.test", "+tcp", short=True)
    r = sh("ip", "netns", "exec", ns, "getent", "hosts", "a.example.test")
    assert r.returncode == 2                                        # what a program sees
    rc, out, _ = fl("status", "--json")
    assert "answer NXDOMAIN to DNS queries for *.example.test" in out
    rc, _, err = fl("recover", fid)
    assert rc == 0, err
    assert "10.1.2.3" in dig(ns, "a.example.test", short=True)
    assert "faultline_" not in tables(ns)
    assert wait_for(lambda: responders() == [], 5)


@pytest.mark.parametrize("args,qtype,expect", [
    (["--error", "servfail"], "a", "SERVFAIL"),
    (["--error", "refused"], "a", "REFUSED"),
    (["--error", "timeout"], "a", "TIMEOUT"),
    (["--address", "192.0.2.7"], "a", "192.0.2.7"),
    (["--address", "2001:db8::7"], "aaaa", "2001:db8::7"),
])
def test_each_answer(fl, dnsns, args, qtype, expect):
    fid = inject(fl, dnsns, "--name", "a.example.test", *args)
    if expect.isupper():
        assert status(dnsns, "a.example.test", qtype) == expect
    else:
        assert dig(dnsns, "a.example.test", qtype, short=True).split() == [expect]
    assert "10.1.2.3" in dig(dnsns, "z.example.test", short=True)  # not matching: real answer
    assert fl("recover", fid)[0] == 0
    assert "10.1.2.3" in dig(dnsns, "a.example.test", short=True)


def test_delay_then_real_answer(fl, dnsns):
    fid = inject(fl, dnsns, "--name", "a.example.test", "--delay", "800ms")
    out = dig(dnsns, "a.example.test", timeout=3)
    ms = int(re.search(r"Query time: (\d+) msec", out).group(1))
    assert ms >= 800 and "10.1.2.3" in out
    out = dig(dnsns, "b.other.test", timeout=3)
    assert int(re.search(r"Query time: (\d+) msec", out).group(1)) < 800
    assert fl("recover", fid)[0] == 0


def test_percent_touches_a_share(fl, dnsns):
    fid = inject(fl, dnsns, "--name", "*.example.test", "--error", "nxdomain", "--percent", "50")
    got = [status(dnsns, f"q{i}.example.test") for i in range(60)]
    assert set(got) == {"NXDOMAIN", "NOERROR"}, got
    assert fl("recover", fid)[0] == 0


def test_owner_killed_guardian_reverts(fl_popen, fl, dnsns, state_dir):
    p = fl_popen("inject", "dns.fault", "--netns", dnsns, "--error", "nxdomain",
                 "--duration", "1m")
    assert wait_for(lambda: status(dnsns, "a.example.test") == "NXDOMAIN", 10)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: journal_records(state_dir) == [], 15)
    assert "10.1.2.3" in dig(dnsns, "a.example.test", short=True)
    assert "faultline_" not in tables(dnsns)
    assert wait_for(lambda: responders() == [], 5)


def test_responder_killed_takes_its_redirect_along(fl, dnsns):
    """The redirect table is owned by the responder's netlink socket: the
    responder's death, even by SIGKILL, ends the fault at once."""
    fid = inject(fl, dnsns, "--error", "nxdomain")
    assert status(dnsns, "a.example.test") == "NXDOMAIN"
    [pid] = responders()
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: "faultline_" not in tables(dnsns), 5)
    assert "10.1.2.3" in dig(dnsns, "a.example.test", short=True)
    assert fl("recover", fid)[0] == 0


def test_second_dns_fault_on_a_namespace_refused(fl, dnsns):
    fid = inject(fl, dnsns, "--name", "a.example.test", "--error", "nxdomain")
    rc, _, err = fl("inject", "dns.fault", "--netns", dnsns, "--name", "b.example.test",
                    "--error", "servfail", "--duration", "5s")
    # the namespace by its identity (any name for it overlaps), the fault in
    # place by its description
    ino = os.stat(f"/run/netns/{dnsns}").st_ino
    assert rc == 4 and f"DNS queries in net:[{ino}]" in err and f"netns {dnsns}" in err, err
    assert fl("recover", fid)[0] == 0


@pytest.mark.parametrize("args,code,msg", [
    (["--error", "bogus"], 2, "nxdomain"),
    (["--error", "nxdomain", "--address", "1.2.3.4"], 2, "exclude each other"),
    ([], 2, "say what happens"),
    (["--address", "not-an-ip"], 2, "IPv4 or IPv6"),
    (["--error", "timeout", "--delay", "1s"], 2, "--delay has no meaning"),
    (["--error", "nxdomain", "--name", "bad name!"], 2, "--name"),
    (["--error", "nxdomain", "--upstream", "10.0.0.0/8"], 2, "not a network"),
    (["--error", "nxdomain", "--percent", "0"], 2, "percent"),
])
def test_bad_input(fl, dnsns, args, code, msg, state_dir):
    rc, _, err = fl("inject", "dns.fault", "--netns", dnsns, *args, "--duration", "1s")
    assert rc == code and msg in err, err
    assert journal_records(state_dir) == [] and responders() == []


def test_missing_namespace(fl):
    rc, _, err = fl("inject", "dns.fault", "--netns", "fl-no-such-ns", "--error", "nxdomain",
                    "--duration", "1s")
    assert rc == 3 and "fl-no-such-ns" in err
