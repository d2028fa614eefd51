/* Transparent interception: the nftables rule set that steers new TCP
 * connections for some addresses/ports into a local proxy listener
 * (`redirect`), while letting the proxy's own upstream connections pass.
 *
 * One table, `inet faultline_<id>`, with two nat chains at dstnat priority:
 *   output      connections made by processes of the namespace itself
 *               (locally generated traffic); packets carrying the proxy's
 *               firewall mark (SO_MARK on its upstream sockets) return first
 *   prerouting  connections entering the namespace: forwarded through it
 *               (a host routing for containers) or to a local service
 * A redirect happens on a connection's opening SYN only (conntrack NAT
 * binds the rest of the connection to it), so connections that existed
 * before the table was added are never touched, even when conntrack picks
 * them up mid-stream, and those redirected keep going to the proxy after
 * the table is gone.
 *
 * With `owner`, the table is bound to the netlink socket that created it
 * (NFT_TABLE_F_OWNER, Linux 5.12+): the kernel deletes it the moment that
 * socket closes, so a proxy process that holds the socket and dies for any
 * reason, SIGKILL included, takes its redirect with it. Nobody else may
 * delete an owned table (EPERM): stop its owner instead. */
#ifndef FL_NET_REDIRECT_H
#define FL_NET_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/peer.h"
#include "util/err.h"

struct fl_redirect_spec {
    const char *table;                 /* "faultline_<id>" */
    const struct fl_net_peer *targets; /* TCP destinations to intercept; port 0 = any */
    size_t ntargets;
    int listen_port; /* the proxy's port in the same namespace */
    uint32_t mark;   /* the proxy's upstream sockets carry it: never redirected */
    bool owner;      /* bind the table to the creating socket */
    bool prerouting; /* also intercept connections entering the namespace */
    bool udp;        /* redirect UDP datagrams to the targets' ports too (every
                        new flow; targets need a port) */
};

/* The nft script (caller frees). Pure: touches nothing. */
int fl_redirect_render(const struct fl_redirect_spec *s, char **script, struct fl_err *e);

#endif
