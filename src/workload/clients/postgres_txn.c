/* PostgreSQL for the transactional workloads (list-append, rw-register),
 * called by clients/postgres.c for ops of f txn. Tables are
 * <namespace>_list_append and <namespace>_rw_register:
 *
 *   list-append  (k bigint primary key, v bigint[]): a read is SELECT v; an
 *                append is INSERT .. ON CONFLICT DO UPDATE SET v = v || x
 *   rw-register  (k bigint primary key, v bigint): SELECT v; an upsert
 *
 * A transaction runs between BEGIN ISOLATION LEVEL (--isolation) and
 * COMMIT. A serialization failure (40001), a deadlock or any other error
 * the server reports rolls it back: fail. A timeout or a lost connection is
 * info (unknown outcome), as for every client, although before COMMIT the
 * server will roll it back.
 *
 * `--postgres-mode non-transactional` is deliberately broken: every
 * micro-op is its own autocommit statement, so a transaction's read and its
 * later write are separate transactions and other clients' writes land in
 * between (lost updates, G-single). Any error there is info: earlier
 * micro-ops may have committed. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"
#include "workload/clients/pg.h"
#include "workload/txn.h"
#include "workload/workload.h"

int fl_wl_pg_txn_setup(PGconn *conn, const char *table, const struct fl_wl_cfg *c,
                       struct fl_err *e);
void fl_wl_pg_txn_exec(PGconn *conn, const char *table, const struct fl_wl_cfg *c,
                       const struct fl_wl_op *op, struct fl_wl_result *r);

enum { Q_OK = FL_WL_PG_OK, Q_ERR = FL_WL_PG_ERR, Q_BROKEN = FL_WL_PG_BROKEN };

/* One statement with up to two bigint parameters, answered by the deadline
 * (fl_wl_pg_run()). */
static int run(PGconn *conn, int64_t deadline, struct fl_wl_result *r, PGresult **res,
               const char *sql, int n, int64_t a, int64_t b)
{
    const int64_t params[2] = {a, b};
    return fl_wl_pg_run(conn, deadline, r, res, sql, n, params);
}

/* "faultline_list-append" -> "faultline_list_append": a plain SQL name. */
static void table_name(const char *table, char *out, size_t len)
{
    snprintf(out, len, "%s", table);
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
}

static const char *begin_sql(int isolation)
{
    return isolation == FL_WL_REPEATABLE_READ  ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
           : isolation == FL_WL_READ_COMMITTED ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                                               : "BEGIN ISOLATION LEVEL SERIALIZABLE";
}

/* What a read saw, as JSON: "[1,2]" from a bigint[] "{1,2}", a number, or
 * the empty list / null when the key has no row. */
static char *read_json(PGresult *res, bool list)
{
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
        return strdup(list ? "[]" : "null");
    char *s = strdup(PQgetvalue(res, 0, 0));
    if (s && list) {
        for (char *p = s; *p; p++) {
            if (*p == '{')
                *p = '[';
            else if (*p == '}')
                *p = ']';
        }
    }
    return s;
}

/* The micro-ops in order; 0 when all ran, else the run() code of the one
 * that did not. reads[i] gets each read's JSON. */
static int micro_ops(PGconn *conn, const char *table, const struct fl_wl_op *op, bool list,
                     int64_t dl, struct fl_wl_result *r, char **reads)
{
    char rsql[256], wsql[256];
    snprintf(rsql, sizeof rsql, "SELECT v FROM %s WHERE k = $1", table);
    if (list)
        snprintf(wsql, sizeof wsql,
                 "INSERT INTO %s AS t (k, v) VALUES ($1, ARRAY[$2::bigint]) ON CONFLICT (k) DO "
                 "UPDATE SET v = t.v || $2::bigint",
                 table);
    else
        snprintf(wsql, sizeof wsql,
                 "INSERT INTO %s AS t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = "
                 "EXCLUDED.v",
                 table);
    for (int i = 0; i < op->nmops; i++) {
        const struct fl_wl_mop *m = &op->mops[i];
        PGresult *res;
        bool rd = m->f == FL_WL_READ;
        int q = run(conn, dl, r, &res, rd ? rsql : wsql, rd ? 1 : 2, m->key, m->v);
        if (q != Q_OK)
            return q;
        if (rd && !(reads[i] = read_json(res, list))) {
            PQclear(res);
            snprintf(r->error, sizeof r->error, "out of memory");
            return Q_ERR;
        }
        PQclear(res);
    }
    return Q_OK;
}

static void rollback(PGconn *conn, int64_t dl, struct fl_wl_result *r)
{
    struct fl_wl_result tmp = {0};
    PGresult *res;
    if (run(conn, dl, &tmp, &res, "ROLLBACK", 0, 0, 0) == Q_OK)
        PQclear(res);
    else
        r->broken = true;
}

void fl_wl_pg_txn_exec(PGconn *conn, const char *name, const struct fl_wl_cfg *c,
                       const struct fl_wl_op *op, struct fl_wl_result *r)
{
    char table[128];
    int64_t dl = fl_now_ms() + c->timeout_ms;
    bool list = !strcmp(c->workload->name, "list-append");
    bool tx = !c->non_transactional;
    char *reads[FL_WL_TXN_MAX] = {0};
    PGresult *res;
    int q = Q_OK;

    table_name(name, table, sizeof table);
    r->type = FL_WL_OK;
    if (tx && (q = run(conn, dl, r, &res, begin_sql(c->isolation), 0, 0, 0)) == Q_OK)
        PQclear(res);
    if (q == Q_OK)
        q = micro_ops(conn, table, op, list, dl, r, reads);
    if (q != Q_OK) {
        /* a refused statement rolls the transaction back (fail); a timeout
         * or a lost connection is recorded as unknown, like every client's */
        r->type = tx && q == Q_ERR ? FL_WL_FAIL : FL_WL_INFO;
        if (tx && q == Q_ERR)
            rollback(conn, dl, r);
        goto out;
    }
    if (tx) {
        q = run(conn, dl, r, &res, "COMMIT", 0, 0, 0);
        if (q == Q_BROKEN) {
            r->type = FL_WL_INFO;
            goto out;
        }
        if (q == Q_ERR || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            r->type = FL_WL_FAIL;
            if (q == Q_OK)
                snprintf(r->error, sizeof r->error, "transaction rolled back");
        }
        if (q == Q_OK)
            PQclear(res);
        if (r->type != FL_WL_OK)
            goto out;
    }
    r->txn = fl_wl_txn_render(op, reads);
    if (!r->txn) {
        r->type = FL_WL_INFO;
        snprintf(r->error, sizeof r->error, "out of memory recording the result");
    }
out:
    for (int i = 0; i < FL_WL_TXN_MAX; i++)
        free(reads[i]);
}

int fl_wl_pg_txn_setup(PGconn *conn, const char *name, const struct fl_wl_cfg *c, struct fl_err *e)
{
    char table[128];
    table_name(name, table, sizeof table);
    char sql[2][256];
    bool list = !strcmp(c->workload->name, "list-append");

    snprintf(sql[0], sizeof sql[0], "DROP TABLE IF EXISTS %s", table);
    snprintf(sql[1], sizeof sql[1], "CREATE TABLE %s (k bigint PRIMARY KEY, v bigint%s%s)", table,
             list ? "[]" : "", " NOT NULL");
    for (int i = 0; i < 2; i++) {
        PGresult *res = PQexec(conn, sql[i]);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
            msg[strcspn(msg, "\n")] = '\0';
            PQclear(res);
            return fl_err_set(e, FL_EFAIL,
                              "postgres setup failed: %s (statement: %s); the user needs CREATE "
                              "on the database",
                              msg, sql[i]);
        }
        PQclear(res);
    }
    return 0;
}
