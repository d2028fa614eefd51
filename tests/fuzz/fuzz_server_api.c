/* Fuzz the server API's request handling (body parsing, field checks,
 * names, cron and gate validation): each input line is one request
 * "<method digit><path digit><body>" against one server on a temporary
 * store, so sequences exercise create/replace/delete interplay. Routes
 * that start or abort run processes or revert faults are left out, and
 * so is the dry run (its plan() reads targets of whatever file it is given). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
static const char *const paths[] = {
    "/api/v1/experiments",
    "/api/v1/experiments/a",
    "/api/v1/schedules",
    "/api/v1/schedules/s",
    "/api/v1/schedules/s/next",
    "/api/v1/schedules/s/pause",
    "/api/v1/runs",
    "/api/v1/runs/1",
    "/api/v1/experiments/a%2F..",
    "/api/v1/schedules/s/resume",
    "/api/v1/bulletins",
    "/api/v1/bulletins/1",
    "/api/v1/bulletins/1/markdown",
    "/api/v1/webhooks",
    "/api/v1/webhooks/1",
    "/api/v1/audit",
    "/api/v1/experiments/validate",
    "/api/v1/experiments/a/trend",
    "/api/v1/cron/next",
    "/api/v1/runs/1/logs",
};
#define NPATHS (sizeof paths / sizeof paths[0])

static char dir[] = "/tmp/fuzz_server_api.XXXXXX";

/* Remove the temporary store when the fuzzer exits. */
static void cleanup(void)
{
    static const char *const files[] = {"h.db.server/server.lock", "h.db.server", "h.db-wal",
                                        "h.db-shm", "h.db"};
    char p[128];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (unlink(p))
            rmdir(p);
    }
    rmdir(dir);
}

static struct fl_server *server(void)
{
    static struct fl_server *s;
    char db[64];
    struct fl_server_opts o = {0};
    struct fl_err e = {0};
    int lock_fd;

    if (s)
        return s;
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    snprintf(db, sizeof db, "%s/h.db", dir);
    o.db = db;
    if (!(s = fl_server_new(&o, &lock_fd, &e))) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_server *s = server();
    size_t off = 0;

    while (off + 2 <= size) {
        const uint8_t *line = data + off;
        const uint8_t *nl = memchr(line, '\n', size - off);
        size_t len = nl ? (size_t)(nl - line) : size - off;
        /* counted from '0', so the corpus's "0".."4" and "0".."?" stay readable */
        const char *method = methods[(line[0] + 256u - '0') % 5],
                   *path = paths[(line[1] + 256u - '0') % NPATHS];
        char *out = NULL;
        int status;

        if (len >= 2 && !(strstr(path, "/runs") && strcmp(method, "GET"))) {
            fl_http_handle(s, method, path, (const char *)line + 2, len - 2, &out, &status);
            if (status < 200 || status > 599 || !out)
                abort();
            free(out);
        }
        off += len + 1;
    }
    return 0;
}
