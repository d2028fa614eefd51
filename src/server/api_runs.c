/* /api/v1/runs: start a stored experiment now, list runs (filters and
 * pagination, newest first), one run with its history-store record (events,
 * probes, samples on request, checks, verdict), abort a running one. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "store/server_store.h"
#include "store/store.h"
#include "util/parse.h"

int fl_api_runs_start(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const fields[] = {"experiment", NULL};
    const char *exp =
        rq->arg[0][0] ? rq->arg[0] : json_string_value(json_object_get(rq->body, "experiment"));
    struct fl_err e = {0};
    int64_t id = 0;
    int r;

    if (fl_http_fields(rs, rq->body, fields))
        return 0;
    if (!exp)
        return fl_http_error(rs, 400, "missing_field",
                             "'experiment' (the stored experiment's name) is required");
    r = fl_runner_start(s, exp, NULL, "api", rq->who, &id, &e);
    if (r == -FL_ENOTARGET)
        return fl_http_error(rs, 404, "not_found", "%s", e.msg);
    if (r)
        return fl_http_error(rs, 500, "start_failed", "%s", e.msg);
    return fl_http_ok(rs, 202, fl_runner_get(s, id, false, false));
}

/* ?name=N within [min, max], else def; -1 with a 400 in rs when malformed. */
static int query_int(struct fl_req *rq, struct fl_resp *rs, const char *name, long long min,
                     long long max, long long def, long long *out)
{
    const char *v = fl_http_query(rq, name);
    struct fl_err e = {0};

    *out = def;
    if (v && fl_parse_int(v, min, max, out, &e)) {
        fl_http_error(rs, 400, "invalid_query", "?%s=%.50s: %s", name, v, e.msg);
        return -1;
    }
    return 0;
}

/* The cached answer for key while nothing was written since, else NULL. */
static struct fl_runs_cache *runs_cached(struct fl_server *s, const char *key)
{
    for (size_t i = 0; key[0] && i < FL_SERVER_RUNS_CACHE; i++) {
        struct fl_runs_cache *c = &s->runs_cache[i];
        if (c->text && c->generation == fl_sstore_generation(s->ss) && !strcmp(c->key, key))
            return c;
    }
    return NULL;
}

/* A 200 with a JSON text body (taken). */
static int runs_text(struct fl_resp *rs, char *text)
{
    if (!text)
        return fl_http_error(rs, 500, "internal", "out of memory");
    rs->status = 200;
    rs->text = text;
    rs->ctype = "application/json";
    return 0;
}

int fl_api_runs_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const filters[] = {"experiment", "schedule", "verdict", "state", "trigger"};
    const char *f[5];
    long long limit, offset;
    struct fl_err e = {0};
    json_t *runs, *total;
    char sql[1024], where[256] = "1 = 1";

    struct fl_runs_cache *c;
    char key[sizeof c->key];

    if (query_int(rq, rs, "limit", 1, 1000, 50, &limit) ||
        query_int(rq, rs, "offset", 0, 1LL << 40, 0, &offset))
        return 0;
    /* only the given filters, so an unfiltered count is SQLite's fast count */
    snprintf(key, sizeof key, "%lld %lld", limit, offset);
    for (int i = 0; i < 5; i++)
        if ((f[i] = fl_http_query(rq, filters[i]))) {
            snprintf(where + strlen(where), sizeof where - strlen(where), " AND %s = ?%d",
                     filters[i], i + 1);
            if (strlen(f[i]) > 100)
                key[0] = '\0'; /* too long to cache */
            else if (key[0])
                snprintf(key + strlen(key), sizeof key - strlen(key), "\x1f%d=%s", i, f[i]);
        }
    if ((c = runs_cached(s, key)))
        return runs_text(rs, strdup(c->text));
    snprintf(sql, sizeof sql,
             "SELECT id, experiment, schedule, trigger, state, verdict, reason, history_run, "
             "exit_code, adopted, created_ms, ended_ms FROM srv_runs WHERE %s ORDER BY id DESC "
             "LIMIT ?6 OFFSET ?7",
             where);
    runs = fl_sstore_rows(s->ss, &e, sql, "sssssII", f[0], f[1], f[2], f[3], f[4], (int64_t)limit,
                          (int64_t)offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) AS n FROM srv_runs%s%s", where[5] ? " WHERE " : "",
             where[5] ? where : "");
    total = runs ? fl_sstore_row(s->ss, &e, sql, "sssss", f[0], f[1], f[2], f[3], f[4]) : NULL;
    if (!runs || !total) {
        json_decref(runs);
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    }
    {
        size_t i;
        json_t *r;
        json_array_foreach (runs, i, r)
            json_object_set_new(r, "adopted",
                                json_boolean(json_integer_value(json_object_get(r, "adopted"))));
    }
    {
        json_t *all =
            json_pack("{s:o,s:O,s:I,s:I}", "runs", runs, "total", json_object_get(total, "n"),
                      "limit", (json_int_t)limit, "offset", (json_int_t)offset);
        char *text = all ? json_dumps(all, JSON_COMPACT) : NULL;
        json_decref(all);
        json_decref(total);
        if (!text)
            return fl_http_error(rs, 500, "internal", "out of memory");
        if (key[0]) {
            c = &s->runs_cache[s->runs_cache_next++ % FL_SERVER_RUNS_CACHE];
            free(c->text);
            snprintf(c->key, sizeof c->key, "%s", key);
            c->generation = fl_sstore_generation(s->ss);
            c->text = strdup(text);
        }
        return runs_text(rs, text);
    }
}

static int run_id(struct fl_req *rq, struct fl_resp *rs, int64_t *id)
{
    long long v;
    struct fl_err e = {0};

    if (fl_parse_int(rq->arg[0], 1, 1LL << 53, &v, &e)) {
        fl_http_error(rs, 400, "invalid_id", "run id '%s': %s", rq->arg[0], e.msg);
        return -1;
    }
    *id = v;
    return 0;
}

int fl_api_runs_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *samples = fl_http_query(rq, "samples");
    int64_t id;
    json_t *r;

    if (run_id(rq, rs, &id))
        return 0;
    r = fl_runner_get(s, id, true, samples && strcmp(samples, "0") && strcmp(samples, "false"));
    if (!r)
        return fl_http_error(rs, 404, "not_found", "no run %lld; GET /api/v1/runs lists them",
                             (long long)id);
    return fl_http_ok(rs, 200, r);
}

int fl_api_runs_logs(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *r, *h, *logs;
    int64_t id, hr;

    if (run_id(rq, rs, &id))
        return 0;
    if (!(r = fl_runner_get(s, id, false, false)))
        return fl_http_error(rs, 404, "not_found", "no run %lld; GET /api/v1/runs lists them",
                             (long long)id);
    hr = json_integer_value(json_object_get(r, "history_run"));
    json_decref(r);
    if (!hr)
        return fl_http_error(rs, 404, "not_found",
                             "run %lld has no record in the history store (yet): nothing was "
                             "captured",
                             (long long)id);
    if (!(h = fl_store_show_run(s->hist, hr, 0, &e)) ||
        !(logs = fl_store_run_logs(s->hist, hr, fl_http_query(rq, "source"), &e))) {
        json_decref(h);
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    }
    json_object_set(logs, "events", json_object_get(h, "events"));
    json_object_set_new(logs, "id", json_integer(id));
    json_object_set_new(logs, "history_run", json_integer(hr));
    json_decref(h);
    return fl_http_ok(rs, 200, logs);
}

int fl_api_runs_abort(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    int64_t id;
    json_t *r;

    if (run_id(rq, rs, &id))
        return 0;
    if (!(r = fl_runner_get(s, id, false, false)))
        return fl_http_error(rs, 404, "not_found", "no run %lld", (long long)id);
    json_decref(r);
    if (fl_runner_abort(s, id, &e))
        return fl_http_error(rs, e.code == FL_ENOTARGET ? 409 : 500,
                             e.code == FL_ENOTARGET ? "not_running" : "abort_failed", "%s", e.msg);
    r = fl_runner_get(s, id, false, false);
    json_object_set_new(r, "aborting", json_true());
    return fl_http_ok(rs, 202, r);
}

int fl_api_audit_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    long long limit, offset;
    struct fl_err e = {0};
    json_t *rows;

    if (query_int(rq, rs, "limit", 1, 1000, 100, &limit) ||
        query_int(rq, rs, "offset", 0, 1LL << 40, 0, &offset))
        return 0;
    rows = fl_sstore_rows(s->ss, &e,
                          "SELECT id, t_ms, who, role, method, path, status FROM srv_audit "
                          "ORDER BY id DESC LIMIT ? OFFSET ?",
                          "II", (int64_t)limit, (int64_t)offset);
    if (!rows)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    return fl_http_ok(rs, 200, json_pack("{s:o}", "audit", rows));
}

/* An experiment's finished runs, oldest first, each with the figures its
 * trend charts need from the history store (same SQLite file): the lowest
 * steady-state availability (percent) and the longest time to detect and to
 * recover over its probes (null when the run recorded none). */
int fl_api_experiments_trend(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    long long limit;
    json_t *runs, *x;

    if (query_int(rq, rs, "limit", 1, 1000, 30, &limit))
        return 0;
    x = fl_sstore_row(s->ss, &e, "SELECT name FROM srv_experiments WHERE name = ?", "s",
                      rq->arg[0]);
    if (!x)
        return e.code ? fl_http_error(rs, 500, "store", "%s", e.msg)
                      : fl_http_error(rs, 404, "not_found",
                                      "no experiment '%s'; GET /api/v1/experiments lists them",
                                      rq->arg[0]);
    json_decref(x);
    runs = fl_sstore_rows(
        s->ss, &e,
        "SELECT * FROM (SELECT r.id, r.schedule, r.trigger, r.verdict, r.reason, r.history_run, "
        "r.created_ms, r.ended_ms, (SELECT MIN(p.availability) FROM probes p WHERE p.run_id = "
        "r.history_run AND p.role = 'steady_state') AS availability, (SELECT "
        "MAX(p.time_to_detect_ms) FROM probes p WHERE p.run_id = r.history_run) AS "
        "time_to_detect_ms, (SELECT MAX(p.time_to_recover_ms) FROM probes p WHERE p.run_id = "
        "r.history_run) AS time_to_recover_ms FROM srv_runs r WHERE r.experiment = ? AND "
        "r.state = 'done' ORDER BY r.id DESC LIMIT ?) ORDER BY id",
        "sI", rq->arg[0], (int64_t)limit);
    if (!runs)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    return fl_http_ok(rs, 200, json_pack("{s:s,s:o}", "experiment", rq->arg[0], "runs", runs));
}
