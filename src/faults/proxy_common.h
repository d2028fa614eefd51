/* What the proxy fault kinds share (network.delay, network.jitter,
 * network.reset, network.timeout, network.slow): faults on TCP connections
 * made through faultline's userspace proxy in transparent mode, for kernels
 * without netem (and for connection-level faults netem cannot make).
 *
 * inject starts a worker process (`faultline proxy --fault-worker`,
 * proxy/worker.h) inside the scope's namespace: a proxy with the kind's
 * toxic on the chosen streams, fed by an nftables redirect of new TCP
 * connections to the targets. The worker owns the redirect table (it dies
 * with the worker), so the redirect never outlives the proxy; revert asks
 * the worker to stop (SIGTERM: it deletes the table first, then closes its
 * connections), and SIGKILLs it if it does not.
 *
 * plan records in undo: "scope", "table", "family", "deadline_ms" and
 * "config" (the worker's configuration); inject adds "worker": {"pid",
 * "start"} and "port" (the proxy's listener in the scope). */
#ifndef FL_FAULTS_PROXY_COMMON_H
#define FL_FAULTS_PROXY_COMMON_H

#include <stddef.h>

#include "faults/fault.h"
#include "net/netns.h"

/* Without --duration, a detached lease or --hard-stop, a worker stops by
 * itself after this. */
#define FL_PXFAULT_DEFAULT_HARD_STOP_MS (INT64_C(60) * 60 * 1000)
/* Otherwise this long after the duration (or the detached lease) ends. */
#define FL_PXFAULT_HARD_STOP_GRACE_MS (INT64_C(30) * 1000)

/* clang-format off */
#define FL_PXFAULT_OPTS(dirdefault) \
    FL_NETNS_OPTS, \
    {"target", FL_OPT_STRING, FL_OPT_MULTI, "ADDR[/PREFIX][:PORT]", \
     "intercept new TCP connections to this address (or network), and port if given, " \
     "made in or through the scope; repeat for more (required, or --endpoint; " \
     "network.delay and network.jitter without it use kernel netem on every packet)", \
     NULL, 0, 0}, \
    {"endpoint", FL_OPT_STRING, FL_OPT_MULTI, "ADDR[/PREFIX][:PORT]", \
     "the same as --target, under the name experiment files use (there `target:` names " \
     "an entry of targets:)", NULL, 0, 0}, \
    {"direction", FL_OPT_ENUM, 0, "downstream|upstream|both", \
     "which data is affected: downstream (server to client, the replies; the default), " \
     "upstream (client to server) or both" dirdefault, "downstream|upstream|both", 0, 0}, \
    {"percent", FL_OPT_PERCENT, 0, "PERCENT", \
     "share of new connections affected, drawn per connection (default 100)", NULL, 0, 0}, \
    {"hard-stop", FL_OPT_DURATION, 0, "DURATION", "the proxy stops (and its redirect " \
     "goes) by itself after this long even if nothing reverts the fault (default: " \
     "--duration or a detached --lease, + 30s; else 1h)", NULL, 1, 0}
/* clang-format on */

/* How one kind uses the shared machinery. */
struct fl_pxfault_kind {
    const char *kind;  /* "network.delay" */
    const char *toxic; /* the proxy toxic type: "latency" */
    /* Check the kind's own options and build the toxic's attributes
     * (*attrs is a new object). */
    int (*attributes)(const json_t *params, json_t **attrs, struct fl_err *e);
    /* "200ms latency (±20ms)" */
    void (*effect)(const json_t *params, char *buf, size_t len);
};

/* The ops of the kinds built on this driver: ops->impl is their struct fl_pxfault_kind. */
/* The attributes of network.reset and network.timeout: both take --after
 * and hand it to their toxic as "timeout" (ms). */
int fl_pxfault_after_attrs(const json_t *params, json_t **attrs, struct fl_err *e);
int fl_pxfault_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e);
int fl_pxfault_plan(struct fl_fault *f, struct fl_err *e);
int fl_pxfault_inject(struct fl_fault *f, struct fl_err *e);
int fl_pxfault_revert(const struct fl_fault *f, struct fl_err *e);
void fl_pxfault_describe(const struct fl_fault *f, char *buf, size_t len);
void fl_pxfault_claims(const struct fl_fault *f, json_t *out);

/* The ops table of a proxy-backed kind: every function is the shared
 * driver's, and impl (a struct fl_pxfault_kind) says what differs. */
#define FL_PXFAULT_OPS(kind_, summary_, opts_, impl_)                                              \
    {                                                                                              \
        .kind = (kind_), .summary = (summary_), .opts = (opts_), .validate = fl_pxfault_validate,  \
        .plan = fl_pxfault_plan, .inject = fl_pxfault_inject, .revert = fl_pxfault_revert,         \
        .describe = fl_pxfault_describe, .claims = fl_pxfault_claims, .impl = (impl_),             \
    }

/* Sweeper: stop every proxy fault worker on the machine (their redirect
 * tables go with them). Runs before the nft sweeper, which cannot delete
 * a table a live worker owns. */
int fl_pxfault_sweep(struct fl_sweep_report *r, struct fl_err *e);

/* Milliseconds as "200ms", "1.5s". */
void fl_pxfault_format_ms(long long ms, char *buf, size_t len);

#endif
