/* A probe run somewhere else: its params as one JSON object (`faultline
 * probe --params`, which is how an experiment hands a probe to an agent
 * host) and its samples as JSON lines (what `faultline probe` prints and the
 * engine reads back from the agent). The params go through the kind's own
 * option table, the same one an experiment file's probe options go through. */
#include "probes/probe.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"

/* "address, expect, ..." into buf. */
static void opt_names(const struct fl_opt *t, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (; t && t->name && off < len; t++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", t->name);
}

/* Prefix e's message with what it concerns (e->msg cannot be its own source). */
static int rewrap(struct fl_err *e, const char *kind)
{
    char msg[sizeof e->msg];

    snprintf(msg, sizeof msg, "%s", e->msg);
    return fl_err_set(e, FL_EUSAGE, "--params: %s probe: %s", kind, msg);
}

static int set_one(const struct fl_probe_ops *ops, const char *key, const json_t *v, json_t *params,
                   struct fl_err *e)
{
    const struct fl_opt *const t[] = {ops->opts, NULL};
    const struct fl_opt *o = fl_opts_find(t, key);
    char names[512];
    size_t i;
    json_t *x;

    if (!o) {
        const char *near = fl_opts_suggest(t, key);
        opt_names(ops->opts, names, sizeof names);
        return fl_err_set(e, FL_EUSAGE,
                          "--params: %s probes do not take '%s'; %s%s%stheir options: %s",
                          ops->kind, key, near ? "did you mean '" : "", near ? near : "",
                          near ? "'? " : "", names);
    }
    if (json_is_array(v)) {
        if (!(o->flags & FL_OPT_MULTI))
            return fl_err_set(e, FL_EUSAGE, "--params: %s option '%s' takes one value, not a list",
                              ops->kind, key);
        json_array_foreach (v, i, x)
            if (fl_opts_set_json(o, params, x, e))
                return rewrap(e, ops->kind);
        return 0;
    }
    if (json_is_object(v) || json_is_null(v))
        return fl_err_set(e, FL_EUSAGE, "--params: %s option '%s' must be a value, not %s",
                          ops->kind, key, json_is_null(v) ? "null" : "an object");
    if (o->type == FL_OPT_FLAG && json_is_false(v))
        return 0;
    if (fl_opts_set_json(o, params, v, e))
        return rewrap(e, ops->kind);
    return 0;
}

int fl_probe_params_parse(const struct fl_probe_ops *ops, const json_t *in, json_t **out,
                          struct fl_err *e)
{
    _cleanup_json_ json_t *params = json_object();
    const char *key;
    json_t *v;

    *out = NULL;
    if (!params)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (!json_is_object(in))
        return fl_err_set(e, FL_EUSAGE,
                          "--params must be a JSON object of the %s probe's options, e.g. "
                          "'{\"%s\": ...}' (`faultline probe --help`)",
                          ops->kind, ops->opts && ops->opts->name ? ops->opts->name : "option");
    json_object_foreach ((json_t *)in, key, v)
        if (set_one(ops, key, v, params, e))
            return -e->code;
    if (fl_opts_check_required(ops->opts, params, e) || (ops->validate && ops->validate(params, e)))
        return rewrap(e, ops->kind);
    *out = params;
    params = NULL;
    return 0;
}

char *fl_probe_line_format(const struct fl_probe_line *l)
{
    _cleanup_json_ json_t *o =
        json_pack("{sI sb so sf ss? sb}", "t_ms", (json_int_t)l->t_ms, "ok", l->ok, "value",
                  isfinite(l->value) ? json_real(l->value) : json_null(), "latency_ms",
                  round(l->latency_ms * 1000.0) / 1000.0, /* microseconds are all it measures */
                  "error", l->ok ? NULL : l->detail, "missed", l->missed);

    if (!o)
        return NULL;
    if (l->detail[0])
        json_object_set_new(o, "detail", json_string(l->detail));
    return json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
}

int fl_probe_line_parse(const char *text, size_t len, struct fl_probe_line *l, struct fl_err *e)
{
    json_error_t je;
    _cleanup_json_ json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *t, *ok, *v, *lat, *d;

    memset(l, 0, sizeof *l);
    l->value = NAN;
    if (!o || !json_is_object(o))
        return fl_err_set(e, FL_EUSAGE, "a probe sample line is not a JSON object: %s",
                          o ? "another JSON value" : je.text);
    t = json_object_get(o, "t_ms");
    ok = json_object_get(o, "ok");
    v = json_object_get(o, "value");
    lat = json_object_get(o, "latency_ms");
    if (!json_is_integer(t) || json_integer_value(t) < 0 || !json_is_boolean(ok) ||
        (v && !json_is_null(v) && !json_is_number(v)) || (lat && !json_is_number(lat)))
        return fl_err_set(e, FL_EUSAGE,
                          "a probe sample line needs t_ms (an integer >= 0), ok (a boolean), "
                          "value (a number or null) and latency_ms (a number)");
    l->t_ms = json_integer_value(t);
    l->ok = json_is_true(ok);
    if (v && json_is_number(v))
        l->value = json_number_value(v);
    l->latency_ms = lat ? json_number_value(lat) : 0;
    if (!isfinite(l->latency_ms) || l->latency_ms < 0)
        l->latency_ms = 0;
    l->missed = json_is_true(json_object_get(o, "missed"));
    d = json_object_get(o, "detail");
    if (!json_is_string(d))
        d = json_object_get(o, "error");
    if (json_is_string(d))
        snprintf(l->detail, sizeof l->detail, "%s", json_string_value(d));
    return 0;
}
