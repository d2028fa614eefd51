/* mutex: acquire and release of one lock (Knossos' mutex). A failed acquire
 * or release did not happen. */
#include "check/models/models.h"

static const char *const fs[] = {"acquire", "release", NULL};

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    int f = fl_check_f_index(p->h, op, fs);
    if (f < 0)
        return fl_prep_fail(p, op, "mutex operations are acquire or release");
    out->f = (uint32_t)f;
    return 0;
}

static int init(const struct fl_model_cfg *cfg, int64_t *s)
{
    s[0] = 0;
    return 1;
}

static uint32_t max_words(uint32_t n, const struct fl_mop *op)
{
    return 1;
}

static int step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out)
{
    if (s[0] == (op->f == 0))
        return -1; /* acquire while held, release while free */
    out[0] = op->f == 0;
    return 1;
}

static void describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    fputs(s[0] ? "lock held" : "lock free", out);
}

const struct fl_model_ops fl_model_mutex = {
    .name = "mutex",
    .summary = "one lock: acquire, release",
    .prepare = prepare,
    .init = init,
    .max_words = max_words,
    .step = step,
    .describe_state = describe,
};
