/* The history store: runs, their events, probes, samples, histories and
 * checks, in SQLite (a file) or PostgreSQL (a postgresql:// URL) through
 * store/db.h; the SQLite file's checks (path, directory, read-only, hot
 * journal) are here. */
#include "store/store.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/time.h"

/* Writes kept in memory while a PostgreSQL store is unreachable, at most: */
#define PENDING_MAX 100000

struct fl_store {
    struct fl_db *db;
    sqlite3 *lite;   /* while opening a SQLite file, before db wraps it */
    json_t *pending; /* [sql, types, params] of writes the database has not taken yet */
    size_t dropped;  /* writes lost beyond PENDING_MAX */
};

/* Migration N brings the schema from version N to N+1. Append only. */
static const char *const migrations[] = {
    "CREATE TABLE experiments (\n"
    "  id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, title TEXT NOT NULL,\n"
    "  file TEXT, content TEXT NOT NULL, first_seen_ms INTEGER NOT NULL);\n"
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY, experiment_id INTEGER NOT NULL REFERENCES experiments(id),\n"
    "  started_ms INTEGER NOT NULL, duration_ms INTEGER, seed INTEGER,\n"
    "  verdict TEXT NOT NULL DEFAULT 'running', explanation TEXT, exit_code INTEGER);\n"
    "CREATE TABLE events (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,\n"
    "  t_ms INTEGER NOT NULL, phase TEXT NOT NULL, message TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, seq));\n"
    "CREATE TABLE probes (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), probe_id INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL, kind TEXT NOT NULL, role TEXT NOT NULL, tolerance TEXT,\n"
    "  samples INTEGER, failures INTEGER, availability REAL,\n"
    "  p50_ms REAL, p95_ms REAL, p99_ms REAL, max_ms REAL,\n"
    "  time_to_detect_ms INTEGER, time_to_recover_ms INTEGER,\n"
    "  PRIMARY KEY (run_id, probe_id));\n"
    "CREATE TABLE samples (\n"
    "  run_id INTEGER NOT NULL, probe_id INTEGER NOT NULL, t_ms INTEGER NOT NULL,\n"
    "  value REAL, ok INTEGER NOT NULL, latency_ms REAL NOT NULL);\n"
    "CREATE INDEX samples_run ON samples(run_id, probe_id, t_ms);\n",
    /* 2: who runs a run, so a run whose runner died reads "interrupted" */
    "ALTER TABLE runs ADD COLUMN runner_pid INTEGER;\n"
    "ALTER TABLE runs ADD COLUMN runner_start INTEGER;\n",
    /* 3: the history a run's workload recorded, and the checks of it */
    "CREATE TABLE histories (\n"
    "  run_id INTEGER PRIMARY KEY REFERENCES runs(id), client TEXT, workload TEXT,\n"
    "  operations INTEGER NOT NULL, bytes INTEGER NOT NULL, content BLOB NOT NULL);\n"
    "CREATE TABLE checks (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,\n"
    "  model TEXT NOT NULL, result TEXT NOT NULL, exit_code INTEGER NOT NULL,\n"
    "  output TEXT, PRIMARY KEY (run_id, seq));\n",
    /* 4: operations had counted lines (events: an invocation and a
     * completion each); count operations as the workload does, keep both */
    "ALTER TABLE histories ADD COLUMN events INTEGER;\n"
    "UPDATE histories SET events = operations - (substr(CAST(content AS TEXT), 1, 1) = '#'), "
    "operations = (length(CAST(content AS TEXT)) - "
    "length(replace(CAST(content AS TEXT), '\"type\":\"invoke\"', ''))) / 15;\n",
    /* 5: an experiment with several workloads: the first one's history stays
     * in histories, the others' are here, by their position and name */
    "CREATE TABLE IF NOT EXISTS workload_histories (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL, name TEXT NOT NULL,\n"
    "  client TEXT, workload TEXT, operations INTEGER NOT NULL, events INTEGER,\n"
    "  bytes INTEGER NOT NULL, content BLOB NOT NULL, PRIMARY KEY (run_id, seq));\n",
    /* 6: the log lines of the run's targets (docs/experiments.md, "Target logs") */
    "CREATE TABLE IF NOT EXISTS run_log_sources (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), source TEXT NOT NULL, kind TEXT NOT NULL,\n"
    "  target TEXT NOT NULL, lines INTEGER NOT NULL, bytes INTEGER NOT NULL,\n"
    "  dropped INTEGER NOT NULL, error TEXT, PRIMARY KEY (run_id, source));\n"
    "CREATE TABLE IF NOT EXISTS run_logs (\n"
    "  run_id INTEGER NOT NULL, source TEXT NOT NULL, seq INTEGER NOT NULL,\n"
    "  t_ms INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (run_id, source, seq));\n"
    /* and the runner's host (its boot id): a store shared by several hosts
     * judges a runner's liveness only on the host it runs on */
    "ALTER TABLE runs ADD COLUMN runner_host TEXT;\n",
};

/* The same schema in PostgreSQL (64-bit integers, doubles, bytea, identity
 * ids); entry i matches migrations[i]. */
static const char *const pg_migrations[] = {
    "CREATE TABLE experiments (\n"
    "  id BIGSERIAL PRIMARY KEY, hash TEXT NOT NULL UNIQUE, title TEXT NOT NULL,\n"
    "  file TEXT, content TEXT NOT NULL, first_seen_ms BIGINT NOT NULL);\n"
    "CREATE TABLE runs (\n"
    "  id BIGSERIAL PRIMARY KEY, experiment_id BIGINT NOT NULL REFERENCES experiments(id),\n"
    "  started_ms BIGINT NOT NULL, duration_ms BIGINT, seed BIGINT,\n"
    "  verdict TEXT NOT NULL DEFAULT 'running', explanation TEXT, exit_code BIGINT);\n"
    "CREATE TABLE events (\n"
    "  run_id BIGINT NOT NULL REFERENCES runs(id), seq BIGINT NOT NULL,\n"
    "  t_ms BIGINT NOT NULL, phase TEXT NOT NULL, message TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, seq));\n"
    "CREATE TABLE probes (\n"
    "  run_id BIGINT NOT NULL REFERENCES runs(id), probe_id BIGINT NOT NULL,\n"
    "  name TEXT NOT NULL, kind TEXT NOT NULL, role TEXT NOT NULL, tolerance TEXT,\n"
    "  samples BIGINT, failures BIGINT, availability DOUBLE PRECISION,\n"
    "  p50_ms DOUBLE PRECISION, p95_ms DOUBLE PRECISION, p99_ms DOUBLE PRECISION,\n"
    "  max_ms DOUBLE PRECISION, time_to_detect_ms BIGINT, time_to_recover_ms BIGINT,\n"
    "  PRIMARY KEY (run_id, probe_id));\n"
    "CREATE TABLE samples (\n"
    "  run_id BIGINT NOT NULL, probe_id BIGINT NOT NULL, t_ms BIGINT NOT NULL,\n"
    "  value DOUBLE PRECISION, ok BIGINT NOT NULL, latency_ms DOUBLE PRECISION NOT NULL);\n"
    "CREATE INDEX samples_run ON samples(run_id, probe_id, t_ms);\n",
    "ALTER TABLE runs ADD COLUMN runner_pid BIGINT;\n"
    "ALTER TABLE runs ADD COLUMN runner_start BIGINT;\n",
    "CREATE TABLE histories (\n"
    "  run_id BIGINT PRIMARY KEY REFERENCES runs(id), client TEXT, workload TEXT,\n"
    "  operations BIGINT NOT NULL, bytes BIGINT NOT NULL, content BYTEA NOT NULL);\n"
    "CREATE TABLE checks (\n"
    "  run_id BIGINT NOT NULL REFERENCES runs(id), seq BIGINT NOT NULL,\n"
    "  model TEXT NOT NULL, result TEXT NOT NULL, exit_code BIGINT NOT NULL,\n"
    "  output TEXT, PRIMARY KEY (run_id, seq));\n",
    /* 4: no PostgreSQL store predates the events column */
    "ALTER TABLE histories ADD COLUMN events BIGINT;\n",
    /* 5 */
    "CREATE TABLE IF NOT EXISTS workload_histories (\n"
    "  run_id BIGINT NOT NULL REFERENCES runs(id), seq BIGINT NOT NULL, name TEXT NOT NULL,\n"
    "  client TEXT, workload TEXT, operations BIGINT NOT NULL, events BIGINT,\n"
    "  bytes BIGINT NOT NULL, content BYTEA NOT NULL, PRIMARY KEY (run_id, seq));\n",
    /* 6 */
    "CREATE TABLE IF NOT EXISTS run_log_sources (\n"
    "  run_id BIGINT NOT NULL REFERENCES runs(id), source TEXT NOT NULL, kind TEXT NOT NULL,\n"
    "  target TEXT NOT NULL, lines BIGINT NOT NULL, bytes BIGINT NOT NULL,\n"
    "  dropped BIGINT NOT NULL, error TEXT, PRIMARY KEY (run_id, source));\n"
    "CREATE TABLE IF NOT EXISTS run_logs (\n"
    "  run_id BIGINT NOT NULL, source TEXT NOT NULL, seq BIGINT NOT NULL,\n"
    "  t_ms BIGINT NOT NULL, line TEXT NOT NULL, PRIMARY KEY (run_id, source, seq));\n"
    "ALTER TABLE runs ADD COLUMN runner_host TEXT;\n",
};

int fl_store_schema_version(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

const char *fl_store_path(const char *flag_value)
{
    const char *env = getenv("FAULTLINE_DB");

    if (flag_value) /* even empty: `--db ""` is refused, not the machine-wide default */
        return flag_value;
    if (env && *env)
        return env;
    return FL_STORE_DEFAULT_PATH;
}

/* What is at `path`: 0 when it is a regular file, STORE_MISSING when
 * nothing is there, else a negative error naming what it is. */
#define STORE_MISSING 1

static int check_path(const char *path, struct fl_err *e)
{
    struct stat sb;

    if (!*path)
        return fl_err_set(e, FL_EUSAGE, "the history store path is empty: give --db a file path");
    if (stat(path, &sb)) {
        if (errno == ENOENT)
            return STORE_MISSING;
        return fl_err_set(e, FL_ESTATE,
                          "cannot use history store %s: %s (choose another with --db or "
                          "FAULTLINE_DB)",
                          path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        return fl_err_set(e, FL_ESTATE,
                          "history store %s is a directory: --db takes a database file, e.g. "
                          "%s/history.db",
                          path, path);
    if (!S_ISREG(sb.st_mode))
        return fl_err_set(e, FL_ESTATE,
                          "history store %s is not a regular file (%s): --db takes a database "
                          "file, e.g. ./history.db",
                          path,
                          S_ISCHR(sb.st_mode)    ? "a character device"
                          : S_ISBLK(sb.st_mode)  ? "a block device"
                          : S_ISFIFO(sb.st_mode) ? "a FIFO"
                          : S_ISSOCK(sb.st_mode) ? "a socket"
                                                 : "not a file");
    return 0;
}

/* The directory a writer needs: created if missing (run is a writing
 * command), and writable, since SQLite keeps its journal next to the file. */
static int writable_dir(const char *path, struct fl_err *e)
{
    char buf[PATH_MAX];
    const char *dir;

    snprintf(buf, sizeof buf, "%s", path);
    dir = dirname(buf); /* "." (not in buf) for a bare file name */
    if (strcmp(dir, ".") && fl_mkdir_p(dir, 0755, e) < 0)
        return fl_err_prefix(e, "history store %s", path);
    if (access(dir, W_OK))
        return fl_err_set(e, FL_ESTATE,
                          "history store %s: its directory %s is not writable (%s); SQLite "
                          "writes a journal next to the database: fix the permissions or choose "
                          "another with --db or FAULTLINE_DB",
                          path, dir, strerror(errno));
    return 0;
}

static int open_db(const char *path, int flags, struct fl_store *st, struct fl_err *e)
{
    if (sqlite3_open_v2(path, &st->lite, flags | SQLITE_OPEN_FULLMUTEX, NULL) == SQLITE_OK)
        return 0;
    fl_err_set(e, FL_ESTATE,
               "cannot open history store %s: %s (choose another with --db or "
               "FAULTLINE_DB)",
               path, st->lite ? sqlite3_errmsg(st->lite) : "out of memory");
    sqlite3_close(st->lite);
    st->lite = NULL;
    return -FL_ESTATE;
}

/* The schema version in the file, 0 for a fresh file; -FL_ESTATE when it
 * is not a database at all. */
static int read_version(struct fl_store *st, const char *path, long long *version, struct fl_err *e)
{
    sqlite3_stmt *q = NULL;
    int rc;

    *version = 0;
    rc = sqlite3_prepare_v2(st->lite, "SELECT version FROM schema_version", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            *version = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        return 0;
    }
    if (strstr(sqlite3_errmsg(st->lite), "no such table"))
        return 0;
    return fl_err_set(e, FL_ESTATE,
                      "history store %s cannot be read: %s (is it a faultline history "
                      "database? choose another with --db or FAULTLINE_DB)",
                      path, sqlite3_errmsg(st->lite));
}

static int migrate(struct fl_store *st, const char *path, struct fl_err *e)
{
    size_t n = sizeof migrations / sizeof migrations[0];

    if (fl_db_migrate(st->db, "schema_version", migrations, pg_migrations, n, e))
        return fl_err_prefix(e, "%s", path);
    return 0;
}

/* Make an open SQLite store writable: wrap it and migrate it. `why` says
 * why it must be written, for the read-only error. */
static int prepare_writer(struct fl_store *st, const char *path, const char *why, struct fl_err *e)
{
    int r;

    sqlite3_busy_timeout(st->lite, 5000);
    if (sqlite3_db_readonly(st->lite, "main") == 1)
        return fl_err_set(e, FL_ESTATE,
                          "history store %s is read-only (file permissions or a read-only file "
                          "system) and %s: make it writable or choose another with --db or "
                          "FAULTLINE_DB",
                          path, why);
    /* rollback journal, not WAL: a WAL database makes even a read-only
     * reader create -wal and -shm files next to it */
    sqlite3_exec(st->lite,
                 "PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL;"
                 "PRAGMA foreign_keys=ON;",
                 NULL, NULL, NULL);
    r = fl_db_sqlite_wrap(st->lite, "history store", &st->db, e);
    st->lite = NULL;
    return r ? r : migrate(st, path, e);
}

/* A PostgreSQL store: connect; a writer migrates, a reader (`runs`, `show`)
 * creates nothing in a database without a history and upgrades an older one. */
static int open_pg(const char *url, bool write, struct fl_store *st, struct fl_err *e)
{
    long long version = 0;
    char where[512];
    int r;

    if ((r = fl_db_pg_open(url, "history store", &st->db, e)))
        return r;
    if (write)
        return migrate(st, url, e);
    if ((r = fl_db_version(st->db, "schema_version", &version, e)))
        return r;
    if (version == 0) {
        fl_db_redact(url, where, sizeof where);
        return fl_err_set(e, FL_ENOTARGET,
                          "no history store in the database %s: no run has been recorded there "
                          "(`faultline run --db URL` creates it)",
                          where);
    }
    return version == fl_store_schema_version() ? 0 : migrate(st, url, e);
}

int fl_store_open(const char *path, struct fl_store **out, struct fl_err *e)
{
    struct fl_store *st;
    int r;

    *out = NULL;
    if (!fl_db_is_url(path)) {
        r = check_path(path, e);
        if (r < 0)
            return r;
        if ((r = writable_dir(path, e)))
            return r;
    }
    if (!(st = calloc(1, sizeof *st)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (fl_db_is_url(path))
        r = open_pg(path, true, st, e);
    else if (!(r = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, st, e)))
        r = prepare_writer(st, path, "a run must be recorded in it", e);
    if (r) {
        fl_store_close(st);
        return r;
    }
    *out = st;
    return 0;
}

/* A killed run left a hot journal: rolling it back needs write access (it
 * removes the journal, creates nothing). */
static int roll_back_hot_journal(struct fl_store *st, const char *path, long long *version,
                                 struct fl_err *e)
{
    sqlite3_close(st->lite);
    st->lite = NULL;
    if (open_db(path, SQLITE_OPEN_READWRITE, st, e))
        return fl_err_set(e, FL_ESTATE,
                          "history store %s has an unfinished write of a killed run (%s-journal) "
                          "and cannot be opened for writing to roll it back: make it writable "
                          "once, or choose another with --db or FAULTLINE_DB",
                          path, path);
    sqlite3_busy_timeout(st->lite, 5000);
    return read_version(st, path, version, e);
}

int fl_store_open_readonly(const char *path, struct fl_store **out, struct fl_err *e)
{
    struct fl_store *st;
    long long version;
    int r;

    *out = NULL;
    r = fl_db_is_url(path) ? 0 : check_path(path, e);
    if (r == STORE_MISSING)
        return fl_err_set(e, FL_ENOTARGET,
                          "no history store at %s: no run has been recorded there (`faultline "
                          "run` creates it; --db or FAULTLINE_DB choose another)",
                          path);
    if (r)
        return r;
    if (!(st = calloc(1, sizeof *st)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (fl_db_is_url(path)) {
        if ((r = open_pg(path, false, st, e)))
            goto fail;
        *out = st;
        return 0;
    }
    if ((r = open_db(path, SQLITE_OPEN_READONLY, st, e)))
        goto fail;
    sqlite3_busy_timeout(st->lite, 5000);
    r = read_version(st, path, &version, e);
    if (r && sqlite3_extended_errcode(st->lite) == SQLITE_READONLY_ROLLBACK)
        r = roll_back_hot_journal(st, path, &version, e);
    if (r)
        goto fail;
    if (version != fl_store_schema_version()) {
        /* an older store is upgraded in place (no new file); a newer one is refused */
        char why[128];
        snprintf(why, sizeof why, "its schema (version %lld) must be upgraded to version %d",
                 version, fl_store_schema_version());
        sqlite3_close(st->lite);
        st->lite = NULL;
        if ((r = open_db(path, SQLITE_OPEN_READWRITE, st, e)) ||
            (r = prepare_writer(st, path, why, e)))
            goto fail;
    } else if ((r = fl_db_sqlite_wrap(st->lite, "history store", &st->db, e))) {
        st->lite = NULL;
        goto fail;
    }
    st->lite = NULL;
    *out = st;
    return 0;
fail:
    fl_store_close(st);
    return r;
}

void fl_store_close(struct fl_store *st)
{
    if (!st)
        return;
    if (st->lite)
        sqlite3_close(st->lite);
    json_decref(st->pending);
    fl_db_close(st->db);
    free(st);
}

int fl_store_begin(struct fl_store *st)
{
    return fl_db_begin(st->db);
}

int fl_store_commit(struct fl_store *st)
{
    return fl_db_commit(st->db);
}

/* Replay the kept writes in order; 0 when none is left. */
static int flush_pending(struct fl_store *st)
{
    size_t done = 0;
    json_t *w;

    json_array_foreach (st->pending, done, w) {
        struct fl_err e = {0};
        if (fl_db_exec_json(st->db, &e,
                            (const char *)(uintptr_t)json_integer_value(json_array_get(w, 0)),
                            json_string_value(json_array_get(w, 1)), json_array_get(w, 2)) < 0 &&
            !fl_db_connected(st->db))
            break; /* a statement the database refuses is dropped, not retried forever */
    }
    while (done-- > 0)
        json_array_remove(st->pending, 0);
    return json_array_size(st->pending) ? -FL_ESTATE : 0;
}

/* A write of the run (event, sample, probe, check, verdict). In
 * PostgreSQL, while the database is unreachable it is kept in memory
 * (bounded) and replayed in order by the next write that gets through or by
 * fl_store_run_end, so an outage loses nothing the run recorded. */
static int put(struct fl_store *st, const char *sql, const char *types, ...)
{
    struct fl_err e = {0};
    json_t *params;
    va_list ap;
    int r;

    va_start(ap, types);
    if (!fl_db_is_pg(st->db)) {
        r = fl_db_execv(st->db, NULL, &e, sql, types, ap);
        va_end(ap);
        return r < 0 ? -FL_ESTATE : 0;
    }
    params = fl_db_params(types, ap);
    va_end(ap);
    if ((!st->pending || !flush_pending(st)) &&
        (fl_db_exec_json(st->db, &e, sql, types, params) >= 0 || fl_db_connected(st->db))) {
        json_decref(params);
        return e.code ? -FL_ESTATE : 0;
    }
    if (!st->pending)
        st->pending = json_array();
    if (json_array_size(st->pending) >= PENDING_MAX) {
        st->dropped++;
        json_decref(params);
        return -FL_ESTATE;
    }
    /* sql is one of this file's string literals: its address is kept */
    json_array_append_new(st->pending,
                          json_pack("[I,s,o]", (json_int_t)(uintptr_t)sql, types, params));
    return 0;
}

/* This boot of this host (the kernel's boot id), "" when unknown. */
static const char *boot_id(void)
{
    static char id[64]; /* written once, read by the store's single writer */
    FILE *f;

    if (!id[0] && (f = fopen("/proc/sys/kernel/random/boot_id", "re"))) {
        if (!fgets(id, sizeof id, f))
            id[0] = '\0';
        id[strcspn(id, "\n")] = '\0';
        fclose(f);
    }
    return id;
}

int fl_store_run_begin(struct fl_store *st, const char *title, const char *file,
                       const char *content, const char *hash, int64_t started_wall_ms,
                       uint64_t seed, int64_t *run_id, struct fl_err *e)
{
    json_t *x = fl_db_rows(st->db, e,
                           "INSERT INTO experiments (hash, title, file, content, first_seen_ms) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT(hash) DO UPDATE SET "
                           "title = excluded.title RETURNING id",
                           "ssssI", hash, title, file, content, started_wall_ms);
    int64_t exp_id = json_integer_value(json_object_get(json_array_get(x, 0), "id"));

    json_decref(x);
    if (!exp_id)
        return e->code ? fl_err_prefix(e, "recording the experiment")
                       : fl_err_set(e, FL_ESTATE, "history store: recording the experiment");
    if (fl_db_exec(st->db, run_id, e,
                   "INSERT INTO runs (experiment_id, started_ms, seed, runner_pid, "
                   "runner_start, runner_host) VALUES (?, ?, ?, ?, ?, ?)",
                   "IIIIIs", exp_id, started_wall_ms, (int64_t)seed, (int64_t)getpid(),
                   (int64_t)fl_proc_start_time(getpid()), boot_id()) < 0)
        return fl_err_prefix(e, "recording the run");
    return 0;
}

int fl_store_event(struct fl_store *st, int64_t run_id, int64_t t_ms, const char *phase,
                   const char *message)
{
    return put(st,
               "INSERT INTO events (run_id, seq, t_ms, phase, message) VALUES "
               "(?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = "
               "?1), ?2, ?3, ?4)",
               "IIss", run_id, t_ms, phase, message) < 0
               ? -FL_ESTATE
               : 0;
}

int fl_store_probe_define(struct fl_store *st, int64_t run_id, int probe_id, const char *name,
                          const char *kind, const char *role, const char *tolerance)
{
    return put(st,
               "INSERT INTO probes (run_id, probe_id, name, kind, role, tolerance) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, probe_id) DO UPDATE SET "
               "name = excluded.name, kind = excluded.kind, role = excluded.role, "
               "tolerance = excluded.tolerance",
               "Iissss", run_id, probe_id, name, kind, role, tolerance) < 0
               ? -FL_ESTATE
               : 0;
}

int fl_store_samples(struct fl_store *st, int64_t run_id, int probe_id, const struct fl_sample *s,
                     size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (put(st,
                "INSERT INTO samples (run_id, probe_id, t_ms, value, ok, latency_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                "IiIdid", run_id, probe_id, (int64_t)s[i].t_ms, s[i].value, s[i].ok,
                s[i].latency_ms) < 0)
            return -FL_ESTATE;
    return 0;
}

int fl_store_probe_result(struct fl_store *st, int64_t run_id, int probe_id,
                          const struct fl_probe_stats *stats, int64_t detect_ms, int64_t recover_ms)
{
    /* no samples: no availability, not 100%; <0: not applicable */
    return put(st,
               "UPDATE probes SET samples = ?, failures = ?, availability = ?, "
               "p50_ms = ?, p95_ms = ?, p99_ms = ?, max_ms = ?, "
               "time_to_detect_ms = CASE WHEN ?8 >= 0 THEN ?8 END, "
               "time_to_recover_ms = CASE WHEN ?9 >= 0 THEN ?9 END "
               "WHERE run_id = ?10 AND probe_id = ?11",
               "IIdddddIIIi", (int64_t)stats->n, (int64_t)stats->failures,
               stats->n ? stats->availability : NAN, stats->p50, stats->p95, stats->p99,
               stats->pmax, detect_ms, recover_ms, run_id, probe_id) < 0
               ? -FL_ESTATE
               : 0;
}

int fl_store_run_end(struct fl_store *st, int64_t run_id, int64_t duration_ms, const char *verdict,
                     const char *explanation, int exit_code)
{
    const char *env = getenv("FAULTLINE_DB_WAIT");
    long wait_s = env && *env ? strtol(env, NULL, 10) : FL_STORE_DB_WAIT_S;
    int64_t give_up = fl_mono_ns() + (int64_t)(wait_s < 0 ? 0 : wait_s) * 1000000000LL;
    int r = put(st,
                "UPDATE runs SET duration_ms = ?, verdict = ?, explanation = ?, "
                "exit_code = ? WHERE id = ?",
                "IssiI", duration_ms, verdict, explanation, exit_code, run_id);

    /* the faults are reverted by now: wait (bounded) for the database to
     * take what the run recorded */
    while (!r && st->pending && json_array_size(st->pending)) {
        if ((fl_db_reconnect(st->db) && !flush_pending(st)) || fl_mono_ns() >= give_up)
            break;
        nanosleep(&(struct timespec){1, 0}, NULL);
    }
    if (r || (st->pending && json_array_size(st->pending)) || st->dropped)
        return -FL_ESTATE;
    return 0;
}
/* Operations and events of a JSON Lines history, counted as `faultline
 * workload` counts them: an event is a line (not a '#' comment), an operation is a client's
 * invocation (a line with an integer process and type "invoke"). */
static void count_history(const char *buf, size_t size, long long *ops, long long *events)
{
    const char *p = buf, *end = buf + size;

    *ops = *events = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_t *ev;

        if (len && *p != '#') { /* a '#' line is a comment (the recorder's header) */
            (*events)++;
            ev = json_loadb(p, len, 0, NULL);
            *ops += json_is_integer(json_object_get(ev, "process")) &&
                    json_is_string(json_object_get(ev, "type")) &&
                    !strcmp(json_string_value(json_object_get(ev, "type")), "invoke");
            json_decref(ev);
        }
        p += len + 1;
    }
}

int fl_store_history_put(struct fl_store *st, int64_t run_id, const char *client,
                         const char *workload, const char *path, struct fl_err *e)
{
    return fl_store_history_put_nth(st, run_id, 0, NULL, client, workload, path, e);
}

int fl_store_history_put_nth(struct fl_store *st, int64_t run_id, int seq, const char *name,
                             const char *client, const char *workload, const char *path,
                             struct fl_err *e)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    long size;
    long long ops = 0, events = 0;
    int r;

    if (!f)
        return fl_err_set(e, FL_EFAIL, "cannot read the history %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0 || size > FL_STORE_MAX_HISTORY || !(buf = malloc((size_t)size + 1)) ||
        fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        return fl_err_set(e, FL_EFAIL,
                          "the history %s is too large to store (%ld bytes; the limit is %d)", path,
                          size, FL_STORE_MAX_HISTORY);
    }
    fclose(f);
    count_history(buf, (size_t)size, &ops, &events);
    if (seq == 0)
        r = fl_db_exec(st->db, NULL, e,
                       "INSERT INTO histories (run_id, client, workload, operations, bytes, "
                       "content, events) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO "
                       "UPDATE SET client = excluded.client, workload = excluded.workload, "
                       "operations = excluded.operations, bytes = excluded.bytes, content = "
                       "excluded.content, events = excluded.events",
                       "IssIIbI", run_id, client, workload, (int64_t)ops, (int64_t)size, buf,
                       (size_t)size, (int64_t)events);
    else
        r = fl_db_exec(st->db, NULL, e,
                       "INSERT INTO workload_histories (run_id, client, workload, operations, "
                       "bytes, content, events, seq, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON "
                       "CONFLICT (run_id, seq) DO UPDATE SET client = excluded.client, workload = "
                       "excluded.workload, operations = excluded.operations, bytes = "
                       "excluded.bytes, content = excluded.content, events = excluded.events, "
                       "name = excluded.name",
                       "IssIIbIIs", run_id, client, workload, (int64_t)ops, (int64_t)size, buf,
                       (size_t)size, (int64_t)events, (int64_t)seq, name ? name : "");
    free(buf);
    return r < 0 ? fl_err_prefix(e, "storing the history") : 0;
}

int fl_store_history_write(struct fl_store *st, int64_t run_id, FILE *out, struct fl_err *e)
{
    return fl_store_history_write_named(st, run_id, NULL, out, e);
}

int fl_store_history_write_named(struct fl_store *st, int64_t run_id, const char *name, FILE *out,
                                 struct fl_err *e)
{
    char sql[160];
    int r;

    if (!name) {
        r = fl_db_blob_write(st->db, "SELECT content FROM histories WHERE run_id = ?", run_id, out,
                             e);
        if (r == 1)
            return fl_err_set(e, FL_ENOTARGET,
                              "run %lld recorded no history (its experiment has no workload:)",
                              (long long)run_id);
        return r;
    }
    /* the position of the named workload, then its content by (run, seq):
     * the blob reader binds one id, and seq is a number the store gave */
    json_t *row =
        fl_db_rows(st->db, e, "SELECT seq FROM workload_histories WHERE run_id = ? AND name = ?",
                   "Is", run_id, name);
    long long seq = json_integer_value(json_object_get(json_array_get(row, 0), "seq"));

    json_decref(row);
    if (!row)
        return fl_err_prefix(e, "reading the history");
    r = 1;
    if (seq > 0) {
        snprintf(sql, sizeof sql,
                 "SELECT content FROM workload_histories WHERE run_id = ? AND seq = %lld", seq);
        r = fl_db_blob_write(st->db, sql, run_id, out, e);
    }
    if (r == 1)
        return fl_err_set(e, FL_ENOTARGET,
                          "run %lld has no history of a workload named %s other than its first "
                          "(the first is `faultline show %lld --history`)",
                          (long long)run_id, name, (long long)run_id);
    return r;
}

int fl_store_check(struct fl_store *st, int64_t run_id, int seq, const char *model,
                   const char *result, int exit_code, const char *output)
{
    return put(st,
               "INSERT INTO checks (run_id, seq, model, result, exit_code, output) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               "Iissis", run_id, seq, model, result, exit_code, output) < 0
               ? -FL_ESTATE
               : 0;
}

/* Rows of `sql` (bound to run_id when it has a ?) as objects keyed by column
 * name; an empty array on a database error (with e filled). */
static json_t *rows(struct fl_store *st, const char *sql, int64_t run_id, struct fl_err *e)
{
    json_t *arr = fl_db_rows(st->db, e, sql, "I", run_id);

    return arr ? arr : json_array();
}

/* A run still marked "running" whose runner process is gone (killed, host
 * rebooted) never reached a verdict: report it as "interrupted". The
 * guardian has reverted its faults. Drops the runner_* helper fields. */
static void settle(json_t *run)
{
    const char *v = json_string_value(json_object_get(run, "verdict"));
    json_t *pid = json_object_get(run, "runner_pid");
    json_t *start = json_object_get(run, "runner_start");
    const char *host = json_string_value(json_object_get(run, "runner_host"));

    /* a runner on another host (a shared PostgreSQL store) cannot be
     * checked from here: it stays running */
    if (v && !strcmp(v, "running") && !(host && *host && *boot_id() && strcmp(host, boot_id())) &&
        !(json_is_integer(pid) && json_is_integer(start) &&
          fl_proc_alive((pid_t)json_integer_value(pid), (uint64_t)json_integer_value(start)))) {
        json_object_set_new(run, "verdict", json_string("interrupted"));
        json_object_set_new(run, "explanation",
                            json_string("the runner stopped before reaching a verdict (killed?); "
                                        "the guardian reverted its faults"));
    }
    json_object_del(run, "runner_pid");
    json_object_del(run, "runner_start");
    json_object_del(run, "runner_host");
}

json_t *fl_store_list_runs(struct fl_store *st, struct fl_err *e)
{
    json_t *all = rows(st,
                       "SELECT r.id AS id, x.title AS experiment, x.hash AS experiment_hash, "
                       "r.started_ms AS started_ms, r.duration_ms AS duration_ms, "
                       "r.verdict AS verdict, r.explanation AS explanation, "
                       "r.exit_code AS exit_code, r.runner_pid AS runner_pid, "
                       "r.runner_start AS runner_start, r.runner_host AS runner_host "
                       "FROM runs r JOIN experiments x ON x.id = r.experiment_id ORDER BY r.id",
                       0, e),
           *r;
    size_t i;

    json_array_foreach (all, i, r)
        settle(r);
    return all;
}

int fl_store_log_source(struct fl_store *st, int64_t run_id, const char *source, const char *kind,
                        const char *target, int64_t lines, int64_t bytes, int64_t dropped,
                        const char *error)
{
    return put(st,
               "INSERT INTO run_log_sources (run_id, source, kind, target, lines, bytes, "
               "dropped, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               "IsssIIIs", run_id, source, kind, target, lines, bytes, dropped, error);
}

int fl_store_log_line(struct fl_store *st, int64_t run_id, const char *source, int64_t seq,
                      int64_t t_ms, const char *line)
{
    return put(st, "INSERT INTO run_logs (run_id, source, seq, t_ms, line) VALUES (?, ?, ?, ?, ?)",
               "IsIIs", run_id, source, seq, t_ms, line);
}

json_t *fl_store_run_logs(struct fl_store *st, int64_t run_id, const char *source, struct fl_err *e)
{
    json_t *src = fl_db_rows(st->db, e,
                             "SELECT source AS name, kind, target, lines, bytes, dropped, error "
                             "FROM run_log_sources WHERE run_id = ?1 AND (?2 IS NULL OR source "
                             "= ?2) ORDER BY source",
                             "Is", run_id, source),
           *lines = src ? fl_db_rows(st->db, e,
                                     "SELECT source, seq, t_ms, line FROM run_logs WHERE run_id "
                                     "= ?1 AND (?2 IS NULL OR source = ?2) ORDER BY t_ms, source, "
                                     "seq",
                                     "Is", run_id, source)
                        : NULL;

    if (!lines) {
        json_decref(src);
        return NULL;
    }
    return json_pack("{s:o,s:o}", "sources", src, "lines", lines);
}

/* A probe's samples as [t_ms, value, ok, latency_ms] arrays. */
static json_t *samples(struct fl_store *st, int64_t run_id, json_t *probe, struct fl_err *e)
{
    json_t *all = fl_db_rows(st->db, e,
                             "SELECT t_ms, value, ok, latency_ms FROM samples WHERE "
                             "run_id = ? AND probe_id = ? ORDER BY t_ms",
                             "II", run_id, json_integer_value(json_object_get(probe, "id"))),
           *arr = json_array(), *r;
    size_t i;

    json_array_foreach (all, i, r)
        json_array_append_new(arr, json_pack("[O,O,b,f]", json_object_get(r, "t_ms"),
                                             json_object_get(r, "value"),
                                             (int)json_integer_value(json_object_get(r, "ok")),
                                             json_number_value(json_object_get(r, "latency_ms"))));
    json_decref(all);
    return arr;
}

int fl_store_delete_run(struct fl_store *st, int64_t run_id, struct fl_err *e)
{
    static const char *const sql[] = {
        "DELETE FROM samples WHERE run_id = ?", "DELETE FROM events WHERE run_id = ?",
        "DELETE FROM probes WHERE run_id = ?",  "DELETE FROM histories WHERE run_id = ?",
        "DELETE FROM checks WHERE run_id = ?",  "DELETE FROM run_logs WHERE run_id = ?",
        "DELETE FROM runs WHERE id = ?",
    };
    int r = fl_db_begin_write(st->db);

    if (r)
        fl_err_set(e, FL_ESTATE, "history store: cannot start a transaction (busy or unreachable)");
    for (size_t i = 0; !r && i < sizeof sql / sizeof sql[0]; i++)
        if (fl_db_exec(st->db, NULL, e, sql[i], "I", run_id) < 0)
            r = -FL_ESTATE;
    if (r) {
        fl_db_exec(st->db, NULL, &(struct fl_err){0}, "ROLLBACK", NULL);
        return r;
    }
    return fl_db_commit(st->db);
}

json_t *fl_store_show_run(struct fl_store *st, int64_t run_id, int with_samples, struct fl_err *e)
{
    json_t *run = rows(st,
                       "SELECT r.id AS id, x.title AS experiment, x.hash AS experiment_hash, "
                       "x.file AS file, r.started_ms AS started_ms, "
                       "r.duration_ms AS duration_ms, r.seed AS seed, r.verdict AS verdict, "
                       "r.explanation AS explanation, r.exit_code AS exit_code, "
                       "r.runner_pid AS runner_pid, r.runner_start AS runner_start, "
                       "r.runner_host AS runner_host "
                       "FROM runs r JOIN experiments x ON x.id = r.experiment_id WHERE r.id = ?",
                       run_id, e);
    json_t *o = json_incref(json_array_get(run, 0)), *probes, *p;
    size_t i;

    json_decref(run);
    if (o)
        settle(o);
    if (!o) {
        fl_err_set(e, FL_ENOTARGET,
                   "no run %lld in the history store; `faultline runs` lists "
                   "them",
                   (long long)run_id);
        return NULL;
    }
    json_object_set_new(o, "events",
                        rows(st,
                             "SELECT t_ms, phase, message FROM events WHERE run_id = ? "
                             "ORDER BY seq",
                             run_id, e));
    probes = rows(st,
                  "SELECT probe_id AS id, name, kind, role, tolerance, samples, failures, "
                  "availability, p50_ms, p95_ms, p99_ms, max_ms, time_to_detect_ms, "
                  "time_to_recover_ms FROM probes WHERE run_id = ? ORDER BY probe_id",
                  run_id, e);
    if (with_samples)
        json_array_foreach (probes, i, p)
            json_object_set_new(p, "samples_data", samples(st, run_id, p, e));
    json_object_set_new(o, "probes", probes);
    {
        json_t *h = rows(st,
                         "SELECT client, workload, operations, events, bytes FROM histories "
                         "WHERE run_id = ?",
                         run_id, e);
        json_object_set(o, "history", json_array_size(h) ? json_array_get(h, 0) : json_null());
        json_decref(h);
        /* schema 5: the second and later workloads of the run */
        json_object_set_new(o, "more_histories",
                            rows(st,
                                 "SELECT name, client, workload, operations, events, bytes FROM "
                                 "workload_histories WHERE run_id = ? ORDER BY seq",
                                 run_id, e));
    }
    json_object_set_new(o, "logs",
                        rows(st,
                             "SELECT source AS name, kind, target, lines, bytes, dropped, error "
                             "FROM run_log_sources WHERE run_id = ? ORDER BY source",
                             run_id, e));
    json_object_set_new(o, "checks",
                        rows(st,
                             "SELECT model, result, exit_code, output FROM checks "
                             "WHERE run_id = ? ORDER BY seq",
                             run_id, e));
    return o;
}
