"""faultline check as a user runs it: several histories in one call, the
model taken from a history's header, the bounds on hostile input (device
files, endless pipes, huge lines), and the shape of every report's first
line. The verdicts themselves are data-driven unit tests
(tests/data/check); these cover what only the command line does."""
import json
import os
import subprocess

from conftest import BIN, ROOT

DATA = os.path.join(ROOT, "tests", "data", "check")


def data(name):
    return os.path.join(DATA, name)


def test_several_histories_one_report_each_a_summary_and_the_worst_exit(fl):
    rc, so, se = fl("check", "--model", "register", data("register-read-initial-nil.jsonl"),
                    data("register-empty.jsonl"))
    assert rc == 0, so + se
    assert so.count("\n== ") + so.startswith("== ") == 3, so
    assert "== 2 histories: 2 valid, 0 invalid, 0 unknown, 0 not checked" in so, so
    # one invalid among valid ones: exit 1; an input error too: still 1 (invalid first)
    rc, so, se = fl("check", "--model", "register", data("register-empty.jsonl"),
                    data("register-stale-read.jsonl"), data("error-bad-json.jsonl"))
    assert rc == 1, so + se
    assert "1 valid, 1 invalid, 0 unknown, 1 not checked (input error)" in so, so
    assert "error-bad-json.jsonl:2:" in se, se
    # only valid and an input error: 3
    rc, so, se = fl("check", "--model", "register", data("register-empty.jsonl"),
                    data("error-bad-json.jsonl"))
    assert rc == 3, so + se
    # JSON: one object per history, then the summary
    rc, so, se = fl("check", "--json", "--model", "register", data("register-empty.jsonl"),
                    data("register-stale-read.jsonl"))
    lines = so.strip().splitlines()
    assert rc == 1 and len(lines) == 3, so + se
    assert '"file"' in lines[0] and '"invalid"' in lines[1], so
    assert lines[2] == ('{"histories":2,"valid":1,"invalid":1,"unknown":0,'
                        '"input_error":0}'), so
    # a history that cannot be checked still has its line
    rc, so, se = fl("check", "--json", "--model", "register", data("error-bad-json.jsonl"),
                    data("register-empty.jsonl"))
    lines = so.strip().splitlines()
    assert rc == 3 and len(lines) == 3, so + se
    bad = json.loads(lines[0])
    assert bad["verdict"] == "input-error" and "error-bad-json.jsonl:2:" in bad["error"], so
    assert json.loads(lines[2])["input_error"] == 1, so


def test_outputs_that_write_one_file_need_one_history(fl, tmp_path):
    rc, so, se = fl("check", "--model", "register", "--html", tmp_path / "r.html",
                    data("register-empty.jsonl"), data("register-empty.jsonl"))
    assert rc == 3 and "single history" in se, se
    assert not (tmp_path / "r.html").exists()


def test_model_from_the_history_header(fl, tmp_path):
    # the header says model=kv: no --model needed, and the keys are kept apart
    rc, so, se = fl("check", data("register-keyed-split.jsonl"))
    assert rc == 0 and so.startswith("VALID: the history is linearizable as a kv"), so + se
    # no header, no --model: a clear error naming the models
    rc, so, se = fl("check", data("register-empty.jsonl"))
    assert rc == 3 and "--model is required" in se and "cas-register" in se, se
    # a header naming a model check does not know
    h = tmp_path / "h.jsonl"
    h.write_text("# faultline workload: model=nosuch\n")
    rc, so, se = fl("check", h)
    assert rc == 3 and "'nosuch'" in se, se


def test_device_files_and_directories_are_refused_at_once(fl, tmp_path):
    for path in ("/dev/zero", str(tmp_path)):
        rc, so, se = fl("check", "--model", "bank", path, timeout=10)
        assert rc == 3 and path in se and "not a history file" in se, se


def test_endless_stdin_ends_with_the_line_bound(tmp_path):
    with open("/dev/zero", "rb") as zero:
        p = subprocess.run([BIN, "check", "--model", "bank", "--max-op-size", "1MiB", "-"],
                           stdin=zero, capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, p.stderr
    assert "-:1:1:" in p.stderr and "limit of 1048576 bytes" in p.stderr, p.stderr


def test_a_huge_line_is_refused_with_its_line_number(fl, tmp_path):
    h = tmp_path / "h.jsonl"
    with open(h, "w") as f:
        f.write('{"process":0,"type":"invoke","f":"read","value":null}\n')
        f.write('{"process":0,"type":"ok","f":"read","value":"' + "x" * (2 << 20) + '"}\n')
    rc, so, se = fl("check", "--model", "register", "--max-op-size", "1MiB", h, timeout=30)
    assert rc == 3 and f"{h}:2:1:" in se and "--max-op-size" in se, se
    rc, so, se = fl("check", "--model", "register", "--max-op-size", "3MiB", h, timeout=30)
    assert rc == 1 and so.startswith("INVALID"), so + se
    rc, so, se = fl("check", "--model", "register", "--max-op-size", "12", h)
    assert rc == 3 and "--max-op-size" in se, se


def test_process_ids_out_of_range_are_input_errors(fl, tmp_path):
    for pid in ("-1", "99999999999999999999", "1.5"):
        h = tmp_path / "h.jsonl"
        h.write_text(f'{{"process":{pid},"type":"invoke","f":"read","value":null}}\n'
                     f'{{"process":{pid},"type":"ok","f":"read","value":7}}\n')
        rc, so, se = fl("check", "--model", "register", h)
        assert rc == 3 and f"{h}:1:1: process {pid} is not a client process id" in se, se


def test_every_checker_opens_its_report_with_the_verdict(fl):
    cases = {"set-good.jsonl": "set", "total-queue-good.jsonl": "total-queue",
             "bank-good.jsonl": "bank", "kv-good.jsonl": "kv",
             "set-no-read.jsonl": "set", "set-lost.jsonl": "set"}
    for name, model in cases.items():
        rc, so, se = fl("check", "--model", model, data(name))
        first = so.splitlines()[0]
        want = {0: "VALID: ", 1: "INVALID: ", 2: "UNKNOWN: "}[rc]
        assert first.startswith(want), (name, so, se)


def test_help_lists_every_checker_of_the_registry(fl):
    rc, so, se = fl("check", "--help")
    assert rc == 0
    for m in ("bank", "register", "cas-register", "multi-register", "kv", "set", "counter",
              "queue", "total-queue", "mutex"):
        assert f"\n                          {m} " in so, m
    rc, so, se = fl("check", "--model", "nope", data("register-empty.jsonl"))
    assert rc == 3 and "unknown model 'nope'; models: bank, register" in se, se


def invalid_history(path, n):
    """n sequential write/read pairs, then a read of a value never written."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(f'{{"process":0,"type":"invoke","f":"write","value":{i}}}\n'
                    f'{{"process":0,"type":"ok","f":"write","value":{i}}}\n'
                    f'{{"process":1,"type":"invoke","f":"read","value":null}}\n'
                    f'{{"process":1,"type":"ok","f":"read","value":{i}}}\n')
        f.write('{"process":1,"type":"invoke","f":"read","value":null}\n'
                '{"process":1,"type":"ok","f":"read","value":-5}\n')


def test_counterexample_search_says_whether_its_budget_ran_out(fl, tmp_path):
    h = tmp_path / "h.jsonl"
    invalid_history(h, 400)
    rc, so, se = fl("check", "--model", "register", "--minimize-budget", "1ms", h)
    assert rc == 1, so + se
    assert "Smallest failing core found within the 1 ms budget (not necessarily" in so, so
    assert "counterexample file" not in so, so
    rc, so, se = fl("check", "--model", "register", data("register-stale-read.jsonl"))
    assert rc == 1 and "(the shrinking search tried every operation)" in so, so
    assert "counterexample file" not in so and "within the" not in so, so
    # asked for the file: it is written, and the text may point at it
    cx = tmp_path / "cx.jsonl"
    rc, so, se = fl("check", "--model", "register", "--counterexample", cx, "--minimize-budget",
                    "1ms", h)
    assert rc == 1 and cx.exists() and cx.stat().st_size > 0, so + se
    rc, so, se = fl("check", "--model", "register", cx)
    assert rc == 1, so + se
    rc, so, se = fl("check", "--model", "register", "--minimize-budget", "0", h)
    assert rc == 3 and "--minimize-budget" in se, se


def test_register_failures_are_named_and_nil_reads_print_as_nil(fl):
    rc, so, se = fl("check", "--model", "register", data("register-read-before-write.jsonl"))
    assert rc == 1, so + se
    lines = so.splitlines()
    assert lines[0] == "INVALID: the history is not linearizable as a register.", so
    assert lines[2].startswith("Anomaly: lost write: the acknowledged write of 3 (line 1)"), so
    assert "process 0 read -> nil" in so, so
    rc, so, se = fl("check", "--json", "--model", "register",
                    data("register-stale-read-seen.jsonl"))
    assert rc == 1 and '"anomaly": "stale-read"' in so, so


def test_a_named_pipe_is_read_once_within_the_bounds(tmp_path):
    fifo = tmp_path / "h.fifo"
    os.mkfifo(fifo)
    p = subprocess.Popen([BIN, "check", "--model", "register", str(fifo)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with open(fifo, "w") as w, open(data("register-stale-read.jsonl")) as r:
            w.write(r.read())
        so, se = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1 and so.startswith("INVALID"), so + se
