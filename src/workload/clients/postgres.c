/* PostgreSQL client (libpq). Tables are "<namespace>_<workload>":
 *
 *   register  (k int primary key, v bigint): SELECT; INSERT .. ON CONFLICT
 *             DO UPDATE; cas = UPDATE .. WHERE k = $1 AND v = $old
 *   bank      (id int primary key, balance bigint): a transfer is one
 *             transaction at --isolation (SELECT the source balance, refuse
 *             to overdraw, two UPDATEs, COMMIT); a read is one SELECT of all
 *             balances in a transaction at the same level
 *   set       (v bigint primary key): INSERT; SELECT all
 *   counter   (k int primary key, v bigint): UPDATE v = v + 1; SELECT
 *   queue     (id bigserial primary key, v bigint): INSERT; a dequeue
 *             deletes the oldest row it can lock (FOR UPDATE SKIP LOCKED)
 *             and returns it; the drain deletes every row, returning them
 *
 * `--postgres-mode non-transactional` is deliberately broken: transfers,
 * cas and increments read, compute in the client and write back absolute
 * values in separate autocommit statements, so concurrent clients lose
 * updates; a dequeue reads the oldest row, then deletes it by id, so two
 * clients can both take it. It exists to show that the checkers catch it.
 *
 * --target may name several hosts (a primary and its standbys); libpq tries
 * them in order and, with target_session_attrs=read-write (added when the
 * target does not say), keeps the one that takes writes, so a reconnect
 * after a failover finds the new primary.
 *
 * Every statement runs asynchronously with one deadline per operation
 * (--timeout), so a paused or partitioned server gives `info` on time
 * instead of hanging; the connection is then dropped and reopened. A
 * serialization failure (40001) or deadlock (40P01), or any other error the
 * server reports, rolls the transaction back: `fail`. */
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"
#include "workload/clients/pg.h"
#include "workload/workload.h"

struct pg {
    PGconn *conn;
    char table[128];
};

/* The target for messages, without a password ("password=..." in a
 * conninfo, "user:secret@" in a URL). */
static void redacted(const char *target, char *buf, size_t len)
{
    snprintf(buf, len, "%s", target);
    char *p = strstr(buf, "password=");
    if (p) {
        char *end = p + 9;
        while (*end && *end != ' ')
            end++;
        memmove(p + 12, end, strlen(end) + 1);
        memset(p + 9, '*', 3);
    }
    char *scheme = strstr(buf, "://"), *at = scheme ? strchr(scheme + 3, '@') : NULL;
    char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at) {
        memmove(colon + 4, at, strlen(at) + 1);
        memset(colon + 1, '*', 3);
    }
}

static int pconnect(const struct fl_wl_cfg *c, void **out, struct fl_err *e)
{
    char shown[512];
    redacted(c->target, shown, sizeof shown);
    int nhosts;
    char *ci = fl_wl_pg_conninfo(c->target, &nhosts, e);
    if (!ci)
        return -e->code;
    int64_t deadline = fl_now_ms() + c->timeout_ms;
    PGconn *conn = PQconnectStart(ci);
    free(ci);
    if (!conn)
        return fl_err_set(e, FL_EFAIL, "postgres: out of memory");
    if (PQstatus(conn) == CONNECTION_BAD)
        goto bad;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED)
            goto bad;
        int r =
            fl_wl_pg_wait(PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (r == 0) {
            PQfinish(conn);
            return fl_err_set(e, FL_EFAIL,
                              "cannot connect to postgres at %s: no answer within %lldms "
                              "(--timeout%s); is the server running and reachable?",
                              shown, (long long)c->timeout_ms,
                              nhosts > 1 ? ", for all hosts, tried in order" : "");
        }
        if (r < 0)
            goto bad;
        st = PQconnectPoll(conn);
    }
    struct pg *p = calloc(1, sizeof *p);
    if (!p) {
        PQfinish(conn);
        return fl_err_set(e, FL_EFAIL, "postgres: out of memory");
    }
    p->conn = conn;
    snprintf(p->table, sizeof p->table, "%s_%s", c->ns, c->workload->name);
    *out = p;
    return 0;
bad:;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    PQfinish(conn);
    return fl_err_set(e, FL_EFAIL,
                      "cannot connect to postgres at %s: %s; check --target (host, port, "
                      "dbname, user) and that the server accepts connections",
                      shown, msg);
}

static void pclose_(void *conn)
{
    struct pg *p = conn;
    if (!p)
        return;
    PQfinish(p->conn);
    free(p);
}

enum { Q_OK = FL_WL_PG_OK, Q_ERR = FL_WL_PG_ERR, Q_BROKEN = FL_WL_PG_BROKEN };

/* Run one statement with up to four bigint parameters by the deadline; see
 * fl_wl_pg_run() (Q_OK with *res, Q_ERR refused, Q_BROKEN unknown). */
static int query(struct pg *p, int64_t deadline, struct fl_wl_result *r, PGresult **res,
                 const char *sql, int n, ...)
{
    int64_t params[4];
    va_list ap;

    va_start(ap, n);
    for (int i = 0; i < n && i < 4; i++)
        params[i] = va_arg(ap, int64_t);
    va_end(ap);
    return fl_wl_pg_run(p->conn, deadline, r, res, sql, n, params);
}

static bool get_int(PGresult *res, int row, int col, int64_t *out)
{
    if (PQntuples(res) <= row || PQgetisnull(res, row, col))
        return false;
    *out = strtoll(PQgetvalue(res, row, col), NULL, 10);
    return true;
}

static const char *begin_sql(const struct fl_wl_cfg *c)
{
    switch (c->isolation) {
    case FL_WL_REPEATABLE_READ:
        return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case FL_WL_READ_COMMITTED:
        return "BEGIN ISOLATION LEVEL READ COMMITTED";
    default:
        return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    }
}

/* The outcome of a statement that failed inside an operation: the
 * transaction is rolled back (so it did not happen: fail) unless the
 * connection is gone (unknown: info). */
static void failed(struct pg *p, int q, int64_t deadline, struct fl_wl_result *r, bool in_tx)
{
    if (q == Q_BROKEN) {
        r->type = FL_WL_INFO;
        return;
    }
    r->type = FL_WL_FAIL;
    if (in_tx) {
        struct fl_wl_result tmp = {0};
        PGresult *res;
        if (query(p, deadline, &tmp, &res, "ROLLBACK", 0) == Q_OK)
            PQclear(res);
        else
            r->broken = true; /* the op did not commit; the connection is just unusable */
    }
}

/* COMMIT, then: ok, fail (rolled back) or info (no answer). */
static void commit(struct pg *p, int64_t deadline, struct fl_wl_result *r)
{
    PGresult *res;
    int q = query(p, deadline, r, &res, "COMMIT", 0);
    if (q != Q_OK) {
        failed(p, q, deadline, r, false);
        return;
    }
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "transaction rolled back");
    }
    PQclear(res);
}

static void bank_transfer(struct pg *p, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                          int64_t dl, struct fl_wl_result *r)
{
    char sql[512];
    PGresult *res;
    int q;
    int64_t from_bal, to_bal;
    bool tx = !c->non_transactional;

    if (tx) {
        if ((q = query(p, dl, r, &res, begin_sql(c), 0)) != Q_OK)
            return failed(p, q, dl, r, false);
        PQclear(res);
    }
    snprintf(sql, sizeof sql, "SELECT balance FROM %s WHERE id = $1", p->table);
    if ((q = query(p, dl, r, &res, sql, 1, op->a)) != Q_OK)
        return failed(p, q, dl, r, tx);
    bool have = get_int(res, 0, 0, &from_bal);
    PQclear(res);
    if (!have || from_bal < op->c) {
        snprintf(r->error, sizeof r->error, have ? "insufficient funds" : "no such account");
        return failed(p, Q_ERR, dl, r, tx);
    }
    if (tx) {
        /* update the lower account id first: two opposite transfers then
         * never wait on each other in a cycle (a deadlock costs a second) */
        snprintf(sql, sizeof sql, "UPDATE %s SET balance = balance + $2 WHERE id = $1", p->table);
        int64_t first = op->a < op->b ? op->a : op->b, second = op->a < op->b ? op->b : op->a;
        int64_t d1 = first == op->a ? -op->c : op->c;
        if ((q = query(p, dl, r, &res, sql, 2, first, d1)) != Q_OK)
            return failed(p, q, dl, r, tx);
        PQclear(res);
        if ((q = query(p, dl, r, &res, sql, 2, second, -d1)) != Q_OK)
            return failed(p, q, dl, r, tx);
        PQclear(res);
        return commit(p, dl, r);
    }
    /* non-transactional: read the destination too, then write absolute values */
    snprintf(sql, sizeof sql, "SELECT balance FROM %s WHERE id = $1", p->table);
    if ((q = query(p, dl, r, &res, sql, 1, op->b)) != Q_OK)
        return failed(p, q, dl, r, false);
    have = get_int(res, 0, 0, &to_bal);
    PQclear(res);
    if (!have) {
        snprintf(r->error, sizeof r->error, "no such account");
        return failed(p, Q_ERR, dl, r, false);
    }
    snprintf(sql, sizeof sql, "UPDATE %s SET balance = $2 WHERE id = $1", p->table);
    if ((q = query(p, dl, r, &res, sql, 2, op->a, from_bal - op->c)) != Q_OK)
        return failed(p, q, dl, r, false);
    PQclear(res);
    /* half done: from here on a failure leaves money missing, so unknown */
    if (query(p, dl, r, &res, sql, 2, op->b, to_bal + op->c) != Q_OK) {
        r->type = FL_WL_INFO;
        return;
    }
    PQclear(res);
}

/* Read a list of integers with one SELECT (in a transaction unless
 * non-transactional). */
static void read_list(struct pg *p, const struct fl_wl_cfg *c, const char *sql, int64_t dl,
                      struct fl_wl_result *r)
{
    PGresult *res;
    int q;
    bool tx = !c->non_transactional;

    if (tx) {
        if ((q = query(p, dl, r, &res, begin_sql(c), 0)) != Q_OK)
            return failed(p, q, dl, r, false);
        PQclear(res);
    }
    if ((q = query(p, dl, r, &res, sql, 0)) != Q_OK)
        return failed(p, q, dl, r, tx);
    int n = PQntuples(res);
    r->vals = calloc((size_t)n + 1, sizeof *r->vals);
    if (!r->vals) {
        PQclear(res);
        snprintf(r->error, sizeof r->error, "out of memory");
        return failed(p, Q_ERR, dl, r, tx);
    }
    for (int i = 0; i < n; i++)
        get_int(res, i, 0, &r->vals[i]);
    r->nvals = (size_t)n;
    r->is_list = true;
    PQclear(res);
    if (tx)
        commit(p, dl, r);
}

/* queue: INSERT; dequeue = DELETE of the oldest row (FOR UPDATE SKIP
 * LOCKED); drain = DELETE ... RETURNING every row. */
static void exec_queue(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                       struct fl_wl_result *r)
{
    struct pg *p = conn;
    int64_t dl = fl_now_ms() + c->timeout_ms;
    char sql[512];
    PGresult *res;
    int q;

    if (op->f == FL_WL_DRAIN) {
        snprintf(sql, sizeof sql, "DELETE FROM %s RETURNING v", p->table);
        return read_list(p, c, sql, dl, r);
    }
    if (op->f == FL_WL_ENQUEUE) {
        snprintf(sql, sizeof sql, "INSERT INTO %s (v) VALUES ($1)", p->table);
        if ((q = query(p, dl, r, &res, sql, 1, op->a)) != Q_OK)
            return failed(p, q, dl, r, false);
        PQclear(res);
        return;
    }
    if (c->non_transactional) {
        /* look, then take: two clients can take the same row */
        int64_t id = 0;
        snprintf(sql, sizeof sql, "SELECT id, v FROM %s ORDER BY id LIMIT 1", p->table);
        if ((q = query(p, dl, r, &res, sql, 0)) != Q_OK)
            return failed(p, q, dl, r, false);
        r->nil = !get_int(res, 0, 0, &id) || !get_int(res, 0, 1, &r->value);
        PQclear(res);
        if (r->nil)
            return;
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = $1", p->table);
        if ((q = query(p, dl, r, &res, sql, 1, id)) != Q_OK)
            return failed(p, q, dl, r, false);
        PQclear(res);
        return;
    }
    snprintf(sql, sizeof sql,
             "DELETE FROM %s WHERE id = (SELECT id FROM %s ORDER BY id FOR UPDATE SKIP LOCKED "
             "LIMIT 1) RETURNING v",
             p->table, p->table);
    if ((q = query(p, dl, r, &res, sql, 0)) != Q_OK)
        return failed(p, q, dl, r, false);
    r->nil = !get_int(res, 0, 0, &r->value);
    PQclear(res);
}

/* bank: transfers in a transaction at --isolation; read = every balance. */
static void exec_bank(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                      struct fl_wl_result *r)
{
    struct pg *p = conn;
    int64_t dl = fl_now_ms() + c->timeout_ms;
    char sql[512];

    if (op->f == FL_WL_TRANSFER)
        return bank_transfer(p, c, op, dl, r);
    snprintf(sql, sizeof sql, "SELECT balance FROM %s ORDER BY id", p->table);
    read_list(p, c, sql, dl, r);
}

/* set: one row per element. */
static void exec_set(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    struct pg *p = conn;
    int64_t dl = fl_now_ms() + c->timeout_ms;
    char sql[512];
    PGresult *res;
    int q;

    if (op->f == FL_WL_READ) {
        snprintf(sql, sizeof sql, "SELECT v FROM %s ORDER BY v", p->table);
        return read_list(p, c, sql, dl, r);
    }
    snprintf(sql, sizeof sql, "INSERT INTO %s (v) VALUES ($1)", p->table);
    if ((q = query(p, dl, r, &res, sql, 1, op->a)) != Q_OK)
        return failed(p, q, dl, r, false);
    PQclear(res);
}

/* cas or add without a transaction: read, compare/compute in the client,
 * write back; racy on purpose (--postgres-mode non-transactional). */
static void row_update_racy(struct pg *p, const struct fl_wl_op *op, int64_t key, int64_t dl,
                            struct fl_wl_result *r)
{
    char sql[512];
    PGresult *res;
    int q;
    int64_t cur, next;

    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE k = $1", p->table);
    if ((q = query(p, dl, r, &res, sql, 1, key)) != Q_OK)
        return failed(p, q, dl, r, false);
    bool have = get_int(res, 0, 0, &cur);
    PQclear(res);
    if (op->f == FL_WL_CAS) {
        if (!have || cur != op->a) {
            r->type = FL_WL_FAIL;
            snprintf(r->error, sizeof r->error, "value differs");
            return;
        }
        next = op->b;
    } else {
        next = (have ? cur : 0) + op->a;
    }
    snprintf(sql, sizeof sql, "UPDATE %s SET v = $2 WHERE k = $1", p->table);
    if ((q = query(p, dl, r, &res, sql, 2, key, next)) != Q_OK)
        return failed(p, q, dl, r, false);
    PQclear(res);
}

/* cas or add as one UPDATE (atomic). */
static void row_update(struct pg *p, const struct fl_wl_op *op, int64_t key, int64_t dl,
                       struct fl_wl_result *r)
{
    char sql[512];
    PGresult *res;
    int q;

    if (op->f == FL_WL_CAS) {
        snprintf(sql, sizeof sql, "UPDATE %s SET v = $3 WHERE k = $1 AND v = $2", p->table);
        q = query(p, dl, r, &res, sql, 3, key, op->a, op->b);
    } else {
        snprintf(sql, sizeof sql, "UPDATE %s SET v = v + $2 WHERE k = $1", p->table);
        q = query(p, dl, r, &res, sql, 2, key, op->a);
    }
    if (q != Q_OK)
        return failed(p, q, dl, r, false);
    if (strcmp(PQcmdTuples(res), "1") != 0) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, op->f == FL_WL_CAS ? "value differs" : "no row");
    }
    PQclear(res);
}

/* register and counter: one row per key (the counter is key 0); read,
 * write (upsert), cas, add. */
static void exec_row(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    struct pg *p = conn;
    int64_t dl = fl_now_ms() + c->timeout_ms;
    int64_t key = op->key < 0 ? 0 : op->key;
    char sql[512];
    PGresult *res;
    int q;

    if (op->f == FL_WL_READ) {
        snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE k = $1", p->table);
        if ((q = query(p, dl, r, &res, sql, 1, key)) != Q_OK)
            return failed(p, q, dl, r, false);
        r->nil = !get_int(res, 0, 0, &r->value);
        PQclear(res);
        return;
    }
    if (op->f == FL_WL_WRITE) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = "
                 "EXCLUDED.v",
                 p->table);
        if ((q = query(p, dl, r, &res, sql, 2, key, op->a)) != Q_OK)
            return failed(p, q, dl, r, false);
        PQclear(res);
        return;
    }
    if (c->non_transactional)
        return row_update_racy(p, op, key, dl, r);
    row_update(p, op, key, dl, r);
}

static int exec_setup(struct pg *p, const char *sql, struct fl_err *e)
{
    PGresult *res = PQexec(p->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(p->conn));
        msg[strcspn(msg, "\n")] = '\0';
        PQclear(res);
        return fl_err_set(e, FL_EFAIL,
                          "postgres setup failed: %s (statement: %s); the user needs CREATE "
                          "on the database",
                          msg, sql);
    }
    PQclear(res);
    return 0;
}

/* Drop the workload's table and create it again with these columns. */
static int reset_table(struct pg *p, const char *columns, struct fl_err *e)
{
    char sql[512];

    exec_setup(p, "SET client_min_messages = warning", e);
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", p->table);
    if (exec_setup(p, sql, e) < 0)
        return -FL_EFAIL;
    snprintf(sql, sizeof sql, "CREATE TABLE %s (%s)", p->table, columns);
    return exec_setup(p, sql, e);
}

static int setup_bank(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    struct pg *p = conn;
    int64_t each = c->total / c->accounts, rest = c->total % c->accounts;
    char sql[512];

    if (reset_table(p, "id int PRIMARY KEY, balance bigint NOT NULL", e) < 0)
        return -FL_EFAIL;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s SELECT i, %lld + CASE WHEN i = 0 THEN %lld ELSE 0 END FROM "
             "generate_series(0, %d) AS i",
             p->table, (long long)each, (long long)rest, c->accounts - 1);
    return exec_setup(p, sql, e);
}

static int setup_set(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    return reset_table(conn, "v bigint PRIMARY KEY", e);
}

static int setup_queue(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    return reset_table(conn, "id bigserial PRIMARY KEY, v bigint NOT NULL", e);
}

static int setup_register(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    return reset_table(conn, "k int PRIMARY KEY, v bigint", e);
}

static int setup_counter(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    struct pg *p = conn;
    char sql[512];

    if (setup_register(conn, c, e) < 0)
        return -FL_EFAIL;
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (0, 0)", p->table);
    return exec_setup(p, sql, e);
}

/* list-append, rw-register: clients/postgres_txn.c */
int fl_wl_pg_txn_setup(PGconn *conn, const char *table, const struct fl_wl_cfg *c,
                       struct fl_err *e);
void fl_wl_pg_txn_exec(PGconn *conn, const char *table, const struct fl_wl_cfg *c,
                       const struct fl_wl_op *op, struct fl_wl_result *r);

static int setup_txn(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    struct pg *p = conn;
    exec_setup(p, "SET client_min_messages = warning", e);
    return fl_wl_pg_txn_setup(p->conn, p->table, c, e);
}

static void exec_txn(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    struct pg *p = conn;
    fl_wl_pg_txn_exec(p->conn, p->table, c, op, r);
}

static const struct fl_wl_client_impl impls[] = {
    {.workload = "register", .setup = setup_register, .exec = exec_row},
    {.workload = "bank", .setup = setup_bank, .exec = exec_bank},
    {.workload = "set", .setup = setup_set, .exec = exec_set},
    {.workload = "counter", .setup = setup_counter, .exec = exec_row},
    {.workload = "queue", .setup = setup_queue, .exec = exec_queue},
    {.workload = "list-append", .setup = setup_txn, .exec = exec_txn},
    {.workload = "rw-register", .setup = setup_txn, .exec = exec_txn},
    {0},
};

const struct fl_wl_client_ops fl_wl_client_postgres = {
    .name = "postgres",
    .summary = "PostgreSQL via libpq; bank transfers in real transactions at --isolation",
    .target_help = "a libpq conninfo (\"host=127.0.0.1 port=5432 dbname=app user=app\"), a "
                   "postgresql:// URL, or HOST:PORT (database postgres); several hosts "
                   "(HOST:PORT,HOST:PORT or host=h1,h2) connect to the one that takes writes "
                   "(target_session_attrs=read-write)",
    .impls = impls,
    .connect = pconnect,
    .close = pclose_,
};
