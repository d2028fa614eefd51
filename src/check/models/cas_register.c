/* cas-register: read, write, and compare-and-set with value [old new]
 * (Knossos' cas-register). A failed cas did not happen and is dropped. */
#include "check/models/models.h"

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    return fl_model_register_prep_value(p, op, fl_prep_value(op), true, out);
}

const struct fl_model_ops fl_model_cas_register = {
    .name = "cas-register",
    .summary = "one register: read, write, cas [old new]",
    .prepare = prepare,
    .init = fl_model_register_init,
    .max_words = fl_model_register_max_words,
    .step = fl_model_register_step,
    .readonly = fl_model_register_readonly,
    .describe_state = fl_model_register_describe,
    .anomaly = fl_model_register_anomaly,
};
