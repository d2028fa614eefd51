/* Sparing the live faults of other state directories during a sweep
 * (util/sweep.h). */
#include "util/sweep.h"

#include <string.h>

#include "util/log.h"

/* Read the other state directories' records again (after a miss). */
static void reload(struct fl_sweep_report *r)
{
    json_t *fresh = r->reload ? r->reload(r->reload_arg) : NULL;

    if (fresh) {
        json_decref(r->spare);
        r->spare = fresh;
    }
}

bool fl_sweep_spared(struct fl_sweep_report *r, const char *id, const char *what)
{
    const json_t *rec = id && r->spare ? json_object_get(r->spare, id) : NULL;

    if (!rec && id && r->reload) {
        reload(r);
        rec = r->spare ? json_object_get(r->spare, id) : NULL;
    }
    if (!rec)
        return false;
    fl_info("keeping %s: fault %s is journaled in state directory %s", what, id,
            json_string_value(json_object_get(rec, "state_dir")));
    r->spared++;
    return true;
}

static const char *spared_id_of_kind(const struct fl_sweep_report *r, const char *kind)
{
    const char *id;
    json_t *rec;

    json_object_foreach (r->spare, id, rec) {
        const char *k = json_string_value(json_object_get(rec, "kind"));
        if (k && !strcmp(k, kind))
            return id;
    }
    return NULL;
}

bool fl_sweep_spared_kind(struct fl_sweep_report *r, const char *kind, const char *what)
{
    const char *id = spared_id_of_kind(r, kind);

    if (!id && r->reload) {
        reload(r);
        id = spared_id_of_kind(r, kind);
    }
    return id && fl_sweep_spared(r, id, what);
}
