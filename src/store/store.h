/* The history store: every run, its timeline, every probe sample and the
 * verdict, in SQLite (rollback-journal mode: readers open the file
 * read-only and create nothing, which WAL mode cannot promise) or, when the
 * path is a postgresql:// URL, in PostgreSQL with the same schema (store/db.h).
 * The schema is versioned:
 * schema_version holds the number of migrations applied, and opening a store applies the missing
 * ones in order inside one transaction. Tables are documented in docs/experiments.md ("History
 * store"). */
#ifndef FL_STORE_STORE_H
#define FL_STORE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"
#include "util/sample.h"

#define FL_STORE_DEFAULT_PATH "/var/lib/faultline/history.db"

struct fl_store;

/* The schema version this build creates (the number of migrations). */
int fl_store_schema_version(void);
/* Open for writing (creating the file and its directory if needed) and
 * migrate. Refuses a path that is not a regular file (FL_ESTATE) and a
 * read-only file or directory, with the fix in the message. */
int fl_store_open(const char *path, struct fl_store **out, struct fl_err *e);
/* Open for reading (`runs`, `show`): creates nothing. A missing file is
 * FL_ENOTARGET; a store of an older schema is upgraded in place. */
int fl_store_open_readonly(const char *path, struct fl_store **out, struct fl_err *e);
void fl_store_close(struct fl_store *st);
/* --db, else $FAULTLINE_DB, else the default path. A postgresql:// (or
 * postgres://) URL opens a PostgreSQL store; a reader creates nothing there. */
const char *fl_store_path(const char *flag_value);

/* Group writes; the engine flushes samples once per tick inside one. */
int fl_store_begin(struct fl_store *st);
int fl_store_commit(struct fl_store *st);

/* A run starts: records the experiment (deduplicated by content hash). */
int fl_store_run_begin(struct fl_store *st, const char *title, const char *file,
                       const char *content, const char *hash, int64_t started_wall_ms,
                       uint64_t seed, int64_t *run_id, struct fl_err *e);
int fl_store_event(struct fl_store *st, int64_t run_id, int64_t t_ms, const char *phase,
                   const char *message);
int fl_store_probe_define(struct fl_store *st, int64_t run_id, int probe_id, const char *name,
                          const char *kind, const char *role, const char *tolerance);
int fl_store_samples(struct fl_store *st, int64_t run_id, int probe_id, const struct fl_sample *s,
                     size_t n);
/* Per-probe results; detect_ms/recover_ms < 0 mean "not applicable/none". */
int fl_store_probe_result(struct fl_store *st, int64_t run_id, int probe_id,
                          const struct fl_probe_stats *stats, int64_t detect_ms,
                          int64_t recover_ms);
/* How long fl_store_run_end waits for an unreachable PostgreSQL store
 * ($FAULTLINE_DB_WAIT seconds overrides); -FL_ESTATE when the run's
 * records could not all be written by then. */
#define FL_STORE_DB_WAIT_S 60
int fl_store_run_end(struct fl_store *st, int64_t run_id, int64_t duration_ms, const char *verdict,
                     const char *explanation, int exit_code);

/* For `faultline runs` / `show`: the stable JSON documented in
 * docs/experiments.md. show returns NULL with FL_ENOTARGET for an unknown id. */
/* The history a run's workload recorded (the file at path, stored whole)
 * and the result of each check of it ("valid", "invalid", "unknown",
 * "error"). fl_store_history_write copies a stored history to out. */
#define FL_STORE_MAX_HISTORY (512 << 20)
int fl_store_history_put(struct fl_store *st, int64_t run_id, const char *client,
                         const char *workload, const char *path, struct fl_err *e);
int fl_store_history_write(struct fl_store *st, int64_t run_id, FILE *out, struct fl_err *e);
/* Several workloads (schema 5): the one at position seq (0: the first,
 * kept in histories; others in workload_histories under their name). */
int fl_store_history_put_nth(struct fl_store *st, int64_t run_id, int seq, const char *name,
                             const char *client, const char *workload, const char *path,
                             struct fl_err *e);
/* name NULL: the first workload's history; else a later one's by name. */
int fl_store_history_write_named(struct fl_store *st, int64_t run_id, const char *name, FILE *out,
                                 struct fl_err *e);
int fl_store_check(struct fl_store *st, int64_t run_id, int seq, const char *model,
                   const char *result, int exit_code, const char *output);

/* Target logs (engine/logs.h): a source's summary (error NULL when it was
 * captured) and its lines, seq from 0; fl_store_run_logs returns
 * {"sources": [...], "lines": [{source, seq, t_ms, line}]} in time order,
 * of one source when `source` is not NULL. */
int fl_store_log_source(struct fl_store *st, int64_t run_id, const char *source, const char *kind,
                        const char *target, int64_t lines, int64_t bytes, int64_t dropped,
                        const char *error);
int fl_store_log_line(struct fl_store *st, int64_t run_id, const char *source, int64_t seq,
                      int64_t t_ms, const char *line);
json_t *fl_store_run_logs(struct fl_store *st, int64_t run_id, const char *source,
                          struct fl_err *e);

/* Remove a run and everything recorded with it (a server schedule's `keep`). */
int fl_store_delete_run(struct fl_store *st, int64_t run_id, struct fl_err *e);

json_t *fl_store_list_runs(struct fl_store *st, struct fl_err *e);
json_t *fl_store_show_run(struct fl_store *st, int64_t run_id, int with_samples, struct fl_err *e);

#endif
