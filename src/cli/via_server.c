/* `faultline --server URL [--token T | --token-file F] COMMAND ...`: the
 * commands that read or make runs — runs, show, run, status — against a
 * faultline server's API instead of this machine's history store and
 * journal (docs/cli.md, "Against a server"). Every error names the server. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/api_client.h"
#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/parse.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int usage(FILE *out, int code)
{
    fprintf(out,
            "usage: faultline --server URL [--token TOKEN | --token-file FILE] COMMAND ...\n\n"
            "The usual commands against a faultline server (docs/cli.md):\n"
            "  runs [--json] [--experiment NAME] [--schedule NAME] [--verdict V] [--state S]\n"
            "       [--last N]         the server's runs, oldest first (default the newest 50)\n"
            "  show RUN_ID [--json] [--samples | --logs]\n"
            "                          a server run: its state and the history store's record\n"
            "  run EXPERIMENT [--detach] [--json]\n"
            "                          start a stored experiment now and follow it to its\n"
            "                          verdict (exit code as `faultline run`); Ctrl-C aborts it\n"
            "  status [--json]         the faults active under the server's runs, and its\n"
            "                          running runs\n\n"
            "The token: --token, --token-file, $FAULTLINE_TOKEN or $FAULTLINE_TOKEN_FILE.\n"
            "Exit codes: 1 the server cannot be reached or failed, 2 bad request, 3 not\n"
            "found, 4 conflict, 5 unauthenticated or forbidden (docs/exit-codes.md).\n");
    return code;
}

static const char *str(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

/* GET path into *out; an exit code (0 ok) with the error printed. */
static int get(struct fl_cli_client *c, const char *path, json_t **out)
{
    int st = fl_cli_api(c, "GET", path, NULL, out);

    if (st == 200 && *out)
        return 0;
    st = fl_cli_api_fail_at(c, st, *out);
    json_decref(*out);
    *out = NULL;
    return st;
}

static void dump(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
}

static void print_runs(json_t *runs)
{
    size_t i;
    json_t *r;

    printf("%-6s %-20s %-9s %-9s %-30s %s\n", "ID", "START", "DURATION", "STATE", "VERDICT",
           "EXPERIMENT");
    for (i = json_array_size(runs); i-- > 0;) {
        char when[32], dur[32] = "-";
        json_t *end = json_object_get(r = json_array_get(runs, i), "ended_ms");
        int64_t start = json_integer_value(json_object_get(r, "created_ms"));
        fl_cli_format_ms(json_object_get(r, "created_ms"), when, sizeof when);
        if (json_is_integer(end))
            fl_format_duration(json_integer_value(end) - start, dur, sizeof dur);
        printf("%-6lld %-20s %-9s %-9s %-30s %s\n",
               (long long)json_integer_value(json_object_get(r, "id")), when, dur,
               str(r, "state", "?"), str(r, "verdict", "?"), str(r, "experiment", "?"));
    }
}

static int cmd_runs(struct fl_cli_client *c, int argc, char **argv)
{
    static const char *const filters[] = {"experiment", "schedule", "verdict", "state"};
    char path[2600], query[2048] = "";
    long long last = 50;
    bool as_json = false;
    json_t *reply = NULL;
    int r;

    for (int k = 1; k < argc; k++) {
        bool known = false;
        if (!strcmp(argv[k], "--json")) {
            as_json = known = true;
        } else if (!strcmp(argv[k], "--last") && k + 1 < argc) {
            struct fl_err e = {0};
            if (fl_parse_int(argv[++k], 1, 1000, &last, &e))
                return fl_err_prefix(&e, "--last"), fl_cli_fail(&e);
            known = true;
        }
        for (size_t f = 0; !known && f < 4; f++)
            if (!strncmp(argv[k], "--", 2) && !strcmp(argv[k] + 2, filters[f]) && k + 1 < argc) {
                _cleanup_free_ char *v = fl_cli_url_escape(argv[++k]);
                snprintf(query + strlen(query), sizeof query - strlen(query), "&%s=%s", filters[f],
                         v ? v : "");
                known = true;
            }
        if (!known) {
            fprintf(stderr, "faultline: error: runs: unexpected argument '%s'\n", argv[k]);
            return usage(stderr, FL_EUSAGE);
        }
    }
    snprintf(path, sizeof path, "/api/v1/runs?limit=%lld%s", last, query);
    if ((r = get(c, path, &reply)))
        return r;
    if (as_json)
        dump(json_object_get(reply, "runs"));
    else
        print_runs(json_object_get(reply, "runs"));
    json_decref(reply);
    return 0;
}

static void print_server_run(struct fl_cli_client *c, const json_t *r)
{
    printf("server run %lld on %s: experiment %s, %s by %s%s, %s%s%s\n",
           (long long)json_integer_value(json_object_get(r, "id")), fl_cli_server_url(c),
           str(r, "experiment", "?"), str(r, "trigger", "?"), str(r, "who", "?"),
           json_is_true(json_object_get(r, "adopted")) ? " (adopted)" : "", str(r, "state", "?"),
           json_is_string(json_object_get(r, "reason")) ? ": " : "", str(r, "reason", ""));
    if (json_is_false(json_object_get(r, "stored")))
        printf("NOT STORED: the run's records did not reach the history store\n");
}

static int cmd_show(struct fl_cli_client *c, int argc, char **argv)
{
    const char *id = NULL;
    bool as_json = false, samples = false, logs = false;
    long long n;
    struct fl_err e = {0};
    char path[128];
    json_t *reply = NULL, *run;
    int r;

    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--json"))
            as_json = true;
        else if (!strcmp(argv[k], "--samples"))
            samples = true;
        else if (!strcmp(argv[k], "--logs"))
            logs = true;
        else if (argv[k][0] != '-' && !id)
            id = argv[k];
        else
            return fprintf(stderr, "faultline: error: show: unexpected argument '%s'\n", argv[k]),
                   usage(stderr, FL_EUSAGE);
    }
    if (!id || fl_parse_int(id, 1, 1LL << 53, &n, &e)) {
        fprintf(stderr, "faultline: error: show: which run? give the server run's id (see "
                        "`faultline --server URL runs`)\n");
        return FL_EUSAGE;
    }
    snprintf(path, sizeof path, "/api/v1/runs/%lld%s", n,
             logs      ? "/logs"
             : samples ? "?samples=1"
                       : "");
    if ((r = get(c, path, &reply)))
        return r;
    if (logs) {
        if (as_json)
            dump(reply);
        else
            fl_cli_show_logs(reply, json_object_get(reply, "events"));
        json_decref(reply);
        return 0;
    }
    run = json_object_get(reply, "run");
    if (as_json) {
        dump(reply);
    } else {
        print_server_run(c, reply);
        if (json_is_object(run)) {
            putchar('\n');
            fl_cli_show_human(run);
        } else {
            printf("verdict: %s\n\nits output:\n%s\n", str(reply, "verdict", "?"),
                   str(reply, "log", ""));
        }
    }
    json_decref(reply);
    return 0;
}

/* Print the run's events from number *seen on. */
static void print_events(const json_t *reply, size_t *seen)
{
    json_t *ev = json_object_get(json_object_get(reply, "run"), "events");

    for (; *seen < json_array_size(ev); (*seen)++) {
        json_t *x = json_array_get(ev, *seen);
        printf("[%7.1fs] %-9s %s\n", (double)json_integer_value(json_object_get(x, "t_ms")) / 1e3,
               str(x, "phase", ""), str(x, "message", ""));
    }
    fflush(stdout);
}

/* Follow run id to its end (Ctrl-C asks the server to abort it); the
 * run's exit code. The server unreachable for a minute ends the wait. */
static int follow(struct fl_cli_client *c, long long id, bool as_json)
{
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    char path[96], abort_path[96];
    bool aborting = false;
    size_t seen = 0;
    int misses = 0, code = FL_EFAIL;

    snprintf(path, sizeof path, "/api/v1/runs/%lld", id);
    snprintf(abort_path, sizeof abort_path, "/api/v1/runs/%lld/abort", id);
    sigaction(SIGINT, &sa, &old);
    for (;;) {
        json_t *reply = NULL;
        int st = fl_cli_api(c, "GET", path, NULL, &reply);
        if (interrupted && !aborting) {
            json_t *a = NULL;
            aborting = true;
            fprintf(stderr, "faultline: aborting run %lld on %s (it reverts its faults)\n", id,
                    fl_cli_server_url(c));
            fl_cli_api(c, "POST", abort_path, NULL, &a);
            json_decref(a);
        }
        if (st == 200 && reply) {
            misses = 0;
            if (!as_json)
                print_events(reply, &seen);
            if (!strcmp(str(reply, "state", ""), "done")) {
                json_t *ec = json_object_get(reply, "exit_code");
                code = json_is_integer(ec) && json_integer_value(ec) >= 0 &&
                               json_integer_value(ec) < 256
                           ? (int)json_integer_value(ec)
                           : FL_EFAIL;
                if (as_json)
                    dump(reply);
                else
                    printf("%s%s%s\n", str(reply, "verdict", "?"),
                           json_is_string(json_object_get(reply, "reason")) ? ": " : "",
                           str(reply, "reason", ""));
                json_decref(reply);
                break;
            }
        } else if (st >= 0 && st != 200) {
            code = fl_cli_api_fail_at(c, st, reply);
            json_decref(reply);
            break;
        } else if (++misses > 120) {
            fprintf(stderr,
                    "faultline: error: lost the server %s for a minute; run %lld goes on there "
                    "(`faultline --server %s show %lld`)\n",
                    fl_cli_server_url(c), id, fl_cli_server_url(c), id);
            break;
        }
        json_decref(reply);
        nanosleep(&(struct timespec){0, 500000000L}, NULL);
    }
    sigaction(SIGINT, &old, NULL);
    return code;
}

static int cmd_run(struct fl_cli_client *c, int argc, char **argv)
{
    const char *name = NULL;
    bool detach = false, as_json = false;
    _cleanup_free_ char *esc = NULL;
    char path[1024];
    json_t *reply = NULL;
    long long id;
    int st;

    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--detach"))
            detach = true;
        else if (!strcmp(argv[k], "--json"))
            as_json = true;
        else if (argv[k][0] != '-' && !name)
            name = argv[k];
        else
            return fprintf(stderr, "faultline: error: run: unexpected argument '%s'\n", argv[k]),
                   usage(stderr, FL_EUSAGE);
    }
    if (!name) {
        fprintf(stderr, "faultline: error: run: which stored experiment? (`faultline experiment "
                        "list` shows them; against a server, run takes a name, not a file)\n");
        return FL_EUSAGE;
    }
    if ((st = fl_cli_name_check("experiment", name)))
        return st;
    esc = fl_cli_url_escape(name);
    snprintf(path, sizeof path, "/api/v1/experiments/%s/runs", esc ? esc : name);
    st = fl_cli_api(c, "POST", path, NULL, &reply);
    if (st != 202 || !reply) {
        st = fl_cli_api_fail_at(c, st, reply);
        json_decref(reply);
        return st;
    }
    id = json_integer_value(json_object_get(reply, "id"));
    if (detach) {
        if (as_json)
            dump(reply);
        else
            printf("run %lld of %s started on %s; follow it with `faultline --server %s show "
                   "%lld`\n",
                   id, name, fl_cli_server_url(c), fl_cli_server_url(c), id);
        json_decref(reply);
        return 0;
    }
    json_decref(reply);
    if (!as_json)
        printf("run %lld of %s on %s\n", id, name, fl_cli_server_url(c));
    return follow(c, id, as_json);
}

static int cmd_status(struct fl_cli_client *c, int argc, char **argv)
{
    bool as_json = argc > 1 && !strcmp(argv[1], "--json");
    json_t *faults = NULL, *runs = NULL, *f;
    size_t i;
    int r;

    if (argc > (as_json ? 2 : 1))
        return fprintf(stderr, "faultline: error: status: unexpected argument '%s'\n",
                       argv[as_json ? 2 : 1]),
               usage(stderr, FL_EUSAGE);
    if ((r = get(c, "/api/v1/faults", &faults)) ||
        (r = get(c, "/api/v1/runs?state=running&limit=1000", &runs))) {
        json_decref(faults);
        return r;
    }
    if (as_json) {
        json_object_set(faults, "runs", json_object_get(runs, "runs"));
        dump(faults);
    } else {
        json_t *all = json_object_get(faults, "faults");
        if (!json_array_size(all))
            printf("no active faults on %s\n", fl_cli_server_url(c));
        else
            printf("%-9s %-18s %-8s %-9s %-8s %s\n", "ID", "KIND", "AGE", "LEASE", "OWNER",
                   "TARGET");
        json_array_foreach (all, i, f) {
            char age[32], lease[32], owner[32] = "detached";
            fl_format_duration(json_integer_value(json_object_get(f, "age_ms")), age, sizeof age);
            fl_format_duration(json_integer_value(json_object_get(f, "lease_left_ms")), lease,
                               sizeof lease);
            if (json_is_integer(json_object_get(f, "owner_pid")))
                snprintf(owner, sizeof owner, "%lld%s",
                         (long long)json_integer_value(json_object_get(f, "owner_pid")),
                         json_is_true(json_object_get(f, "owner_alive")) ? "" : "(dead)");
            printf("%-9s %-18s %-8s %-9s %-8s %s\n", str(f, "id", "?"), str(f, "kind", "?"), age,
                   lease, owner, str(f, "description", ""));
        }
        all = json_object_get(runs, "runs");
        printf("%zu run%s going\n", json_array_size(all), json_array_size(all) == 1 ? "" : "s");
        if (json_array_size(all))
            print_runs(all);
    }
    json_decref(faults);
    json_decref(runs);
    return 0;
}

int fl_cli_remote(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct fl_cli_client *c, int argc, char **argv);
    } cmds[] = {{"runs", cmd_runs}, {"show", cmd_show}, {"run", cmd_run}, {"status", cmd_status}};
    struct fl_cli_client c = {0};
    int k = 0, r;

    while (k < argc && !strncmp(argv[k], "--", 2)) {
        if (!strcmp(argv[k], "--help"))
            return usage(stdout, 0);
        if ((r = fl_cli_client_opt(&c, argc, argv, &k)) <= 0)
            return r < 0 ? FL_EUSAGE
                         : (fprintf(stderr, "faultline: error: unknown option '%s'\n", argv[k]),
                            usage(stderr, FL_EUSAGE));
        k++;
    }
    if (!c.server || !*c.server) {
        fprintf(stderr, "faultline: error: --server needs a URL, e.g. http://127.0.0.1:7420\n");
        return FL_EUSAGE;
    }
    if (k >= argc)
        return usage(stderr, FL_EUSAGE);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[k], cmds[i].name)) {
            for (int j = k + 1; j < argc; j++)
                if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h"))
                    return usage(stdout, 0);
            return cmds[i].fn(&c, argc - k, argv + k);
        }
    fprintf(stderr,
            "faultline: error: '%s' does not run against a server; with --server: runs, show, "
            "run, status (others: experiment, schedule, bulletin take --server themselves)\n",
            argv[k]);
    return FL_EUSAGE;
}
