/* network.loss: drop a random share of packets (kernel nftables, no netem needed).
 *
 * Random packet loss decided per packet in the kernel by nftables
 * (numgen random mod 10000 < N), so fractional percents work and no netem
 * is needed. Default direction out (egress, like netem); optional peer,
 * port and protocol filters narrow which packets are candidates. */
#include "faults/network_common.h"

static const struct fl_netfilter_kind k = {
    .kind = "network.loss",
    .verdict = FL_NFT_DROP,
    .forward = false,
    .peer_required = false,
    .loss = true,
    .default_direction = "out",
};

static const struct fl_opt opts[] = {
    FL_NETNS_OPTS,
    {"percent", FL_OPT_PERCENT, FL_OPT_REQUIRED, "PERCENT",
     "share of packets to drop, 0.01 to 100 (fractions work: 0.5)", NULL, 0, 0},
    FL_NET_PEER_OPT(
        0, "only packets to/from this address, network or ADDR:PORT / [V6]:PORT (default: all)"),
    FL_NET_FILTER_OPTS("out (default, leaving the scope), in (entering it) or both"),
    FL_OPT_END,
};

const struct fl_fault_ops fl_fault_network_loss = FL_NETFILTER_OPS(
    "network.loss", "drop a random share of packets (kernel nftables, no netem needed)", opts, &k);
