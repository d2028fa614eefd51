/* faultline show RUN_ID: one run's timeline, probe statistics and verdict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/err.h"
#include "util/parse.h"

void fl_cli_format_time(long long ms, char *buf, size_t len);

static void ms_or_dash(const json_t *v, char *buf, size_t len)
{
    if (json_is_integer(v))
        snprintf(buf, len, "%lldms", (long long)json_integer_value(v));
    else
        snprintf(buf, len, "-");
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

void fl_cli_show_human(const json_t *run)
{
    json_t *ev = json_object_get(run, "events"), *probes = json_object_get(run, "probes"), *x;
    char when[32], dur[32];
    size_t i;

    fl_cli_format_time(json_integer_value(json_object_get(run, "started_ms")), when, sizeof when);
    fl_format_duration(json_integer_value(json_object_get(run, "duration_ms")), dur, sizeof dur);
    printf("run %lld: %s\nfile: %s (experiment %s)\nstarted %s, took %s, seed %lld\n\n",
           (long long)json_integer_value(json_object_get(run, "id")),
           str_or(run, "experiment", "?"), str_or(run, "file", "?"),
           str_or(run, "experiment_hash", "?"), when,
           json_is_integer(json_object_get(run, "duration_ms")) ? dur : "-",
           (long long)json_integer_value(json_object_get(run, "seed")));
    printf("timeline:\n");
    json_array_foreach (ev, i, x) {
        printf("  %8.3fs  %-9s %s\n",
               (double)json_integer_value(json_object_get(x, "t_ms")) / 1000.0,
               str_or(x, "phase", "?"), str_or(x, "message", ""));
    }
    printf("\nprobes (during the faults):\n  %-16s %-12s %8s %8s %10s %10s %10s %10s %10s\n",
           "NAME", "ROLE", "SAMPLES", "AVAIL%", "P50", "P95", "P99", "DETECT", "RECOVER");
    json_array_foreach (probes, i, x) {
        char det[32], rec[32];
        ms_or_dash(json_object_get(x, "time_to_detect_ms"), det, sizeof det);
        ms_or_dash(json_object_get(x, "time_to_recover_ms"), rec, sizeof rec);
        char avail[32] = "-";
        if (json_is_number(json_object_get(x, "availability")))
            snprintf(avail, sizeof avail, "%.2f",
                     json_number_value(json_object_get(x, "availability")));
        printf("  %-16s %-12s %8lld %8s %8.2fms %8.2fms %8.2fms %10s %10s\n",
               str_or(x, "name", "?"), str_or(x, "role", "?"),
               (long long)json_integer_value(json_object_get(x, "samples")), avail,
               json_number_value(json_object_get(x, "p50_ms")),
               json_number_value(json_object_get(x, "p95_ms")),
               json_number_value(json_object_get(x, "p99_ms")), det, rec);
    }
    {
        json_t *h = json_object_get(run, "history"), *checks = json_object_get(run, "checks");
        if (json_is_object(h))
            printf("\nhistory: %lld operations (%lld events) from the %s %s workload "
                   "(`faultline show %lld --history`)\n",
                   (long long)json_integer_value(json_object_get(h, "operations")),
                   (long long)json_integer_value(json_object_get(h, "events")),
                   str_or(h, "client", "?"), str_or(h, "workload", "?"),
                   (long long)json_integer_value(json_object_get(run, "id")));
        json_array_foreach (checks, i, x) {
            printf("check %s: %s\n", str_or(x, "model", "?"), str_or(x, "result", "?"));
            const char *out = str_or(x, "output", "");
            for (const char *l = out; *l;) {
                const char *nl = strchr(l, '\n');
                int n = nl ? (int)(nl - l) : (int)strlen(l);
                printf("  | %.*s\n", n, l);
                l += n + (nl ? 1 : 0);
            }
        }
    }
    printf("\nverdict: %s\n  %s\n", str_or(run, "verdict", "?"),
           str_or(run, "explanation",
                  "(the run has not finished, or was killed before its "
                  "verdict)"));
}

void fl_cli_show_logs(const json_t *logs, const json_t *events)
{
    json_t *lines = json_object_get(logs, "lines"), *src;
    size_t i = 0, k = 0, n = json_array_size(lines), m = json_array_size(events);

    json_array_foreach (json_object_get(logs, "sources"), i, src) {
        json_t *err = json_object_get(src, "error");
        long long dropped = (long long)json_integer_value(json_object_get(src, "dropped"));
        char extra[64] = "";
        if (dropped)
            snprintf(extra, sizeof extra, ", %lld dropped over its max", dropped);
        printf("log %s (%s %s): %lld lines, %lld bytes%s%s%s\n", str_or(src, "name", "?"),
               str_or(src, "kind", "?"), str_or(src, "target", "?"),
               (long long)json_integer_value(json_object_get(src, "lines")),
               (long long)json_integer_value(json_object_get(src, "bytes")), extra,
               json_is_string(err) ? ": " : "", json_is_string(err) ? json_string_value(err) : "");
    }
    if (!i)
        printf("no target logs: the experiment names no logs: sources\n");
    putchar('\n');
    /* the run's events (==) and the log lines, merged by time */
    for (i = 0; i < n || k < m;) {
        json_t *l = json_array_get(lines, i), *ev = json_array_get(events, k);
        int64_t tl = json_integer_value(json_object_get(l, "t_ms"));
        int64_t te = json_integer_value(json_object_get(ev, "t_ms"));
        if (k < m && (i >= n || te <= tl)) {
            printf("%8.3fs == %-9s %s\n", (double)te / 1e3, str_or(ev, "phase", ""),
                   str_or(ev, "message", ""));
            k++;
        } else {
            printf("%8.3fs %-12s| %s\n", (double)tl / 1e3, str_or(l, "source", "?"),
                   str_or(l, "line", ""));
            i++;
        }
    }
}

int fl_cli_show(int argc, char **argv)
{
    const char *db = NULL, *id = NULL, *workload = NULL;
    struct fl_store *st;
    struct fl_err e = {0};
    bool as_json = false, samples = false, history = false, logs = false;
    long long run_id;
    json_t *run;

    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--json")) {
            as_json = true;
        } else if (!strcmp(argv[k], "--samples")) {
            samples = true;
        } else if (!strcmp(argv[k], "--history")) {
            history = true;
        } else if (!strcmp(argv[k], "--logs")) {
            logs = true;
        } else if (!strcmp(argv[k], "--workload") && k + 1 < argc) {
            workload = argv[++k];
            history = true;
        } else if (!strcmp(argv[k], "--db") && k + 1 < argc) {
            db = argv[++k];
        } else if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
            printf("usage: faultline show RUN_ID [--json] [--samples] [--history [--workload "
                   "NAME]] [--logs] [--db PATH|URL]\n\n"
                   "A run's timeline, per-probe statistics (availability, latency p50/p95/p99,\n"
                   "time to detect, time to recover), the checks of its workload's history\n"
                   "and the verdict with its explanation.\n"
                   "--json prints the object documented in docs/experiments.md; --samples\n"
                   "adds every sample to it. --history prints the operation history the\n"
                   "run's workload recorded (JSON Lines, docs/history-format.md), e.g. to\n"
                   "re-check it: faultline show 7 --history > h.jsonl; faultline check ...\n"
                   "With several workloads, --history is the first one's; --workload NAME\n"
                   "prints another's.\n"
                   "--logs prints the target logs captured with the run (its experiment's\n"
                   "logs: sources) merged with the run's events (lines marked ==) by time;\n"
                   "with --json, {\"sources\", \"lines\", \"events\"}.\n");
            return 0;
        } else if (argv[k][0] != '-' && !id) {
            id = argv[k];
        } else {
            fl_err_set(&e, FL_EUSAGE, "unexpected argument %s; run `faultline show --help`",
                       argv[k]);
            return fl_cli_fail(&e);
        }
    }
    if (!id) {
        fl_err_set(&e, FL_EUSAGE, "which run? `faultline show RUN_ID` (see `faultline runs`)");
        return fl_cli_fail(&e);
    }
    if (fl_parse_int(id, 1, (1LL << 53), &run_id, &e)) {
        fl_err_prefix(&e, "RUN_ID");
        return fl_cli_fail(&e);
    }
    if (fl_store_open_readonly(fl_store_path(db), &st, &e))
        return fl_cli_fail(&e);
    if (history) {
        int r = fl_store_history_write_named(st, run_id, workload, stdout, &e);
        fl_store_close(st);
        return r ? fl_cli_fail(&e) : 0;
    }
    run = fl_store_show_run(st, run_id, samples || as_json ? samples : 0, &e);
    if (run && logs) {
        json_t *l = fl_store_run_logs(st, run_id, NULL, &e);
        fl_store_close(st);
        if (!l) {
            json_decref(run);
            return fl_cli_fail(&e);
        }
        json_object_set(l, "events", json_object_get(run, "events"));
        if (as_json) {
            json_dumpf(l, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            putchar('\n');
        } else {
            fl_cli_show_logs(l, json_object_get(run, "events"));
        }
        json_decref(l);
        json_decref(run);
        return 0;
    }
    fl_store_close(st);
    if (!run)
        return fl_cli_fail(&e);
    if (as_json) {
        json_dumpf(run, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
    } else {
        fl_cli_show_human(run);
    }
    json_decref(run);
    return 0;
}
