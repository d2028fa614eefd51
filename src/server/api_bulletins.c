/* /api/v1/bulletins: "known limits", modelled on advisory bulletins: what a
 * team found (title, background), in which runs (links), what to do about it
 * (recommendations), what is being done (initiatives), and its status
 * (open, mitigated, resolved). One can be made from a finished run in one
 * request; the list can be searched; each exports as Markdown for a wiki. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "store/server_store.h"
#include "util/parse.h"
#include "util/time.h"

#define COLS                                                                                       \
    "id, date, title, background, runs, recommendations, initiatives, status, created_ms, "        \
    "updated_ms"
#define MAX_TEXT 65536

static const char *const text_fields[] = {"title", "background", "recommendations", "initiatives",
                                          "date"};

static json_t *decorate(json_t *b)
{
    json_t *runs;

    if (!b)
        return NULL;
    runs = json_loads(json_string_value(json_object_get(b, "runs")), 0, NULL);
    json_object_set_new(b, "runs", runs ? runs : json_array());
    return b;
}

static json_t *get(struct fl_server *s, int64_t id)
{
    struct fl_err e = {0};

    return decorate(
        fl_sstore_row(s->ss, &e, "SELECT " COLS " FROM srv_bulletins WHERE id = ?", "I", id));
}

static int id_arg(struct fl_req *rq, struct fl_resp *rs, int64_t *id)
{
    long long v;
    struct fl_err e = {0};

    if (fl_parse_int(rq->arg[0], 1, 1LL << 53, &v, &e)) {
        fl_http_error(rs, 400, "invalid_id", "bulletin id '%s': %s", rq->arg[0], e.msg);
        return -1;
    }
    *id = v;
    return 0;
}

/* Check the body's fields; runs must be an array of existing run ids. */
static int check(struct fl_server *s, struct fl_resp *rs, json_t *b)
{
    static const char *const fields[] = {
        "title", "background", "recommendations", "initiatives", "date", "status", "runs", NULL};
    const char *status = json_string_value(json_object_get(b, "status"));
    json_t *runs = json_object_get(b, "runs"), *r;
    size_t i;

    if (fl_http_fields(rs, b, fields))
        return -1;
    for (i = 0; i < sizeof text_fields / sizeof text_fields[0]; i++) {
        json_t *v = json_object_get(b, text_fields[i]);
        if (v && (!json_is_string(v) || json_string_length(v) > MAX_TEXT))
            return fl_http_error(rs, 400, "invalid_field", "'%s' must be text of at most %d bytes",
                                 text_fields[i], MAX_TEXT),
                   -1;
    }
    if (status && strcmp(status, "open") && strcmp(status, "mitigated") &&
        strcmp(status, "resolved"))
        return fl_http_error(rs, 400, "invalid_field",
                             "status '%s': use open, mitigated or resolved", status),
               -1;
    if (runs && (!json_is_array(runs) || json_array_size(runs) > 1000))
        return fl_http_error(rs, 400, "invalid_field", "'runs' must be an array of run ids"), -1;
    json_array_foreach (runs, i, r) {
        json_t *run =
            json_is_integer(r) ? fl_runner_get(s, json_integer_value(r), false, false) : NULL;
        if (!run)
            return fl_http_error(rs, 422, "unknown_run",
                                 "runs[%zu] is not the id of a run the server knows", i),
                   -1;
        json_decref(run);
    }
    return 0;
}

static void today(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d", &tm);
}

static int insert(struct fl_server *s, struct fl_resp *rs, json_t *b)
{
    const char *title = json_string_value(json_object_get(b, "title"));
    const char *date = json_string_value(json_object_get(b, "date"));
    const char *status = json_string_value(json_object_get(b, "status"));
    json_t *runs = json_object_get(b, "runs");
    char day[16], *runs_text;
    struct fl_err e = {0};
    int64_t id = 0, now = fl_wall_ms();

    if (!title || !*title)
        return fl_http_error(rs, 400, "missing_field", "'title' is required");
    today(day, sizeof day);
    runs_text = runs ? json_dumps(runs, JSON_COMPACT) : strdup("[]");
    if (fl_sstore_exec(s->ss, &id, &e,
                       "INSERT INTO srv_bulletins (date, title, background, runs, "
                       "recommendations, initiatives, status, created_ms, updated_ms) VALUES (?, "
                       "?, ?, ?, ?, ?, ?, ?, ?)",
                       "sssssssII", date ? date : day, title,
                       json_string_value(json_object_get(b, "background")), runs_text,
                       json_string_value(json_object_get(b, "recommendations")),
                       json_string_value(json_object_get(b, "initiatives")),
                       status ? status : "open", now, now) < 0) {
        free(runs_text);
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    }
    free(runs_text);
    return fl_http_ok(rs, 201, get(s, id));
}

int fl_api_bulletins_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    if (check(s, rs, rq->body))
        return 0;
    return insert(s, rs, rq->body);
}

/* POST /api/v1/runs/ID/bulletin: a bulletin about a finished run, its
 * title and background taken from the run unless the body gives them. */
int fl_api_bulletins_from_run(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    long long id;
    struct fl_err e = {0};
    json_t *run, *b;
    char title[512], bg[4096];

    if (fl_parse_int(rq->arg[0], 1, 1LL << 53, &id, &e))
        return fl_http_error(rs, 400, "invalid_id", "run id '%s': %s", rq->arg[0], e.msg);
    if (check(s, rs, rq->body))
        return 0;
    if (!(run = fl_runner_get(s, id, false, false)))
        return fl_http_error(rs, 404, "not_found", "no run %lld", id);
    if (strcmp(json_string_value(json_object_get(run, "state")), "done")) {
        json_decref(run);
        return fl_http_error(rs, 409, "not_finished",
                             "run %lld has no verdict yet; make the bulletin when it ends", id);
    }
    snprintf(title, sizeof title, "%s: %s", json_string_value(json_object_get(run, "experiment")),
             json_string_value(json_object_get(run, "verdict")));
    snprintf(bg, sizeof bg, "Run %lld of experiment %s ended %s: %s", id,
             json_string_value(json_object_get(run, "experiment")),
             json_string_value(json_object_get(run, "verdict")),
             json_is_string(json_object_get(run, "reason"))
                 ? json_string_value(json_object_get(run, "reason"))
                 : "(no reason recorded)");
    json_decref(run);
    b = json_deep_copy(rq->body);
    if (!json_object_get(b, "title"))
        json_object_set_new(b, "title", json_string(title));
    if (!json_object_get(b, "background"))
        json_object_set_new(b, "background", json_string(bg));
    if (!json_object_get(b, "runs"))
        json_object_set_new(b, "runs", json_pack("[I]", (json_int_t)id));
    insert(s, rs, b);
    json_decref(b);
    return 0;
}

int fl_api_bulletins_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *q = fl_http_query(rq, "q"), *status = fl_http_query(rq, "status");
    struct fl_err e = {0};
    char *like = NULL;
    json_t *all, *b;
    size_t i;

    if (q && asprintf(&like, "%%%s%%", q) < 0)
        return fl_http_error(rs, 500, "memory", "out of memory");
    all = fl_sstore_rows(s->ss, &e,
                         "SELECT " COLS " FROM srv_bulletins WHERE (?1 IS NULL OR status = ?1) "
                         "AND (?2 IS NULL OR title LIKE ?2 OR background LIKE ?2 OR "
                         "recommendations LIKE ?2 OR initiatives LIKE ?2) ORDER BY id DESC",
                         "ss", status, like);
    free(like);
    if (!all)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    json_array_foreach (all, i, b)
        decorate(b);
    return fl_http_ok(rs, 200, json_pack("{s:o}", "bulletins", all));
}

int fl_api_bulletins_get(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    int64_t id;
    json_t *b;

    if (id_arg(rq, rs, &id))
        return 0;
    if (!(b = get(s, id)))
        return fl_http_error(rs, 404, "not_found", "no bulletin %lld", (long long)id);
    return fl_http_ok(rs, 200, b);
}

int fl_api_bulletins_update(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    const char *k;
    json_t *old, *v;
    int64_t id;

    if (id_arg(rq, rs, &id) || check(s, rs, rq->body))
        return 0;
    if (!(old = get(s, id)))
        return fl_http_error(rs, 404, "not_found", "no bulletin %lld", (long long)id);
    json_decref(old);
    json_object_foreach (rq->body, k, v) {
        char sql[128],
            *text = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_COMPACT);
        /* k is one of the checked field names */
        snprintf(sql, sizeof sql, "UPDATE srv_bulletins SET %s = ?, updated_ms = ? WHERE id = ?",
                 k);
        fl_sstore_exec(s->ss, NULL, &e, sql, "sII", text, fl_wall_ms(), id);
        free(text);
    }
    return fl_http_ok(rs, 200, get(s, id));
}

int fl_api_bulletins_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    int64_t id;
    int n;

    if (id_arg(rq, rs, &id))
        return 0;
    n = fl_sstore_exec(s->ss, NULL, &e, "DELETE FROM srv_bulletins WHERE id = ?", "I", id);
    if (n <= 0)
        return n < 0 ? fl_http_error(rs, 500, "store", "%s", e.msg)
                     : fl_http_error(rs, 404, "not_found", "no bulletin %lld", (long long)id);
    return fl_http_ok(rs, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
}

static void section(FILE *f, const char *name, json_t *b, const char *key)
{
    const char *v = json_string_value(json_object_get(b, key));

    fprintf(f, "\n## %s\n\n%s\n", name, v && *v ? v : "_None recorded._");
}

int fl_api_bulletins_markdown(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    char *buf = NULL;
    size_t len = 0, i;
    json_t *b, *r;
    int64_t id;
    FILE *f;

    if (id_arg(rq, rs, &id))
        return 0;
    if (!(b = get(s, id)))
        return fl_http_error(rs, 404, "not_found", "no bulletin %lld", (long long)id);
    if (!(f = open_memstream(&buf, &len))) {
        json_decref(b);
        return fl_http_error(rs, 500, "memory", "out of memory");
    }
    fprintf(f, "# Known limit %lld: %s\n\n- **Date:** %s\n- **Status:** %s\n", (long long)id,
            json_string_value(json_object_get(b, "title")),
            json_string_value(json_object_get(b, "date")),
            json_string_value(json_object_get(b, "status")));
    section(f, "Background", b, "background");
    fputs("\n## Where and when it was found\n\n", f);
    if (!json_array_size(json_object_get(b, "runs")))
        fputs("_No runs linked._\n", f);
    json_array_foreach (json_object_get(b, "runs"), i, r) {
        json_t *run = fl_runner_get(s, json_integer_value(r), false, false);
        char when[32] = "-";
        if (run) {
            time_t t = (time_t)(json_integer_value(json_object_get(run, "created_ms")) / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        }
        /* the console's page of the run (a person reads this), not its JSON */
        fprintf(f, "- [run %lld](%s/runs/%lld) of `%s`, %s: %s\n", (long long)json_integer_value(r),
                s->base_url, (long long)json_integer_value(r),
                run ? json_string_value(json_object_get(run, "experiment")) : "?", when,
                run ? json_string_value(json_object_get(run, "verdict")) : "no longer stored");
        json_decref(run);
    }
    section(f, "Recommendations", b, "recommendations");
    section(f, "Ongoing initiatives", b, "initiatives");
    fclose(f);
    json_decref(b);
    rs->status = 200;
    rs->text = buf;
    rs->ctype = "text/markdown; charset=utf-8";
    return 0;
}
