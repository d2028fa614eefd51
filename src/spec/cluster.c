/* The parts of an experiment file that span hosts: the `hosts:` section,
 * `setup:` and `teardown:` commands run on named hosts, and the keys of a
 * fault step that name hosts (`host:`, `host_from:`, `between:`,
 * `peer_hosts:`) or bring a killed member back (`restart:`). A step with `between:` (a partition
 * by host names, one-way or in groups) becomes one step per host that
 * drops traffic; the peers' addresses are looked up when the fault starts,
 * so the file validates without the lab being up. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"
#include "spec/internal.h"
#include "util/opts.h"

#define DEFAULT_COMMAND_TIMEOUT_MS 60000
#define DEFAULT_RESOLVE_TIMEOUT_MS 5000
#define DEFAULT_RESTART_TIMEOUT_MS 30000
#define MAX_GROUP_HOSTS FL_LAB_MAX_HOSTS

const struct fl_spec_host *fl_spec_host_find(const struct fl_spec *s, const char *name)
{
    for (size_t i = 0; name && i < s->nhosts; i++)
        if (s->hosts[i].name && !strcmp(s->hosts[i].name, name))
            return &s->hosts[i];
    return NULL;
}

/* "lab/h2" -> lab "lab", host "h2", checked like `faultline lab` does. */
static bool parse_lab_ref(struct fl_spec_ctx *c, const struct fl_ynode *v, struct fl_spec_host *h)
{
    const char *ref = scalar(c, v, "lab");
    const char *slash = ref ? strchr(ref, '/') : NULL;
    struct fl_err e = {0};
    char lab[32];
    size_t k;

    if (!ref)
        return false;
    if (!slash || (size_t)(slash - ref) >= sizeof lab) {
        err_at(c, v, "lab host '%s' must be LAB/hN, e.g. lab/h1 (see `faultline lab status`)", ref);
        return false;
    }
    snprintf(lab, sizeof lab, "%.*s", (int)(slash - ref), ref);
    if (fl_lab_check_name(lab, &e)) {
        err_at(c, v, "lab host '%s': %s", ref, e.msg);
        return false;
    }
    for (k = 2; slash[1] == 'h' && isdigit((unsigned char)slash[k]); k++)
        ;
    if (slash[1] != 'h' || k == 2 || slash[k] || k > 4 || strtol(slash + 2, NULL, 10) < 1 ||
        strtol(slash + 2, NULL, 10) > FL_LAB_MAX_HOSTS) {
        err_at(c, v, "lab host '%s': a lab's hosts are h1 ... h%d (LAB/hN, e.g. %s/h1)", ref,
               FL_LAB_MAX_HOSTS, lab);
        return false;
    }
    h->lab = strdup(lab);
    h->lab_host = strdup(slash + 1);
    return true;
}

static void load_host(struct fl_spec_ctx *c, const struct fl_ynode *k, const struct fl_ynode *v,
                      struct fl_spec_host *h)
{
    static const char *const keys[] = {"lab", "agent", "token", "address", NULL};
    const struct fl_ynode *x;

    h->line = k->line;
    h->col = k->col;
    if (!valid_name(k->str))
        err_at(c, k, "host name '%s' must be 1-64 letters, digits, '-', '_' or '.'", k->str);
    else
        h->name = strdup(k->str);
    if (v->type == FL_YSCALAR) {
        parse_lab_ref(c, v, h);
        return;
    }
    if (!is_mapping(c, v, "a host", "lab: lab/h1, or lab/h1 alone"))
        return;
    check_keys(c, v, "a host", keys);
    if ((x = fl_yaml_get(v, "agent"))) {
        if (fl_yaml_get(v, "lab"))
            err_at(c, fl_yaml_get(v, "lab"), "host '%s' is a lab host or an agent host, not both",
                   k->str);
        h->agent = dup_str(c, x, "agent");
        if (h->agent && !*h->agent)
            err_at(c, x, "host '%s': agent: is empty; give http(s)://HOST[:PORT]", k->str);
        if ((x = fl_yaml_get(v, "token"))) {
            h->token = dup_str(c, x, "token");
            if (h->token && strncmp(h->token, "env:", 4) && strncmp(h->token, "file:", 5))
                err_at(c, x,
                       "host '%s': token: names where the token is, env:NAME or file:PATH; "
                       "keep the token itself out of the experiment file",
                       k->str);
        }
    } else if ((x = fl_yaml_get(v, "token"))) {
        err_at(c, x, "host '%s': token: belongs to an agent host (agent: URL)", k->str);
        return;
    } else if (!(x = fl_yaml_get(v, "lab"))) {
        err_at(c, v,
               "host '%s' needs lab: LAB/hN (a `faultline lab` host) or agent: URL (a host "
               "running `faultline agent`)",
               k->str);
        return;
    } else {
        parse_lab_ref(c, x, h);
    }
    if ((x = fl_yaml_get(v, "address"))) {
        unsigned char buf[16];
        h->address = dup_str(c, x, "address");
        if (h->address && inet_pton(AF_INET, h->address, buf) != 1 &&
            inet_pton(AF_INET6, h->address, buf) != 1)
            err_at(c, x, "host '%s': address '%s' is not an IPv4 or IPv6 address", k->str,
                   h->address);
    }
}

void fl_spec_load_hosts(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    struct fl_spec *s = c->s;

    if (!n)
        return;
    if (!is_mapping(c, n, "hosts", "h1: lab/h1, h2: {lab: lab/h2}"))
        return;
    if (n->n / 2 > FL_SPEC_MAX_HOSTS) {
        err_at(c, n, "hosts: at most %d hosts", FL_SPEC_MAX_HOSTS);
        return;
    }
    s->hosts = calloc(n->n / 2 + 1, sizeof *s->hosts);
    if (!s->hosts)
        return;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        struct fl_spec_host *h = &s->hosts[s->nhosts];
        if (fl_spec_host_find(s, n->kids[i]->str)) {
            err_at(c, n->kids[i], "host '%s' is named twice", n->kids[i]->str);
            continue;
        }
        s->nhosts++;
        load_host(c, n->kids[i], n->kids[i + 1], h);
    }
}

/* A host name from the file; reports an unknown one. */
static char *host_ref(struct fl_spec_ctx *c, const struct fl_ynode *v, const char *what)
{
    const char *name = scalar(c, v, what);
    char list[512] = "";
    size_t off = 0;

    if (!name)
        return NULL;
    if (fl_spec_host_find(c->s, name))
        return strdup(name);
    for (size_t i = 0; i < c->s->nhosts && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
                                c->s->hosts[i].name ? c->s->hosts[i].name : "?");
    if (c->s->nhosts)
        err_at(c, v, "%s '%s' is not a host of hosts: (%s)", what, name, list);
    else
        err_at(c, v, "%s '%s': the experiment has no hosts: section; add hosts: {%s: LAB/hN}", what,
               name, name);
    return NULL;
}

/* The namespace of a lab host: LAB-hN, as `faultline lab up` names it. */
static char *host_netns(const struct fl_spec_host *h)
{
    char *ns = NULL;

    if (!h || !h->lab || !h->lab_host || asprintf(&ns, "%s-%s", h->lab, h->lab_host) < 0)
        return NULL;
    return ns;
}

/* A host where commands and workloads can run: a lab host (its namespace)
 * or an agent host (a job of its agent, which needs --allow-commands for
 * commands; checked when the run starts, validate cannot know). */
static char *job_host_ref(struct fl_spec_ctx *c, const struct fl_ynode *v, const char *what)
{
    return host_ref(c, v, what);
}

char *fl_spec_host_name(struct fl_spec_ctx *c, const struct fl_ynode *v)
{
    return job_host_ref(c, v, "host");
}

/* A probe's or a workload's host: an agent host (*host: its name; the
 * agent runs it as a job) or a lab host (*netns: its namespace). */
static void agent_or_netns(struct fl_spec_ctx *c, const struct fl_ynode *v, char **netns,
                           char **host)
{
    char *name = job_host_ref(c, v, "host");
    const struct fl_spec_host *h = name ? fl_spec_host_find(c->s, name) : NULL;

    if (h && h->agent) {
        *host = name;
        return;
    }
    *netns = h ? host_netns(h) : NULL;
    free(name);
}

void fl_spec_probe_host(struct fl_spec_ctx *c, const struct fl_ynode *v, char **netns, char **host)
{
    agent_or_netns(c, v, netns, host);
}

void fl_spec_load_commands(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
                           struct fl_spec_command **out, size_t *nout)
{
    static const char *const keys[] = {"name", "host", "command", "timeout", NULL};

    if (!n)
        return;
    if (!is_list(c, n, what, "- {host: h1, command: redis-server --daemonize yes}"))
        return;
    *out = calloc(n->n + 1, sizeof **out);
    if (!*out)
        return;
    for (size_t i = 0; i < n->n; i++) {
        const struct fl_ynode *m = n->kids[i], *v;
        struct fl_spec_command *cmd = &(*out)[*nout];
        char fallback[64];

        cmd->line = m->line;
        cmd->col = m->col;
        cmd->timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
        snprintf(fallback, sizeof fallback, "%s%zu", what, i + 1);
        if (m->type == FL_YSCALAR) {
            cmd->command = strdup(m->str);
        } else if (is_mapping(c, m, "a setup or teardown command",
                              "host: h1, command: ..., timeout: 30s")) {
            check_keys(c, m, what, keys);
            if (!(v = fl_yaml_get(m, "command")))
                err_at(c, m, "a %s entry needs command: SHELL COMMAND", what);
            else
                cmd->command = dup_str(c, v, "command");
            if ((v = fl_yaml_get(m, "host")))
                cmd->host = job_host_ref(c, v, "host");
            if ((v = fl_yaml_get(m, "name")))
                cmd->name = dup_str(c, v, "name");
            if ((v = fl_yaml_get(m, "timeout")) &&
                get_duration(c, v, "timeout", &cmd->timeout_ms) && cmd->timeout_ms <= 0)
                err_at(c, v, "timeout must be longer than 0");
        } else {
            continue;
        }
        if (!cmd->name)
            cmd->name = strdup(fallback);
        (*nout)++;
    }
}

void fl_spec_workload_host(struct fl_spec_ctx *c, const struct fl_ynode *v,
                           struct fl_spec_workload *w)
{
    agent_or_netns(c, v, &w->netns, &w->host);
}

static bool kind_takes(const struct fl_spec_action *a, const char *opt)
{
    const struct fl_opt *const t[] = {a->ops->opts, NULL};
    return fl_opts_find(t, opt) != NULL;
}

/* peer_hosts: [h1, h2, h3] on a step aimed at one host (host: or
 * host_from:): the peers are these hosts' addresses, looked up when the
 * fault starts, less the step's own host - so "the leader, whichever it
 * is, cut off from the other members" is one step. */
static void load_peer_hosts(struct fl_spec_ctx *c, const struct fl_ynode *n,
                            const struct fl_ynode *v, struct fl_spec_action *a)
{
    const struct fl_ynode *x;

    if (!fl_yaml_get(n, "host") && !fl_yaml_get(n, "host_from")) {
        err_at(c, v,
               "peer_hosts names the hosts the step's host is cut from: aim the step at a host "
               "with host: or host_from: (or split hosts with between:)");
        return;
    }
    if (!kind_takes(a, "peer")) {
        err_at(c, v, "%s takes no peer, so peer_hosts cannot be used", a->ops->kind);
        return;
    }
    if ((x = fl_yaml_get(n, "peer"))) {
        err_at(c, x, "'peer' is set by peer_hosts: remove one of them");
        return;
    }
    if (v->type != FL_YSEQ || !v->n || v->n > MAX_GROUP_HOSTS) {
        err_at(c, v, "peer_hosts must be a list of 1 to %d hosts of hosts:, e.g. [h1, h2, h3]",
               MAX_GROUP_HOSTS);
        return;
    }
    a->peer_hosts = calloc(v->n, sizeof *a->peer_hosts);
    a->npeer_hosts = 0;
    for (size_t i = 0; a->peer_hosts && i < v->n; i++) {
        char *name = host_ref(c, v->kids[i], "peer_hosts");
        for (size_t j = 0; name && j < a->npeer_hosts; j++)
            if (!strcmp(a->peer_hosts[j], name)) {
                err_at(c, v->kids[i], "peer_hosts names %s twice", name);
                free(name);
                name = NULL;
            }
        if (name)
            a->peer_hosts[a->npeer_hosts++] = name;
    }
    /* validated with a stand-in peer; the real ones are set when the fault starts */
    json_object_set_new(a->params, "peer", json_pack("[s]", "192.0.2.1"));
}

/* host_from's from: this machine's lab hosts for every kind of query; an
 * agent host for a command: query only (a job of its agent: the engine
 * reaches it, needing --allow-commands there). */
static void load_resolve_from(struct fl_spec_ctx *c, const struct fl_ynode *v,
                              struct fl_spec_resolve *r)
{
    const struct fl_spec_host *h;

    r->from = host_ref(c, v, "from");
    h = r->from ? fl_spec_host_find(c->s, r->from) : NULL;
    if (h && h->agent && r->kind != FL_RESOLVE_COMMAND) {
        err_at(c, v,
               "from '%s' is reached through its agent, which runs host_from's command: "
               "queries only (as a job); ask http: or sentinel: from this machine or a lab host, "
               "or use command: (e.g. curl or redis-cli) from '%s'",
               r->from, r->from);
        free(r->from);
        r->from = NULL;
    }
}

static void load_resolve(struct fl_spec_ctx *c, const struct fl_ynode *n, struct fl_spec_resolve *r)
{
    static const char *const keys[] = {"command", "http", "pointer", "sentinel",
                                       "master",  "from", "timeout", NULL};
    const struct fl_ynode *v;
    int ways = 0;

    if (!is_mapping(c, n, "host_from",
                    "command: ..., or http: URL + pointer: /leader, or sentinel: HOST:PORT + "
                    "master: NAME"))
        return;
    check_keys(c, n, "host_from", keys);
    r->timeout_ms = DEFAULT_RESOLVE_TIMEOUT_MS;
    if ((v = fl_yaml_get(n, "command"))) {
        r->kind = FL_RESOLVE_COMMAND;
        r->command = dup_str(c, v, "command");
        ways++;
    }
    if ((v = fl_yaml_get(n, "http"))) {
        r->kind = FL_RESOLVE_HTTP;
        r->url = dup_str(c, v, "http");
        if (r->url && strncmp(r->url, "http://", 7) && strncmp(r->url, "https://", 8))
            err_at(c, v, "host_from http: '%s' must be an http:// or https:// URL", r->url);
        if (!(v = fl_yaml_get(n, "pointer")))
            err_at(c, n, "host_from http: needs pointer: a JSON pointer such as /leader/name");
        else if ((r->pointer = dup_str(c, v, "pointer")) && r->pointer[0] != '/' && r->pointer[0])
            err_at(c, v, "pointer '%s' must start with / (RFC 6901, e.g. /leader/addr)",
                   r->pointer);
        ways++;
    } else if ((v = fl_yaml_get(n, "pointer"))) {
        err_at(c, v, "pointer: goes with http: URL");
    }
    if ((v = fl_yaml_get(n, "sentinel"))) {
        r->kind = FL_RESOLVE_SENTINEL;
        r->sentinel = dup_str(c, v, "sentinel");
        if (r->sentinel && !strrchr(r->sentinel, ':'))
            err_at(c, v, "sentinel '%s' must be HOST:PORT (a sentinel listens on 26379)",
                   r->sentinel);
        if (!(v = fl_yaml_get(n, "master")))
            err_at(c, n, "host_from sentinel: needs master: the name the sentinels monitor");
        else
            r->master = dup_str(c, v, "master");
        ways++;
    } else if ((v = fl_yaml_get(n, "master"))) {
        err_at(c, v, "master: goes with sentinel: HOST:PORT");
    }
    if (ways != 1)
        err_at(c, n,
               "host_from takes exactly one of command:, http: (with pointer:) or sentinel: "
               "(with master:)");
    if ((v = fl_yaml_get(n, "from")))
        load_resolve_from(c, v, r);
    if ((v = fl_yaml_get(n, "timeout")) && get_duration(c, v, "timeout", &r->timeout_ms) &&
        r->timeout_ms <= 0)
        err_at(c, v, "timeout must be longer than 0");
}

static void load_restart(struct fl_spec_ctx *c, const struct fl_ynode *n, struct fl_spec_action *a)
{
    static const char *const keys[] = {"command", "unit", "after", "timeout", NULL};
    struct fl_spec_restart *r = &a->restart;
    const struct fl_ynode *v;

    if (strcmp(a->ops->kind, "process.kill")) {
        err_at(c, n, "restart: belongs to process.kill (what brings the killed member back)");
        return;
    }
    r->present = true;
    r->timeout_ms = DEFAULT_RESTART_TIMEOUT_MS;
    if (n->type == FL_YSCALAR) {
        r->command = strdup(n->str);
        return;
    }
    if (!is_mapping(c, n, "restart", "command: redis-server /etc/r.conf, after: 2s"))
        return;
    check_keys(c, n, "restart", keys);
    if ((v = fl_yaml_get(n, "command")))
        r->command = dup_str(c, v, "command");
    if ((v = fl_yaml_get(n, "unit")) && (r->unit = dup_str(c, v, "unit")) &&
        (!*r->unit || r->unit[strspn(r->unit, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789@._:-\\")]))
        err_at(c, v, "restart unit '%s' is not a systemd unit name (e.g. redis-server.service)",
               r->unit);
    if (!!r->command == !!r->unit)
        err_at(c, n,
               "restart takes command: (a shell command) or unit: (a systemd unit), one "
               "of them");
    if ((v = fl_yaml_get(n, "after")) && get_duration(c, v, "after", &r->after_ms) &&
        r->after_ms < 0)
        err_at(c, v, "after must not be negative");
    if ((v = fl_yaml_get(n, "timeout")) && get_duration(c, v, "timeout", &r->timeout_ms) &&
        r->timeout_ms <= 0)
        err_at(c, v, "timeout must be longer than 0");
}

/* reclaim: true|false: whether a fault on an agent host is applied again
 * when its agent restarted mid-fault (docs/experiments.md). Only a step
 * that can land on an agent host takes it; copies made by between: keep it. */
static void load_reclaim(struct fl_spec_ctx *c, const struct fl_ynode *n, const struct fl_ynode *v,
                         struct fl_spec_action *a)
{
    const struct fl_ynode *host = fl_yaml_get(n, "host");
    const struct fl_spec_host *h =
        host && host->type == FL_YSCALAR ? fl_spec_host_find(c->s, host->str) : NULL;

    if (v->type != FL_YSCALAR || (strcmp(v->str, "true") && strcmp(v->str, "false"))) {
        err_at(c, v, "reclaim must be true or false");
        return;
    }
    a->no_reclaim = !strcmp(v->str, "false");
    if (fl_yaml_get(n, "host_from") || fl_yaml_get(n, "between") || (h && h->agent))
        return;
    err_at(c, v,
           "reclaim: belongs to a fault on an agent host (host: naming a host with agent:, "
           "host_from: or between:): only an agent restarts and forgets its faults; remove it "
           "here");
}

void fl_spec_load_step_hosts(struct fl_spec_ctx *c, const struct fl_ynode *n,
                             struct fl_spec_action *a)
{
    const struct fl_ynode *host = fl_yaml_get(n, "host"), *from = fl_yaml_get(n, "host_from");
    const struct fl_ynode *between = fl_yaml_get(n, "between"), *v;

    if ((v = fl_yaml_get(n, "peer_hosts")))
        load_peer_hosts(c, n, v, a);
    if ((v = fl_yaml_get(n, "restart")))
        load_restart(c, v, a);
    if ((v = fl_yaml_get(n, "reclaim")))
        load_reclaim(c, n, v, a);
    if (!host && !from && !between)
        return;
    if (host && host->type == FL_YSCALAR && fl_spec_host_find(c->s, host->str) &&
        fl_spec_host_find(c->s, host->str)->agent) {
        /* applied by that host's agent, in the host's own namespaces */
        a->host = host_ref(c, host, "host");
        return; /* a restart: a delayed job of that agent (engine) */
    }
    if (!kind_takes(a, "netns")) {
        err_at(c,
               host   ? host
               : from ? from
                      : between,
               "%s does not act inside a network namespace, so it cannot be aimed at a host",
               a->ops->kind);
        return;
    }
    if ((v = fl_yaml_get(n, "netns")) ||
        (a->target && (v = fl_yaml_get(fl_yaml_get(c->targets, a->target), "netns")))) {
        err_at(c, v, "netns is set by the step's host: remove it, or the host");
        return;
    }
    if (!!host + !!from + !!between > 1) {
        err_at(c, n, "a step takes one of host:, host_from: and between:");
        return;
    }
    if (host) {
        a->host = host_ref(c, host, "host");
        if (a->host) {
            char *ns = host_netns(fl_spec_host_find(c->s, a->host));
            if (ns)
                json_object_set_new(a->params, "netns", json_string(ns));
            free(ns);
        }
    }
    if (from) {
        if (!c->s->nhosts)
            err_at(c, from, "host_from names a host of hosts:, and the experiment has none");
        load_resolve(c, from, &a->resolve);
    }
    if (between) {
        if (!kind_takes(a, "peer") || !kind_takes(a, "direction")) {
            err_at(c, between, "%s takes no peer and direction, so between: cannot split hosts",
                   a->ops->kind);
            return;
        }
        if ((v = fl_yaml_get(n, "peer")) || (v = fl_yaml_get(n, "direction"))) {
            err_at(c, v, "'%s' is set by between: remove it",
                   v == fl_yaml_get(n, "peer") ? "peer" : "direction");
            return;
        }
        a->between = dup_str(c, between, "between");
        /* validated with a stand-in peer; the real ones are set per host */
        json_object_set_new(a->params, "peer", json_pack("[s]", "192.0.2.1"));
    }
}

/* ---- between: partitions by host name --------------------------------- */

struct group {
    size_t n;
    const struct fl_spec_host *h[MAX_GROUP_HOSTS];
};

/* "h1" or "{h1, h2}" (whitespace trimmed) into g. */
static bool parse_group(struct fl_spec_ctx *c, const struct fl_spec_action *a, char *text,
                        struct group *g)
{
    struct fl_ynode at = {.line = a->line, .col = a->col};
    char *end, *tok, *save = NULL;

    while (isspace((unsigned char)*text))
        text++;
    end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (*text == '{') {
        if (end == text || end[-1] != '}') {
            err_at(c, &at, "between '%s': a group is {h1, h2, ...}: close it with }", a->between);
            return false;
        }
        *--end = '\0';
        text++;
    }
    g->n = 0;
    for (tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = tok, *e = tok + strlen(tok);
        const struct fl_spec_host *h;
        while (isspace((unsigned char)*t))
            t++;
        while (e > t && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (!(h = fl_spec_host_find(c->s, t))) {
            err_at(c, &at, "between '%s': '%s' is not a host of the hosts: section", a->between, t);
            return false;
        }
        for (size_t i = 0; i < g->n; i++)
            if (g->h[i] == h) {
                err_at(c, &at, "between '%s': %s is named twice in one group", a->between, t);
                return false;
            }
        if (g->n == MAX_GROUP_HOSTS) {
            err_at(c, &at, "between '%s': more than %d hosts in a group", a->between,
                   MAX_GROUP_HOSTS);
            return false;
        }
        g->h[g->n++] = h;
    }
    if (!g->n)
        err_at(c, &at, "between '%s': an empty group", a->between);
    return g->n > 0;
}

static bool in_group(const struct group *g, const struct fl_spec_host *h)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->h[i] == h)
            return true;
    return false;
}

/* One step per host that drops traffic. `oneway`: groups[0] -> groups[1],
 * dropped on the sending side only (direction out); else every pair of
 * hosts that share no group is cut both ways, on both hosts. */
static size_t plan_cuts(const struct group *gs, size_t ng, bool oneway,
                        const struct fl_spec_host **src, struct group *peers, size_t max)
{
    size_t n = 0;

    for (size_t gi = 0; gi < (oneway ? 1 : ng); gi++)
        for (size_t i = 0; i < gs[gi].n; i++) {
            const struct fl_spec_host *h = gs[gi].h[i];
            bool seen = false;
            for (size_t k = 0; k < n; k++)
                seen |= src[k] == h;
            if (seen || n == max)
                continue;
            peers[n].n = 0;
            for (size_t gj = oneway ? 1 : 0; gj < (oneway ? 2 : ng); gj++)
                for (size_t j = 0; j < gs[gj].n; j++) {
                    const struct fl_spec_host *p = gs[gj].h[j];
                    bool together = false;
                    for (size_t gk = 0; gk < ng && !oneway; gk++)
                        together |= in_group(&gs[gk], h) && in_group(&gs[gk], p);
                    if (p != h && !together && !in_group(&peers[n], p) &&
                        peers[n].n < MAX_GROUP_HOSTS)
                        peers[n].h[peers[n].n++] = p;
                }
            if (peers[n].n)
                src[n++] = h;
        }
    return n;
}

/* Split "A -> B", "A <- B", "A <-> B" or "G1 | G2 | ..." into groups. */
static size_t parse_between(struct fl_spec_ctx *c, const struct fl_spec_action *a, struct group *gs,
                            size_t max, bool *oneway)
{
    char *text = strdup(a->between), *op, *save = NULL;
    size_t ng = 0;

    *oneway = false;
    if (!text)
        return 0;
    if ((op = strstr(text, "<->"))) {
        *op = '\0';
        if (parse_group(c, a, text, &gs[0]) && parse_group(c, a, op + 3, &gs[1]))
            ng = 2;
    } else if ((op = strstr(text, "->")) || (op = strstr(text, "<-"))) {
        bool back = op[0] == '<';
        *op = '\0';
        *oneway = true;
        if (parse_group(c, a, text, &gs[back]) && parse_group(c, a, op + 2, &gs[!back]))
            ng = 2;
    } else if (strchr(text, '|')) {
        for (char *t = strtok_r(text, "|", &save); t && ng < max; t = strtok_r(NULL, "|", &save)) {
            char *copy = strdup(t);
            bool ok = copy && parse_group(c, a, copy, &gs[ng]);
            free(copy);
            if (!ok) {
                ng = 0;
                break;
            }
            ng++;
        }
    } else {
        struct fl_ynode at = {.line = a->line, .col = a->col};
        err_at(c, &at,
               "between '%s': write {h1,h2} | {h3,h4,h5} (groups cut from each other), "
               "h1 <-> h2 (both ways) or h1 -> h2 (h1's packets to h2 dropped, one way)",
               a->between);
    }
    free(text);
    return ng;
}

/* Replace action `idx` by its per-host steps. */
static void expand_one(struct fl_spec_ctx *c, size_t idx)
{
    struct fl_spec *s = c->s;
    struct fl_spec_action *a = &s->actions[idx], *grown;
    struct group gs[MAX_GROUP_HOSTS], peers[MAX_GROUP_HOSTS];
    const struct fl_spec_host *src[MAX_GROUP_HOSTS];
    struct fl_ynode at = {.line = a->line, .col = a->col};
    bool oneway;
    size_t ng = parse_between(c, a, gs, MAX_GROUP_HOSTS, &oneway), n;

    if (!ng)
        return;
    n = plan_cuts(gs, ng, oneway, src, peers, MAX_GROUP_HOSTS);
    if (!n) {
        err_at(c, &at, "between '%s' cuts no host from another: every host shares a group",
               a->between);
        return;
    }
    grown = realloc(s->actions, (s->nactions + n - 1) * sizeof *grown);
    if (!grown)
        return;
    s->actions = grown;
    a = &s->actions[idx];
    memmove(a + n, a + 1, (s->nactions - idx - 1) * sizeof *a);
    s->nactions += n - 1;
    for (size_t k = n; k-- > 0;) {
        struct fl_spec_action *d = &s->actions[idx + k];
        char *ns, *name = NULL;
        if (k)
            *d = *a;
        if (asprintf(&name, "%s@%s", a->name ? a->name : "split", src[k]->name) < 0)
            name = NULL;
        d->name = name;
        d->params = json_deep_copy(a->params);
        d->between = strdup(a->between);
        d->split = (unsigned)idx + 1; /* unique: later groups expand at later indices */
        d->host = strdup(src[k]->name);
        d->target = a->target ? strdup(a->target) : NULL;
        d->peer_hosts = calloc(peers[k].n, sizeof *d->peer_hosts);
        d->npeer_hosts = 0;
        for (size_t j = 0; d->peer_hosts && j < peers[k].n; j++)
            d->peer_hosts[d->npeer_hosts++] = strdup(peers[k].h[j]->name);
        json_object_set_new(d->params, "direction", json_string(oneway ? "out" : "both"));
        if ((ns = host_netns(src[k])))
            json_object_set_new(d->params, "netns", json_string(ns));
        free(ns);
    }
}

void fl_spec_expand_between(struct fl_spec_ctx *c)
{
    for (size_t i = 0; i < c->s->nactions; i++) {
        struct fl_spec_action *a = &c->s->actions[i];
        struct fl_spec_action orig;
        size_t before = c->s->nactions;

        if (a->type != FL_ACTION_FAULT || !a->between || a->host)
            continue;
        orig = *a;
        expand_one(c, i);
        if (c->s->nactions == before && !c->s->actions[i].host)
            continue; /* not expanded: an error was reported */
        /* the expanded steps hold copies; release the original's */
        free(orig.name);
        free(orig.between);
        free(orig.target);
        json_decref(orig.params);
        i += c->s->nactions - before;
    }
}

static void resolve_fini(struct fl_spec_resolve *r)
{
    free(r->command);
    free(r->url);
    free(r->pointer);
    free(r->sentinel);
    free(r->master);
    free(r->from);
}

void fl_spec_action_fini(struct fl_spec_action *a)
{
    free(a->host);
    for (size_t i = 0; i < a->npeer_hosts; i++)
        free(a->peer_hosts[i]);
    free(a->peer_hosts);
    free(a->between);
    resolve_fini(&a->resolve);
    free(a->restart.command);
    free(a->restart.unit);
}

static void commands_free(struct fl_spec_command *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].host);
        free(c[i].command);
    }
    free(c);
}

void fl_spec_cluster_free(struct fl_spec *s)
{
    for (size_t i = 0; i < s->nhosts; i++) {
        free(s->hosts[i].name);
        free(s->hosts[i].lab);
        free(s->hosts[i].lab_host);
        free(s->hosts[i].address);
        free(s->hosts[i].agent);
        free(s->hosts[i].token);
    }
    free(s->hosts);
    commands_free(s->setup, s->nsetup);
    commands_free(s->teardown, s->nteardown);
}
