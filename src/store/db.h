/* One database connection behind the history store (store.c) and the
 * server's tables (server_store.c): SQLite (a file) or PostgreSQL (a
 * postgresql:// URL, through libpq), with the same schema, the same SQL
 * (SQLite's `?` and `?N` parameters; PostgreSQL receives `$N`) and the same
 * results (rows as JSON objects keyed by column name). Parameters are bound
 * from a type string: 's' text (NULL binds NULL), 'I' int64, 'i' int, 'd'
 * double (NaN binds NULL), 'b' blob (a pointer, then a size_t length).
 * Not thread-safe: the caller serialises use of one connection. */
#ifndef FL_STORE_DB_H
#define FL_STORE_DB_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

struct fl_db;
struct sqlite3;

/* Whether `where` names a PostgreSQL database (postgresql:// or postgres://). */
bool fl_db_is_url(const char *where);
/* `where` without a password, for messages and logs. */
void fl_db_redact(const char *where, char *out, size_t len);

/* Connect to PostgreSQL (connect timeout and TCP keepalives set, the URL's
 * own settings win). `label` names the store in errors. */
int fl_db_pg_open(const char *url, const char *label, struct fl_db **out, struct fl_err *e);
/* Take over an open SQLite handle (closed by fl_db_close). */
int fl_db_sqlite_wrap(struct sqlite3 *h, const char *label, struct fl_db **out, struct fl_err *e);
void fl_db_close(struct fl_db *db);
bool fl_db_is_pg(const struct fl_db *db);
struct sqlite3 *fl_db_sqlite(struct fl_db *db);

/* Bring the schema to version n: `table` holds the number of migrations
 * applied; sqlite[i]/pg[i] bring it from i to i+1. One transaction (in
 * PostgreSQL under an advisory lock, so two processes do not race). A
 * database newer than n is refused. */
int fl_db_migrate(struct fl_db *db, const char *table, const char *const *sqlite,
                  const char *const *pg, size_t n, struct fl_err *e);
/* The version in `table`, 0 when the table does not exist; -FL_ESTATE on error. */
int fl_db_version(struct fl_db *db, const char *table, long long *version, struct fl_err *e);

/* Run one statement; the number of changed rows or -FL_ESTATE (e filled,
 * "LABEL: what: the database's message"). last_id (may be NULL) receives
 * the id of an inserted row (the table must have an id column). */
int fl_db_exec(struct fl_db *db, int64_t *last_id, struct fl_err *e, const char *sql,
               const char *types, ...);
int fl_db_execv(struct fl_db *db, int64_t *last_id, struct fl_err *e, const char *sql,
                const char *types, va_list ap);
/* The rows of a query, or NULL with e filled. */
json_t *fl_db_rows(struct fl_db *db, struct fl_err *e, const char *sql, const char *types, ...);
json_t *fl_db_rowsv(struct fl_db *db, struct fl_err *e, const char *sql, const char *types,
                    va_list ap);
/* Write the first column of the first row (a blob) of a query bound to one
 * int64 to out; 1 when there is no row. */
int fl_db_blob_write(struct fl_db *db, const char *sql, int64_t id, FILE *out, struct fl_err *e);

/* The parameters of a statement as a JSON array (NULL for a blob), and a
 * statement run with them: for writes kept while the database is away. */
json_t *fl_db_params(const char *types, va_list ap);
int fl_db_exec_json(struct fl_db *db, struct fl_err *e, const char *sql, const char *types,
                    json_t *params);
/* Whether the connection is up (always, for SQLite); try to bring it back
 * (blocks up to the connect timeout). A lost PostgreSQL connection is
 * retried by any statement, at most once a second. */
bool fl_db_connected(struct fl_db *db);
bool fl_db_reconnect(struct fl_db *db);

int fl_db_begin(struct fl_db *db);
/* A transaction that will write: SQLite takes the write lock at once (its
 * busy timeout applies, where a deferred one could fail on a deadlock). */
int fl_db_begin_write(struct fl_db *db);
int fl_db_commit(struct fl_db *db);

#endif
