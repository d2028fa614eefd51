/* Inside the agent daemon: its state, shared by agentd.c (HTTP glue, lease
 * reaper, start and stop) and agentd_api.c (the handlers). */
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
    pthread_mutex_t lock; /* the HTTP thread and the reaper */
    struct fl_journal j;
    struct fl_auth *auth; /* NULL: no tokens (loopback only), every client is operator */
    json_t *held;         /* fault id -> {session, lease_ms, lease_until, end_at, who} */
    struct fl_agentd_pending *pending;
    struct fl_jobs *jobs; /* remote/jobs.h: its own lock */
    char name[256];
    int64_t started_ms;
    int port;
};

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
 * route and run it under d->lock; rs gets the status and JSON reply. */
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
/* Revert fault id (held by this agent) saying why; drops it from d->held.
 * Called with d->lock held. */
int fl_agentd_revert(struct fl_agentd *d, const char *id, const char *why, bool *found,
                     struct fl_err *e);
/* Revert every fault of the journal; returns {"reverted": [...], "failed": [...]}. */
json_t *fl_agentd_revert_all(struct fl_agentd *d, const char *why);
/* Revert faults whose lease or duration ended; returns ms until the next deadline. */
int64_t fl_agentd_reap(struct fl_agentd *d);

#endif
