/* GET /api/v1/runs/ID/check.html[?check=N]: the HTML timeline of a
 * workload run's consistency check (`faultline check --html`), made on
 * demand from the history stored with the run and the check as the run's
 * experiment declares it (model and options, N-th of `checks:`, default the
 * first). Under the server's lock the handler only copies the history to a
 * temporary file and builds the command; the check itself runs as a child
 * process from the response's reader, which is called without the lock, so
 * a long check delays no other request. docs/api.md ("Check report"). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/server.h"
#include "spec/spec.h"
#include "store/server_store.h"
#include "store/store.h"
#include "util/parse.h"

extern char **environ;

#define MAX_ARGS 64

struct report {
    char *argv[MAX_ARGS];
    size_t argc;
    char history[PATH_MAX], html[PATH_MAX];
    FILE *f;      /* the report, once the check wrote it */
    bool started; /* the check ran */
    char *err;    /* an error page, when the check wrote none */
    size_t err_len, err_off;
};

static void report_free(void *p)
{
    struct report *r = p;

    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    if (r->history[0])
        unlink(r->history);
    if (r->html[0])
        unlink(r->html);
    for (size_t i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->err);
    free(r);
}

static int add(struct report *r, const char *arg)
{
    if (r->argc + 1 >= MAX_ARGS || !(r->argv[r->argc] = strdup(arg)))
        return -1;
    r->argc++;
    return 0;
}

/* Run the check; the report file opened in r->f, else an error page. */
static void run_check(struct report *r)
{
    posix_spawn_file_actions_t fa;
    int status = -1;
    pid_t pid;

    r->started = true;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, r->argv[0], &fa, NULL, r->argv, environ) == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    posix_spawn_file_actions_destroy(&fa);
    if ((r->f = fopen(r->html, "re")))
        return;
    r->err_len =
        (size_t)asprintf(&r->err,
                         "<!doctype html><meta charset=utf-8><title>check report</title>"
                         "<p>The check wrote no report (exit status %d); run <code>faultline "
                         "show RUN --history</code> and <code>faultline check --html</code> "
                         "by hand to see why.</p>\n",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (r->err_len == (size_t)-1) {
        r->err = NULL;
        r->err_len = 0;
    }
}

static ssize_t report_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct report *r = ctx;
    size_t n;

    if (!r->started)
        run_check(r);
    if (r->f) {
        n = fread(buf, 1, max, r->f);
        return n ? (ssize_t)n : -1;
    }
    if (r->err_off >= r->err_len)
        return -1;
    n = r->err_len - r->err_off < max ? r->err_len - r->err_off : max;
    memcpy(buf, r->err + r->err_off, n);
    r->err_off += n;
    return (ssize_t)n;
}

/* The check's command line from the run's experiment; a response in rs on error. */
static int build_argv(struct fl_server *s, struct fl_resp *rs, int64_t hr, long long which,
                      struct report *r)
{
    struct fl_err e = {0};
    struct fl_spec_errors errs = {0};
    json_t *x = fl_sstore_row(s->ss, &e,
                              "SELECT x.content AS content, x.title AS title FROM runs r JOIN "
                              "experiments x ON x.id = r.experiment_id WHERE r.id = ?",
                              "I", hr);
    const char *content = json_string_value(json_object_get(x, "content"));
    struct fl_spec *sp =
        content ? fl_spec_load_string("experiment", content, strlen(content), &errs) : NULL;
    char timeout[32];
    int ret = -1;

    fl_spec_errors_fini(&errs);
    if (!sp) {
        fl_http_error(rs, 409, "no_check",
                      "the run's experiment no longer loads here (%s), so its check cannot be "
                      "repeated",
                      content ? "its file does not validate" : "not stored");
    } else if (which >= (long long)sp->nchecks) {
        fl_http_error(rs, 404, "no_check", "the run's experiment has %zu check(s); ?check=%lld",
                      sp->nchecks, which);
    } else {
        const struct fl_spec_check *ck = &sp->checks[which];
        snprintf(timeout, sizeof timeout, "%lldms", (long long)ck->timeout_ms);
        ret = add(r, s->exe) || add(r, "check");
        for (size_t i = 0; i < ck->argc && !ret; i++)
            ret = add(r, ck->argv[i]);
        ret = ret || add(r, "--timeout") || add(r, timeout) || add(r, "--html") ||
              add(r, r->html) || add(r, r->history);
        if (ret)
            fl_http_error(rs, 500, "check", "the check's command line is too long");
    }
    fl_spec_free(sp);
    json_decref(x);
    return ret ? -1 : 0;
}

/* The stored history into a new file under the work directory. */
static int write_history(struct fl_server *s, struct fl_resp *rs, int64_t hr, struct report *r)
{
    struct fl_err e = {0};
    int fd;
    FILE *f;

    snprintf(r->history, sizeof r->history, "%s/check-XXXXXX", s->work_dir);
    if ((fd = mkstemp(r->history)) < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        r->history[0] = '\0';
        fl_http_error(rs, 500, "check", "a temporary file in %s: %s", s->work_dir, strerror(errno));
        return -1;
    }
    snprintf(r->html, sizeof r->html, "%s.html", r->history);
    if (fl_store_history_write(s->hist, hr, f, &e)) {
        fclose(f);
        fl_http_error(rs, e.code == FL_ENOTARGET ? 404 : 500,
                      e.code == FL_ENOTARGET ? "no_history" : "store", "%s", e.msg);
        return -1;
    }
    if (fclose(f)) {
        fl_http_error(rs, 500, "check", "writing %s: %s", r->history, strerror(errno));
        return -1;
    }
    return 0;
}

int fl_api_runs_check_html(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *q = fl_http_query(rq, "check");
    struct fl_err e = {0};
    long long id, which = 0;
    struct report *r;
    json_t *run;
    int64_t hr;

    if (fl_parse_int(rq->arg[0], 1, 1LL << 53, &id, &e))
        return fl_http_error(rs, 400, "invalid_id", "run id '%s': %s", rq->arg[0], e.msg);
    if (q && fl_parse_int(q, 0, 1000, &which, &e))
        return fl_http_error(rs, 400, "invalid_query", "?check=%.30s: %s", q, e.msg);
    if (!(run = fl_runner_get(s, id, false, false)))
        return fl_http_error(rs, 404, "not_found", "no run %lld", id);
    hr = json_integer_value(json_object_get(run, "history_run"));
    json_decref(run);
    if (!hr)
        return fl_http_error(rs, 404, "no_history", "run %lld has not recorded anything yet", id);
    if (!(r = calloc(1, sizeof *r)))
        return fl_http_error(rs, 500, "memory", "out of memory");
    if (write_history(s, rs, hr, r) || build_argv(s, rs, hr, which, r)) {
        report_free(r);
        return 0;
    }
    rs->status = 200;
    rs->ctype = "text/html; charset=utf-8";
    rs->reader = report_read;
    rs->reader_free = report_free;
    rs->reader_ctx = r;
    return 0;
}
