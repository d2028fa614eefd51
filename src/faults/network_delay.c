/* network.delay: add latency (and optional jitter), two ways.
 *
 * With --target: to TCP connections to that service, through faultline's
 * userspace proxy in transparent mode, which delays each chunk of data it
 * forwards (Toxiproxy's latency toxic); works on any kernel. It affects
 * connections made after the fault starts; existing connections keep their
 * direct path.
 * Without --target: to every packet the scope's devices send, any protocol,
 * with a kernel netem qdisc (network_netem.h), where the kernel has
 * sch_netem; elsewhere that fails with exit code 6 naming --target.
 * See docs/faults-network.md. */
#include <stdio.h>

#include "faults/network_netem.h"
#include "faults/proxy_common.h"

/* Both options take at most an hour (the table's bounds, checked wherever a
 * value comes in: command line, experiment file, agent request). */
#define MAX_LATENCY_MS (60LL * 60 * 1000)

static const struct fl_opt opts[] = {
    FL_PXFAULT_OPTS(" (a request/response round trip grows by --latency, twice that with both)"),
    FL_NETEM_DEV_OPT("without --target: delay every packet this device sends, any protocol, "
                     "with kernel netem (needs sch_netem; FAULTLINE_NETEM=off in the "
                     "environment: never use it); repeatable (default in a namespace: every "
                     "device but lo)"),
    {"latency", FL_OPT_DURATION, FL_OPT_REQUIRED, "DURATION",
     "delay added to each chunk of data: 200ms, 1s, ... (up to 1h)", NULL, 1, MAX_LATENCY_MS},
    {"jitter", FL_OPT_DURATION, 0, "DURATION",
     "random variation, uniform within ±jitter per chunk (default 0; order is kept)", NULL, 0,
     MAX_LATENCY_MS},
    FL_OPT_END,
};

static int attributes(const json_t *params, json_t **attrs, struct fl_err *e)
{
    json_t *lat = json_object_get(params, "latency");
    json_t *jit = json_object_get(params, "jitter");

    if (!json_is_integer(lat))
        return fl_err_set(e, FL_EUSAGE, "--latency DURATION is required (e.g. --latency 200ms)");
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

/* The netem path: the same options, in the qdisc's units. */
static int netem_fill(const json_t *params, struct fl_tc_netem *n, struct fl_err *e)
{
    json_t *attrs = NULL;
    int r = attributes(params, &attrs, e);

    if (r)
        return r;
    json_decref(attrs);
    if (fl_param_int(params, "latency", 0) > 60000 || fl_param_int(params, "jitter", 0) > 60000)
        return fl_err_set(e, FL_EUSAGE, "with kernel netem, --latency and --jitter go up to 1m");
    n->delay_us = (uint32_t)(fl_param_int(params, "latency", 0) * 1000);
    n->jitter_us = (uint32_t)(fl_param_int(params, "jitter", 0) * 1000);
    return 0;
}

static const struct fl_pxfault_kind k = {"network.delay", "latency", attributes, effect};
static const struct fl_netem_kind nk = {
    "network.delay", netem_fill, effect,
    "Give --target ADDR[:PORT] to delay new TCP connections to that service through "
    "faultline's proxy instead (no netem needed)",
    "; or give --target ADDR[:PORT] to delay TCP connections to one service (proxy)"};

static int delay_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    if (fl_netemfault_wanted(params))
        return fl_netemfault_no_proxy_opts(params, e) ?: fl_netemfault_check(&nk, params, e);
    return fl_netemfault_no_dev(params, e) ?: fl_pxfault_validate(ops, params, e);
}

static int delay_plan(struct fl_fault *f, struct fl_err *e)
{
    if (fl_netemfault_wanted(f->params))
        return fl_netemfault_no_proxy_opts(f->params, e) ?: fl_netemfault_plan_kind(f, &nk, e);
    return fl_netemfault_no_dev(f->params, e) ?: fl_pxfault_plan(f, e);
}

static int delay_inject(struct fl_fault *f, struct fl_err *e)
{
    return fl_netemfault_planned(f) ? fl_netemfault_inject(f, e) : fl_pxfault_inject(f, e);
}

static int delay_revert(const struct fl_fault *f, struct fl_err *e)
{
    return fl_netemfault_planned(f) ? fl_netemfault_revert(f, e) : fl_pxfault_revert(f, e);
}

static void delay_describe(const struct fl_fault *f, char *buf, size_t len)
{
    if (fl_netemfault_planned(f) || fl_netemfault_wanted(f->params))
        fl_netemfault_describe_kind(f, &nk, buf, len);
    else
        fl_pxfault_describe(f, buf, len);
}

static void delay_claims(const struct fl_fault *f, json_t *out)
{
    if (fl_netemfault_planned(f))
        fl_netemfault_claims(f, out);
    else
        fl_pxfault_claims(f, out);
}

const struct fl_fault_ops fl_fault_network_delay = {
    .kind = "network.delay",
    .summary = "add latency: to new TCP connections to a --target (userspace proxy, any kernel), "
               "or without --target to all egress (kernel netem)",
    .opts = opts,
    .validate = delay_validate,
    .plan = delay_plan,
    .inject = delay_inject,
    .revert = delay_revert,
    .describe = delay_describe,
    .claims = delay_claims,
    .impl = &k,
};
