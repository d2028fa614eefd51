/* Workloads: concurrent clients that issue operations against a real system
 * and record every invocation and completion as a history (JSON Lines, see
 * docs/history-format.md) that `faultline check` can judge.
 *
 *   struct fl_wl_cfg c;  fl_wl_cfg_init(&c);
 *   c.client = fl_wl_client_find("redis");  c.workload = fl_wl_find("register");
 *   c.target = "127.0.0.1:6379";  c.out = "history.jsonl";  ...
 *   if (fl_wl_cfg_validate(&c, &e) < 0) ...;   // FL_EUSAGE with a message
 *   struct fl_wl_stats st;
 *   if (fl_wl_run(&c, &st, &e) < 0) ...;       // -FL_WL_EXIT_* codes, see below
 *
 * Two small ops tables keep the parts apart:
 *   - a workload (register.c, bank.c, set.c, counter.c, queue.c) says which functions
 *     it uses, their default mix, how to pick arguments, and which checker
 *     model judges it;
 *   - a client (clients/redis.c, clients/postgres.c, ...) connects, and has
 *     one row per workload it runs (struct fl_wl_client_impl): reset the
 *     state the workload owns, and execute one operation, answering ok, fail
 *     (certainly did not happen) or info (unknown: timeout, connection lost).
 * run.c owns the threads (one per worker, each with its own connection), the
 * rate limit and reconnection; recorder.c merges the workers' events into one
 * file in real-time order.
 */
#ifndef FL_WORKLOAD_WORKLOAD_H
#define FL_WORKLOAD_WORKLOAD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The functions operations can call. Names in histories: fl_wl_f_name(). */
enum fl_wl_f {
    FL_WL_READ,
    FL_WL_WRITE,
    FL_WL_CAS,
    FL_WL_TRANSFER,
    FL_WL_ADD,
    FL_WL_ENQUEUE,
    FL_WL_DEQUEUE,
    FL_WL_DRAIN,
    FL_WL_APPEND, /* a micro-op of list-append transactions */
    FL_WL_TXN,    /* a transaction of micro-ops (list-append, rw-register) */
    FL_WL_NF
};

/* One micro-op of a transaction (workload/txn.c): read, append or write. */
#define FL_WL_TXN_MAX 16
struct fl_wl_mop {
    int f; /* FL_WL_READ, FL_WL_APPEND, FL_WL_WRITE */
    int64_t key, v;
};

const char *fl_wl_f_name(int f);
int fl_wl_f_find(const char *name); /* -1 if unknown */

/* One operation's arguments. */
struct fl_wl_op {
    int f;      /* enum fl_wl_f */
    int key;    /* register: key index; -1 when the workload has no keys */
    int64_t a;  /* write/add/enqueue: the value; cas: old; transfer: from */
    int64_t b;  /* cas: new; transfer: to */
    int64_t c;  /* transfer: amount */
    bool final; /* the final read after the run (set, bank, counter) */
    int nmops;  /* txn: micro-ops in mops */
    struct fl_wl_mop mops[FL_WL_TXN_MAX];
};

enum fl_wl_type { FL_WL_OK, FL_WL_FAIL, FL_WL_INFO };

/* What a client answers for one operation. */
struct fl_wl_result {
    int type;      /* enum fl_wl_type */
    bool nil;      /* read of a register/counter, dequeue: no value (empty) */
    int64_t value; /* read of a register/counter, dequeue */
    int64_t *vals; /* bank/set reads, drain: balances by account / elements (malloc'd) */
    size_t nvals;
    bool is_list;    /* the read value is vals[] */
    bool broken;     /* the connection is unusable: close it and reconnect */
    char error[160]; /* why (fail/info), for the history's "error" field */
    char *txn;       /* txn, ok: the micro-ops with what the reads saw, as JSON (malloc'd) */
};

struct fl_wl_cfg;

/* A workload kind. */
struct fl_wl_ops {
    const char *name;
    const char *summary;
    const char *model;      /* the `faultline check --model` that judges it */
    unsigned allowed;       /* bit (1 << f) for each function it may use */
    unsigned mix[FL_WL_NF]; /* default weights */
    bool final_read;        /* read everything once after the run */
    int final_f;            /* that read's function: FL_WL_READ (0), or FL_WL_DRAIN */
    /* Fill op's arguments for function f (already picked from the mix). */
    void (*gen)(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                struct fl_wl_op *op);
};

/* What a client does for one workload: one row of the client's table.
 * Adding a workload to a client is one exec function and one row. */
struct fl_wl_client_impl {
    const char *workload; /* the fl_wl_ops name */
    /* Once before the run: create/reset what the workload owns (keys,
     * tables, initial balances). Rows may share one. */
    int (*setup)(void *conn, const struct fl_wl_cfg *c, struct fl_err *e);
    /* Execute op, finishing within c->timeout_ms; r arrives zeroed (type
     * FL_WL_OK). Never fails silently: timeouts and lost connections are
     * FL_WL_INFO with broken set. */
    void (*exec)(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                 struct fl_wl_result *r);
};

/* A client kind. Each worker owns one connection (void *). */
struct fl_wl_client_ops {
    const char *name;
    const char *summary;
    const char *target_help;
    /* One row per workload it runs, ended by an empty row ({0}). */
    const struct fl_wl_client_impl *impls;
    /* Optional: process-wide library setup (init true) and teardown, called
     * once around the run, before any thread starts. */
    void (*global)(bool init);
    /* Connect within c->timeout_ms; on failure fill e (what, where, how to fix). */
    int (*connect)(const struct fl_wl_cfg *c, void **conn, struct fl_err *e);
    void (*close)(void *conn);
};

enum fl_wl_isolation { FL_WL_SERIALIZABLE, FL_WL_REPEATABLE_READ, FL_WL_READ_COMMITTED };

struct fl_wl_cfg {
    const struct fl_wl_client_ops *client;
    const struct fl_wl_ops *workload;
    const char *target;
    const char *out; /* history file; "-" = stdout */
    int concurrency;
    double rate; /* ops per second over all workers; 0 = as fast as possible */
    int64_t duration_ms;
    int64_t timeout_ms; /* per operation and per connect */
    int keys;           /* register: number of keys */
    int values;         /* register: values written are 0..values-1 */
    int accounts;       /* bank */
    int64_t total;      /* bank: money spread over the accounts at setup */
    int64_t max_transfer;
    unsigned mix[FL_WL_NF];
    uint64_t seed;
    const char *ns;         /* namespace of keys/tables: "faultline" */
    int isolation;          /* postgres: enum fl_wl_isolation */
    bool non_transactional; /* postgres: broken read-modify-write mode, for tests */
    int txn_len;            /* list-append, rw-register: at most this many micro-ops */
    int max_writes_per_key; /* list-append, rw-register: then keys rotate */
    bool quiet;
    volatile sig_atomic_t *stop; /* set by a signal handler: stop early (may be NULL) */
};

struct fl_wl_stats {
    uint64_t n[FL_WL_NF][3]; /* per function: ok, fail, info */
    uint64_t events;
    uint64_t reconnects;
    double seconds;
};

/* Exit codes of `faultline workload` (documented in docs/workload.md). */
enum {
    FL_WL_EXIT_OK = 0,
    FL_WL_EXIT_INVALID = 1,
    FL_WL_EXIT_UNKNOWN = 2,
    FL_WL_EXIT_USAGE = 3,
    FL_WL_EXIT_CONNECT = 4, /* cannot connect or set up at start */
    FL_WL_EXIT_IO = 5,      /* cannot write the history */
};

void fl_wl_cfg_init(struct fl_wl_cfg *c);
/* Check the combination (client supports workload, mix names, ranges). */
int fl_wl_cfg_validate(const struct fl_wl_cfg *c, struct fl_err *e);
/* Parse "read=1,write=2,cas=1" into mix (names are function names); only
 * functions the workload allows. */
int fl_wl_parse_mix(const struct fl_wl_ops *w, const char *s, unsigned mix[FL_WL_NF],
                    struct fl_err *e);

/* Run the workload. Returns 0, or -FL_WL_EXIT_USAGE (a bad target, a client
 * that does not run the workload) / -FL_WL_EXIT_CONNECT / -FL_WL_EXIT_IO with
 * e filled. */
int fl_wl_run(const struct fl_wl_cfg *c, struct fl_wl_stats *st, struct fl_err *e);

/* Operation generation, exposed for tests: the seq-th op of a worker. Same
 * (seed, worker, seq sequence) gives the same ops. */
void fl_wl_rng_seed(uint64_t *rng, uint64_t seed, int worker);
uint64_t fl_wl_rng_next(uint64_t *rng);
uint64_t fl_wl_rng_below(uint64_t *rng, uint64_t n);
void fl_wl_next_op(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                   struct fl_wl_op *op);

/* Registries (registry.c). NULL-terminated lists. */
const struct fl_wl_ops *const *fl_wl_workloads(void);
const struct fl_wl_client_ops *const *fl_wl_clients(void);
const struct fl_wl_ops *fl_wl_find(const char *name);
const struct fl_wl_client_ops *fl_wl_client_find(const char *name);
/* The client's row for a workload, NULL when it does not run it. */
const struct fl_wl_client_impl *fl_wl_client_find_impl(const struct fl_wl_client_ops *cl,
                                                       const char *workload);
bool fl_wl_client_supports(const struct fl_wl_client_ops *cl, const char *workload);
/* "a, b, c": the registered workloads, the registered clients, the workloads
 * one client runs (for help and error messages). Truncated to fit len. */
void fl_wl_workload_names(char *buf, size_t len);
void fl_wl_client_names(char *buf, size_t len);
void fl_wl_client_workload_names(const struct fl_wl_client_ops *cl, char *buf, size_t len);

void fl_wl_result_fini(struct fl_wl_result *r);

/* Split "HOST:PORT" or "[v6]:PORT" (for clients that take one). */
int fl_wl_split_hostport(const char *target, char *host, size_t hostlen, int *port,
                         struct fl_err *e);

#endif
