/* Loading an experiment file: YAML tree (spec/yaml.c) -> struct fl_spec.
 * The loader keeps going after an error so a user sees every problem in one
 * pass; each message carries the position of the node it is about. */
#include "spec/spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check/check.h"
#include "spec/internal.h"
#include "spec/yaml.h"
#include "util/parse.h"
#include "util/suggest.h"
#include "workload/workload.h"

#define DEFAULT_INTERVAL_MS 1000
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_PREFLIGHT_MS 2000
#define DEFAULT_ROLLBACK_TIMEOUT_MS 30000
#define MAX_FILE_BYTES (1 << 20)

/* Does node n, or a value at most `depth` levels inside it, hold an unset
 * ${NAME} (a lenient load)? */
static bool holds_unset_env(const struct fl_ynode *n, int depth)
{
    if (!n)
        return false;
    if (n->unset_env)
        return true;
    for (size_t i = 0; depth > 0 && i < n->n; i++)
        if (holds_unset_env(n->kids[i], depth - 1))
            return true;
    return false;
}

/* An error at n that an unknown value may cause: in n or its values (a
 * probe without its url:), or in the target a step names (a pause without
 * its pidfile:). Only a lenient load has unknown values. */
static bool unknown_value(const struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    const struct fl_ynode *t = n && n->type == FL_YMAP ? fl_yaml_get(n, "target") : NULL;

    if (holds_unset_env(n, 2))
        return true;
    return t && t->type == FL_YSCALAR && c->targets &&
           holds_unset_env(fl_yaml_get(c->targets, t->str), 2);
}

void err_at(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    int len;

    if (c->errs->n >= FL_SPEC_MAX_ERRORS)
        return;
    if (unknown_value(c, n))
        return; /* a lenient load: the value is unknown, and a warning says so */
    len = snprintf(msg, sizeof msg, "%s:%d:%d: ", c->file, n ? n->line : 1, n ? n->col : 1);
    va_start(ap, fmt);
    vsnprintf(msg + len, sizeof msg - (size_t)len, fmt, ap);
    va_end(ap);
    c->errs->msg[c->errs->n++] = strdup(msg);
}

void fl_spec_errors_fini(struct fl_spec_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msg[i]);
    errs->n = 0;
}

/* ---- scalar helpers ---------------------------------------------------- */

const char *scalar(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what)
{
    if (!n)
        return NULL;
    if (n->type != FL_YSCALAR) {
        err_at(c, n, "%s must be a single value, not a %s", what, fl_yaml_type_name(n));
        return NULL;
    }
    return n->str;
}

char *dup_str(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what)
{
    const char *v = scalar(c, n, what);
    return v ? strdup(v) : NULL;
}

/* Folded and literal block scalars (`>`, `|`) end with a newline. */
static char *rtrim(char *s)
{
    size_t n = s ? strlen(s) : 0;

    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

bool get_duration(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what, int64_t *out)
{
    struct fl_err e = {0};
    const char *v = scalar(c, n, what);

    if (!v)
        return false;
    if (fl_parse_duration_ms(v, out, &e)) {
        err_at(c, n, "%s: %s", what, e.msg);
        return false;
    }
    return true;
}

static bool get_number(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
                       double *out)
{
    const char *v = scalar(c, n, what);
    char *end;

    if (!v)
        return false;
    errno = 0;
    *out = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(*out)) {
        err_at(c, n, "%s: '%s' is not a number (write e.g. 200 or 0.5)", what, v);
        return false;
    }
    return true;
}

static bool get_percent(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
                        double *out)
{
    struct fl_err e = {0};
    const char *v = scalar(c, n, what);

    if (!v)
        return false;
    if (fl_parse_percent(v, out, &e)) {
        err_at(c, n, "%s: %s", what, e.msg);
        return false;
    }
    return true;
}

bool is_mapping(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
                const char *example)
{
    if (n && n->type == FL_YMAP)
        return true;
    err_at(c, n, "%s must be a mapping (%s), not a %s", what, example, fl_yaml_type_name(n));
    return false;
}

bool is_list(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what, const char *example)
{
    if (n && n->type == FL_YSEQ)
        return true;
    err_at(c, n, "%s must be a list (%s), not a %s", what, example, fl_yaml_type_name(n));
    return false;
}

static bool in_list(const char *key, const char *const *keys)
{
    for (; *keys; keys++)
        if (!strcmp(key, *keys))
            return true;
    return false;
}

static void join_keys(const char *const *keys, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (; *keys && off < len; keys++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", *keys);
}

/* "did you mean 'title'? " when a word of `known` is close to `word`, else "". */
static const char *hint(const char *word, const char *const *known, char *buf, size_t len)
{
    const char *best = fl_suggest(word, known);

    buf[0] = '\0';
    if (best)
        snprintf(buf, len, "did you mean '%s'? ", best);
    return buf;
}

#define HINT_MAX_WORDS 96

/* The same for an option table plus extra words (either may be NULL). */
static const char *hint_opts(const char *word, const struct fl_opt *t, const char *const *extra,
                             char *buf, size_t len)
{
    const char *words[HINT_MAX_WORDS + 1];
    size_t n = 0;

    for (; t && t->name && n < HINT_MAX_WORDS; t++)
        words[n++] = t->name;
    for (; extra && *extra && n < HINT_MAX_WORDS; extra++)
        words[n++] = *extra;
    words[n] = NULL;
    return hint(word, words, buf, len);
}

/* Report every key of `map` not in `keys`. */
void check_keys(struct fl_spec_ctx *c, const struct fl_ynode *map, const char *where,
                const char *const *keys)
{
    char list[512], h[96];

    for (size_t i = 0; i < map->n; i += 2)
        if (!in_list(map->kids[i]->str, keys)) {
            join_keys(keys, list, sizeof list);
            err_at(c, map->kids[i], "unknown key '%s' in %s; %sexpected one of: %s",
                   map->kids[i]->str, where, hint(map->kids[i]->str, keys, h, sizeof h), list);
        }
}

bool valid_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

static void opts_names(const struct fl_opt *t, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (; t && t->name && off < len; t++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", t->name);
}

/* Parse one option (scalar, or a list for repeatable ones) with the kind's
 * table into params. `kind` names it in messages ("network.loss"). */
static bool set_option(struct fl_spec_ctx *c, const struct fl_opt *o, const char *kind,
                       const struct fl_ynode *v, json_t *params)
{
    struct fl_err e = {0};

    if (v->type == FL_YSEQ) {
        if (!(o->flags & FL_OPT_MULTI)) {
            err_at(c, v, "%s option '%s' takes one value, not a list", kind, o->name);
            return false;
        }
        for (size_t i = 0; i < v->n; i++)
            if (!set_option(c, o, kind, v->kids[i], params))
                return false;
        return true;
    }
    if (v->type != FL_YSCALAR) {
        err_at(c, v, "%s option '%s' must be a value, not a %s", kind, o->name,
               fl_yaml_type_name(v));
        return false;
    }
    if (o->type == FL_OPT_FLAG) {
        if (!strcmp(v->str, "true") || !strcmp(v->str, "yes"))
            return fl_opts_set(o, params, NULL, &e) == 0 ||
                   (err_at(c, v, "%s: %s", kind, e.msg), false);
        if (!strcmp(v->str, "false") || !strcmp(v->str, "no"))
            return true;
        err_at(c, v, "%s option '%s' is a flag: write true or false", kind, o->name);
        return false;
    }
    if (fl_opts_set(o, params, v->str, &e)) {
        err_at(c, v, "%s: %s", kind, e.msg);
        return false;
    }
    return true;
}

/* ---- tolerances -------------------------------------------------------- */

static const char *const tolerance_keys[] = {"min",     "max",    "equals", "success_ratio",
                                             "latency", "window", NULL};

static bool parse_percentile(const char *k, double *pct)
{
    char *end;

    if (!strcmp(k, "max")) {
        *pct = 100;
        return true;
    }
    if (k[0] != 'p' || !k[1])
        return false;
    *pct = strtod(k + 1, &end);
    return !*end && *pct > 0 && *pct <= 100;
}

static void load_tolerance(struct fl_spec_ctx *c, const struct fl_ynode *n, struct fl_tolerance *t)
{
    const struct fl_ynode *v;

    fl_tolerance_default(t);
    if (!n)
        return;
    if (!is_mapping(c, n, "tolerance", "success_ratio: 99.5%, latency: {p99: 50ms}"))
        return;
    check_keys(c, n, "tolerance", tolerance_keys);
    if ((v = fl_yaml_get(n, "min")))
        t->has_min = get_number(c, v, "min", &t->min);
    if ((v = fl_yaml_get(n, "max")))
        t->has_max = get_number(c, v, "max", &t->max);
    if ((v = fl_yaml_get(n, "equals")))
        t->has_equals = get_number(c, v, "equals", &t->equals);
    if (t->has_min && t->has_max && t->min > t->max)
        err_at(c, fl_yaml_get(n, "min"), "min %g is above max %g: swap them", t->min, t->max);
    if ((v = fl_yaml_get(n, "success_ratio")))
        get_percent(c, v, "success_ratio", &t->success_ratio);
    if ((v = fl_yaml_get(n, "window")) && get_duration(c, v, "window", &t->window_ms) &&
        t->window_ms <= 0)
        err_at(c, v,
               "window must be longer than 0 (e.g. 10s), or left out to judge the "
               "whole phase");
    if ((v = fl_yaml_get(n, "latency"))) {
        const struct fl_ynode *k;
        if (!is_mapping(c, v, "latency", "p99: 50ms"))
            return;
        if (v->n != 2) {
            err_at(c, v, "latency takes exactly one percentile bound, like p99: 50ms");
            return;
        }
        k = v->kids[0];
        if (!parse_percentile(k->str, &t->percentile)) {
            err_at(c, k, "unknown latency percentile '%s': write p50, p95, p99, p99.9 or max",
                   k->str);
            t->percentile = 0;
            return;
        }
        {
            int64_t ms;
            if (get_duration(c, v->kids[1], "latency bound", &ms))
                t->latency_max_ms = (double)ms;
            else
                t->percentile = 0;
        }
    }
}

/* ---- probes ------------------------------------------------------------ */

static const char *const probe_common_keys[] = {"name",  "type",      "interval", "timeout",
                                                "netns", "tolerance", "host",     NULL};

static bool probe_name_taken(const struct fl_spec *s, const char *name)
{
    for (size_t i = 0; i < s->nprobes; i++)
        if (s->probes[i].name && !strcmp(s->probes[i].name, name))
            return true;
    return false;
}

/* The probe's type: its kind from the registry, or an error listing them. */
static void load_probe_type(struct fl_spec_ctx *c, const struct fl_ynode *n,
                            struct fl_spec_probe *p, const char *name)
{
    const struct fl_ynode *v = fl_yaml_get(n, "type");
    const char *type = v ? scalar(c, v, "type") : NULL;
    const struct fl_probe_ops *const *k = fl_probe_kinds();
    const char *names[HINT_MAX_WORDS + 1];
    size_t off = 0, nn = 0;
    char list[512], h[96];

    if (v && (!type || (p->ops = fl_probe_lookup(type))))
        return;
    for (list[0] = '\0'; *k; k++) {
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", (*k)->kind);
        if (nn < HINT_MAX_WORDS)
            names[nn++] = (*k)->kind;
    }
    names[nn] = NULL;
    if (!v)
        err_at(c, n, "probe '%s' has no type: add type: one of %s", name ? name : "?", list);
    else
        err_at(c, v, "unknown probe type '%s'; %sknown types: %s", type,
               hint(type, names, h, sizeof h), list);
}

/* The kind's own options (its fl_opt table), then its required ones and
 * its validate(), once the rest of the probe read without errors. */
static void load_probe_options(struct fl_spec_ctx *c, const struct fl_ynode *n,
                               struct fl_spec_probe *p, const char *name, size_t errs_before)
{
    for (size_t i = 0; i < n->n; i += 2) {
        const struct fl_ynode *k = n->kids[i];
        const struct fl_opt *const tables[] = {p->ops->opts, NULL};
        const struct fl_opt *o;
        if (in_list(k->str, probe_common_keys))
            continue;
        o = fl_opts_find(tables, k->str);
        if (!o) {
            char opts[400], h[96];
            opts_names(p->ops->opts, opts, sizeof opts);
            err_at(c, k, "%s probes do not take '%s'; %stheir options: %s (and %s)", p->ops->kind,
                   k->str, hint_opts(k->str, p->ops->opts, probe_common_keys, h, sizeof h), opts,
                   "name, type, interval, timeout, netns, host, tolerance");
            continue;
        }
        set_option(c, o, p->ops->kind, n->kids[i + 1], p->params);
    }
    if (c->errs->n == errs_before) {
        struct fl_err e = {0};
        if (fl_opts_check_required(p->ops->opts, p->params, &e) ||
            (p->ops->validate && p->ops->validate(p->params, &e)))
            err_at(c, n, "%s probe '%s': %s", p->ops->kind, name ? name : "?", e.msg);
    }
}

/* Load a probe mapping; returns its index or -1. */
static long load_probe(struct fl_spec_ctx *c, const struct fl_ynode *n, enum fl_probe_role role,
                       int64_t def_interval, const char *fallback_name)
{
    struct fl_spec *s = c->s;
    struct fl_spec_probe *p, *grown;
    const struct fl_ynode *v;
    const char *name;
    size_t errs_before = c->errs->n;

    if (!is_mapping(c, n, "a probe", "name: api, type: http, url: http://..."))
        return -1;
    grown = realloc(s->probes, (s->nprobes + 1) * sizeof *grown);
    if (!grown)
        return -1;
    s->probes = grown;
    p = &s->probes[s->nprobes];
    memset(p, 0, sizeof *p);
    p->role = role;
    p->line = n->line;
    p->col = n->col;
    p->interval_ms = def_interval;
    p->timeout_ms = DEFAULT_TIMEOUT_MS;
    p->params = json_object();
    fl_tolerance_default(&p->tol);

    v = fl_yaml_get(n, "name");
    name = v ? scalar(c, v, "name") : fallback_name;
    if (!v && !fallback_name) {
        err_at(c, n,
               "this probe has no name: add name: SOMETHING (guardrails and reports "
               "refer to it)");
    } else if (name && !valid_name(name)) {
        err_at(c, v, "probe name '%s' must be 1-64 letters, digits, '-', '_' or '.'", name);
    } else if (name && probe_name_taken(s, name)) {
        err_at(c, v, "probe name '%s' is used twice: give each probe its own name", name);
    } else if (name) {
        p->name = strdup(name);
    }
    s->nprobes++;

    load_probe_type(c, n, p, name);
    if ((v = fl_yaml_get(n, "interval")) && get_duration(c, v, "interval", &p->interval_ms) &&
        p->interval_ms < 10)
        err_at(c, v, "interval must be at least 10ms");
    if ((v = fl_yaml_get(n, "timeout")) && get_duration(c, v, "timeout", &p->timeout_ms) &&
        p->timeout_ms <= 0)
        err_at(c, v, "timeout must be longer than 0");
    if ((v = fl_yaml_get(n, "netns"))) {
        p->netns = dup_str(c, v, "netns");
        if (p->netns && (!*p->netns || strchr(p->netns, '/'))) {
            err_at(c, v, "netns '%s' must be a name from `ip netns list`", p->netns);
        }
    }
    if ((v = fl_yaml_get(n, "host")) && !p->netns)
        fl_spec_probe_host(c, v, &p->netns, &p->host);
    else if (v)
        err_at(c, v, "a probe takes host: or netns:, not both");
    load_tolerance(c, fl_yaml_get(n, "tolerance"), &p->tol);
    if (p->ops)
        load_probe_options(c, n, p, name, errs_before);
    return (long)(s->nprobes - 1);
}

static void load_steady_state(struct fl_spec_ctx *c, const struct fl_ynode *n, bool checks_only)
{
    static const char *const keys[] = {"interval", "preflight", "probes", NULL};
    int64_t interval = DEFAULT_INTERVAL_MS;
    const struct fl_ynode *v;

    if (!n && checks_only)
        return;
    if (!n) {
        err_at(c, NULL,
               "no steady_state: add steady_state: {probes: [...]} saying what "
               "healthy looks like (or checks: of a workload's history)");
        return;
    }
    if (!is_mapping(c, n, "steady_state", "interval: 1s, probes: [...]"))
        return;
    check_keys(c, n, "steady_state", keys);
    if ((v = fl_yaml_get(n, "interval")) && get_duration(c, v, "interval", &interval) &&
        interval < 10)
        err_at(c, v, "interval must be at least 10ms");
    if ((v = fl_yaml_get(n, "preflight")))
        get_duration(c, v, "preflight", &c->s->preflight_ms);
    v = fl_yaml_get(n, "probes");
    if (!v && checks_only)
        return;
    if (!v) {
        err_at(c, n,
               "steady_state has no probes: add probes: [{name: ..., type: tcp, "
               "address: HOST:PORT}]");
        return;
    }
    if (!is_list(c, v, "steady_state.probes", "- name: api ..."))
        return;
    if (v->n == 0 && !checks_only)
        err_at(c, v,
               "steady_state.probes is empty: add at least one probe (or checks: of a "
               "workload's history)");
    for (size_t i = 0; i < v->n; i++)
        load_probe(c, v->kids[i], FL_PROBE_STEADY, interval, NULL);
}

/* ---- targets and method ------------------------------------------------ */

/* Is `key` an option of any fault kind? */
static bool any_kind_takes(const char *key)
{
    for (const struct fl_fault_ops *const *k = fl_fault_kinds(); *k; k++) {
        const struct fl_opt *const t[] = {(*k)->opts, NULL};
        if (fl_opts_find(t, key))
            return true;
    }
    return false;
}

static void load_targets(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    if (!n)
        return;
    if (!is_mapping(c, n, "targets", "replica: {netns: n1}"))
        return;
    c->targets = n;
    for (size_t i = 0; i < n->n; i += 2) {
        const struct fl_ynode *k = n->kids[i], *t = n->kids[i + 1];
        if (!valid_name(k->str))
            err_at(c, k, "target name '%s' must be 1-64 letters, digits, '-', '_' or '.'", k->str);
        if (!is_mapping(c, t, "a target", "netns: n1, or pidfile: /run/x.pid"))
            continue;
        if (t->n == 0)
            err_at(c, t,
                   "target '%s' is empty: give it selector options such as netns, pid, "
                   "pidfile, name, cmdline, container or peer",
                   k->str);
        for (size_t j = 0; j < t->n; j += 2)
            if (!any_kind_takes(t->kids[j]->str))
                err_at(c, t->kids[j],
                       "target '%s': no fault kind takes '%s'; targets hold "
                       "fault options such as netns, pid, pidfile, name, "
                       "cmdline, cgroup, container, mode, peer",
                       k->str, t->kids[j]->str);
    }
}

static const char *const action_keys[] = {
    "name", "kind",    "target",  "start",     "duration",   "command", "timeout",
    "host", "between", "restart", "host_from", "peer_hosts", "reclaim", NULL};

static void load_fault_params(struct fl_spec_ctx *c, const struct fl_ynode *n,
                              struct fl_spec_action *a)
{
    const struct fl_opt *const tables[] = {a->ops->opts, NULL};
    const struct fl_ynode *tnode = NULL, *v;
    int errs_before = (int)c->errs->n;
    struct fl_err e = {0};
    char opts[512];

    opts_names(a->ops->opts, opts, sizeof opts);
    for (size_t i = 0; i < n->n; i += 2) {
        const struct fl_ynode *k = n->kids[i];
        const struct fl_opt *o;
        if (in_list(k->str, action_keys))
            continue;
        if (!(o = fl_opts_find(tables, k->str))) {
            char h[96];
            err_at(c, k,
                   "%s does not take '%s'; %sits options: %s (see `faultline inject %s "
                   "--help`)",
                   a->ops->kind, k->str, hint_opts(k->str, a->ops->opts, action_keys, h, sizeof h),
                   opts, a->ops->kind);
            continue;
        }
        set_option(c, o, a->ops->kind, n->kids[i + 1], a->params);
    }
    if ((v = fl_yaml_get(n, "target"))) {
        const char *name = scalar(c, v, "target");
        tnode = name ? fl_yaml_get(c->targets, name) : NULL;
        if (name && !tnode) {
            const char *names[HINT_MAX_WORDS + 1];
            size_t nn = 0;
            char h[96];
            for (size_t j = 0; c->targets && j < c->targets->n && nn < HINT_MAX_WORDS; j += 2)
                names[nn++] = c->targets->kids[j]->str;
            names[nn] = NULL;
            err_at(c, v, "unknown target '%s': %sdefine it under targets:", name,
                   hint(name, names, h, sizeof h));
        } else if (tnode && tnode->type == FL_YMAP) {
            a->target = strdup(name);
            for (size_t j = 0; j < tnode->n; j += 2) {
                const struct fl_ynode *k = tnode->kids[j];
                const struct fl_opt *o = fl_opts_find(tables, k->str);
                if (!o) {
                    err_at(c, k,
                           "target '%s' sets '%s', which %s (used at line %d) does not "
                           "take; its options: %s",
                           name, k->str, a->ops->kind, v->line, opts);
                    continue;
                }
                if (fl_yaml_get(n, k->str)) {
                    err_at(c, fl_yaml_get(n, k->str),
                           "'%s' is set both here and by target '%s': set it in one place", k->str,
                           name);
                    continue;
                }
                set_option(c, o, a->ops->kind, tnode->kids[j + 1], a->params);
            }
        }
    }
    fl_spec_load_step_hosts(c, n, a);
    if ((int)c->errs->n != errs_before)
        return;
    if (fl_opts_check_required(a->ops->opts, a->params, &e) ||
        (a->ops->validate && a->ops->validate(a->ops, a->params, &e)))
        err_at(c, n, "%s: %s", a->ops->kind, e.msg);
    if (a->between)
        json_object_del(a->params, "peer"); /* set per host when the fault starts */
}

static void load_action(struct fl_spec_ctx *c, const struct fl_ynode *n, size_t idx)
{
    struct fl_spec *s = c->s;
    struct fl_spec_action *a;
    const struct fl_ynode *kind, *cmd, *v;
    char fallback[96];

    if (!is_mapping(c, n, "a method step",
                    "kind: network.partition, target: replica, "
                    "duration: 10s"))
        return;
    a = &s->actions[s->nactions++];
    memset(a, 0, sizeof *a);
    a->line = n->line;
    a->col = n->col;
    kind = fl_yaml_get(n, "kind");
    cmd = fl_yaml_get(n, "command");
    if ((v = fl_yaml_get(n, "start")))
        get_duration(c, v, "start", &a->start_ms);
    if ((v = fl_yaml_get(n, "name"))) {
        a->name = dup_str(c, v, "name");
        if (a->name && !valid_name(a->name))
            err_at(c, v, "step name '%s' must be 1-64 letters, digits, '-', '_' or '.'", a->name);
    }
    if (kind && cmd) {
        err_at(c, cmd,
               "a step is either a fault (kind:) or a command (command:), not both: "
               "split it into two steps");
        return;
    }
    if (cmd) {
        static const char *const keys[] = {"name", "command", "start", "timeout", "host", NULL};
        a->type = FL_ACTION_COMMAND;
        check_keys(c, n, "a command step", keys);
        a->command = dup_str(c, cmd, "command");
        if ((v = fl_yaml_get(n, "host")))
            a->host = fl_spec_host_name(c, v);
        a->duration_ms = DEFAULT_ROLLBACK_TIMEOUT_MS;
        if ((v = fl_yaml_get(n, "timeout")))
            get_duration(c, v, "timeout", &a->duration_ms);
        snprintf(fallback, sizeof fallback, "step%zu-command", idx + 1);
    } else if (!kind) {
        err_at(c, n, "this step has neither kind: (a fault) nor command: (a shell command)");
        return;
    } else {
        const char *k = scalar(c, kind, "kind"), *why;
        a->type = FL_ACTION_FAULT;
        a->params = json_object();
        if (!k)
            return;
        a->ops = fl_fault_lookup(k);
        if (!a->ops) {
            if ((why = fl_fault_unavailable_reason(k)))
                err_at(c, kind, "fault kind %s is not available: %s", k, why);
            else {
                const char *names[HINT_MAX_WORDS + 1];
                size_t nn = 0;
                char h[96];
                for (const struct fl_fault_ops *const *f = fl_fault_kinds();
                     *f && nn < HINT_MAX_WORDS; f++)
                    names[nn++] = (*f)->kind;
                names[nn] = NULL;
                err_at(c, kind,
                       "unknown fault kind '%s': %srun `faultline inject --help` for "
                       "the list",
                       k, hint(k, names, h, sizeof h));
            }
            return;
        }
        if ((v = fl_yaml_get(n, "timeout")))
            err_at(c, v, "timeout is for command steps; a fault has duration:");
        if ((v = fl_yaml_get(n, "duration"))) {
            if (a->ops->flags & FL_FAULT_INSTANT)
                err_at(c, v, "%s happens at once and has no duration: remove duration:", k);
            else if (get_duration(c, v, "duration", &a->duration_ms) && a->duration_ms <= 0)
                err_at(c, v, "duration must be longer than 0");
        }
        load_fault_params(c, n, a);
        snprintf(fallback, sizeof fallback, "step%zu-%s", idx + 1, k);
    }
    if (!a->name)
        a->name = strdup(fallback);
}

static void load_method(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    if (!n) {
        err_at(c, NULL,
               "no method: add method: [{kind: ..., duration: ...}] listing the "
               "faults to inject");
        return;
    }
    if (!is_list(c, n, "method", "- kind: process.pause ..."))
        return;
    if (n->n == 0)
        err_at(c, n, "method is empty: add at least one fault");
    c->s->actions = calloc(n->n ? n->n : 1, sizeof *c->s->actions);
    if (!c->s->actions)
        return;
    for (size_t i = 0; i < n->n; i++)
        load_action(c, n->kids[i], i);
    fl_spec_expand_between(c);
}

/* ---- guardrails, recovery, rollbacks ----------------------------------- */

static long find_probe(const struct fl_spec *s, const char *name)
{
    for (size_t i = 0; i < s->nprobes; i++)
        if (s->probes[i].name && !strcmp(s->probes[i].name, name))
            return (long)i;
    return -1;
}

static void load_guardrails(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    static const char *const keys[] = {"name", "probe", "tolerance", "for", NULL};
    struct fl_spec *s = c->s;

    if (!n)
        return;
    if (!is_list(c, n, "guardrails", "- probe: api, tolerance: {success_ratio: 50%}"))
        return;
    s->guardrails = calloc(n->n ? n->n : 1, sizeof *s->guardrails);
    if (!s->guardrails)
        return;
    for (size_t i = 0; i < n->n; i++) {
        const struct fl_ynode *g = n->kids[i], *v, *tol;
        struct fl_spec_guardrail *gr;
        char fallback[32];
        long idx = -1;

        if (!is_mapping(c, g, "a guardrail", "probe: api, tolerance: {success_ratio: 50%}"))
            continue;
        check_keys(c, g, "a guardrail", keys);
        gr = &s->guardrails[s->nguardrails++];
        gr->line = g->line;
        gr->col = g->col;
        snprintf(fallback, sizeof fallback, "guardrail%zu", i + 1);
        gr->name = (v = fl_yaml_get(g, "name")) ? dup_str(c, v, "name") : strdup(fallback);
        v = fl_yaml_get(g, "probe");
        if (!v) {
            err_at(c, g,
                   "guardrail '%s' has no probe: name a steady_state probe or define "
                   "one inline",
                   gr->name ? gr->name : "?");
        } else if (v->type == FL_YSCALAR) {
            idx = find_probe(s, v->str);
            if (idx < 0)
                err_at(c, v,
                       "guardrail probe '%s' is not a steady_state probe: define it "
                       "there or inline here",
                       v->str);
        } else {
            idx = load_probe(c, v, FL_PROBE_GUARDRAIL, DEFAULT_INTERVAL_MS, gr->name);
        }
        gr->probe = idx < 0 ? 0 : (size_t)idx;
        tol = fl_yaml_get(g, "tolerance");
        if (!tol)
            err_at(c, g,
                   "guardrail '%s' has no tolerance: say when to abort, e.g. "
                   "tolerance: {success_ratio: 50%%, window: 5s}",
                   gr->name ? gr->name : "?");
        load_tolerance(c, tol, &gr->tol);
        if (tol && !gr->tol.window_ms)
            gr->tol.window_ms = 1000;
        if ((v = fl_yaml_get(g, "for")))
            get_duration(c, v, "for", &gr->for_ms);
    }
}

static void load_recovery(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    static const char *const keys[] = {"within", "stable", NULL};
    const struct fl_ynode *v;

    if (!n)
        return;
    if (!is_mapping(c, n, "recovery", "within: 30s"))
        return;
    check_keys(c, n, "recovery", keys);
    c->s->has_recovery = true;
    if (!(v = fl_yaml_get(n, "within")))
        err_at(c, n,
               "recovery needs within: the window in which steady state must return, "
               "e.g. within: 30s");
    else if (get_duration(c, v, "within", &c->s->recovery_within_ms) &&
             c->s->recovery_within_ms <= 0)
        err_at(c, v, "within must be longer than 0");
    if ((v = fl_yaml_get(n, "stable")))
        get_duration(c, v, "stable", &c->s->recovery_stable_ms);
}

static void load_rollbacks(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    if (!n)
        return;
    if (!is_list(c, n, "rollbacks", "- command: systemctl restart x"))
        return;
    c->s->rollbacks = calloc(n->n ? n->n : 1, sizeof(char *));
    if (!c->s->rollbacks)
        return;
    for (size_t i = 0; i < n->n; i++) {
        const struct fl_ynode *r = n->kids[i], *v = r;
        if (r->type == FL_YMAP) {
            static const char *const keys[] = {"command", NULL};
            check_keys(c, r, "a rollback", keys);
            v = fl_yaml_get(r, "command");
            if (!v) {
                err_at(c, r, "a rollback needs command: SHELL COMMAND");
                continue;
            }
        }
        char *cmd = dup_str(c, v, "a rollback command");
        if (cmd)
            c->s->rollbacks[c->s->nrollbacks++] = cmd;
    }
}

/* ---- workload and checks ------------------------------------------------ */

/* A `name: value` pair of a workload/check mapping as "--name" "value"
 * (underscores become dashes; true alone becomes a bare flag). */
static bool add_flag(struct fl_spec_ctx *c, const struct fl_ynode *k, const struct fl_ynode *v,
                     char ***argv, size_t *argc)
{
    char **a = realloc(*argv, (*argc + 3) * sizeof **argv);
    const char *val;
    char *flag;

    if (!a)
        return false;
    *argv = a;
    if (!(val = scalar(c, v, k->str)))
        return false;
    if (asprintf(&flag, "--%s", k->str) < 0)
        return false;
    for (char *p = flag + 2; *p; p++)
        if (*p == '_')
            *p = '-';
    a[(*argc)++] = flag;
    if (strcmp(val, "true"))
        a[(*argc)++] = strdup(val);
    a[*argc] = NULL;
    return true;
}

static bool flag_name_ok(struct fl_spec_ctx *c, const struct fl_ynode *k, const char *where)
{
    for (const char *p = k->str; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '-') {
            err_at(c, k, "%s: '%s' is not an option name (lower-case letters, digits, _ or -)",
                   where, k->str);
            return false;
        }
    if (!*k->str)
        err_at(c, k, "%s: an empty key is not an option name", where);
    return *k->str != '\0';
}

static void load_one_workload(struct fl_spec_ctx *c, const struct fl_ynode *n,
                              struct fl_spec_workload *w, size_t idx, bool listed)
{
    if (!is_mapping(c, n, listed ? "each workload of the list" : "workload",
                    "client: redis, workload: register, target: HOST:PORT"))
        return;
    w->present = true;
    w->line = n->line;
    w->col = n->col;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct fl_ynode *k = n->kids[i], *v = n->kids[i + 1];
        if (!strcmp(k->str, "netns") || !strcmp(k->str, "host")) {
            if (w->netns || w->host)
                err_at(c, k, "a workload takes host: or netns:, not both");
            else if (!strcmp(k->str, "host"))
                fl_spec_workload_host(c, v, w);
            else
                w->netns = dup_str(c, v, "workload netns");
            continue;
        }
        if (!strcmp(k->str, "name")) {
            free(w->name);
            w->name = dup_str(c, v, "workload name");
            if (w->name && !valid_name(w->name))
                err_at(c, v, "workload name '%s' must be 1-64 letters, digits, '-', '_' or '.'",
                       w->name);
            continue;
        }
        if (!strcmp(k->str, "duration") || !strcmp(k->str, "out") || !strcmp(k->str, "seed")) {
            err_at(c, k,
                   "workload: %s is set by the run (the experiment's duration and recovery "
                   "window, the run's seed, a history stored with the run); remove it",
                   k->str);
            continue;
        }
        if (!flag_name_ok(c, k, "workload"))
            continue;
        if (!strcmp(k->str, "client"))
            w->client = dup_str(c, v, "client");
        if (!strcmp(k->str, "workload"))
            w->workload = dup_str(c, v, "workload");
        add_flag(c, k, v, &w->argv, &w->argc);
    }
    if (!w->client) {
        char names[256];

        fl_wl_client_names(names, sizeof names);
        err_at(c, n, "workload needs client: %s", names);
    }
    if (!w->workload) {
        char names[256];

        fl_wl_workload_names(names, sizeof names);
        err_at(c, n, "workload needs workload: %s", names);
    }
    if (!w->name && asprintf(&w->name, "w%zu", idx + 1) < 0)
        w->name = NULL;
    for (size_t i = 0; i < idx && w->name; i++)
        if (c->s->workloads[i].name && !strcmp(c->s->workloads[i].name, w->name))
            err_at(c, n, "two workloads are named '%s': give each its own name:", w->name);
}

/* `workload:` is one mapping, or a list of them (several workloads, e.g.
 * a register on one member and a bank on another, each with its checks). */
static void load_workload(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    struct fl_spec *s = c->s;
    size_t count = n && n->type == FL_YSEQ ? n->n : 1;

    if (!n)
        return;
    if (n->type == FL_YSEQ && n->n == 0) {
        err_at(c, n, "workload is an empty list: remove it or add a workload");
        return;
    }
    s->workloads = calloc(count, sizeof *s->workloads);
    if (!s->workloads)
        return;
    for (size_t i = 0; i < count; i++) {
        load_one_workload(c, n->type == FL_YSEQ ? n->kids[i] : n, &s->workloads[i], i,
                          n->type == FL_YSEQ);
        s->nworkloads++;
    }
    s->workload = s->workloads[0]; /* shallow: workloads owns it */
}

static void check_workload_ref(struct fl_spec_ctx *c, const struct fl_ynode *v,
                               struct fl_spec_check *ck)
{
    const char *name = scalar(c, v, "workload");

    for (size_t i = 0; name && i < c->s->nworkloads; i++)
        if (c->s->workloads[i].name && !strcmp(c->s->workloads[i].name, name)) {
            ck->workload = i;
            return;
        }
    if (name)
        err_at(c, v, "the check's workload '%s' is not the name: of a workload", name);
}

static void load_checks(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    if (!n)
        return;
    if (!is_list(c, n, "checks", "- model: bank"))
        return;
    if (!c->s->workload.present)
        err_at(c, n, "checks need a workload: section that records the history they check");
    c->s->checks = calloc(n->n ? n->n : 1, sizeof *c->s->checks);
    if (!c->s->checks)
        return;
    char names[512];
    for (size_t i = 0; i < n->n; i++) {
        const struct fl_ynode *m = n->kids[i];
        struct fl_spec_check *ck = &c->s->checks[c->s->nchecks];
        if (!is_mapping(c, m, "a check", "model: bank, accounts: 10, total: 1000"))
            continue;
        c->s->nchecks++;
        ck->line = m->line;
        ck->col = m->col;
        ck->timeout_ms = 60000;
        for (size_t j = 0; j + 1 < m->n; j += 2) {
            const struct fl_ynode *k = m->kids[j], *v = m->kids[j + 1];
            if (!strcmp(k->str, "timeout")) {
                if (get_duration(c, v, "timeout", &ck->timeout_ms) && ck->timeout_ms <= 0)
                    err_at(c, v, "timeout must be longer than 0");
                continue;
            }
            if (!strcmp(k->str, "workload")) {
                check_workload_ref(c, v, ck);
                continue;
            }
            if (!flag_name_ok(c, k, "a check"))
                continue;
            if (!strcmp(k->str, "model")) {
                ck->model = dup_str(c, v, "model");
                if (ck->model && !fl_check_model_known(ck->model))
                    err_at(c, v, "unknown check model '%s'; models: %s", ck->model,
                           fl_check_checker_names(names, sizeof names));
            }
            add_flag(c, k, v, &ck->argv, &ck->argc);
        }
        if (c->s->nworkloads > 1 && !fl_yaml_get(m, "workload"))
            err_at(c, m,
                   "this experiment has %zu workloads: say which history the check reads "
                   "with workload: NAME",
                   c->s->nworkloads);
        if (!ck->model)
            err_at(c, m, "a check needs model: (%s; see `faultline check --help`)",
                   fl_check_checker_names(names, sizeof names));
    }
}

/* ---- target logs ------------------------------------------------------- */

/* One `logs:` entry: a name and exactly one of file, unit, command, container. */
static void load_log(struct fl_spec_ctx *c, const struct fl_ynode *m, struct fl_spec_log *l)
{
    static const char *const keys[] = {"name", "file", "unit", "command", "container", "max", NULL};
    static const char *const kinds[] = {"file", "unit", "command", "container"};
    const struct fl_ynode *v;
    int found = 0;

    check_keys(c, m, "a log source", keys);
    l->line = m->line;
    l->col = m->col;
    l->max_bytes = FL_SPEC_LOG_MAX_DEFAULT;
    if (!(v = fl_yaml_get(m, "name")))
        err_at(c, m, "a log source needs name: (how show --logs labels its lines)");
    else if ((l->name = dup_str(c, v, "a log source's name")) && !*l->name)
        err_at(c, v, "a log source's name is empty");
    for (int k = 0; k < 4; k++) {
        if (!(v = fl_yaml_get(m, kinds[k])))
            continue;
        if (found++) {
            err_at(c, v, "a log source takes one of file, unit, command or container, not two");
            continue;
        }
        l->kind = (enum fl_log_kind)k;
        if ((l->what = dup_str(c, v, kinds[k])) && !*l->what)
            err_at(c, v, "%s is empty", kinds[k]);
        else if (l->what && k == FL_LOG_FILE && l->what[0] != '/')
            err_at(c, v, "file: give an absolute path (the run may start in another directory)");
    }
    if (!found)
        err_at(c, m,
               "a log source needs one of file: PATH, unit: SYSTEMD_UNIT (journald), command: "
               "SHELL COMMAND (its output) or container: NAME (podman logs)");
    if ((v = fl_yaml_get(m, "max"))) {
        struct fl_err e = {0};
        uint64_t n = 0;
        const char *t = scalar(c, v, "max");
        if (t && (fl_parse_size(t, &n, &e) || n < 1024 || n > FL_SPEC_LOG_MAX_LIMIT))
            err_at(c, v, "max: %s", e.msg[0] ? e.msg : "between 1KiB and 64MiB");
        else if (t)
            l->max_bytes = (int64_t)n;
    }
}

static void load_logs(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    if (!n || !is_list(c, n, "logs", "- {name: app, file: /var/log/app.log}"))
        return;
    if (!(c->s->logs = calloc(n->n ? n->n : 1, sizeof *c->s->logs)))
        return;
    for (size_t i = 0; i < n->n; i++) {
        struct fl_spec_log *l = &c->s->logs[c->s->nlogs];
        if (!is_mapping(c, n->kids[i], "a log source", "name: app, file: /var/log/app.log"))
            continue;
        c->s->nlogs++;
        load_log(c, n->kids[i], l);
        for (size_t j = 0; l->name && j + 1 < c->s->nlogs; j++)
            if (c->s->logs[j].name && !strcmp(c->s->logs[j].name, l->name))
                err_at(c, n->kids[i], "a second log source named '%s': names must differ", l->name);
    }
}

/* ---- the whole file ---------------------------------------------------- */

static void check_timing(struct fl_spec_ctx *c, const struct fl_ynode *root)
{
    struct fl_spec *s = c->s;
    const struct fl_ynode *dur = fl_yaml_get(root, "duration");
    int64_t end = 0;

    for (size_t i = 0; i < s->nactions; i++) {
        const struct fl_spec_action *a = &s->actions[i];
        int64_t e = a->start_ms + (a->type == FL_ACTION_FAULT ? a->duration_ms : 0);
        if (e > end)
            end = e;
    }
    if (!dur) {
        for (size_t i = 0; i < s->nactions; i++) {
            const struct fl_spec_action *a = &s->actions[i];
            if (a->type == FL_ACTION_FAULT && a->ops && !(a->ops->flags & FL_FAULT_INSTANT) &&
                !a->duration_ms) {
                struct fl_ynode at = {.line = a->line, .col = a->col};
                err_at(c, &at,
                       "fault '%s' has no duration and the experiment has none: add "
                       "duration: here or at the top level",
                       a->name ? a->name : "?");
            }
        }
        s->duration_ms = end;
        return;
    }
    if (!get_duration(c, dur, "duration", &s->duration_ms))
        return;
    if (s->duration_ms <= 0) {
        err_at(c, dur, "duration must be longer than 0");
        return;
    }
    for (size_t i = 0; i < s->nactions; i++) {
        const struct fl_spec_action *a = &s->actions[i];
        int64_t e = a->start_ms + (a->type == FL_ACTION_FAULT ? a->duration_ms : 0);
        if (e > s->duration_ms) {
            struct fl_ynode at = {.line = a->line, .col = a->col};
            char a_s[32], d_s[32];
            fl_format_duration(e, a_s, sizeof a_s);
            fl_format_duration(s->duration_ms, d_s, sizeof d_s);
            err_at(c, &at,
                   "step '%s' ends at %s, after the experiment's duration %s: "
                   "shorten it or raise duration",
                   a->name ? a->name : "?", a_s, d_s);
        }
    }
}

/* A tcp probe that only connects cannot see a frozen server: the kernel
 * completes the handshake for the paused process. Warn when one guards an
 * experiment that pauses processes. */
static void warn_blind_probes(struct fl_spec_ctx *c)
{
    struct fl_spec *s = c->s;
    const struct fl_spec_action *pause = NULL;

    for (size_t i = 0; i < s->nactions && !pause; i++)
        if (s->actions[i].type == FL_ACTION_FAULT && s->actions[i].ops &&
            !strcmp(s->actions[i].ops->kind, "process.pause"))
            pause = &s->actions[i];
    for (size_t i = 0; pause && i < s->nprobes && s->nwarnings < FL_SPEC_MAX_ERRORS; i++) {
        const struct fl_spec_probe *p = &s->probes[i];
        char *m = NULL;
        if (!p->ops || strcmp(p->ops->kind, "tcp") || fl_param_str(p->params, "send", NULL) ||
            fl_param_str(p->params, "expect", NULL))
            continue;
        if (asprintf(&m,
                     "%s:%d:%d: warning: tcp probe '%s' only connects, and the kernel completes "
                     "the handshake while step '%s' (process.pause) has the server frozen, so "
                     "this probe cannot see the pause: add send:/expect: (a request and its "
                     "reply), or use a redis, sql or http probe",
                     c->file, p->line, p->col, p->name ? p->name : "?",
                     pause->name ? pause->name : "?") >= 0)
            s->warnings[s->nwarnings++] = m;
    }
}

static void load_root(struct fl_spec_ctx *c, const struct fl_ynode *root)
{
    static const char *const keys[] = {
        "title",        "description", "hypothesis", "seed",     "duration",  "targets",
        "steady_state", "method",      "guardrails", "recovery", "rollbacks", "workload",
        "checks",       "logs",        "hosts",      "setup",    "teardown",  NULL};
    struct fl_spec *s = c->s;
    const struct fl_ynode *v;

    if (!is_mapping(c, root, "an experiment file", "title: ..., steady_state: ..., method: ..."))
        return;
    check_keys(c, root, "the experiment", keys);
    if (!(v = fl_yaml_get(root, "title")))
        err_at(c, root, "no title: add title: a short name for this experiment");
    else if ((s->title = dup_str(c, v, "title")) && !*s->title)
        err_at(c, v, "title is empty: give the experiment a short name");
    if ((v = fl_yaml_get(root, "description")))
        s->description = rtrim(dup_str(c, v, "description"));
    if ((v = fl_yaml_get(root, "hypothesis")))
        s->hypothesis = rtrim(dup_str(c, v, "hypothesis"));
    if ((v = fl_yaml_get(root, "seed"))) {
        struct fl_err e = {0};
        long long ll;
        const char *t = scalar(c, v, "seed");
        if (t && fl_parse_int(t, 0, (1LL << 53) - 1, &ll, &e))
            err_at(c, v, "seed: %s", e.msg);
        else if (t) {
            s->has_seed = true;
            s->seed = (uint64_t)ll;
        }
    }
    load_targets(c, fl_yaml_get(root, "targets"));
    fl_spec_load_hosts(c, fl_yaml_get(root, "hosts"));
    load_steady_state(c, fl_yaml_get(root, "steady_state"), fl_yaml_get(root, "checks") != NULL);
    load_method(c, fl_yaml_get(root, "method"));
    load_guardrails(c, fl_yaml_get(root, "guardrails"));
    load_recovery(c, fl_yaml_get(root, "recovery"));
    load_rollbacks(c, fl_yaml_get(root, "rollbacks"));
    fl_spec_load_commands(c, fl_yaml_get(root, "setup"), "setup", &s->setup, &s->nsetup);
    fl_spec_load_commands(c, fl_yaml_get(root, "teardown"), "teardown", &s->teardown,
                          &s->nteardown);
    load_workload(c, fl_yaml_get(root, "workload"));
    load_checks(c, fl_yaml_get(root, "checks"));
    load_logs(c, fl_yaml_get(root, "logs"));
    check_timing(c, root);
    warn_blind_probes(c);
    if (s->has_recovery && !s->nprobes)
        err_at(c, fl_yaml_get(root, "recovery"),
               "recovery watches the steady_state probes, and there are none: add probes or "
               "remove recovery:");
    if (s->has_recovery && !s->recovery_stable_ms) {
        int64_t longest = 0;
        for (size_t i = 0; i < s->nprobes; i++)
            if (s->probes[i].interval_ms > longest)
                longest = s->probes[i].interval_ms;
        s->recovery_stable_ms = 2 * longest;
    }
}

/* A warning for each value a lenient load left unknown (unset ${NAME}). */
static void warn_unset_env(struct fl_spec_ctx *c, const struct fl_ynode *n)
{
    char *m = NULL;

    for (size_t i = 0; i < n->n; i++)
        warn_unset_env(c, n->kids[i]);
    if (!n->unset_env || c->s->nwarnings >= FL_SPEC_MAX_ERRORS)
        return;
    if (asprintf(&m,
                 "%s:%d:%d: warning: environment variable %s is not set: `faultline run` "
                 "refuses the file until it is (export it, or write ${%s:-default}); this value "
                 "is not checked without it",
                 c->file, n->line, n->col, n->unset_env, n->unset_env) >= 0)
        c->s->warnings[c->s->nwarnings++] = m;
}

struct fl_spec *fl_spec_load_string(const char *name, const char *text, size_t len,
                                    struct fl_spec_errors *errs)
{
    return fl_spec_load_string_ex(name, text, len, 0, errs);
}

struct fl_spec *fl_spec_load_string_ex(const char *name, const char *text, size_t len,
                                       unsigned flags, struct fl_spec_errors *errs)
{
    struct fl_spec *s = calloc(1, sizeof *s);
    struct fl_spec_ctx c = {.file = name, .errs = errs, .s = s};
    struct fl_ynode *root;
    char yerr[600];

    if (!s)
        return NULL;
    s->file = strdup(name);
    s->content = strndup(text, len);
    s->preflight_ms = DEFAULT_PREFLIGHT_MS;
    s->rollback_timeout_ms = DEFAULT_ROLLBACK_TIMEOUT_MS;
    if (memchr(text, '\0', len)) {
        err_at(&c, NULL, "the file contains a NUL byte: it is not a YAML text file");
        fl_spec_free(s);
        return NULL;
    }
    root = fl_yaml_parse(text, len,
                         flags & FL_SPEC_UNSET_ENV_OK ? FL_YAML_ENV_LENIENT : FL_YAML_ENV_STRICT,
                         yerr, sizeof yerr);
    if (!root) {
        if (errs->n < FL_SPEC_MAX_ERRORS) {
            char *m = NULL;
            if (asprintf(&m, "%s:%s", name, yerr) >= 0)
                errs->msg[errs->n++] = m;
        }
        fl_spec_free(s);
        return NULL;
    }
    warn_unset_env(&c, root);
    load_root(&c, root);
    fl_yaml_free(root);
    if (errs->n) {
        fl_spec_free(s);
        return NULL;
    }
    return s;
}

struct fl_spec *fl_spec_load_file(const char *path, struct fl_spec_errors *errs)
{
    return fl_spec_load_file_ex(path, 0, errs);
}

struct fl_spec *fl_spec_load_file_ex(const char *path, unsigned flags, struct fl_spec_errors *errs)
{
    FILE *f = fopen(path, "re");
    char *buf;
    size_t n;
    struct fl_spec *s;
    struct stat sb;

    if (!f) {
        char *m = NULL;
        if (asprintf(&m, "%s:1:1: cannot open: %s", path, strerror(errno)) >= 0)
            errs->msg[errs->n++] = m;
        return NULL;
    }
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char *m = NULL;
        fclose(f);
        if (asprintf(&m,
                     "%s:1:1: is a directory, not an experiment file: name the YAML files in "
                     "it (faultline validate %s%s*.yaml)",
                     path, path, path[strlen(path) - 1] == '/' ? "" : "/") >= 0)
            errs->msg[errs->n++] = m;
        return NULL;
    }
    buf = malloc(MAX_FILE_BYTES + 1);
    n = buf ? fread(buf, 1, MAX_FILE_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > MAX_FILE_BYTES) {
        char *m = NULL;
        if (asprintf(&m, "%s:1:1: file larger than %d bytes", path, MAX_FILE_BYTES) >= 0)
            errs->msg[errs->n++] = m;
        free(buf);
        return NULL;
    }
    s = fl_spec_load_string_ex(path, buf, n, flags, errs);
    free(buf);
    return s;
}

void fl_spec_free(struct fl_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nwarnings; i++)
        free(s->warnings[i]);
    for (size_t i = 0; i < s->nprobes; i++) {
        free(s->probes[i].name);
        free(s->probes[i].netns);
        free(s->probes[i].host);
        json_decref(s->probes[i].params);
    }
    for (size_t i = 0; i < s->nactions; i++) {
        fl_spec_action_fini(&s->actions[i]);
        free(s->actions[i].name);
        free(s->actions[i].target);
        free(s->actions[i].command);
        json_decref(s->actions[i].params);
    }
    for (size_t i = 0; i < s->nguardrails; i++)
        free(s->guardrails[i].name);
    for (size_t i = 0; i < s->nrollbacks; i++)
        free(s->rollbacks[i]);
    for (size_t w = 0; w < s->nworkloads; w++) {
        struct fl_spec_workload *wl = &s->workloads[w];
        for (size_t i = 0; i < wl->argc; i++)
            free(wl->argv[i]);
        free(wl->argv);
        free(wl->netns);
        free(wl->host);
        free(wl->client);
        free(wl->workload);
        free(wl->name);
    }
    free(s->workloads);
    for (size_t i = 0; i < s->nchecks; i++) {
        for (size_t j = 0; j < s->checks[i].argc; j++)
            free(s->checks[i].argv[j]);
        free(s->checks[i].argv);
        free(s->checks[i].model);
    }
    free(s->checks);
    fl_spec_cluster_free(s);
    free(s->probes);
    free(s->actions);
    free(s->guardrails);
    free(s->rollbacks);
    for (size_t i = 0; i < s->nlogs; i++) {
        free(s->logs[i].name);
        free(s->logs[i].what);
    }
    free(s->logs);
    free(s->title);
    free(s->description);
    free(s->hypothesis);
    free(s->file);
    free(s->content);
    free(s);
}

void fl_spec_hash(const struct fl_spec *s, char out[17])
{
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)(s->content ? s->content : ""); *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}
