/* ThreadSanitizer driver for the workload runner (run.c's worker threads,
 * recorder.c's merge into one file): a plain program, since Criterion's
 * workers cannot start under TSan (Criterion issue #274). Eight workers run
 * a counter workload against an in-memory client for half a second (about
 * 2000 operations, some answered as lost connections); the
 * history must load and check as a valid counter. scripts/tsan builds this
 * with -fsanitize=thread, where any data race makes TSan exit non-zero. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "workload/workload.h"

static struct {
    pthread_mutex_t mu;
    int64_t value;
    int ops;
} counter = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int mem_connect(const struct fl_wl_cfg *c, void **conn, struct fl_err *e)
{
    *conn = malloc(1);
    return *conn ? 0 : fl_err_set(e, FL_EFAIL, "out of memory");
}

static void mem_close(void *conn)
{
    free(conn);
}

static int mem_setup(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    pthread_mutex_lock(&counter.mu);
    counter.value = 0;
    pthread_mutex_unlock(&counter.mu);
    return 0;
}

/* Every seventh add is applied but answered as a lost connection, so the
 * runner's reconnect path runs too. */
static void mem_exec(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    pthread_mutex_lock(&counter.mu);
    if (op->f == FL_WL_READ) {
        r->value = counter.value;
    } else {
        counter.value += op->a;
        if (++counter.ops % 7 == 0) {
            r->type = FL_WL_INFO;
            r->broken = true;
            snprintf(r->error, sizeof r->error, "connection lost");
        }
    }
    pthread_mutex_unlock(&counter.mu);
}

static const struct fl_wl_client_impl mem_impls[] = {
    {.workload = "counter", .setup = mem_setup, .exec = mem_exec},
    {0},
};

static const struct fl_wl_client_ops mem_client = {
    .name = "memory",
    .summary = "an in-memory counter",
    .target_help = "anything",
    .impls = mem_impls,
    .connect = mem_connect,
    .close = mem_close,
};

int main(void)
{
    char path[] = "/tmp/fl-tsan-workload-XXXXXX";
    struct fl_wl_cfg c;
    struct fl_wl_stats st;
    struct fl_err e = {0};
    struct fl_history *h = NULL;
    struct fl_check_opts o;
    struct fl_check_report rep;
    int fd = mkstemp(path), status = 1;

    if (fd < 0)
        return perror("mkstemp"), 1;
    close(fd);
    fl_wl_cfg_init(&c);
    c.client = &mem_client;
    c.workload = fl_wl_find("counter");
    c.target = "memory";
    c.out = path;
    c.concurrency = 8;
    c.duration_ms = 500;
    c.rate = 4000; /* ~2000 operations: enough to interleave, few enough to check */
    c.seed = 7;
    c.quiet = true;
    memcpy(c.mix, c.workload->mix, sizeof c.mix);
    if (fl_wl_cfg_validate(&c, &e) < 0 || fl_wl_run(&c, &st, &e) < 0 ||
        fl_history_load(path, FL_FMT_JSONL, &h, &e) < 0) {
        fprintf(stderr, "tsan_workload: %s\n", e.msg);
        goto out;
    }
    fl_check_opts_init(&o);
    o.model = "counter";
    o.timeout_ms = 120000;
    if (fl_check_run(h, &o, &rep, &e) < 0) {
        fprintf(stderr, "tsan_workload: check: %s\n", e.msg);
        goto out;
    }
    printf("tsan_workload: %zu operations, %llu reconnects, verdict %s\n", h->nops,
           (unsigned long long)st.reconnects,
           rep.verdict == FL_CHECK_VALID ? "valid" : "not valid");
    if (rep.verdict != FL_CHECK_VALID)
        fputs(rep.text, stdout);
    status = rep.verdict == FL_CHECK_VALID && h->nops > 100 && st.reconnects > 0 ? 0 : 1;
    fl_check_report_fini(&rep);
out:
    fl_history_free(h);
    unlink(path);
    return status;
}
