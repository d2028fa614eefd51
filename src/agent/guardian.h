/* The guardian: a small daemon that outlives every faultline invocation and
 * reverts each journaled fault when its owner dies (SIGKILL included), its
 * lease expires, or (detached faults) its duration ends. One guardian runs
 * per state directory, holding <state>/guardian.lock; it exits by itself
 * once the journal has stayed empty for a moment, so it never lingers. */
#ifndef FL_AGENT_GUARDIAN_H
#define FL_AGENT_GUARDIAN_H

#include <jansson.h>

#include "agent/journal.h"
#include "util/err.h"

/* Make sure a guardian watches this journal, starting one if none does.
 * Call it after the journal record is written and before injecting: the
 * guardian's exit protocol guarantees it then sees the record. */
int fl_guardian_ensure(struct fl_journal *j, struct fl_err *e);
/* True if a guardian holds the lock for this state directory. */
bool fl_guardian_running(struct fl_journal *j);
/* The state directories running guardians watch (absolute paths, from
 * /proc/PID/cmdline; relative ones resolved against /proc/PID/cwd), so a
 * host-wide sweep can tell another directory's live faults from leftovers. */
json_t *fl_guardian_state_dirs(void);
/* The daemon's body; returns an exit code. Does not detach itself. */
int fl_guardian_run(const char *state_dir, int poll_ms, int idle_exit_ms);

#endif
