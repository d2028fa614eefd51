/* Fuzz the unit parsers every command line and experiment file goes through,
 * the "did you mean" matcher their error messages use, and a subcommand's
 * argv parsed by an option table (util/opts.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/opts.h"
#include "util/parse.h"
#include "util/suggest.h"

static const struct fl_opt table[] = {
    {"name", FL_OPT_STRING, 0, "S", "", NULL, 0, 0},
    {"count", FL_OPT_INT, 0, "N", "", NULL, -3, 1000},
    {"share", FL_OPT_PERCENT, 0, "P", "", NULL, 0, 0},
    {"size", FL_OPT_SIZE, 0, "SIZE", "", NULL, 1024, 1LL << 30},
    {"wait", FL_OPT_DURATION, 0, "D", "", NULL, 1, 60000},
    {"rate", FL_OPT_RATE, 0, "R", "", NULL, 0, 0},
    {"mode", FL_OPT_ENUM, 0, "M", "", "a|b|c", 0, 0},
    {"quiet", FL_OPT_FLAG, 0, NULL, "", NULL, 0, 0},
    {"ratio", FL_OPT_REAL, 0, "X", "", NULL, 0, 100},
    {"peer", FL_OPT_STRING, FL_OPT_MULTI, "A", "", NULL, 0, 0},
    FL_OPT_END,
};

/* The input's words as a command line: parsed, or refused with a message. */
static void parse_words(const char *s)
{
    char *copy = strdup(s), *save = NULL, *argv[34] = {"fuzz"};
    int argc = 1, first = 0, r;
    json_t *p = json_object();
    struct fl_err e = {0};

    if (!copy || !p)
        goto out;
    for (char *w = strtok_r(copy, " \t\n", &save); w && argc < 33;
         w = strtok_r(NULL, " \t\n", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    r = fl_opts_parse_argv(table, "fuzz", argc, argv, p, &first, &e);
    if ((r < 0 && !e.msg[0]) || r > 1 || (r == 0 && (first < 1 || first > argc)))
        abort();
out:
    json_decref(p);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct fl_err e;
    int64_t ms;
    uint64_t u;
    double d;
    long long ll;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fl_parse_duration_ms(s, &ms, &e);
    fl_parse_size(s, &u, &e);
    fl_parse_rate_bps(s, &u, &e);
    fl_parse_percent(s, &d, &e);
    fl_parse_int(s, -5, 5, &ll, &e);
    parse_words(s);
    {
        /* the input's lines: the first is the word, the rest the known list */
        const char *known[9] = {0};
        char *save = NULL, *word = strtok_r(s, "\n", &save);
        for (size_t k = 0; k < 8 && (known[k] = strtok_r(NULL, "\n", &save)); k++)
            ;
        fl_suggest(word, known);
    }
    free(s);
    return 0;
}
