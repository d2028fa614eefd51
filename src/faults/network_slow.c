/* network.slow: limit the bandwidth of each new TCP connection to a target,
 * through the userspace proxy (Toxiproxy's bandwidth toxic, per connection
 * and direction). Unlike network.bandwidth (a tbf qdisc on a device's
 * egress), it needs no device, shapes one service's connections only, and
 * works in either direction. */
#include <stdio.h>

#include "faults/network_common.h"
#include "faults/proxy_common.h"

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(""),
    {"rate", FL_OPT_RATE, FL_OPT_REQUIRED, "RATE",
     "rate per connection and direction: 64kbit, 1mbit, 125kbps (bytes), ...; at least 8kbit", NULL,
     0, 0},
    FL_OPT_END,
};

static int attributes(const json_t *params, json_t **attrs, struct fl_err *e)
{
    json_t *rate = json_object_get(params, "rate");

    if (!rate)
        return fl_err_set(e, FL_EUSAGE, "--rate RATE is required (e.g. --rate 1mbit)");
    /* the proxy counts KB/s (1000 bytes) */
    if (!json_is_integer(rate) || json_integer_value(rate) < 8000)
        return fl_err_set(e, FL_EUSAGE,
                          "--rate must be at least 8kbit (1 KB/s), the proxy's smallest step");
    *attrs = json_pack("{s:I}", "rate", (json_int_t)(json_integer_value(rate) / 8000));
    return 0;
}

static void effect(const json_t *params, char *buf, size_t len)
{
    char r[32];

    fl_netfault_format_rate((unsigned long long)fl_param_int(params, "rate", 0), r, sizeof r);
    snprintf(buf, len, "%s per connection", r);
}

static const struct fl_pxfault_kind k = {"network.slow", "bandwidth", attributes, effect};

const struct fl_fault_ops fl_fault_network_slow = FL_PXFAULT_OPS(
    "network.slow", "limit the bandwidth of each new TCP connection to a target (userspace proxy)",
    opts, &k);
