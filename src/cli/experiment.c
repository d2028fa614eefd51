/* faultline experiment add|list|show|rm: the server's stored experiments,
 * through its API (docs/api.md). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api_client.h"
#include "cli/cli.h"
#include "util/err.h"

#define MAX_FILE (1 << 20)

static void usage(FILE *out)
{
    fprintf(out, "usage: faultline experiment add NAME FILE.yaml | list [--json] |\n"
                 "                            show NAME [--json] | rm NAME   [options]\n\n"
                 "Manage the experiments stored in a faultline server. add validates the file\n"
                 "on the server (errors as FILE:line:col) and creates or replaces NAME.\n\n"
                 "options:\n" FL_CLI_CLIENT_HELP "  --json              print the server's JSON\n\n"
                 "Exit codes: 0 ok, 1 server unreachable or failed, 2 invalid (file or\n"
                 "arguments), 3 no such experiment, 4 conflict (in use), 5 not allowed.\n");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = malloc(MAX_FILE + 1);
    size_t n;

    if (!f || !buf) {
        if (f)
            fclose(f);
        free(buf);
        fprintf(stderr, "faultline: error: cannot read %s: %m\n", path);
        return NULL;
    }
    n = fread(buf, 1, MAX_FILE + 1, f);
    fclose(f);
    if (n > MAX_FILE) {
        free(buf);
        fprintf(stderr, "faultline: error: %s is larger than the API's 1 MiB limit\n", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int add(struct fl_cli_client *c, const char *name, const char *file)
{
    char *text = read_file(file), path[512];
    json_t *reply = NULL, *body, *d;
    int st;
    size_t i;

    if (!text)
        return FL_EUSAGE;
    body = json_pack("{s:s}", "content", text);
    free(text);
    if (!body) {
        fprintf(stderr, "faultline: error: %s is not UTF-8 text\n", file);
        return FL_EUSAGE;
    }
    snprintf(path, sizeof path, "/api/v1/experiments/%s", name);
    st = fl_cli_api(c, "PUT", path, body, &reply);
    json_decref(body);
    if (st == 422) {
        json_array_foreach (json_object_get(json_object_get(reply, "error"), "details"), i, d) {
            json_t *line = json_object_get(d, "line");
            if (json_is_integer(line))
                fprintf(stderr, "%s:%lld:%lld: %s\n", file, (long long)json_integer_value(line),
                        (long long)json_integer_value(json_object_get(d, "column")),
                        json_string_value(json_object_get(d, "message")));
            else
                fprintf(stderr, "%s: %s\n", file, json_string_value(json_object_get(d, "message")));
        }
        json_decref(reply);
        return FL_EUSAGE;
    }
    if (st != 200 && st != 201) {
        int r = fl_cli_api_fail(st, reply);
        json_decref(reply);
        return r;
    }
    printf("%s experiment %s (%s)\n", st == 201 ? "added" : "replaced", name,
           json_string_value(json_object_get(reply, "title")));
    json_decref(reply);
    return 0;
}

static int list(struct fl_cli_client *c, bool as_json)
{
    json_t *reply = NULL, *x;
    int st = fl_cli_api(c, "GET", "/api/v1/experiments", NULL, &reply);
    size_t i;

    if (st != 200) {
        int r = fl_cli_api_fail(st, reply);
        json_decref(reply);
        return r;
    }
    if (as_json) {
        json_dumpf(json_object_get(reply, "experiments"), stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        printf("%-24s %5s  %s\n", "NAME", "RUNS", "TITLE");
        json_array_foreach (json_object_get(reply, "experiments"), i, x)
            printf("%-24s %5lld  %s\n", json_string_value(json_object_get(x, "name")),
                   (long long)json_integer_value(json_object_get(x, "runs")),
                   json_string_value(json_object_get(x, "title")));
    }
    json_decref(reply);
    return 0;
}

static int one(struct fl_cli_client *c, const char *method, const char *name, bool as_json)
{
    json_t *reply = NULL;
    char path[512];
    int st;

    snprintf(path, sizeof path, "/api/v1/experiments/%s", name);
    st = fl_cli_api(c, method, path, NULL, &reply);
    if (st != 200) {
        int r = fl_cli_api_fail(st, reply);
        json_decref(reply);
        return r;
    }
    if (as_json) {
        json_dumpf(reply, stdout, JSON_INDENT(2));
        putchar('\n');
    } else if (!strcmp(method, "DELETE")) {
        printf("removed experiment %s\n", name);
    } else {
        fputs(json_string_value(json_object_get(reply, "content")), stdout);
    }
    json_decref(reply);
    return 0;
}

int fl_cli_experiment(int argc, char **argv)
{
    struct fl_cli_client c = {0};
    const char *pos[3] = {0};
    bool as_json = false;
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        int r = fl_cli_client_opt(&c, argc, argv, &i);
        if (r < 0)
            return FL_EUSAGE;
        if (r)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (argv[i][0] == '-' || npos == 3) {
            fprintf(stderr,
                    "faultline: error: unexpected argument %s; run `faultline "
                    "experiment --help`\n",
                    argv[i]);
            return FL_EUSAGE;
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos >= 2 && fl_cli_name_check("experiment", pos[1]))
        return FL_EUSAGE;
    if (npos == 3 && !strcmp(pos[0], "add"))
        return add(&c, pos[1], pos[2]);
    if (npos == 1 && !strcmp(pos[0], "list"))
        return list(&c, as_json);
    if (npos == 2 && !strcmp(pos[0], "show"))
        return one(&c, "GET", pos[1], as_json);
    if (npos == 2 && !strcmp(pos[0], "rm"))
        return one(&c, "DELETE", pos[1], as_json);
    usage(stderr);
    return FL_EUSAGE;
}
