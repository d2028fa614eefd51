/* network.jitter: variable latency, two ways (as network.delay).
 *
 * With --target: on TCP connections to that service, through the userspace
 * proxy: each chunk waits --latency ± a uniform random --jitter. Chunks of
 * one connection keep their order (a later chunk never overtakes an
 * earlier one).
 * Without --target: every packet the scope's devices send, with kernel
 * netem (delay --latency, jitter --jitter), where the kernel has sch_netem;
 * netem's jitter may reorder packets.
 * --latency defaults to --jitter, so delays spread over 0 to 2×jitter. */
#include <stdio.h>

#include "faults/network_netem.h"
#include "faults/proxy_common.h"

#define MAX_MS (60LL * 60 * 1000)

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(""),
    FL_NETEM_DEV_OPT("without --target: jitter every packet this device sends, any protocol, "
                     "with kernel netem (needs sch_netem; FAULTLINE_NETEM=off in the "
                     "environment: never use it); repeatable (default in a namespace: every "
                     "device but lo)"),
    {"jitter", FL_OPT_DURATION, FL_OPT_REQUIRED, "DURATION",
     "random variation, uniform within ±jitter per chunk of data: 50ms, ... (up to 1h)", NULL, 1,
     MAX_MS},
    {"latency", FL_OPT_DURATION, 0, "DURATION",
     "the mean delay (default: --jitter, so each chunk waits 0 to 2×jitter)", NULL, 0, MAX_MS},
    FL_OPT_END,
};

static int attributes(const json_t *params, json_t **attrs, struct fl_err *e)
{
    json_t *lat = json_object_get(params, "latency");
    json_t *jit = json_object_get(params, "jitter");

    if (!json_is_integer(jit))
        return fl_err_set(e, FL_EUSAGE, "--jitter DURATION is required (e.g. --jitter 50ms)");
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

static int netem_fill(const json_t *params, struct fl_tc_netem *n, struct fl_err *e)
{
    long long jit = fl_param_int(params, "jitter", 0);
    long long lat = fl_param_int(params, "latency", jit);
    json_t *attrs = NULL;
    int r = attributes(params, &attrs, e);

    if (r)
        return r;
    json_decref(attrs);
    if (lat > 60000 || jit > 60000)
        return fl_err_set(e, FL_EUSAGE, "with kernel netem, --latency and --jitter go up to 1m");
    n->delay_us = (uint32_t)(lat * 1000);
    n->jitter_us = (uint32_t)(jit * 1000);
    return 0;
}

static const struct fl_pxfault_kind k = {"network.jitter", "latency", attributes, effect};
static const struct fl_netem_kind nk = {
    "network.jitter", netem_fill, effect,
    "Give --target ADDR[:PORT] to jitter new TCP connections to that service through "
    "faultline's proxy instead (no netem needed)",
    "; or give --target ADDR[:PORT] to jitter TCP connections to one service (proxy)"};

static int jitter_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    if (fl_netemfault_wanted(params))
        return fl_netemfault_no_proxy_opts(params, e) ?: fl_netemfault_check(&nk, params, e);
    return fl_netemfault_no_dev(params, e) ?: fl_pxfault_validate(ops, params, e);
}

static int jitter_plan(struct fl_fault *f, struct fl_err *e)
{
    if (fl_netemfault_wanted(f->params))
        return fl_netemfault_no_proxy_opts(f->params, e) ?: fl_netemfault_plan_kind(f, &nk, e);
    return fl_netemfault_no_dev(f->params, e) ?: fl_pxfault_plan(f, e);
}

static int jitter_inject(struct fl_fault *f, struct fl_err *e)
{
    return fl_netemfault_planned(f) ? fl_netemfault_inject(f, e) : fl_pxfault_inject(f, e);
}

static int jitter_revert(const struct fl_fault *f, struct fl_err *e)
{
    return fl_netemfault_planned(f) ? fl_netemfault_revert(f, e) : fl_pxfault_revert(f, e);
}

static void jitter_describe(const struct fl_fault *f, char *buf, size_t len)
{
    if (fl_netemfault_planned(f) || fl_netemfault_wanted(f->params))
        fl_netemfault_describe_kind(f, &nk, buf, len);
    else
        fl_pxfault_describe(f, buf, len);
}

static void jitter_claims(const struct fl_fault *f, json_t *out)
{
    if (fl_netemfault_planned(f))
        fl_netemfault_claims(f, out);
    else
        fl_pxfault_claims(f, out);
}

const struct fl_fault_ops fl_fault_network_jitter = {
    .kind = "network.jitter",
    .summary = "random latency: on new TCP connections to a --target (userspace proxy, keeps "
               "order), or without --target on all egress (kernel netem)",
    .opts = opts,
    .validate = jitter_validate,
    .plan = jitter_plan,
    .inject = jitter_inject,
    .revert = jitter_revert,
    .describe = jitter_describe,
    .claims = jitter_claims,
    .impl = &k,
};
