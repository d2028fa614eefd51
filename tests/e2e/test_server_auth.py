"""The server's bearer tokens and roles end to end: 401 without a valid
token, 403 when the role may not (a viewer starting a run), the audit log of
changes, hashed tokens only in the tokens file, and the refusal to listen
beyond loopback without tokens."""
import os
import subprocess

import pytest

from conftest import BIN
from server_helpers import BACKENDS, backend, postgres, servers, wait_run  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_leftovers")

TOKENS = {"watcher": ("viewer", "v" * 32), "ops": ("operator", "o" * 32),
          "root": ("admin", "a" * 32)}
QUICK = ("title: quick\nduration: 300ms\nsteady_state:\n  interval: 100ms\n"
         "  preflight: 100ms\n  probes:\n    - {name: p, type: command, command: 'true'}\n"
         "method:\n  - {command: 'true'}\n")


def hash_token(tok):
    p = subprocess.run([BIN, "server", "--hash-token"], input=tok + "\n", capture_output=True,
                       text=True, check=True)
    return p.stdout.strip()


@pytest.fixture
def tokens_file(tmp_path):
    f = tmp_path / "tokens"
    lines = ["# name role hash"]
    for name, (role, tok) in TOKENS.items():
        lines.append(f"{name} {role} {hash_token(tok)}")
    f.write_text("\n".join(lines) + "\n")
    assert TOKENS["ops"][1] not in f.read_text()
    return f


def test_roles_401_403_and_audit(servers, tokens_file):
    srv = servers(extra=["--tokens", str(tokens_file)])
    viewer, operator, admin = (TOKENS[n][1] for n in ("watcher", "ops", "root"))
    st, r = srv.req("GET", "/api/v1/runs")
    assert st == 401 and r["error"]["code"] == "unauthenticated"
    assert srv.req("GET", "/api/v1/runs", token="wrong-token-wrong-token")[0] == 401
    assert srv.req("GET", "/api/v1/runs", token=viewer)[0] == 200
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "q", "content": QUICK}, token=viewer)
    assert st == 403 and "operator" in r["error"]["message"], r
    st, r = srv.req("POST", "/api/v1/experiments", {"name": "q", "content": QUICK},
                    token=operator)
    assert st == 201, r
    st, r = srv.req("POST", "/api/v1/experiments/q/runs", token=viewer)
    assert st == 403 and r["error"]["code"] == "forbidden"
    st, r = srv.req("GET", "/api/v1/runs", token=viewer)
    assert r["total"] == 0, "a forbidden start must not start anything"
    st, r = srv.req("POST", "/api/v1/experiments/q/runs", token=operator)
    assert st == 202 and r["who"] == "ops", r
    srv.token = viewer
    assert wait_run(srv, r["id"])["verdict"] == "passed"
    assert srv.req("GET", "/api/v1/audit", token=operator)[0] == 403
    st, r = srv.req("GET", "/api/v1/audit", token=admin)
    assert st == 200, r
    seen = [(a["who"], a["method"], a["path"], a["status"]) for a in reversed(r["audit"])]
    assert seen == [("watcher", "POST", "/api/v1/experiments", 403),
                    ("ops", "POST", "/api/v1/experiments", 201),
                    ("watcher", "POST", "/api/v1/experiments/q/runs", 403),
                    ("ops", "POST", "/api/v1/experiments/q/runs", 202)], seen
    # the CLI clients pass --token / FAULTLINE_TOKEN
    e = dict(os.environ, FAULTLINE_SERVER=srv.url)
    p = subprocess.run([BIN, "experiment", "list"], capture_output=True, text=True, env=e)
    assert p.returncode == 5 and "bearer token" in p.stderr
    p = subprocess.run([BIN, "experiment", "list", "--token", viewer], capture_output=True,
                       text=True, env=e)
    assert p.returncode == 0 and "quick" in p.stdout
    p = subprocess.run([BIN, "experiment", "rm", "q"], capture_output=True, text=True,
                       env=dict(e, FAULTLINE_TOKEN=viewer))
    assert p.returncode == 5 and "needs the operator role" in p.stderr


def test_no_tokens_means_loopback_only_and_bad_token_files_are_refused(tmp_path, state_dir):
    db = str(tmp_path / "h.db")
    e = dict(os.environ, FAULTLINE_STATE_DIR=state_dir)
    p = subprocess.run([BIN, "server", "--listen", "0.0.0.0:0", "--db", db],
                       capture_output=True, text=True, timeout=20, env=e)
    assert p.returncode == 4 and "without --tokens" in p.stderr, p.stderr
    plain = tmp_path / "plain"
    plain.write_text("ops operator " + "o" * 32 + "\n")
    p = subprocess.run([BIN, "server", "--listen", "127.0.0.1:0", "--db", db, "--tokens",
                        str(plain)], capture_output=True, text=True, timeout=20, env=e)
    assert p.returncode == 2 and f"{plain}:1:" in p.stderr and "hashes" in p.stderr, p.stderr
    role = tmp_path / "role"
    role.write_text("x superuser sha256:" + "0" * 64 + "\n")
    p = subprocess.run([BIN, "server", "--listen", "127.0.0.1:0", "--db", db, "--tokens",
                        str(role)], capture_output=True, text=True, timeout=20, env=e)
    assert p.returncode == 2 and "role 'superuser'" in p.stderr
    p = subprocess.run([BIN, "server", "--hash-token"], input="short\n", capture_output=True,
                       text=True)
    assert p.returncode == 2 and "at least 16" in p.stderr


def test_tls_with_a_certificate(servers, tmp_path, tokens_file):
    """--tls-cert/--tls-key serve HTTPS (GnuTLS in libmicrohttpd); a client that trusts
    the certificate talks to it, plain HTTP does not get an answer."""
    import ssl
    import urllib.request
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = servers(extra=["--tokens", str(tokens_file), "--tls-cert", str(cert),
                         "--tls-key", str(key)])
    assert srv.url.startswith("https://127.0.0.1:")
    ctx = ssl.create_default_context(cafile=str(cert))
    req = urllib.request.Request(srv.url + "/api/v1/experiments",
                                 headers={"Authorization": "Bearer " + TOKENS["watcher"][1]})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as f:
        assert f.status == 200
    plain = srv.url.replace("https://", "http://")
    with pytest.raises(Exception):
        urllib.request.urlopen(plain + "/api/v1/experiments", timeout=5).read()
    e = dict(os.environ, FAULTLINE_SERVER=srv.url, FAULTLINE_TOKEN=TOKENS["watcher"][1])
    p = subprocess.run([BIN, "experiment", "list"], capture_output=True, text=True, env=e)
    assert p.returncode == 1 and "cannot reach the server" in p.stderr  # untrusted certificate
    p = subprocess.run([BIN, "experiment", "list"], capture_output=True, text=True,
                       env=dict(e, FAULTLINE_CACERT=str(cert)))
    assert p.returncode == 0, p.stderr
    # a key file that is not PEM, or a certificate without its key, is refused
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    p = subprocess.run([BIN, "server", "--listen", "127.0.0.1:0", "--db",
                        str(tmp_path / "o.db"), "--tls-cert", str(cert), "--tls-key", str(bad)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "not a PEM file" in p.stderr, p.stderr
    p = subprocess.run([BIN, "server", "--listen", "127.0.0.1:0", "--db",
                        str(tmp_path / "o.db"), "--tls-cert", str(cert)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "go together" in p.stderr
