/* The controller's side of `faultline agent` (src/remote/agentd.c): a JSON
 * client over libcurl that applies, lists, reverts and renews faults on one
 * remote host, and a background renewer that keeps the leases of every host
 * a controller talks to alive. `faultline inject --host`, `status --hosts`,
 * `recover --all --hosts` and experiments' `hosts:` section use it.
 *
 * Sessions and leases: each client has a session id (random, 16 hex digits)
 * that tags every fault it applies; one renew call per session extends the
 * lease of all of that session's faults on that host by lease_ms, measured
 * on the agent's monotonic clock. When renewals stop (this process died, the
 * network broke) the agent reverts the session's faults at lease end.
 *
 * Errors: an agent that cannot be reached fails with FL_EFAIL and a message
 * naming the host ("agent h2 (http://10.77.0.3:7421): connection refused");
 * a wrong token with FL_EPERM and the agent's message; the agent's own
 * refusals keep their code (400/422 -> FL_EUSAGE, 404 -> FL_ENOTARGET, 409 ->
 * FL_EREFUSED, 501 -> FL_EUNSUPPORTED).
 *
 * Thread safety: every call may be made from several threads at once on the
 * same client (the renewer's thread, probe threads reading job output, the
 * engine applying faults): each call takes an idle curl handle from the
 * client's small mutex-guarded pool, or makes one, and gives it back. Only
 * fl_agent_client_free must not race with any other call. */
#ifndef FL_REMOTE_CLIENT_H
#define FL_REMOTE_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faults/fault.h"
#include "util/err.h"

#define FL_AGENT_DEFAULT_PORT 7421
#define FL_AGENT_DEFAULT_LEASE_MS 10000

struct fl_agent_client;

struct fl_agent_client_opts {
    const char *url;    /* http(s)://HOST[:PORT] (a bare HOST[:PORT] means http://, port 7421) */
    const char *token;  /* bearer token, or NULL (an agent without tokens, loopback only) */
    const char *name;   /* the host's name in messages ("h2"); default: the URL's host */
    const char *cacert; /* CA file for an https agent with its own certificate, or NULL */
    int64_t lease_ms;   /* lease of every fault this client applies; 0: FL_AGENT_DEFAULT_LEASE_MS */
    int64_t timeout_ms; /* per request; 0: 5000 */
};

/* A client for one agent. Copies what it needs from o; touches no network. */
int fl_agent_client_new(const struct fl_agent_client_opts *o, struct fl_agent_client **out,
                        struct fl_err *e);
void fl_agent_client_free(struct fl_agent_client *c);
/* The host's name as given (or derived), and its URL. */
const char *fl_agent_client_name(const struct fl_agent_client *c);
const char *fl_agent_client_url(const struct fl_agent_client *c);
/* The session id this client tags its faults with. */
const char *fl_agent_client_session(const struct fl_agent_client *c);

/* GET /api/v1/health: {"ok", "version", "hostname", "pid", "uptime_ms",
 * "faults"}. Use it to check every host before injecting anything. */
int fl_agent_client_health(struct fl_agent_client *c, json_t **out, struct fl_err *e);

/* Apply fault `kind` with params (an object in the journaled form of the
 * kind's options — what fl_opts_set makes — or strings as on the command
 * line, e.g. {"peer": "10.77.0.4", "direction": "both"}) for duration_ms
 * (0: until reverted or the lease ends), seed for random picks (0: the
 * agent picks). On success *record is the agent's journal record (id,
 * kind, description, lease_until on the agent's clock, ...) and id holds
 * the fault id. Nothing is applied on failure. */
int fl_agent_client_apply(struct fl_agent_client *c, const char *kind, const json_t *params,
                          int64_t duration_ms, uint64_t seed, char id[FL_FAULT_ID_LEN],
                          json_t **record, struct fl_err *e);
/* The same in two steps, to start one fault on several hosts together:
 * prepare plans, journals and guards it on the agent (its lease runs from
 * here; nothing is injected yet) and fills id; commit injects it (*record
 * as for apply, may be NULL). A prepared fault that is never committed is
 * dropped at the lease's end or by fl_agent_client_revert. */
int fl_agent_client_prepare(struct fl_agent_client *c, const char *kind, const json_t *params,
                            int64_t duration_ms, uint64_t seed, char id[FL_FAULT_ID_LEN],
                            struct fl_err *e);
int fl_agent_client_commit(struct fl_agent_client *c, const char *id, json_t **record,
                           struct fl_err *e);
/* Every fault the agent holds (all sessions), as an array of records with
 * "host" (this client's name) added. */
int fl_agent_client_list(struct fl_agent_client *c, json_t **faults, struct fl_err *e);
/* Revert one fault; *found false if it was already gone (not an error). */
int fl_agent_client_revert(struct fl_agent_client *c, const char *id, bool *found,
                           struct fl_err *e);
/* Revert every fault the agent holds and end its jobs' leases (recover
 * --all --hosts); *report is {"reverted": [ids], "failed": [{id, error}],
 * "jobs_killed": [ids], "jobs_started": [ids]}. */
int fl_agent_client_recover_all(struct fl_agent_client *c, json_t **report, struct fl_err *e);
/* Renew this session's leases by the client's lease_ms; *live (may be
 * NULL) is the array of the session's fault ids the agent still holds, so a
 * caller sees faults the agent reverted (lease lost, duration ended). */
int fl_agent_client_renew(struct fl_agent_client *c, json_t **live, struct fl_err *e);

/* Jobs (docs/agent.md, "Jobs"): processes the agent runs on its host — a
 * shell command (the agent needs --allow-commands), `faultline probe ARGS`
 * or `faultline workload ARGS` — under this client's session and lease, so
 * the renewer keeps them alive along with the client's faults. */
#define FL_AGENT_JOB_ID_LEN 20            /* "j" + 16 hex + NUL, with room */
#define FL_AGENT_JOB_OUTPUT_MAX (1 << 20) /* bytes per output call, at most */
/* POST /api/v1/jobs: req is the body without "session" and "lease_ms" (the
 * client adds its own session and lease). id gets the job's id. */
int fl_agent_client_job_start(struct fl_agent_client *c, const json_t *req,
                              char id[FL_AGENT_JOB_ID_LEN], struct fl_err *e);
/* GET /api/v1/jobs/ID: {id, name, kind, session, state, pid, exit, signal,
 * started_ms, duration_ms, stdout_bytes, truncated, stderr_tail, ...}. */
int fl_agent_client_job_status(struct fl_agent_client *c, const char *id, json_t **out,
                               struct fl_err *e);
/* Appends up to max bytes (0 or above FL_AGENT_JOB_OUTPUT_MAX: that) of the
 * job's stdout from offset to *buf (malloc'd/realloc'd, NUL-terminated after
 * *len bytes, *len updated), sets *eof when the job has ended and nothing
 * lies beyond. */
int fl_agent_client_job_output(struct fl_agent_client *c, const char *id, uint64_t offset,
                               size_t max, char **buf, size_t *len, bool *eof, struct fl_err *e);
/* Kill if running, forget; *final (may be NULL) is the last status. */
int fl_agent_client_job_delete(struct fl_agent_client *c, const char *id, json_t **final,
                               struct fl_err *e);

/* A thread that renews the leases of every client in a set every
 * lease_ms / 3 (per client), logging a warning for a renewal that fails
 * and going on (the agent reverts when it has heard nothing for a lease). */
struct fl_agent_renewer;
/* The clients stay owned by the caller and must outlive the renewer. */
int fl_agent_renewer_start(struct fl_agent_client *const *clients, size_t n,
                           struct fl_agent_renewer **out, struct fl_err *e);
/* An agent that restarted while the renewer renewed its leases: a new
 * agent (another pid, or an uptime that went back) answered a renewal. The
 * new agent reverted every fault of its journal as it started, so this
 * session's faults there are gone unless the controller applies them again.
 * Times are fl_now_ms() of this process. */
struct fl_agent_restart {
    int old_pid, new_pid;
    int64_t last_ok_ms; /* the last renewal the old agent answered */
    int64_t started_ms; /* when the new agent started (its uptime, on our clock) */
    int64_t seen_ms;    /* the renewal that found the new agent */
    json_t *live;       /* the session's fault ids the new agent holds (owned by the taker) */
};
/* Take the restart of c's agent noticed since the last call (true), if any.
 * NULL r: false. */
bool fl_agent_renewer_restarted(struct fl_agent_renewer *r, const struct fl_agent_client *c,
                                struct fl_agent_restart *out);
/* Stop the thread (within one renewal's timeout) and free it; NULL is a no-op. */
void fl_agent_renewer_stop(struct fl_agent_renewer *r);

#endif
