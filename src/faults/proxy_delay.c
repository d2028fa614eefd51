/* network.delay: add latency (and optional jitter) to TCP connections to a
 * target, through faultline's userspace proxy in transparent mode.
 *
 * Kernel delay needs netem, which this project's kernels lack; the proxy
 * delays each chunk of data it forwards instead (Toxiproxy's latency
 * toxic). It affects connections made after the fault starts; existing
 * connections keep their direct path. See docs/faults-network.md. */
#include <stdio.h>

#include "faults/proxy_common.h"

#define MAX_LATENCY_MS (60 * 60 * 1000LL)

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(" (a request/response round trip grows by --latency, twice that with both)"),
    {"latency", FL_OPT_DURATION, FL_OPT_REQUIRED, "DURATION",
     "delay added to each chunk of data: 200ms, 1s, ...", NULL, 0, 0},
    {"jitter", FL_OPT_DURATION, 0, "DURATION",
     "random variation, uniform within ±jitter per chunk (default 0; order is kept)", NULL, 0, 0},
    FL_OPT_END,
};

static int attributes(const json_t *params, json_t **attrs, struct fl_err *e)
{
    json_t *lat = json_object_get(params, "latency");
    json_t *jit = json_object_get(params, "jitter");

    if (!lat)
        return fl_err_set(e, FL_EUSAGE, "--latency DURATION is required (e.g. --latency 200ms)");
    if (!json_is_integer(lat) || json_integer_value(lat) < 1 ||
        json_integer_value(lat) > MAX_LATENCY_MS)
        return fl_err_set(e, FL_EUSAGE, "--latency must be from 1ms to 1h");
    if (jit && (!json_is_integer(jit) || json_integer_value(jit) < 0 ||
                json_integer_value(jit) > MAX_LATENCY_MS))
        return fl_err_set(e, FL_EUSAGE, "--jitter must be from 0ms to 1h");
    *attrs = json_pack("{s:I, s:I}", "latency", (json_int_t)json_integer_value(lat), "jitter",
                       (json_int_t)(jit ? json_integer_value(jit) : 0));
    return 0;
}

static void effect(const json_t *params, char *buf, size_t len)
{
    char l[32], j[32];
    long long jit = fl_param_int(params, "jitter", 0);

    fl_pxfault_format_ms(fl_param_int(params, "latency", 0), l, sizeof l);
    fl_pxfault_format_ms(jit, j, sizeof j);
    snprintf(buf, len, "%s latency%s%s%s", l, jit ? " (±" : "", jit ? j : "", jit ? ")" : "");
}

static const struct fl_pxfault_kind k = {"network.delay", "latency", attributes, effect};

const struct fl_fault_ops fl_fault_network_delay = {
    .kind = "network.delay",
    .summary = "add latency to new TCP connections to a target (userspace proxy; no netem "
               "needed)",
    .opts = opts,
    .validate = fl_pxfault_validate,
    .plan = fl_pxfault_plan,
    .inject = fl_pxfault_inject,
    .revert = fl_pxfault_revert,
    .describe = fl_pxfault_describe,
    .claims = fl_pxfault_claims,
    .impl = &k,
};
