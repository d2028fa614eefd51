#include "workload/recorder.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/time.h"

struct rec_buf {
    pthread_mutex_t mu;
    struct fl_rec_ev *ev;
    size_t n, cap;
    atomic_int stamping;
    atomic_llong published; /* time of the last appended event */
    int64_t last;           /* worker-private: last time handed out */
    /* writer-private: events taken from ev[] not yet written */
    struct fl_rec_ev *pend;
    size_t npend, cappend, head;
};

struct fl_recorder {
    FILE *out;
    int n;
    int64_t base;
    struct rec_buf *bufs;
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    atomic_bool io_error;
    int io_errno;
    uint64_t written;
    struct fl_rec_ev *batch;
    size_t cap_batch;
};

static const char *const type_names[] = {"invoke", "ok", "fail", "info"};

static void write_error(const char *s, FILE *out)
{
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(t ? t : "\"?\"", out);
    free(t);
    json_decref(j);
}

void fl_recorder_format(const struct fl_rec_ev *ev, FILE *out)
{
    fprintf(out, "{\"process\":%lld,\"type\":\"%s\",\"f\":\"%s\"", (long long)ev->process,
            type_names[ev->type], fl_wl_f_name(ev->f));
    if (ev->key >= 0)
        fprintf(out, ",\"key\":%d", ev->key);
    fputs(",\"value\":", out);
    switch (ev->vkind) {
    case FL_RV_NIL:
        fputs("null", out);
        break;
    case FL_RV_INT:
        fprintf(out, "%lld", (long long)ev->a);
        break;
    case FL_RV_PAIR:
        fprintf(out, "[%lld,%lld]", (long long)ev->a, (long long)ev->b);
        break;
    case FL_RV_TRANSFER:
        fprintf(out, "{\"from\":%lld,\"to\":%lld,\"amount\":%lld}", (long long)ev->a,
                (long long)ev->b, (long long)ev->c);
        break;
    case FL_RV_LIST:
        putc('[', out);
        for (uint32_t i = 0; i < ev->narr; i++)
            fprintf(out, i ? ",%lld" : "%lld", (long long)ev->arr[i]);
        putc(']', out);
        break;
    }
    fprintf(out, ",\"time\":%lld", (long long)ev->time);
    if (ev->error) {
        fputs(",\"error\":", out);
        write_error(ev->error, out);
    }
    putc('}', out);
}

static void ev_free(struct fl_rec_ev *ev)
{
    free(ev->arr);
    free(ev->error);
}

static int cmp_ev(const void *pa, const void *pb)
{
    const struct fl_rec_ev *a = pa, *b = pb;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    /* equal times come from different workers: invocations first */
    int ca = a->type != FL_REC_INVOKE, cb = b->type != FL_REC_INVOKE;
    if (ca != cb)
        return ca - cb;
    return a->process < b->process ? -1 : a->process > b->process;
}

/* Move everything the workers appended into their pending lists, then write
 * the events older than the watermark (all of them when `all`). */
static void flush(struct fl_recorder *r, bool all)
{
    int64_t now = fl_mono_ns();
    int64_t wm = INT64_MAX;

    for (int i = 0; i < r->n && !all; i++) {
        struct rec_buf *b = &r->bufs[i];
        int64_t w = atomic_load(&b->stamping) ? (int64_t)atomic_load(&b->published) : now;
        if (w < wm)
            wm = w;
    }
    size_t nb = 0;
    for (int i = 0; i < r->n; i++) {
        struct rec_buf *b = &r->bufs[i];
        if (b->head > 0) {
            memmove(b->pend, b->pend + b->head, (b->npend - b->head) * sizeof *b->pend);
            b->npend -= b->head;
            b->head = 0;
        }
        pthread_mutex_lock(&b->mu);
        if (b->npend + b->n > b->cappend) {
            size_t cap = (b->npend + b->n) * 2 + 64;
            struct fl_rec_ev *p = realloc(b->pend, cap * sizeof *p);
            if (!p) {
                pthread_mutex_unlock(&b->mu);
                atomic_store(&r->io_error, true);
                r->io_errno = ENOMEM;
                continue;
            }
            b->pend = p;
            b->cappend = cap;
        }
        if (b->n)
            memcpy(b->pend + b->npend, b->ev, b->n * sizeof *b->ev);
        b->npend += b->n;
        b->n = 0;
        pthread_mutex_unlock(&b->mu);
        for (size_t k = b->head; k < b->npend && b->pend[k].time < wm; k++)
            nb++;
    }
    if (nb == 0)
        return;
    if (nb > r->cap_batch) {
        struct fl_rec_ev *p = realloc(r->batch, nb * 2 * sizeof *p);
        if (!p) {
            atomic_store(&r->io_error, true);
            r->io_errno = ENOMEM;
            return;
        }
        r->batch = p;
        r->cap_batch = nb * 2;
    }
    size_t m = 0;
    for (int i = 0; i < r->n; i++) {
        struct rec_buf *b = &r->bufs[i];
        while (b->head < b->npend && b->pend[b->head].time < wm)
            r->batch[m++] = b->pend[b->head++];
    }
    for (size_t i = 0; i < m; i++)
        r->batch[i].time -= r->base;
    qsort(r->batch, m, sizeof *r->batch, cmp_ev);
    for (size_t i = 0; i < m; i++) {
        if (!atomic_load(&r->io_error)) {
            fl_recorder_format(&r->batch[i], r->out);
            if (putc('\n', r->out) == EOF) {
                atomic_store(&r->io_error, true);
                r->io_errno = errno;
            }
        }
        ev_free(&r->batch[i]);
    }
    r->written += m;
}

static void *writer_main(void *arg)
{
    struct fl_recorder *r = arg;

    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->done)
            break;
        pthread_mutex_unlock(&r->mu);
        flush(r, false);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int fl_recorder_new(FILE *out, int nworkers, int64_t time_base, struct fl_recorder **rp,
                    struct fl_err *e)
{
    struct fl_recorder *r = calloc(1, sizeof *r);
    if (!r || !(r->bufs = calloc(nworkers, sizeof *r->bufs))) {
        free(r);
        return fl_err_set(e, FL_EFAIL, "recorder: out of memory");
    }
    r->out = out;
    r->n = nworkers;
    r->base = time_base;
    for (int i = 0; i < nworkers; i++) {
        pthread_mutex_init(&r->bufs[i].mu, NULL);
        atomic_init(&r->bufs[i].stamping, 0);
        atomic_init(&r->bufs[i].published, time_base);
        r->bufs[i].last = time_base;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&r->writer, NULL, writer_main, r);
    if (rc != 0) {
        for (int i = 0; i < nworkers; i++)
            pthread_mutex_destroy(&r->bufs[i].mu);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r->bufs);
        free(r);
        return fl_err_set(e, FL_EFAIL, "recorder: cannot start the writer thread: %s",
                          strerror(rc));
    }
    *rp = r;
    return 0;
}

int64_t fl_recorder_add(struct fl_recorder *r, int worker, struct fl_rec_ev *ev)
{
    struct rec_buf *b = &r->bufs[worker];

    atomic_store(&b->stamping, 1);
    int64_t t = fl_mono_ns();
    if (t <= b->last)
        t = b->last + 1; /* strictly increasing per worker */
    b->last = t;
    ev->time = t;
    pthread_mutex_lock(&b->mu);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        struct fl_rec_ev *p = realloc(b->ev, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&b->mu);
            atomic_store(&b->published, t);
            atomic_store(&b->stamping, 0);
            ev_free(ev);
            atomic_store(&r->io_error, true); /* reported at close */
            return t;
        }
        b->ev = p;
        b->cap = cap;
    }
    b->ev[b->n++] = *ev;
    pthread_mutex_unlock(&b->mu);
    atomic_store(&b->published, t);
    atomic_store(&b->stamping, 0);
    ev->arr = NULL;
    ev->error = NULL;
    return t;
}

int fl_recorder_close(struct fl_recorder *r, uint64_t *events, struct fl_err *e)
{
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->writer, NULL);
    flush(r, true);
    if (fflush(r->out) == EOF && !atomic_load(&r->io_error)) {
        atomic_store(&r->io_error, true);
        r->io_errno = errno;
    }
    int rc = 0;
    if (atomic_load(&r->io_error))
        rc = fl_err_set(e, FL_EFAIL, "cannot write the history: %s",
                        strerror(r->io_errno ? r->io_errno : EIO));
    if (events)
        *events = r->written;
    for (int i = 0; i < r->n; i++) {
        struct rec_buf *b = &r->bufs[i];
        for (size_t k = 0; k < b->n; k++)
            ev_free(&b->ev[k]);
        for (size_t k = b->head; k < b->npend; k++)
            ev_free(&b->pend[k]);
        free(b->ev);
        free(b->pend);
        pthread_mutex_destroy(&b->mu);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->bufs);
    free(r->batch);
    free(r);
    return rc;
}
