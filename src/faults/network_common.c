/* What the packet-filter network kinds share (network_common.h): options,
 * the nft rule set, apply in the scope's namespace, revert. */
#include "faults/network_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/worker.h"
#include "net/nft.h"
#include "util/log.h"

/* params.peer may be one string (experiment files) or an array of them. */
static int peers_from_params(const json_t *params, struct fl_netfilter *nf, struct fl_err *e)
{
    json_t *v = json_object_get(params, "peer");
    size_t n, i;

    if (!v)
        return 0;
    if (json_is_string(v)) {
        n = 1;
    } else if (json_is_array(v)) {
        n = json_array_size(v);
    } else {
        return fl_err_set(e, FL_EUSAGE, "--peer must be an address or a list of addresses");
    }
    if (n == 0)
        return 0;
    if (!(nf->peers = calloc(n, sizeof *nf->peers)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (i = 0; i < n; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s))
            return fl_err_set(e, FL_EUSAGE, "--peer must be an address or a list of addresses");
        if (fl_net_peer_parse(json_string_value(s), &nf->peers[i], e))
            return fl_err_prefix(e, "--peer");
        nf->npeers++;
    }
    return 0;
}

int fl_netfilter_parse(const struct fl_netfilter_kind *k, const json_t *params,
                       struct fl_netfilter *nf, struct fl_err *e)
{
    const char *dir = fl_param_str(params, "direction", k->default_direction);
    json_t *port = json_object_get(params, "port");
    json_t *pct = json_object_get(params, "percent");
    int r;

    memset(nf, 0, sizeof *nf);
    if ((r = fl_netns_validate(params, e)))
        return r;
    if ((r = peers_from_params(params, nf, e)))
        return r;
    if (k->peer_required && !nf->npeers)
        return fl_err_set(e, FL_EUSAGE,
                          "%s needs at least one --peer ADDR[/PREFIX][:PORT]: the other side of "
                          "the traffic to cut",
                          k->kind);
    if (json_object_get(params, "direction") &&
        !json_is_string(json_object_get(params, "direction")))
        return fl_err_set(e, FL_EUSAGE, "--direction must be in, out or both");
    if (!strcmp(dir, "in") || !strcmp(dir, "both"))
        nf->in = true;
    if (!strcmp(dir, "out") || !strcmp(dir, "both"))
        nf->out = true;
    if (!nf->in && !nf->out)
        return fl_err_set(e, FL_EUSAGE, "--direction '%s' is not one of in, out, both", dir);
    if (port) /* within 1..65535: the option table's bounds (validate) */
        nf->port = (int)json_integer_value(port);
    if (json_object_get(params, "protocol")) {
        nf->protocol = json_string_value(json_object_get(params, "protocol"));
        if ((r = fl_net_protocol_check(nf->protocol, e)))
            return r;
        if (!fl_net_protocol_has_ports(nf->protocol)) {
            if (nf->port)
                return fl_err_set(e, FL_EUSAGE,
                                  "--protocol %s has no ports: drop --port, or use tcp/udp",
                                  nf->protocol);
            for (size_t i = 0; i < nf->npeers; i++)
                if (nf->peers[i].port)
                    return fl_err_set(e, FL_EUSAGE,
                                      "--protocol %s has no ports: give the peers without "
                                      ":PORT",
                                      nf->protocol);
        }
    }
    if (k->loss) {
        if (!pct)
            return fl_err_set(e, FL_EUSAGE,
                              "--percent P is required: the share of packets "
                              "to drop, 0.01 to 100");
        if (!json_is_number(pct) || json_number_value(pct) > 100 || json_number_value(pct) < 0)
            return fl_err_set(e, FL_EUSAGE, "--percent must be a number from 0.01 to 100");
        nf->percent = json_number_value(pct);
        if (llround(nf->percent * 100) < 1)
            return fl_err_set(e, FL_EUSAGE,
                              "--percent %g drops nothing: the smallest loss is 0.01%%",
                              nf->percent);
    } else if (pct) {
        return fl_err_set(e, FL_EUSAGE, "%s does not take --percent; use network.loss", k->kind);
    }
    return 0;
}

int fl_netfilter_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    const struct fl_netfilter_kind *k = ops->impl;
    struct fl_netfilter nf;
    int r = fl_opts_check_bounds(ops->opts, params, e);

    if (r)
        return r;
    r = fl_netfilter_parse(k, params, &nf, e);
    free(nf.peers);
    return r;
}

int fl_netfilter_plan(struct fl_fault *f, struct fl_err *e)
{
    const struct fl_netfilter_kind *k = f->ops->impl;
    struct fl_netns_scope scope;
    struct fl_netfilter nf;
    struct fl_nft_spec spec;
    char table[64], *script = NULL;
    int r;

    if ((r = fl_netfilter_parse(k, f->params, &nf, e)))
        goto out;
    if ((r = fl_netns_resolve(f->params, &scope, e)))
        goto out;
    snprintf(table, sizeof table, FL_NFT_TABLE_PREFIX "%s", f->id);
    spec = (struct fl_nft_spec){
        .table = table,
        .verdict = k->verdict,
        .loss_per10k = k->loss ? (unsigned)llround(nf.percent * 100) : 0,
        .in = nf.in,
        .out = nf.out,
        .forward = k->forward,
        .peers = nf.peers,
        .npeers = nf.npeers,
        .port = nf.port,
        .protocol = nf.protocol,
    };
    if ((r = fl_nft_render(&spec, &script, e)))
        goto out;
    json_object_set_new(f->undo, "scope", fl_netns_to_json(&scope));
    json_object_set_new(f->undo, "family", json_string(fl_nft_family(&spec)));
    json_object_set_new(f->undo, "table", json_string(table));
    json_object_set_new(f->undo, "nft", json_string(script));
out:
    free(script);
    free(nf.peers);
    return r;
}

int fl_netfault_enter_recorded(const struct fl_fault *f, struct fl_netns_guard *g, struct fl_err *e)
{
    struct fl_netns_scope scope;
    int r;

    g->orig_fd = -1;
    g->switched = false;
    if ((r = fl_netns_from_json(json_object_get(f->undo, "scope"), &scope, e)))
        return r;
    r = fl_netns_enter(&scope, g, e);
    if (r == -FL_ENOTARGET)
        return 0;
    return r < 0 ? r : 1;
}

int fl_netfilter_inject(struct fl_fault *f, struct fl_err *e)
{
    const char *script = json_string_value(json_object_get(f->undo, "nft"));
    struct fl_netns_guard g;
    struct fl_nft *n;
    int r;

    if (!script)
        return fl_err_set(e, FL_EFAIL, "%s: the plan holds no rule set", f->ops->kind);
    r = fl_netfault_enter_recorded(f, &g, e);
    if (r == 0) {
        char where[300];
        fl_netfault_scope_text(f, where, sizeof where);
        return fl_err_set(e, FL_ENOTARGET, "%s disappeared before the fault was applied", where);
    }
    if (r < 0)
        return r;
    if ((n = fl_nft_shared(e))) {
        r = fl_nft_run(n, script, e);
    } else {
        r = -e->code;
    }
    fl_netns_leave(&g);
    return r;
}

int fl_netfilter_revert(const struct fl_fault *f, struct fl_err *e)
{
    const char *table = json_string_value(json_object_get(f->undo, "table"));
    const char *family = json_string_value(json_object_get(f->undo, "family"));
    struct fl_netns_guard g;
    struct fl_nft *n;
    int r;

    if (!table || !json_object_get(f->undo, "scope"))
        return 0; /* never planned, so never applied */
    r = fl_netfault_enter_recorded(f, &g, e);
    if (r <= 0) {
        if (r == 0)
            fl_debug("%s: the namespace is gone, and table %s with it", f->id, table);
        return r;
    }
    if ((n = fl_nft_shared(e))) {
        r = fl_nft_delete_table(n, family ? family : "inet", table, e);
        if (r == 0)
            fl_debug("%s: table %s was already gone", f->id, table);
        r = r < 0 ? r : 0;
    } else {
        r = -e->code;
    }
    fl_netns_leave(&g);
    return r;
}

void fl_netfault_scope_text(const struct fl_fault *f, char *buf, size_t len)
{
    struct fl_netns_scope s;

    if (f->undo && json_object_get(f->undo, "scope") &&
        fl_netns_from_json(json_object_get(f->undo, "scope"), &s, NULL) == 0)
        fl_netns_describe(&s, buf, len);
    else
        fl_netns_describe_params(f->params, buf, len);
}

void fl_netfault_scope_id(const struct fl_fault *f, char *buf, size_t len)
{
    struct fl_netns_scope s;

    if (f->undo && json_object_get(f->undo, "scope") &&
        fl_netns_from_json(json_object_get(f->undo, "scope"), &s, NULL) == 0)
        snprintf(buf, len, "net:[%llu]", (unsigned long long)s.ino);
    else
        fl_netns_describe_params(f->params, buf, len);
}

void fl_netfault_format_rate(unsigned long long bps, char *buf, size_t len)
{
    static const struct {
        unsigned long long unit;
        const char *name;
    } units[] = {{1000000000ULL, "gbit"}, {1000000ULL, "mbit"}, {1000ULL, "kbit"}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (bps < units[i].unit)
            continue;
        if (bps % units[i].unit == 0)
            snprintf(buf, len, "%llu%s", bps / units[i].unit, units[i].name);
        else
            snprintf(buf, len, "%.3g%s", (double)bps / (double)units[i].unit, units[i].name);
        return;
    }
    snprintf(buf, len, "%llubit", bps);
}

/* "10.0.0.2, 10.0.0.3:80" (at most a handful, then "and N more"). */
static void peers_text(const struct fl_netfilter *nf, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = 0;
    for (size_t i = 0; i < nf->npeers && o + 1 < len; i++) {
        char p[80];
        if (i == 4) {
            snprintf(buf + o, len - o, " and %zu more", nf->npeers - i);
            return;
        }
        fl_net_peer_format(&nf->peers[i], true, p, sizeof p);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", p);
    }
}

/* "both directions, tcp port 6379" */
static void filter_text(const struct fl_netfilter *nf, bool with_dir, char *buf, size_t len)
{
    const char *dir = nf->in && nf->out ? "both directions"
                      : nf->in          ? "incoming only"
                                        : "outgoing only";
    const char *proto = nf->protocol ? nf->protocol : nf->port ? "tcp+udp" : NULL;
    char port[32] = "";

    if (nf->port)
        snprintf(port, sizeof port, " port %d", nf->port);
    snprintf(buf, len, "%s%s%s%s", with_dir ? dir : "", with_dir && proto ? ", " : "",
             proto ? proto : "", port);
}

void fl_netfilter_describe(const struct fl_fault *f, char *buf, size_t len)
{
    const struct fl_netfilter_kind *k = f->ops->impl;
    struct fl_netfilter nf;
    char scope[300], peers[400], filt[128];

    fl_netfault_scope_text(f, scope, sizeof scope);
    if (fl_netfilter_parse(k, f->params, &nf, NULL)) {
        snprintf(buf, len, "%s in %s", k->kind, scope);
        free(nf.peers);
        return;
    }
    peers_text(&nf, peers, sizeof peers);
    if (k->loss) {
        filter_text(&nf, false, filt, sizeof filt);
        snprintf(buf, len, "drop %g%% of packets %s %s%s%s%s%s%s", nf.percent,
                 nf.in && nf.out ? "entering and leaving"
                 : nf.in         ? "entering"
                                 : "leaving",
                 scope,
                 nf.npeers ? (nf.in && nf.out ? " to/from "
                              : nf.in         ? " from "
                                              : " to ")
                           : "",
                 peers, *filt ? " (" : "", filt, *filt ? ")" : "");
    } else {
        const char *verb = k->verdict == FL_NFT_REJECT ? "reject"
                           : k->forward                ? "drop"
                                                       : "silently drop";
        filter_text(&nf, true, filt, sizeof filt);
        snprintf(buf, len, "%s traffic between %s and %s (%s%s)", verb, scope, peers, filt,
                 k->verdict == FL_NFT_REJECT ? "; tcp gets a reset, the rest icmp unreachable"
                                             : "");
    }
    free(nf.peers);
}

int fl_netfault_revert_worker(const struct fl_fault *f, const struct fl_fault_worker_spec *w,
                              struct fl_err *e)
{
    const char *table = json_string_value(json_object_get(f->undo, "table"));
    struct fl_netns_guard g;
    struct fl_nft *n;
    int r;

    if (!table || !json_object_get(f->undo, "scope"))
        return 0; /* never planned, so never started */
    if ((r = fl_fault_worker_stop_all(w, f->undo, f->id, e)) < 0)
        return r;
    /* The table went with its owner; make sure, in the recorded scope. */
    if ((r = fl_netfault_enter_recorded(f, &g, e)) <= 0)
        return r;
    if ((n = fl_nft_shared(e))) {
        r = fl_nft_delete_table(n, "inet", table, e);
        if (r == 1)
            fl_warn("%s: removed a leftover redirect table %s", f->id, table);
        r = r < 0 ? r : 0;
    } else {
        r = -e->code;
    }
    fl_netns_leave(&g);
    return r;
}
