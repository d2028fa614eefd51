/* network.blackhole: silently drop traffic to and from the listed peers.
 *
 * Packets between the scope and each peer vanish without any answer (no
 * reset, no ICMP): the peer looks like a host that went dark. Unlike
 * network.partition it does not touch forwarded traffic. */
#include "faults/network_common.h"

static const struct fl_netfilter_kind k = {
    .kind = "network.blackhole",
    .verdict = FL_NFT_DROP,
    .forward = false,
    .peer_required = true,
    .loss = false,
    .default_direction = "both",
};

static const struct fl_opt opts[] = {
    FL_NETNS_OPTS,
    FL_NET_PEER_OPT(FL_OPT_REQUIRED,
                    "the address that goes dark: an address, a network, or ADDR:PORT / [V6]:PORT"),
    FL_NET_FILTER_OPTS("in (from the peers), out (to them) or both (default)"),
    FL_OPT_END,
};

const struct fl_fault_ops fl_fault_network_blackhole = FL_NETFILTER_OPS(
    "network.blackhole", "silently drop traffic to and from the listed peers", opts, &k);
