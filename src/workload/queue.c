/* queue: workers enqueue unique integers (worker + concurrency * n) and
 * dequeue; after the run one final drain empties the queue. The
 * total-queue checker then lists acknowledged enqueues that never came out
 * (lost), values that came out but were never enqueued (unexpected) or came
 * out twice (duplicated), and unknown-outcome enqueues that came out
 * (recovered). Order is not checked: many queues do not promise it under
 * concurrency. */
#include "workload/workload.h"

static void gen(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op)
{
    if (op->f == FL_WL_ENQUEUE)
        op->a = (int64_t)worker + (int64_t)c->concurrency * (int64_t)seq;
}

const struct fl_wl_ops fl_wl_queue = {
    .name = "queue",
    .summary = "unique enqueues and dequeues, then a final drain (checked as total-queue)",
    .model = "total-queue",
    .allowed = (1u << FL_WL_ENQUEUE) | (1u << FL_WL_DEQUEUE) | (1u << FL_WL_DRAIN),
    .mix = {[FL_WL_ENQUEUE] = 1, [FL_WL_DEQUEUE] = 1},
    .final_read = true,
    .final_f = FL_WL_DRAIN,
    .gen = gen,
};
