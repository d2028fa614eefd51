/* network.reset: reset new TCP connections to a target (both ends see
 * "connection reset by peer") once data flows in the chosen direction, at
 * once or --after a while, through the userspace proxy (Toxiproxy's
 * reset_peer toxic: that data is dropped). The client's connect() itself
 * succeeds: the proxy accepted it. */
#include <stdio.h>

#include "faults/proxy_common.h"

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(" (for a reset it only matters with --percent)"),
    {"after", FL_OPT_DURATION, 0, "DURATION",
     "reset each connection this long after its first data in --direction (default 0: at "
     "once; that data is dropped)",
     NULL, 0, 0},
    FL_OPT_END,
};

static void effect(const json_t *params, char *buf, size_t len)
{
    long long a = fl_param_int(params, "after", 0);
    char t[32];

    fl_pxfault_format_ms(a, t, sizeof t);
    snprintf(buf, len, "TCP reset%s%s", a ? " after " : "", a ? t : "");
}

static const struct fl_pxfault_kind k = {"network.reset", "reset_peer", fl_pxfault_after_attrs,
                                         effect};

const struct fl_fault_ops fl_fault_network_reset =
    FL_PXFAULT_OPS("network.reset",
                   "reset new TCP connections to a target, at once or after a while (userspace "
                   "proxy)",
                   opts, &k);
