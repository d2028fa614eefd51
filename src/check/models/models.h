/* The built-in models (one file each) and helpers the register family
 * shares. Only registry.c and the model files include this. */
#ifndef FL_CHECK_MODELS_MODELS_H
#define FL_CHECK_MODELS_MODELS_H

#include "check/model.h"

extern const struct fl_model_ops fl_model_register;
extern const struct fl_model_ops fl_model_cas_register;
extern const struct fl_model_ops fl_model_multi_register;
extern const struct fl_model_ops fl_model_kv;
extern const struct fl_model_ops fl_model_set;
extern const struct fl_model_ops fl_model_counter;
extern const struct fl_model_ops fl_model_queue;
extern const struct fl_model_ops fl_model_mutex;

enum { FL_REG_READ, FL_REG_WRITE, FL_REG_CAS };

/* Register family: fill out from the op's function and value v (already
 * stripped of any key). allow_cas selects cas-register. */
int fl_model_register_prep_value(struct fl_prep *p, const struct fl_hop *op, const struct fl_val *v,
                                 bool allow_cas, struct fl_mop *out);
int fl_model_register_init(const struct fl_model_cfg *cfg, int64_t *s);
uint32_t fl_model_register_max_words(uint32_t n, const struct fl_mop *op);
int fl_model_register_step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux,
                           int64_t *out);
bool fl_model_register_readonly(const struct fl_mop *op, const int64_t *aux);
void fl_model_register_describe(const struct fl_history *h, const int64_t *s, int n, FILE *out);
/* The anomaly hook of the register family (register_anomaly.c). */
int fl_model_register_anomaly(const struct fl_anomaly_in *in, FILE *out, const char **kind);

#endif
