/* The agent's jobs (src/remote/jobs.c): request checks (a table of bodies
 * and the status and words of each refusal), jobs run through the API
 * without a socket (fl_agentd_handle on a temporary state directory, the
 * reaper's turn called by hand) — the status shape, the output in pieces,
 * the cap, delete — and the client's job calls from several threads at
 * once against a real `faultline agent` (the binary next to this test). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/agent_start.h"
#include "remote/agentd_int.h"
#include "remote/client.h"
#include "remote/jobs.h"
#include "util/time.h"

static struct fl_agentd d;
static char dir[] = "/tmp/test_jobs.XXXXXX";

static void setup(void)
{
    struct fl_err e = {0};

    cr_assert(mkdtemp(dir));
    cr_assert_eq(fl_agentd_init(&d, dir, NULL, "u1", &e), 0, "%s", e.msg);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void teardown(void)
{
    fl_agentd_fini(&d); /* kills what is left */
    cr_assert_eq(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static int req(const char *method, const char *path, const char *body, struct fl_agentd_resp *rs)
{
    memset(rs, 0, sizeof *rs);
    fl_agentd_handle(&d, method, path, body, body ? strlen(body) : 0, NULL, rs);
    return rs->status;
}

static const char *msg(const struct fl_agentd_resp *rs)
{
    return json_string_value(json_object_get(json_object_get(rs->json, "error"), "message"));
}

TestSuite(jobs, .init = setup, .fini = teardown);

Test(jobs, request_checks)
{
    static const struct {
        const char *body;
        bool allow;
        int status, exit;
        const char *words;
    } cases[] = {
        {"{\"kind\":\"command\",\"command\":\"true\",\"session\":\"s\"}", true, 0, 0, NULL},
        {"{\"kind\":\"workload\",\"args\":[\"--help\"],\"session\":\"s\",\"env\":{\"A_1\":\"x\"},"
         "\"timeout_ms\":0,\"delay_ms\":5,\"lease_ms\":200,\"on_lease_end\":\"run\",\"name\":"
         "\"n\"}",
         false, 0, 0, NULL},
        {"{\"kind\":\"command\",\"command\":\"true\",\"session\":\"s\"}", false, 403, 5,
         "--allow-commands"},
        {"{\"kind\":\"command\",\"command\":\"\",\"session\":\"s\"}", true, 400, 2,
         "needs \"command\""},
        {"{\"kind\":\"command\",\"command\":\"a\\u0000b\",\"session\":\"s\"}", true, 400, 2,
         "without NUL"},
        {"{\"kind\":\"command\",\"command\":\"true\",\"args\":[],\"session\":\"s\"}", true, 400, 2,
         "args belong"},
        {"{\"kind\":\"probe\",\"args\":\"--x\",\"session\":\"s\"}", true, 400, 2, "array"},
        {"{\"kind\":\"probe\",\"args\":[],\"session\":\"a b\"}", true, 400, 2, "session"},
        {"{\"kind\":\"probe\",\"args\":[],\"session\":\"s\",\"lease_ms\":3600001}", true, 400, 2,
         "lease_ms must be an integer from 200 to 3600000"},
        {"{\"kind\":\"probe\",\"args\":[],\"session\":\"s\",\"timeout_ms\":1.5}", true, 400, 2,
         "timeout_ms"},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"env\":{\"A\":1}}", true, 400, 2, "env 'A'"},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"env\":{\"A=B\":\"1\"}}", true, 400, 2, "env"},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"name\":7}", true, 400, 2, "name"},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"env\":{\"FAULTLINE_NO_COMMANDS\":\"0\"}}", false,
         400, 2, "the agent's to set"},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"env\":{\"FAULTLINE_JOB_ID\":\"x\"}}", true, 400,
         2, "the agent's to set"},
        {"{\"kind\":\"workload\",\"session\":\"s\",\"env\":{\"LD_PRELOAD\":\"/tmp/x.so\"}}", false,
         403, 5, "dynamic loader"},
        {"{\"kind\":\"workload\",\"session\":\"s\",\"env\":{\"GCONV_PATH\":\"/tmp\"}}", false, 403,
         5, "--allow-commands"},
        {"{\"kind\":\"workload\",\"session\":\"s\",\"env\":{\"LD_PRELOAD\":\"/tmp/x.so\"}}", true,
         0, 0, NULL},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"on_lease_end\":\"later\"}", true, 400, 2,
         "on_lease_end"},
        {"{\"kind\":\"probe\",\"session\":\"s\",\"extra\":1}", true, 400, 2,
         "unknown field 'extra'"},
        {"{\"session\":\"s\"}", true, 400, 2, "'(missing)' is not a job kind"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *b = json_loads(cases[i].body, JSON_ALLOW_NUL, NULL);
        struct fl_err e = {0};
        int status = 0, r;

        cr_assert(b, "case %zu does not parse", i);
        r = fl_jobs_check_request(b, cases[i].allow, &status, &e);
        json_decref(b);
        if (!cases[i].status) {
            cr_assert_eq(r, 0, "case %zu: %s", i, e.msg);
            continue;
        }
        cr_assert_eq(r, -cases[i].exit, "case %zu: %d (%s)", i, r, e.msg);
        cr_assert_eq(status, cases[i].status, "case %zu", i);
        cr_assert(strstr(e.msg, cases[i].words), "case %zu: %s", i, e.msg);
    }
}

/* Run the reaper until job id is in state (or 10 s pass); its status. */
static json_t *wait_job(const char *id, const char *state)
{
    char path[64];
    int64_t until = fl_now_ms() + 10000;
    struct fl_agentd_resp rs;

    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    for (;;) {
        fl_jobs_tick(d.jobs);
        cr_assert_eq(req("GET", path, NULL, &rs), 200);
        if (!strcmp(json_string_value(json_object_get(rs.json, "state")), state) ||
            fl_now_ms() > until)
            return rs.json;
        json_decref(rs.json);
        fl_sleep_ms(10);
    }
}

static char *start(const char *body)
{
    struct fl_agentd_resp rs;
    char *id;

    cr_assert_eq(req("POST", "/api/v1/jobs", body, &rs), 201, "%s", msg(&rs) ?: "");
    id = strdup(json_string_value(json_object_get(rs.json, "id")));
    json_decref(rs.json);
    return id;
}

Test(jobs, status_shape_output_pieces_and_cap)
{
    struct fl_agentd_resp rs;
    char path[128], *id;
    json_t *s;
    size_t got = 0;

    fl_jobs_configure(d.jobs, true, 1000);
    id = start("{\"kind\":\"command\",\"command\":\"head -c 2500 /dev/zero | tr '\\\\0' a; "
               "echo warn >&2; exit 4\",\"session\":\"s1\",\"name\":\"cap\"}");
    s = wait_job(id, "exited");
    cr_assert_eq(json_integer_value(json_object_get(s, "exit")), 4);
    cr_assert(json_is_null(json_object_get(s, "signal")));
    cr_assert_eq(json_integer_value(json_object_get(s, "stdout_bytes")), 1000);
    cr_assert(json_is_true(json_object_get(s, "truncated")));
    cr_assert_str_eq(json_string_value(json_object_get(s, "stderr_tail")), "warn\n");
    cr_assert_str_eq(json_string_value(json_object_get(s, "name")), "cap");
    cr_assert_str_eq(json_string_value(json_object_get(s, "kind")), "command");
    cr_assert_str_eq(json_string_value(json_object_get(s, "session")), "s1");
    cr_assert(json_is_integer(json_object_get(s, "pid")));
    cr_assert(json_is_integer(json_object_get(s, "started_ms")));
    cr_assert(json_is_integer(json_object_get(s, "duration_ms")));
    json_decref(s);
    for (int calls = 0; calls < 100; calls++) {
        snprintf(path, sizeof path, "/api/v1/jobs/%s/output?offset=%zu&max=300", id, got);
        cr_assert_eq(req("GET", path, NULL, &rs), 200);
        cr_assert(rs.is_raw && rs.raw_len <= 300);
        for (size_t i = 0; i < rs.raw_len; i++)
            cr_assert_eq(rs.raw[i], 'a');
        got += rs.raw_len;
        const char *eof = json_string_value(json_object_get(rs.headers, "X-Job-Eof"));
        cr_assert_str_eq(json_string_value(json_object_get(rs.headers, "X-Job-State")), "exited");
        bool done = eof && !strcmp(eof, "1");
        fl_agentd_resp_fini(&rs);
        if (done)
            break;
    }
    cr_assert_eq(got, 1000);
    snprintf(path, sizeof path, "/api/v1/jobs/%s/output?max=0", id);
    cr_assert_eq(req("GET", path, NULL, &rs), 400);
    fl_agentd_resp_fini(&rs);
    free(id);
}

Test(jobs, delete_pending_and_running)
{
    struct fl_agentd_resp rs;
    char path[128], out[PATH_MAX + 64], *id;
    pid_t pid;
    json_t *s;

    fl_jobs_configure(d.jobs, true, 0);
    id = start("{\"kind\":\"command\",\"command\":\"sleep 30\",\"session\":\"s1\"}");
    s = wait_job(id, "running");
    pid = (pid_t)json_integer_value(json_object_get(s, "pid"));
    json_decref(s);
    cr_assert_eq(kill(pid, 0), 0);
    snprintf(out, sizeof out, "%s/jobs/%s.out", dir, id);
    cr_assert_eq(access(out, F_OK), 0);
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    cr_assert_eq(req("DELETE", path, NULL, &rs), 200);
    cr_assert_str_eq(json_string_value(json_object_get(rs.json, "state")), "killed");
    fl_agentd_resp_fini(&rs);
    cr_assert_neq(access(out, F_OK), 0);
    cr_assert_eq(req("GET", path, NULL, &rs), 404);
    fl_agentd_resp_fini(&rs);
    for (int i = 0; i < 300 && kill(pid, 0) == 0; i++) { /* reaped by the reaper's turn */
        fl_jobs_tick(d.jobs);
        fl_sleep_ms(10);
    }
    cr_assert_neq(kill(pid, 0), 0, "pid %d still there after DELETE", (int)pid);
    free(id);
    id = start("{\"kind\":\"command\",\"command\":\"true\",\"session\":\"s1\",\"delay_ms\":60000}");
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    cr_assert_eq(req("DELETE", path, NULL, &rs), 200);
    cr_assert(json_is_null(json_object_get(rs.json, "pid")));
    fl_agentd_resp_fini(&rs);
    cr_assert_eq(fl_jobs_count(d.jobs), 0);
    free(id);
}

/* ---- the client against a real agent, from several threads ------------- */

struct worker {
    struct fl_agent_client *c;
    int n;
    bool ok;
    char why[FL_ERR_MSG];
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char cmd[128], id[FL_AGENT_JOB_ID_LEN], *buf = NULL;
    json_t *req = NULL, *st = NULL;
    struct fl_err e = {0};
    size_t len = 0;
    bool eof = false;
    int64_t until = fl_now_ms() + 20000;

    snprintf(cmd, sizeof cmd, "for i in $(seq 1 500); do echo w%d-$i; done", w->n);
    req = json_pack("{s:s,s:s,s:s}", "kind", "command", "command", cmd, "name", "worker");
    if (fl_agent_client_job_start(w->c, req, id, &e))
        goto out;
    while (!eof && fl_now_ms() < until)
        if (fl_agent_client_job_output(w->c, id, len, 333, &buf, &len, &eof, &e))
            goto out;
    if (fl_agent_client_job_status(w->c, id, &st, &e) ||
        fl_agent_client_job_delete(w->c, id, NULL, &e))
        goto out;
    w->ok = eof && buf && !strncmp(buf, "w", 1) && strstr(buf, "-500\n") &&
            json_integer_value(json_object_get(st, "exit")) == 0 &&
            (size_t)json_integer_value(json_object_get(st, "stdout_bytes")) == len;
    snprintf(w->why, sizeof w->why, "eof %d, %zu bytes", eof, len);
out:
    if (!w->ok && e.msg[0])
        snprintf(w->why, sizeof w->why, "%s", e.msg);
    json_decref(req);
    json_decref(st);
    free(buf);
    return NULL;
}

TestSuite(jobs_client, .init = setup, .fini = teardown);

Test(jobs_client, calls_from_several_threads)
{
    char state[PATH_MAX], url[64], why[PATH_MAX + 64];
    struct fl_agent_client_opts o = {.name = "local", .lease_ms = 2000};
    struct fl_agent_client *c = NULL;
    struct fl_agent_renewer *ren = NULL;
    struct worker w[6];
    pthread_t t[6];
    struct fl_err e = {0};
    int st;
    pid_t pid;

    snprintf(state, sizeof state, "%s/agent", dir);
    pid = fl_test_agent_start(state, "--allow-commands", url, sizeof url, why, sizeof why);
    cr_assert_gt(pid, 0, "%s", why);
    o.url = url;
    cr_assert_eq(fl_agent_client_new(&o, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_agent_renewer_start(&c, 1, &ren, &e), 0, "%s", e.msg);
    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){.c = c, .n = i};
        cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    fl_agent_renewer_stop(ren);
    fl_agent_client_free(c);
    kill(pid, SIGTERM);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exited with %#x", st);
    for (int i = 0; i < 6; i++)
        cr_assert(w[i].ok, "worker %d: %s", i, w[i].why);
}
