/* faultline server, the control plane: an HTTP API (libmicrohttpd + jansson)
 * over stored experiments, runs, schedules and webhooks, a scheduler, gates,
 * and /metrics. Each run is its own `faultline run` process, so the server
 * holds no fault itself (docs/server.md). One mutex (fl_server.lock) guards
 * the server's state and both database connections; the HTTP handlers, the
 * scheduler thread and the webhook thread take it. */
#ifndef FL_SERVER_SERVER_H
#define FL_SERVER_SERVER_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/auth.h"
#include "util/err.h"

#define FL_SERVER_DEFAULT_LISTEN "127.0.0.1:7420"
/* The largest request body the API reads (an experiment file is far smaller). */
#define FL_SERVER_MAX_BODY (1 << 20)
/* Connections served at once (each has a thread); more are refused. */
#define FL_SERVER_MAX_CONNECTIONS 256

struct fl_store;
struct fl_sstore;

struct fl_server_opts {
    const char *listen;    /* HOST:PORT, default FL_SERVER_DEFAULT_LISTEN */
    const char *db;        /* the store file */
    const char *tokens;    /* the tokens file, or NULL (loopback only) */
    const char *state_dir; /* passed to each run process (journal, guardian) */
    const char *work_dir;  /* run files and logs; default DB.server/ */
    const char *tls_cert;  /* PEM certificate (chain) and its key: serve HTTPS */
    const char *tls_key;
};

struct fl_server_metrics {
    uint64_t requests, gate_skips, webhook_failures, webhook_deliveries, runs_started;
    int64_t sched_lag_ms_sum, sched_fires, sched_lag_ms_max;
};

struct fl_server {
    pthread_mutex_t lock;
    struct fl_store *hist;
    struct fl_sstore *ss;
    struct fl_auth *auth; /* NULL: no tokens, everyone is admin (loopback only) */
    struct MHD_Daemon *mhd;
    char db[PATH_MAX], work_dir[PATH_MAX], state_dir[PATH_MAX], exe[PATH_MAX];
    char base_url[128];
    char *tls_cert, *tls_key; /* PEM text while the daemon runs */
    int port;
    int64_t started_ms;
    volatile sig_atomic_t stop;
    struct fl_server_metrics m;
};

/* One request as the handlers see it. */
struct fl_req {
    const char *method, *path;
    struct MHD_Connection *conn;
    json_t *body; /* parsed JSON body (an object), or NULL */
    const char *who;
    enum fl_role role;
    char arg[2][256]; /* the {} segments of the route, in order */
};

struct fl_resp {
    int status;
    json_t *json;      /* the body, or */
    char *text;        /* a text body (malloc'd) with */
    const char *ctype; /* its content type */
    /* or a stream: reader fills buf (as libmicrohttpd's content reader:
     * the number of bytes, or -1 at the end; it blocks rather than return 0),
     * called without s->lock */
    ssize_t (*reader)(void *ctx, uint64_t pos, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *reader_ctx;
};

typedef int (*fl_handler)(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);

/* server.c: serve until SIGINT/SIGTERM. fl_server_new opens the stores and
 * takes the store's server lock (its fd in *lock_fd) without serving, for
 * fl_server_run and for tests that call fl_http_handle directly. */
int fl_server_run(const struct fl_server_opts *o, struct fl_err *e);
struct fl_server *fl_server_new(const struct fl_server_opts *o, int *lock_fd, struct fl_err *e);
void fl_server_free(struct fl_server *s, int lock_fd);

/* http.c: fill rs with the JSON error body {"error": {status, code, message}};
 * returns 0 so handlers can `return fl_http_error(...)`. */
int fl_http_error(struct fl_resp *rs, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int fl_http_ok(struct fl_resp *rs, int status, json_t *body); /* steals body */
int fl_http_start(struct fl_server *s, const struct fl_server_opts *o, struct fl_err *e);
/* One request without a connection (tests, fuzzing): takes s->lock; *out is
 * the malloc'd response body, *status its HTTP status. No query string,
 * no Authorization header (the request acts as an unauthenticated client). */
void fl_http_handle(struct fl_server *s, const char *method, const char *path, const char *body,
                    size_t len, char **out, int *status);
const char *fl_http_query(struct fl_req *rq, const char *key);
/* Check that body has only the given fields (NULL-terminated); else a 400. */
int fl_http_fields(struct fl_resp *rs, json_t *body, const char *const *allowed);
/* Handlers */
int fl_api_experiments_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_experiments_put(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_experiments_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_experiments_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_experiments_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_runs_start(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_runs_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_runs_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_runs_abort(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_pause(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_resume(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_schedules_next(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_webhooks_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_webhooks_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_webhooks_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_webhooks_deliveries(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_audit_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_metrics(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_runs_stream(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_faults_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_faults_recover(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
/* api_faults.c: the runs' state directory (--state-dir, $FAULTLINE_STATE_DIR, default). */
const char *fl_server_state_dir(struct fl_server *s);
int fl_api_bulletins_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_bulletins_from_run(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_bulletins_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_bulletins_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_bulletins_update(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_bulletins_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);
int fl_api_bulletins_markdown(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);

/* runner.c: runs as `faultline run` processes. Called with s->lock held. */
/* Start a run of the stored experiment; *id receives the server run id.
 * Returns 0, or -FL_ENOTARGET (no such experiment) / another -FL_E* with e. */
int fl_runner_start(struct fl_server *s, const char *experiment, const char *schedule,
                    const char *trigger, const char *who, int64_t *id, struct fl_err *e);
/* Record a run that did not start (verdict skipped) with its reason. */
int fl_runner_skip(struct fl_server *s, const char *experiment, const char *schedule,
                   const char *reason, int64_t *id);
/* SIGTERM the run's process: it aborts and reverts. -FL_ENOTARGET if not running. */
int fl_runner_abort(struct fl_server *s, int64_t id, struct fl_err *e);
/* Reap ended runs (children or adopted processes) and settle their verdicts. */
void fl_runner_poll(struct fl_server *s);
/* At start: adopt runs whose process still lives; the others are interrupted. */
void fl_runner_recover(struct fl_server *s);
/* The server run as the API shows it (with the history store's record when
 * `detail`); NULL when there is no such run. */
json_t *fl_runner_get(struct fl_server *s, int64_t id, bool detail, bool samples);

/* scheduler.c (lock held): fire due schedules; at start, apply catch_up
 * skip to slots missed while down; plan a schedule's next slot from now. */
void fl_scheduler_tick(struct fl_server *s);
void fl_scheduler_recover(struct fl_server *s);
/* How long the main loop may sleep: until the next fire time, at most max_ms. */
int64_t fl_scheduler_wait_ms(struct fl_server *s, int64_t max_ms);
void fl_scheduler_resume(struct fl_server *s, const char *name, const char *spec,
                         int64_t jitter_ms);

/* api_experiments.c: 0 when name is a valid experiment/schedule name, else a 400 in rs. */
int fl_api_name_error(struct fl_resp *rs, const char *what, const char *name);

/* webhooks.c: queue a delivery of a run's event (run.start, run.end,
 * run.abort) to every webhook that asked for it. */
void fl_webhooks_event(struct fl_server *s, int64_t run_id, const char *event);
void fl_webhooks_run_ended(struct fl_server *s, int64_t run_id);
int fl_webhooks_start(struct fl_server *s, pthread_t *th);

/* gates.c: 0 = open; 1 = closed with reason filled; <0 a malformed gate. */
int fl_gates_check(struct fl_server *s, json_t *gates, const char *experiment, char *reason,
                   size_t len);
/* Validate a gates array from the API; 0 or -FL_EUSAGE with e. */
int fl_gates_validate(json_t *gates, struct fl_err *e);

/* blackout.c: validate a blackouts array; whether t_ms falls in one (1, reason filled). */
int fl_blackouts_validate(json_t *windows, struct fl_err *e);
int fl_blackouts_check(json_t *windows, int64_t t_ms, char *reason, size_t len);

#endif
