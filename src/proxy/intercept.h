/* Transparent interception for the proxy: a transparent proxy (upstream
 * FL_PX_UPSTREAM_TRANSPARENT) plus the nftables redirect that feeds it
 * (net/redirect.h), in the calling thread's network namespace. Used by the
 * proxy fault worker (proxy/worker.h) and by `faultline proxy --intercept`.
 *
 * The redirect table is owned (`flags owner`) by a libnftables context kept
 * in struct fl_px_intercept: it lives exactly as long as that context, so
 * it disappears with the process whatever way it ends. */
#ifndef FL_PROXY_INTERCEPT_H
#define FL_PROXY_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "net/peer.h"
#include "proxy/proxy.h"
#include "util/err.h"

struct fl_nft;

struct fl_px_intercept {
    struct fl_nft *nft; /* owns the table */
    char table[65];
    bool added;
};

/* Create the transparent proxy `name` listening on a free port of the
 * wildcard address (dual-stack if v6), or reuse an existing transparent
 * proxy of that name (loaded from the state file). Returns the port. */
int fl_px_intercept_proxy(struct fl_px_server *s, const char *name, bool v6, struct fl_err *e);

/* Redirect new TCP connections to the targets into `port`, through the owned
 * table `table` (also catching connections entering the namespace when
 * prerouting). ic is initialised here; release it with
 * fl_px_intercept_stop, which deletes the table first. */
int fl_px_intercept_redirect(struct fl_px_intercept *ic, const char *table,
                             const struct fl_net_peer *targets, size_t n, int port, bool prerouting,
                             struct fl_err *e);
void fl_px_intercept_stop(struct fl_px_intercept *ic);

#endif
