/* Fuzz the agent's request handling (body parsing, field and session
 * checks, the kinds' option tables in both forms, validation and planning):
 * the first byte picks the route, the rest is the body, against one agent
 * on a temporary, empty state directory. A body that parses as an object is
 * sent as a dry run, so a valid fault is planned (targets resolved, nothing
 * touched) and never applied; the journal stays empty, so revert, renew and
 * recover act on nothing. Job requests are checked (fl_jobs_check_request)
 * but never started; output, list, get and delete act on unknown jobs. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remote/agentd_int.h"

static const char *const routes[][2] = {
    {"POST", "/api/v1/faults"},
    {"POST", "/api/v1/sessions/s1/renew"},
    {"GET", "/api/v1/faults"},
    {"DELETE", "/api/v1/faults/0badc0de"},
    {"GET", "/api/v1/faults/zz"},
    {"POST", "/api/v1/recover"},
    {"GET", "/api/v1/health"},
    {"PATCH", "/api/v1/faults"},
    /* jobs: the body of a new job goes to the request checks only (a valid
     * one would start a process); the rest of the input is an output
     * request's query against an unknown job */
    {"CHECK", "job"},
    {"GET", "/api/v1/jobs/j0123456789abcdef/output?"},
    {"GET", "/api/v1/jobs"},
    {"DELETE", "/api/v1/jobs/j0123456789abcdef"},
    {"GET", "/api/v1/jobs/jx"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static char dir[] = "/tmp/fuzz_agent_api.XXXXXX";

static void cleanup(void)
{
    char cmd[64];

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        fprintf(stderr, "cannot remove %s\n", dir);
}

static struct fl_agentd *agent(void)
{
    static struct fl_agentd d;
    static int ready;
    struct fl_err e = {0};

    if (ready)
        return &d;
    if (!mkdtemp(dir) || fl_agentd_init(&d, dir, NULL, "fuzz", &e)) {
        fprintf(stderr, "fuzz_agent_api: %s\n", e.msg);
        abort();
    }
    atexit(cleanup);
    ready = 1;
    return &d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_agentd *d = agent();
    struct fl_agentd_resp rs = {0};
    const char *const *rt;
    json_t *body;
    char *text = NULL;

    if (!size)
        return 0;
    rt = routes[data[0] % NROUTES];
    body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (!strcmp(rt[0], "CHECK")) {
        struct fl_err e = {0};
        int status = 0;
        if (!fl_jobs_check_request(body, data[0] & 0x80, &status, &e) != !status)
            abort(); /* a refusal always comes with its HTTP status */
        json_decref(body);
        return 0;
    }
    if (strchr(rt[1], '?')) {
        char *path = NULL;
        if (asprintf(&path, "%s%.*s", rt[1], (int)(size - 1), (const char *)data + 1) >= 0)
            fl_agentd_handle(d, rt[0], path, NULL, 0, NULL, &rs);
        fl_agentd_resp_fini(&rs);
        json_decref(body);
        free(path);
        return 0;
    }
    if (json_is_object(body)) {
        json_object_set_new(body, "dry_run", json_true());
        text = json_dumps(body, JSON_COMPACT);
    }
    fl_agentd_handle(d, rt[0], rt[1], text ? text : (const char *)data + 1,
                     text ? strlen(text) : size - 1, NULL, &rs);
    fl_agentd_resp_fini(&rs);
    json_decref(body);
    free(text);
    return 0;
}
