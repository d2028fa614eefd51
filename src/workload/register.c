/* register: reads, writes and compare-and-set on many independent keys,
 * judged as linearizable registers per key (`--model kv`). Values are small
 * (0..values-1, like Jepsen's) so compare-and-set succeeds often enough to
 * matter. */
#include "workload/workload.h"

static void gen(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op)
{
    op->key = (int)fl_wl_rng_below(rng, (uint64_t)c->keys);
    if (op->f == FL_WL_WRITE)
        op->a = (int64_t)fl_wl_rng_below(rng, (uint64_t)c->values);
    else if (op->f == FL_WL_CAS) {
        op->a = (int64_t)fl_wl_rng_below(rng, (uint64_t)c->values);
        op->b = (int64_t)fl_wl_rng_below(rng, (uint64_t)c->values);
    }
}

const struct fl_wl_ops fl_wl_register = {
    .name = "register",
    .summary = "read/write/cas on --keys independent registers (checked as kv)",
    .model = "kv",
    .allowed = (1u << FL_WL_READ) | (1u << FL_WL_WRITE) | (1u << FL_WL_CAS),
    .mix = {[FL_WL_READ] = 1, [FL_WL_WRITE] = 1, [FL_WL_CAS] = 1},
    .gen = gen,
};
