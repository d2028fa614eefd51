/* What the proxy-backed fault kinds share (proxy_common.h): a fault worker
 * process running a transparent proxy in the fault's namespace. */
#include "faults/proxy_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/network_common.h"
#include "faults/worker.h"
#include "net/peer.h"
#include "proxy/worker.h"
#include "util/log.h"
#include "util/time.h"

void fl_pxfault_format_ms(long long ms, char *buf, size_t len)
{
    if (ms >= 1000 && ms % 1000 == 0)
        snprintf(buf, len, "%llds", ms / 1000);
    else if (ms >= 1000)
        snprintf(buf, len, "%gs", (double)ms / 1000.0);
    else
        snprintf(buf, len, "%lldms", ms);
}

/* Append the addresses of params[key] (one string, as experiment files
 * write it, or an array) to *out. */
static int targets_add(const json_t *params, const char *key, struct fl_net_peer **out, size_t *n,
                       struct fl_err *e)
{
    json_t *v = json_object_get(params, key);
    size_t cnt;
    struct fl_net_peer *nv;

    if (!v)
        return 0;
    if (!json_is_string(v) && !json_is_array(v))
        return fl_err_set(e, FL_EUSAGE, "--%s must be an address or a list of addresses", key);
    cnt = json_is_string(v) ? 1 : json_array_size(v);
    if (!cnt)
        return 0;
    if (!(nv = realloc(*out, (*n + cnt) * sizeof *nv)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    *out = nv;
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s))
            return fl_err_set(e, FL_EUSAGE, "--%s must be an address or a list of addresses", key);
        if (fl_net_peer_parse(json_string_value(s), &nv[*n], e))
            return fl_err_prefix(e, "--%s", key);
        (*n)++;
    }
    return 0;
}

/* params.target and params.endpoint (its alias), together. */
static int targets_parse(const json_t *params, struct fl_net_peer **out, size_t *n,
                         struct fl_err *e)
{
    int r;

    *out = NULL;
    *n = 0;
    if ((r = targets_add(params, "target", out, n, e)) ||
        (r = targets_add(params, "endpoint", out, n, e)))
        return r;
    if (!*n)
        return fl_err_set(e, FL_EUSAGE,
                          "--target ADDR[:PORT] is required: the service whose new TCP "
                          "connections go through the proxy (e.g. --target 10.0.0.2:6379; in "
                          "experiment files: endpoint: 10.0.0.2:6379)");
    return 0;
}

static int common_check(const struct fl_pxfault_kind *k, const json_t *params, json_t **attrs,
                        struct fl_err *e)
{
    json_t *dir = json_object_get(params, "direction");
    json_t *pct = json_object_get(params, "percent");
    json_t *hs = json_object_get(params, "hard-stop");
    struct fl_net_peer *t = NULL;
    size_t n;
    int r;

    *attrs = NULL;
    if ((r = fl_netns_validate(params, e)))
        return r;
    r = targets_parse(params, &t, &n, e);
    free(t);
    if (r)
        return r;
    if (dir && (!json_is_string(dir) || (strcmp(json_string_value(dir), "downstream") &&
                                         strcmp(json_string_value(dir), "upstream") &&
                                         strcmp(json_string_value(dir), "both"))))
        return fl_err_set(e, FL_EUSAGE,
                          "--direction must be downstream (server to client), upstream (client "
                          "to server) or both");
    if (pct &&
        (!json_is_number(pct) || json_number_value(pct) <= 0 || json_number_value(pct) > 100))
        return fl_err_set(e, FL_EUSAGE,
                          "--percent must be a number above 0 and at most 100: the share of "
                          "new connections the fault affects");
    if (hs && (!json_is_integer(hs) || json_integer_value(hs) <= 0))
        return fl_err_set(e, FL_EUSAGE, "--hard-stop must be a positive duration (e.g. 10m)");
    if (k->attributes(params, attrs, e))
        return fl_err_prefix(e, "%s", k->kind);
    return 0;
}

int fl_pxfault_after_attrs(const json_t *params, json_t **attrs, struct fl_err *e)
{
    (void)e; /* --after is a duration the option table bounds (validate) */
    *attrs = json_pack("{s:I}", "timeout", (json_int_t)fl_param_int(params, "after", 0));
    return 0;
}

int fl_pxfault_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    const struct fl_pxfault_kind *k = ops->impl;
    json_t *attrs = NULL;
    int r = fl_opts_check_bounds(ops->opts, params, e);

    if (r)
        return r;
    r = common_check(k, params, &attrs, e);

    json_decref(attrs);
    return r;
}

int fl_pxfault_plan(struct fl_fault *f, struct fl_err *e)
{
    const struct fl_pxfault_kind *k = f->ops->impl;
    const char *dir = fl_param_str(f->params, "direction", "downstream");
    double pct = fl_param_real(f->params, "percent", 100.0);
    int64_t hard =
        fl_fault_self_stop_ms(f, FL_PXFAULT_HARD_STOP_GRACE_MS, FL_PXFAULT_DEFAULT_HARD_STOP_MS);
    struct fl_netns_scope scope;
    struct fl_net_peer *t = NULL;
    json_t *attrs = NULL, *targets, *toxics, *cfg;
    char table[64];
    size_t n;
    int r;

    if ((r = common_check(k, f->params, &attrs, e)))
        goto out;
    if ((r = targets_parse(f->params, &t, &n, e)))
        goto out;
    if ((r = fl_netns_resolve(f->params, &scope, e)))
        goto out;
    snprintf(table, sizeof table, FL_NFT_TABLE_PREFIX "%s", f->id);
    targets = json_array();
    for (size_t i = 0; i < n; i++) {
        char buf[96];
        fl_net_peer_format(&t[i], true, buf, sizeof buf);
        json_array_append_new(targets, json_string(buf));
    }
    toxics = json_array();
    for (int s = 0; s < 2; s++) {
        const char *stream = s ? "downstream" : "upstream";
        char name[96];
        if (strcmp(dir, "both") && strcmp(dir, stream))
            continue;
        snprintf(name, sizeof name, "%s_%s", k->kind, stream);
        json_array_append_new(toxics, json_pack("{s:s, s:s, s:s, s:f, s:O}", "name", name, "type",
                                                k->toxic, "stream", stream, "toxicity", pct / 100.0,
                                                "attributes", attrs));
    }
    cfg = json_pack("{s:s, s:o, s:o, s:o, s:I, s:b}", "id", f->id, "scope",
                    fl_netns_to_json(&scope), "targets", targets, "toxics", toxics, "deadline_ms",
                    (json_int_t)(fl_now_ms() + hard), "prerouting", 1);
    json_object_set_new(f->undo, "scope", fl_netns_to_json(&scope));
    json_object_set_new(f->undo, "family", json_string("inet"));
    json_object_set_new(f->undo, "table", json_string(table));
    json_object_set_new(f->undo, "deadline_ms", json_incref(json_object_get(cfg, "deadline_ms")));
    json_object_set_new(f->undo, "config", cfg);
out:
    json_decref(attrs);
    free(t);
    return r;
}

static const struct fl_fault_worker_spec px_worker = {
    .subcommand = "proxy",
    .flag = FL_PX_WORKER_FLAG,
    .what = "proxy fault worker",
    /* For debugging (and the sanitizer builds' tests): where the worker's
     * stderr goes; by default /dev/null, as for every detached helper. */
    .log_env = "FAULTLINE_PROXY_WORKER_LOG",
};

int fl_pxfault_inject(struct fl_fault *f, struct fl_err *e)
{
    json_t *cfg = json_object_get(f->undo, "config");
    int port = 0, r;

    if (!cfg)
        return fl_err_set(e, FL_EFAIL, "%s: the plan holds no proxy configuration", f->ops->kind);
    if ((r = fl_fault_worker_spawn(&px_worker, cfg, f->undo, &port, e)) < 0)
        return r;
    if (port <= 0)
        return fl_err_set(e, FL_EFAIL, "the proxy worker reported no port");
    json_object_set_new(f->undo, "port", json_integer(port));
    fl_debug("%s: proxy worker listens on port %d", f->id, port);
    return 0;
}

int fl_pxfault_revert(const struct fl_fault *f, struct fl_err *e)
{
    return fl_netfault_revert_worker(f, &px_worker, e);
}

void fl_pxfault_describe(const struct fl_fault *f, char *buf, size_t len)
{
    const struct fl_pxfault_kind *k = f->ops->impl;
    const char *dir = fl_param_str(f->params, "direction", "downstream");
    double pct = fl_param_real(f->params, "percent", 100.0);
    char scope[300], effect[160], targets[300] = "", share[48] = "";
    size_t o = 0;

    fl_netfault_scope_text(f, scope, sizeof scope);
    k->effect(f->params, effect, sizeof effect);
    for (int key = 0; key < 2; key++) {
        json_t *t = json_object_get(f->params, key ? "endpoint" : "target");
        size_t cnt = json_is_array(t) ? json_array_size(t) : t ? 1 : 0;
        for (size_t i = 0; i < cnt && o + 1 < sizeof targets; i++) {
            const char *s = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
            o += (size_t)snprintf(targets + o, sizeof targets - o, "%s%s", o ? ", " : "",
                                  s ? s : "?");
        }
    }
    if (pct < 100)
        snprintf(share, sizeof share, " (%g%% of them)", pct);
    snprintf(buf, len, "%s on %s data of new TCP connections to %s%s in %s (userspace proxy)",
             effect,
             !strcmp(dir, "both")       ? "both directions'"
             : !strcmp(dir, "upstream") ? "the client-to-server"
                                        : "the server-to-client",
             targets, share, scope);
}

/* The first redirect of a connection wins, so a second proxy fault on the
 * same target would never see its traffic: each target is an exclusive
 * claim. */
void fl_pxfault_claims(const struct fl_fault *f, json_t *out)
{
    json_t *targets = json_object_get(json_object_get(f->undo, "config"), "targets"), *t;
    char scope[300], key[512];
    size_t i;

    fl_netfault_scope_id(f, scope, sizeof scope);
    json_array_foreach (targets, i, t) {
        snprintf(key, sizeof key, "traffic to %s in %s (redirected to a proxy)",
                 json_string_value(t), scope);
        json_object_set_new(out, key, json_integer(FL_CLAIM_EXCLUSIVE));
    }
}

int fl_pxfault_sweep(struct fl_sweep_report *rep, struct fl_err *e)
{
    (void)e;
    return fl_fault_worker_sweep(&px_worker, rep);
}
