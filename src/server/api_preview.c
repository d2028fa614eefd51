/* Read-only previews for editors (the console's experiment and schedule
 * forms): validate an experiment's YAML without storing it, print the
 * resolved plan of a dry run, and list the next fire times of an unsaved
 * schedule expression. They change nothing, so the route table marks them
 * as reads (no audit row) even where the text travels in a POST body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "server/cron.h"
#include "server/server.h"
#include "spec/spec.h"
#include "store/server_store.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/time.h"

/* Load content as experiment `name`; NULL with a 422 (one detail per error) in rs. */
static struct fl_spec *load(struct fl_resp *rs, const char *name, const char *content)
{
    struct fl_spec_errors errs = {0};
    struct fl_spec *spec = fl_spec_load_string(name, content, strlen(content), &errs);

    if (spec)
        return spec;
    fl_http_error(rs, 422, "invalid_experiment",
                  "the experiment is invalid (%zu error%s); `faultline validate FILE` shows the "
                  "same",
                  errs.n, errs.n == 1 ? "" : "s");
    json_object_set_new(json_object_get(rs->json, "error"), "details",
                        fl_api_spec_errors(name, &errs));
    fl_spec_errors_fini(&errs);
    return NULL;
}

static json_t *warnings(const struct fl_spec *spec)
{
    json_t *w = json_array();

    for (size_t i = 0; i < spec->nwarnings; i++)
        json_array_append_new(w, json_string(spec->warnings[i]));
    return w;
}

int fl_api_experiments_validate(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const fields[] = {"name", "content", NULL};
    const char *name = json_string_value(json_object_get(rq->body, "name"));
    const char *content = json_string_value(json_object_get(rq->body, "content"));
    struct fl_spec *spec;

    (void)s;
    if (fl_http_fields(rs, rq->body, fields))
        return 0;
    if (!name)
        name = "experiment";
    else if (fl_api_name_error(rs, "experiment", name))
        return 0;
    if (!content)
        return fl_http_error(rs, 400, "missing_field",
                             "'content' (the experiment's YAML text, a string) is required");
    if (!(spec = load(rs, name, content)))
        return 0;
    fl_http_ok(rs, 200,
               json_pack("{s:s,s:b,s:s,s:o}", "name", name, "valid", 1, "title", spec->title,
                         "warnings", warnings(spec)));
    fl_spec_free(spec);
    return 0;
}

/* The text fl_engine_dry_run prints for spec; *err gets its error, if any.
 * Planning resolves targets (it may ask podman about a container), so it
 * runs without s->lock: the API and the scheduler go on meanwhile. */
static char *dry_run_text(struct fl_server *s, const struct fl_spec *spec, struct fl_err *err)
{
    struct fl_engine_opts o = {.state_dir = fl_server_state_dir(s)};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    o.out = f;
    pthread_mutex_unlock(&s->lock);
    fl_engine_dry_run(spec, &o, f, err);
    pthread_mutex_lock(&s->lock);
    fclose(f);
    return text;
}

int fl_api_experiments_dry_run(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const fields[] = {"content", NULL};
    const char *content = json_string_value(json_object_get(rq->body, "content"));
    _cleanup_free_ char *text = NULL;
    struct fl_err e = {0}, plan_err = {0};
    struct fl_spec *spec;
    json_t *x = NULL;

    if (rq->body && fl_http_fields(rs, rq->body, fields))
        return 0;
    if (!content) {
        x = fl_sstore_row(s->ss, &e, "SELECT content FROM srv_experiments WHERE name = ?", "s",
                          rq->arg[0]);
        if (!x)
            return e.code ? fl_http_error(rs, 500, "store", "%s", e.msg)
                          : fl_http_error(rs, 404, "not_found",
                                          "no experiment '%s'; GET /api/v1/experiments lists them "
                                          "(or send its text as 'content')",
                                          rq->arg[0]);
        content = json_string_value(json_object_get(x, "content"));
    }
    spec = content ? load(rs, rq->arg[0], content) : NULL;
    json_decref(x);
    if (!spec)
        return content ? 0 : fl_http_error(rs, 500, "store", "the stored experiment has no text");
    text = dry_run_text(s, spec, &plan_err);
    fl_spec_free(spec);
    if (!text)
        return fl_http_error(rs, 500, "dry_run", "out of memory printing the plan");
    return fl_http_ok(rs, 200,
                      json_pack("{s:s,s:b,s:s,s:o}", "name", rq->arg[0], "ok", !plan_err.code,
                                "plan", text, "error",
                                plan_err.code ? json_string(plan_err.msg) : json_null()));
}

int fl_api_cron_next(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *expr = fl_http_query(rq, "cron"), *cnt = fl_http_query(rq, "count"),
               *after = fl_http_query(rq, "after");
    long long count = 5, from = fl_wall_ms();
    struct fl_err e = {0};
    struct fl_cron c;
    json_t *times;
    int64_t t;

    (void)s;
    if (!expr)
        return fl_http_error(
            rs, 400, "missing_field",
            "?cron= (\"*/15 * * * *\" or \"@every 10m\", URL-encoded) is required");
    if (cnt && fl_parse_int(cnt, 1, 100, &count, &e))
        return fl_http_error(rs, 400, "invalid_query", "?count=%.20s: %s", cnt, e.msg);
    if (after && fl_parse_int(after, 0, 1LL << 50, &from, &e))
        return fl_http_error(rs, 400, "invalid_query", "?after=%.20s: %s", after, e.msg);
    if (fl_cron_parse(expr, &c, &e))
        return fl_http_error(rs, 400, "invalid_cron", "%s", e.msg);
    times = json_array();
    for (t = fl_cron_next(&c, from); json_array_size(times) < (size_t)count && t >= 0;
         t = fl_cron_next(&c, t))
        json_array_append_new(times, json_integer(t));
    if (!json_array_size(times)) {
        json_decref(times);
        return fl_http_error(rs, 400, "never_fires",
                             "'%s' never fires: no minute in the next 10 years matches it (a day "
                             "that its months do not have?)",
                             expr);
    }
    return fl_http_ok(
        rs, 200,
        json_pack("{s:s,s:I,s:o}", "cron", expr, "after_ms", (json_int_t)from, "next_ms", times));
}
