/* Running a workload: one thread per worker, each with its own connection,
 * a shared rate limit split evenly between workers, reconnection after a
 * lost connection, and a final read once every worker has stopped.
 *
 * Process ids follow Jepsen: worker w starts as process w; after an
 * operation with unknown outcome (info) that operation may still be in
 * flight, so the worker continues as a new process (w + concurrency * k). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/time.h"
#include "workload/recorder.h"
#include "workload/txn.h"
#include "workload/workload.h"

/* Counts workers still issuing operations; the final read waits for zero. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;
};

static void gate_leave(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->running--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->running > 0)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

struct worker {
    const struct fl_wl_cfg *c;
    const struct fl_wl_client_impl *impl; /* the client's row for c->workload */
    struct fl_recorder *rec;
    struct gate *gate;
    int id;
    int64_t process;
    void *conn;
    uint64_t rng, seq;
    int64_t start_ns, end_ns;
    struct fl_wl_stats st;
    pthread_t th;
};

static bool stopped(const struct fl_wl_cfg *c)
{
    return c->stop && *c->stop;
}

/* Sleep until the monotonic time t (ns), waking every 100 ms to notice a
 * stop request. */
static void sleep_until(const struct fl_wl_cfg *c, int64_t t)
{
    for (;;) {
        int64_t now = fl_mono_ns();
        if (now >= t || stopped(c))
            return;
        int64_t d = t - now;
        if (d > 100000000)
            d = 100000000;
        struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
        nanosleep(&ts, NULL);
    }
}

static void set_value(struct fl_rec_ev *ev, const struct fl_wl_op *op)
{
    switch (op->f) {
    case FL_WL_WRITE:
    case FL_WL_ADD:
    case FL_WL_ENQUEUE:
        ev->vkind = FL_RV_INT;
        ev->a = op->a;
        break;
    case FL_WL_CAS:
        ev->vkind = FL_RV_PAIR;
        ev->a = op->a;
        ev->b = op->b;
        break;
    case FL_WL_TRANSFER:
        ev->vkind = FL_RV_TRANSFER;
        ev->a = op->a;
        ev->b = op->b;
        ev->c = op->c;
        break;
    case FL_WL_TXN:
        ev->vkind = FL_RV_JSON;
        ev->json = fl_wl_txn_render(op, NULL);
        break;
    default:
        ev->vkind = FL_RV_NIL;
    }
}

static bool ensure_conn(struct worker *w)
{
    struct fl_err e = {0};

    if (w->conn)
        return true;
    if (w->c->client->connect(w->c, &w->conn, &e) < 0) {
        w->conn = NULL;
        return false;
    }
    w->st.reconnects++;
    return true;
}

static void drop_conn(struct worker *w)
{
    if (w->conn)
        w->c->client->close(w->conn);
    w->conn = NULL;
}

/* Invoke, execute, complete: the two events of one operation. */
static int do_op(struct worker *w, const struct fl_wl_op *op)
{
    const struct fl_wl_cfg *c = w->c;
    struct fl_rec_ev ev = {
        .process = w->process, .type = FL_REC_INVOKE, .f = (uint8_t)op->f, .key = op->key};
    struct fl_wl_result r = {0};

    set_value(&ev, op);
    fl_recorder_add(w->rec, w->id, &ev);
    w->impl->exec(w->conn, c, op, &r);

    struct fl_rec_ev done = ev;
    done.type = r.type == FL_WL_OK ? FL_REC_OK : r.type == FL_WL_FAIL ? FL_REC_FAIL : FL_REC_INFO;
    if ((op->f == FL_WL_READ || op->f == FL_WL_DEQUEUE || op->f == FL_WL_DRAIN) &&
        r.type == FL_WL_OK) {
        if (r.is_list) {
            done.vkind = FL_RV_LIST;
            done.arr = r.vals;
            done.narr = (uint32_t)r.nvals;
            r.vals = NULL;
        } else if (!r.nil) {
            done.vkind = FL_RV_INT;
            done.a = r.value;
        }
    }
    if (op->f == FL_WL_TXN) {
        done.json = r.type == FL_WL_OK && r.txn ? r.txn : fl_wl_txn_render(op, NULL);
        if (done.json == r.txn)
            r.txn = NULL;
    }
    if (r.type != FL_WL_OK && r.error[0])
        done.error = strdup(r.error);
    fl_recorder_add(w->rec, w->id, &done);
    fl_wl_result_fini(&r);

    w->st.n[op->f][r.type]++;
    if (r.broken)
        drop_conn(w);
    if (r.type == FL_WL_INFO)
        w->process += c->concurrency;
    return r.type;
}

/* The final read goes to whatever the cluster says is the primary now:
 * the worker's connection may still point at a server that was demoted
 * while it ran, so it is dropped and reopened (a Sentinel target asks the
 * sentinels again, a multi-host postgres target finds the writable host, an
 * etcd target a healthy member). */
static void final_read(struct worker *w)
{
    struct fl_wl_op op = {.f = w->c->workload->final_f, .key = -1, .final = true};

    if (w->conn) {
        drop_conn(w);
        w->st.reconnects--; /* not a reconnect after a failure */
    }
    for (int attempt = 0; attempt < 10; attempt++) {
        if (attempt)
            fl_sleep_ms(200);
        if (!ensure_conn(w))
            continue;
        if (do_op(w, &op) == FL_WL_OK)
            return;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct fl_wl_cfg *c = w->c;
    int64_t interval = 0, next = w->start_ns;

    if (c->rate > 0) {
        interval = (int64_t)(1e9 * c->concurrency / c->rate);
        next += interval * w->id / c->concurrency; /* stagger the workers */
    }
    while (!stopped(c) && fl_mono_ns() < w->end_ns) {
        if (!ensure_conn(w)) {
            int64_t t = fl_mono_ns() + 100000000;
            sleep_until(c, t < w->end_ns ? t : w->end_ns);
            continue;
        }
        if (interval) {
            int64_t now = fl_mono_ns();
            if (next > now) {
                sleep_until(c, next < w->end_ns ? next : w->end_ns);
                if (stopped(c) || fl_mono_ns() >= w->end_ns)
                    break;
            } else if (next < now - interval) {
                next = now; /* fell behind (a stall): do not burst to catch up */
            }
            next += interval;
        }
        struct fl_wl_op op;
        fl_wl_next_op(c, &w->rng, w->id, w->seq++, &op);
        do_op(w, &op);
    }
    gate_leave(w->gate);
    if (w->id == 0 && c->workload->final_read) {
        gate_wait(w->gate);
        final_read(w);
    }
    drop_conn(w);
    return NULL;
}

/* One connection first: fail fast if the target is unreachable, and reset
 * what the workload owns. Returns 0 or -FL_WL_EXIT_USAGE/-FL_WL_EXIT_CONNECT
 * with e filled. */
static int connect_and_reset(const struct fl_wl_cfg *c, const struct fl_wl_client_impl *impl,
                             struct fl_err *e)
{
    void *conn = NULL;
    int rc = c->client->connect(c, &conn, e);

    if (rc < 0) {
        e->code = rc == -FL_EUSAGE ? FL_WL_EXIT_USAGE : FL_WL_EXIT_CONNECT;
        return -e->code;
    }
    rc = impl->setup(conn, c, e);
    c->client->close(conn);
    if (rc < 0) {
        e->code = FL_WL_EXIT_CONNECT;
        return -FL_WL_EXIT_CONNECT;
    }
    return 0;
}

int fl_wl_run(const struct fl_wl_cfg *c, struct fl_wl_stats *st, struct fl_err *e)
{
    const struct fl_wl_client_impl *impl = fl_wl_client_find_impl(c->client, c->workload->name);
    int n = c->concurrency;
    FILE *out;
    int rc = 0;

    memset(st, 0, sizeof *st);
    if (!impl) /* fl_wl_cfg_validate() says so first */
        return fl_err_set(e, FL_WL_EXIT_USAGE, "the %s client cannot run the %s workload",
                          c->client->name, c->workload->name);
    if (!strcmp(c->out, "-"))
        out = stdout;
    else if (!(out = fopen(c->out, "w")))
        return fl_err_set(e, FL_WL_EXIT_IO, "cannot write the history to %s: %s", c->out,
                          strerror(errno));
    setvbuf(out, NULL, _IOFBF, 1 << 20);
    if (c->client->global)
        c->client->global(true);
    if ((rc = connect_and_reset(c, impl, e)) < 0)
        goto close_out;

    /* time 0 of the history; the header gives it as CLOCK_MONOTONIC, so
     * events can be put beside other monotonic times (a fault's start) */
    int64_t start = fl_mono_ns();
    fprintf(out,
            "# faultline workload: client=%s workload=%s model=%s concurrency=%d seed=%llu "
            "keys=%d accounts=%d total=%lld start_mono_ns=%lld\n",
            c->client->name, c->workload->name, c->workload->model, n, (unsigned long long)c->seed,
            c->keys, c->accounts, (long long)c->total, (long long)start);

    struct worker *ws = calloc((size_t)n, sizeof *ws);
    if (!ws) {
        rc = fl_err_set(e, FL_WL_EXIT_IO, "out of memory");
        goto close_out;
    }
    struct gate gate = {
        .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .running = n};
    struct fl_recorder *rec;
    if (fl_recorder_new(out, n, start, &rec, e) < 0) {
        free(ws);
        e->code = FL_WL_EXIT_IO;
        rc = -FL_WL_EXIT_IO;
        goto close_out;
    }
    int started = 0;
    for (int i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        w->c = c;
        w->impl = impl;
        w->rec = rec;
        w->gate = &gate;
        w->id = i;
        w->process = i;
        w->start_ns = start;
        w->end_ns = start + c->duration_ms * 1000000;
        fl_wl_rng_seed(&w->rng, c->seed, i);
        if (pthread_create(&w->th, NULL, worker_main, w) != 0)
            break;
        started++;
    }
    if (started < n) {
        fprintf(stderr, "faultline workload: could start only %d of %d workers\n", started, n);
        for (int i = started; i < n; i++)
            gate_leave(&gate);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(ws[i].th, NULL);
        for (int f = 0; f < FL_WL_NF; f++)
            for (int t = 0; t < 3; t++)
                st->n[f][t] += ws[i].st.n[f][t];
        st->reconnects += ws[i].st.reconnects > 0 ? ws[i].st.reconnects - 1 : 0;
    }
    st->seconds = (double)(fl_mono_ns() - start) / 1e9;
    if (fl_recorder_close(rec, &st->events, e) < 0) {
        e->code = FL_WL_EXIT_IO;
        rc = -FL_WL_EXIT_IO;
    }
    free(ws);
close_out:
    if (c->client->global)
        c->client->global(false);
    if (out != stdout) {
        if (fclose(out) != 0 && rc == 0)
            rc = fl_err_set(e, FL_WL_EXIT_IO, "cannot write the history to %s: %s", c->out,
                            strerror(errno));
        if (rc == -FL_WL_EXIT_CONNECT || rc == -FL_WL_EXIT_USAGE)
            unlink(c->out); /* nothing ran: leave no empty history behind */
    } else {
        fflush(out);
    }
    return rc;
}
