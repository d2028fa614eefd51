/* nftables through libnftables, in-process: building the rule set of one
 * packet-filter fault, applying it atomically, deleting it, and sweeping
 * leftovers.
 *
 * Each fault owns one table, `FAMILY faultline_<id>`, holding base chains at
 * priority -300 (before conntrack and before typical filter rules, so an
 * `accept` elsewhere cannot let the traffic through first). Applying is one
 * nft transaction, so a rule set is either all in or not at all; reverting
 * is deleting the table. Nothing here spawns the nft program. */
#ifndef FL_NET_NFT_H
#define FL_NET_NFT_H

#include <stdbool.h>
#include <stddef.h>

#include "net/peer.h"
#include "util/err.h"
#include "util/sweep.h"

#define FL_NFT_TABLE_PREFIX "faultline_"
#define FL_NFT_PRIORITY (-300)

enum fl_nft_verdict {
    FL_NFT_DROP,   /* silently discard */
    FL_NFT_REJECT, /* TCP: reset; everything else: ICMP port unreachable */
};

/* What one fault filters. Peers and the port are matched on whichever side
 * of the packet the direction implies: a peer is the destination of
 * outgoing packets and the source of incoming ones; a port matches either
 * the source or the destination port (tcpdump's `port N`), so it catches
 * both the client and the server side of a connection. A peer's own port
 * takes the place of `port` for that peer. */
struct fl_nft_spec {
    const char *table; /* "faultline_<id>" */
    enum fl_nft_verdict verdict;
    unsigned loss_per10k;            /* 0: every matching packet; else N in 10000 */
    bool in, out;                    /* the input / output hooks */
    bool forward;                    /* also the forward hook (a routing namespace) */
    const struct fl_net_peer *peers; /* none = any address */
    size_t npeers;
    int port;             /* 0 = any */
    const char *protocol; /* NULL = any (tcp+udp when a port is set) */
};

/* The table's family: "ip" when every peer is IPv4, "ip6" when every peer
 * is IPv6, else (no peers, or both families) "inet". An inet base chain
 * hooks IPv4 and IPv6 both, and the kernel flips two hook static keys (text
 * patching, cross-CPU interrupts) for each chain on apply and again on
 * revert when no other chain uses the hook: a one-family table halves that
 * cost, and matches exactly the same packets. */
const char *fl_nft_family(const struct fl_nft_spec *s);

/* 0 if t can name a faultline nft table (1-64 letters, digits and '_': it
 * goes into a script unquoted), else FL_EFAIL with a message. */
int fl_nft_check_table_name(const char *t, struct fl_err *e);

/* The nft script for the spec (caller frees). Pure: touches nothing. */
int fl_nft_render(const struct fl_nft_spec *s, char **script, struct fl_err *e);

/* A libnftables context. It is bound to the network namespace that was
 * current when it was created (its netlink socket lives there); create it
 * after fl_netns_enter, and free it before leaving, or keep one per
 * namespace to save the set-up cost. */
struct fl_nft;
struct fl_nft *fl_nft_new(struct fl_err *e);
void fl_nft_free(struct fl_nft *n);
/* The context for the calling thread's current namespace, created on
 * first use and kept: do not free it. Why keep them: closing a libnftables
 * socket after a transaction that deleted a table waits for an RCU grace
 * period in the kernel (several ms), which made every apply/revert ~15x
 * slower (bench/inject-latency). The cache is per thread (setns is per
 * thread), holds up to FL_NFT_SHARED_MAX namespaces and evicts the least
 * recently used; a thread that ends leaves its contexts to the next thread
 * that needs one for the same namespace. A cached context keeps its
 * namespace alive until evicted or fl_nft_shared_clear() runs, so a
 * recycled namespace inode can never be confused with it. */
#define FL_NFT_SHARED_MAX 4
struct fl_nft *fl_nft_shared(struct fl_err *e);
/* Free the calling thread's cached contexts and the spares that threads
 * which ended left (nft.c); a thread that ends leaves its own as spares. */
void fl_nft_shared_clear(void);
/* Run commands as one transaction. The error names what nft said. */
int fl_nft_run(struct fl_nft *n, const char *cmds, struct fl_err *e);
/* Output of the last successful run (valid until the next run). Call it
 * once per run: libnftables starts a new buffer on every call. */
const char *fl_nft_output(struct fl_nft *n);
/* Delete a table. Returns 1 when deleted, 0 when it did not exist. */
int fl_nft_delete_table(struct fl_nft *n, const char *family, const char *table, struct fl_err *e);

/* Sweeper: delete every table named faultline_* in every namespace. */
int fl_nft_sweep(struct fl_sweep_report *r, struct fl_err *e);

#endif
