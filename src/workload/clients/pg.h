/* libpq under the postgres workload client (postgres.c, postgres_txn.c): the
 * target's conninfo (one host, or several with target_session_attrs), and
 * one statement run by a deadline so that a paused or unreachable server
 * yields an unknown outcome on time instead of a hang. */
#ifndef FL_WORKLOAD_CLIENTS_PG_H
#define FL_WORKLOAD_CLIENTS_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "util/err.h"
#include "workload/workload.h"

/* What fl_wl_pg_run() answers. */
enum { FL_WL_PG_OK, FL_WL_PG_ERR, FL_WL_PG_BROKEN };

/* Wait until fd is ready for events (POLLIN/POLLOUT) or the deadline (ms,
 * fl_now_ms() clock) passes: 1 ready, 0 timeout, -1 error. */
int fl_wl_pg_wait(int fd, short events, int64_t deadline);

/* Run sql with n (at most 4) bigint parameters and wait for its result until
 * the deadline. FL_WL_PG_OK with *res (the caller clears it); FL_WL_PG_ERR
 * when the server refused the statement (r->error holds "SQLSTATE:
 * message"; the connection is fine); FL_WL_PG_BROKEN on a timeout, a lost
 * connection or a connection-class error (08..., 57P0x): the outcome is
 * unknown and r->broken is set. */
int fl_wl_pg_run(PGconn *conn, int64_t deadline, struct fl_wl_result *r, PGresult **res,
                 const char *sql, int n, const int64_t *params);

/* The conninfo libpq gets for --target: a conninfo string or URL as is, or
 * HOST:PORT[,HOST:PORT...] as "host=... port=... dbname=postgres". When the
 * target names several hosts and says nothing of target_session_attrs,
 * "target_session_attrs=read-write" is added, so libpq skips standbys and
 * connects to the primary. *nhosts gets the number of hosts. NULL with e
 * filled (FL_EUSAGE: what is wrong and how to write it) on bad input. The
 * result is malloc'd. */
char *fl_wl_pg_conninfo(const char *target, int *nhosts, struct fl_err *e);

#endif
