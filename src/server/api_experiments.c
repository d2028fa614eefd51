/* /api/v1/experiments: stored experiments, by name. The YAML text is
 * validated on the way in with the same loader `faultline validate` uses;
 * its file:line:col errors come back as JSON (422). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "spec/spec.h"
#include "store/server_store.h"
#include "util/time.h"

#define NAME_MAX_LEN 100

/* Names are used in URLs and file names: letters, digits, '-', '_', '.'. */
static bool name_ok(const char *n)
{
    size_t len = strlen(n);

    if (!len || len > NAME_MAX_LEN || n[0] == '.')
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

int fl_api_name_error(struct fl_resp *rs, const char *what, const char *name)
{
    if (name && name_ok(name))
        return 0;
    fl_http_error(rs, 400, "invalid_name",
                  "%s name '%.100s' is invalid: use 1-%d letters, digits, '-', '_' or '.' "
                  "(not starting with '.')",
                  what, name ? name : "", NAME_MAX_LEN);
    return -1;
}

/* "name:LINE:COL: message" into {line, col, message}. */
static json_t *error_json(const char *name, const char *msg)
{
    size_t nl = strlen(name);
    int line = 0, col = 0, used = 0;

    if (!strncmp(msg, name, nl) && msg[nl] == ':' &&
        sscanf(msg + nl + 1, "%d:%d: %n", &line, &col, &used) == 2 && used > 0)
        return json_pack("{s:s,s:i,s:i,s:s,s:s}", "file", name, "line", line, "column", col,
                         "message", msg + nl + 1 + used, "text", msg);
    return json_pack("{s:s,s:n,s:n,s:s,s:s}", "file", name, "line", "column", "message", msg,
                     "text", msg);
}

json_t *fl_api_spec_errors(const char *name, const struct fl_spec_errors *errs)
{
    json_t *details = json_array();

    for (size_t i = 0; i < errs->n; i++)
        json_array_append_new(details, error_json(name, errs->msg[i]));
    return details;
}

/* Validate and store; status 201 when created, 200 when replaced. */
static int save(struct fl_server *s, struct fl_resp *rs, const char *name, json_t *body,
                bool must_be_new)
{
    static const char *const fields[] = {"name", "content", NULL};
    const char *content = json_string_value(json_object_get(body, "content"));
    struct fl_spec_errors errs = {0};
    struct fl_spec *spec;
    struct fl_err e = {0};
    json_t *old, *details;
    int64_t now = fl_wall_ms();

    if (fl_http_fields(rs, body, fields) || fl_api_name_error(rs, "experiment", name))
        return 0;
    if (!content)
        return fl_http_error(rs, 400, "missing_field",
                             "'content' (the experiment's YAML text, a string) is required");
    spec = fl_spec_load_string(name, content, strlen(content), &errs);
    if (!spec) {
        details = fl_api_spec_errors(name, &errs);
        fl_http_error(rs, 422, "invalid_experiment",
                      "the experiment is invalid (%zu error%s); `faultline validate FILE` "
                      "shows the same",
                      errs.n, errs.n == 1 ? "" : "s");
        json_object_set_new(json_object_get(rs->json, "error"), "details", details);
        fl_spec_errors_fini(&errs);
        return 0;
    }
    old = fl_sstore_row(s->ss, &e, "SELECT name FROM srv_experiments WHERE name = ?", "s", name);
    if (old && must_be_new) {
        json_decref(old);
        fl_spec_free(spec);
        return fl_http_error(rs, 409, "exists",
                             "experiment '%s' exists; PUT /api/v1/experiments/%s replaces it", name,
                             name);
    }
    if (fl_sstore_exec(s->ss, NULL, &e,
                       "INSERT INTO srv_experiments (name, title, content, created_ms, "
                       "updated_ms) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO UPDATE "
                       "SET title = ?2, content = ?3, updated_ms = ?4",
                       "sssI", name, spec->title, content, now) < 0) {
        json_decref(old);
        fl_spec_free(spec);
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    }
    fl_spec_free(spec);
    rs->status = old ? 200 : 201;
    json_decref(old);
    rs->json = fl_sstore_row(s->ss, &e,
                             "SELECT name, title, content, created_ms, updated_ms FROM "
                             "srv_experiments WHERE name = ?",
                             "s", name);
    return 0;
}

int fl_api_experiments_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *name = json_string_value(json_object_get(rq->body, "name"));

    if (!name)
        return fl_http_error(rs, 400, "missing_field", "'name' (a string) is required");
    return save(s, rs, name, rq->body, true);
}

int fl_api_experiments_put(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *name = json_string_value(json_object_get(rq->body, "name"));

    if (name && strcmp(name, rq->arg[0]))
        return fl_http_error(rs, 400, "name_mismatch", "the body names '%s' but the URL names '%s'",
                             name, rq->arg[0]);
    return save(s, rs, rq->arg[0], rq->body, false);
}

int fl_api_experiments_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *all = fl_sstore_rows(s->ss, &e,
                                 "SELECT x.name, x.title, x.created_ms, x.updated_ms, "
                                 "(SELECT COUNT(*) FROM srv_runs r WHERE r.experiment = x.name) "
                                 "AS runs FROM srv_experiments x ORDER BY x.name",
                                 NULL);

    if (!all)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    return fl_http_ok(rs, 200, json_pack("{s:o}", "experiments", all));
}

int fl_api_experiments_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *x = fl_sstore_row(s->ss, &e,
                              "SELECT name, title, content, created_ms, updated_ms FROM "
                              "srv_experiments WHERE name = ?",
                              "s", rq->arg[0]);

    if (!x)
        return e.code ? fl_http_error(rs, 500, "store", "%s", e.msg)
                      : fl_http_error(rs, 404, "not_found",
                                      "no experiment '%s'; GET /api/v1/experiments lists them",
                                      rq->arg[0]);
    return fl_http_ok(rs, 200, x);
}

int fl_api_experiments_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *busy = fl_sstore_row(s->ss, &e,
                                 "SELECT (SELECT COUNT(*) FROM srv_schedules WHERE experiment = "
                                 "?1) AS schedules, (SELECT COUNT(*) FROM srv_runs WHERE "
                                 "experiment = ?1 AND state = 'running') AS running",
                                 "s", rq->arg[0]);
    json_int_t sched = json_integer_value(json_object_get(busy, "schedules"));
    json_int_t running = json_integer_value(json_object_get(busy, "running"));
    int n;

    json_decref(busy);
    if (sched || running)
        return fl_http_error(rs, 409, "in_use",
                             "experiment '%s' has %lld schedule(s) and %lld running run(s); "
                             "remove the schedules and wait for (or abort) the runs first",
                             rq->arg[0], (long long)sched, (long long)running);
    n = fl_sstore_exec(s->ss, NULL, &e, "DELETE FROM srv_experiments WHERE name = ?", "s",
                       rq->arg[0]);
    if (n < 0)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    if (!n)
        return fl_http_error(rs, 404, "not_found", "no experiment '%s'", rq->arg[0]);
    return fl_http_ok(rs, 200, json_pack("{s:s,s:b}", "name", rq->arg[0], "deleted", 1));
}
