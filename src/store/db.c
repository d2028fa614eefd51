/* The store's database connection (db.h): SQLite with a small cache of
 * prepared statements, or PostgreSQL through libpq with the SQL's `?`
 * parameters rewritten to `$N`, typed parameters, rows converted to the
 * JSON SQLite would give, and a reconnect when the server went away. */
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/time.h"

#define STMT_CACHE 48
#define MAX_PARAMS 16

struct fl_db {
    sqlite3 *lite;
    PGconn *pg;
    char label[64];
    char where[512];       /* redacted, for messages */
    int64_t next_reset_ns; /* PostgreSQL: no reconnect attempt before this */
    struct {
        const char *sql; /* the caller's string (a literal: its address is the key) */
        sqlite3_stmt *q;
    } cache[STMT_CACHE];
    size_t ncache;
};

bool fl_db_is_url(const char *where)
{
    return where && (!strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11));
}

void fl_db_redact(const char *where, char *out, size_t len)
{
    const char *scheme = strstr(where, "://"), *at, *colon;
    char *pw;

    snprintf(out, len, "%s", where);
    if (!scheme)
        return;
    at = strchr(scheme + 3, '@');
    colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon)
        snprintf(out, len, "%.*s:***%s", (int)(colon - where), where, at);
    if ((pw = strstr(out, "password=")) != NULL) {
        char *end = strchr(pw, '&');
        char tail[512];
        snprintf(tail, sizeof tail, "%s", end ? end : "");
        snprintf(pw, len - (size_t)(pw - out), "password=***%s", tail);
    }
}

static struct fl_db *db_new(const char *where, const char *label)
{
    struct fl_db *db = calloc(1, sizeof *db);

    if (!db)
        return NULL;
    snprintf(db->label, sizeof db->label, "%s", label);
    fl_db_redact(where, db->where, sizeof db->where);
    return db;
}

int fl_db_pg_open(const char *url, const char *label, struct fl_db **out, struct fl_err *e)
{
    /* ours first: the URL (dbname, expanded) overrides them */
    const char *keys[] = {"connect_timeout",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "application_name",
                          "dbname",
                          NULL};
    const char *vals[] = {"3", "10", "5", "3", "faultline", url, NULL};
    struct fl_db *db = db_new(url, label);
    int r;

    *out = NULL;
    if (!db)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    db->pg = PQconnectdbParams(keys, vals, 1);
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", db->pg ? PQerrorMessage(db->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        r = fl_err_set(e, FL_ESTATE,
                       "cannot connect to the %s at %s: %s (is PostgreSQL running and the URL "
                       "right? --db postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)",
                       label, db->where, msg);
        fl_db_close(db);
        return r;
    }
    PQclear(PQexec(db->pg, "SET client_min_messages = warning"));
    *out = db;
    return 0;
}

int fl_db_sqlite_wrap(sqlite3 *h, const char *label, struct fl_db **out, struct fl_err *e)
{
    const char *file = sqlite3_db_filename(h, "main");
    struct fl_db *db = db_new(file ? file : "", label);

    *out = NULL;
    if (!db) {
        sqlite3_close(h);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    db->lite = h;
    *out = db;
    return 0;
}

void fl_db_close(struct fl_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ncache; i++)
        sqlite3_finalize(db->cache[i].q);
    if (db->lite)
        sqlite3_close(db->lite);
    if (db->pg)
        PQfinish(db->pg);
    free(db);
}

bool fl_db_is_pg(const struct fl_db *db)
{
    return db->pg != NULL;
}

sqlite3 *fl_db_sqlite(struct fl_db *db)
{
    return db->lite;
}

/* ---- SQLite ---- */

static int lite_err(struct fl_db *db, struct fl_err *e, const char *msg)
{
    return fl_err_set(e, FL_ESTATE, "%s %s: %s", db->label, db->where,
                      msg ? msg : sqlite3_errmsg(db->lite));
}

/* A prepared statement for sql, reset and unbound; cached by the string's address. */
static sqlite3_stmt *lite_prepare(struct fl_db *db, const char *sql, struct fl_err *e)
{
    sqlite3_stmt *q = NULL;

    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i].sql == sql && !strcmp(sqlite3_sql(db->cache[i].q), sql))
            return db->cache[i].q;
    if (sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL)) {
        lite_err(db, e, NULL);
        return NULL;
    }
    if (db->ncache == STMT_CACHE) { /* full: the oldest goes */
        sqlite3_finalize(db->cache[0].q);
        memmove(db->cache, db->cache + 1, sizeof db->cache[0] * (STMT_CACHE - 1));
        db->ncache--;
    }
    db->cache[db->ncache].sql = sql;
    db->cache[db->ncache++].q = q;
    return q;
}

static void lite_done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

static int lite_bind(sqlite3_stmt *q, const char *types, va_list ap)
{
    int n = sqlite3_bind_parameter_count(q);

    for (int i = 0; types && types[i]; i++) {
        const char *s;
        const void *p;
        double d;
        int64_t v;
        size_t len;
        switch (types[i]) {
        case 's':
            s = va_arg(ap, const char *);
            if (i >= n)
                break;
            if (s)
                sqlite3_bind_text(q, i + 1, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(q, i + 1);
            break;
        case 'I':
            v = va_arg(ap, int64_t);
            if (i < n)
                sqlite3_bind_int64(q, i + 1, v);
            break;
        case 'i':
            v = va_arg(ap, int);
            if (i < n)
                sqlite3_bind_int64(q, i + 1, v);
            break;
        case 'd':
            d = va_arg(ap, double);
            if (i < n && !isnan(d))
                sqlite3_bind_double(q, i + 1, d);
            else if (i < n)
                sqlite3_bind_null(q, i + 1);
            break;
        case 'b':
            p = va_arg(ap, const void *);
            len = va_arg(ap, size_t);
            if (i < n)
                sqlite3_bind_blob64(q, i + 1, p, len, SQLITE_STATIC);
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* Column i as JSON: JSON has no infinity, so an infinite value is the
 * string "inf" or "-inf" (docs/experiments.md); NaN is null. */
static json_t *lite_col(sqlite3_stmt *q, int i)
{
    double d;

    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(q, i));
    case SQLITE_FLOAT:
        d = sqlite3_column_double(q, i);
        if (isinf(d))
            return json_string(d > 0 ? "inf" : "-inf");
        return isnan(d) ? json_null() : json_real(d);
    case SQLITE_TEXT:
        return json_string((const char *)sqlite3_column_text(q, i));
    case SQLITE_BLOB:
        return json_stringn_nocheck((const char *)sqlite3_column_blob(q, i),
                                    (size_t)sqlite3_column_bytes(q, i));
    default:
        return json_null();
    }
}

/* ---- PostgreSQL ---- */

/* sql with `?` and `?N` made `$N` (outside quotes); *nparams the highest N. */
static char *pg_sql(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 3 + 1), *o = out;
    int bare = 0, max = 0;
    bool quoted = false;

    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (*p == '\'')
            quoted = !quoted;
        if (quoted || *p != '?') {
            *o++ = *p;
            continue;
        }
        int n;
        if (isdigit((unsigned char)p[1])) {
            n = (int)strtol(p + 1, (char **)&p, 10);
            p--;
        } else {
            n = ++bare;
        }
        if (n > max)
            max = n;
        o += sprintf(o, "$%d", n);
    }
    *o = '\0';
    *nparams = max;
    return out;
}

struct pg_params {
    int n;
    Oid types[MAX_PARAMS];
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS], formats[MAX_PARAMS];
    char buf[MAX_PARAMS][32];
};

static int pg_bind(struct pg_params *pp, int n, const char *types, va_list ap)
{
    pp->n = n;
    for (int i = 0; types && types[i]; i++) {
        const char *s;
        const void *b;
        double d;
        long long v;
        size_t len;
        bool use = i < n && i < MAX_PARAMS;
        if (use) {
            pp->lengths[i] = 0;
            pp->formats[i] = 0;
        }
        switch (types[i]) {
        case 's':
            s = va_arg(ap, const char *);
            if (use)
                pp->types[i] = 25, pp->values[i] = s;
            break;
        case 'I':
        case 'i':
            v = types[i] == 'I' ? (long long)va_arg(ap, int64_t) : va_arg(ap, int);
            if (use) {
                snprintf(pp->buf[i], sizeof pp->buf[i], "%lld", v);
                pp->types[i] = 20, pp->values[i] = pp->buf[i];
            }
            break;
        case 'd':
            d = va_arg(ap, double);
            if (use) {
                pp->types[i] = 701;
                pp->values[i] = NULL;
                if (isinf(d))
                    pp->values[i] = d > 0 ? "Infinity" : "-Infinity";
                else if (!isnan(d))
                    snprintf(pp->buf[i], sizeof pp->buf[i], "%.17g", d), pp->values[i] = pp->buf[i];
            }
            break;
        case 'b':
            b = va_arg(ap, const void *);
            len = va_arg(ap, size_t);
            if (use) {
                pp->types[i] = 17, pp->values[i] = b, pp->formats[i] = 1;
                pp->lengths[i] = (int)len;
            }
            break;
        default:
            return -1;
        }
    }
    for (int i = 0; i < n && i < MAX_PARAMS; i++)
        if (!pp->types[i]) /* named by the SQL but not given */
            pp->types[i] = 25, pp->values[i] = NULL;
    return n > MAX_PARAMS ? -1 : 0;
}

/* The same from a JSON array of values (see fl_db_exec_json). */
static int pg_bind_json(struct pg_params *pp, int n, const char *types, json_t *params)
{
    pp->n = n;
    for (int i = 0; i < n && i < MAX_PARAMS; i++) {
        json_t *v = json_array_get(params, (size_t)i);
        int t = types && i < (int)strlen(types) ? (unsigned char)types[i] : 's';
        pp->types[i] = t == 'd' ? 701 : t == 's' ? 25 : 20;
        pp->values[i] = NULL;
        if (json_is_string(v))
            pp->values[i] = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(pp->buf[i], sizeof pp->buf[i], "%lld", (long long)json_integer_value(v)),
                pp->values[i] = pp->buf[i];
        else if (json_is_real(v))
            snprintf(pp->buf[i], sizeof pp->buf[i], "%.17g", json_real_value(v)),
                pp->values[i] = pp->buf[i];
    }
    return n > MAX_PARAMS ? -1 : 0;
}

static bool pg_ok(PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Run a statement; when the connection was lost, reconnect and run it once more. */
static PGresult *pg_run(struct fl_db *db, const char *sql, struct pg_params *pp, int result_fmt)
{
    PGresult *res = NULL;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (PQstatus(db->pg) != CONNECTION_OK) {
            /* at most one attempt a second: a caller writing every tick
             * (the engine) must not spend its time reconnecting */
            if (fl_mono_ns() < db->next_reset_ns)
                return res;
            db->next_reset_ns = fl_mono_ns() + 1000000000LL;
            PQreset(db->pg);
            if (PQstatus(db->pg) != CONNECTION_OK)
                return res;
        }
        PQclear(res);
        res =
            PQexecParams(db->pg, sql, pp ? pp->n : 0, pp ? pp->types : NULL, pp ? pp->values : NULL,
                         pp ? pp->lengths : NULL, pp ? pp->formats : NULL, result_fmt);
        if (pg_ok(res) || PQstatus(db->pg) == CONNECTION_OK)
            return res;
    }
    return res;
}

static int pg_err(struct fl_db *db, struct fl_err *e, PGresult *res)
{
    char msg[512];

    snprintf(msg, sizeof msg, "%s",
             res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                 : PQerrorMessage(db->pg));
    msg[strcspn(msg, "\n")] = '\0';
    if (PQstatus(db->pg) != CONNECTION_OK)
        return fl_err_set(e, FL_ESTATE,
                          "%s %s: the database is unreachable: %s (is PostgreSQL running?)",
                          db->label, db->where, msg);
    return fl_err_set(e, FL_ESTATE, "%s %s: %s", db->label, db->where, msg);
}

static json_t *pg_col(PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    unsigned char *raw;
    size_t len;
    json_t *j;

    if (PQgetisnull(res, row, col))
        return json_null();
    switch (PQftype(res, col)) {
    case 16: /* bool: SQLite gives 0/1 */
        return json_integer(v[0] == 't');
    case 20:
    case 21:
    case 23:
    case 26:
        return json_integer(strtoll(v, NULL, 10));
    case 1700: /* numeric: SUM() of integers is one */
        if (!strpbrk(v, ".eEN"))
            return json_integer(strtoll(v, NULL, 10));
        /* fall through */
    case 700:
    case 701:
        if (!strcmp(v, "Infinity"))
            return json_string("inf");
        if (!strcmp(v, "-Infinity"))
            return json_string("-inf");
        if (!strcmp(v, "NaN"))
            return json_null();
        return json_real(strtod(v, NULL));
    case 17:
        raw = PQunescapeBytea((const unsigned char *)v, &len);
        j = raw ? json_stringn_nocheck((const char *)raw, len) : json_null();
        PQfreemem(raw);
        return j;
    default:
        return json_string(v);
    }
}

/* ---- both ---- */

int fl_db_execv(struct fl_db *db, int64_t *last_id, struct fl_err *e, const char *sql,
                const char *types, va_list ap)
{
    if (db->lite) {
        sqlite3_stmt *q = lite_prepare(db, sql, e);
        int r;
        if (!q)
            return -FL_ESTATE;
        if (lite_bind(q, types, ap)) {
            lite_done(q);
            return fl_err_set(e, FL_ESTATE, "%s: bad parameter types '%s'", db->label, types);
        }
        r = sqlite3_step(q);
        lite_done(q);
        if (r != SQLITE_DONE && r != SQLITE_ROW)
            return lite_err(db, e, NULL);
        if (last_id)
            *last_id = sqlite3_last_insert_rowid(db->lite);
        return sqlite3_changes(db->lite);
    }
    _cleanup_free_ char *q = NULL;
    struct pg_params pp = {0};
    PGresult *res;
    int n, r;

    if (last_id && !strstr(sql, "RETURNING")) {
        _cleanup_free_ char *with = NULL;
        if (asprintf(&with, "%s RETURNING id", sql) < 0)
            return fl_err_set(e, FL_EFAIL, "out of memory");
        q = pg_sql(with, &n);
    } else {
        q = pg_sql(sql, &n);
    }
    if (!q || pg_bind(&pp, n, types, ap))
        return fl_err_set(e, FL_ESTATE, "%s: bad statement or parameter types '%s'", db->label,
                          types ? types : "");
    res = pg_run(db, q, &pp, 0);
    if (!pg_ok(res)) {
        r = pg_err(db, e, res);
        PQclear(res);
        return r;
    }
    if (last_id && PQntuples(res) > 0)
        *last_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    r = (int)strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return r;
}

int fl_db_exec(struct fl_db *db, int64_t *last_id, struct fl_err *e, const char *sql,
               const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = fl_db_execv(db, last_id, e, sql, types, ap);
    va_end(ap);
    return r;
}

static json_t *lite_rows(struct fl_db *db, struct fl_err *e, const char *sql, const char *types,
                         va_list ap)
{
    sqlite3_stmt *q = lite_prepare(db, sql, e);
    json_t *arr;
    int r, ncol;

    if (!q)
        return NULL;
    if (lite_bind(q, types, ap)) {
        lite_done(q);
        fl_err_set(e, FL_ESTATE, "%s: bad parameter types '%s'", db->label, types);
        return NULL;
    }
    arr = json_array();
    ncol = sqlite3_column_count(q);
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; i < ncol; i++)
            json_object_set_new(o, sqlite3_column_name(q, i), lite_col(q, i));
        json_array_append_new(arr, o);
    }
    if (r != SQLITE_DONE) {
        lite_err(db, e, NULL);
        json_decref(arr);
        arr = NULL;
    }
    lite_done(q);
    return arr;
}

json_t *fl_db_rowsv(struct fl_db *db, struct fl_err *e, const char *sql, const char *types,
                    va_list ap)
{
    if (db->lite)
        return lite_rows(db, e, sql, types, ap);
    struct pg_params pp = {0};
    _cleanup_free_ char *q = NULL;
    PGresult *res;
    json_t *arr;
    int n;

    if (!(q = pg_sql(sql, &n)) || pg_bind(&pp, n, types, ap)) {
        fl_err_set(e, FL_ESTATE, "%s: bad statement or parameter types '%s'", db->label,
                   types ? types : "");
        return NULL;
    }
    res = pg_run(db, q, &pp, 0);
    if (!pg_ok(res)) {
        pg_err(db, e, res);
        PQclear(res);
        return NULL;
    }
    arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        for (int c = 0; c < PQnfields(res); c++)
            json_object_set_new(o, PQfname(res, c), pg_col(res, r, c));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    return arr;
}

json_t *fl_db_rows(struct fl_db *db, struct fl_err *e, const char *sql, const char *types, ...)
{
    va_list ap;
    json_t *r;

    va_start(ap, types);
    r = fl_db_rowsv(db, e, sql, types, ap);
    va_end(ap);
    return r;
}

int fl_db_blob_write(struct fl_db *db, const char *sql, int64_t id, FILE *out, struct fl_err *e)
{
    const void *p;
    size_t len;
    int r = 0;

    if (db->lite) {
        sqlite3_stmt *q = lite_prepare(db, sql, e);
        if (!q)
            return -FL_ESTATE;
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) != SQLITE_ROW) {
            lite_done(q);
            return 1;
        }
        p = sqlite3_column_blob(q, 0);
        len = (size_t)sqlite3_column_bytes(q, 0);
        if (len && fwrite(p, 1, len, out) != len)
            r = fl_err_set(e, FL_EFAIL, "writing: %s", strerror(errno));
        lite_done(q);
        return r;
    }
    _cleanup_free_ char *q = pg_sql(sql, &(int){0});
    struct pg_params pp = {.n = 1, .types = {20}};
    PGresult *res;

    if (!q)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    snprintf(pp.buf[0], sizeof pp.buf[0], "%lld", (long long)id);
    pp.values[0] = pp.buf[0];
    res = pg_run(db, q, &pp, 1); /* binary: the bytes themselves */
    if (!pg_ok(res)) {
        r = pg_err(db, e, res);
    } else if (PQntuples(res) < 1) {
        r = 1;
    } else {
        p = PQgetvalue(res, 0, 0);
        len = (size_t)PQgetlength(res, 0, 0);
        if (len && fwrite(p, 1, len, out) != len)
            r = fl_err_set(e, FL_EFAIL, "writing: %s", strerror(errno));
    }
    PQclear(res);
    return r;
}

int fl_db_begin(struct fl_db *db)
{
    return fl_db_exec(db, NULL, &(struct fl_err){0}, "BEGIN", NULL) < 0 ? -FL_ESTATE : 0;
}

int fl_db_begin_write(struct fl_db *db)
{
    return fl_db_exec(db, NULL, &(struct fl_err){0}, db->lite ? "BEGIN IMMEDIATE" : "BEGIN", NULL) <
                   0
               ? -FL_ESTATE
               : 0;
}

int fl_db_commit(struct fl_db *db)
{
    return fl_db_exec(db, NULL, &(struct fl_err){0}, "COMMIT", NULL) < 0 ? -FL_ESTATE : 0;
}

int fl_db_version(struct fl_db *db, const char *table, long long *version, struct fl_err *e)
{
    char sql[160];
    json_t *rows;

    *version = 0;
    snprintf(sql, sizeof sql,
             db->lite ? "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = "
                        "'%s'"
                      : "SELECT count(*) AS n FROM pg_tables WHERE schemaname = "
                        "current_schema() AND tablename = '%s'",
             table);
    /* sql is not a literal: do not let the statement cache key on this buffer */
    if (!(rows = db->lite ? NULL : fl_db_rows(db, e, sql, NULL)) && db->pg)
        return -FL_ESTATE;
    if (db->lite) {
        sqlite3_stmt *q = NULL;
        int n = 0;
        if (sqlite3_prepare_v2(db->lite, sql, -1, &q, NULL))
            return lite_err(db, e, NULL);
        if (sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
        if (!n)
            return 0;
    } else {
        int n = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
        json_decref(rows);
        if (!n)
            return 0;
    }
    snprintf(sql, sizeof sql, "SELECT version FROM %s", table);
    if (db->lite) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db->lite, sql, -1, &q, NULL))
            return lite_err(db, e, NULL);
        if (sqlite3_step(q) == SQLITE_ROW)
            *version = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        return 0;
    }
    rows = fl_db_rows(db, e, sql, NULL);
    if (!rows)
        return -FL_ESTATE;
    *version = json_integer_value(json_object_get(json_array_get(rows, 0), "version"));
    json_decref(rows);
    return 0;
}

/* A script of statements (a migration), no parameters. */
static int run_script(struct fl_db *db, const char *sql, struct fl_err *e)
{
    char *msg = NULL;
    PGresult *res;
    int r = 0;

    if (db->lite) {
        if (sqlite3_exec(db->lite, sql, NULL, NULL, &msg) != SQLITE_OK)
            r = lite_err(db, e, msg);
        sqlite3_free(msg);
        return r;
    }
    res = PQexec(db->pg, sql);
    if (!pg_ok(res))
        r = pg_err(db, e, res);
    PQclear(res);
    return r;
}

int fl_db_migrate(struct fl_db *db, const char *table, const char *const *sqlite,
                  const char *const *pg, size_t n, struct fl_err *e)
{
    long long version = 0;
    char sql[256];

    /* PostgreSQL: one migrating process at a time, across the team's hosts */
    snprintf(sql, sizeof sql,
             db->lite ? "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS %s (version INTEGER NOT NULL);"
                      : "BEGIN; SELECT pg_advisory_xact_lock(74200001); CREATE TABLE IF NOT "
                        "EXISTS %s (version BIGINT NOT NULL);",
             table);
    if (run_script(db, sql, e) || fl_db_version(db, table, &version, e))
        goto fail;
    if (version == 0) {
        snprintf(sql, sizeof sql, "DELETE FROM %s; INSERT INTO %s VALUES (0);", table, table);
        if (run_script(db, sql, e))
            goto fail;
    }
    if (version > (long long)n) {
        run_script(db, "ROLLBACK", &(struct fl_err){0});
        return fl_err_set(e, FL_ESTATE,
                          "%s %s has schema version %lld, newer than this faultline knows "
                          "(%zu): upgrade faultline or use another --db",
                          db->label, db->where, version, n);
    }
    for (size_t i = (size_t)version; i < n; i++) {
        if (run_script(db, db->lite ? sqlite[i] : pg[i], e))
            goto fail;
        snprintf(sql, sizeof sql, "UPDATE %s SET version = %zu", table, i + 1);
        if (run_script(db, sql, e))
            goto fail;
    }
    if (run_script(db, "COMMIT", e))
        goto fail;
    return 0;
fail:
    fl_err_prefix(e, "migrating the schema");
    run_script(db, "ROLLBACK", &(struct fl_err){0});
    return -FL_ESTATE;
}

json_t *fl_db_params(const char *types, va_list ap)
{
    json_t *a = json_array();
    json_int_t v;

    for (int i = 0; types && types[i]; i++) {
        const char *str;
        double d;
        switch (types[i]) {
        case 's':
            str = va_arg(ap, const char *);
            json_array_append_new(a, str ? json_stringn_nocheck(str, strlen(str)) : json_null());
            break;
        case 'I':
            json_array_append_new(a, json_integer(va_arg(ap, int64_t)));
            break;
        case 'i':
            v = va_arg(ap, int);
            json_array_append_new(a, json_integer(v + 0));
            break;
        case 'd':
            d = va_arg(ap, double);
            json_array_append_new(a, isnan(d)   ? json_null()
                                     : isinf(d) ? json_string(d > 0 ? "Infinity" : "-Infinity")
                                                : json_real(d));
            break;
        default: /* blobs are not kept */
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int fl_db_exec_json(struct fl_db *db, struct fl_err *e, const char *sql, const char *types,
                    json_t *params)
{
    if (db->lite) {
        sqlite3_stmt *q = lite_prepare(db, sql, e);
        int n, r;
        if (!q)
            return -FL_ESTATE;
        n = sqlite3_bind_parameter_count(q);
        for (int i = 0; i < n; i++) {
            json_t *v = json_array_get(params, (size_t)i);
            if (json_is_string(v))
                sqlite3_bind_text(q, i + 1, json_string_value(v), -1, SQLITE_TRANSIENT);
            else if (json_is_integer(v))
                sqlite3_bind_int64(q, i + 1, json_integer_value(v));
            else if (json_is_real(v))
                sqlite3_bind_double(q, i + 1, json_real_value(v));
            else
                sqlite3_bind_null(q, i + 1);
        }
        r = sqlite3_step(q);
        lite_done(q);
        return r == SQLITE_DONE || r == SQLITE_ROW ? sqlite3_changes(db->lite)
                                                   : lite_err(db, e, NULL);
    }
    struct pg_params pp = {0};
    PGresult *res;
    int n = 0, r;
    char *q = pg_sql(sql, &n);

    if (!q || pg_bind_json(&pp, n, types, params)) {
        free(q);
        return fl_err_set(e, FL_ESTATE, "%s: bad statement", db->label);
    }
    res = pg_run(db, q, &pp, 0);
    free(q);
    r = pg_ok(res) ? (int)strtol(PQcmdTuples(res), NULL, 10) : pg_err(db, e, res);
    PQclear(res);
    return r;
}

bool fl_db_connected(struct fl_db *db)
{
    return db->lite || PQstatus(db->pg) == CONNECTION_OK;
}

bool fl_db_reconnect(struct fl_db *db)
{
    if (db->lite || PQstatus(db->pg) == CONNECTION_OK)
        return true;
    db->next_reset_ns = fl_mono_ns() + 1000000000LL;
    PQreset(db->pg);
    return PQstatus(db->pg) == CONNECTION_OK;
}
