/* faultline runs: the runs in the history store, oldest first; --experiment
 * keeps one experiment's, --last N the newest N of those. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/err.h"
#include "util/parse.h"

/* "2026-11-22T21:03:04Z" from wall-clock ms. */
void fl_cli_format_time(long long ms, char *buf, size_t len);

void fl_cli_format_time(long long ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fl_cli_runs(int argc, char **argv)
{
    const char *db = NULL;
    struct fl_store *st = NULL;
    struct fl_err e = {0};
    const char *only = NULL;
    json_t *runs, *r;
    bool as_json = false;
    long long last = 0;
    size_t i;

    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--json")) {
            as_json = true;
        } else if (!strcmp(argv[k], "--db") && k + 1 < argc) {
            db = argv[++k];
        } else if (!strcmp(argv[k], "--experiment") && k + 1 < argc) {
            only = argv[++k];
        } else if (!strcmp(argv[k], "--last") && k + 1 < argc) {
            if (fl_parse_int(argv[++k], 1, 1000000000, &last, &e)) {
                fl_err_prefix(&e, "--last");
                return fl_cli_fail(&e);
            }
        } else if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
            printf("usage: faultline runs [--json] [--experiment TITLE] [--last N] [--db PATH]\n\n"
                   "List recorded experiment runs, oldest first: id, start (UTC), duration,\n"
                   "verdict, experiment.\n"
                   "  --experiment TITLE  only the runs of the experiment with this title\n"
                   "  --last N            only the newest N runs (of that experiment)\n"
                   "  --json              the array documented in docs/experiments.md\n"
                   "  --db PATH|URL       the history store, a file or postgresql://... (default\n"
                   "                      $FAULTLINE_DB or the\n"
                   "                      machine-wide " FL_STORE_DEFAULT_PATH ")\n"
                   "The store is opened read-only: nothing is created, even when it does not\n"
                   "exist yet (then the list is empty).\n");
            return 0;
        } else {
            fl_err_set(&e, FL_EUSAGE, "unexpected argument %s; run `faultline runs --help`",
                       argv[k]);
            return fl_cli_fail(&e);
        }
    }
    if (fl_store_open_readonly(fl_store_path(db), &st, &e)) {
        if (e.code != FL_ENOTARGET)
            return fl_cli_fail(&e);
        /* nothing recorded there yet: an empty list, and create nothing */
        fprintf(stderr, "faultline: %s\n", e.msg);
        runs = json_array();
    } else {
        runs = fl_store_list_runs(st, &e);
        fl_store_close(st);
    }
    for (i = json_array_size(runs); only && i-- > 0;) {
        json_t *t = json_object_get(json_array_get(runs, i), "experiment");
        if (!json_is_string(t) || strcmp(json_string_value(t), only))
            json_array_remove(runs, i);
    }
    while (last && json_array_size(runs) > (size_t)last)
        json_array_remove(runs, 0);
    if (as_json) {
        json_dumpf(runs, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
    } else {
        printf("%-5s %-20s %-9s %-30s %s\n", "ID", "START", "DURATION", "VERDICT", "EXPERIMENT");
        json_array_foreach (runs, i, r) {
            char when[32], dur[32];
            json_t *d = json_object_get(r, "duration_ms");
            fl_cli_format_time(json_integer_value(json_object_get(r, "started_ms")), when,
                               sizeof when);
            if (json_is_integer(d))
                fl_format_duration(json_integer_value(d), dur, sizeof dur);
            else
                snprintf(dur, sizeof dur, "-");
            printf("%-5lld %-20s %-9s %-30s %s\n",
                   (long long)json_integer_value(json_object_get(r, "id")), when, dur,
                   json_is_string(json_object_get(r, "verdict"))
                       ? json_string_value(json_object_get(r, "verdict"))
                       : "?",
                   json_is_string(json_object_get(r, "experiment"))
                       ? json_string_value(json_object_get(r, "experiment"))
                       : "?");
        }
    }
    json_decref(runs);
    return 0;
}
