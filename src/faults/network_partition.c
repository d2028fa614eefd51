/* network.partition: drop traffic between the scope and the listed peers.
 *
 * A network split: packets to and from each peer are dropped in the scope's
 * namespace on input, output and forward, so neither side hears from the
 * other and connections time out. See docs/faults-network.md. */
#include "faults/network_common.h"

static const struct fl_netfilter_kind k = {
    .kind = "network.partition",
    .verdict = FL_NFT_DROP,
    .forward = true,
    .peer_required = true,
    .loss = false,
    .default_direction = "both",
};

static const struct fl_opt opts[] = {
    FL_NETNS_OPTS,
    FL_NET_PEER_OPT(FL_OPT_REQUIRED,
                    "the other side of the split: an address, a network, or ADDR:PORT / [V6]:PORT"),
    FL_NET_FILTER_OPTS(
        "which traffic to cut: in (from the peers), out (to them) or both (default)"),
    FL_OPT_END,
};

const struct fl_fault_ops fl_fault_network_partition = FL_NETFILTER_OPS(
    "network.partition", "drop traffic between the scope and the listed peers", opts, &k);
