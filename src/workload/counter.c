/* counter: increments by 1 and reads of one counter, checked as a
 * linearizable counter; a final read after the run shows the total. */
#include "workload/workload.h"

static void gen(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op)
{
    if (op->f == FL_WL_ADD)
        op->a = 1;
}

const struct fl_wl_ops fl_wl_counter = {
    .name = "counter",
    .summary = "increments and reads of one counter (checked as counter)",
    .model = "counter",
    .allowed = (1u << FL_WL_READ) | (1u << FL_WL_ADD),
    .mix = {[FL_WL_ADD] = 3, [FL_WL_READ] = 1},
    .final_read = true,
    .gen = gen,
};
