/* register: a single value with read and write. Also the shared step of the
 * register family (cas-register, kv). A read of an unknown value (an info
 * read) constrains nothing and is dropped before the search. */
#include "check/models/models.h"

static const char *const reg_fs[] = {"read", "write", "cas", NULL};

int fl_model_register_prep_value(struct fl_prep *p, const struct fl_hop *op, const struct fl_val *v,
                                 bool allow_cas, struct fl_mop *out)
{
    int f = fl_check_f_index(p->h, op, reg_fs);

    if (f < 0 || (f == FL_REG_CAS && !allow_cas))
        return fl_prep_fail(p, op, "unknown function for this model; expected %s",
                            allow_cas ? "read, write or cas"
                                      : "read or write (use --model "
                                        "cas-register for cas)");
    out->f = (uint32_t)f;
    if (f == FL_REG_READ) {
        if (op->type != FL_OP_OK)
            return FL_PREP_SKIP;
        out->a = fl_history_code(p->h, v);
    } else if (f == FL_REG_WRITE) {
        out->a = fl_history_code(p->h, v);
    } else {
        if ((v->kind != FL_V_VEC && v->kind != FL_V_LIST) || v->n != 2)
            return fl_prep_fail(p, op, "cas value must be a pair [old new]");
        out->a = fl_history_code(p->h, fl_history_child(p->h, v, 0));
        out->b = fl_history_code(p->h, fl_history_child(p->h, v, 1));
    }
    return 0;
}

int fl_model_register_init(const struct fl_model_cfg *cfg, int64_t *s)
{
    s[0] = cfg->initial;
    return 1;
}

uint32_t fl_model_register_max_words(uint32_t n, const struct fl_mop *op)
{
    return 1;
}

int fl_model_register_step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux,
                           int64_t *out)
{
    switch (op->f) {
    case FL_REG_READ:
        if (op->a != FL_CODE_UNKNOWN && op->a != s[0])
            return -1;
        out[0] = s[0];
        return 1;
    case FL_REG_WRITE:
        out[0] = op->a;
        return 1;
    default:
        if (s[0] != op->a)
            return -1;
        out[0] = op->b;
        return 1;
    }
}

bool fl_model_register_readonly(const struct fl_mop *op, const int64_t *aux)
{
    return op->f == FL_REG_READ;
}

void fl_model_register_describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    fputs("value = ", out);
    fl_history_print_code(h, s[0], out);
}

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    return fl_model_register_prep_value(p, op, fl_prep_value(op), false, out);
}

const struct fl_model_ops fl_model_register = {
    .name = "register",
    .summary = "one register: read, write",
    .prepare = prepare,
    .init = fl_model_register_init,
    .max_words = fl_model_register_max_words,
    .step = fl_model_register_step,
    .readonly = fl_model_register_readonly,
    .describe_state = fl_model_register_describe,
    .anomaly = fl_model_register_anomaly,
};
