/* Target logs: the log sources an experiment names (`logs:`: a file, a
 * journald unit, a command's output, a container's log) followed from the
 * run's start (a little before the first fault: preflight comes first) to
 * the end of recovery, each line with its time from the run's start,
 * bounded per source, then stored with the run (docs/experiments.md,
 * "Target logs"). Capture runs in a thread of its own and never fails the
 * run: a source that cannot be read is stored with the reason. */
#ifndef FL_ENGINE_LOGS_H
#define FL_ENGINE_LOGS_H

#include <stddef.h>
#include <stdint.h>

struct fl_spec;
struct fl_store;
struct fl_logcap;

/* Start following the spec's sources (NULL when it names none). t0_ns is
 * the run's start on CLOCK_MONOTONIC. */
struct fl_logcap *fl_logcap_start(const struct fl_spec *spec, int64_t t0_ns);
/* Stop following, read what is left and store it under run_id; a one-line
 * summary per source in summary (for the run's events). */
int fl_logcap_finish(struct fl_logcap *cap, struct fl_store *st, int64_t run_id, char *summary,
                     size_t len);
void fl_logcap_free(struct fl_logcap *cap);

#endif
