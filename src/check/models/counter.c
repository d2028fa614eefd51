/* counter: add n (or incr, meaning add 1) and read. Starts at --initial or 0. */
#include "check/models/models.h"

enum { C_ADD, C_INCR, C_READ };
static const char *const fs[] = {"add", "incr", "read", NULL};

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    int f = fl_check_f_index(p->h, op, fs);
    const struct fl_val *v = fl_prep_value(op);

    if (f < 0)
        return fl_prep_fail(p, op, "counter operations are add, incr or read");
    if (f == C_READ) {
        if (op->type != FL_OP_OK)
            return FL_PREP_SKIP;
        out->f = C_READ;
        out->a = fl_history_code(p->h, v);
        return 0;
    }
    out->f = C_ADD;
    if (v->kind == FL_V_NIL && f == C_INCR)
        out->a = 1;
    else if (v->kind == FL_V_INT)
        out->a = v->x;
    else
        return fl_prep_fail(p, op, "value must be an integer amount");
    return 0;
}

static int init(const struct fl_model_cfg *cfg, int64_t *s)
{
    s[0] = fl_code_is_int(cfg->initial) ? cfg->initial : 0;
    return 1;
}

static uint32_t max_words(uint32_t n, const struct fl_mop *op)
{
    return 1;
}

static int step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out)
{
    if (op->f == C_READ) {
        if (op->a != s[0])
            return -1;
        out[0] = s[0];
    } else {
        out[0] = (int64_t)((uint64_t)s[0] + (uint64_t)op->a);
    }
    return 1;
}

static bool readonly(const struct fl_mop *op, const int64_t *aux)
{
    return op->f == C_READ;
}

static void describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    fputs("count = ", out);
    fl_history_print_code(h, s[0], out);
}

const struct fl_model_ops fl_model_counter = {
    .name = "counter",
    .summary = "a counter: add n / incr, read",
    .prepare = prepare,
    .init = init,
    .max_words = max_words,
    .step = step,
    .readonly = readonly,
    .describe_state = describe,
};
