/* A probe run as a job of an agent host (remote_probe.h): starting the job,
 * reading its sample lines back by offset, deleting it. */
#include "engine/remote_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/time.h"

#define FETCH_MAX FL_AGENT_JOB_OUTPUT_MAX
#define LINE_MAX_BYTES 4096 /* a sample line is ~200 bytes; longer is not one */

struct fl_remote_probe {
    struct fl_agent_client *c;
    char id[FL_AGENT_JOB_ID_LEN];
    int64_t started_ms; /* the job's start on the run's timeline */
    uint64_t offset;    /* of the job's stdout, read so far */
    char *buf;          /* bytes of an unfinished line */
    size_t len;
};

int fl_remote_probe_check(struct fl_agent_client *c, const struct fl_spec_probe *sp,
                          struct fl_err *e)
{
    _cleanup_json_ json_t *health = NULL;
    int rc;

    if (strcmp(sp->ops->kind, "command"))
        return 0;
    if ((rc = fl_agent_client_health(c, &health, e)))
        return rc;
    if (!json_is_true(json_object_get(health, "commands")))
        return fl_err_set(e, FL_EPERM,
                          "probe %s is a command probe on host %s, whose agent runs no commands "
                          "(its health says \"commands\": false); start that agent with "
                          "--allow-commands, or give the probe another kind or host",
                          sp->name, fl_agent_client_name(c));
    return 0;
}

/* ["--kind", K, "--params", JSON, "--interval", "Nms", "--timeout", "Nms"] */
static json_t *probe_args(const struct fl_spec_probe *sp)
{
    _cleanup_free_ char *params = json_dumps(sp->params, JSON_COMPACT);
    char interval[32], timeout[32];

    if (!params)
        return NULL;
    snprintf(interval, sizeof interval, "%lldms", (long long)sp->interval_ms);
    snprintf(timeout, sizeof timeout, "%lldms", (long long)sp->timeout_ms);
    return json_pack("[ssssssss]", "--kind", sp->ops->kind, "--params", params, "--interval",
                     interval, "--timeout", timeout);
}

int fl_remote_probe_start(struct fl_agent_client *c, const struct fl_spec_probe *sp, int64_t t0_ns,
                          struct fl_remote_probe **out, struct fl_err *e)
{
    _cleanup_json_ json_t *req = NULL;
    struct fl_remote_probe *rp;
    char name[96];
    int64_t before, after;
    int rc;

    *out = NULL;
    snprintf(name, sizeof name, "probe %s", sp->name);
    req = json_pack("{ss so ss sI}", "kind", "probe", "args", probe_args(sp), "name", name,
                    "timeout_ms", (json_int_t)0);
    rp = calloc(1, sizeof *rp);
    if (!req || !rp) {
        free(rp);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    rp->c = c;
    before = fl_mono_ns();
    rc = fl_agent_client_job_start(c, req, rp->id, e);
    after = fl_mono_ns();
    if (rc) {
        free(rp);
        return rc;
    }
    rp->started_ms = (before + (after - before) / 2 - t0_ns) / 1000000;
    *out = rp;
    return 0;
}

const char *fl_remote_probe_job(const struct fl_remote_probe *rp)
{
    return rp->id;
}

int64_t fl_remote_probe_started_ms(const struct fl_remote_probe *rp)
{
    return rp->started_ms;
}

struct fl_agent_client *fl_remote_probe_client(const struct fl_remote_probe *rp)
{
    return rp->c;
}

/* Parse the complete lines in rp->buf into *lines; keep the rest. */
static int take_lines(struct fl_remote_probe *rp, struct fl_probe_line **lines, size_t *n,
                      size_t *bad)
{
    size_t start = 0, cap = 0;

    for (size_t i = 0; i < rp->len; i++) {
        struct fl_probe_line l;
        struct fl_err e = {0};

        if (rp->buf[i] != '\n')
            continue;
        if (fl_probe_line_parse(rp->buf + start, i - start, &l, &e) == 0) {
            if (*n == cap) {
                struct fl_probe_line *g = realloc(*lines, (cap = cap ? cap * 2 : 64) * sizeof *g);
                if (!g)
                    return -FL_EFAIL;
                *lines = g;
            }
            l.t_ms += rp->started_ms;
            (*lines)[(*n)++] = l;
        } else if (bad) {
            (*bad)++;
        }
        start = i + 1;
    }
    memmove(rp->buf, rp->buf + start, rp->len - start);
    rp->len -= start;
    if (rp->len > LINE_MAX_BYTES) { /* not a sample line: drop it */
        rp->len = 0;
        if (bad)
            (*bad)++;
    }
    return 0;
}

int fl_remote_probe_fetch(struct fl_remote_probe *rp, size_t max, struct fl_probe_line **lines,
                          size_t *n, size_t *bad, bool *eof, struct fl_err *e)
{
    size_t had = rp->len;
    int rc;

    *lines = NULL;
    *n = 0;
    *eof = false;
    rc = fl_agent_client_job_output(rp->c, rp->id, rp->offset, max ? max : FETCH_MAX, &rp->buf,
                                    &rp->len, eof, e);
    if (rc)
        return rc;
    rp->offset += rp->len - had;
    if (take_lines(rp, lines, n, bad)) {
        free(*lines);
        *lines = NULL;
        *n = 0;
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    if (*eof && rp->len) { /* a last line without its newline */
        struct fl_probe_line l;
        struct fl_err pe = {0};
        if (fl_probe_line_parse(rp->buf, rp->len, &l, &pe) == 0) {
            struct fl_probe_line *g = realloc(*lines, (*n + 1) * sizeof *g);
            if (g) {
                l.t_ms += rp->started_ms;
                g[(*n)++] = l;
                *lines = g;
            }
        } else if (bad) {
            (*bad)++;
        }
        rp->len = 0;
    }
    return 0;
}

int fl_remote_probe_delete(struct fl_remote_probe *rp, json_t **final, struct fl_err *e)
{
    return fl_agent_client_job_delete(rp->c, rp->id, final, e);
}

void fl_remote_probe_free(struct fl_remote_probe *rp)
{
    if (!rp)
        return;
    free(rp->buf);
    free(rp);
}
