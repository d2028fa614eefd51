/* The kernel-netem driver (network_netem.h) and the kinds that exist only
 * on it: network.duplicate, network.reorder, network.corrupt.
 *
 * Each fault puts one netem root qdisc (handle fa17:) on each device of
 * its scope: in a namespace every device but lo by default, on the host
 * only the devices --dev names (as network.bandwidth). netem acts on
 * egress, for every protocol. A device whose root qdisc someone configured
 * is refused, never replaced; one already carrying fa17: (a bandwidth or
 * another netem fault) is refused by the overlap claim. */
#include "faults/network_netem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/network_common.h"
#include "faults/root_qdisc.h"
#include "net/netem.h"
#include "util/opts.h"

#define MAX_DEVS FL_ROOTQ_MAX_DEVS
#define MAX_LATENCY_MS (60 * 1000LL) /* netem's delay is a u32 of microseconds */

bool fl_netemfault_wanted(const json_t *params)
{
    return !json_object_get(params, "target") && !json_object_get(params, "endpoint");
}

int fl_netemfault_no_dev(const json_t *params, struct fl_err *e)
{
    if (!json_object_get(params, "dev"))
        return 0;
    return fl_err_set(e, FL_EUSAGE,
                      "--dev and --target do not go together: with --target the fault acts on "
                      "TCP connections to that service (through the proxy), without it on every "
                      "packet the devices send (kernel netem); drop one of them");
}

int fl_netemfault_no_proxy_opts(const json_t *params, struct fl_err *e)
{
    static const char *const proxy_only[] = {"direction", "percent", "hard-stop", NULL};

    for (size_t i = 0; proxy_only[i]; i++)
        if (json_object_get(params, proxy_only[i]))
            return fl_err_set(e, FL_EUSAGE,
                              "--%s needs --target: it belongs to the proxy, which acts on TCP "
                              "connections to that service; without --target the fault uses "
                              "kernel netem on every packet the devices send, which has no --%s",
                              proxy_only[i], proxy_only[i]);
    return 0;
}

bool fl_netemfault_planned(const struct fl_fault *f)
{
    const char *m = json_string_value(json_object_get(f->undo, "mechanism"));
    return m && !strcmp(m, "netem");
}

int fl_netemfault_check(const struct fl_netem_kind *k, const json_t *params, struct fl_err *e)
{
    json_t *dev = json_object_get(params, "dev");
    struct fl_tc_netem n = {0};
    int r;

    if ((r = fl_netns_validate(params, e)))
        return r;
    if (dev && !json_is_string(dev) && !json_is_array(dev))
        return fl_err_set(e, FL_EUSAGE, "--dev must be a device name or a list of them");
    if (json_is_array(dev) && json_array_size(dev) > MAX_DEVS)
        return fl_err_set(e, FL_EUSAGE, "at most %d --dev", MAX_DEVS);
    const char *names[MAX_DEVS];
    size_t nnames = fl_rootq_dev_names(params, names, FL_ROOTQ_MAX_DEVS);
    for (size_t i = 0; i < nnames; i++) {
        const char *s = names[i];
        if (!s || !*s || strlen(s) >= IF_NAMESIZE || strchr(s, '/'))
            return fl_err_set(e, FL_EUSAGE, "--dev '%s' is not a network device name", s ? s : "");
    }
    if (!dev && !json_object_get(params, "netns") && !json_object_get(params, "pid") &&
        !json_object_get(params, "container"))
        return fl_err_set(e, FL_EUSAGE,
                          "%s on the host needs --dev IFACE: faultline never puts netem on "
                          "the host's devices by default (that could cut off your own "
                          "session); name the device, or use --netns/--pid/--container%s",
                          k->kind, k->alt_usage ? k->alt_usage : "");
    return k->fill(params, &n, e);
}

/* Resolve the devices into undo["devices"], refusing configured roots. */
static int plan_devices(struct fl_fault *f, const struct fl_netns_scope *scope, const char *where,
                        struct fl_err *e)
{
    struct fl_tc_dev *devs;
    size_t n;
    json_t *jdevs;
    int r;

    if ((r = fl_rootq_devices(f, scope, where, &devs, &n, e)))
        return r;
    jdevs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            jdevs, json_pack("{s:s, s:i}", "name", devs[i].name, "ifindex", devs[i].ifindex));
    free(devs);
    json_object_set_new(f->undo, "devices", jdevs);
    return 0;
}

int fl_netemfault_plan_kind(struct fl_fault *f, const struct fl_netem_kind *k, struct fl_err *e)
{
    struct fl_netns_scope scope;
    struct fl_tc_netem n = {0};
    const char *why = NULL;
    char where[300];
    int r;

    if ((r = fl_netemfault_check(k, f->params, e)) || (r = k->fill(f->params, &n, e)))
        return r;
    if ((r = fl_netem_available(&why, e)) < 0)
        return r;
    if (!r)
        return fl_err_set(e, FL_EUNSUPPORTED, "%s needs kernel netem, but %s. %s", k->kind, why,
                          k->fallback);
    if ((r = fl_netns_resolve(f->params, &scope, e)))
        return r;
    fl_netns_describe(&scope, where, sizeof where);
    if ((r = plan_devices(f, &scope, where, e)))
        return r;
    json_object_set_new(f->undo, "mechanism", json_string("netem"));
    json_object_set_new(f->undo, "scope", fl_netns_to_json(&scope));
    json_object_set_new(f->undo, "netem", fl_netemfault_to_json(&n));
    return 0;
}

static int netem_add(const json_t *dev, int ifindex, const char *name, const void *arg,
                     struct fl_err *e)
{
    (void)dev;
    return fl_tc_netem_add(ifindex, name, arg, e);
}

int fl_netemfault_inject(struct fl_fault *f, struct fl_err *e)
{
    struct fl_tc_netem n;

    fl_netemfault_from_json(json_object_get(f->undo, "netem"), &n);
    return fl_rootq_apply(f, netem_add, &n, e);
}

int fl_netemfault_revert(const struct fl_fault *f, struct fl_err *e)
{
    return fl_rootq_revert(f, e);
}

/* One root qdisc per device: the same exclusive key network.bandwidth
 * claims, so a bandwidth and a netem fault on one device refuse each other. */
void fl_netemfault_claims(const struct fl_fault *f, json_t *out)
{
    fl_rootq_claims(f, out);
}

/* "duplicate 5% of packets, on what netns n1 sends through veth0 (kernel netem)" */
void fl_netemfault_describe_kind(const struct fl_fault *f, const struct fl_netem_kind *k, char *buf,
                                 size_t len)
{
    json_t *devs = json_object_get(f->undo, "devices");
    const char *names[MAX_DEVS];
    size_t nnames = fl_rootq_dev_names(f->params, names, MAX_DEVS), o = 0;
    char scope[300], eff[160], devtxt[256] = "";

    fl_netfault_scope_text(f, scope, sizeof scope);
    k->effect(f->params, eff, sizeof eff);
    for (size_t i = 0; devs && i < json_array_size(devs) && o < sizeof devtxt; i++)
        o += (size_t)snprintf(devtxt + o, sizeof devtxt - o, "%s%s", i ? ", " : "",
                              json_string_value(json_object_get(json_array_get(devs, i), "name")));
    for (size_t i = 0; !devs && i < nnames && o < sizeof devtxt; i++)
        o += (size_t)snprintf(devtxt + o, sizeof devtxt - o, "%s%s", i ? ", " : "", names[i]);
    if (!*devtxt)
        snprintf(devtxt, sizeof devtxt, "every device but lo");
    snprintf(buf, len, "%s, on what %s sends through %s (kernel netem)", eff, scope, devtxt);
}

json_t *fl_netemfault_to_json(const struct fl_tc_netem *n)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "delay_us",
                     (json_int_t)n->delay_us, "jitter_us", (json_int_t)n->jitter_us, "loss",
                     (json_int_t)n->loss, "duplicate", (json_int_t)n->duplicate, "reorder",
                     (json_int_t)n->reorder, "corrupt", (json_int_t)n->corrupt, "correlation",
                     (json_int_t)n->correlation, "gap", (json_int_t)n->gap);
}

static uint32_t u32_of(const json_t *j, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(j, key));
    return v < 0 ? 0 : v > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void fl_netemfault_from_json(const json_t *j, struct fl_tc_netem *n)
{
    memset(n, 0, sizeof *n);
    n->delay_us = u32_of(j, "delay_us");
    n->jitter_us = u32_of(j, "jitter_us");
    n->loss = u32_of(j, "loss");
    n->duplicate = u32_of(j, "duplicate");
    n->reorder = u32_of(j, "reorder");
    n->corrupt = u32_of(j, "corrupt");
    n->correlation = u32_of(j, "correlation");
    n->gap = u32_of(j, "gap");
}

/* ---- the netem-only kinds ---- */

static int percent_of(const json_t *params, const char *key, bool required, double *out,
                      struct fl_err *e)
{
    json_t *v = json_object_get(params, key);

    if (!v) {
        *out = 0;
        return required
                   ? fl_err_set(e, FL_EUSAGE, "--%s PERCENT is required (e.g. --%s 5)", key, key)
                   : 0;
    }
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100 ||
        (required && json_number_value(v) <= 0))
        return fl_err_set(e, FL_EUSAGE, "--%s must be a percentage %s 0 to 100", key,
                          required ? "above" : "from");
    *out = json_number_value(v);
    return 0;
}

/* --percent and --correlation, into *prob and n->correlation. */
static int fill_prob(const json_t *params, uint32_t *prob, struct fl_tc_netem *n, struct fl_err *e)
{
    double p, c;
    int r;

    if ((r = percent_of(params, "percent", true, &p, e)) ||
        (r = percent_of(params, "correlation", false, &c, e)))
        return r;
    *prob = fl_tc_netem_prob(p);
    n->correlation = fl_tc_netem_prob(c);
    return 0;
}

static int dup_fill(const json_t *params, struct fl_tc_netem *n, struct fl_err *e)
{
    return fill_prob(params, &n->duplicate, n, e);
}

static int corrupt_fill(const json_t *params, struct fl_tc_netem *n, struct fl_err *e)
{
    return fill_prob(params, &n->corrupt, n, e);
}

static int reorder_fill(const json_t *params, struct fl_tc_netem *n, struct fl_err *e)
{
    json_t *lat = json_object_get(params, "latency");
    long long gap = fl_param_int(params, "gap", 0);
    int r;

    if ((r = fill_prob(params, &n->reorder, n, e)))
        return r;
    if (!lat)
        return fl_err_set(e, FL_EUSAGE,
                          "--latency DURATION is required: netem reorders by sending some "
                          "packets at once while the others wait --latency (e.g. --latency 10ms)");
    if (!json_is_integer(lat) || json_integer_value(lat) < 1 ||
        json_integer_value(lat) > MAX_LATENCY_MS)
        return fl_err_set(e, FL_EUSAGE, "--latency must be from 1ms to 1m");
    if (gap < 0 || gap > 1000000)
        return fl_err_set(e, FL_EUSAGE, "--gap must be from 0 to 1000000");
    n->delay_us = (uint32_t)(json_integer_value(lat) * 1000);
    n->gap = (uint32_t)gap;
    return 0;
}

static void prob_effect(const json_t *params, const char *verb, char *buf, size_t len)
{
    double c = fl_param_real(params, "correlation", 0);
    int o = snprintf(buf, len, "%s %g%% of packets", verb, fl_param_real(params, "percent", 0));

    if (c > 0 && o > 0 && (size_t)o < len)
        snprintf(buf + o, len - (size_t)o, " (correlation %g%%)", c);
}

static void dup_effect(const json_t *params, char *buf, size_t len)
{
    prob_effect(params, "duplicate", buf, len);
}

static void corrupt_effect(const json_t *params, char *buf, size_t len)
{
    prob_effect(params, "corrupt one bit in", buf, len);
}

static void reorder_effect(const json_t *params, char *buf, size_t len)
{
    char p[96];
    long long gap = fl_param_int(params, "gap", 0);
    int o;

    prob_effect(params, "send at once", p, sizeof p);
    o = snprintf(buf, len, "%s, delay the rest %lldms", p, fl_param_int(params, "latency", 0));
    if (gap && o > 0 && (size_t)o < len)
        snprintf(buf + o, len - (size_t)o, " (every %lldth packet only)", gap);
}

#define FALLBACK                                                                                   \
    "There is no userspace fallback for this kind; use network.loss, network.bandwidth, the "      \
    "partition kinds or the proxy kinds (network.delay --target & co.) instead"

static const struct fl_netem_kind dup_k = {"network.duplicate", dup_fill, dup_effect, FALLBACK,
                                           NULL};
static const struct fl_netem_kind reorder_k = {"network.reorder", reorder_fill, reorder_effect,
                                               FALLBACK, NULL};
static const struct fl_netem_kind corrupt_k = {"network.corrupt", corrupt_fill, corrupt_effect,
                                               FALLBACK, NULL};

static int ops_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    return fl_netemfault_check(ops->impl, params, e);
}

static int ops_plan(struct fl_fault *f, struct fl_err *e)
{
    return fl_netemfault_plan_kind(f, f->ops->impl, e);
}

static void ops_describe(const struct fl_fault *f, char *buf, size_t len)
{
    fl_netemfault_describe_kind(f, f->ops->impl, buf, len);
}

/* clang-format off */
#define NETEM_COMMON_OPTS \
    FL_NETNS_OPTS, \
    FL_NETEM_DEV_OPT("act on this device's egress; repeatable (default in a namespace: every " \
                     "device but lo; required on the host). Needs kernel netem (sch_netem), " \
                     "probed at run time; FAULTLINE_NETEM=off: never use it"), \
    {"percent", FL_OPT_PERCENT, FL_OPT_REQUIRED, "PERCENT", \
     "share of packets affected, drawn per packet", NULL, 0, 0}, \
    {"correlation", FL_OPT_PERCENT, 0, "PERCENT", \
     "how much each draw depends on the previous one (netem's correlation; default 0)", NULL, 0, 0}
/* clang-format on */

static const struct fl_opt prob_opts[] = {NETEM_COMMON_OPTS, FL_OPT_END};

static const struct fl_opt reorder_opts[] = {
    NETEM_COMMON_OPTS,
    {"latency", FL_OPT_DURATION, FL_OPT_REQUIRED, "DURATION",
     "the delay of the packets that are not sent at once (required)", NULL, 0, 0},
    {"gap", FL_OPT_INT, 0, "N",
     "reorder only every N-th packet (then with --percent chance); default 0: any packet", NULL, 0,
     1000000},
    FL_OPT_END,
};

#define NETEM_OPS(sym, name, sum, o, k)                                                            \
    const struct fl_fault_ops sym = {                                                              \
        .kind = name,                                                                              \
        .summary = sum,                                                                            \
        .opts = o,                                                                                 \
        .validate = ops_validate,                                                                  \
        .plan = ops_plan,                                                                          \
        .inject = fl_netemfault_inject,                                                            \
        .revert = fl_netemfault_revert,                                                            \
        .describe = ops_describe,                                                                  \
        .claims = fl_netemfault_claims,                                                            \
        .impl = &k,                                                                                \
    }

NETEM_OPS(fl_fault_network_duplicate, "network.duplicate",
          "duplicate a share of the packets a namespace sends (kernel netem)", prob_opts, dup_k);
NETEM_OPS(fl_fault_network_reorder, "network.reorder",
          "reorder packets a namespace sends: some go at once, the rest wait (kernel netem)",
          reorder_opts, reorder_k);
NETEM_OPS(fl_fault_network_corrupt, "network.corrupt",
          "flip one bit in a share of the packets a namespace sends (kernel netem)", prob_opts,
          corrupt_k);
