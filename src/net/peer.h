/* Peers of a network fault: "10.0.0.2", "10.0.0.0/24", "10.0.0.2:6379",
 * "fd00::2", "fd00::/64", "[fd00::2]:6379", "[fd00::/64]:443". Addresses
 * only (no host names: a fault must not depend on DNS, which may be the
 * very thing under test). Parsing is strict because the result ends up in
 * an nftables script. */
#ifndef FL_NET_PEER_H
#define FL_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct fl_net_peer {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network order; host bits under the prefix cleared */
    int prefix;             /* 0..32 or 0..128; the full length names one host */
    int port;               /* 0 = any port */
};

/* Parse ADDR, ADDR/PREFIX, ADDR:PORT, [V6]:PORT. Error messages quote the
 * text but do not name an option: the caller prefixes its own (--peer, --target). */
int fl_net_peer_parse(const char *s, struct fl_net_peer *p, struct fl_err *e);
/* Canonical text: "10.0.0.0/24", "fd00::2", with ":PORT" / "[..]:PORT" when
 * with_port and a port is set. */
void fl_net_peer_format(const struct fl_net_peer *p, bool with_port, char *buf, size_t len);

/* Protocol names faultline accepts (--protocol), checked against this list
 * so nothing else reaches an nft script: tcp, udp, icmp (v4 and v6), icmpv6,
 * sctp, udplite, dccp, gre, esp, ah, or a number 0-255. */
int fl_net_protocol_check(const char *proto, struct fl_err *e);
/* True when the protocol has ports (tcp, udp, sctp, udplite, dccp). */
bool fl_net_protocol_has_ports(const char *proto);

#endif
