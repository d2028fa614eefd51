/* Jobs of `faultline agent` (docs/agent.md, "Jobs"): child processes the
 * agent runs on its host for a controller — a shell command (`/bin/sh -c`,
 * only with --allow-commands), `faultline probe ...` or `faultline workload
 * ...` (the agent's own binary, /proc/self/exe) — each in its own process
 * group, stdin /dev/null, stdout to a capped file STATE_DIR/jobs/ID.out,
 * stderr to a bounded tail, and tied to a controller session's lease like the
 * agent's faults: when the lease ends, an on_lease_end "kill" job is killed
 * (or dropped while pending), a pending "run" one starts at once.
 *
 * Every running job (and every pending "run" one) is recorded under
 * STATE_DIR/jobs/ID.json with its pid, start time and process group, so the
 * next agent kills what a crashed one left running (fl_jobs_sweep).
 *
 * Locking: struct fl_jobs has its own mutex, taken by every function here,
 * so the HTTP handlers (with or without the agent's d->lock: they need only
 * this one), the reaper on the agent's main thread (fl_jobs_tick) and the
 * thread that reads the jobs' pipes may call in at once; the order is
 * d->lock, then this one. Nothing here waits for a running child, except
 * fl_jobs_free. */
#ifndef FL_REMOTE_JOBS_H
#define FL_REMOTE_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

#define FL_JOBS_MAX 256                         /* jobs held at once (429 beyond) */
#define FL_JOB_OUTPUT_MAX_DEFAULT (64ULL << 20) /* --job-output-max */
#define FL_JOB_OUTPUT_MAX_LIMIT (1ULL << 40)    /* the largest --job-output-max */
#define FL_JOB_OUTPUT_CHUNK (1 << 20)           /* bytes per output request, at most */
#define FL_JOB_STDERR_TAIL 4096
#define FL_JOB_COMMAND_MAX 16384
#define FL_JOB_ARGS_MAX 256
#define FL_JOB_ARG_MAX 4096
#define FL_JOB_ENV_MAX 64
#define FL_JOB_NAME_MAX 128
#define FL_JOB_TIMEOUT_MAX_MS (24LL * 3600 * 1000)
#define FL_JOB_DELAY_MAX_MS (3600LL * 1000)
#define FL_JOB_KILL_GRACE_MS 2000 /* SIGTERM, then SIGKILL this much later */
/* a job's process ended: what leaves its group (setsid) within this lives */
#define FL_JOB_DETACH_GRACE_MS 1000
#define FL_JOB_KEEP_MS (10LL * 60 * 1000) /* an ended job is forgotten this long after */

struct fl_jobs;
struct fl_agentd;
struct fl_agentd_req;
struct fl_agentd_resp;

/* The jobs of an agent whose state directory is state_dir (jobs go in
 * state_dir/jobs, created if needed) and whose name is host. Commands are
 * refused and the output cap is the default until fl_jobs_configure. Starts
 * nothing. */
int fl_jobs_new(const char *state_dir, const char *host, struct fl_jobs **out, struct fl_err *e);
void fl_jobs_configure(struct fl_jobs *j, bool allow_commands, uint64_t output_max);
/* Kill every job (SIGTERM, SIGKILL after the grace), wait for them, remove
 * their files (a pending on_lease_end "run" job's record stays for the next
 * agent) and free j. NULL is a no-op. Blocks up to the grace. */
void fl_jobs_free(struct fl_jobs *j);

bool fl_jobs_commands_allowed(struct fl_jobs *j);
size_t fl_jobs_count(struct fl_jobs *j);
/* At start-up: kill (by pid and start time) the jobs a previous agent left
 * running, drop its pending "kill" jobs and start its pending "run" ones. */
void fl_jobs_sweep(struct fl_jobs *j);
/* Extend the lease of session's pending and running jobs; returns their ids. */
json_t *fl_jobs_renew(struct fl_jobs *j, const char *session, int64_t lease_ms);
/* recover --all: end every job's lease now, as its end would (a "kill" job
 * is killed, or dropped while pending; a pending "run" job starts now; a
 * running "run" job is left to finish). Returns {"jobs_killed": [ids],
 * "jobs_started": [ids]}; the kills end in the reaper's turns (SIGKILL
 * after FL_JOB_KILL_GRACE_MS). */
json_t *fl_jobs_end_leases(struct fl_jobs *j, const char *why);
/* The reaper's turn: reap ended children, start due jobs, enforce timeouts
 * and leases, forget old ones. Returns ms until it wants to run again. */
int64_t fl_jobs_tick(struct fl_jobs *j);

/* Check a POST /api/v1/jobs body; 0, or an FL_E* code with *status (the
 * HTTP status) and a message (what, where, how to fix) in e. */
int fl_jobs_check_request(const json_t *body, bool allow_commands, int *status, struct fl_err *e);

/* The route handlers (agentd_api.c's table), called under the agent's lock. */
void fl_jobs_api_start(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
void fl_jobs_api_list(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
void fl_jobs_api_get(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
void fl_jobs_api_output(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
void fl_jobs_api_delete(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);

#endif
