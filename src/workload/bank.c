/* bank: transfers between --accounts accounts, each in one transaction, and
 * reads of every balance at once. Money is never created or destroyed, so
 * every read must add up to --total (`--model bank`). A transfer that would
 * overdraw its source account fails. */
#include "workload/workload.h"

static void gen(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op)
{
    if (op->f != FL_WL_TRANSFER)
        return;
    op->a = (int64_t)fl_wl_rng_below(rng, (uint64_t)c->accounts);
    op->b = (int64_t)fl_wl_rng_below(rng, (uint64_t)c->accounts - 1);
    if (op->b >= op->a)
        op->b++;
    op->c = 1 + (int64_t)fl_wl_rng_below(rng, (uint64_t)c->max_transfer);
}

const struct fl_wl_ops fl_wl_bank = {
    .name = "bank",
    .summary = "transfers between --accounts accounts + reads of all balances (checked as bank)",
    .model = "bank",
    .allowed = (1u << FL_WL_READ) | (1u << FL_WL_TRANSFER),
    .mix = {[FL_WL_READ] = 1, [FL_WL_TRANSFER] = 4},
    .final_read = true,
    .gen = gen,
};
