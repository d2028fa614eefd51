/* /api/v1/schedules: when a stored experiment runs by itself. A schedule
 * that cannot fire (bad cron, or no time in the next 10 years matches) is
 * refused with the reason; the scheduler (scheduler.c) fires the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cron.h"
#include "server/server.h"
#include "store/server_store.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/time.h"

#define SCHEDULE_COLS                                                                              \
    "name, experiment, spec AS cron, jitter_ms, concurrency, keep, catch_up, gates, paused, "      \
    "blackouts, next_ms, fire_ms, last_fire_ms, created_ms"

static json_t *decorate(json_t *sc)
{
    json_t *g;

    if (!sc)
        return NULL;
    json_object_set_new(sc, "paused",
                        json_boolean(json_integer_value(json_object_get(sc, "paused"))));
    g = json_loads(json_string_value(json_object_get(sc, "gates")), 0, NULL);
    json_object_set_new(sc, "gates", g ? g : json_array());
    g = json_loads(json_string_value(json_object_get(sc, "blackouts")), 0, NULL);
    json_object_set_new(sc, "blackouts", g ? g : json_array());
    return sc;
}

static json_t *get(struct fl_server *s, const char *name)
{
    struct fl_err e = {0};

    return decorate(fl_sstore_row(
        s->ss, &e, "SELECT " SCHEDULE_COLS " FROM srv_schedules WHERE name = ?", "s", name));
}

static int one_of(const char *v, const char *a, const char *b, const char *c)
{
    return !strcmp(v, a) || !strcmp(v, b) || (c && !strcmp(v, c));
}

/* Validate the body's optional fields into the out parameters. */
static int options(struct fl_resp *rs, json_t *b, int64_t *jitter_ms, const char **conc,
                   long long *keep, const char **catch_up, char **gates, char **blackouts)
{
    const char *j = json_string_value(json_object_get(b, "jitter"));
    json_t *k = json_object_get(b, "keep"), *g = json_object_get(b, "gates");
    struct fl_err e = {0};

    *conc = json_string_value(json_object_get(b, "concurrency"));
    *catch_up = json_string_value(json_object_get(b, "catch_up"));
    if (!*conc)
        *conc = "forbid";
    if (!*catch_up)
        *catch_up = "once";
    if (j && (fl_parse_duration_ms(j, jitter_ms, &e) || *jitter_ms > 24LL * 3600 * 1000))
        return fl_http_error(rs, 400, "invalid_field", "jitter '%s': %s", j,
                             e.msg[0] ? e.msg : "at most 24h"),
               -1;
    if (!one_of(*conc, "forbid", "allow", "replace"))
        return fl_http_error(rs, 400, "invalid_field",
                             "concurrency '%s': use forbid (default), allow or replace", *conc),
               -1;
    if (!one_of(*catch_up, "once", "skip", NULL))
        return fl_http_error(rs, 400, "invalid_field",
                             "catch_up '%s': use once (default: one run for the slots missed "
                             "while the server was down) or skip",
                             *catch_up),
               -1;
    *keep = 50;
    if (k && (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 100000))
        return fl_http_error(rs, 400, "invalid_field", "keep: a number of runs from 1 to 100000"),
               -1;
    if (k)
        *keep = json_integer_value(k);
    if (g && fl_gates_validate(g, &e))
        return fl_http_error(rs, 400, "invalid_gate", "%s", e.msg), -1;
    g = json_object_get(b, "blackouts");
    if (g && fl_blackouts_validate(g, &e))
        return fl_http_error(rs, 400, "invalid_blackout", "%s", e.msg), -1;
    *blackouts = g ? json_dumps(g, JSON_COMPACT) : strdup("[]");
    g = json_object_get(b, "gates");
    *gates = g ? json_dumps(g, JSON_COMPACT) : strdup("[]");
    return 0;
}

int fl_api_schedules_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const fields[] = {"name",        "experiment", "cron",     "jitter",
                                         "concurrency", "keep",       "catch_up", "gates",
                                         "paused",      "blackouts",  NULL};
    const char *name = json_string_value(json_object_get(rq->body, "name"));
    const char *exp = json_string_value(json_object_get(rq->body, "experiment"));
    const char *spec = json_string_value(json_object_get(rq->body, "cron"));
    const char *conc, *catch_up;
    int64_t jitter_ms = 0, now = fl_wall_ms();
    _cleanup_free_ char *gates = NULL, *blackouts = NULL;
    long long keep;
    struct fl_cron c;
    struct fl_err e = {0};
    json_t *x;

    if (fl_http_fields(rs, rq->body, fields) || fl_api_name_error(rs, "schedule", name))
        return 0;
    if (!exp || !spec)
        return fl_http_error(rs, 400, "missing_field",
                             "'experiment' (a stored experiment's name) and 'cron' (\"*/15 * * "
                             "* *\" or \"@every 10m\") are required");
    if (fl_cron_parse(spec, &c, &e))
        return fl_http_error(rs, 400, "invalid_cron", "%s", e.msg);
    if (fl_cron_next(&c, now) < 0)
        return fl_http_error(rs, 400, "never_fires",
                             "schedule '%s' never fires: no minute in the next 10 years matches "
                             "it (a day that its months do not have?)",
                             spec);
    if (options(rs, rq->body, &jitter_ms, &conc, &keep, &catch_up, &gates, &blackouts))
        return 0;
    x = fl_sstore_row(s->ss, &e, "SELECT name FROM srv_experiments WHERE name = ?", "s", exp);
    if (!x)
        return fl_http_error(rs, 404, "not_found",
                             "no experiment '%s'; add it first (`faultline experiment add`)", exp);
    json_decref(x);
    if ((x = get(s, name))) {
        json_decref(x);
        return fl_http_error(rs, 409, "exists", "schedule '%s' exists; remove it first", name);
    }
    if (fl_sstore_exec(s->ss, NULL, &e,
                       "INSERT INTO srv_schedules (name, experiment, spec, jitter_ms, "
                       "concurrency, keep, catch_up, gates, paused, blackouts, created_ms) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "sssIsIssisI", name, exp, spec, jitter_ms, conc, (int64_t)keep, catch_up,
                       gates, json_is_true(json_object_get(rq->body, "paused")), blackouts,
                       now) < 0)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    fl_scheduler_resume(s, name, spec, jitter_ms);
    return fl_http_ok(rs, 201, get(s, name));
}

int fl_api_schedules_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *all = fl_sstore_rows(s->ss, &e,
                                 "SELECT " SCHEDULE_COLS " FROM srv_schedules ORDER BY name", NULL),
           *sc;
    size_t i;

    if (!all)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    json_array_foreach (all, i, sc)
        decorate(sc);
    return fl_http_ok(rs, 200, json_pack("{s:o}", "schedules", all));
}

int fl_api_schedules_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    json_t *sc = get(s, rq->arg[0]);

    if (!sc)
        return fl_http_error(rs, 404, "not_found",
                             "no schedule '%s'; GET /api/v1/schedules lists them", rq->arg[0]);
    return fl_http_ok(rs, 200, sc);
}

int fl_api_schedules_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    int n = fl_sstore_exec(s->ss, NULL, &e, "DELETE FROM srv_schedules WHERE name = ?", "s",
                           rq->arg[0]);

    if (n < 0)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    if (!n)
        return fl_http_error(rs, 404, "not_found", "no schedule '%s'", rq->arg[0]);
    return fl_http_ok(rs, 200, json_pack("{s:s,s:b}", "name", rq->arg[0], "deleted", 1));
}

static int set_paused(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs, int paused)
{
    struct fl_err e = {0};
    json_t *sc = get(s, rq->arg[0]);

    if (!sc)
        return fl_http_error(rs, 404, "not_found", "no schedule '%s'", rq->arg[0]);
    fl_sstore_exec(s->ss, NULL, &e, "UPDATE srv_schedules SET paused = ? WHERE name = ?", "is",
                   paused, rq->arg[0]);
    /* resuming plans from now: the slots missed while paused are not run */
    if (!paused && json_is_true(json_object_get(sc, "paused")))
        fl_scheduler_resume(s, rq->arg[0], json_string_value(json_object_get(sc, "cron")),
                            json_integer_value(json_object_get(sc, "jitter_ms")));
    json_decref(sc);
    return fl_http_ok(rs, 200, get(s, rq->arg[0]));
}

int fl_api_schedules_pause(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    return set_paused(s, rq, rs, 1);
}

int fl_api_schedules_resume(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    return set_paused(s, rq, rs, 0);
}

int fl_api_schedules_next(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *cnt = fl_http_query(rq, "count");
    json_t *sc = get(s, rq->arg[0]), *times;
    long long count = 5;
    struct fl_err e = {0};
    struct fl_cron c;
    int64_t t;

    if (!sc)
        return fl_http_error(rs, 404, "not_found", "no schedule '%s'", rq->arg[0]);
    if (cnt && fl_parse_int(cnt, 1, 100, &count, &e)) {
        json_decref(sc);
        return fl_http_error(rs, 400, "invalid_query", "?count=%.20s: %s", cnt, e.msg);
    }
    fl_cron_parse(json_string_value(json_object_get(sc, "cron")), &c, &e);
    times = json_array();
    t = json_integer_value(json_object_get(sc, "next_ms"));
    for (long long i = 0; i < count && t >= 0; i++) {
        json_array_append_new(times, json_integer(t));
        t = fl_cron_next(&c, t);
    }
    fl_http_ok(rs, 200,
               json_pack("{s:s,s:b,s:O,s:O,s:o}", "name", rq->arg[0], "paused",
                         json_is_true(json_object_get(sc, "paused")), "fire_ms",
                         json_object_get(sc, "fire_ms"), "jitter_ms",
                         json_object_get(sc, "jitter_ms"), "next_ms", times));
    json_decref(sc);
    return 0;
}

/* Fill the fields a PATCH body leaves out from the stored schedule, so
 * options() validates the whole result as create does. */
static void merge_current(json_t *b, json_t *sc)
{
    static const char *const keep[] = {"concurrency", "catch_up", "keep", "gates", "blackouts"};
    json_int_t jitter = json_integer_value(json_object_get(sc, "jitter_ms"));
    char buf[32];

    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (!json_object_get(b, keep[i]))
            json_object_set(b, keep[i], json_object_get(sc, keep[i]));
    if (!json_object_get(b, "jitter") && jitter > 0) {
        snprintf(buf, sizeof buf, "%lldms", (long long)jitter);
        json_object_set_new(b, "jitter", json_string(buf));
    }
}

int fl_api_schedules_update(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const fields[] = {"experiment", "cron",  "jitter",    "concurrency", "keep",
                                         "catch_up",   "gates", "blackouts", "paused",      NULL};
    json_t *sc, *b, *x, *paused = json_object_get(rq->body, "paused");
    const char *exp, *spec, *conc, *catch_up;
    char *gates = NULL, *blackouts = NULL; /* freed at out (the analyzer misreads cleanup) */
    int64_t jitter_ms = 0;
    long long keep;
    struct fl_cron c;
    struct fl_err e = {0};
    int r = 0;

    if (fl_http_fields(rs, rq->body, fields))
        return 0;
    if (paused && !json_is_boolean(paused))
        return fl_http_error(rs, 400, "invalid_field", "paused: true or false");
    if (!(sc = get(s, rq->arg[0])))
        return fl_http_error(rs, 404, "not_found",
                             "no schedule '%s'; GET /api/v1/schedules lists them", rq->arg[0]);
    b = json_deep_copy(rq->body);
    merge_current(b, sc);
    exp = json_string_value(json_object_get(b, "experiment"));
    spec = json_string_value(json_object_get(b, "cron"));
    if (json_object_get(b, "experiment") && !exp) {
        r = fl_http_error(rs, 400, "invalid_field", "experiment: a stored experiment's name");
        goto out;
    }
    if (json_object_get(b, "cron") && !spec) {
        r = fl_http_error(rs, 400, "invalid_field", "cron: a string (\"*/15 * * * *\")");
        goto out;
    }
    exp = exp ? exp : json_string_value(json_object_get(sc, "experiment"));
    spec = spec ? spec : json_string_value(json_object_get(sc, "cron"));
    if (fl_cron_parse(spec, &c, &e)) {
        r = fl_http_error(rs, 400, "invalid_cron", "%s", e.msg);
        goto out;
    }
    if (fl_cron_next(&c, fl_wall_ms()) < 0) {
        r = fl_http_error(rs, 400, "never_fires",
                          "schedule '%s' never fires: no minute in the next 10 years matches it",
                          spec);
        goto out;
    }
    if (options(rs, b, &jitter_ms, &conc, &keep, &catch_up, &gates, &blackouts))
        goto out;
    if (!(x = fl_sstore_row(s->ss, &e, "SELECT name FROM srv_experiments WHERE name = ?", "s",
                            exp))) {
        r = fl_http_error(rs, 404, "not_found", "no experiment '%s'", exp);
        goto out;
    }
    json_decref(x);
    if (fl_sstore_exec(s->ss, NULL, &e,
                       "UPDATE srv_schedules SET experiment = ?, spec = ?, jitter_ms = ?, "
                       "concurrency = ?, keep = ?, catch_up = ?, gates = ?, blackouts = ?, "
                       "paused = ? WHERE name = ?",
                       "ssIsIsssis", exp, spec, jitter_ms, conc, (int64_t)keep, catch_up, gates,
                       blackouts,
                       paused ? json_is_true(paused) : json_is_true(json_object_get(sc, "paused")),
                       rq->arg[0]) < 0) {
        r = fl_http_error(rs, 500, "store", "%s", e.msg);
        goto out;
    }
    /* a new expression or jitter (or a resume) plans the next slot from now */
    if (json_object_get(rq->body, "cron") || json_object_get(rq->body, "jitter") ||
        (json_is_false(paused) && json_is_true(json_object_get(sc, "paused"))))
        fl_scheduler_resume(s, rq->arg[0], spec, jitter_ms);
    r = fl_http_ok(rs, 200, get(s, rq->arg[0]));
out:
    free(gates);
    free(blackouts);
    json_decref(b);
    json_decref(sc);
    return r;
}
