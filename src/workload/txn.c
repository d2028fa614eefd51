/* list-append and rw-register: transactions of random reads and appends
 * (or writes) over a small window of keys, judged by `faultline check
 * --model list-append|rw-register`.
 *
 * Every written value is unique (worker, sequence number and position make
 * it), so a read tells which transaction wrote what it saw. Keys rotate
 * like Jepsen's: after about --max-writes-per-key writes per key, every
 * worker moves on to fresh keys, which keeps lists short and the check
 * fast; workers compute the rotation from their own sequence number, so
 * they move together as long as they run at a similar pace. The --mix
 * weights choose between the micro-op kinds. */
#include "workload/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fl_wl_txn_render(const struct fl_wl_op *op, char *const *reads)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputc('[', f);
    for (int i = 0; i < op->nmops; i++) {
        const struct fl_wl_mop *m = &op->mops[i];
        const char *name = m->f == FL_WL_READ ? "r" : m->f == FL_WL_APPEND ? "append" : "w";
        fprintf(f, "%s[\"%s\",%" PRId64 ",", i ? "," : "", name, m->key);
        if (m->f != FL_WL_READ)
            fprintf(f, "%" PRId64 "]", m->v);
        else
            fprintf(f, "%s]", reads && reads[i] ? reads[i] : "null");
    }
    fputc(']', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

bool fl_wl_txn_workload(const struct fl_wl_ops *w)
{
    return w->allowed & (1u << FL_WL_APPEND) || !strcmp(w->model, "rw-register");
}

static void gen(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op, int wf)
{
    unsigned rw = c->mix[FL_WL_READ], ww = c->mix[wf];
    /* writes per transaction on average, then transactions per worker
     * between two rotations of the key window */
    double writes = (c->txn_len + 1) / 2.0 * ww / (double)(rw + ww ? rw + ww : 1);
    double per_epoch =
        (double)c->keys * c->max_writes_per_key / (writes > 0.01 ? writes : 0.01) / c->concurrency;
    uint64_t epoch = per_epoch >= 1 ? seq / (uint64_t)per_epoch : seq;

    op->f = FL_WL_TXN;
    op->key = -1;
    op->nmops = 1 + (int)fl_wl_rng_below(rng, (uint64_t)c->txn_len);
    for (int i = 0; i < op->nmops; i++) {
        struct fl_wl_mop *m = &op->mops[i];
        m->f = fl_wl_rng_below(rng, rw + ww) < rw ? FL_WL_READ : wf;
        m->key = (int64_t)(epoch * (uint64_t)c->keys + fl_wl_rng_below(rng, (uint64_t)c->keys));
        m->v = 1 + worker + (int64_t)c->concurrency * (int64_t)(seq * FL_WL_TXN_MAX + (uint64_t)i);
    }
}

static void gen_append(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                       struct fl_wl_op *op)
{
    gen(c, rng, worker, seq, op, FL_WL_APPEND);
}

static void gen_write(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                      struct fl_wl_op *op)
{
    gen(c, rng, worker, seq, op, FL_WL_WRITE);
}

const struct fl_wl_ops fl_wl_list_append = {
    .name = "list-append",
    .summary = "transactions of reads and appends to lists on --keys keys (checked as "
               "list-append)",
    .model = "list-append",
    .allowed = (1u << FL_WL_READ) | (1u << FL_WL_APPEND),
    .mix = {[FL_WL_READ] = 1, [FL_WL_APPEND] = 1},
    .gen = gen_append,
};

const struct fl_wl_ops fl_wl_rw_register = {
    .name = "rw-register",
    .summary = "transactions of reads and writes of registers on --keys keys (checked as "
               "rw-register)",
    .model = "rw-register",
    .allowed = (1u << FL_WL_READ) | (1u << FL_WL_WRITE),
    .mix = {[FL_WL_READ] = 1, [FL_WL_WRITE] = 1},
    .gen = gen_write,
};
