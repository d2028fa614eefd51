/* network.timeout: new TCP connections to a target connect, but the data in
 * the chosen direction never arrives (it is read and dropped), so clients
 * hang until their own timeouts fire; --after closes each connection after
 * a while instead of holding it forever. Userspace proxy (Toxiproxy's
 * timeout toxic). */
#include <stdio.h>

#include "faults/proxy_common.h"

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(" (downstream: requests arrive, replies never do)"),
    {"after", FL_OPT_DURATION, 0, "DURATION",
     "close each connection this long after it opened (default 0: hold it open forever)", NULL, 0,
     0},
    FL_OPT_END,
};

static void effect(const json_t *params, char *buf, size_t len)
{
    long long a = fl_param_int(params, "after", 0);
    char t[32];

    fl_pxfault_format_ms(a, t, sizeof t);
    if (a)
        snprintf(buf, len, "no data, then close after %s,", t);
    else
        snprintf(buf, len, "no data (connections held open)");
}

static const struct fl_pxfault_kind k = {"network.timeout", "timeout", fl_pxfault_after_attrs,
                                         effect};

const struct fl_fault_ops fl_fault_network_timeout = FL_PXFAULT_OPS(
    "network.timeout",
    "new TCP connections to a target connect but stop passing data (userspace proxy)", opts, &k);
