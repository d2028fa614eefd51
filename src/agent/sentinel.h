/* The guardian's sentinel: a second small process that exists so that
 * killing the guardian (SIGKILL, the OOM killer) does not leave journaled
 * faults unwatched until some later faultline command runs.
 *
 * The guardian starts one sentinel (`faultline __sentinel`, its own
 * session) and watches it through a pidfd, starting another if it dies.
 * The sentinel watches the guardian through a pidfd; when the guardian
 * is gone while sound records remain and no other guardian holds the
 * lock, the sentinel becomes the new guardian (exec), which starts a new
 * sentinel. Killing one of the two is repaired within a poll interval;
 * only killing both at once leaves the faults to the next faultline
 * command (docs/recovery.md). A guardian that stops on SIGTERM stops its
 * sentinel too. */
#ifndef FL_AGENT_SENTINEL_H
#define FL_AGENT_SENTINEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct fl_sentinel {
    pid_t pid;
    int pidfd; /* -1: none running */
    int64_t started_ms;
};

/* From the guardian: start a sentinel for state_dir (logged on failure). */
void fl_sentinel_start(struct fl_sentinel *s, const char *state_dir);
/* From the guardian, every pass: reap a dead sentinel and start another
 * (at most one a second, so a broken binary cannot fork-storm). */
void fl_sentinel_check(struct fl_sentinel *s, const char *state_dir);
/* From the guardian when it stops for good (SIGTERM): stop the sentinel. */
void fl_sentinel_stop(struct fl_sentinel *s);
/* The sentinel's body: wait for `guardian` to exit, then take over if
 * faults are still journaled. Returns an exit code (or does not return). */
int fl_sentinel_run(const char *state_dir, pid_t guardian);

#endif
