/* The proxy fault kinds' pure parts: option validation of network.delay,
 * network.jitter, network.reset, network.timeout and network.slow, the
 * worker configuration plan() records, describe(), and the redirect rule
 * text. Nothing here starts a worker; the live path is tested end to end
 * in tests/e2e/test_proxy_faults.py. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "faults/fault.h"
#include "net/peer.h"
#include "net/redirect.h"
#include "proxy/proxy.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    cr_assert(j, "bad test JSON: %s", s);
    return j;
}

static int validate(const char *kind, const char *params, struct fl_err *e)
{
    const struct fl_fault_ops *ops = fl_fault_lookup(kind);
    json_t *p = J(params);
    int r;

    cr_assert(ops, "%s is not registered", kind);
    memset(e, 0, sizeof *e);
    r = fl_opts_check_required(ops->opts, p, e);
    if (!r)
        r = ops->validate(ops, p, e);
    json_decref(p);
    return r;
}

static void ok(const char *kind, const char *params)
{
    struct fl_err e;
    cr_assert_eq(validate(kind, params, &e), 0, "%s %s: %s", kind, params, e.msg);
}

static void bad(const char *kind, const char *params, const char *needle)
{
    struct fl_err e;
    int r = validate(kind, params, &e);
    cr_assert_eq(r, -FL_EUSAGE, "%s %s: expected a usage error, got %d (%s)", kind, params, r,
                 e.msg);
    cr_assert(strstr(e.msg, needle), "%s %s: message '%s' lacks '%s'", kind, params, e.msg, needle);
}

Test(proxy_faults, registered_not_unavailable)
{
    const char *kinds[] = {"network.delay", "network.jitter", "network.reset", "network.timeout",
                           "network.slow"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const struct fl_fault_ops *ops = fl_fault_lookup(kinds[i]);
        cr_assert(ops, "%s", kinds[i]);
        cr_assert(ops->revert && ops->plan && ops->inject && ops->validate && ops->describe);
        cr_assert_null(fl_fault_unavailable_reason(kinds[i]), "%s", kinds[i]);
    }
    /* the netem-only kinds are registered too: they say at plan time (exit
     * 6) when the kernel lacks sch_netem */
    const char *netem[] = {"network.duplicate", "network.reorder", "network.corrupt"};
    for (size_t i = 0; i < sizeof netem / sizeof netem[0]; i++) {
        cr_assert(fl_fault_lookup(netem[i]), "%s", netem[i]);
        cr_assert_null(fl_fault_unavailable_reason(netem[i]), "%s", netem[i]);
    }
}

Test(proxy_faults, delay_options)
{
    ok("network.delay", "{\"target\":[\"10.0.0.2:80\"],\"latency\":200}");
    ok("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":200,\"jitter\":20,"
                        "\"direction\":\"both\",\"percent\":50,\"netns\":\"n1\"}");
    ok("network.delay", "{\"endpoint\":\"10.0.0.0/24\",\"latency\":1}");
    ok("network.delay", "{\"target\":[\"[fd00::2]:443\",\"10.0.0.2\"],\"latency\":5}");
    bad("network.delay", "{\"latency\":200}", "--target");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\"}", "--latency");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":0}", "--latency");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":3600001}", "--latency");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":10,\"jitter\":-1}", "--jitter");
    bad("network.delay", "{\"target\":\"db.example:80\",\"latency\":10}", "--target");
    bad("network.delay", "{\"target\":\"10.0.0.2:99999\",\"latency\":10}", "--target");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":10,\"direction\":\"in\"}",
        "--direction");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":10,\"percent\":0}", "--percent");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":10,\"percent\":101}",
        "--percent");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":10,\"hard-stop\":0}",
        "--hard-stop");
    bad("network.delay", "{\"target\":\"10.0.0.2:80\",\"latency\":10,\"netns\":\"a\",\"pid\":1}",
        "");
    bad("network.delay", "{\"target\":5,\"latency\":10}", "--target");
}

Test(proxy_faults, other_kinds_options)
{
    ok("network.jitter", "{\"target\":\"10.0.0.2:80\",\"jitter\":50}");
    bad("network.jitter", "{\"target\":\"10.0.0.2:80\"}", "--jitter");
    bad("network.jitter", "{\"target\":\"10.0.0.2:80\",\"jitter\":0}", "--jitter");
    ok("network.reset", "{\"target\":\"10.0.0.2:80\"}");
    ok("network.reset", "{\"target\":\"10.0.0.2:80\",\"after\":2000}");
    bad("network.reset", "{\"target\":\"10.0.0.2:80\",\"after\":\"soon\"}", "--after");
    ok("network.timeout", "{\"target\":\"10.0.0.2:80\"}");
    ok("network.slow", "{\"target\":\"10.0.0.2:80\",\"rate\":1000000}");
    bad("network.slow", "{\"target\":\"10.0.0.2:80\"}", "--rate");
    bad("network.slow", "{\"target\":\"10.0.0.2:80\",\"rate\":7999}", "--rate");
}

/* plan() records the worker's whole configuration (own namespace scope). */
Test(proxy_faults, plan_records_worker_config)
{
    struct fl_fault f;
    struct fl_err e = {0};
    json_t *cfg, *tx;
    char desc[512];

    cr_assert_eq(fl_fault_init(&f, fl_fault_lookup("network.delay"),
                               J("{\"target\":\"10.0.0.2:80\",\"latency\":200,\"jitter\":10,"
                                 "\"direction\":\"both\",\"percent\":25}")),
                 0);
    snprintf(f.id, sizeof f.id, "0badf00d");
    f.duration_ms = 3000;
    cr_assert_eq(f.ops->plan(&f, &e), 0, "%s", e.msg);
    cr_assert_str_eq(json_string_value(json_object_get(f.undo, "table")), "faultline_0badf00d");
    cfg = json_object_get(f.undo, "config");
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "id")), "0badf00d");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cfg, "targets"), 0)),
                     "10.0.0.2:80");
    tx = json_object_get(cfg, "toxics");
    cr_assert_eq(json_array_size(tx), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tx, 0), "stream")),
                     "upstream");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tx, 1), "type")), "latency");
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(tx, 1), "toxicity")), 0.25,
                       1e-9);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_array_get(tx, 1), "attributes"), "latency")),
                 200);
    cr_assert(json_integer_value(json_object_get(cfg, "deadline_ms")) > 0);
    fl_fault_describe(&f, desc, sizeof desc);
    cr_assert(strstr(desc, "200ms latency (±10ms) on both directions' data of new TCP "
                           "connections to 10.0.0.2:80 (25% of them)"),
              "%s", desc);
    /* never started: revert has no worker to stop and no table to find */
    fl_fault_fini(&f);
}

Test(proxy_faults, describe_before_plan)
{
    struct fl_fault f;
    char desc[512];

    cr_assert_eq(fl_fault_init(&f, fl_fault_lookup("network.timeout"),
                               J("{\"target\":\"10.0.0.2:80\",\"netns\":\"n1\",\"after\":"
                                 "1500}")),
                 0);
    fl_fault_describe(&f, desc, sizeof desc);
    cr_assert(strstr(desc, "no data, then close after 1.5s"), "%s", desc);
    cr_assert(strstr(desc, "netns n1"), "%s", desc);
    fl_fault_fini(&f);
}

Test(redirect, rules)
{
    struct fl_net_peer t[2];
    struct fl_err e = {0};
    char *s = NULL;

    cr_assert_eq(fl_net_peer_parse("10.0.0.2:6379", &t[0], &e), 0);
    cr_assert_eq(fl_net_peer_parse("[fd00::/64]", &t[1], &e), 0, "%s", e.msg);
    struct fl_redirect_spec spec = {
        .table = "faultline_0badf00d",
        .targets = t,
        .ntargets = 2,
        .listen_port = 41000,
        .mark = FL_PX_MARK,
        .owner = true,
        .prerouting = true,
    };
    cr_assert_eq(fl_redirect_render(&spec, &s, &e), 0, "%s", e.msg);
    cr_assert(strstr(s, "table inet faultline_0badf00d {\n\tflags owner\n"), "%s", s);
    cr_assert(strstr(s, "type nat hook output priority -100;"), "%s", s);
    cr_assert(strstr(s, "meta mark 0xfa170000 return"), "%s", s);
    cr_assert(strstr(s, "ip daddr 10.0.0.2 meta l4proto tcp tcp dport 6379 tcp flags & (fin | "
                        "syn | rst | ack) == syn redirect to :41000"),
              "%s", s);
    cr_assert(strstr(s, "ip6 daddr fd00::/64 meta l4proto tcp tcp flags"), "%s", s);
    cr_assert(strstr(s, "type nat hook prerouting priority -100;"), "%s", s);
    /* the exemption precedes every redirect of the output chain */
    cr_assert(strstr(s, "return") < strstr(s, "redirect"));
    free(s);

    spec.prerouting = false;
    spec.owner = false;
    cr_assert_eq(fl_redirect_render(&spec, &s, &e), 0);
    cr_assert_null(strstr(s, "prerouting"));
    cr_assert_null(strstr(s, "owner"));
    free(s);

    spec.table = "faultline_x; flush ruleset";
    cr_assert_neq(fl_redirect_render(&spec, &s, &e), 0);
    spec.table = "faultline_ok";
    spec.listen_port = 0;
    cr_assert_neq(fl_redirect_render(&spec, &s, &e), 0);
    spec.listen_port = 1;
    spec.ntargets = 0;
    cr_assert_neq(fl_redirect_render(&spec, &s, &e), 0);
}
