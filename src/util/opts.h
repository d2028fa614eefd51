/* Typed option tables. A fault kind declares the options it takes once; the
 * same table parses `--name value` on the command line, fills a JSON params
 * object (the form journaled and used by experiment files), and prints help. */
#ifndef FL_UTIL_OPTS_H
#define FL_UTIL_OPTS_H

#include <jansson.h>
#include <stdio.h>

#include "util/err.h"

enum fl_opt_type {
    FL_OPT_STRING,   /* JSON string */
    FL_OPT_INT,      /* JSON integer within [min, max] */
    FL_OPT_PERCENT,  /* JSON real 0..100 */
    FL_OPT_SIZE,     /* JSON integer, bytes ("512MiB") */
    FL_OPT_DURATION, /* JSON integer, milliseconds ("30s") */
    FL_OPT_RATE,     /* JSON integer, bits per second ("1mbit") */
    FL_OPT_ENUM,     /* JSON string, one of choices ("in|out|both") */
    FL_OPT_FLAG,     /* JSON true; takes no value */
    FL_OPT_REAL,     /* JSON real within [min, max] */
};

enum {
    FL_OPT_REQUIRED = 1 << 0,
    FL_OPT_MULTI = 1 << 1, /* may repeat; stored as a JSON array */
};

struct fl_opt {
    const char *name; /* without dashes: "percent" -> --percent, params key "percent" */
    enum fl_opt_type type;
    unsigned flags;
    const char *metavar; /* shown in help: "PERCENT" */
    const char *help;
    const char *choices; /* FL_OPT_ENUM: "in|out|both" */
    long long min, max;  /* FL_OPT_INT, FL_OPT_REAL bounds (both 0: any non-negative);
                          * FL_OPT_DURATION: the least and most ms it takes (0: no bound);
                          * FL_OPT_SIZE: the least and most bytes (both 0: any) */
};

/* The end of an option table. */
#define FL_OPT_END                                                                                 \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL, NULL, 0, 0                                                         \
    }

/* Find option `name` in the NULL-terminated tables (several may be chained). */
const struct fl_opt *fl_opts_find(const struct fl_opt *const *tables, const char *name);
/* The option name in the tables closest to a misspelled `name` (fl_suggest), or NULL. */
const char *fl_opts_suggest(const struct fl_opt *const *tables, const char *name);
/* Parse `value` for `opt` and store it in `params` (appending for MULTI). */
int fl_opts_set(const struct fl_opt *opt, json_t *params, const char *value, struct fl_err *e);
/* Store a JSON value for `opt`: a string is parsed as fl_opts_set does; any
 * other value must be in the journaled form (integer ms/bytes/bps, a number
 * for percents, true for a flag) and within the table's bounds. */
int fl_opts_set_json(const struct fl_opt *opt, json_t *params, const json_t *v, struct fl_err *e);
/* Hold the value of every typed option (not a string, enum or repeatable
 * one) in params to the table's type and bounds: "--latency must be from 1ms to 1h". For params
 * built elsewhere (a journal record, a test), so a kind's validate need not repeat them. */
int fl_opts_check_bounds(const struct fl_opt *table, const json_t *params, struct fl_err *e);
/* Fail naming the first required option that params lacks. */
int fl_opts_check_required(const struct fl_opt *table, const json_t *params, struct fl_err *e);
/* Print a help block for the table: one option a line, its help wrapped at 80 columns
 * under the help column. */
void fl_opts_print_help(FILE *out, const struct fl_opt *table);

/* Parse a subcommand's command line by its table with getopt_long (so
 * --name VALUE, --name=VALUE, unique abbreviations and positional arguments
 * anywhere), each value checked and stored in params as fl_opts_set does,
 * except that a later value replaces an earlier one unless FL_OPT_MULTI.
 * `cmd` names the subcommand in messages ("workload"). Returns 0 with
 * *first_arg set to the index of the first positional argument (getopt
 * moves them to the end), 1 when --help or -h was given, or -FL_EUSAGE with
 * e naming the option (and the nearest one for a misspelled name). */
int fl_opts_parse_argv(const struct fl_opt *table, const char *cmd, int argc, char **argv,
                       json_t *params, int *first_arg, struct fl_err *e);

/* Typed getters on a params object, with defaults. */
const char *fl_param_str(const json_t *params, const char *key, const char *def);
long long fl_param_int(const json_t *params, const char *key, long long def);
double fl_param_real(const json_t *params, const char *key, double def);
int fl_param_bool(const json_t *params, const char *key);

#endif
