/* queue: a FIFO queue. enqueue v; dequeue returns the head, or nil when the
 * queue is empty. A dequeue with unknown outcome removes the head if any. */
#include <string.h>

#include "check/models/models.h"
#include "check/queue_fast.h"

enum { Q_ENQ, Q_DEQ };
static const char *const fs[] = {"enqueue", "dequeue", "enq", "deq", NULL};

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    int f = fl_check_f_index(p->h, op, fs);
    if (f < 0)
        return fl_prep_fail(p, op, "queue operations are enqueue or dequeue");
    out->f = (uint32_t)(f % 2);
    if (out->f == Q_ENQ)
        out->a = fl_history_code(p->h, fl_prep_value(op));
    else
        out->a = op->type == FL_OP_OK ? fl_history_code(p->h, &op->comp) : FL_CODE_UNKNOWN;
    return 0;
}

static int init(const struct fl_model_cfg *cfg, int64_t *s)
{
    return 0;
}

static uint32_t max_words(uint32_t n, const struct fl_mop *op)
{
    return n + 1;
}

static int step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out)
{
    if (op->f == Q_ENQ) {
        memcpy(out, s, (size_t)n * sizeof *s);
        out[n] = op->a;
        return n + 1;
    }
    if (n == 0) {
        if (op->a != FL_CODE_NIL && op->a != FL_CODE_UNKNOWN)
            return -1;
        return 0;
    }
    if (op->a != FL_CODE_UNKNOWN && op->a != s[0])
        return -1;
    memcpy(out, s + 1, (size_t)(n - 1) * sizeof *s);
    return n - 1;
}

static void describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    fputs("queue [", out);
    fl_check_print_codes(h, s, n, out);
    fputs("] (head first)", out);
}

const struct fl_model_ops fl_model_queue = {
    .name = "queue",
    .summary = "a FIFO queue: enqueue v, dequeue -> v or nil when empty",
    .fast = fl_queue_fast_check,
    .prepare = prepare,
    .init = init,
    .max_words = max_words,
    .step = step,
    .describe_state = describe,
};
