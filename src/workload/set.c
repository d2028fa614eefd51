/* set: every worker adds unique integers (worker + concurrency * n); after
 * the run one final read returns the whole set, and the set checker lists
 * acknowledged adds that are missing (lost), elements never added
 * (unexpected), and unknown-outcome adds that did happen (recovered). */
#include "workload/workload.h"

static void gen(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op)
{
    if (op->f == FL_WL_ADD)
        op->a = (int64_t)worker + (int64_t)c->concurrency * (int64_t)seq;
}

const struct fl_wl_ops fl_wl_set = {
    .name = "set",
    .summary = "unique adds, then a final read of the whole set (checked as set)",
    .model = "set",
    .allowed = (1u << FL_WL_READ) | (1u << FL_WL_ADD),
    .mix = {[FL_WL_ADD] = 1, [FL_WL_READ] = 0},
    .final_read = true,
    .gen = gen,
};
