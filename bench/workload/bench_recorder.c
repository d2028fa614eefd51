/* How much does recording cost a worker? N threads each record E
 * operations (an invoke and an ok event, as a client does) through:
 *
 *   none      only the two clock reads a client needs anyway (the floor);
 *   naive     one shared FILE under one mutex, formatted by the worker;
 *   recorder  faultline's recorder (per-thread buffers, one merging writer).
 *
 * It prints, per thread count, the workers' time per operation (what
 * recording adds to each client operation), the naive/recorder ratio of that
 * (above 1: the recorder costs workers less), the time the writer still
 * needs to drain once the workers stop, and the writer's end-to-end rate
 * (events per second until everything is written). Real client operations
 * take tens to hundreds of microseconds, so the point is that the recording
 * share stays small. Output goes to /dev/null: the disk is not measured. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"
#include "workload/recorder.h"

enum { OPS = 200000 };

enum mode { NONE, NAIVE, RECORDER };

struct ctx {
    enum mode mode;
    int id;
    struct fl_recorder *rec;
    FILE *out;
    pthread_mutex_t *mu;
    int64_t sink;
};

static void *worker(void *arg)
{
    struct ctx *c = arg;
    for (int i = 0; i < OPS; i++) {
        struct fl_rec_ev ev = {.process = c->id,
                               .type = FL_REC_INVOKE,
                               .f = 1,
                               .key = i % 10,
                               .vkind = FL_RV_INT,
                               .a = i % 5};
        struct fl_rec_ev done = ev;
        done.type = FL_REC_OK;
        switch (c->mode) {
        case NONE:
            c->sink += fl_mono_ns();
            c->sink += fl_mono_ns();
            break;
        case NAIVE:
            for (int k = 0; k < 2; k++) {
                struct fl_rec_ev *e = k ? &done : &ev;
                pthread_mutex_lock(c->mu);
                e->time = fl_mono_ns();
                fl_recorder_format(e, c->out);
                putc('\n', c->out);
                pthread_mutex_unlock(c->mu);
            }
            break;
        case RECORDER:
            fl_recorder_add(c->rec, c->id, &ev);
            fl_recorder_add(c->rec, c->id, &done);
            break;
        }
    }
    return NULL;
}

/* Returns the workers' wall time in ns; *drain gets the writer's extra time. */
static int64_t run(enum mode mode, int n, int64_t *drain)
{
    FILE *out = fopen("/dev/null", "w");
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct fl_recorder *rec = NULL;
    struct fl_err e = {0};
    struct ctx *c = calloc((size_t)n, sizeof *c);
    pthread_t *th = calloc((size_t)n, sizeof *th);

    setvbuf(out, NULL, _IOFBF, 1 << 20);
    if (mode == RECORDER && fl_recorder_new(out, n, fl_mono_ns(), &rec, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    int64_t t0 = fl_mono_ns();
    for (int i = 0; i < n; i++) {
        c[i] = (struct ctx){.mode = mode, .id = i, .rec = rec, .out = out, .mu = &mu};
        pthread_create(&th[i], NULL, worker, &c[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = fl_mono_ns();
    if (rec)
        fl_recorder_close(rec, NULL, &e);
    *drain = fl_mono_ns() - t1;
    fclose(out);
    free(c);
    free(th);
    return t1 - t0;
}

int main(void)
{
    const int threads[] = {1, 4, 16};
    printf("recording %d operations (2 events each) per thread; ns per operation, per thread\n",
           OPS);
    printf("%8s %10s %10s %10s %16s %10s %14s\n", "threads", "none", "naive", "recorder",
           "naive/recorder", "drain ms", "Mevents/s");
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        int n = threads[i];
        int64_t d0, d1, d2;
        double none = (double)run(NONE, n, &d0) / OPS;
        double naive = (double)run(NAIVE, n, &d1) / OPS;
        int64_t wall = run(RECORDER, n, &d2);
        double rec = (double)wall / OPS;
        double rate = 2.0 * OPS * n / ((double)(wall + d2) / 1e9) / 1e6;
        printf("%8d %10.0f %10.0f %10.0f %15.1fx %10.1f %14.1f\n", n, none, naive, rec, naive / rec,
               (double)d2 / 1e6, rate);
    }
    return 0;
}
