/* The engine's verdicts, end to end in-process but without faults (which
 * need root): the "system" is a file whose presence a command probe checks,
 * and command steps remove and restore it. Then commands on an agent host,
 * as jobs of a real `faultline agent` (the binary of this build). */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/agent_start.h"
#include "engine/cluster.h"
#include "engine/engine.h"
#include "engine/remote_probe.h"
#include "spec/spec.h"
#include "store/store.h"
#include "util/time.h"

static char dir[64];
static struct fl_store *store;
static pid_t agent_pid; /* a test's `faultline agent`, killed by teardown if still there */

static void setup(void)
{
    struct fl_err e = {0};
    char db[128];

    snprintf(dir, sizeof dir, "/tmp/fl-engine-test-XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/h.db", dir);
    cr_assert_eq(fl_store_open(db, &store, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
    char cmd[128];

    fl_store_close(store);
    if (agent_pid > 0 && kill(agent_pid, SIGTERM) == 0)
        waitpid(agent_pid, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* Run `yaml` (with %1$s = the health file) and return the run as JSON. */
static json_t *run(const char *yaml, struct fl_run_result *res)
{
    char text[4096], health[128], state[128];
    struct fl_spec_errors errs = {0};
    struct fl_engine_opts o = {0};
    struct fl_err e = {0};
    struct fl_spec *s;
    FILE *devnull = fopen("/dev/null", "w");
    json_t *j;

    snprintf(health, sizeof health, "%s/healthy", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    fclose(fopen(health, "w"));
    snprintf(text, sizeof text, yaml, health);
    s = fl_spec_load_string("t.yaml", text, strlen(text), &errs);
    cr_assert_not_null(s, "%s", errs.n ? errs.msg[0] : "");
    o.state_dir = state;
    o.store = store;
    o.out = devnull;
    cr_assert_eq(fl_engine_run(s, &o, res, &e), 0, "%s", e.msg);
    j = fl_store_show_run(store, res->run_id, 1, &e);
    cr_assert(j);
    fl_spec_free(s);
    fclose(devnull);
    return j;
}

#define PROBE                                                                                      \
    "steady_state:\n  interval: 50ms\n  preflight: 200ms\n  probes:\n"                             \
    "    - {name: file, type: command, command: 'test -e %1$s'}\n"

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 60);

Test(engine, passes_when_nothing_breaks)
{
    struct fl_run_result res;
    json_t *j = run("title: ok\nduration: 500ms\n" PROBE
                    "method:\n  - {command: 'true'}\nrecovery: {within: 1s}\n",
                    &res);
    json_t *p = json_array_get(json_object_get(j, "probes"), 0);

    cr_expect_eq(res.verdict, FL_VERDICT_PASSED, "%s", res.explanation);
    cr_expect_eq(res.exit_code, 0);
    cr_expect_str_eq(json_string_value(json_object_get(j, "verdict")), "passed");
    cr_expect_geq(json_integer_value(json_object_get(p, "samples")), 5);
    cr_expect(json_is_null(json_object_get(p, "time_to_detect_ms")));
    cr_expect_eq(json_integer_value(json_object_get(p, "time_to_recover_ms")), 0);
    cr_expect_geq(json_array_size(json_object_get(p, "samples_data")), 10);
    json_decref(j);
}

Test(engine, fails_with_which_probe_when_and_how_much)
{
    struct fl_run_result res;
    json_t *j = run("title: outage\nduration: 1500ms\n" PROBE
                    "method:\n  - {command: 'rm %1$s; sleep 0.5; touch %1$s', start: 300ms}\n"
                    "recovery: {within: 2s, stable: 200ms}\n",
                    &res);
    json_t *p = json_array_get(json_object_get(j, "probes"), 0);
    long long detect = json_integer_value(json_object_get(p, "time_to_detect_ms"));

    cr_expect_eq(res.verdict, FL_VERDICT_FAILED);
    cr_expect_eq(res.exit_code, FL_EXIT_FAILED);
    cr_expect(strstr(res.explanation, "probe file: success ratio"), "%s", res.explanation);
    cr_expect(strstr(res.explanation, "< 100%"), "%s", res.explanation);
    cr_expect(strstr(res.explanation, "after injection"), "%s", res.explanation);
    cr_expect(detect >= 250 && detect <= 600, "detected after %lldms", detect);
    cr_expect_lt(json_number_value(json_object_get(p, "availability")), 100);
    json_decref(j);
}

Test(engine, not_steady_before_injection_injects_nothing)
{
    struct fl_run_result res;
    json_t *j = run("title: broken\nduration: 1s\n"
                    "steady_state:\n  interval: 50ms\n  preflight: 200ms\n  probes:\n"
                    "    - {name: file, type: command, command: 'test -e %1$s.nope'}\n"
                    "method:\n  - {command: 'touch %1$s.ran'}\n",
                    &res);
    char ran[160];

    cr_expect_eq(res.verdict, FL_VERDICT_NOT_STEADY);
    cr_expect_eq(res.exit_code, FL_EXIT_NOT_STEADY);
    cr_expect(strstr(res.explanation, "nothing was injected"), "%s", res.explanation);
    snprintf(ran, sizeof ran, "%s/healthy.ran", dir);
    cr_expect_neq(access(ran, F_OK), 0, "the method must not have run");
    json_decref(j);
}

Test(engine, guardrail_aborts_early)
{
    struct fl_run_result res;
    json_t *j = run("title: guard\nduration: 10s\n" PROBE
                    "method:\n  - {command: 'rm %1$s', start: 100ms}\n"
                    "guardrails:\n  - {name: gone, probe: file, "
                    "tolerance: {success_ratio: 50%%, window: 300ms}, for: 100ms}\n",
                    &res);
    long long took = json_integer_value(json_object_get(j, "duration_ms"));

    cr_expect_eq(res.verdict, FL_VERDICT_ABORTED);
    cr_expect_eq(res.exit_code, FL_EXIT_ABORTED);
    cr_expect(strstr(res.explanation, "guardrail gone tripped"), "%s", res.explanation);
    cr_expect_lt(took, 3000, "took %lldms", took);
    json_decref(j);
}

/* peer_hosts: the step's own host (host:, or the one host_from names) is
 * left out of its peers, so "the leader cut off from the other members"
 * needs no knowledge of which member leads; a list of only that host is
 * an error, not a partition from nobody. */
Test(engine, peer_hosts_leave_out_the_steps_own_host)
{
    const char *y =
        "title: t\n"
        "hosts: {h1: {lab: lab/h1, address: 10.9.0.2},\n"
        "        h2: {lab: lab/h2, address: 10.9.0.3},\n"
        "        h3: {lab: lab/h3, address: 10.9.0.4}}\n"
        "duration: 2s\n"
        "method:\n"
        "  - {name: cut, kind: network.partition, host_from: {command: 'echo 10.9.0.3:2379'},\n"
        "     peer_hosts: [h1, h2, h3]}\n"
        "  - {name: alone, kind: network.partition, host: h1, peer_hosts: [h1]}\n"
        "steady_state: {probes: [{name: ok, type: command, command: 'true'}]}\n";
    struct fl_spec_errors errs = {0};
    struct fl_spec *s = fl_spec_load_string("p.yaml", y, strlen(y), &errs);
    const struct fl_spec_host *h = NULL;
    struct fl_err e = {0};
    char note[512];
    json_t *p;

    cr_assert_not_null(s, "%s", errs.n ? errs.msg[0] : "");
    p = fl_cluster_step_params(s, NULL, &s->actions[0], NULL, &h, note, sizeof note, &e);
    cr_assert_not_null(p, "%s", e.msg);
    cr_expect_str_eq(h->name, "h2");
    cr_expect_str_eq(json_string_value(json_object_get(p, "netns")), "lab-h2");
    cr_assert_eq(json_array_size(json_object_get(p, "peer")), 2);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(p, "peer"), 0)), "10.9.0.2");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(p, "peer"), 1)), "10.9.0.4");
    cr_expect(strstr(note, "peers h1=10.9.0.2, h3=10.9.0.4"), "%s", note);
    json_decref(p);
    cr_expect_null(
        fl_cluster_step_params(s, NULL, &s->actions[1], NULL, NULL, note, sizeof note, &e));
    cr_expect(strstr(e.msg, "alone: peer_hosts leaves no peer: it names only the step's host h1"),
              "%s", e.msg);
    fl_spec_free(s);
    fl_spec_errors_fini(&errs);
}

Test(engine, recovery_too_slow_fails)
{
    struct fl_run_result res;
    json_t *j =
        run("title: slow\nduration: 400ms\n" PROBE
            "method:\n  - {command: 'rm %1$s; (sleep 1.5; touch %1$s) >/dev/null 2>&1 &', start: "
            "100ms}\n"
            "recovery: {within: 300ms, stable: 100ms}\n",
            &res);

    cr_expect_eq(res.verdict, FL_VERDICT_FAILED);
    /* the hypothesis broke first; the recovery failure is in the timeline */
    json_t *ev = json_object_get(j, "events"), *x;
    size_t i;
    bool seen = false;
    json_array_foreach (ev, i, x)
        if (strstr(json_string_value(json_object_get(x, "message")), "did not recover within"))
            seen = true;
    cr_expect(seen);
    json_decref(j);
}

/* No data is not health: a phase shorter than the interval has no sample,
 * and that fails the hypothesis with "no samples" instead of reading as
 * 100% available. */
Test(engine, no_samples_in_the_phase_fails)
{
    struct fl_run_result res;
    json_t *j = run("title: blind\nduration: 100ms\n"
                    "steady_state:\n  interval: 3s\n  preflight: 100ms\n  probes:\n"
                    "    - {name: file, type: command, command: 'test -e %1$s'}\n"
                    "method:\n  - {command: 'true'}\n",
                    &res);
    json_t *p = json_array_get(json_object_get(j, "probes"), 0);

    cr_expect_eq(res.verdict, FL_VERDICT_FAILED, "%s", res.explanation);
    cr_expect(strstr(res.explanation, "probe file: no samples"), "%s", res.explanation);
    cr_expect_eq(json_integer_value(json_object_get(p, "samples")), 0);
    cr_expect(json_is_null(json_object_get(p, "availability")));
    json_decref(j);
}

static long long after(const char *s, const char *key)
{
    const char *at = s ? strstr(s, key) : NULL;
    return at ? atoll(at + strlen(key)) : -1;
}

/* A slow probe keeps its schedule: every 100ms tick is a sample, the ones
 * that came while a failing sample still ran fail with it ("missed"), and
 * the judgement and the statistics count the same samples even when a
 * sample is in flight at the end of the phase. */
Test(engine, samples_keep_the_interval_and_every_report_counts_the_same)
{
    struct fl_run_result res;
    json_t *j = run("title: slow\nduration: 1s\n"
                    "steady_state:\n  interval: 100ms\n  preflight: 200ms\n  probes:\n"
                    "    - {name: file, type: command, command: 'test -e %1$s || { sleep 0.35; "
                    "false; }'}\n"
                    "method:\n  - {command: 'rm %1$s'}\n",
                    &res);
    json_t *p = json_array_get(json_object_get(j, "probes"), 0), *ev, *x;
    long long n = json_integer_value(json_object_get(p, "samples"));
    long long bad = json_integer_value(json_object_get(p, "failures"));
    const char *judged = NULL;
    size_t i;

    cr_expect_eq(res.verdict, FL_VERDICT_FAILED, "%s", res.explanation);
    /* about 1s / 100ms ticks (a loaded machine stretches the phase a little),
     * not the ~3 a 350ms probe would manage */
    cr_expect(n >= 9 && n <= 16, "%lld samples", n);
    cr_expect_eq(after(res.explanation, "("), bad, "%s vs %lld failed", res.explanation, bad);
    cr_expect(strstr(res.explanation, "of "), "%s", res.explanation);
    cr_expect_eq(after(strstr(res.explanation, "of "), "of "), n, "%s vs %lld samples",
                 res.explanation, n);
    ev = json_object_get(j, "events");
    json_array_foreach (ev, i, x) {
        const char *m = json_string_value(json_object_get(x, "message"));
        if (!strncmp(m, "probe file: ", 12) && strstr(m, "samples ("))
            judged = m;
    }
    cr_assert(judged);
    cr_expect_eq(after(judged, "probe file: "), n, "%s", judged);
    cr_expect_eq(after(judged, "samples ("), bad, "%s", judged);
    json_decref(j);
}

/* A slow success is not a failure: the ticks it overran carry its outcome,
 * and their latency (how long they waited) shows the slowness. */
Test(engine, a_slow_healthy_probe_keeps_its_ticks_and_passes)
{
    struct fl_run_result res;
    json_t *j = run("title: slow but fine\nduration: 1s\n"
                    "steady_state:\n  interval: 100ms\n  preflight: 200ms\n  probes:\n"
                    "    - {name: file, type: command, command: 'sleep 0.25; test -e %1$s'}\n"
                    "method:\n  - {command: 'true'}\n",
                    &res);
    json_t *p = json_array_get(json_object_get(j, "probes"), 0);
    long long n = json_integer_value(json_object_get(p, "samples"));

    cr_expect_eq(res.verdict, FL_VERDICT_PASSED, "%s", res.explanation);
    cr_expect(n >= 9 && n <= 16, "%lld samples", n);
    cr_expect_eq(json_integer_value(json_object_get(p, "failures")), 0);
    cr_expect_geq(json_number_value(json_object_get(p, "max_ms")), 200);
    json_decref(j);
}

/* A failing setup command ends the run as error before anything is
 * injected; teardown runs anyway; the output is in the timeline. */
Test(engine, failing_setup_injects_nothing_and_teardown_runs)
{
    struct fl_run_result res;
    char marker[160];
    json_t *j =
        run("title: s\nduration: 300ms\n" PROBE
            "setup:\n  - 'echo first'\n  - {name: load, command: 'echo no data >&2; exit 3'}\n"
            "  - 'rm -f %1$s'\n"
            "teardown: ['touch %1$s.teardown']\n"
            "method:\n  - {command: 'rm -f %1$s'}\n",
            &res);
    const char *expl = json_string_value(json_object_get(j, "explanation"));

    cr_expect_eq(res.verdict, FL_VERDICT_ERROR);
    cr_expect_eq(res.exit_code, FL_EXIT_ERROR);
    cr_expect(expl && strstr(expl, "setup load failed (status 3): no data; nothing was injected"),
              "%s", expl);
    snprintf(marker, sizeof marker, "%s/healthy", dir);
    cr_expect_eq(access(marker, F_OK), 0, "neither the third setup nor the method ran");
    snprintf(marker, sizeof marker, "%s/healthy.teardown", dir);
    cr_expect_eq(access(marker, F_OK), 0, "teardown ran");
    json_decref(j);
}

/* ---- a probe as a job of a real agent (engine/remote_probe.c) ---------- */

/* `faultline agent` of this build on a loopback port, without
 * --allow-commands; *url gets its address. */
static pid_t start_agent(char *url, size_t len)
{
    char state[128], why[PATH_MAX + 64];
    pid_t pid;

    snprintf(state, sizeof state, "%s/agent", dir);
    pid = fl_test_agent_start(state, NULL, url, len, why, sizeof why);
    cr_assert_gt(pid, 0, "%s", why);
    agent_pid = pid;
    return pid;
}

Test(engine, a_probe_job_on_an_agent_is_read_back_in_pieces)
{
    char url[64];
    pid_t agent = start_agent(url, sizeof url);
    struct fl_agent_client_opts o = {.url = url, .name = "h9", .lease_ms = 5000};
    struct fl_agent_client *c = NULL;
    struct fl_remote_probe *rp = NULL;
    struct fl_spec_probe sp = {.name = "p1",
                               .ops = fl_probe_lookup("tcp"),
                               .params = json_pack("{s:s}", "address", "127.0.0.1:1"),
                               .interval_ms = 20,
                               .timeout_ms = 100};
    struct fl_spec_probe cmd = {.name = "c1",
                                .ops = fl_probe_lookup("command"),
                                .params = json_pack("{s:s}", "command", "true"),
                                .interval_ms = 20,
                                .timeout_ms = 100};
    struct fl_err e = {0};
    size_t got = 0, bad = 0;
    int64_t last = -1, until = fl_now_ms() + 20000;
    json_t *final = NULL;
    int st;

    cr_assert_eq(fl_agent_client_new(&o, &c, &e), 0, "%s", e.msg);
    /* a command probe needs an agent with --allow-commands */
    cr_expect_eq(fl_remote_probe_check(c, &cmd, &e), -FL_EPERM);
    cr_expect(strstr(e.msg, "c1") && strstr(e.msg, "h9") && strstr(e.msg, "--allow-commands"), "%s",
              e.msg);
    cr_assert_eq(fl_remote_probe_check(c, &sp, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_remote_probe_start(c, &sp, fl_mono_ns(), &rp, &e), 0, "%s", e.msg);
    cr_expect(fl_remote_probe_job(rp)[0] == 'j');
    /* 7 bytes at a time: every line is cut, and each still arrives whole */
    while (got < 6 && fl_now_ms() < until) {
        struct fl_probe_line *l = NULL;
        size_t n = 0;
        bool eof = false;
        cr_assert_eq(fl_remote_probe_fetch(rp, 7, &l, &n, &bad, &eof, &e), 0, "%s", e.msg);
        cr_assert(!eof);
        for (size_t i = 0; i < n; i++, got++) {
            cr_expect(!l[i].ok && strstr(l[i].detail, "refused"), "%s", l[i].detail);
            cr_expect_geq(l[i].t_ms, fl_remote_probe_started_ms(rp));
            cr_expect(last < 0 || l[i].t_ms == last + 20, "%lld after %lld", (long long)l[i].t_ms,
                      (long long)last);
            last = l[i].t_ms;
        }
        free(l);
        if (!n)
            fl_sleep_ms(5);
    }
    cr_expect_geq(got, 6);
    cr_expect_eq(bad, 0);
    cr_assert_eq(fl_remote_probe_delete(rp, &final, &e), 0, "%s", e.msg);
    cr_expect_str_eq(json_string_value(json_object_get(final, "state")), "killed");
    json_decref(final);
    fl_remote_probe_free(rp);
    fl_agent_client_free(c);
    json_decref(sp.params);
    json_decref(cmd.params);
    kill(agent, SIGTERM);
    cr_assert_eq(waitpid(agent, &st, 0), agent);
    agent_pid = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exited with %#x", st);
}

/* A command that leaves a process in the background is done when its
 * shell exits; one that outlives its timeout is killed with its group. */
Test(engine, commands_on_hosts_end_with_their_shell_and_their_timeout)
{
    struct fl_spec s = {0};
    char out[256];
    int64_t t0 = fl_now_ms();
    int bg;

    cr_expect_eq(
        fl_cluster_run(&s, NULL, "sleep 30 & echo $!; echo err >&2", 5000, NULL, out, sizeof out),
        0);
    cr_expect(fl_now_ms() - t0 < 5000, "a background process held the command");
    bg = (int)strtol(out, NULL, 10);
    cr_expect(bg > 1 && strstr(out, "\nerr"), "%s", out);
    if (bg > 1)
        kill(bg, SIGKILL); /* the sleep it left, by pid */
    cr_expect_eq(fl_cluster_run(&s, NULL, "echo partial; sleep 30", 300, NULL, out, sizeof out),
                 -ETIMEDOUT);
    cr_expect_str_eq(out, "partial");
    cr_expect_eq(fl_cluster_run(&s, NULL, "exit 7", 1000, NULL, out, sizeof out), 7);
    cr_expect_eq(fl_cluster_run(&s, "nohost", "true", 1000, NULL, out, sizeof out), -ENOENT);
}

/* ---- commands on an agent host: jobs of a real `faultline agent` -------- */

static pid_t agent_pid;
static struct fl_agent_client *agent;

/* A `faultline agent --allow-commands` (the binary of this build) on a free
 * loopback port, and a client for it. */
static void agent_setup(void)
{
    char state[128], url[64], why[PATH_MAX + 64];
    struct fl_agent_client_opts o = {.name = "a1", .lease_ms = 5000, .url = url};
    struct fl_err e = {0};

    setup();
    snprintf(state, sizeof state, "%s/agent", dir);
    agent_pid = fl_test_agent_start(state, "--allow-commands", url, sizeof url, why, sizeof why);
    cr_assert_gt(agent_pid, 0, "%s", why);
    cr_assert_eq(fl_agent_client_new(&o, &agent, &e), 0, "%s", e.msg);
}

static void agent_teardown(void)
{
    fl_agent_client_free(agent);
    if (agent_pid > 0) {
        kill(agent_pid, SIGTERM);
        waitpid(agent_pid, NULL, 0);
    }
    teardown();
}

TestSuite(agent_jobs, .init = agent_setup, .fini = agent_teardown, .timeout = 60);

/* A command's status, signal, timeout and output as fl_cluster_run gives them. */
Test(agent_jobs, commands_end_as_local_ones_do)
{
    char out[256];

    cr_expect_eq(
        fl_cluster_job_run(agent, "t", "echo out; echo err >&2; exit 3", 5000, out, sizeof out), 3);
    cr_expect_str_eq(out, "out\nerr");
    cr_expect_eq(fl_cluster_job_run(agent, "t", "kill -TERM $$", 5000, out, sizeof out),
                 128 + SIGTERM);
    cr_expect_eq(fl_cluster_job_run(agent, "t", "echo partial; sleep 30", 300, out, sizeof out),
                 -ETIMEDOUT);
    cr_expect_str_eq(out, "partial");
    cr_expect_eq(
        fl_cluster_job_wait(agent, "j0123456789abcdef", fl_now_ms() + 2000, out, sizeof out),
        -ENOENT);
    cr_expect(strstr(out, "is gone from host a1's agent"), "%s", out);
}

/* A delayed restart job: hurried, it runs now; one already running is left
 * to run (0), and waited for. */
Test(agent_jobs, a_delayed_job_hurried_runs_at_once)
{
    char id[FL_AGENT_JOB_ID_LEN], first[FL_AGENT_JOB_ID_LEN], out[256];
    struct fl_err e = {0};
    json_t *st = NULL;
    int64_t t0;

    cr_assert_eq(fl_cluster_job_start(agent, "r", "echo back", 5000, 600000, true, id, &e), 0, "%s",
                 e.msg);
    memcpy(first, id, sizeof id);
    cr_assert_eq(fl_agent_client_job_status(agent, id, &st, &e), 0, "%s", e.msg);
    cr_expect_str_eq(json_string_value(json_object_get(st, "state")), "pending");
    json_decref(st);
    t0 = fl_now_ms();
    cr_assert_eq(fl_cluster_job_hurry(agent, id, "r", "echo back", 5000, true, &e), 1, "%s", e.msg);
    cr_expect_str_neq(id, first);
    cr_expect_eq(fl_cluster_job_wait(agent, id, fl_now_ms() + 10000, out, sizeof out), 0);
    cr_expect_str_eq(out, "back");
    cr_expect(fl_now_ms() - t0 < 60000);
    /* the replaced job is gone */
    cr_expect_eq(fl_agent_client_job_status(agent, first, &st, &e), -FL_ENOTARGET);

    cr_assert_eq(fl_cluster_job_start(agent, "r", "sleep 0.5; echo ran", 5000, 0, true, id, &e), 0,
                 "%s", e.msg);
    cr_expect_eq(fl_cluster_job_hurry(agent, id, "r", "sleep 0.5; echo ran", 5000, true, &e), 0);
    cr_expect_eq(fl_cluster_job_wait(agent, id, fl_now_ms() + 10000, out, sizeof out), 0);
    cr_expect_str_eq(out, "ran");
}
