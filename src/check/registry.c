/* The checker registry: every `faultline check --model NAME` is one line in
 * the table below. A linearizable model is one file in models/ (declared in
 * models/models.h) plus an FL_CHECKER_LINEAR line; any other checker is a run
 * function plus a line with its name and summary. --help, validation and the
 * "unknown model" message all read this table. */
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "check/models/models.h"

static const struct fl_checker checkers[] = {
    {.name = "bank",
     .summary = "money conserved across transfers (see --accounts, --total)",
     .one_object = true,
     .run = fl_check_bank},
    FL_CHECKER_LINEAR(fl_model_register),
    FL_CHECKER_LINEAR(fl_model_cas_register),
    FL_CHECKER_LINEAR(fl_model_multi_register),
    FL_CHECKER_LINEAR(fl_model_kv),
    {.model = &fl_model_set, .one_object = true, .run = fl_check_set},
    FL_CHECKER_LINEAR(fl_model_counter),
    FL_CHECKER_LINEAR(fl_model_queue),
    {.name = "total-queue",
     .summary = "every acknowledged enqueue comes out once, in any order",
     .one_object = true,
     .run = fl_check_total_queue},
    FL_CHECKER_LINEAR(fl_model_mutex),
    {.name = "list-append",
     .summary = "transactions of appends and list reads: isolation anomalies, Elle-style "
                "(see --consistency-models)",
     .run = fl_check_txn},
    {.name = "rw-register",
     .summary = "transactions of register reads and writes: isolation anomalies, Elle-style",
     .run = fl_check_txn},
};

#define NCHECKERS (sizeof checkers / sizeof checkers[0])

const char *fl_checker_name(const struct fl_checker *c)
{
    return c->name ? c->name : c->model->name;
}

const char *fl_checker_summary(const struct fl_checker *c)
{
    return c->summary ? c->summary : c->model->summary;
}

const struct fl_checker *fl_check_checker_find(const char *name)
{
    for (size_t i = 0; i < NCHECKERS; i++)
        if (!strcmp(fl_checker_name(&checkers[i]), name))
            return &checkers[i];
    return NULL;
}

const struct fl_checker *fl_check_checkers(size_t *n)
{
    *n = NCHECKERS;
    return checkers;
}

char *fl_check_checker_names(char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < NCHECKERS && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
                                fl_checker_name(&checkers[i]));
    return buf;
}

bool fl_check_model_known(const char *name)
{
    return fl_check_checker_find(name) != NULL;
}

const struct fl_model_ops *fl_check_model_find(const char *name)
{
    const struct fl_checker *c = fl_check_checker_find(name);
    return c ? c->model : NULL;
}
