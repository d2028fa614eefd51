/* The server's API without a socket (fl_http_handle on a temporary store):
 * the error body, body and field checks, experiments and schedules, the
 * audit rows, /metrics. Routes that start run processes are left to the
 * e2e tests (tests/e2e/test_server*.py). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

static struct fl_server *srv;
static int lock_fd = -1;
static char dir[] = "/tmp/test_server_api.XXXXXX";

static void setup(void)
{
    struct fl_server_opts o = {0};
    struct fl_err e = {0};
    char db[64];

    cr_assert(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/h.db", dir);
    o.db = db;
    srv = fl_server_new(&o, &lock_fd, &e);
    cr_assert(srv, "%s", e.msg);
}

static void teardown(void)
{
    char cmd[128];

    fl_server_free(srv, lock_fd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* status of one request; *out the parsed JSON reply (caller decrefs). */
static int call(const char *method, const char *path, const char *body, json_t **out)
{
    char *text = NULL;
    int status = 0;

    fl_http_handle(srv, method, path, body, body ? strlen(body) : 0, &text, &status);
    cr_assert(text);
    if (out)
        *out = json_loads(text, 0, NULL);
    free(text);
    return status;
}

static const char *err_code(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

#define EXP                                                                                        \
    "{\"name\": \"e\", \"content\": \"title: t\\nsteady_state:\\n  probes:\\n    - {name: p, "     \
    "type: command, command: 'true'}\\nmethod:\\n  - {command: 'true'}\\n\"}"

Test(server_api, errors_share_one_body, .init = setup, .fini = teardown)
{
    json_t *r;

    cr_assert_eq(call("POST", "/api/v1/experiments", "[1]", &r), 400);
    cr_assert_str_eq(err_code(r), "invalid_json");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "status")), 400);
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/experiments", "{\"name\": \"e\", \"x\": 1}", &r), 400);
    cr_assert_str_eq(err_code(r), "unknown_field");
    json_decref(r);
    cr_assert_eq(call("GET", "/nope", NULL, &r), 404);
    json_decref(r);
    cr_assert_eq(call("PATCH", "/api/v1/experiments", NULL, &r), 405);
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/experiments", "{\"a\": 1, \"a\": 2}", &r), 400);
    cr_assert_str_eq(err_code(r), "invalid_json");
    json_decref(r);
}

Test(server_api, body_limit, .init = setup, .fini = teardown)
{
    size_t n = FL_SERVER_MAX_BODY + 1;
    char *big = malloc(n + 1), *text = NULL;
    int status = 0;

    memset(big, ' ', n);
    big[n] = '\0';
    fl_http_handle(srv, "POST", "/api/v1/experiments", big, n, &text, &status);
    cr_assert_eq(status, 413);
    cr_assert(strstr(text, "body_too_large"));
    free(text);
    free(big);
}

Test(server_api, experiments_and_schedules, .init = setup, .fini = teardown)
{
    json_t *r;

    cr_assert_eq(call("POST", "/api/v1/experiments", EXP, &r), 201);
    cr_assert_str_eq(json_string_value(json_object_get(r, "title")), "t");
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/experiments", EXP, &r), 409);
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/schedules",
                      "{\"name\": \"s\", \"experiment\": \"e\", \"cron\": \"61 * * * *\"}", &r),
                 400);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                     "cron field 1 (minute) '61'"));
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/schedules",
                      "{\"name\": \"s\", \"experiment\": \"e\", \"cron\": \"0 0 30 2 *\"}", &r),
                 400);
    cr_assert_str_eq(err_code(r), "never_fires");
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/schedules",
                      "{\"name\": \"s\", \"experiment\": \"e\", \"cron\": \"@daily\", \"keep\": 0}",
                      &r),
                 400);
    json_decref(r);
    cr_assert_eq(call("POST", "/api/v1/schedules",
                      "{\"name\": \"s\", \"experiment\": \"e\", \"cron\": \"@daily\", \"jitter\": "
                      "\"5m\", \"paused\": true}",
                      &r),
                 201);
    cr_assert(json_is_true(json_object_get(r, "paused")));
    cr_assert_eq(json_integer_value(json_object_get(r, "jitter_ms")), 300000);
    cr_assert_eq(json_integer_value(json_object_get(r, "next_ms")) % 86400000, 0);
    json_decref(r);
    cr_assert_eq(call("DELETE", "/api/v1/experiments/e", NULL, &r), 409);
    cr_assert_str_eq(err_code(r), "in_use");
    json_decref(r);
    cr_assert_eq(call("DELETE", "/api/v1/schedules/s", NULL, NULL), 200);
    cr_assert_eq(call("DELETE", "/api/v1/experiments/e", NULL, NULL), 200);
    cr_assert_eq(call("GET", "/api/v1/experiments/e", NULL, NULL), 404);
}

Test(server_api, audit_and_metrics, .init = setup, .fini = teardown)
{
    json_t *r;
    char *text = NULL;
    int status;

    cr_assert_eq(call("POST", "/api/v1/experiments", EXP, NULL), 201);
    cr_assert_eq(call("DELETE", "/api/v1/experiments/zz", NULL, NULL), 404);
    cr_assert_eq(call("GET", "/api/v1/audit", NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "audit")), 2);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(r, "audit"), 0), "status")),
                 404);
    json_decref(r);
    fl_http_handle(srv, "GET", "/metrics", NULL, 0, &text, &status);
    cr_assert_eq(status, 200);
    cr_assert(strstr(text, "# TYPE faultline_run_duration_seconds histogram\n"));
    cr_assert(strstr(text, "faultline_http_requests_total "));
    free(text);
}
