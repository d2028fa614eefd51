/* Applying a planned fault under the recovery guarantee. Used by
 * `faultline inject` and by the experiment engine alike, so every fault in
 * faultline goes through the same journal -> guardian -> inject sequence. */
#ifndef FL_AGENT_APPLY_H
#define FL_AGENT_APPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent/journal.h"
#include "faults/fault.h"

/* Journal `f` (already planned), make sure a guardian watches it, inject it.
 * owner: the pid whose death reverts the fault (0 = detached). lease_ms: the
 * lease length; end_at: CLOCK_BOOTTIME deadline of the duration or 0. On
 * failure nothing stays applied: a partial inject is reverted at once. */
int fl_fault_apply(struct fl_journal *j, struct fl_fault *f, pid_t owner, int64_t lease_ms,
                   int64_t end_at, struct fl_err *e);
/* The two halves of fl_fault_apply, for a controller that readies a fault
 * on several hosts before starting it on all of them at once: prepare
 * checks overlaps, journals `f` and makes sure a guardian watches it (the
 * fault's lease runs from here; if commit never comes, the lease's end
 * reverts a fault that was never injected, which is a no-op); *record is
 * then owned by the caller until commit, which injects and takes it. */
int fl_fault_prepare(struct fl_journal *j, struct fl_fault *f, pid_t owner, int64_t lease_ms,
                     int64_t end_at, json_t **record, struct fl_err *e);
int fl_fault_commit(struct fl_journal *j, struct fl_fault *f, json_t *record, struct fl_err *e);
/* fl_fault_commit that also hands back the record as it updated it in
 * *applied (the caller's reference), or NULL there when the fault was
 * reverted by someone else while inject ran (and its inject undone). */
int fl_fault_commit_record(struct fl_journal *j, struct fl_fault *f, json_t *record,
                           json_t **applied, struct fl_err *e);
/* Extend the lease of fault `id` by lease_ms from now (the record is
 * rewritten without fsync). Returns false when the record is gone (reverted
 * by `faultline recover` or the guardian). */
bool fl_fault_renew(struct fl_journal *j, const char *id, int64_t lease_ms);

#endif
