/* Inside the agent daemon: its state, shared by agentd.c (HTTP glue, lease
 * reaper, start and stop) and agentd_api.c (the handlers).
 *
 * Locking. Requests are served concurrently, each connection on its own
 * thread, and the reaper runs on the main thread. d->lock guards d->held and
 * d->pending. By default a route's handler runs with d->lock held, so it may
 * use both freely (and so a handler that is slow blocks every other one).
 * A route flagged FL_AGENTD_ROUTE_OWN_LOCK runs without it and takes it
 * only around its own uses of d->held and d->pending: fault apply and
 * commit, whose driver work (plan, prepare's fsync, inject) may take seconds,
 * and revert (DELETE, recover; the reaper does the same), whose driver
 * revert may too (a worker that takes its time to stop): none of them may
 * hold up renewals, health or list. A renewal (also OWN_LOCK) picks its
 * session's faults under d->lock, rewrites their records without it (each
 * under its record lock, below), and updates the entries still in d->held
 * under it again: an entry a revert took out meanwhile is not put back.
 * A revert (fl_agentd_revert) takes the fault out of d->held and d->pending
 * under d->lock, reverts it without d->lock, and puts the entry back under
 * it only if the revert failed (DELETE, recover). A renewal meanwhile no
 * longer sees the fault, so it neither renews nor resurrects it; a second
 * revert of it finds no entry and waits in the journal (below), then finds
 * no record: the driver reverts a fault once.
 * The journal has two locks. The journal lock (fl_journal_lock: flock
 * across processes, j.threads across threads) serialises overlap checks,
 * new records and reverts (a revert holds it across the driver's revert:
 * the overlap bookkeeping of compose.h must not see a fault half reverted);
 * fl_fault_prepare/commit take it themselves. A record lock
 * (fl_journal_record_lock, per fault id) excludes the writers of one record:
 * a revert holds it throughout, a renewal (fl_fault_renew) and a commit's
 * update take only it, so a slow revert of one fault never delays the
 * renewal of another. Order: d->lock, then a record lock, then the journal
 * lock, never the other way round, so a thread that holds a journal lock
 * never waits for d->lock. A fault being injected (taken out of d->pending,
 * not yet in d->held's final state) may be reverted meanwhile by a DELETE, a
 * recover or the reaper: the revert goes by the journal record, and
 * fl_fault_commit then finds the record gone (or the d->held entry gone)
 * and undoes what inject added since, or replies 409. */
#ifndef FL_REMOTE_AGENTD_INT_H
#define FL_REMOTE_AGENTD_INT_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>

#include "agent/journal.h"
#include "faults/fault.h"
#include "remote/agentd.h"
#include "remote/jobs.h"
#include "server/auth.h"

#define FL_AGENTD_MAX_BODY (256 << 10)

/* A fault prepared (journaled, guarded) and not yet injected: its commit
 * comes in a second request (docs/agent.md, "Starting on several hosts"). */
struct fl_agentd_pending {
    struct fl_fault f;
    json_t *rec;
    struct fl_agentd_pending *next;
};

struct fl_agentd {
    pthread_mutex_t lock; /* d->held, d->pending: see "Locking" above */
    struct fl_journal j;
    struct fl_auth *auth; /* NULL: no tokens (loopback only), every client is operator */
    json_t *held;         /* fault id -> {session, lease_ms, lease_until, end_at, who} */
    struct fl_agentd_pending *pending;
    struct fl_jobs *jobs; /* remote/jobs.h: its own lock */
    char name[256];
    int64_t started_ms;
    int port;
};

/* Route flags (the last column of agentd_api.c's route table). */
#define FL_AGENTD_ROUTE_LOCKED 0u   /* the handler runs under d->lock */
#define FL_AGENTD_ROUTE_OWN_LOCK 1u /* the handler takes d->lock itself */

struct fl_agentd_req {
    const char *method, *path, *who;
    const char *query; /* after the '?' of the URL, or NULL */
    enum fl_role role;
    json_t *body;
    char arg[64];
};

struct fl_agentd_resp {
    int status;
    json_t *json;
    /* is_raw: the reply is raw (malloc'd, may be NULL when raw_len is 0)
     * application/octet-stream, with headers {name: value} (may be NULL) */
    bool is_raw;
    char *raw;
    size_t raw_len;
    json_t *headers;
};

/* agentd_api.c */
/* Set d up over state_dir (created if needed), tokens (NULL: none) and name
 * (NULL: the hostname); fl_agentd_fini releases it. Serves nothing. */
int fl_agentd_init(struct fl_agentd *d, const char *state_dir, const char *tokens, const char *name,
                   struct fl_err *e);
void fl_agentd_fini(struct fl_agentd *d);
/* One request: parse the body (len (size_t)-1: too large), authenticate,
 * route and run it (under d->lock unless the route has
 * FL_AGENTD_ROUTE_OWN_LOCK); rs gets the status and JSON reply. Called
 * from any thread, without d->lock. */
void fl_agentd_handle(struct fl_agentd *d, const char *method, const char *path, const char *body,
                      size_t len, const char *auth_header, struct fl_agentd_resp *rs);
void fl_agentd_dispatch(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs,
                        const char *auth_header);
/* Reply status with {"error": {status, code, message, exit}}. */
void fl_agentd_fail(struct fl_agentd_resp *rs, int status, int exit_code, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Reply status with body (taken). */
void fl_agentd_ok(struct fl_agentd_resp *rs, int status, json_t *body);
/* Free what a reply holds (json, raw, headers). */
void fl_agentd_resp_fini(struct fl_agentd_resp *rs);
/* Revert fault id (held by this agent) saying why: drops it from d->held
 * and d->pending under d->lock, then reverts it without d->lock. On failure
 * the record stays, and with keep_on_failure so does its entry in d->held.
 * Called without d->lock, from any thread. */
int fl_agentd_revert(struct fl_agentd *d, const char *id, const char *why, bool keep_on_failure,
                     bool *found, struct fl_err *e);
/* Revert every fault of the journal (without d->lock); returns
 * {"reverted": [...], "failed": [...]}. */
json_t *fl_agentd_revert_all(struct fl_agentd *d, const char *why);
/* Revert faults whose lease or duration ended; returns ms until the next
 * deadline. Called without d->lock (it takes it to find them). */
int64_t fl_agentd_reap(struct fl_agentd *d);

#endif
