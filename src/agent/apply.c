#include "agent/apply.h"

#include "agent/compose.h"
#include "agent/guardian.h"
#include "util/log.h"
#include "util/time.h"

int fl_fault_apply(struct fl_journal *j, struct fl_fault *f, pid_t owner, int64_t lease_ms,
                   int64_t end_at, struct fl_err *e)
{
    json_t *rec = fl_journal_record(f, owner, lease_ms, end_at);
    char desc[512];
    bool found;
    int r;

    if (!rec)
        return fl_err_set(e, FL_EFAIL, "cannot build the journal record for %s", f->id);
    /* Overlap check and record under one lock: two faults journaled at once
     * still see each other. A refused fault leaves no record. */
    fl_journal_lock(j);
    r = fl_compose_check(j, f, true, e);
    if (r == 0 && f->ops->overlap) {
        f->ops->overlap(f);
        json_object_set(rec, "undo", f->undo);
    }
    if (r == 0)
        r = fl_journal_put(j, rec, e);
    fl_journal_unlock(j);
    if (r == 0)
        r = fl_guardian_ensure(j, e);
    if (r) {
        fl_journal_remove(j, f->id);
        json_decref(rec);
        return r;
    }
    r = f->ops->inject(f, e);
    /* inject may have learned more undo details (pids it spawned, ...). */
    json_object_set(rec, "undo", f->undo);
    if (r) {
        struct fl_err e2 = {0};
        fl_journal_put(j, rec, &e2);
        if (fl_journal_revert(j, f->id, &found, &e2))
            fl_error("undoing the partly applied fault %s failed: %s (the guardian keeps "
                     "retrying; see `faultline status`)",
                     f->id, e2.msg);
        json_decref(rec);
        return r;
    }
    fl_fault_describe(f, desc, sizeof desc);
    json_decref(rec);
    /* Update the record only if it is still there: when this process was
     * stopped past its lease while injecting, the guardian has reverted the
     * fault from the record as it stood, so undo what inject added since
     * (spawned pids, ...) here and let the owner find its fault gone. No lock
     * is taken, so a stopped owner never blocks the guardian; a record put
     * back in the instant the guardian removes it carries the expired lease,
     * and the guardian reverts it again (revert is idempotent). */
    rec = fl_journal_get(j, f->id, &(struct fl_err){0});
    if (rec) {
        struct fl_err e2 = {0};
        json_object_set(rec, "undo", f->undo);
        json_object_set_new(rec, "state", json_string("applied"));
        json_object_set_new(rec, "description", json_string(desc));
        if (fl_journal_put(j, rec, &e2))
            fl_warn("cannot update the journal record of %s: %s", f->id, e2.msg);
        json_decref(rec);
    } else {
        struct fl_err e2 = {0};
        fl_warn("fault %s was reverted by the guardian while it was being applied (lease "
                "expired); undoing what was applied since",
                f->id);
        fl_journal_lock(j);
        fl_compose_check(j, f, false, &e2);
        if (f->ops->revert && f->ops->revert(f, &e2))
            fl_error("undoing %s failed: %s", f->id, e2.msg);
        fl_journal_unlock(j);
    }
    return 0;
}

bool fl_fault_renew(struct fl_journal *j, const char *id, int64_t lease_ms)
{
    struct fl_err e = {0};
    json_t *rec;
    bool alive = false;

    fl_journal_lock(j);
    rec = fl_journal_get(j, id, &e);
    if (rec) {
        json_object_set_new(rec, "lease_until", json_integer(fl_now_ms() + lease_ms));
        if (fl_journal_put(j, rec, &e))
            fl_warn("cannot renew the lease of %s: %s", id, e.msg);
        alive = true;
        json_decref(rec);
    }
    fl_journal_unlock(j);
    return alive;
}
