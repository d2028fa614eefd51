/* The control plane's tables (stored experiments, server runs, schedules,
 * webhooks and their deliveries, the audit log), kept in the same SQLite
 * file (or PostgreSQL database, store/db.h) as the history store but on
 * their own connection and with their own
 * migrations (table server_schema_version), so the history store's schema
 * stays the engine's. Queries take a small type string for their
 * parameters: 's' text (NULL binds NULL), 'I' int64, 'i' int, 'd' double;
 * parameters beyond those the statement names are ignored.
 * Documented in docs/server.md ("Tables"). */
#ifndef FL_STORE_SERVER_STORE_H
#define FL_STORE_SERVER_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

struct fl_sstore;

int fl_sstore_schema_version(void);
/* Open the file (the history store must be openable there too) and migrate. */
int fl_sstore_open(const char *path, struct fl_sstore **out, struct fl_err *e);
void fl_sstore_close(struct fl_sstore *st);
/* One server per store: in PostgreSQL a session advisory lock on the
 * connection (-FL_EREFUSED when another server holds it); nothing to do in
 * SQLite, whose file the server's work directory lock covers. */
int fl_sstore_claim(struct fl_sstore *st, struct fl_err *e);

/* Run one statement; returns the number of changed rows, or -FL_ESTATE
 * (with e filled). `last_id` (may be NULL) receives the last inserted row id. */
int fl_sstore_exec(struct fl_sstore *st, int64_t *last_id, struct fl_err *e, const char *sql,
                   const char *types, ...);
/* The rows of a query as an array of objects keyed by column name; NULL
 * (with e filled) on a database error. */
json_t *fl_sstore_rows(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                       ...);
/* A number that changes with every fl_sstore_exec (a write): a reader
 * that cached an answer knows it is still the answer while it is the same. */
uint64_t fl_sstore_generation(const struct fl_sstore *st);
/* The first row, or NULL when there is none (e->code stays 0) or on error. */
json_t *fl_sstore_row(struct fl_sstore *st, struct fl_err *e, const char *sql, const char *types,
                      ...);

/* The history store's run that the process (pid, start time) recorded, 0 if none yet. */
int64_t fl_sstore_history_run(struct fl_sstore *st, int64_t pid, int64_t start);

/* Call fn for each sample of a history-store run's probe with from <= t_ms
 * <= to, in time order, without building rows (a run may hold millions);
 * fn returns non-zero to stop. 0, or -FL_ESTATE with e. */
typedef int (*fl_sstore_sample_fn)(void *ctx, int64_t t_ms, int ok, double latency_ms);
int fl_sstore_samples_each(struct fl_sstore *st, int64_t run, int64_t probe, int64_t from,
                           int64_t to, fl_sstore_sample_fn fn, void *ctx, struct fl_err *e);

#endif
