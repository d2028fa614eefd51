/* What the kernel-netem network kinds share: a netem root qdisc (handle
 * fa17:, net/tc.h) on the scope's devices, for every protocol.
 *
 * network.duplicate, network.reorder and network.corrupt are netem only;
 * network.delay and network.jitter use netem when they are given no
 * --target (all egress of the devices) and the proxy (proxy_common.h) when
 * they are. Kernels without sch_netem (net/netem.h) make plan fail with
 * FL_EUNSUPPORTED and a message that says so and names the fallback.
 *
 * plan records in undo: "mechanism": "netem", "scope", "devices":
 * [{"name", "ifindex"}] and "netem" (the qdisc's parameters, kernel units),
 * so revert needs nothing else. */
#ifndef FL_FAULTS_NETWORK_NETEM_H
#define FL_FAULTS_NETWORK_NETEM_H

#include <stdbool.h>
#include <stddef.h>

#include "faults/fault.h"
#include "net/tc.h"

/* clang-format off */
#define FL_NETEM_DEV_OPT(help) \
    {"dev", FL_OPT_STRING, FL_OPT_MULTI, "IFACE", help, NULL, 0, 0}
/* clang-format on */

struct fl_netem_kind {
    const char *kind; /* "network.duplicate" */
    /* Check the kind's own options and fill the qdisc's parameters. */
    int (*fill)(const json_t *params, struct fl_tc_netem *n, struct fl_err *e);
    /* "duplicate 5% of packets" */
    void (*effect)(const json_t *params, char *buf, size_t len);
    /* What to do instead on a kernel without netem (ends the message). */
    const char *fallback;
    /* Appended to the "needs --dev on the host" message: the other way to
     * use the kind (delay: "; or --target ..."), or NULL. */
    const char *alt_usage;
};

/* network.delay and network.jitter: true when params ask for the netem
 * path (no --target/--endpoint), false for the proxy path. */
bool fl_netemfault_wanted(const json_t *params);
/* The proxy path: --dev is refused (it belongs to the netem path). */
int fl_netemfault_no_dev(const json_t *params, struct fl_err *e);
/* The netem path of delay/jitter: the proxy's own options (--direction,
 * --percent, --hard-stop) are refused, never ignored. */
int fl_netemfault_no_proxy_opts(const json_t *params, struct fl_err *e);
/* True when a fault's undo says it was planned on the netem path. */
bool fl_netemfault_planned(const struct fl_fault *f);

/* The driver, for a kind k (delay and jitter call these with their own). */
int fl_netemfault_check(const struct fl_netem_kind *k, const json_t *params, struct fl_err *e);
int fl_netemfault_plan_kind(struct fl_fault *f, const struct fl_netem_kind *k, struct fl_err *e);
int fl_netemfault_inject(struct fl_fault *f, struct fl_err *e);
int fl_netemfault_revert(const struct fl_fault *f, struct fl_err *e);
void fl_netemfault_describe_kind(const struct fl_fault *f, const struct fl_netem_kind *k, char *buf,
                                 size_t len);
void fl_netemfault_claims(const struct fl_fault *f, json_t *out);

/* The netem parameters recorded in undo, and back. */
json_t *fl_netemfault_to_json(const struct fl_tc_netem *n);
void fl_netemfault_from_json(const json_t *j, struct fl_tc_netem *n);

#endif
