#include "store/store.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/proc.h"

struct fl_store {
    sqlite3 *db;
    sqlite3_stmt *ins_sample, *ins_event;
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

static int db_err(struct fl_store *st, struct fl_err *e, const char *what)
{
    return fl_err_set(e, FL_ESTATE, "history store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int migrate(struct fl_store *st, struct fl_err *e)
{
    size_t n = sizeof migrations / sizeof migrations[0];
    sqlite3_stmt *q = NULL;
    long long version = 0;
    char *msg = NULL;

    if (sqlite3_exec(st->db,
                     "BEGIN IMMEDIATE;"
                     "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
                     NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(st->db, "SELECT version FROM schema_version", -1, &q, NULL))
        goto fail;
    if (sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int64(q, 0);
    else if (sqlite3_exec(st->db, "INSERT INTO schema_version VALUES (0)", NULL, NULL, &msg))
        goto fail;
    sqlite3_finalize(q);
    q = NULL;
    if (version > (long long)n) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return fl_err_set(e, FL_ESTATE,
                          "history store has schema version %lld, newer than this faultline "
                          "knows (%zu): upgrade faultline or use another --db",
                          version, n);
    }
    for (size_t i = (size_t)version; i < n; i++) {
        char upd[64];
        if (sqlite3_exec(st->db, migrations[i], NULL, NULL, &msg))
            goto fail;
        snprintf(upd, sizeof upd, "UPDATE schema_version SET version = %zu", i + 1);
        if (sqlite3_exec(st->db, upd, NULL, NULL, &msg))
            goto fail;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg))
        goto fail;
    return 0;
fail:
    sqlite3_finalize(q);
    fl_err_set(e, FL_ESTATE, "history store: migrating the schema: %s",
               msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -FL_ESTATE;
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
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_FULLMUTEX, NULL) == SQLITE_OK)
        return 0;
    fl_err_set(e, FL_ESTATE,
               "cannot open history store %s: %s (choose another with --db or "
               "FAULTLINE_DB)",
               path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
    sqlite3_close(st->db);
    st->db = NULL;
    return -FL_ESTATE;
}

/* The schema version in the file, 0 for a fresh file; -FL_ESTATE when it
 * is not a database at all. */
static int read_version(struct fl_store *st, const char *path, long long *version, struct fl_err *e)
{
    sqlite3_stmt *q = NULL;
    int rc;

    *version = 0;
    rc = sqlite3_prepare_v2(st->db, "SELECT version FROM schema_version", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            *version = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        return 0;
    }
    if (strstr(sqlite3_errmsg(st->db), "no such table"))
        return 0;
    return fl_err_set(e, FL_ESTATE,
                      "history store %s cannot be read: %s (is it a faultline history "
                      "database? choose another with --db or FAULTLINE_DB)",
                      path, sqlite3_errmsg(st->db));
}

/* Make an open store writable: migrate it and prepare the insert
 * statements. `why` says why it must be written, for the read-only error. */
static int prepare_writer(struct fl_store *st, const char *path, const char *why, struct fl_err *e)
{
    int r;

    sqlite3_busy_timeout(st->db, 5000);
    if (sqlite3_db_readonly(st->db, "main") == 1)
        return fl_err_set(e, FL_ESTATE,
                          "history store %s is read-only (file permissions or a read-only file "
                          "system) and %s: make it writable or choose another with --db or "
                          "FAULTLINE_DB",
                          path, why);
    /* rollback journal, not WAL: a WAL database makes even a read-only
     * reader create -wal and -shm files next to it */
    sqlite3_exec(st->db,
                 "PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL;"
                 "PRAGMA foreign_keys=ON;",
                 NULL, NULL, NULL);
    if (migrate(st, e))
        return fl_err_prefix(e, "%s", path);
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO samples (run_id, probe_id, t_ms, value, ok, latency_ms)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &st->ins_sample, NULL) ||
        sqlite3_prepare_v2(st->db,
                           "INSERT INTO events (run_id, seq, t_ms, phase, message) VALUES "
                           "(?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = "
                           "?1), ?2, ?3, ?4)",
                           -1, &st->ins_event, NULL))
        return r = db_err(st, e, "prepare"), fl_err_prefix(e, "%s", path), r;
    return 0;
}

int fl_store_open(const char *path, struct fl_store **out, struct fl_err *e)
{
    struct fl_store *st;
    int r;

    *out = NULL;
    r = check_path(path, e);
    if (r < 0)
        return r;
    if ((r = writable_dir(path, e)))
        return r;
    if (!(st = calloc(1, sizeof *st)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if ((r = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, st, e)) ||
        (r = prepare_writer(st, path, "a run must be recorded in it", e))) {
        fl_store_close(st);
        return r;
    }
    *out = st;
    return 0;
}

int fl_store_open_readonly(const char *path, struct fl_store **out, struct fl_err *e)
{
    struct fl_store *st;
    long long version;
    int r;

    *out = NULL;
    r = check_path(path, e);
    if (r == STORE_MISSING)
        return fl_err_set(e, FL_ENOTARGET,
                          "no history store at %s: no run has been recorded there (`faultline "
                          "run` creates it; --db or FAULTLINE_DB choose another)",
                          path);
    if (r)
        return r;
    if (!(st = calloc(1, sizeof *st)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if ((r = open_db(path, SQLITE_OPEN_READONLY, st, e)))
        goto fail;
    sqlite3_busy_timeout(st->db, 5000);
    r = read_version(st, path, &version, e);
    if (r && sqlite3_extended_errcode(st->db) == SQLITE_READONLY_ROLLBACK) {
        /* a run was killed mid-write and left a hot journal: rolling it
         * back needs write access (it removes the journal, creates nothing) */
        sqlite3_close(st->db);
        st->db = NULL;
        if ((r = open_db(path, SQLITE_OPEN_READWRITE, st, e))) {
            fl_err_set(e, FL_ESTATE,
                       "history store %s has an unfinished write of a killed run (%s-journal) "
                       "and cannot be opened for writing to roll it back: make it writable once, "
                       "or choose another with --db or FAULTLINE_DB",
                       path, path);
            goto fail;
        }
        sqlite3_busy_timeout(st->db, 5000);
        r = read_version(st, path, &version, e);
    }
    if (r)
        goto fail;
    if (version != fl_store_schema_version()) {
        /* an older store is upgraded in place (no new file); a newer one is refused */
        char why[128];
        snprintf(why, sizeof why, "its schema (version %lld) must be upgraded to version %d",
                 version, fl_store_schema_version());
        sqlite3_close(st->db);
        st->db = NULL;
        if ((r = open_db(path, SQLITE_OPEN_READWRITE, st, e)) ||
            (r = prepare_writer(st, path, why, e)))
            goto fail;
    }
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
    sqlite3_finalize(st->ins_sample);
    sqlite3_finalize(st->ins_event);
    sqlite3_close(st->db);
    free(st);
}

int fl_store_begin(struct fl_store *st)
{
    return sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -FL_ESTATE;
}

int fl_store_commit(struct fl_store *st)
{
    return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -FL_ESTATE;
}

int fl_store_run_begin(struct fl_store *st, const char *title, const char *file,
                       const char *content, const char *hash, int64_t started_wall_ms,
                       uint64_t seed, int64_t *run_id, struct fl_err *e)
{
    sqlite3_stmt *q = NULL;
    int64_t exp_id = 0;

    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO experiments (hash, title, file, content, first_seen_ms) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT(hash) DO UPDATE SET "
                           "title = excluded.title RETURNING id",
                           -1, &q, NULL))
        return db_err(st, e, "recording the experiment");
    sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, file, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, content, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, started_wall_ms);
    if (sqlite3_step(q) == SQLITE_ROW)
        exp_id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (!exp_id)
        return db_err(st, e, "recording the experiment");
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO runs (experiment_id, started_ms, seed, runner_pid, "
                           "runner_start) VALUES (?, ?, ?, ?, ?)",
                           -1, &q, NULL))
        return db_err(st, e, "recording the run");
    sqlite3_bind_int64(q, 1, exp_id);
    sqlite3_bind_int64(q, 2, started_wall_ms);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)seed);
    sqlite3_bind_int64(q, 4, getpid());
    sqlite3_bind_int64(q, 5, (sqlite3_int64)fl_proc_start_time(getpid()));
    if (sqlite3_step(q) != SQLITE_DONE) {
        sqlite3_finalize(q);
        return db_err(st, e, "recording the run");
    }
    sqlite3_finalize(q);
    *run_id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int fl_store_event(struct fl_store *st, int64_t run_id, int64_t t_ms, const char *phase,
                   const char *message)
{
    int r;

    sqlite3_bind_int64(st->ins_event, 1, run_id);
    sqlite3_bind_int64(st->ins_event, 2, t_ms);
    sqlite3_bind_text(st->ins_event, 3, phase, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st->ins_event, 4, message, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st->ins_event);
    sqlite3_reset(st->ins_event);
    return r == SQLITE_DONE ? 0 : -FL_ESTATE;
}

int fl_store_probe_define(struct fl_store *st, int64_t run_id, int probe_id, const char *name,
                          const char *kind, const char *role, const char *tolerance)
{
    sqlite3_stmt *q = NULL;
    int r;

    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO probes (run_id, probe_id, name, kind, role, "
                           "tolerance) VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &q, NULL))
        return -FL_ESTATE;
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_int(q, 2, probe_id);
    sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, tolerance, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : -FL_ESTATE;
}

int fl_store_samples(struct fl_store *st, int64_t run_id, int probe_id, const struct fl_sample *s,
                     size_t n)
{
    sqlite3_stmt *q = st->ins_sample;

    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int(q, 2, probe_id);
        sqlite3_bind_int64(q, 3, s[i].t_ms);
        if (isnan(s[i].value))
            sqlite3_bind_null(q, 4);
        else
            sqlite3_bind_double(q, 4, s[i].value);
        sqlite3_bind_int(q, 5, s[i].ok);
        sqlite3_bind_double(q, 6, s[i].latency_ms);
        if (sqlite3_step(q) != SQLITE_DONE) {
            sqlite3_reset(q);
            return -FL_ESTATE;
        }
        sqlite3_reset(q);
    }
    return 0;
}

int fl_store_probe_result(struct fl_store *st, int64_t run_id, int probe_id,
                          const struct fl_probe_stats *stats, int64_t detect_ms, int64_t recover_ms)
{
    sqlite3_stmt *q = NULL;
    int r;

    if (sqlite3_prepare_v2(st->db,
                           "UPDATE probes SET samples = ?, failures = ?, availability = ?, "
                           "p50_ms = ?, p95_ms = ?, p99_ms = ?, max_ms = ?, "
                           "time_to_detect_ms = ?, time_to_recover_ms = ? "
                           "WHERE run_id = ? AND probe_id = ?",
                           -1, &q, NULL))
        return -FL_ESTATE;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)stats->n);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)stats->failures);
    if (stats->n)
        sqlite3_bind_double(q, 3, stats->availability);
    else
        sqlite3_bind_null(q, 3); /* no samples: no availability, not 100% */
    sqlite3_bind_double(q, 4, stats->p50);
    sqlite3_bind_double(q, 5, stats->p95);
    sqlite3_bind_double(q, 6, stats->p99);
    sqlite3_bind_double(q, 7, stats->pmax);
    if (detect_ms >= 0)
        sqlite3_bind_int64(q, 8, detect_ms);
    else
        sqlite3_bind_null(q, 8);
    if (recover_ms >= 0)
        sqlite3_bind_int64(q, 9, recover_ms);
    else
        sqlite3_bind_null(q, 9);
    sqlite3_bind_int64(q, 10, run_id);
    sqlite3_bind_int(q, 11, probe_id);
    r = sqlite3_step(q);
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : -FL_ESTATE;
}

int fl_store_run_end(struct fl_store *st, int64_t run_id, int64_t duration_ms, const char *verdict,
                     const char *explanation, int exit_code)
{
    sqlite3_stmt *q = NULL;
    int r;

    if (sqlite3_prepare_v2(st->db,
                           "UPDATE runs SET duration_ms = ?, verdict = ?, explanation = ?, "
                           "exit_code = ? WHERE id = ?",
                           -1, &q, NULL))
        return -FL_ESTATE;
    sqlite3_bind_int64(q, 1, duration_ms);
    sqlite3_bind_text(q, 2, verdict, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, explanation, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, exit_code);
    sqlite3_bind_int64(q, 5, run_id);
    r = sqlite3_step(q);
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : -FL_ESTATE;
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
    sqlite3_stmt *q = NULL;
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
    if (sqlite3_prepare_v2(st->db,
                           seq == 0 ? "INSERT OR REPLACE INTO histories (run_id, client, workload, "
                                      "operations, bytes, content, events) VALUES (?, ?, ?, ?, "
                                      "?, ?, ?)"
                                    : "INSERT OR REPLACE INTO workload_histories (run_id, client, "
                                      "workload, operations, bytes, content, events, seq, name) "
                                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &q, NULL)) {
        free(buf);
        return db_err(st, e, "storing the history");
    }
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_text(q, 2, client, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, workload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, ops);
    sqlite3_bind_int64(q, 5, size);
    sqlite3_bind_blob(q, 6, buf, (int)size, free);
    sqlite3_bind_int64(q, 7, events);
    if (seq) {
        sqlite3_bind_int(q, 8, seq);
        sqlite3_bind_text(q, 9, name ? name : "", -1, SQLITE_STATIC);
    }
    r = sqlite3_step(q);
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : db_err(st, e, "storing the history");
}

int fl_store_history_write(struct fl_store *st, int64_t run_id, FILE *out, struct fl_err *e)
{
    return fl_store_history_write_named(st, run_id, NULL, out, e);
}

int fl_store_history_write_named(struct fl_store *st, int64_t run_id, const char *name, FILE *out,
                                 struct fl_err *e)
{
    sqlite3_stmt *q = NULL;
    int r;

    if (sqlite3_prepare_v2(st->db,
                           name ? "SELECT content FROM workload_histories WHERE run_id = ? AND "
                                  "name = ?"
                                : "SELECT content FROM histories WHERE run_id = ?",
                           -1, &q, NULL))
        return db_err(st, e, "reading the history");
    sqlite3_bind_int64(q, 1, run_id);
    if (name)
        sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (name)
            return fl_err_set(e, FL_ENOTARGET,
                              "run %lld has no history of a workload named %s other than its "
                              "first (the first is `faultline show %lld --history`)",
                              (long long)run_id, name, (long long)run_id);
        return fl_err_set(e, FL_ENOTARGET,
                          "run %lld recorded no history (its experiment has no workload:)",
                          (long long)run_id);
    }
    r = (int)fwrite(sqlite3_column_blob(q, 0), 1, (size_t)sqlite3_column_bytes(q, 0), out);
    r = r == sqlite3_column_bytes(q, 0)
            ? 0
            : fl_err_set(e, FL_EFAIL, "writing the history: %s", strerror(errno));
    sqlite3_finalize(q);
    return r;
}

int fl_store_check(struct fl_store *st, int64_t run_id, int seq, const char *model,
                   const char *result, int exit_code, const char *output)
{
    sqlite3_stmt *q = NULL;
    int r;

    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO checks (run_id, seq, model, result, exit_code, output) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &q, NULL))
        return -FL_ESTATE;
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_int(q, 2, seq);
    sqlite3_bind_text(q, 3, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, result, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, exit_code);
    sqlite3_bind_text(q, 6, output, -1, SQLITE_STATIC);
    r = sqlite3_step(q);
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : -FL_ESTATE;
}

/* Column i as JSON: integer, real, text or null. JSON has no infinity
 * (jansson refuses it), so an infinite value is the string "inf" or
 * "-inf" (docs/experiments.md); SQLite stores NaN as NULL. */
static json_t *col_json(sqlite3_stmt *q, int i)
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
    default:
        return json_null();
    }
}

/* Rows of `sql` (bound to run_id when it has a ?) as objects keyed by column name. */
static json_t *rows(struct fl_store *st, const char *sql, int64_t run_id, bool bind)
{
    sqlite3_stmt *q = NULL;
    json_t *arr = json_array();

    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL))
        return arr;
    if (bind)
        sqlite3_bind_int64(q, 1, run_id);
    while (sqlite3_step(q) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; i < sqlite3_column_count(q); i++)
            json_object_set_new(o, sqlite3_column_name(q, i), col_json(q, i));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(q);
    return arr;
}

/* A run still marked "running" whose runner process is gone (killed, host
 * rebooted) never reached a verdict: report it as "interrupted". The
 * guardian has reverted its faults. Drops the runner_* helper fields. */
static void settle(json_t *run)
{
    const char *v = json_string_value(json_object_get(run, "verdict"));
    json_t *pid = json_object_get(run, "runner_pid");
    json_t *start = json_object_get(run, "runner_start");

    if (v && !strcmp(v, "running") &&
        !(json_is_integer(pid) && json_is_integer(start) &&
          fl_proc_alive((pid_t)json_integer_value(pid), (uint64_t)json_integer_value(start)))) {
        json_object_set_new(run, "verdict", json_string("interrupted"));
        json_object_set_new(run, "explanation",
                            json_string("the runner stopped before reaching a verdict (killed?); "
                                        "the guardian reverted its faults"));
    }
    json_object_del(run, "runner_pid");
    json_object_del(run, "runner_start");
}

json_t *fl_store_list_runs(struct fl_store *st, struct fl_err *e)
{
    json_t *all = rows(st,
                       "SELECT r.id AS id, x.title AS experiment, x.hash AS experiment_hash, "
                       "r.started_ms AS started_ms, r.duration_ms AS duration_ms, "
                       "r.verdict AS verdict, r.explanation AS explanation, "
                       "r.exit_code AS exit_code, r.runner_pid AS runner_pid, "
                       "r.runner_start AS runner_start "
                       "FROM runs r JOIN experiments x ON x.id = r.experiment_id ORDER BY r.id",
                       0, false),
           *r;
    size_t i;

    json_array_foreach (all, i, r)
        settle(r);
    return all;
}

json_t *fl_store_show_run(struct fl_store *st, int64_t run_id, int with_samples, struct fl_err *e)
{
    json_t *run = rows(st,
                       "SELECT r.id AS id, x.title AS experiment, x.hash AS experiment_hash, "
                       "x.file AS file, r.started_ms AS started_ms, "
                       "r.duration_ms AS duration_ms, r.seed AS seed, r.verdict AS verdict, "
                       "r.explanation AS explanation, r.exit_code AS exit_code, "
                       "r.runner_pid AS runner_pid, r.runner_start AS runner_start "
                       "FROM runs r JOIN experiments x ON x.id = r.experiment_id WHERE r.id = ?",
                       run_id, true);
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
                             run_id, true));
    probes = rows(st,
                  "SELECT probe_id AS id, name, kind, role, tolerance, samples, failures, "
                  "availability, p50_ms, p95_ms, p99_ms, max_ms, time_to_detect_ms, "
                  "time_to_recover_ms FROM probes WHERE run_id = ? ORDER BY probe_id",
                  run_id, true);
    if (with_samples) {
        json_array_foreach (probes, i, p) {
            sqlite3_stmt *q = NULL;
            json_t *arr = json_array();
            if (!sqlite3_prepare_v2(st->db,
                                    "SELECT t_ms, value, ok, latency_ms FROM samples WHERE "
                                    "run_id = ? AND probe_id = ? ORDER BY t_ms",
                                    -1, &q, NULL)) {
                sqlite3_bind_int64(q, 1, run_id);
                sqlite3_bind_int64(q, 2, json_integer_value(json_object_get(p, "id")));
                while (sqlite3_step(q) == SQLITE_ROW)
                    json_array_append_new(arr, json_pack("[I,o,b,f]",
                                                         (json_int_t)sqlite3_column_int64(q, 0),
                                                         col_json(q, 1), sqlite3_column_int(q, 2),
                                                         sqlite3_column_double(q, 3)));
            }
            sqlite3_finalize(q);
            json_object_set_new(p, "samples_data", arr);
        }
    }
    json_object_set_new(o, "probes", probes);
    {
        json_t *h = rows(st,
                         "SELECT client, workload, operations, events, bytes FROM histories "
                         "WHERE run_id = ?",
                         run_id, true);
        json_object_set(o, "history", json_array_size(h) ? json_array_get(h, 0) : json_null());
        json_decref(h);
        /* schema 5: the second and later workloads of the run */
        json_object_set_new(o, "more_histories",
                            rows(st,
                                 "SELECT name, client, workload, operations, events, bytes FROM "
                                 "workload_histories WHERE run_id = ? ORDER BY seq",
                                 run_id, true));
    }
    json_object_set_new(o, "checks",
                        rows(st,
                             "SELECT model, result, exit_code, output FROM checks "
                             "WHERE run_id = ? ORDER BY seq",
                             run_id, true));
    return o;
}
