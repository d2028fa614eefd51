/* Network links and named namespaces, through NETLINK_ROUTE (libnl-route-3):
 * the building blocks of the lab (a bridge, veth pairs, addresses, a named
 * namespace per host). Each call acts in the namespace of the calling thread
 * at the time the socket was opened; enter a namespace (net/netns.h) and open
 * a socket there to act inside it. */
#ifndef FL_NET_LINK_H
#define FL_NET_LINK_H

#include <netinet/in.h>
#include <stdint.h>

#include "util/err.h"

struct nl_sock;

/* A connected NETLINK_ROUTE socket in the calling thread's namespace. */
struct nl_sock *fl_link_sock(struct fl_err *e);
void fl_link_sock_free(struct nl_sock *sk);
/* The FL_E* code closest to a libnl error (-NLE_*). */
int fl_link_nl_code(int nlerr);

int fl_link_bridge_add(struct nl_sock *sk, const char *name, struct fl_err *e);
/* A veth pair, both ends in the socket's namespace. */
int fl_link_veth_add(struct nl_sock *sk, const char *name, const char *peer, struct fl_err *e);
/* Move a link into the namespace open at nsfd. */
int fl_link_set_netns(struct nl_sock *sk, const char *name, int nsfd, struct fl_err *e);
int fl_link_set_master(struct nl_sock *sk, const char *name, const char *master, struct fl_err *e);
int fl_link_rename(struct nl_sock *sk, const char *name, const char *newname, struct fl_err *e);
int fl_link_set_up(struct nl_sock *sk, const char *name, struct fl_err *e);
int fl_link_set_alias(struct nl_sock *sk, const char *name, const char *alias, struct fl_err *e);
/* The alias into buf ("" when none); -FL_ENOTARGET when the link does not exist. */
int fl_link_get_alias(struct nl_sock *sk, const char *name, char *buf, size_t len,
                      struct fl_err *e);
int fl_link_addr_add(struct nl_sock *sk, const char *name, struct in_addr addr, int prefix,
                     struct fl_err *e);
/* Delete a link: 1 when it was deleted, 0 when it did not exist. */
int fl_link_del(struct nl_sock *sk, const char *name, struct fl_err *e);
/* Call fn for every link whose name starts with prefix; returns how many. */
int fl_link_each(struct nl_sock *sk, const char *prefix, void (*fn)(const char *name, void *arg),
                 void *arg, struct fl_err *e);

/* Named namespaces, as `ip netns add/del` make them (/run/netns/NAME, a bind
 * mount of the namespace, /run/netns itself a shared mount). Adding a name
 * that exists is -FL_EREFUSED; deleting one that does not is 0. */
int fl_netns_add(const char *name, struct fl_err *e);
int fl_netns_del(const char *name, struct fl_err *e);

#endif
