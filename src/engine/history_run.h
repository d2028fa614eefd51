/* The consistency side of a run: the `workload:` clients run as a child
 * `faultline workload` process for the whole injection and recovery, writing
 * a history file; afterwards each `checks:` entry runs `faultline check` on
 * it. Separate processes keep a crashing or hung client away from the
 * engine, which must always revert its faults. */
#ifndef FL_ENGINE_HISTORY_RUN_H
#define FL_ENGINE_HISTORY_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "remote/client.h"
#include "spec/spec.h"
#include "util/err.h"

struct fl_workload_child {
    pid_t pid;
    char dir[PATH_MAX];     /* private temporary directory */
    char history[PATH_MAX]; /* dir/history.jsonl */
    char log[PATH_MAX];     /* dir/workload.log: its stdout and stderr */
    /* On an agent host: a job of kind workload writing the history to its
     * stdout, copied into `history` as it grows; its stderr tail goes to
     * `log` when it ends. */
    struct fl_agent_client *agent;
    char job[FL_AGENT_JOB_ID_LEN];
    uint64_t fetched; /* bytes of the history copied so far */
    bool ended;       /* the job ended and its whole output was copied */
    int status;       /* its exit status once ended */
    char lost[300];   /* why the history is not complete, or "" */
    int64_t next_fetch_ms;
};

/* How long the clients run: the injection phase, the recovery window, and a
 * second of margin for starting before the first fault. */
int64_t fl_workload_duration_ms(const struct fl_spec *s);

/* Start the clients for duration_ms (inside w->netns if set; as a job of
 * `agent`, w->host's agent, when not NULL). */
int fl_workload_child_start(const struct fl_spec_workload *w, struct fl_agent_client *agent,
                            uint64_t seed, int64_t duration_ms, struct fl_workload_child *c,
                            struct fl_err *e);

/* On an agent host: copy what the history grew by (at most once a second;
 * called from the run's loop, so most of it is here if the agent dies). */
void fl_workload_child_fetch(struct fl_workload_child *c);

/* Is the history file complete? False (why in c->lost) when an agent
 * host's history could not be fetched to its end (the agent is gone, its
 * output cap truncated it): its checks must not call it valid. */
bool fl_workload_child_complete(const struct fl_workload_child *c);

/* Has it exited already? Returns its exit status, or -1 while it runs. */
int fl_workload_child_poll(struct fl_workload_child *c);

/* Wait up to timeout_ms for it to finish, then SIGTERM (and SIGKILL 5 s
 * later). Returns its exit status, 128+signal when a signal ended it. */
int fl_workload_child_wait(struct fl_workload_child *c, int64_t timeout_ms);

/* The last lines of its output, for messages. */
void fl_workload_child_tail(const struct fl_workload_child *c, char *buf, size_t len);

/* Remove the temporary directory (after the history has been stored). */
void fl_workload_child_cleanup(struct fl_workload_child *c);
/* Stop the clients but keep the directory (the history could not be
 * stored: the file is where the user finds it). */
void fl_workload_child_keep(struct fl_workload_child *c);

/* Run one check of `history`; its output goes to out (the head, truncated). Returns
 * the exit status of `faultline check` (0 valid, 1 invalid, 2 unknown,
 * others: it could not check), 128+signal if it had to be killed. */
int fl_check_child_run(const struct fl_spec_check *ck, const char *history, char *out, size_t len);

#endif
