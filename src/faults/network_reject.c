/* network.reject: refuse traffic to and from the listed peers (tcp reset, icmp unreachable).
 *
 * Like network.blackhole, but loud: TCP segments are answered with a reset
 * and everything else with ICMP port unreachable, so connects fail at once
 * with "connection refused" instead of timing out. */
#include "faults/network_common.h"

static const struct fl_netfilter_kind k = {
    .kind = "network.reject",
    .verdict = FL_NFT_REJECT,
    .forward = false,
    .peer_required = true,
    .loss = false,
    .default_direction = "both",
};

static const struct fl_opt opts[] = {
    FL_NETNS_OPTS,
    FL_NET_PEER_OPT(FL_OPT_REQUIRED,
                    "the address to refuse: an address, a network, or ADDR:PORT / [V6]:PORT"),
    FL_NET_FILTER_OPTS("in (from the peers), out (to them) or both (default)"),
    FL_OPT_END,
};

const struct fl_fault_ops fl_fault_network_reject = FL_NETFILTER_OPS(
    "network.reject", "refuse traffic to and from the listed peers (tcp reset, icmp unreachable)",
    opts, &k);
