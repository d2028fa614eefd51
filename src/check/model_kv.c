/* kv: independent cas-registers, one per key. The key comes from the
 * operation's "key" field, or else the value is a [key value] tuple (Jepsen's
 * independent histories: [:write [k v]], [:cas [k [old new]]]). Keys are
 * checked separately, which keeps the search small (P-compositionality). */
#include "check/models.h"

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    const struct fl_val *v = fl_prep_value(op);

    if (op->key.kind != FL_V_NIL) {
        out->key = fl_history_code(p->h, &op->key);
    } else {
        if ((v->kind != FL_V_VEC && v->kind != FL_V_LIST) || v->n != 2) {
            /* an unknown read may carry only [k nil] or nothing at all */
            if (op->type != FL_OP_OK && fl_history_fis(p->h, op, "read"))
                return FL_PREP_SKIP;
            return fl_prep_fail(p, op, "kv operations need a \"key\" field or a [key value] value");
        }
        out->key = fl_history_code(p->h, fl_history_child(p->h, v, 0));
        v = fl_history_child(p->h, v, 1);
    }
    return fl_model_register_prep_value(p, op, v, true, out);
}

const struct fl_model_ops fl_model_kv = {
    .name = "kv",
    .summary = "independent cas-registers per key (\"key\" field or [k v] values)",
    .per_key = true,
    .prepare = prepare,
    .init = fl_model_register_init,
    .max_words = fl_model_register_max_words,
    .step = fl_model_register_step,
    .readonly = fl_model_register_readonly,
    .describe_state = fl_model_register_describe,
};
