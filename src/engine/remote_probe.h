/* A probe of an experiment that runs on an agent host: the agent runs
 * `faultline probe` as a job (kind probe) and the engine reads the job's
 * sample lines back, offset by offset, mapping the job's clock onto the
 * run's timeline. Samples that cannot be fetched while the agent is out of
 * reach stay in the job's output and are fetched when it answers again;
 * nothing here invents a sample. */
#ifndef FL_ENGINE_REMOTE_PROBE_H
#define FL_ENGINE_REMOTE_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"
#include "remote/client.h"
#include "spec/spec.h"
#include "util/err.h"

struct fl_remote_probe;

/* Can host's agent run probe sp? A command probe needs an agent started
 * with --allow-commands (its health says "commands": true); FL_EPERM
 * naming the probe, the host and the fix otherwise. */
int fl_remote_probe_check(struct fl_agent_client *c, const struct fl_spec_probe *sp,
                          struct fl_err *e);

/* Start sp as a job of c's agent. t0_ns is the run's start (monotonic):
 * the job's start is placed on the run's timeline at the middle of the
 * request's round trip. */
int fl_remote_probe_start(struct fl_agent_client *c, const struct fl_spec_probe *sp, int64_t t0_ns,
                          struct fl_remote_probe **out, struct fl_err *e);

/* The agent's job id ("j" + 16 hex), and when the job started (ms of the run). */
const char *fl_remote_probe_job(const struct fl_remote_probe *rp);
int64_t fl_remote_probe_started_ms(const struct fl_remote_probe *rp);
/* The client it was started with. */
struct fl_agent_client *fl_remote_probe_client(const struct fl_remote_probe *rp);

/* Fetch at most max bytes (0: as much as one request brings) of what the
 * job printed since the last fetch: *lines (malloc'd, *n of them, the
 * caller frees) with t_ms on the run's timeline; a line cut by max waits for
 * the next fetch. A line that is not a sample is skipped and counted (*bad
 * may be NULL). *eof: the job has ended and everything it printed has been
 * read. FL_EFAIL when the agent cannot be reached (nothing is lost: the
 * next fetch picks up here). */
int fl_remote_probe_fetch(struct fl_remote_probe *rp, size_t max, struct fl_probe_line **lines,
                          size_t *n, size_t *bad, bool *eof, struct fl_err *e);

/* Delete the job (killing it if it runs); *final (may be NULL) is its last
 * status ({"state", "exit", "stderr_tail", ...}). */
int fl_remote_probe_delete(struct fl_remote_probe *rp, json_t **final, struct fl_err *e);

/* Free rp (NULL is a no-op); it does not delete the job. */
void fl_remote_probe_free(struct fl_remote_probe *rp);

#endif
