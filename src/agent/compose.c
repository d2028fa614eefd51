/* Overlapping faults on one target: the journal is the one list of faults
 * in force, so what a new fault overlaps, and what a reverting fault must
 * leave in place for another, is read from it under the journal lock. */
#include "agent/compose.h"

#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"

static json_t *claims_of(const struct fl_fault *f)
{
    json_t *c = json_object();

    if (f->ops->claims)
        f->ops->claims(f, c);
    return c;
}

/* Compare the claims `mine` of `f` with one other record's. */
static int compare(struct fl_fault *f, json_t *mine, const json_t *rec, bool refuse,
                   struct fl_err *e)
{
    struct fl_fault other;
    struct fl_err ignore = {0};
    const char *key, *desc = json_string_value(json_object_get(rec, "description"));
    json_t *mode, *theirs;
    int r = 0;

    if (fl_journal_to_fault(rec, &other, &ignore))
        return 0; /* an unreadable record claims nothing we can compare */
    theirs = claims_of(&other);
    json_object_foreach (mine, key, mode) {
        json_t *tm = json_object_get(theirs, key);
        if (!tm)
            continue;
        if (json_integer_value(mode) == FL_CLAIM_SHARED &&
            json_integer_value(tm) == FL_CLAIM_SHARED) {
            json_object_set_new(f->held, key, json_string(other.id));
            continue;
        }
        if (!refuse)
            continue;
        r = fl_err_set(e, FL_EREFUSED,
                       "%s cannot overlap fault %s (%s) on %s: only one fault at a time may "
                       "act on it; wait until %s ends, revert it first (faultline recover %s), "
                       "or choose another target (see \"Overlapping faults\" in docs/faults-*.md)",
                       f->ops->kind, other.id, desc ? desc : other.ops->kind, key, other.id,
                       other.id);
        break;
    }
    json_decref(theirs);
    fl_fault_fini(&other);
    return r;
}

int fl_compose_check(struct fl_journal *j, struct fl_fault *f, bool refuse, struct fl_err *e)
{
    _cleanup_json_ json_t *mine = claims_of(f);
    _cleanup_json_ json_t *all = NULL;
    json_t *rec;
    size_t i;
    int r = 0;

    json_decref(f->held);
    f->held = NULL;
    if (json_object_size(mine) == 0)
        return 0;
    f->held = json_object();
    all = fl_journal_list(j);
    json_array_foreach (all, i, rec) {
        if (!strcmp(json_string_value(json_object_get(rec, "id")) ?: "", f->id))
            continue;
        if ((r = compare(f, mine, rec, refuse, e)))
            break;
    }
    return r;
}
