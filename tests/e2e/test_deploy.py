"""deploy/: the Kubernetes manifests parse, name one image (the project's
version, built by deploy/container/Containerfile) and one binary path, pass
options the binary accepts, mount what their arguments point into, and ask for
exactly the capabilities docs/deploy.md documents; the systemd units agree."""
import os
import re
import subprocess

import yaml

from conftest import BIN, ROOT

DEPLOY = os.path.join(ROOT, "deploy")


def version():
    with open(os.path.join(ROOT, "meson.build")) as f:
        return re.search(r"version:\s*'([^']+)'", f.read()).group(1)


def manifests():
    out = []
    kdir = os.path.join(DEPLOY, "kubernetes")
    for name in sorted(os.listdir(kdir)):
        assert name.endswith(".yaml"), name
        with open(os.path.join(kdir, name)) as f:
            out += [(name, d) for d in yaml.safe_load_all(f) if d is not None]
    return out


def by_kind(kind, name):
    found = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def documented_caps():
    with open(os.path.join(ROOT, "docs", "deploy.md")) as f:
        text = f.read()
    table = text.split("### The agent's capabilities, and why")[1].split("###")[0]
    return sorted(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))


def containerfile():
    with open(os.path.join(DEPLOY, "container", "Containerfile")) as f:
        return f.read()


def help_of(cmd):
    return subprocess.run([BIN, cmd, "--help"], capture_output=True, text=True).stdout


def check_container(c, sub):
    """Image, binary, options and mounts of one container running `faultline sub`."""
    assert c["image"] == f"localhost/faultline:{version()}"
    dest = re.search(r"^COPY \S+ (\S+)$", containerfile(), re.M).group(1)
    assert c["command"] == [dest]
    args = c["args"]
    assert args[0] == sub
    helptext = help_of(sub)
    for a in args[1:]:
        if a.startswith("--"):
            assert f"  {a} " in helptext, f"{sub} does not take {a}"
    mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
    for opt in ("--tokens", "--state-dir", "--db"):
        if opt in args:
            path = args[args.index(opt) + 1]
            assert any(path.startswith(m + "/") or path == m for m in mounts), (opt, path)
    port = int(args[args.index("--listen") + 1].rsplit(":", 1)[1])
    assert port in [p["containerPort"] for p in c["ports"]]
    return args


def test_manifests_parse_and_share_namespace():
    docs = manifests()
    kinds = sorted(d["kind"] for _, d in docs)
    assert {"Namespace", "DaemonSet", "Deployment"} <= set(kinds), kinds
    for name, d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "faultline", name


def test_agent_daemonset():
    ds = by_kind("DaemonSet", "faultline-agent")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    (c,) = spec["containers"]
    args = check_container(c, "agent")
    assert "--tokens" in args  # a non-loopback listen needs tokens
    sc = c["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sorted(sc["capabilities"]["add"]) == documented_caps()
    assert not sc.get("privileged") and sc["allowPrivilegeEscalation"] is False
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/api/v1/health"
        assert c[probe]["httpGet"]["port"] == 7421
    vols = {v["name"]: v for v in spec["volumes"]}
    for m in c["volumeMounts"]:
        assert m["name"] in vols
    state = args[args.index("--state-dir") + 1]
    (st,) = [m for m in c["volumeMounts"] if state.startswith(m["mountPath"] + "/")]
    assert vols[st["name"]]["hostPath"]["path"] == st["mountPath"]  # the node's journal


def test_server_deployment_is_unprivileged():
    dep = by_kind("Deployment", "faultline-server")
    spec = dep["spec"]["template"]["spec"]
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    (c,) = spec["containers"]
    check_container(c, "server")
    sc = c["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    assert sc["runAsNonRoot"] is True
    svc = by_kind("Service", "faultline-server")
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_containerfile_and_systemd_units_agree():
    cf = containerfile()
    assert f"localhost/faultline:{version()}" in cf
    dest = re.search(r"^COPY \S+ (\S+)$", cf, re.M).group(1)
    with open(os.path.join(DEPLOY, "systemd", "faultline-agent.service")) as f:
        unit = f.read()
    m = re.search(r"^ExecStart=(\S+) agent (.*?)$(?:\n\s+(.*))?", unit, re.M)
    assert m and m.group(1) == dest
    opts = re.findall(r"(--[a-z-]+)", (m.group(2) + " " + (m.group(3) or "")))
    helptext = help_of("agent")
    assert opts and all(f"  {o} " in helptext for o in opts), opts
    assert "--tokens" in opts and "KillSignal=SIGTERM" in unit
