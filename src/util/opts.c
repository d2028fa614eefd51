#include "util/opts.h"

#include <string.h>

#include "util/parse.h"
#include "util/suggest.h"

const struct fl_opt *fl_opts_find(const struct fl_opt *const *tables, const char *name)
{
    for (; *tables; tables++)
        for (const struct fl_opt *o = *tables; o->name; o++)
            if (!strcmp(o->name, name))
                return o;
    return NULL;
}

const char *fl_opts_suggest(const struct fl_opt *const *tables, const char *name)
{
    const char *names[128];
    size_t n = 0;

    for (; *tables; tables++)
        for (const struct fl_opt *o = *tables; o->name && n + 1 < 128; o++)
            names[n++] = o->name;
    names[n] = NULL;
    return fl_suggest(name, names);
}

static int enum_has(const char *choices, const char *value)
{
    size_t n = strlen(value);
    const char *p = choices;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, value, n))
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static json_t *parse_value(const struct fl_opt *o, const char *v, struct fl_err *e)
{
    int64_t ms;
    uint64_t u;
    double d;
    long long ll;
    int r = 0;

    switch (o->type) {
    case FL_OPT_STRING:
        if (!*v) {
            fl_err_set(e, FL_EUSAGE, "is empty");
            return NULL;
        }
        return json_string(v);
    case FL_OPT_ENUM:
        if (!enum_has(o->choices, v)) {
            fl_err_set(e, FL_EUSAGE, "'%s' is not one of %s", v, o->choices);
            return NULL;
        }
        return json_string(v);
    case FL_OPT_INT:
        r = fl_parse_int(v, o->min, o->min == 0 && o->max == 0 ? (1LL << 53) : o->max, &ll, e);
        return r ? NULL : json_integer(ll);
    case FL_OPT_PERCENT:
        r = fl_parse_percent(v, &d, e);
        return r ? NULL : json_real(d);
    case FL_OPT_SIZE:
        r = fl_parse_size(v, &u, e);
        return r ? NULL : json_integer((json_int_t)u);
    case FL_OPT_DURATION:
        if ((r = fl_parse_duration_ms(v, &ms, e)))
            return NULL;
        if (ms < o->min) {
            char least[32];
            fl_format_duration(o->min, least, sizeof least);
            if (ms == 0)
                fl_err_set(e, FL_EUSAGE,
                           "0 is not accepted (it means neither 'forever' nor 'the default'): "
                           "leave --%s out for its default, or give at least %s",
                           o->name, least);
            else
                fl_err_set(e, FL_EUSAGE, "'%s' is shorter than %s, the least --%s takes", v, least,
                           o->name);
            return NULL;
        }
        return json_integer(ms);
    case FL_OPT_RATE:
        r = fl_parse_rate_bps(v, &u, e);
        return r ? NULL : json_integer((json_int_t)u);
    case FL_OPT_FLAG:
        return json_true();
    }
    fl_err_set(e, FL_EFAIL, "unknown option type");
    return NULL;
}

int fl_opts_set(const struct fl_opt *o, json_t *params, const char *value, struct fl_err *e)
{
    json_t *v = parse_value(o, value ? value : "", e);

    if (!v)
        return fl_err_prefix(e, "--%s", o->name);
    if (o->flags & FL_OPT_MULTI) {
        json_t *arr = json_object_get(params, o->name);
        if (!arr) {
            arr = json_array();
            json_object_set_new(params, o->name, arr);
        }
        json_array_append_new(arr, v);
        return 0;
    }
    if (json_object_get(params, o->name)) {
        json_decref(v);
        return fl_err_set(e, FL_EUSAGE, "--%s is given twice; give it once", o->name);
    }
    json_object_set_new(params, o->name, v);
    return 0;
}

int fl_opts_check_required(const struct fl_opt *table, const json_t *params, struct fl_err *e)
{
    for (const struct fl_opt *o = table; o && o->name; o++)
        if ((o->flags & FL_OPT_REQUIRED) && !json_object_get(params, o->name))
            return fl_err_set(e, FL_EUSAGE, "--%s %s is required", o->name,
                              o->metavar ? o->metavar : "VALUE");
    return 0;
}

void fl_opts_print_help(FILE *out, const struct fl_opt *table)
{
    for (const struct fl_opt *o = table; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->type == FL_OPT_FLAG ? "" : " ",
                 o->type == FL_OPT_FLAG ? "" : (o->metavar ? o->metavar : "VALUE"));
        fprintf(out, "  %-28s %s%s%s\n", left, o->help ? o->help : "",
                (o->flags & FL_OPT_REQUIRED) ? " (required)" : "",
                (o->flags & FL_OPT_MULTI) ? " (repeatable)" : "");
    }
}

const char *fl_param_str(const json_t *params, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(params, key));
    return s ? s : def;
}

long long fl_param_int(const json_t *params, const char *key, long long def)
{
    json_t *v = json_object_get(params, key);
    return json_is_number(v) ? (long long)json_number_value(v) : def;
}

double fl_param_real(const json_t *params, const char *key, double def)
{
    json_t *v = json_object_get(params, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

int fl_param_bool(const json_t *params, const char *key)
{
    return json_is_true(json_object_get(params, key));
}
