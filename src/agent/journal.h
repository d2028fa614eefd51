/* The fault journal: one durable JSON record per applied fault under
 * <state>/faults/<id>.json, written before the fault touches the world and
 * removed only after it has been reverted. It is what lets the guardian, a
 * later `faultline recover`, or another host tool undo a fault whose owner
 * died. Record fields are documented in docs/recovery.md. */
#ifndef FL_AGENT_JOURNAL_H
#define FL_AGENT_JOURNAL_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "faults/fault.h"
#include "util/err.h"

#define FL_STATE_DIR_DEFAULT "/run/faultline"

struct fl_journal {
    char root[PATH_MAX - 64]; /* the state directory */
    char faults[PATH_MAX];    /* root/faults */
    int lock_fd;              /* root/journal.lock, for fl_journal_lock; -1 if none */
    bool exists;              /* root/faults exists (false: an empty journal) */
    /* The threads of this process: flock() does not exclude them (they
     * share lock_fd), so fl_journal_lock takes this mutex first. */
    pthread_mutex_t threads;
};

/* Create the state directory if needed and open it. */
int fl_journal_open(struct fl_journal *j, const char *state_dir, struct fl_err *e);
/* Open the state directory for commands that only read it or act on what
 * is already journaled (status, recover): creates nothing. A missing
 * directory is an empty journal (j->exists false), not an error. */
int fl_journal_open_existing(struct fl_journal *j, const char *state_dir, struct fl_err *e);
void fl_journal_close(struct fl_journal *j);

/* Serialise reverts and record removal across processes (flock) and across
 * the threads of this process (j->threads). Not recursive. */
void fl_journal_lock(struct fl_journal *j);
void fl_journal_unlock(struct fl_journal *j);
/* Only the threads of this process: for a read-modify-write of a record
 * that must not block another process (fl_fault_commit's update). */
void fl_journal_lock_threads(struct fl_journal *j);
void fl_journal_unlock_threads(struct fl_journal *j);
/* One record's lock, across processes and threads (an OFD lock on a byte of
 * root/journal.lock picked by the id's hash; two ids may share a byte, which
 * only makes one wait for the other). It excludes the writers of one record:
 * a revert holds it from reading the record to removing it (driver revert
 * included), so a second revert of that fault waits and then finds no
 * record; a renewal or a commit's update holds it for its read and write,
 * so it never writes back a record a revert removed. Order: a record lock
 * before the journal lock, never the other way round; a renewal takes only
 * this one, so a slow revert of another fault does not hold it up. Returns
 * the lock's fd for fl_journal_record_unlock, or -1 when the journal cannot
 * be written (a reader; nothing to exclude). */
int fl_journal_record_lock(struct fl_journal *j, const char *id);
void fl_journal_record_unlock(int fd);

/* A new record for `f`. owner 0 = detached (no owner). lease_ms is the lease
 * length; end_at is the CLOCK_BOOTTIME ms deadline of the fault's duration
 * (0 = none). */
json_t *fl_journal_record(const struct fl_fault *f, pid_t owner, int64_t lease_ms, int64_t end_at);
int fl_journal_put(struct fl_journal *j, json_t *record, struct fl_err *e);
/* fl_journal_put without waiting for the disk (fl_json_write_atomic_nosync):
 * only for an update whose loss in a machine crash reverts nothing less. */
int fl_journal_put_nosync(struct fl_journal *j, json_t *record, struct fl_err *e);
/* The record for id, or NULL (e->code FL_ENOTARGET when absent). */
json_t *fl_journal_get(struct fl_journal *j, const char *id, struct fl_err *e);
/* All sound records, oldest first: the ones faultline can revert. */
json_t *fl_journal_list(struct fl_journal *j);
/* Every other *.json file of the journal: unreadable or truncated, unknown
 * kind, an id that is not a fault id or differs from the file name, missing
 * fields. Each entry: {"id": file name without .json, "file", "problem",
 * "kind", "description", "params", "undo"} (the last four null when the
 * file cannot be read). Nothing can revert these; `status` shows them. */
json_t *fl_journal_list_damaged(struct fl_journal *j);
/* Both lists in one pass over the directory (either array may be NULL):
 * sound records appended to `good`, oldest first; the rest to `damaged`. */
void fl_journal_scan(struct fl_journal *j, json_t *good, json_t *damaged);
/* Remove the record file <name>.json, sound or not, without reverting
 * anything: for a record the user has checked by hand (recover --forget).
 * *was_sound tells whether faultline could have reverted it. FL_ENOTARGET
 * when there is no such record. */
int fl_journal_forget(struct fl_journal *j, const char *name, bool *was_sound, struct fl_err *e);
int fl_journal_count(struct fl_journal *j);
void fl_journal_remove(struct fl_journal *j, const char *id);

/* Rebuild the fault a record describes (for revert). */
int fl_journal_to_fault(const json_t *record, struct fl_fault *f, struct fl_err *e);

/* Revert the fault `id` from its journal record and remove the record, under
 * its record lock and the journal lock. A fault with no record is already reverted: returns 0 and
 * sets *found = false. On failure the record stays, with "last_error" set. */
int fl_journal_revert(struct fl_journal *j, const char *id, bool *found, struct fl_err *e);

/* The same, saying who reverts it and why ("the guardian: lease expired
 * ..."): for an owned record, the text is left in <faults>/<id>.reverted
 * for the owner, which finds its record gone. */
int fl_journal_revert_by(struct fl_journal *j, const char *id, const char *by, bool *found,
                         struct fl_err *e);
/* For an owner whose record disappeared: who reverted it (and the note is
 * removed), or a sentence saying nobody left a note. */
void fl_journal_reverted_by(struct fl_journal *j, const char *id, char *buf, size_t len);
/* Remove notes no owner collected within max_age_s (the owner died too). */
void fl_journal_prune_notes(struct fl_journal *j, int64_t max_age_s);

/* Why a record must be reverted now, or FL_LEASE_KEEP. Pure, for testing. */
enum fl_lease_verdict {
    FL_LEASE_KEEP,
    FL_LEASE_OWNER_GONE,
    FL_LEASE_EXPIRED,
    FL_LEASE_DURATION_END,
};
enum fl_lease_verdict fl_lease_check(const json_t *record, int64_t now_ms, bool owner_alive);
const char *fl_lease_verdict_str(enum fl_lease_verdict v);
/* True if the record's owner process still lives (false for detached). */
bool fl_journal_owner_alive(const json_t *record);

#endif
