/* Sparing the live faults of other state directories during a sweep
 * (util/sweep.h). */
#include "util/sweep.h"

#include <string.h>

#include "util/log.h"

bool fl_sweep_spared(struct fl_sweep_report *r, const char *id, const char *what)
{
    const json_t *rec = id && r->spare ? json_object_get(r->spare, id) : NULL;

    if (!rec)
        return false;
    fl_info("keeping %s: fault %s is journaled in state directory %s", what, id,
            json_string_value(json_object_get(rec, "state_dir")));
    r->spared++;
    return true;
}

bool fl_sweep_spared_kind(struct fl_sweep_report *r, const char *kind, const char *what)
{
    const char *id;
    json_t *rec;

    json_object_foreach ((json_t *)r->spare, id, rec) {
        const char *k = json_string_value(json_object_get(rec, "kind"));
        if (k && !strcmp(k, kind))
            return fl_sweep_spared(r, id, what);
    }
    return false;
}
