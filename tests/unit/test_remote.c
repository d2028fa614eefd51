/* The agent's API without a socket (fl_agentd_handle on a temporary state
 * directory) and the client's address handling: bearer tokens (401, 403),
 * the error body and its exit code, request checks, dry runs that plan
 * without touching anything, revert of an unknown fault, renewals of an
 * empty session. Applying real faults is left to tests/e2e/test_agent.py. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remote/agentd_int.h"
#include "remote/client.h"
#include "server/auth.h"

static struct fl_agentd d;
static char dir[] = "/tmp/test_remote.XXXXXX";
static const char *const TOKEN = "unit-test-token-0123456789";
static const char *const VIEWER = "unit-test-viewer-0123456789";

static void setup(void)
{
    char tokens[128], h1[72], h2[72];
    struct fl_err e = {0};
    FILE *f;

    cr_assert(mkdtemp(dir));
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    fl_auth_hash(TOKEN, h1);
    fl_auth_hash(VIEWER, h2);
    cr_assert((f = fopen(tokens, "w")));
    fprintf(f, "ctl operator %s\nro viewer %s\n", h1, h2);
    fclose(f);
    cr_assert_eq(fl_agentd_init(&d, dir, tokens, "u1", &e), 0, "%s", e.msg);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void teardown(void)
{
    fl_agentd_fini(&d);
    cr_assert_eq(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* status of one request as `who` (a token or NULL); *out the reply. */
static int req(const char *method, const char *path, const char *body, const char *token,
               json_t **out)
{
    struct fl_agentd_resp rs = {0};
    char auth[128];

    if (token)
        snprintf(auth, sizeof auth, "Bearer %s", token);
    fl_agentd_handle(&d, method, path, body, body ? strlen(body) : 0, token ? auth : NULL, &rs);
    *out = rs.json;
    return rs.status;
}

static const char *msg(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "message"));
}

static int exit_code(json_t *r)
{
    return (int)json_integer_value(json_object_get(json_object_get(r, "error"), "exit"));
}

TestSuite(agent_api, .init = setup, .fini = teardown);

Test(agent_api, health_needs_no_token_faults_do)
{
    json_t *r;

    cr_assert_eq(req("GET", "/api/v1/health", NULL, NULL, &r), 200);
    cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "u1");
    cr_assert_eq(json_integer_value(json_object_get(r, "faults")), 0);
    json_decref(r);
    cr_assert_eq(req("GET", "/api/v1/faults", NULL, NULL, &r), 401);
    cr_assert(strstr(msg(r), "bearer token is required"), "%s", msg(r));
    cr_assert_eq(exit_code(r), 5);
    json_decref(r);
    cr_assert_eq(req("GET", "/api/v1/faults", NULL, "wrong-token", &r), 401);
    cr_assert(strstr(msg(r), "not in this agent's tokens file"), "%s", msg(r));
    json_decref(r);
    cr_assert_eq(req("GET", "/api/v1/faults", NULL, VIEWER, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "faults")), 0);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/recover", "{}", VIEWER, &r), 403);
    cr_assert(strstr(msg(r), "needs the operator role"), "%s", msg(r));
    json_decref(r);
}

Test(agent_api, unknown_routes_and_bad_bodies)
{
    json_t *r;

    cr_assert_eq(req("GET", "/api/v1/nope", NULL, TOKEN, &r), 404);
    json_decref(r);
    cr_assert_eq(req("PUT", "/api/v1/faults", NULL, TOKEN, &r), 405);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults", "[1]", TOKEN, &r), 400);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                     "invalid_json");
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults", "{\"kind\": \"network.partition\"}", TOKEN, &r),
                 400);
    cr_assert(strstr(msg(r), "session"), "%s", msg(r));
    json_decref(r);
    cr_assert_eq(
        req("POST", "/api/v1/faults", "{\"kind\": \"nope\", \"session\": \"s\"}", TOKEN, &r), 400);
    cr_assert(strstr(msg(r), "not a fault kind"), "%s", msg(r));
    cr_assert_eq(exit_code(r), 2);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.partition\", \"session\": \"s\", \"params\": {}}", TOKEN,
                     &r),
                 400);
    cr_assert(strstr(msg(r), "--peer"), "%s", msg(r));
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.partition\", \"session\": \"s\", \"lease_ms\": 10, "
                     "\"params\": {\"peer\": \"10.1.2.3\"}}",
                     TOKEN, &r),
                 400);
    cr_assert(strstr(msg(r), "lease_ms"), "%s", msg(r));
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.partition\", \"session\": \"s\", \"extra\": 1}", TOKEN,
                     &r),
                 400);
    cr_assert(strstr(msg(r), "unknown field 'extra'"), "%s", msg(r));
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.partition\", \"session\": \"a b\", \"params\": "
                     "{\"peer\": \"10.1.2.3\"}}",
                     TOKEN, &r),
                 400);
    json_decref(r);
}

Test(agent_api, dry_run_plans_both_param_forms_and_touches_nothing)
{
    json_t *r;

    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.partition\", \"session\": \"s\", \"dry_run\": true, "
                     "\"params\": {\"peer\": \"10.1.2.3\", \"direction\": \"in\"}}",
                     TOKEN, &r),
                 200);
    cr_assert(json_is_true(json_object_get(r, "dry_run")));
    cr_assert(strstr(json_string_value(json_object_get(r, "description")), "10.1.2.3"));
    json_decref(r);
    /* the journaled form: an array for a repeatable option */
    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.partition\", \"session\": \"s\", \"dry_run\": true, "
                     "\"params\": {\"peer\": [\"10.1.2.3\", \"10.1.2.4\"]}}",
                     TOKEN, &r),
                 200);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/faults",
                     "{\"kind\": \"network.loss\", \"session\": \"s\", \"dry_run\": true, "
                     "\"params\": {\"percent\": 250}}",
                     TOKEN, &r),
                 400);
    json_decref(r);
    cr_assert_eq(req("GET", "/api/v1/faults", NULL, TOKEN, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "faults")), 0);
    json_decref(r);
}

Test(agent_api, revert_unknown_and_renew_empty_session)
{
    json_t *r;

    cr_assert_eq(req("DELETE", "/api/v1/faults/0badc0de", NULL, TOKEN, &r), 200);
    cr_assert(json_is_false(json_object_get(r, "reverted")));
    json_decref(r);
    cr_assert_eq(req("GET", "/api/v1/faults/0badc0de", NULL, TOKEN, &r), 404);
    cr_assert_eq(exit_code(r), 3);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/sessions/abc/renew", "{\"lease_ms\": 5000}", TOKEN, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "live")), 0);
    /* who answered: a controller tells a restarted agent by its pid and uptime */
    cr_assert_eq(json_integer_value(json_object_get(r, "pid")), getpid());
    cr_assert_geq(json_integer_value(json_object_get(r, "uptime_ms")), 0);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/sessions/abc/renew", "{\"lease_ms\": -1}", TOKEN, &r), 400);
    json_decref(r);
    cr_assert_eq(req("POST", "/api/v1/recover", NULL, TOKEN, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "reverted")), 0);
    json_decref(r);
    cr_assert_eq(req("GET", "/api/v1/routes", NULL, NULL, &r), 200);
    cr_assert_geq(json_array_size(json_object_get(r, "routes")), 8);
    json_decref(r);
}

static void check_url(const char *in, const char *want)
{
    struct fl_agent_client_opts o = {.url = in};
    struct fl_agent_client *c = NULL;
    struct fl_err e = {0};

    cr_assert_eq(fl_agent_client_new(&o, &c, &e), 0, "%s: %s", in, e.msg);
    cr_assert_str_eq(fl_agent_client_url(c), want, "%s", in);
    cr_assert_eq(strlen(fl_agent_client_session(c)), 16);
    fl_agent_client_free(c);
}

Test(agent_client, addresses)
{
    struct fl_agent_client_opts o = {0};
    struct fl_agent_client *c = NULL;
    struct fl_err e = {0};
    const char *bad[] = {"", "ftp://x:1", "http://", "[::1", NULL};

    check_url("10.0.0.2", "http://10.0.0.2:7421");
    check_url("db1:8000", "http://db1:8000");
    check_url("https://db1.example", "https://db1.example:7421");
    check_url("http://10.0.0.2:7421/ignored/path", "http://10.0.0.2:7421");
    check_url("[fd00::2]", "http://[fd00::2]:7421");
    check_url("https://[fd00::2]:9000", "https://[fd00::2]:9000");
    for (const char **b = bad; *b; b++) {
        o.url = *b;
        cr_assert_lt(fl_agent_client_new(&o, &c, &e), 0, "%s", *b);
        cr_assert_eq(e.code, FL_EUSAGE);
    }
    o.url = "10.0.0.2";
    cr_assert_eq(fl_agent_client_new(&o, &c, &e), 0);
    cr_assert_str_eq(fl_agent_client_name(c), "10.0.0.2");
    fl_agent_client_free(c);
}

Test(agent_client, unreachable_agent_is_named)
{
    struct fl_agent_client_opts o = {.url = "127.0.0.1:1", .name = "h9", .timeout_ms = 2000};
    struct fl_agent_client *c = NULL;
    struct fl_err e = {0};
    json_t *faults = NULL;

    cr_assert_eq(fl_agent_client_new(&o, &c, &e), 0);
    cr_assert_lt(fl_agent_client_list(c, &faults, &e), 0);
    cr_assert_eq(e.code, FL_EFAIL);
    cr_assert(strstr(e.msg, "agent h9 (http://127.0.0.1:1) cannot be reached"), "%s", e.msg);
    fl_agent_client_free(c);
}
