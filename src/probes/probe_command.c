/* command: run a shell command; ok when it exits with the expected status
 * (default 0) within the timeout and, if given, its stdout matches a regex.
 * The value is the first number printed on stdout, else the exit status. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/probe.h"

static const struct fl_opt command_opts[] = {
    {"command", FL_OPT_STRING, FL_OPT_REQUIRED, "SHELL", "the command, run with /bin/sh -c", NULL,
     0, 0},
    {"exit_status", FL_OPT_INT, 0, "N", "the exit status that means ok (default 0)", NULL, 0, 255},
    {"stdout", FL_OPT_STRING, 0, "REGEX", "ok only when stdout matches this POSIX extended regex",
     NULL, 0, 0},
    FL_OPT_END,
};

struct command_state {
    bool has_re;
    regex_t re;
};

static int command_validate(const json_t *params, struct fl_err *e)
{
    const char *rx = fl_param_str(params, "stdout", NULL);

    return rx ? fl_probe_regex("stdout regex", rx, NULL, e) : 0;
}

static int command_open(struct fl_probe *p, struct fl_err *e)
{
    struct command_state *st = calloc(1, sizeof *st);
    const char *rx = fl_param_str(p->params, "stdout", NULL);

    if (!st)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (rx && fl_probe_regex("stdout regex", rx, &st->re, e) == 0)
        st->has_re = true;
    p->state = st;
    return 0;
}

static void command_close(struct fl_probe *p)
{
    struct command_state *st = p->state;

    if (st && st->has_re)
        regfree(&st->re);
    free(st);
    p->state = NULL;
}

static void command_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    struct command_state *st = p->state;
    char out[4096];
    int rc = fl_probe_run_command(fl_param_str(p->params, "command", "false"), p->timeout_ms, out,
                                  sizeof out);
    long long want = fl_param_int(p->params, "exit_status", 0);
    char *nl;

    if (rc < 0) {
        snprintf(r->detail, sizeof r->detail, "%s", rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
        return;
    }
    r->has_value = true;
    r->value = rc;
    for (char *q = out; *q; q++) {
        char *end;
        double d;
        if (!(*q >= '0' && *q <= '9') && !((*q == '-' || *q == '.') && q[1] >= '0' && q[1] <= '9'))
            continue;
        d = strtod(q, &end);
        if (end != q) {
            r->value = d;
            break;
        }
    }
    if ((nl = strchr(out, '\n')) && !nl[1])
        *nl = '\0';
    if (rc != want) {
        snprintf(r->detail, sizeof r->detail, "exit status %d (want %lld): %.100s", rc, want, out);
        return;
    }
    if (st && st->has_re && regexec(&st->re, out, 0, NULL, 0)) {
        snprintf(r->detail, sizeof r->detail, "stdout does not match: %.100s", out);
        return;
    }
    snprintf(r->detail, sizeof r->detail, "%.150s", out);
    r->ok = true;
}

const struct fl_probe_ops fl_probe_command = {
    .kind = "command",
    .summary = "run a shell command: exit status, stdout regex, a number on stdout",
    .opts = command_opts,
    .validate = command_validate,
    .open = command_open,
    .sample = command_sample,
    .close = command_close,
};
