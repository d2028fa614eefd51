/* The control plane's tables in the history store's SQLite file (see
 * server_store.h): migrations and a few generic query helpers that bind
 * parameters from a type string and return rows as JSON. */
#include "store/server_store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct fl_sstore {
    sqlite3 *db;
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

int fl_sstore_schema_version(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

static int migrate(struct fl_sstore *st, struct fl_err *e)
{
    size_t n = sizeof migrations / sizeof migrations[0];
    long long version = 0;
    sqlite3_stmt *q = NULL;
    char *msg = NULL;

    if (sqlite3_exec(st->db,
                     "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS server_schema_version "
                     "(version INTEGER NOT NULL);",
                     NULL, NULL, &msg))
        goto fail;
    if (sqlite3_prepare_v2(st->db, "SELECT version FROM server_schema_version", -1, &q, NULL))
        goto fail;
    if (sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int64(q, 0);
    else if (sqlite3_exec(st->db, "INSERT INTO server_schema_version VALUES (0)", NULL, NULL, &msg))
        goto fail;
    sqlite3_finalize(q);
    q = NULL;
    if (version > (long long)n) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return fl_err_set(e, FL_ESTATE,
                          "the server tables have schema version %lld, newer than this "
                          "faultline knows (%zu): upgrade faultline or use another --db",
                          version, n);
    }
    for (size_t i = (size_t)version; i < n; i++) {
        char upd[80];
        if (sqlite3_exec(st->db, migrations[i], NULL, NULL, &msg))
            goto fail;
        snprintf(upd, sizeof upd, "UPDATE server_schema_version SET version = %zu", i + 1);
        if (sqlite3_exec(st->db, upd, NULL, NULL, &msg))
            goto fail;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg))
        goto fail;
    return 0;
fail:
    sqlite3_finalize(q);
    fl_err_set(e, FL_ESTATE, "server tables: migrating the schema: %s",
               msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -FL_ESTATE;
}

int fl_sstore_open(const char *path, struct fl_sstore **out, struct fl_err *e)
{
    struct fl_sstore *st = calloc(1, sizeof *st);
    int r;

    *out = NULL;
    if (!st)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL)) {
        r = fl_err_set(e, FL_ESTATE,
                       "cannot open the server tables in %s: %s (choose another "
                       "with --db)",
                       path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        fl_sstore_close(st);
        return r;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    if ((r = migrate(st, e))) {
        fl_err_prefix(e, "%s", path);
        fl_sstore_close(st);
        return r;
    }
    *out = st;
    return 0;
}

void fl_sstore_close(struct fl_sstore *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
}

static int bind_all(sqlite3_stmt *q, const char *types, va_list ap)
{
    for (int i = 0; types && types[i]; i++) {
        const char *s;
        switch (types[i]) {
        case 's':
            s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(q, i + 1, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(q, i + 1);
            break;
        case 'I':
            sqlite3_bind_int64(q, i + 1, va_arg(ap, int64_t));
            break;
        case 'i':
            sqlite3_bind_int(q, i + 1, va_arg(ap, int));
            break;
        case 'd':
            sqlite3_bind_double(q, i + 1, va_arg(ap, double));
            break;
        default:
            return -1;
        }
    }
    return 0;
}

static sqlite3_stmt *prepare(struct fl_sstore *st, struct fl_err *e, const char *sql,
                             const char *types, va_list ap)
{
    sqlite3_stmt *q = NULL;

    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) || bind_all(q, types, ap)) {
        fl_err_set(e, FL_ESTATE, "server tables: %s", sqlite3_errmsg(st->db));
        sqlite3_finalize(q);
        return NULL;
    }
    return q;
}

int fl_sstore_exec(struct fl_sstore *st, int64_t *last_id, struct fl_err *e, const char *sql,
                   const char *types, ...)
{
    sqlite3_stmt *q;
    va_list ap;
    int r;

    va_start(ap, types);
    q = prepare(st, e, sql, types, ap);
    va_end(ap);
    if (!q)
        return -FL_ESTATE;
    r = sqlite3_step(q);
    sqlite3_finalize(q);
    if (r != SQLITE_DONE && r != SQLITE_ROW)
        return fl_err_set(e, FL_ESTATE, "server tables: %s", sqlite3_errmsg(st->db));
    if (last_id)
        *last_id = sqlite3_last_insert_rowid(st->db);
    return sqlite3_changes(st->db);
}

static json_t *col_json(sqlite3_stmt *q, int i)
{
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(q, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(q, i));
    case SQLITE_TEXT:
        return json_string((const char *)sqlite3_column_text(q, i));
    default:
        return json_null();
    }
}

static json_t *rows_v(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                      va_list ap)
{
    sqlite3_stmt *q = prepare(st, e, sql, types, ap);
    json_t *arr;
    int r;

    if (!q)
        return NULL;
    arr = json_array();
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; i < sqlite3_column_count(q); i++)
            json_object_set_new(o, sqlite3_column_name(q, i), col_json(q, i));
        json_array_append_new(arr, o);
    }
    if (r != SQLITE_DONE) {
        fl_err_set(e, FL_ESTATE, "server tables: %s", sqlite3_errmsg(st->db));
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(q);
    return arr;
}

json_t *fl_sstore_rows(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                       ...)
{
    va_list ap;
    json_t *r;

    va_start(ap, types);
    r = rows_v(st, e, sql, types, ap);
    va_end(ap);
    return r;
}

json_t *fl_sstore_row(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                      ...)
{
    va_list ap;
    json_t *all, *one;

    va_start(ap, types);
    all = rows_v(st, e, sql, types, ap);
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

int fl_sstore_samples_each(struct fl_sstore *st, int64_t run, int64_t probe, int64_t from,
                           int64_t to, fl_sstore_sample_fn fn, void *ctx, struct fl_err *e)
{
    sqlite3_stmt *q = NULL;
    int r;

    if (sqlite3_prepare_v2(st->db,
                           "SELECT t_ms, ok, latency_ms FROM samples WHERE run_id = ? AND "
                           "probe_id = ? AND t_ms BETWEEN ? AND ? ORDER BY t_ms",
                           -1, &q, NULL))
        return fl_err_set(e, FL_ESTATE, "samples: %s", sqlite3_errmsg(st->db));
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_int64(q, 2, probe);
    sqlite3_bind_int64(q, 3, from);
    sqlite3_bind_int64(q, 4, to);
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(q, 0), sqlite3_column_int(q, 1),
               sqlite3_column_double(q, 2)))
            break;
    if (r != SQLITE_DONE && r != SQLITE_ROW) {
        fl_err_set(e, FL_ESTATE, "samples: %s", sqlite3_errmsg(st->db));
        sqlite3_finalize(q);
        return -FL_ESTATE;
    }
    sqlite3_finalize(q);
    return 0;
}
