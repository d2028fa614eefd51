/* The life of a fault, common to every kind (fault.h): validate, plan,
 * journal, apply, describe, revert. */
#include "faults/fault.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/log.h"

int fl_fault_init(struct fl_fault *f, const struct fl_fault_ops *ops, json_t *params)
{
    memset(f, 0, sizeof *f);
    f->ops = ops;
    f->params = params ? params : json_object();
    f->undo = json_object();
    fl_fault_new_id(f->id);
    return 0;
}

void fl_fault_fini(struct fl_fault *f)
{
    if (!f)
        return;
    json_decref(f->params);
    json_decref(f->undo);
    json_decref(f->held);
    f->params = f->undo = f->held = NULL;
}

bool fl_fault_held(const struct fl_fault *f, const char *key)
{
    return f->held && json_object_get(f->held, key);
}

void fl_fault_new_id(char id[FL_FAULT_ID_LEN])
{
    uint32_t v = 0;

    if (getrandom(&v, sizeof v, 0) != sizeof v)
        v = (uint32_t)(uintptr_t)id ^ (uint32_t)getpid();
    snprintf(id, FL_FAULT_ID_LEN, "%08x", v);
}

void fl_fault_describe(const struct fl_fault *f, char *buf, size_t len)
{
    if (f->ops && f->ops->describe)
        f->ops->describe(f, buf, len);
    else
        snprintf(buf, len, "%s", f->ops ? f->ops->kind : "unknown fault");
}

int64_t fl_fault_self_stop_ms(const struct fl_fault *f, int64_t grace_ms, int64_t fallback_ms)
{
    int64_t hard = fl_param_int(f->params, "hard-stop", 0), end = f->duration_ms;

    if (hard)
        return hard;
    if (f->fixed_lease_ms && (!end || f->fixed_lease_ms < end))
        end = f->fixed_lease_ms;
    return end ? end + grace_ms : fallback_ms;
}
