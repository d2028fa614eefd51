/* libpq helpers shared by the postgres workload client's two files: the
 * conninfo of --target (several hosts for a primary and its standbys) and
 * one statement run asynchronously against a deadline. */
#include "workload/clients/pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"

int fl_wl_pg_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - fl_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* The last result of the statement sent on conn, read by the deadline.
 * FL_WL_PG_OK with *last (possibly NULL when nothing came), or
 * FL_WL_PG_BROKEN with r filled. */
static int collect(PGconn *conn, int64_t deadline, struct fl_wl_result *r, PGresult **last)
{
    *last = NULL;
    for (;;) {
        while (PQisBusy(conn)) {
            int w = fl_wl_pg_wait(PQsocket(conn), POLLIN, deadline);
            if (w == 0) {
                PQclear(*last);
                *last = NULL;
                r->broken = true;
                snprintf(r->error, sizeof r->error, "timeout");
                return FL_WL_PG_BROKEN;
            }
            if (w < 0 || !PQconsumeInput(conn)) {
                PQclear(*last);
                *last = NULL;
                return -1;
            }
        }
        PGresult *x = PQgetResult(conn);
        if (!x)
            return FL_WL_PG_OK;
        PQclear(*last);
        *last = x;
    }
}

int fl_wl_pg_run(PGconn *conn, int64_t deadline, struct fl_wl_result *r, PGresult **res,
                 const char *sql, int n, const int64_t *params)
{
    char bufs[4][24];
    const char *values[4];
    PGresult *last = NULL;

    *res = NULL;
    if (n > 4)
        n = 4;
    for (int i = 0; i < n; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%lld", (long long)params[i]);
        values[i] = bufs[i];
    }
    if (!PQsendQueryParams(conn, sql, n, NULL, n ? values : NULL, NULL, NULL, 0))
        goto broken;
    int q = collect(conn, deadline, r, &last);
    if (q == FL_WL_PG_BROKEN)
        return q;
    if (q < 0 || !last || PQstatus(conn) == CONNECTION_BAD) {
        PQclear(last);
        goto broken;
    }
    ExecStatusType st = PQresultStatus(last);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *res = last;
        return FL_WL_PG_OK;
    }
    const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(r->error, sizeof r->error, "%s: %s", state ? state : "?", msg ? msg : "error");
    /* class 08 (connection exception) and 57P0x (shutdown): unknown outcome */
    bool lost = state && (!strncmp(state, "08", 2) || !strncmp(state, "57P0", 4));
    PQclear(last);
    if (lost) {
        r->broken = true;
        return FL_WL_PG_BROKEN;
    }
    return FL_WL_PG_ERR;
broken:
    r->broken = true;
    snprintf(r->error, sizeof r->error, "connection: %s", PQerrorMessage(conn));
    r->error[strcspn(r->error, "\n")] = '\0';
    return FL_WL_PG_BROKEN;
}

static void free_opts(PQconninfoOption **o)
{
    if (*o)
        PQconninfoFree(*o);
}

/* Append "sep" and the text to buf (of size len, large enough: the parts
 * come from a target no longer than it). */
static void append(char *buf, size_t len, bool sep, const char *text)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", sep ? "," : "", text);
}

/* HOST:PORT[,HOST:PORT...] as a conninfo. */
static char *from_hostports(const char *target, int *nhosts, struct fl_err *e)
{
    size_t len = strlen(target) + 1;
    char *dup = strdup(target), *hosts = calloc(1, len), *ports = calloc(1, len + 8);
    char *save = NULL, *out = NULL;
    int n = 0;

    if (!dup || !hosts || !ports) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        goto done;
    }
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
        char host[256], port[16];
        int p;
        struct fl_err pe = {0};
        if (fl_wl_split_hostport(tok, host, sizeof host, &p, &pe) < 0) {
            fl_err_set(e, FL_EUSAGE,
                       "--target '%s': '%s' is not HOST:PORT; write one host as HOST:PORT, "
                       "several as HOST:PORT,HOST:PORT, or give a libpq conninfo "
                       "(\"host=h1,h2 port=5432,5432 dbname=app\") or URL",
                       target, tok);
            goto done;
        }
        snprintf(port, sizeof port, "%d", p);
        append(hosts, len, n > 0, host);
        append(ports, len + 8, n > 0, port);
    }
    if (n == 0) {
        fl_err_set(e, FL_EUSAGE, "--target '%s': no HOST:PORT in it", target);
        goto done;
    }
    if (asprintf(&out, "host=%s port=%s dbname=postgres%s", hosts, ports,
                 n > 1 ? " target_session_attrs=read-write" : "") < 0) {
        out = NULL;
        fl_err_set(e, FL_EFAIL, "out of memory");
        goto done;
    }
    *nhosts = n;
done:
    free(dup);
    free(hosts);
    free(ports);
    return out;
}

char *fl_wl_pg_conninfo(const char *target, int *nhosts, struct fl_err *e)
{
    bool url = strstr(target, "://") != NULL;

    *nhosts = 1;
    if (!url && !strchr(target, '='))
        return from_hostports(target, nhosts, e);

    char *err = NULL;
    __attribute__((cleanup(free_opts))) PQconninfoOption *opts = PQconninfoParse(target, &err);
    if (!opts) {
        if (err)
            err[strcspn(err, "\n")] = '\0';
        fl_err_set(e, FL_EUSAGE,
                   "--target: libpq cannot read it: %s; write a conninfo (\"host=h1,h2 "
                   "port=5432,5432 dbname=app user=app\") or a URL "
                   "(postgresql://app@h1:5432,h2:5432/app)",
                   err ? err : "out of memory");
        PQfreemem(err);
        return NULL;
    }
    bool has_tsa = false;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr")) {
            int n = 1;
            for (const char *p = o->val; *p; p++)
                n += *p == ',';
            if (n > *nhosts)
                *nhosts = n;
        } else if (!strcmp(o->keyword, "target_session_attrs")) {
            has_tsa = true;
        }
    }
    char *out = NULL;
    const char *extra = "";
    if (*nhosts > 1 && !has_tsa)
        extra = url ? (strchr(target, '?') ? "&target_session_attrs=read-write"
                                           : "?target_session_attrs=read-write")
                    : " target_session_attrs=read-write";
    if (asprintf(&out, "%s%s", target, extra) < 0) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        return NULL;
    }
    return out;
}
