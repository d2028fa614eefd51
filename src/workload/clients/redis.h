/* The redis workload client's target forms, exposed for tests and fuzzing:
 * HOST:PORT, or sentinel://HOST:PORT[,HOST:PORT...]/NAME (Redis Sentinel:
 * the sentinels' addresses and the name they monitor the primary under). */
#ifndef FL_WORKLOAD_CLIENTS_REDIS_H
#define FL_WORKLOAD_CLIENTS_REDIS_H

#include "util/err.h"

#define FL_WL_SENTINEL_MAX 16

struct fl_wl_sentinels {
    int n;
    char host[FL_WL_SENTINEL_MAX][256];
    int port[FL_WL_SENTINEL_MAX];
    char name[128];
};

/* Parse a sentinel:// target into s. 0, or -FL_EUSAGE with e saying what
 * is wrong and how the target is written. */
int fl_wl_redis_parse_sentinels(const char *target, struct fl_wl_sentinels *s, struct fl_err *e);

#endif
