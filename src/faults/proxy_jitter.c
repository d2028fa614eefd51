/* network.jitter: variable latency on TCP connections to a target, through
 * the userspace proxy: each chunk waits --latency ± a uniform random
 * --jitter. --latency defaults to --jitter, so delays spread over 0 to
 * 2×jitter. Chunks of one connection keep their order (a later chunk never
 * overtakes an earlier one), unlike netem's jitter which may reorder. */
#include <stdio.h>

#include "faults/proxy_common.h"

#define MAX_MS (60 * 60 * 1000LL)

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(""),
    {"jitter", FL_OPT_DURATION, FL_OPT_REQUIRED, "DURATION",
     "random variation, uniform within ±jitter per chunk of data: 50ms, ...", NULL, 0, 0},
    {"latency", FL_OPT_DURATION, 0, "DURATION",
     "the mean delay (default: --jitter, so each chunk waits 0 to 2×jitter)", NULL, 0, 0},
    FL_OPT_END,
};

static int attributes(const json_t *params, json_t **attrs, struct fl_err *e)
{
    json_t *lat = json_object_get(params, "latency");
    json_t *jit = json_object_get(params, "jitter");

    if (!jit)
        return fl_err_set(e, FL_EUSAGE, "--jitter DURATION is required (e.g. --jitter 50ms)");
    if (!json_is_integer(jit) || json_integer_value(jit) < 1 || json_integer_value(jit) > MAX_MS)
        return fl_err_set(e, FL_EUSAGE, "--jitter must be from 1ms to 1h");
    if (lat &&
        (!json_is_integer(lat) || json_integer_value(lat) < 0 || json_integer_value(lat) > MAX_MS))
        return fl_err_set(e, FL_EUSAGE, "--latency must be from 0ms to 1h");
    *attrs = json_pack("{s:I, s:I}", "latency", (json_int_t)json_integer_value(lat ? lat : jit),
                       "jitter", (json_int_t)json_integer_value(jit));
    return 0;
}

static void effect(const json_t *params, char *buf, size_t len)
{
    char l[32], j[32];
    long long jit = fl_param_int(params, "jitter", 0);

    fl_pxfault_format_ms(fl_param_int(params, "latency", jit), l, sizeof l);
    fl_pxfault_format_ms(jit, j, sizeof j);
    snprintf(buf, len, "%s ±%s jitter", l, j);
}

static const struct fl_pxfault_kind k = {"network.jitter", "latency", attributes, effect};

const struct fl_fault_ops fl_fault_network_jitter = {
    .kind = "network.jitter",
    .summary = "random latency on new TCP connections to a target (userspace proxy; keeps order)",
    .opts = opts,
    .validate = fl_pxfault_validate,
    .plan = fl_pxfault_plan,
    .inject = fl_pxfault_inject,
    .revert = fl_pxfault_revert,
    .describe = fl_pxfault_describe,
    .claims = fl_pxfault_claims,
    .impl = &k,
};
