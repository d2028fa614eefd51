/* The control plane's tables next to the history store (see
 * server_store.h): their migrations, and the generic query helpers of
 * store/db.h under the server's names. */
#include "store/server_store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"

struct fl_sstore {
    struct fl_db *db;
    uint64_t generation; /* fl_sstore_exec calls so far */
};

/* Migration N brings the server schema from version N to N+1. Append only. */
static const char *const migrations[] = {
    "CREATE TABLE srv_experiments (\n"
    "  name TEXT PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL,\n"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);\n"
    "CREATE TABLE srv_runs (\n"
    "  id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, schedule TEXT,\n"
    "  trigger TEXT NOT NULL, state TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT,\n"
    "  pid INTEGER, pid_start INTEGER, history_run INTEGER, exit_code INTEGER,\n"
    "  adopted INTEGER NOT NULL DEFAULT 0, who TEXT,\n"
    "  created_ms INTEGER NOT NULL, ended_ms INTEGER);\n"
    "CREATE INDEX srv_runs_exp ON srv_runs(experiment, id);\n"
    "CREATE INDEX srv_runs_state ON srv_runs(state);\n"
    "CREATE INDEX srv_runs_schedule ON srv_runs(schedule, id);\n"
    "CREATE INDEX srv_runs_finished ON srv_runs(experiment, id)\n"
    "  WHERE state = 'done' AND verdict != 'skipped';\n"
    "CREATE TABLE srv_schedules (\n"
    "  name TEXT PRIMARY KEY, experiment TEXT NOT NULL, spec TEXT NOT NULL,\n"
    "  jitter_ms INTEGER NOT NULL DEFAULT 0, concurrency TEXT NOT NULL DEFAULT 'forbid',\n"
    "  keep INTEGER NOT NULL DEFAULT 50, catch_up TEXT NOT NULL DEFAULT 'once',\n"
    "  gates TEXT NOT NULL DEFAULT '[]', paused INTEGER NOT NULL DEFAULT 0,\n"
    "  next_ms INTEGER, fire_ms INTEGER, last_fire_ms INTEGER, created_ms INTEGER NOT NULL);\n"
    "CREATE TABLE srv_audit (\n"
    "  id INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, who TEXT NOT NULL, role TEXT,\n"
    "  method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL);\n"
    "CREATE TABLE srv_webhooks (\n"
    "  id INTEGER PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL DEFAULT 'end',\n"
    "  created_ms INTEGER NOT NULL);\n"
    "CREATE TABLE srv_deliveries (\n"
    "  id INTEGER PRIMARY KEY, webhook_id INTEGER NOT NULL, run INTEGER NOT NULL,\n"
    "  event TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  http_status INTEGER, last_error TEXT, next_ms INTEGER NOT NULL,\n"
    "  payload TEXT NOT NULL, t_ms INTEGER NOT NULL);\n",
    /* 2: known-limit bulletins */
    "CREATE TABLE srv_bulletins (\n"
    "  id INTEGER PRIMARY KEY, date TEXT NOT NULL, title TEXT NOT NULL, background TEXT,\n"
    "  runs TEXT NOT NULL DEFAULT '[]', recommendations TEXT, initiatives TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'open', created_ms INTEGER NOT NULL,\n"
    "  updated_ms INTEGER NOT NULL);\n",
    /* 3: blackout windows of schedules */
    "ALTER TABLE srv_schedules ADD COLUMN blackouts TEXT NOT NULL DEFAULT '[]';\n",
};

/* The same tables in PostgreSQL; entry i matches migrations[i]. */
static const char *const pg_migrations[] = {
    "CREATE TABLE srv_experiments (\n"
    "  name TEXT PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL,\n"
    "  created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);\n"
    "CREATE TABLE srv_runs (\n"
    "  id BIGSERIAL PRIMARY KEY, experiment TEXT NOT NULL, schedule TEXT,\n"
    "  trigger TEXT NOT NULL, state TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT,\n"
    "  pid BIGINT, pid_start BIGINT, history_run BIGINT, exit_code BIGINT,\n"
    "  adopted BIGINT NOT NULL DEFAULT 0, who TEXT,\n"
    "  created_ms BIGINT NOT NULL, ended_ms BIGINT);\n"
    "CREATE INDEX srv_runs_exp ON srv_runs(experiment, id);\n"
    "CREATE INDEX srv_runs_state ON srv_runs(state);\n"
    "CREATE INDEX srv_runs_schedule ON srv_runs(schedule, id);\n"
    "CREATE INDEX srv_runs_finished ON srv_runs(experiment, id)\n"
    "  WHERE state = 'done' AND verdict != 'skipped';\n"
    "CREATE TABLE srv_schedules (\n"
    "  name TEXT PRIMARY KEY, experiment TEXT NOT NULL, spec TEXT NOT NULL,\n"
    "  jitter_ms BIGINT NOT NULL DEFAULT 0, concurrency TEXT NOT NULL DEFAULT 'forbid',\n"
    "  keep BIGINT NOT NULL DEFAULT 50, catch_up TEXT NOT NULL DEFAULT 'once',\n"
    "  gates TEXT NOT NULL DEFAULT '[]', paused BIGINT NOT NULL DEFAULT 0,\n"
    "  next_ms BIGINT, fire_ms BIGINT, last_fire_ms BIGINT, created_ms BIGINT NOT NULL);\n"
    "CREATE TABLE srv_audit (\n"
    "  id BIGSERIAL PRIMARY KEY, t_ms BIGINT NOT NULL, who TEXT NOT NULL, role TEXT,\n"
    "  method TEXT NOT NULL, path TEXT NOT NULL, status BIGINT NOT NULL);\n"
    "CREATE TABLE srv_webhooks (\n"
    "  id BIGSERIAL PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL DEFAULT 'end',\n"
    "  created_ms BIGINT NOT NULL);\n"
    "CREATE TABLE srv_deliveries (\n"
    "  id BIGSERIAL PRIMARY KEY, webhook_id BIGINT NOT NULL, run BIGINT NOT NULL,\n"
    "  event TEXT NOT NULL, status TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,\n"
    "  http_status BIGINT, last_error TEXT, next_ms BIGINT NOT NULL,\n"
    "  payload TEXT NOT NULL, t_ms BIGINT NOT NULL);\n",
    "CREATE TABLE srv_bulletins (\n"
    "  id BIGSERIAL PRIMARY KEY, date TEXT NOT NULL, title TEXT NOT NULL, background TEXT,\n"
    "  runs TEXT NOT NULL DEFAULT '[]', recommendations TEXT, initiatives TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'open', created_ms BIGINT NOT NULL,\n"
    "  updated_ms BIGINT NOT NULL);\n",
    "ALTER TABLE srv_schedules ADD COLUMN blackouts TEXT NOT NULL DEFAULT '[]';\n",
};

int fl_sstore_schema_version(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

int fl_sstore_open(const char *path, struct fl_sstore **out, struct fl_err *e)
{
    struct fl_sstore *st = calloc(1, sizeof *st);
    sqlite3 *h = NULL;
    int r;

    *out = NULL;
    if (!st)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (fl_db_is_url(path)) {
        r = fl_db_pg_open(path, "server tables", &st->db, e);
    } else if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL)) {
        r = fl_err_set(e, FL_ESTATE,
                       "cannot open the server tables in %s: %s (choose another "
                       "with --db)",
                       path, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
    } else {
        sqlite3_busy_timeout(h, 5000);
        sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
        r = fl_db_sqlite_wrap(h, "server tables", &st->db, e);
    }
    if (!r)
        r = fl_db_migrate(st->db, "server_schema_version", migrations, pg_migrations,
                          sizeof migrations / sizeof migrations[0], e);
    if (r) {
        fl_sstore_close(st);
        return r;
    }
    *out = st;
    return 0;
}

int fl_sstore_claim(struct fl_sstore *st, struct fl_err *e)
{
    json_t *r;
    int held;

    if (!fl_db_is_pg(st->db))
        return 0;
    r = fl_db_rows(st->db, e, "SELECT pg_try_advisory_lock(74200002) AS ok", NULL);
    if (!r)
        return -FL_ESTATE;
    held = (int)json_integer_value(json_object_get(json_array_get(r, 0), "ok"));
    json_decref(r);
    if (!held)
        return fl_err_set(e, FL_EREFUSED,
                          "another faultline server already serves this PostgreSQL database; "
                          "stop it or give another --db (CLIs and `faultline run` may share it)");
    return 0;
}

uint64_t fl_sstore_generation(const struct fl_sstore *st)
{
    return st->generation;
}

void fl_sstore_close(struct fl_sstore *st)
{
    if (!st)
        return;
    fl_db_close(st->db);
    free(st);
}

int fl_sstore_exec(struct fl_sstore *st, int64_t *last_id, struct fl_err *e, const char *sql,
                   const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = fl_db_execv(st->db, last_id, e, sql, types, ap);
    va_end(ap);
    st->generation++;
    return r;
}

json_t *fl_sstore_rows(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                       ...)
{
    va_list ap;
    json_t *r;

    va_start(ap, types);
    r = fl_db_rowsv(st->db, e, sql, types, ap);
    va_end(ap);
    return r;
}

json_t *fl_sstore_row(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                      ...)
{
    va_list ap;
    json_t *all, *one;

    va_start(ap, types);
    all = fl_db_rowsv(st->db, e, sql, types, ap);
    va_end(ap);
    one = json_incref(json_array_get(all, 0));
    json_decref(all);
    return one;
}

int64_t fl_sstore_history_run(struct fl_sstore *st, int64_t pid, int64_t start)
{
    struct fl_err e = {0};
    json_t *r = fl_sstore_row(st, &e,
                              "SELECT id FROM runs WHERE runner_pid = ? AND runner_start = ? "
                              "ORDER BY id DESC LIMIT 1",
                              "II", pid, start);
    int64_t id = r ? json_integer_value(json_object_get(r, "id")) : 0;

    json_decref(r);
    return id;
}

/* PostgreSQL: the rows as JSON (the series endpoint caps how many it asks
 * for); SQLite below steps through them without holding them all. */
static int samples_each_rows(struct fl_sstore *st, int64_t run, int64_t probe, int64_t from,
                             int64_t to, fl_sstore_sample_fn fn, void *ctx, struct fl_err *e)
{
    json_t *rows = fl_db_rows(st->db, e,
                              "SELECT t_ms, ok, latency_ms FROM samples WHERE run_id = ? AND "
                              "probe_id = ? AND t_ms BETWEEN ? AND ? ORDER BY t_ms",
                              "IIII", run, probe, from, to);
    size_t i;
    json_t *row;

    if (!rows)
        return -FL_ESTATE;
    json_array_foreach (rows, i, row) {
        json_t *lat = json_object_get(row, "latency_ms");
        if (fn(ctx, json_integer_value(json_object_get(row, "t_ms")),
               (int)json_integer_value(json_object_get(row, "ok")),
               json_is_integer(lat) ? (double)json_integer_value(lat) : json_real_value(lat)))
            break;
    }
    json_decref(rows);
    return 0;
}

int fl_sstore_samples_each(struct fl_sstore *st, int64_t run, int64_t probe, int64_t from,
                           int64_t to, fl_sstore_sample_fn fn, void *ctx, struct fl_err *e)
{
    sqlite3 *h = fl_db_sqlite(st->db);
    sqlite3_stmt *q = NULL;
    int r;

    if (!h)
        return samples_each_rows(st, run, probe, from, to, fn, ctx, e);
    if (sqlite3_prepare_v2(h,
                           "SELECT t_ms, ok, latency_ms FROM samples WHERE run_id = ? AND "
                           "probe_id = ? AND t_ms BETWEEN ? AND ? ORDER BY t_ms",
                           -1, &q, NULL))
        return fl_err_set(e, FL_ESTATE, "samples: %s", sqlite3_errmsg(h));
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_int64(q, 2, probe);
    sqlite3_bind_int64(q, 3, from);
    sqlite3_bind_int64(q, 4, to);
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(q, 0), sqlite3_column_int(q, 1),
               sqlite3_column_double(q, 2)))
            break;
    if (r != SQLITE_DONE && r != SQLITE_ROW) {
        fl_err_set(e, FL_ESTATE, "samples: %s", sqlite3_errmsg(h));
        sqlite3_finalize(q);
        return -FL_ESTATE;
    }
    sqlite3_finalize(q);
    return 0;
}
