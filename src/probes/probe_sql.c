/* sql: run a query (default SELECT 1) on PostgreSQL through libpq, over a
 * connection kept between samples; ok when it succeeds within the timeout
 * and, if given, the first column of the first row equals `expect`. The
 * value is that field when it is a number. Connecting and querying are
 * asynchronous (PQconnectPoll, PQsendQuery) so a frozen server - whose
 * kernel still accepts the TCP connection - fails the sample at its
 * timeout; the connection is then dropped and made again next time. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/probe.h"
#include "util/time.h"

static const struct fl_opt sql_opts[] = {
    {"dsn", FL_OPT_STRING, FL_OPT_REQUIRED, "CONNINFO",
     "libpq connection string: \"host=127.0.0.1 port=5432 dbname=app user=probe\" or "
     "postgresql://...",
     NULL, 0, 0},
    {"query", FL_OPT_STRING, 0, "SQL", "the query (default SELECT 1)", NULL, 0, 0},
    {"expect", FL_OPT_STRING, 0, "TEXT",
     "ok only when the first column of the first row is exactly this text", NULL, 0, 0},
    FL_OPT_END,
};

struct sql_state {
    PGconn *conn;
};

static int sql_validate(const json_t *params, struct fl_err *e)
{
    const char *dsn = fl_param_str(params, "dsn", "");
    const char *q = fl_param_str(params, "query", "SELECT 1");
    char *msg = NULL;
    PQconninfoOption *o = PQconninfoParse(dsn, &msg);

    if (!o) {
        int r = fl_err_set(e, FL_EUSAGE, "dsn '%s' is not a libpq connection string: %.*s", dsn,
                           msg ? (int)strcspn(msg, "\n") : 13, msg ? msg : "out of memory");
        PQfreemem(msg);
        return r;
    }
    PQconninfoFree(o);
    if (!*q)
        return fl_err_set(e, FL_EUSAGE, "query is empty: give one, e.g. SELECT 1");
    return 0;
}

static int sql_open(struct fl_probe *p, struct fl_err *e)
{
    if (!(p->state = calloc(1, sizeof(struct sql_state))))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    return 0;
}

static void drop(struct sql_state *st)
{
    if (st->conn)
        PQfinish(st->conn);
    st->conn = NULL;
}

static void sql_close(struct fl_probe *p)
{
    if (p->state)
        drop(p->state);
    free(p->state);
    p->state = NULL;
}

/* Wait until the connection's socket is ready for `events`; false on timeout. */
static bool wait_sock(PGconn *c, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pf = {.fd = PQsocket(c), .events = events};
        int64_t left = deadline - fl_now_ms();
        int rc;

        if (left <= 0 || pf.fd < 0)
            return false;
        rc = poll(&pf, 1, (int)left);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
}

static void copy_err(const char *what, PGconn *c, struct fl_probe_result *r)
{
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    int n = (int)strcspn(m, "\n");

    snprintf(r->detail, sizeof r->detail, "%s: %.*s", what, n, m);
}

static bool connect_async(struct fl_probe *p, struct sql_state *st, int64_t deadline,
                          struct fl_probe_result *r)
{
    PostgresPollingStatusType s = PGRES_POLLING_WRITING;

    st->conn = PQconnectStart(fl_param_str(p->params, "dsn", ""));
    if (!st->conn || PQstatus(st->conn) == CONNECTION_BAD) {
        copy_err("connect", st->conn, r);
        drop(st);
        return false;
    }
    while (s != PGRES_POLLING_OK) {
        if (s == PGRES_POLLING_FAILED) {
            copy_err("connect", st->conn, r);
            drop(st);
            return false;
        }
        if (!wait_sock(st->conn, s == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline)) {
            snprintf(r->detail, sizeof r->detail,
                     "connect: no answer within %lldms (the server accepts TCP connections but "
                     "does not answer: paused or hung?)",
                     (long long)p->timeout_ms);
            drop(st);
            return false;
        }
        s = PQconnectPoll(st->conn);
    }
    return true;
}

/* Judge the query's result: the first row's first field against expect. */
static void judge(struct fl_probe *p, PGresult *res, struct fl_probe_result *r)
{
    const char *want = fl_param_str(p->params, "expect", NULL), *v = NULL;
    ExecStatusType s = PQresultStatus(res);
    char *end;

    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        int n = (int)strcspn(PQresultErrorMessage(res), "\n");
        snprintf(r->detail, sizeof r->detail, "query: %.*s", n, PQresultErrorMessage(res));
        return;
    }
    if (s == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
        v = PQgetvalue(res, 0, 0);
    if (v && *v) {
        double d = strtod(v, &end);
        if (!*end) {
            r->has_value = true;
            r->value = d;
        }
    }
    if (want && (!v || strcmp(v, want))) {
        snprintf(r->detail, sizeof r->detail, "query returned '%.60s', expected '%.60s'",
                 v ? v : "(no row or NULL)", want);
        return;
    }
    r->ok = true;
    snprintf(r->detail, sizeof r->detail, "%.150s", v ? v : "ok");
}

static void sql_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    struct sql_state *st = p->state;
    int64_t deadline = fl_now_ms() + p->timeout_ms;
    PGresult *res, *first = NULL;

    if (st->conn && PQstatus(st->conn) != CONNECTION_OK)
        drop(st);
    if (!st->conn && !connect_async(p, st, deadline, r))
        return;
    if (!PQsendQuery(st->conn, fl_param_str(p->params, "query", "SELECT 1"))) {
        copy_err("query", st->conn, r);
        drop(st);
        return;
    }
    for (;;) {
        while (PQisBusy(st->conn)) {
            if (!wait_sock(st->conn, POLLIN, deadline) || !PQconsumeInput(st->conn)) {
                snprintf(r->detail, sizeof r->detail,
                         "query: no answer within %lldms (paused or hung server?)",
                         (long long)p->timeout_ms);
                PQclear(first);
                drop(st); /* the reply may still come: never reuse this connection */
                return;
            }
        }
        if (!(res = PQgetResult(st->conn)))
            break;
        if (!first)
            first = res;
        else
            PQclear(res);
    }
    if (!first) {
        copy_err("query", st->conn, r);
        drop(st);
        return;
    }
    judge(p, first, r);
    PQclear(first);
}

const struct fl_probe_ops fl_probe_sql = {
    .kind = "sql",
    .summary = "run a query on PostgreSQL (default SELECT 1) and optionally compare its value",
    .opts = sql_opts,
    .validate = sql_validate,
    .open = sql_open,
    .sample = sql_sample,
    .close = sql_close,
};
