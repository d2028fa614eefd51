/* The model registry: adding a model is one file and one line here. */
#include <string.h>

#include "check/models.h"

static const struct fl_model_ops *const models[] = {
    &fl_model_register, &fl_model_cas_register, &fl_model_multi_register,
    &fl_model_kv,       &fl_model_set,          &fl_model_counter,
    &fl_model_queue,    &fl_model_mutex,        NULL,
};

const struct fl_model_ops *fl_check_model_find(const char *name)
{
    for (size_t i = 0; models[i]; i++)
        if (!strcmp(models[i]->name, name))
            return models[i];
    return NULL;
}

const struct fl_model_ops *const *fl_check_models(void)
{
    return models;
}
