/* faultline bulletin add|list|show|export|set|rm: "known limits" bulletins
 * kept by a faultline server, through its API (docs/server.md). */
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
    fprintf(out, "usage: faultline bulletin add --title T [--background B] [--recommendations R]\n"
                 "                              [--initiatives I] [--status S] [--run ID]...\n"
                 "       faultline bulletin add --from-run ID [same options: override the run's]\n"
                 "       faultline bulletin list [--status open|mitigated|resolved] [--search TEXT]"
                 " [--json]\n"
                 "       faultline bulletin show ID [--json] | export ID | rm ID\n"
                 "       faultline bulletin set ID [--status S] [--title T] [...as for add]\n\n"
                 "Known limits: what was found, in which runs, what to do about it, its status.\n"
                 "export prints the bulletin as Markdown for a wiki.\n\n"
                 "options:\n" FL_CLI_CLIENT_HELP "\nExit codes as for `faultline experiment`.\n");
}

static int finish(int st, json_t *reply, bool as_json, const char *done)
{
    if (st < 200 || st >= 300) {
        st = fl_cli_api_fail(st, reply);
        json_decref(reply);
        return st;
    }
    if (as_json || !done) {
        json_dumpf(reply, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        printf("%s %lld: %s\n", done, (long long)json_integer_value(json_object_get(reply, "id")),
               json_string_value(json_object_get(reply, "title")));
    }
    json_decref(reply);
    return 0;
}

/* The options of add and set into body; from_run receives --from-run. */
static int fields(int argc, char **argv, int i, json_t *body, long long *from_run)
{
    static const char *const text[] = {"--title",       "--background", "--recommendations",
                                       "--initiatives", "--status",     "--date"};
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        struct fl_err e = {0};
        size_t k;
        for (k = 0; k < sizeof text / sizeof text[0] && strcmp(text[k], a); k++)
            ;
        if (!v) {
            fprintf(stderr, "faultline: error: %s needs a value\n", a);
            return FL_EUSAGE;
        }
        i++;
        if (k < sizeof text / sizeof text[0]) {
            json_object_set_new(body, a + 2, json_string(v));
        } else if ((!strcmp(a, "--run") || (from_run && !strcmp(a, "--from-run"))) &&
                   !fl_parse_int(v, 1, 1LL << 53, &n, &e)) {
            if (!strcmp(a, "--from-run")) {
                *from_run = n;
            } else {
                if (!json_object_get(body, "runs"))
                    json_object_set_new(body, "runs", json_array());
                json_array_append_new(json_object_get(body, "runs"), json_integer(n));
            }
        } else {
            fprintf(stderr, "faultline: error: %s %s: %s; run `faultline bulletin --help`\n", a, v,
                    e.msg[0] ? e.msg : "unknown option");
            return FL_EUSAGE;
        }
    }
    return 0;
}

static int list(struct fl_cli_client *c, int argc, char **argv)
{
    char path[512] = "/api/v1/bulletins?", *esc;
    bool as_json = false;
    json_t *reply = NULL, *b;
    size_t i;
    int st;

    for (int k = 2; k < argc; k++) {
        if (!strcmp(argv[k], "--json")) {
            as_json = true;
        } else if ((!strcmp(argv[k], "--status") || !strcmp(argv[k], "--search")) && k + 1 < argc) {
            esc = fl_cli_url_escape(argv[k + 1]);
            snprintf(path + strlen(path), sizeof path - strlen(path), "%s=%s&",
                     argv[k][2] == 's' && argv[k][3] == 't' ? "status" : "q", esc ? esc : "");
            free(esc);
            k++;
        } else {
            fprintf(stderr, "faultline: error: unexpected argument %s\n", argv[k]);
            return FL_EUSAGE;
        }
    }
    st = fl_cli_api(c, "GET", path, NULL, &reply);
    if (st != 200)
        return finish(st, reply, true, NULL);
    if (as_json) {
        json_dumpf(json_object_get(reply, "bulletins"), stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(reply);
        return 0;
    }
    printf("%-5s %-10s %-10s %s\n", "ID", "DATE", "STATUS", "TITLE");
    json_array_foreach (json_object_get(reply, "bulletins"), i, b)
        printf("%-5lld %-10s %-10s %s\n", (long long)json_integer_value(json_object_get(b, "id")),
               json_string_value(json_object_get(b, "date")),
               json_string_value(json_object_get(b, "status")),
               json_string_value(json_object_get(b, "title")));
    json_decref(reply);
    return 0;
}

static int bulletin_main(struct fl_cli_client *c, int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    json_t *reply = NULL, *body;
    long long from_run = 0, id = 0;
    char path[256];
    struct fl_err e = {0};
    int r;

    if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(verb, "list"))
        return list(c, argc, argv);
    if (!strcmp(verb, "add")) {
        body = json_object();
        if ((r = fields(argc, argv, 2, body, &from_run))) {
            json_decref(body);
            return r;
        }
        if (from_run)
            snprintf(path, sizeof path, "/api/v1/runs/%lld/bulletin", from_run);
        r = fl_cli_api(c, "POST", from_run ? path : "/api/v1/bulletins", body, &reply);
        json_decref(body);
        return finish(r, reply, false, "added bulletin");
    }
    if (argc < 3 || fl_parse_int(argv[2], 1, 1LL << 53, &id, &e)) {
        usage(stderr);
        return FL_EUSAGE;
    }
    if (!strcmp(verb, "set")) {
        body = json_object();
        if ((r = fields(argc, argv, 3, body, NULL))) {
            json_decref(body);
            return r;
        }
        snprintf(path, sizeof path, "/api/v1/bulletins/%lld", id);
        r = fl_cli_api(c, "PATCH", path, body, &reply);
        json_decref(body);
        return finish(r, reply, false, "updated bulletin");
    }
    if (!strcmp(verb, "export")) {
        char *text = NULL;
        snprintf(path, sizeof path, "/api/v1/bulletins/%lld/markdown", id);
        r = fl_cli_api_text(c, path, &text);
        if (r == 200)
            fputs(text, stdout);
        free(text);
        return r == 200 ? 0 : r < 0 ? FL_EFAIL : r == 404 ? FL_ENOTARGET : FL_EFAIL;
    }
    if (!strcmp(verb, "show") || !strcmp(verb, "rm")) {
        snprintf(path, sizeof path, "/api/v1/bulletins/%lld", id);
        r = fl_cli_api(c, verb[0] == 's' ? "GET" : "DELETE", path, NULL, &reply);
        return finish(r, reply, true, NULL);
    }
    usage(stderr);
    return FL_EUSAGE;
}

int fl_cli_bulletin(int argc, char **argv)
{
    struct fl_cli_client c = {0};
    char **args = calloc((size_t)argc + 1, sizeof *args);
    int n = 0, r;

    if (!args)
        return FL_EFAIL;
    for (int i = 0; i < argc; i++) {
        r = i ? fl_cli_client_opt(&c, argc, argv, &i) : 0;
        if (r < 0) {
            free(args);
            return FL_EUSAGE;
        }
        if (!r)
            args[n++] = argv[i];
    }
    r = bulletin_main(&c, n, args);
    free(args);
    return r;
}
