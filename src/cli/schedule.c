/* faultline schedule add|list|pause|resume|rm|next: the server's schedules,
 * through its API (docs/api.md, docs/server.md "Schedules"). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api_client.h"
#include "cli/cli.h"
#include "util/err.h"
#include "util/parse.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultline schedule add NAME --experiment E (--cron EXPR | --every D)\n"
            "                              [--jitter D] [--concurrency forbid|allow|replace]\n"
            "                              [--keep N] [--catch-up once|skip] [--gate JSON]...\n"
            "                              [--blackout-cron EXPR]... [--blackout FROM..TO]...\n"
            "                              [--paused]\n"
            "       faultline schedule list [--json] | next NAME [--count N] [--json] |\n"
            "                          pause NAME | resume NAME | rm NAME\n\n"
            "Run a stored experiment by itself. --cron takes 5 fields (minute hour\n"
            "day-of-month month day-of-week, UTC; ranges, steps, lists, day and month\n"
            "names) or @hourly/@daily/@weekly/@monthly/@yearly; --every D is '@every D'.\n"
            "  --jitter D          start up to D late, at random (spreads load)\n"
            "  --concurrency P     forbid (default): skip while the previous run lives;\n"
            "                      allow; replace: abort the previous run\n"
            "  --keep N            keep the newest N runs of this schedule (default 50)\n"
            "  --catch-up P        once (default): one run for slots missed while the\n"
            "                      server was down; skip: none\n"
            "  --gate JSON         a gate checked before each run (docs/server.md), e.g.\n"
            "                      '{\"type\":\"previous_run_passed\"}'\n"
            "  --blackout-cron EXPR  no runs in the UTC minutes EXPR matches (5 fields),\n"
            "                      e.g. '* 0-8,18-23 * * *' outside office hours\n"
            "  --blackout FROM..TO no runs from FROM to TO (UTC, 2026-12-20T00:00Z)\n"
            "  --paused            create it paused\n" FL_CLI_CLIENT_HELP
            "\nExit codes as for `faultline experiment`.\n");
}

static int request(struct fl_cli_client *c, const char *method, const char *path, json_t *body,
                   json_t **reply)
{
    int st = fl_cli_api(c, method, path, body, reply);

    json_decref(body);
    if (st >= 200 && st < 300)
        return 0;
    st = fl_cli_api_fail(st, *reply);
    json_decref(*reply);
    *reply = NULL;
    return st;
}

static void print_next(json_t *ms)
{
    char t[64];

    fl_cli_format_ms(ms, t, sizeof t);
    fputs(t, stdout);
}

static int list(struct fl_cli_client *c, bool as_json)
{
    json_t *reply = NULL, *sc;
    int r = request(c, "GET", "/api/v1/schedules", NULL, &reply);
    size_t i;

    if (r)
        return r;
    if (as_json) {
        json_dumpf(json_object_get(reply, "schedules"), stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        printf("%-20s %-20s %-8s %-8s %-20s %s\n", "NAME", "EXPERIMENT", "STATE", "POLICY",
               "NEXT (UTC)", "CRON");
        json_array_foreach (json_object_get(reply, "schedules"), i, sc) {
            printf("%-20s %-20s %-8s %-8s ", json_string_value(json_object_get(sc, "name")),
                   json_string_value(json_object_get(sc, "experiment")),
                   json_is_true(json_object_get(sc, "paused")) ? "paused" : "active",
                   json_string_value(json_object_get(sc, "concurrency")));
            print_next(json_object_get(sc, "fire_ms"));
            printf("  %s\n", json_string_value(json_object_get(sc, "cron")));
        }
    }
    json_decref(reply);
    return 0;
}

/* add's options into body; returns 0 or an exit code. */
static int add_opts(json_t *body, int argc, char **argv, int i)
{
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--paused")) {
            json_object_set_new(body, "paused", json_true());
            continue;
        }
        if (!v) {
            fprintf(stderr, "faultline: error: %s needs a value\n", a);
            return FL_EUSAGE;
        }
        i++;
        if (!strcmp(a, "--experiment") || !strcmp(a, "--cron") || !strcmp(a, "--jitter") ||
            !strcmp(a, "--concurrency")) {
            json_object_set_new(body, a + 2, json_string(v));
        } else if (!strcmp(a, "--catch-up")) {
            json_object_set_new(body, "catch_up", json_string(v));
        } else if (!strcmp(a, "--every")) {
            char spec[128];
            snprintf(spec, sizeof spec, "@every %s", v);
            json_object_set_new(body, "cron", json_string(spec));
        } else if (!strcmp(a, "--keep")) {
            long long n;
            struct fl_err e = {0};
            if (fl_parse_int(v, 1, 100000, &n, &e)) {
                fprintf(stderr, "faultline: error: --keep: %s\n", e.msg);
                return FL_EUSAGE;
            }
            json_object_set_new(body, "keep", json_integer(n));
        } else if (!strcmp(a, "--blackout-cron") || !strcmp(a, "--blackout")) {
            const char *sep = strstr(v, "..");
            json_t *w;
            if (!strcmp(a, "--blackout-cron"))
                w = json_pack("{s:s}", "cron", v);
            else if (sep)
                w = json_pack("{s:s%,s:s}", "from", v, (size_t)(sep - v), "to", sep + 2);
            else {
                fprintf(stderr,
                        "faultline: error: --blackout '%s': expected FROM..TO, e.g. "
                        "2026-12-20T00:00Z..2027-01-04T00:00Z\n",
                        v);
                return FL_EUSAGE;
            }
            if (!json_object_get(body, "blackouts"))
                json_object_set_new(body, "blackouts", json_array());
            json_array_append_new(json_object_get(body, "blackouts"), w);
        } else if (!strcmp(a, "--gate")) {
            json_t *g = json_loads(v, 0, NULL);
            if (!json_is_object(g)) {
                json_decref(g);
                fprintf(stderr, "faultline: error: --gate '%s' is not a JSON object\n", v);
                return FL_EUSAGE;
            }
            if (!json_object_get(body, "gates"))
                json_object_set_new(body, "gates", json_array());
            json_array_append_new(json_object_get(body, "gates"), g);
        } else {
            fprintf(stderr,
                    "faultline: error: unknown option %s; run `faultline schedule "
                    "--help`\n",
                    a);
            return FL_EUSAGE;
        }
    }
    return 0;
}

static int act(struct fl_cli_client *c, const char *verb, const char *name, long long count,
               bool as_json)
{
    json_t *reply = NULL, *t;
    char path[512];
    size_t i;
    int r;

    if (!strcmp(verb, "rm")) {
        snprintf(path, sizeof path, "/api/v1/schedules/%s", name);
        r = request(c, "DELETE", path, NULL, &reply);
    } else if (!strcmp(verb, "next")) {
        snprintf(path, sizeof path, "/api/v1/schedules/%s/next?count=%lld", name, count);
        r = request(c, "GET", path, NULL, &reply);
    } else {
        snprintf(path, sizeof path, "/api/v1/schedules/%s/%s", name, verb);
        r = request(c, "POST", path, json_object(), &reply);
    }
    if (r)
        return r;
    if (as_json) {
        json_dumpf(reply, stdout, JSON_INDENT(2));
        putchar('\n');
    } else if (!strcmp(verb, "next")) {
        json_array_foreach (json_object_get(reply, "next_ms"), i, t) {
            print_next(t);
            putchar('\n');
        }
    } else {
        printf("%s %s\n",
               !strcmp(verb, "rm") ? "removed"
               : verb[0] == 'p'    ? "paused"
                                   : "resumed",
               name);
    }
    json_decref(reply);
    return 0;
}

/* The arguments without --server/--token (taken into c); NULL on a missing value. */
static char **strip_client_opts(struct fl_cli_client *c, int argc, char **argv, int *n)
{
    char **args = calloc((size_t)argc + 1, sizeof *args);

    *n = 0;
    for (int i = 0; args && i < argc; i++) {
        int r = i ? fl_cli_client_opt(c, argc, argv, &i) : 0;
        if (r < 0) {
            free(args);
            return NULL;
        }
        if (!r)
            args[(*n)++] = argv[i];
    }
    return args;
}

static int schedule_main(struct fl_cli_client *c, int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "", *name = argc > 2 ? argv[2] : NULL;
    int first_opt = name && name[0] != '-' ? 3 : 2;
    long long count = 5;
    bool as_json = false;

    if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
        usage(stdout);
        return 0;
    }
    if (first_opt == 3 && fl_cli_name_check("schedule", name))
        return FL_EUSAGE;
    if (!strcmp(verb, "add") && first_opt == 3) {
        json_t *body = json_pack("{s:s}", "name", name), *reply = NULL;
        int r = add_opts(body, argc, argv, 3);
        if (r) {
            json_decref(body);
            return r;
        }
        if ((r = request(c, "POST", "/api/v1/schedules", body, &reply)))
            return r;
        printf("added schedule %s: next run ", name);
        print_next(json_object_get(reply, "fire_ms"));
        printf(" UTC\n");
        json_decref(reply);
        return 0;
    }
    for (int i = first_opt; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            struct fl_err e = {0};
            if (fl_parse_int(argv[++i], 1, 100, &count, &e)) {
                fprintf(stderr, "faultline: error: --count: %s\n", e.msg);
                return FL_EUSAGE;
            }
        } else {
            fprintf(stderr,
                    "faultline: error: unexpected argument %s; run `faultline "
                    "schedule --help`\n",
                    argv[i]);
            return FL_EUSAGE;
        }
    }
    if (!strcmp(verb, "list") && first_opt == 2)
        return list(c, as_json);
    if (first_opt == 3 && (!strcmp(verb, "pause") || !strcmp(verb, "resume") ||
                           !strcmp(verb, "rm") || !strcmp(verb, "next")))
        return act(c, verb, name, count, as_json);
    usage(stderr);
    return FL_EUSAGE;
}

int fl_cli_schedule(int argc, char **argv)
{
    struct fl_cli_client c = {0};
    char **args;
    int n, r;

    if (!(args = strip_client_opts(&c, argc, argv, &n)))
        return FL_EUSAGE;
    r = schedule_main(&c, n, args);
    free(args);
    return r;
}
