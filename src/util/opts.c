/* Typed option tables (util/opts.h): parse values by their declared type and
 * bounds into a JSON params object, parse a subcommand's argv by its table,
 * and print the help block from the same table. */
#include "util/opts.h"

#include <assert.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
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

/* FL_OPT_DURATION's bounds: min is the least it takes (a 0 said apart, as it
 * means neither "forever" nor "the default"), max the most (0: none). */
static int duration_in_bounds(const struct fl_opt *o, const char *v, int64_t ms, struct fl_err *e)
{
    char bound[32];

    if (ms < o->min) {
        fl_format_duration(o->min, bound, sizeof bound);
        if (ms == 0)
            return fl_err_set(e, FL_EUSAGE,
                              "0 is not accepted (it means neither 'forever' nor 'the default'): "
                              "leave --%s out for its default, or give at least %s",
                              o->name, bound);
        return fl_err_set(e, FL_EUSAGE, "'%s' is shorter than %s, the least --%s takes", v, bound,
                          o->name);
    }
    if (o->max > 0 && ms > o->max) {
        fl_format_duration(o->max, bound, sizeof bound);
        return fl_err_set(e, FL_EUSAGE, "'%s' is longer than %s, the most --%s takes", v, bound,
                          o->name);
    }
    return 0;
}

/* FL_OPT_SIZE's bounds (both 0: any size). */
static int size_in_bounds(const struct fl_opt *o, const char *v, uint64_t u, struct fl_err *e)
{
    char lo[32], hi[32];

    if (o->min == 0 && o->max == 0)
        return 0;
    if (u >= (uint64_t)o->min && u <= (uint64_t)o->max)
        return 0;
    fl_format_size((uint64_t)o->min, lo, sizeof lo);
    fl_format_size((uint64_t)o->max, hi, sizeof hi);
    return fl_err_set(e, FL_EUSAGE, "'%s' is outside %s-%s; give a size from %s to %s", v, lo, hi,
                      lo, hi);
}

/* FL_OPT_REAL: a finite number within [min, max] (both 0: any non-negative). */
static json_t *parse_real(const struct fl_opt *o, const char *v, struct fl_err *e)
{
    bool any = o->min == 0 && o->max == 0;
    char *end;
    double d = strtod(v, &end);

    if (!*v || *end || !isfinite(d)) {
        fl_err_set(e, FL_EUSAGE, "cannot read '%s' as a number", v);
        return NULL;
    }
    if (d < (double)o->min || (!any && d > (double)o->max)) {
        if (any)
            fl_err_set(e, FL_EUSAGE, "'%s' is negative; give a number of at least 0", v);
        else
            fl_err_set(e, FL_EUSAGE, "%s is outside %lld-%lld", v, o->min, o->max);
        return NULL;
    }
    return json_real(d);
}

static json_t *parse_value(const struct fl_opt *o, const char *v, struct fl_err *e)
{
    int64_t ms;
    uint64_t u;
    double d;
    long long ll;

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
        if (fl_parse_int(v, o->min, o->min == 0 && o->max == 0 ? (1LL << 53) : o->max, &ll, e))
            return NULL;
        return json_integer(ll);
    case FL_OPT_PERCENT:
        return fl_parse_percent(v, &d, e) ? NULL : json_real(d);
    case FL_OPT_SIZE:
        if (fl_parse_size(v, &u, e) || size_in_bounds(o, v, u, e))
            return NULL;
        return json_integer((json_int_t)u);
    case FL_OPT_DURATION:
        if (fl_parse_duration_ms(v, &ms, e) || duration_in_bounds(o, v, ms, e))
            return NULL;
        return json_integer(ms);
    case FL_OPT_RATE:
        return fl_parse_rate_bps(v, &u, e) ? NULL : json_integer((json_int_t)u);
    case FL_OPT_FLAG:
        return json_true();
    case FL_OPT_REAL:
        return parse_real(o, v, e);
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

/* A JSON value in its journaled form (an integer of ms, bytes or bits per
 * second; a number for percents; true for a flag), checked against the
 * table's type and bounds; NULL when it is not one. */
static json_t *json_value(const struct fl_opt *o, const json_t *v)
{
    long long n = json_integer_value(v);
    bool any = o->min == 0 && o->max == 0;

    switch (o->type) {
    case FL_OPT_INT:
    case FL_OPT_SIZE:
        return json_is_integer(v) && n >= 0 && (any || (n >= o->min && n <= o->max))
                   ? json_integer(n)
                   : NULL;
    case FL_OPT_DURATION:
        return json_is_integer(v) && n >= o->min && (o->max <= 0 || n <= o->max) && n >= 0
                   ? json_integer(n)
                   : NULL;
    case FL_OPT_RATE:
        return json_is_integer(v) && n >= 0 ? json_integer(n) : NULL;
    case FL_OPT_PERCENT:
        return json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 100
                   ? json_real(json_number_value(v))
                   : NULL;
    case FL_OPT_REAL:
        return json_is_number(v) && isfinite(json_number_value(v)) &&
                       json_number_value(v) >= (double)o->min &&
                       (any || json_number_value(v) <= (double)o->max)
                   ? json_real(json_number_value(v))
                   : NULL;
    case FL_OPT_FLAG:
        return json_is_true(v) ? json_true() : NULL;
    default:
        return NULL;
    }
}

int fl_opts_set_json(const struct fl_opt *o, json_t *params, const json_t *v, struct fl_err *e)
{
    json_t *t;

    if (json_is_string(v))
        return fl_opts_set(o, params, json_string_value(v), e);
    if (!(t = json_value(o, v)))
        return fl_err_set(e, FL_EUSAGE,
                          "%s: not a valid value (give it as on the command line, e.g. "
                          "\"30s\", or in its journaled form within the option's bounds: "
                          "`faultline inject KIND --help`)",
                          o->name);
    if (o->flags & FL_OPT_MULTI) {
        json_t *arr = json_object_get(params, o->name);
        if (!arr)
            json_object_set_new(params, o->name, arr = json_array());
        json_array_append_new(arr, t);
    } else {
        json_object_set_new(params, o->name, t);
    }
    return 0;
}

int fl_opts_check_bounds(const struct fl_opt *table, const json_t *params, struct fl_err *e)
{
    for (const struct fl_opt *o = table; o && o->name; o++) {
        const json_t *v = json_object_get(params, o->name);
        json_t *t;
        char lo[32], hi[32];

        if (!v || o->type == FL_OPT_STRING || o->type == FL_OPT_ENUM || (o->flags & FL_OPT_MULTI))
            continue; /* strings are checked by the kinds that read them */
        if ((t = json_value(o, v))) {
            json_decref(t);
            continue;
        }
        if (o->type == FL_OPT_DURATION && o->max > 0) {
            fl_format_duration(o->min, lo, sizeof lo);
            fl_format_duration(o->max, hi, sizeof hi);
            return fl_err_set(e, FL_EUSAGE, "--%s must be from %s to %s", o->name, lo, hi);
        }
        if (o->type == FL_OPT_SIZE && o->max > 0) {
            fl_format_size((uint64_t)o->min, lo, sizeof lo);
            fl_format_size((uint64_t)o->max, hi, sizeof hi);
            return fl_err_set(e, FL_EUSAGE, "--%s must be from %s to %s", o->name, lo, hi);
        }
        if (o->type == FL_OPT_INT && o->max > 0)
            return fl_err_set(e, FL_EUSAGE, "--%s must be a number from %lld to %lld", o->name,
                              o->min, o->max);
        return fl_err_set(e, FL_EUSAGE, "--%s: not a valid value (`faultline inject KIND --help`)",
                          o->name);
    }
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

/* Print text wrapped at 80 columns, every line after the first indented to col. */
static void print_wrapped(FILE *out, const char *text, int col)
{
    int at = col;

    while (*text) {
        size_t word = strcspn(text, " ");
        if (at > col && at + 1 + (int)word > 80) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', out);
            at++;
        }
        fprintf(out, "%.*s", (int)word, text);
        at += (int)word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

void fl_opts_print_help(FILE *out, const struct fl_opt *table)
{
    enum { COL = 31 }; /* "  " + 28 + " " */

    for (const struct fl_opt *o = table; o && o->name; o++) {
        char left[64], help[1024];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->type == FL_OPT_FLAG ? "" : " ",
                 o->type == FL_OPT_FLAG ? "" : (o->metavar ? o->metavar : "VALUE"));
        snprintf(help, sizeof help, "%s%s%s", o->help ? o->help : "",
                 (o->flags & FL_OPT_REQUIRED) ? " (required)" : "",
                 (o->flags & FL_OPT_MULTI) ? " (repeatable)" : "");
        if (strlen(left) > 28)
            fprintf(out, "  %s\n%*s", left, COL, "");
        else
            fprintf(out, "  %-28s ", left);
        print_wrapped(out, help, COL);
    }
}

/* The message for an option getopt refused: unknown (with the nearest name),
 * or given without its value. */
static int refused(const struct fl_opt *table, const char *cmd, const char *arg, bool missing,
                   struct fl_err *e)
{
    const struct fl_opt *const tables[] = {table, NULL};
    char name[64];
    const char *hint, *eq = strchr(arg, '=');
    const struct fl_opt *o;

    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg),
             arg + strspn(arg, "-"));
    o = fl_opts_find(tables, name);
    if (missing && o)
        return fl_err_set(e, FL_EUSAGE, "--%s needs a value (%s)", o->name,
                          o->metavar ? o->metavar : "VALUE");
    hint = fl_opts_suggest(tables, name);
    return fl_err_set(e, FL_EUSAGE, "unknown option '%s'%s%s%s; see `faultline %s --help`", arg,
                      hint ? " (did you mean --" : "", hint ? hint : "", hint ? "?)" : "", cmd);
}

int fl_opts_parse_argv(const struct fl_opt *table, const char *cmd, int argc, char **argv,
                       json_t *params, int *first_arg, struct fl_err *e)
{
    enum { MAX_OPTS = 64 };
    struct option longopts[MAX_OPTS + 2];
    size_t n = 0;
    int c;

    for (const struct fl_opt *o = table; o->name; o++) {
        assert(n < MAX_OPTS); /* a table this long wants splitting */
        longopts[n] = (struct option){
            o->name, o->type == FL_OPT_FLAG ? no_argument : required_argument, NULL, 256 + (int)n};
        n++;
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    optind = 0; /* 0, not 1: glibc then forgets a short-option cluster an earlier parse
                 * stopped in, which would point into that parse's argv */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?' || c == ':')
            return refused(table, cmd, argv[optind - 1], c == ':', e);
        const struct fl_opt *o = &table[c - 256];
        if (!(o->flags & FL_OPT_MULTI))
            json_object_del(params, o->name); /* the last one given counts */
        int r = fl_opts_set(o, params, optarg, e);
        if (r)
            return r;
    }
    *first_arg = optind;
    return 0;
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
