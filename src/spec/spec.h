/* The experiment model and its loader. An experiment file (YAML, schema in
 * docs/experiments.md) becomes a struct fl_spec whose fault parameters have
 * been parsed by each fault kind's own option table and validated by the
 * kind's validate(), and whose probe parameters by each probe kind's table,
 * so units and messages match `faultline inject` exactly. Every problem is
 * reported as "FILE:LINE:COL: what is wrong; how to fix it", all of them at
 * once (up to FL_SPEC_MAX_ERRORS). */
#ifndef FL_SPEC_SPEC_H
#define FL_SPEC_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faults/fault.h"
#include "probes/probe.h"

#define FL_SPEC_MAX_ERRORS 32
#define FL_SPEC_MAX_HOSTS 64

struct fl_spec_errors {
    size_t n;
    char *msg[FL_SPEC_MAX_ERRORS]; /* "file:line:col: message" */
};
void fl_spec_errors_fini(struct fl_spec_errors *errs);

enum fl_probe_role { FL_PROBE_STEADY, FL_PROBE_GUARDRAIL };

struct fl_spec_probe {
    char *name;
    enum fl_probe_role role;
    const struct fl_probe_ops *ops;
    json_t *params; /* parsed with ops->opts */
    int64_t interval_ms, timeout_ms;
    char *netns; /* sample from inside this named netns, or NULL */
    char *host;  /* an agent host of hosts: that samples it (a job of its agent), or NULL */
    struct fl_tolerance tol;
    int line, col;
};

enum fl_action_type { FL_ACTION_FAULT, FL_ACTION_COMMAND };

/* hosts: a name an experiment uses for one machine: a `faultline lab` host
 * (a network namespace on this machine, where faults are applied locally)
 * or a host reached through its `faultline agent`. */
struct fl_spec_host {
    char *name;     /* "h1", "db-primary" */
    char *lab;      /* lab host: the lab's name ("lab"), else NULL */
    char *lab_host; /* the host within it ("h1") */
    char *agent;    /* agent host: its URL, else NULL */
    char *token;    /* agent host: "env:NAME" or "file:PATH", or NULL (no token) */
    char *address;  /* an address given in the file, or NULL: the lab's (the agent URL's host) */
    int line, col;
};

/* A setup or teardown command: run on a host (its namespace, like `lab
 * exec`) or on this machine, bounded by a timeout, its output kept. */
struct fl_spec_command {
    char *name;
    char *host; /* a name from hosts:, or NULL for this machine */
    char *command;
    int64_t timeout_ms;
    int line, col;
};

/* A target resolved when its fault starts ("the current leader"): the
 * value a command prints, a JSON pointer into an HTTP answer, or what a
 * Redis Sentinel says the primary is; the value names a host of hosts:
 * by its name or address (a ":PORT" is ignored). */
enum fl_resolve_kind { FL_RESOLVE_NONE, FL_RESOLVE_COMMAND, FL_RESOLVE_HTTP, FL_RESOLVE_SENTINEL };
struct fl_spec_resolve {
    enum fl_resolve_kind kind;
    char *command;           /* COMMAND: the first line of its output */
    char *url, *pointer;     /* HTTP: GET url, the JSON value at pointer */
    char *sentinel, *master; /* SENTINEL: HOST:PORT of a sentinel, the master's name */
    char *from;              /* run it from this host (its namespace), or NULL */
    int64_t timeout_ms;
};

/* process.kill's restart: what brings the member back, `after` the kill
 * (revert = restart). */
struct fl_spec_restart {
    bool present;
    char *command; /* run on the step's host */
    char *unit;    /* or `systemctl start UNIT` */
    int64_t after_ms, timeout_ms;
};

struct fl_spec_action {
    enum fl_action_type type;
    char *name;                     /* "partition-replica" or "#2 network.partition" */
    const struct fl_fault_ops *ops; /* FL_ACTION_FAULT */
    json_t *params;                 /* FL_ACTION_FAULT: kind options, target's merged in */
    char *target;                   /* the named target, or NULL */
    char *command;                  /* FL_ACTION_COMMAND */
    int64_t start_ms;               /* offset from the start of injection */
    int64_t duration_ms;            /* faults: 0 = until the experiment's duration ends */
    char *host;                     /* act on this host of hosts: (its netns), or NULL */
    char **peer_hosts;              /* partitions by host name: the peers' addresses, */
    size_t npeer_hosts;             /*   resolved when the fault starts */
    char *between;                  /* the group expression this step came from, or NULL */
    unsigned split;                 /* steps expanded from one between: share it (> 0) */
    struct fl_spec_resolve resolve; /* host_from: the host resolved at fault start */
    struct fl_spec_restart restart; /* process.kill */
    bool no_reclaim;                /* reclaim: false (agent hosts: not re-applied after the
                                       agent restarted) */
    int line, col;
};

struct fl_spec_guardrail {
    char *name;
    size_t probe; /* index into probes */
    struct fl_tolerance tol;
    int64_t for_ms; /* the violation must last this long */
    int line, col;
};

/* workload: concurrent clients driven by `faultline workload` for the
 * whole run (injection and recovery), recording a history. Every key but
 * netns becomes a `--key value` flag of that command. */
struct fl_spec_workload {
    bool present;
    char *name;  /* "w1", or the file's name: for checks and messages */
    char *netns; /* run the clients inside this named namespace, or NULL */
    char *host;  /* or on this agent host of hosts: (a job of its agent), or NULL */
    char **argv; /* "--client", "redis", "--workload", "register", ... */
    size_t argc;
    char *client, *workload; /* for messages */
    int line, col;
};

/* checks: one `faultline check` of the recorded history each. Every key
 * but timeout becomes a flag (model: bank -> --model bank). */
struct fl_spec_check {
    char *model;
    size_t workload; /* index of the workload whose history it checks */
    char **argv;
    size_t argc;
    int64_t timeout_ms;
    int line, col;
};

/* A log source of the targets (`logs:`), captured for the run's window. */
enum fl_log_kind { FL_LOG_FILE, FL_LOG_UNIT, FL_LOG_COMMAND, FL_LOG_CONTAINER };
#define FL_SPEC_LOG_MAX_DEFAULT (1 << 20)
#define FL_SPEC_LOG_MAX_LIMIT (64 << 20)
struct fl_spec_log {
    char *name;
    enum fl_log_kind kind;
    char *what; /* the path, unit, shell command or container */
    int64_t max_bytes;
    int line, col;
};

struct fl_spec {
    char *file;
    char *content; /* the file as read, for the store */
    char *title, *description, *hypothesis;
    bool has_seed;
    uint64_t seed;
    int64_t duration_ms;  /* of the injection phase; default: end of the last action */
    int64_t preflight_ms; /* how long steady state is sampled before injecting */
    bool has_recovery;
    int64_t recovery_within_ms;
    int64_t recovery_stable_ms; /* how long probes must stay healthy to count as recovered */
    int64_t rollback_timeout_ms;

    size_t nprobes;
    struct fl_spec_probe *probes;
    size_t nactions;
    struct fl_spec_action *actions;
    size_t nguardrails;
    struct fl_spec_guardrail *guardrails;
    size_t nrollbacks;
    char **rollbacks;
    struct fl_spec_workload workload; /* the first workload (workloads[0]), or none */
    size_t nworkloads;                /* several: `workload:` as a list */
    struct fl_spec_workload *workloads;
    size_t nchecks;
    struct fl_spec_check *checks;
    size_t nlogs;
    struct fl_spec_log *logs;
    size_t nhosts;
    struct fl_spec_host *hosts;
    size_t nsetup, nteardown;
    struct fl_spec_command *setup, *teardown;

    /* "FILE:LINE:COL: warning: ..." for a valid file that probably does
     * not do what its author thinks (validate and run print them) */
    size_t nwarnings;
    char *warnings[FL_SPEC_MAX_ERRORS];
};

/* Load and validate. On failure returns NULL with errs filled (the caller
 * frees errs with fl_spec_errors_fini either way). `name` labels messages. */
struct fl_spec *fl_spec_load_file(const char *path, struct fl_spec_errors *errs);
struct fl_spec *fl_spec_load_string(const char *name, const char *text, size_t len,
                                    struct fl_spec_errors *errs);

/* Flags of the _ex loaders. FL_SPEC_UNSET_ENV_OK: an unset ${NAME}
 * without a default is a warning (the run will need it), not an error, and
 * the value that holds it is not checked - for reading commands such as
 * validate, which must not need a run's secrets. A spec loaded this way
 * is for reading only: never run it. */
#define FL_SPEC_UNSET_ENV_OK 1u
struct fl_spec *fl_spec_load_file_ex(const char *path, unsigned flags, struct fl_spec_errors *errs);
struct fl_spec *fl_spec_load_string_ex(const char *name, const char *text, size_t len,
                                       unsigned flags, struct fl_spec_errors *errs);
void fl_spec_free(struct fl_spec *s);

/* The host of hosts: called name, or NULL. */
const struct fl_spec_host *fl_spec_host_find(const struct fl_spec *s, const char *name);

/* 16 hex digits identifying the content (FNV-1a 64). */
void fl_spec_hash(const struct fl_spec *s, char out[17]);

#endif
