/* Helper processes a fault runs while it holds (a DNS responder, ...).
 *
 * A worker is this binary again, started from /proc/self/exe as
 *   faultline SUBCOMMAND [FLAG] CONFIG --ready-fd 3
 * where CONFIG is a JSON object with at least {"id": FAULT_ID}. It runs in a
 * session of its own (Ctrl-C goes to `inject`, not to it), with stdin/stdout
 * on /dev/null and stderr on /dev/null or the file named by the spec's log
 * environment variable, and reports on fd 3 either "ok PORT\n" or
 * "error CODE MESSAGE\n" once it is ready. A worker finds its end by itself
 * too (a deadline in its config), so it never outlives its fault by much even
 * if nothing stops it.
 *
 * Its pid and start time are put into the fault's undo object ("worker") the
 * moment it exists, so revert knows whom to stop whatever happens next;
 * workers the record does not name are found by their command line. */
#ifndef FL_FAULTS_WORKER_H
#define FL_FAULTS_WORKER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct fl_fault_worker_spec {
    const char *subcommand; /* "__dns-worker" */
    const char *flag;       /* NULL, or an argument before CONFIG ("--fault-worker") */
    const char *what;       /* "DNS responder", for messages */
    const char *log_env;    /* "FAULTLINE_DNS_WORKER_LOG" */
};

/* Start a worker with cfg and wait (up to 10 s) for its ready line. Sets
 * undo.worker = {pid, start} and *port. On failure the worker may still be
 * running: the caller's revert stops it. */
int fl_fault_worker_spawn(const struct fl_fault_worker_spec *s, const json_t *cfg, json_t *undo,
                          int *port, struct fl_err *e);

/* Stop one worker: SIGTERM (it cleans up and exits), SIGKILL after 5 s.
 * A worker that is gone already (or a recycled pid) is success. */
int fl_fault_worker_stop(pid_t pid, uint64_t start, const char *what, const char *id,
                         struct fl_err *e);

/* Stop the worker undo.worker names and any other worker serving fault id. */
int fl_fault_worker_stop_all(const struct fl_fault_worker_spec *s, const json_t *undo,
                             const char *id, struct fl_err *e);

/* Live workers of this kind: those of fault `id`, or all when id is NULL.
 * Returns how many pids were stored (at most cap). */
size_t fl_fault_worker_find(const struct fl_fault_worker_spec *s, const char *id, pid_t *out,
                            size_t cap);

/* recover --all: stop every live worker of this kind (their faults were
 * reverted first, so any still running is a leftover). */
struct fl_sweep_report;
int fl_fault_worker_sweep(const struct fl_fault_worker_spec *s, struct fl_sweep_report *rep);

/* The worker side: read "--ready-fd N" after the config and report on it. */
int fl_fault_worker_ready_fd(int argc, char **argv, struct fl_err *e);
void fl_fault_worker_report(int fd, int code, const char *msg, int port);

#endif
