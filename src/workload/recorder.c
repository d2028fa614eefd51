/* The history recorder (see recorder.h for the ordering argument): per-worker
 * event buffers, one writer thread merging them by timestamp into JSON Lines
 * behind a watermark, and the line format itself. */
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
    atomic_llong published;  /* time of the last appended event */
    int64_t last;            /* worker-private: last time handed out */
    struct fl_rec_ev *spare; /* the writer's empty buffer, swapped with ev */
    size_t capspare;
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
    int *heap; /* writer: workers with events to write, by their oldest */
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

/* The writer formats millions of events: plain digit loops and unlocked
 * stdio instead of printf (only the writer thread touches `out`). */
static void put_str(const char *s, FILE *out)
{
    fputs_unlocked(s, out);
}

static void put_int(int64_t v, FILE *out)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        putc_unlocked('-', out);
    while (n > 0)
        putc_unlocked(tmp[--n], out);
}

void fl_recorder_format(const struct fl_rec_ev *ev, FILE *out)
{
    put_str("{\"process\":", out);
    put_int(ev->process, out);
    put_str(",\"type\":\"", out);
    put_str(type_names[ev->type], out);
    put_str("\",\"f\":\"", out);
    put_str(fl_wl_f_name(ev->f), out);
    putc_unlocked('"', out);
    if (ev->key >= 0) {
        put_str(",\"key\":", out);
        put_int(ev->key, out);
    }
    put_str(",\"value\":", out);
    switch (ev->vkind) {
    case FL_RV_NIL:
        put_str("null", out);
        break;
    case FL_RV_INT:
        put_int(ev->a, out);
        break;
    case FL_RV_PAIR:
        putc_unlocked('[', out);
        put_int(ev->a, out);
        putc_unlocked(',', out);
        put_int(ev->b, out);
        putc_unlocked(']', out);
        break;
    case FL_RV_TRANSFER:
        put_str("{\"from\":", out);
        put_int(ev->a, out);
        put_str(",\"to\":", out);
        put_int(ev->b, out);
        put_str(",\"amount\":", out);
        put_int(ev->c, out);
        putc_unlocked('}', out);
        break;
    case FL_RV_LIST:
        putc_unlocked('[', out);
        for (uint32_t i = 0; i < ev->narr; i++) {
            if (i)
                putc_unlocked(',', out);
            put_int(ev->arr[i], out);
        }
        putc_unlocked(']', out);
        break;
    case FL_RV_JSON:
        put_str(ev->json ? ev->json : "null", out);
        break;
    }
    put_str(",\"time\":", out);
    put_int(ev->time, out);
    if (ev->error) {
        put_str(",\"error\":", out);
        write_error(ev->error, out);
    }
    putc_unlocked('}', out);
}

static void ev_free(struct fl_rec_ev *ev)
{
    free(ev->arr);
    free(ev->error);
    free(ev->json);
}

/* Order of events from different workers: time, then invocations first. */
static bool ev_before(const struct fl_rec_ev *a, const struct fl_rec_ev *b)
{
    if (a->time != b->time)
        return a->time < b->time;
    int ca = a->type != FL_REC_INVOKE, cb = b->type != FL_REC_INVOKE;
    if (ca != cb)
        return ca < cb;
    return a->process < b->process;
}

static const struct fl_rec_ev *head_of(const struct fl_recorder *r, int w)
{
    const struct rec_buf *b = &r->bufs[w];
    return &b->pend[b->head];
}

static void heap_down(struct fl_recorder *r, int *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && ev_before(head_of(r, heap[l]), head_of(r, heap[m])))
            m = l;
        if (l + 1 < n && ev_before(head_of(r, heap[l + 1]), head_of(r, heap[m])))
            m = l + 1;
        if (m == i)
            return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static void write_event(struct fl_recorder *r, struct fl_rec_ev *ev)
{
    if (!atomic_load(&r->io_error)) {
        ev->time -= r->base;
        fl_recorder_format(ev, r->out);
        if (putc('\n', r->out) == EOF) {
            atomic_store(&r->io_error, true);
            r->io_errno = errno;
        }
    }
    ev_free(ev);
    r->written++;
}

/* Take what the workers appended (swapping their buffers under their lock,
 * so a worker waits at most for a pointer swap), then write the events older
 * than the watermark (all of them when `all`), merging the workers' sorted
 * runs with a heap. */
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
    size_t nheap = 0;
    for (int i = 0; i < r->n; i++) {
        struct rec_buf *b = &r->bufs[i];
        if (b->head > 0) {
            memmove(b->pend, b->pend + b->head, (b->npend - b->head) * sizeof *b->pend);
            b->npend -= b->head;
            b->head = 0;
        }
        pthread_mutex_lock(&b->mu);
        struct fl_rec_ev *got = b->ev;
        size_t n = b->n, cap = b->cap;
        b->ev = b->spare;
        b->cap = b->capspare;
        b->n = 0;
        pthread_mutex_unlock(&b->mu);
        b->spare = got;
        b->capspare = cap;
        if (n > 0) {
            if (b->npend + n > b->cappend) {
                size_t c2 = (b->npend + n) * 2 + 64;
                struct fl_rec_ev *p = realloc(b->pend, c2 * sizeof *p);
                if (!p) {
                    for (size_t k = 0; k < n; k++)
                        ev_free(&got[k]);
                    atomic_store(&r->io_error, true);
                    r->io_errno = ENOMEM;
                    continue;
                }
                b->pend = p;
                b->cappend = c2;
            }
            memcpy(b->pend + b->npend, got, n * sizeof *got);
            b->npend += n;
        }
        if (b->head < b->npend && b->pend[b->head].time < wm)
            r->heap[nheap++] = i;
    }
    for (size_t i = nheap / 2; i-- > 0;)
        heap_down(r, r->heap, nheap, i);
    while (nheap > 0) {
        struct rec_buf *b = &r->bufs[r->heap[0]];
        write_event(r, &b->pend[b->head++]);
        if (b->head >= b->npend || b->pend[b->head].time >= wm)
            r->heap[0] = r->heap[--nheap];
        heap_down(r, r->heap, nheap, 0);
    }
}

static void *writer_main(void *arg)
{
    struct fl_recorder *r = arg;

    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20 * 1000000L;
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
    if (!r || !(r->bufs = calloc(nworkers, sizeof *r->bufs)) ||
        !(r->heap = calloc(nworkers, sizeof *r->heap))) {
        if (r)
            free(r->bufs);
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
        free(r->heap);
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
    ev->json = NULL;
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
        free(b->spare);
        free(b->pend);
        pthread_mutex_destroy(&b->mu);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->bufs);
    free(r->heap);
    free(r);
    return rc;
}
