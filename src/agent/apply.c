/* fl_fault_apply: every fault's journal -> guardian -> inject sequence, and
 * what happens when inject fails or the guardian reverts under our feet. */
#include "agent/apply.h"

#include <stdlib.h>

#include "agent/compose.h"
#include "agent/guardian.h"
#include "util/log.h"
#include "util/time.h"

/* inject failed: undo whatever prefix of it happened, and leave no record.
 * The record was written before inject so that a crash during inject is
 * recovered; once this process knows inject failed, keeping the record would
 * only make the guardian retry a revert of something that mostly never
 * existed (a read-only mount refuses even to unlink a file that is not
 * there), forever. So revert is tried a few times (a transient EBUSY), and
 * the record goes either way; if the revert failed, the error says what may
 * remain and how to remove it by hand. */
static void undo_failed_inject(struct fl_journal *j, struct fl_fault *f, json_t *rec)
{
    struct fl_err e2 = {0};
    bool found = false;
    int r = -1, rl;

    if (fl_journal_put(j, rec, &e2) == 0) {
        for (int i = 0; i < 3 && r; i++) {
            if (i)
                fl_sleep_ms(100 << i);
            r = fl_journal_revert(j, f->id, &found, &e2);
        }
    } else if (!f->ops->revert || (r = f->ops->revert(f, &e2)) == 0) {
        r = 0;
    }
    rl = fl_journal_record_lock(j, f->id); /* not while a renewal rewrites it */
    fl_journal_remove(j, f->id);
    fl_journal_record_unlock(rl);
    if (r) {
        char *undo = json_dumps(f->undo, JSON_COMPACT | JSON_SORT_KEYS);
        fl_error("undoing what %s may have applied also failed: %s; its journal record was "
                 "removed (a fault that failed to apply leaves none): check by hand that "
                 "nothing of it remains (%s)",
                 f->id, e2.msg, undo ? undo : "{}");
        free(undo);
    }
}

int fl_fault_prepare(struct fl_journal *j, struct fl_fault *f, pid_t owner, int64_t lease_ms,
                     int64_t end_at, json_t **record, struct fl_err *e)
{
    json_t *rec = fl_journal_record(f, owner, lease_ms, end_at);
    int r;

    *record = NULL;
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
    *record = rec;
    return 0;
}

int fl_fault_commit_record(struct fl_journal *j, struct fl_fault *f, json_t *rec, json_t **applied,
                           struct fl_err *e)
{
    char desc[512];
    bool present;
    int r, rl;

    if (applied)
        *applied = NULL;
    r = f->ops->inject(f, e);

    /* inject may have learned more undo details (pids it spawned, ...). */
    json_object_set(rec, "undo", f->undo);
    if (r) {
        undo_failed_inject(j, f, rec);
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
     * and the guardian reverts it again (revert is idempotent). The record
     * lock (not the journal lock) keeps a renewal from writing it meanwhile
     * and a revert of it from starting or ending meanwhile: it is held only
     * for this read and write. */
    rl = fl_journal_record_lock(j, f->id);
    rec = fl_journal_get(j, f->id, &(struct fl_err){0});
    present = rec != NULL;
    if (rec) {
        struct fl_err e2 = {0};
        /* Off the disk's path unless inject learned more undo details: the
         * record prepare made durable then reverts all of the fault, and
         * this update only says it is applied. A crash of this process
         * leaves the old or the new record, either reverts it all; a crash
         * of the machine may lose the update (the record then says
         * "pending", which reverts the same way), and it also ends every
         * fault held in the kernel or in processes (disk.fill's files, which
         * outlive it, are also in disk.fill's own registry). */
        bool learned = !json_equal(json_object_get(rec, "undo"), f->undo);
        json_object_set(rec, "undo", f->undo);
        json_object_set_new(rec, "state", json_string("applied"));
        json_object_set_new(rec, "description", json_string(desc));
        if (learned ? fl_journal_put(j, rec, &e2) : fl_journal_put_nosync(j, rec, &e2))
            fl_warn("cannot update the journal record of %s: %s", f->id, e2.msg);
        if (applied)
            *applied = json_incref(rec);
        json_decref(rec);
    }
    fl_journal_record_unlock(rl);
    if (!present) {
        struct fl_err e2 = {0};
        char by[256];

        fl_journal_reverted_by(j, f->id, by, sizeof by);
        fl_warn("fault %s was reverted while it was being applied, by %s; undoing what was "
                "applied since",
                f->id, by);
        fl_journal_lock(j);
        fl_compose_check(j, f, false, &e2);
        if (f->ops->revert && f->ops->revert(f, &e2))
            fl_error("undoing %s failed: %s", f->id, e2.msg);
        fl_journal_unlock(j);
    }
    return 0;
}

int fl_fault_commit(struct fl_journal *j, struct fl_fault *f, json_t *rec, struct fl_err *e)
{
    return fl_fault_commit_record(j, f, rec, NULL, e);
}

int fl_fault_apply(struct fl_journal *j, struct fl_fault *f, pid_t owner, int64_t lease_ms,
                   int64_t end_at, struct fl_err *e)
{
    json_t *rec;
    int r = fl_fault_prepare(j, f, owner, lease_ms, end_at, &rec, e);

    return r ? r : fl_fault_commit(j, f, rec, e);
}

bool fl_fault_renew(struct fl_journal *j, const char *id, int64_t lease_ms)
{
    struct fl_err e = {0};
    json_t *rec;
    bool alive = false;
    /* Only this record's lock: a slow revert of another fault (which holds
     * the journal lock through its driver's revert) does not delay it. */
    int rl = fl_journal_record_lock(j, id);

    rec = fl_journal_get(j, id, &e);
    if (rec) {
        json_object_set_new(rec, "lease_until", json_integer(fl_now_ms() + lease_ms));
        /* Not fsynced: a lease is CLOCK_BOOTTIME, meaningless after the
         * machine restarts, and a crash of this process leaves the old or
         * the new record (the old one only ends the lease sooner). Renewals
         * come every third of a lease, from every controller; an fsync each
         * (milliseconds on disk) held up the agent's other requests. */
        if (fl_journal_put_nosync(j, rec, &e))
            fl_warn("cannot renew the lease of %s: %s", id, e.msg);
        alive = true;
        json_decref(rec);
    }
    fl_journal_record_unlock(rl);
    return alive;
}
