/* Fuzz the workload clients' cluster target parsers: a redis sentinel://
 * target and a postgres target (HOST:PORT list, conninfo or URL). Any input
 * is refused with a message, or parses into something consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload/clients/pg.h"
#include "workload/clients/redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    struct fl_wl_sentinels s;
    struct fl_err e = {0};
    int n = 0;

    if (!t)
        return 0;
    memcpy(t, data, size);
    t[size] = '\0';
    if (fl_wl_redis_parse_sentinels(t, &s, &e) == 0) {
        if (s.n < 1 || s.n > FL_WL_SENTINEL_MAX || !s.name[0])
            abort();
        for (int i = 0; i < s.n; i++)
            if (!s.host[i][0] || s.port[i] < 1 || s.port[i] > 65535)
                abort();
    } else if (!e.msg[0]) {
        abort();
    }
    memset(&e, 0, sizeof e);
    char *ci = fl_wl_pg_conninfo(t, &n, &e);
    if (ci) {
        if (n < 1 || (strncmp(ci, t, strlen(t)) != 0 && !strstr(ci, "dbname=postgres")))
            abort();
        free(ci);
    } else if (!e.msg[0]) {
        abort();
    }
    free(t);
    return 0;
}
