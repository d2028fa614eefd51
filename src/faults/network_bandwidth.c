/* network.bandwidth: limit the egress rate of the scope's devices with a
 * token bucket (tbf) root qdisc installed through libnl.
 *
 * Egress only: shaping what a namespace receives needs an ifb device to
 * redirect ingress into; shape the sending side instead (apply the fault in
 * the peer's namespace). In a namespace the default is every device but
 * loopback; in the host namespace --dev is required, so an experiment never
 * shapes the host's uplink by accident. A device whose root qdisc someone
 * configured (a non-zero handle) is refused, never replaced; the kernel's
 * default qdiscs (handle 0) are replaced, and come back when faultline's
 * qdisc (handle fa17:) is deleted on revert.
 *
 * undo: "scope", "devices": [{"name", "ifindex", "burst"}], "rate_bps",
 * "latency_us". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/network_common.h"
#include "faults/root_qdisc.h"
#include "net/tc.h"
#include "util/log.h"
#include "util/parse.h"

#define DEFAULT_LATENCY_MS 50

static const struct fl_opt opts[] = {
    FL_NETNS_OPTS,
    {"rate", FL_OPT_RATE, FL_OPT_REQUIRED, "RATE",
     "egress rate limit: 1mbit, 500kbit, 10mbit, 125kbps (bytes), ...", NULL, 0, 0},
    {"dev", FL_OPT_STRING, FL_OPT_MULTI, "IFACE",
     "shape this device (default in a namespace: every device but lo; required on the host)", NULL,
     0, 0},
    {"burst", FL_OPT_SIZE, 0, "SIZE",
     "token bucket size (default: 20ms of the rate, at least two full frames; 64B to 1GiB)", NULL,
     64, 1LL << 30},
    {"latency", FL_OPT_DURATION, 0, "DURATION",
     "longest a packet may wait in the queue before it is dropped (default 50ms; up to 1m)", NULL,
     1, 60000},
    {"direction", FL_OPT_ENUM, 0, "out", "only out (egress) is supported", "in|out|both", 0, 0},
    FL_OPT_END,
};

static int bw_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    json_t *rate = json_object_get(params, "rate");
    json_t *dev = json_object_get(params, "dev");
    const char *dir = fl_param_str(params, "direction", "out");
    int r;

    if ((r = fl_netns_validate(params, e)))
        return r;
    if (strcmp(dir, "out"))
        return fl_err_set(e, dir[0] == 'i' || dir[0] == 'b' ? FL_EUNSUPPORTED : FL_EUSAGE,
                          "network.bandwidth shapes egress only (--direction out): shaping "
                          "what a namespace receives needs an ifb device, which faultline "
                          "does not set up; apply the fault to the sending side (its netns) "
                          "instead");
    if (!rate)
        return fl_err_set(e, FL_EUSAGE, "--rate RATE is required (e.g. --rate 1mbit)");
    if (!json_is_integer(rate) || json_integer_value(rate) < 8 ||
        (unsigned long long)json_integer_value(rate) > FL_TC_RATE_MAX_BPS)
        return fl_err_set(e, FL_EUSAGE, "--rate must be from 8bit to %llugbit",
                          FL_TC_RATE_MAX_BPS / 1000000000ULL);
    if (dev) {
        json_t *arr = json_is_string(dev) ? NULL : dev;
        if (!json_is_string(dev) && !json_is_array(dev))
            return fl_err_set(e, FL_EUSAGE, "--dev must be a device name or a list of them");
        for (size_t i = 0; arr && i < json_array_size(arr); i++) {
            const char *n = json_string_value(json_array_get(arr, i));
            if (!n || !*n || strlen(n) >= IF_NAMESIZE || strchr(n, '/'))
                return fl_err_set(e, FL_EUSAGE, "--dev '%s' is not a network device name",
                                  n ? n : "");
        }
    }
    if (!dev && !json_object_get(params, "netns") && !json_object_get(params, "pid") &&
        !json_object_get(params, "container"))
        return fl_err_set(e, FL_EUSAGE,
                          "network.bandwidth on the host needs --dev IFACE: faultline never "
                          "shapes the host's devices by default (that could cut off your own "
                          "session); name the device, or use --netns/--pid/--container");
    /* --burst and --latency: their ranges are the table's */
    return fl_opts_check_bounds(ops->opts, params, e);
}

static int bw_plan(struct fl_fault *f, struct fl_err *e)
{
    unsigned long long rate = (unsigned long long)fl_param_int(f->params, "rate", 0);
    long long burst = fl_param_int(f->params, "burst", 0);
    long long lat_ms = fl_param_int(f->params, "latency", DEFAULT_LATENCY_MS);
    struct fl_netns_scope scope;
    struct fl_tc_dev *devs = NULL;
    size_t n = 0;
    char where[300];
    json_t *jdevs;
    int r;

    if ((r = bw_validate(f->ops, f->params, e)))
        return r;
    if ((r = fl_netns_resolve(f->params, &scope, e)))
        return r;
    fl_netns_describe(&scope, where, sizeof where);
    if ((r = fl_rootq_devices(f, &scope, where, &devs, &n, e)))
        return r;
    jdevs = json_array();
    for (size_t i = 0; i < n && !r; i++) {
        uint32_t b = burst ? (uint32_t)burst : fl_tc_tbf_default_burst(rate, devs[i].mtu);
        if (b < devs[i].mtu + 14)
            r = fl_err_set(e, FL_EUSAGE,
                           "--burst %u is smaller than one frame on %s (mtu %u): nothing could "
                           "pass; use at least %u",
                           b, devs[i].name, devs[i].mtu, devs[i].mtu + 14);
        json_t *d = json_object();
        json_object_set_new(d, "name", json_string(devs[i].name));
        json_object_set_new(d, "ifindex", json_integer(devs[i].ifindex));
        json_object_set_new(d, "burst", json_integer(b));
        json_array_append_new(jdevs, d);
    }
    free(devs);
    if (r) {
        json_decref(jdevs);
        return r;
    }
    json_object_set_new(f->undo, "scope", fl_netns_to_json(&scope));
    json_object_set_new(f->undo, "devices", jdevs);
    json_object_set_new(f->undo, "rate_bps", json_integer((json_int_t)rate));
    json_object_set_new(f->undo, "latency_us", json_integer(lat_ms * 1000));
    return 0;
}

static int tbf_add(const json_t *dev, int ifindex, const char *name, const void *arg,
                   struct fl_err *e)
{
    struct fl_tc_tbf t = *(const struct fl_tc_tbf *)arg;

    t.burst = (uint32_t)json_integer_value(json_object_get(dev, "burst"));
    return fl_tc_tbf_add(ifindex, name, &t, e);
}

static int bw_inject(struct fl_fault *f, struct fl_err *e)
{
    struct fl_tc_tbf t = {
        .rate_bps = (uint64_t)json_integer_value(json_object_get(f->undo, "rate_bps")),
        .latency_us = (uint32_t)json_integer_value(json_object_get(f->undo, "latency_us")),
    };

    return fl_rootq_apply(f, tbf_add, &t, e);
}

/* "limit egress of netns n1 (veth0, veth1) to 2mbit/s (burst 5KiB, queue up to 50ms)" */
static void bw_describe(const struct fl_fault *f, char *buf, size_t len)
{
    json_t *devs = json_object_get(f->undo, "devices");
    const char *names[32];
    size_t nnames = fl_rootq_dev_names(f->params, names, 32), o = 0;
    char scope[300], rate[32], devtxt[256] = "", burst[32] = "";

    fl_netfault_scope_text(f, scope, sizeof scope);
    fl_netfault_format_rate((unsigned long long)fl_param_int(f->params, "rate", 0), rate,
                            sizeof rate);
    if (devs) {
        for (size_t i = 0; i < json_array_size(devs) && o < sizeof devtxt; i++)
            o += (size_t)snprintf(
                devtxt + o, sizeof devtxt - o, "%s%s", i ? ", " : "",
                json_string_value(json_object_get(json_array_get(devs, i), "name")));
        if (json_array_size(devs)) {
            uint64_t b =
                (uint64_t)json_integer_value(json_object_get(json_array_get(devs, 0), "burst"));
            if (b % 1024 == 0 || b >= UINT64_C(100) * 1024)
                fl_format_size(b, burst, sizeof burst);
            else
                snprintf(burst, sizeof burst, "%lluB", (unsigned long long)b);
        }
    } else {
        for (size_t i = 0; i < nnames && o < sizeof devtxt; i++)
            o += (size_t)snprintf(devtxt + o, sizeof devtxt - o, "%s%s", i ? ", " : "", names[i]);
        if (!nnames)
            snprintf(devtxt, sizeof devtxt, "every device but lo");
    }
    snprintf(buf, len, "limit egress of %s (%s) to %s/s (%s%s%squeue up to %lldms)", scope, devtxt,
             rate, *burst ? "burst " : "", burst, *burst ? ", " : "",
             fl_param_int(f->params, "latency", DEFAULT_LATENCY_MS));
}

const struct fl_fault_ops fl_fault_network_bandwidth = {
    .kind = "network.bandwidth",
    .summary = "limit the egress rate of a namespace's devices (tbf qdisc)",
    .opts = opts,
    .flags = 0,
    .validate = bw_validate,
    .plan = bw_plan,
    .inject = bw_inject,
    .revert = fl_rootq_revert,
    .describe = bw_describe,
    .claims = fl_rootq_claims,
};
