/* What the packet-filter network kinds share (network.partition,
 * network.blackhole, network.reject, network.loss): their options, turning
 * params into an nft rule set at plan time, applying it inside the scope's
 * namespace, deleting it on revert, and describing it.
 *
 * plan records in undo: "scope" (net/netns.h), "table" and "family" (the
 * nft table to delete), and "nft" (the exact script inject applies, so
 * `--dry-run` shows it and the journal says what was done). */
#ifndef FL_FAULTS_NETWORK_COMMON_H
#define FL_FAULTS_NETWORK_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "faults/fault.h"
#include "net/netns.h"
#include "net/nft.h"

/* clang-format off */
#define FL_NET_PEER_OPT(req, help) \
    {"peer", FL_OPT_STRING, (req) | FL_OPT_MULTI, "ADDR[/PREFIX][:PORT]", help, NULL, 0, 0}
#define FL_NET_FILTER_OPTS(dirhelp) \
    {"direction", FL_OPT_ENUM, 0, "in|out|both", dirhelp, "in|out|both", 0, 0}, \
    {"port", FL_OPT_INT, 0, "PORT", "only packets with this source or destination port " \
     "(tcp and udp unless --protocol says otherwise)", NULL, 1, 65535}, \
    {"protocol", FL_OPT_STRING, 0, "PROTO", "only this protocol: tcp, udp, icmp, icmpv6, sctp, " \
     "udplite, dccp, gre, esp, ah or a number", NULL, 0, 0}
/* clang-format on */

/* How one kind uses the shared machinery. */
struct fl_netfilter_kind {
    const char *kind; /* "network.partition" */
    enum fl_nft_verdict verdict;
    bool forward; /* also filter forwarded traffic */
    bool peer_required;
    bool loss;                     /* takes --percent */
    const char *default_direction; /* "both" or "out" */
};

/* The filter the params describe. peers is allocated (caller frees). */
struct fl_netfilter {
    struct fl_net_peer *peers;
    size_t npeers;
    bool in, out;
    int port;
    const char *protocol; /* points into params */
    double percent;
};
int fl_netfilter_parse(const struct fl_netfilter_kind *k, const json_t *params,
                       struct fl_netfilter *nf, struct fl_err *e);

/* The ops of the kinds built on this driver: ops->impl is their struct fl_netfilter_kind. */
int fl_netfilter_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e);
int fl_netfilter_plan(struct fl_fault *f, struct fl_err *e);
int fl_netfilter_inject(struct fl_fault *f, struct fl_err *e);
int fl_netfilter_revert(const struct fl_fault *f, struct fl_err *e);
void fl_netfilter_describe(const struct fl_fault *f, char *buf, size_t len);

/* The ops table of an nftables filter kind: every function is the shared
 * driver's, and impl (a struct fl_netfilter_kind) says what differs. */
#define FL_NETFILTER_OPS(kind_, summary_, opts_, impl_)                                            \
    {                                                                                              \
        .kind = (kind_), .summary = (summary_), .opts = (opts_), .flags = 0,                       \
        .validate = fl_netfilter_validate, .plan = fl_netfilter_plan,                              \
        .inject = fl_netfilter_inject, .revert = fl_netfilter_revert,                              \
        .describe = fl_netfilter_describe, .impl = (impl_),                                        \
    }

/* The scope for describe(): the recorded one after plan, else from params. */
void fl_netfault_scope_text(const struct fl_fault *f, char *buf, size_t len);
/* The scope's identity for claims: "net:[INODE]" (as /proc/PID/ns/net reads)
 * once plan recorded the namespace, so --netns, --pid and --container naming
 * the same namespace claim the same keys; the description before that. */
void fl_netfault_scope_id(const struct fl_fault *f, char *buf, size_t len);
/* Enter the recorded scope. Returns 1 when entered, 0 when the namespace is
 * gone (nothing left to revert there), negative on error. */
int fl_netfault_enter_recorded(const struct fl_fault *f, struct fl_netns_guard *g,
                               struct fl_err *e);
/* Revert a fault held by a worker process that owns an nft redirect table
 * (undo: "worker", "table", "scope"): stop the worker (and any other worker
 * of this fault, faults/worker.h), then delete the table in the recorded
 * scope if the kernel did not already take it with its owner. */
struct fl_fault_worker_spec;
int fl_netfault_revert_worker(const struct fl_fault *f, const struct fl_fault_worker_spec *w,
                              struct fl_err *e);
/* "1.5mbit", "2gbit", "800kbit". */
void fl_netfault_format_rate(unsigned long long bps, char *buf, size_t len);

#endif
