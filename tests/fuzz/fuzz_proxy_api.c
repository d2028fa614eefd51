/* Fuzz the proxy API's JSON input: each input line is one request
 * "<method digit><path digit><JSON body>" run against a fresh dry-mode server
 * (no sockets), so sequences exercise create/update/delete interplay too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"

static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT"};
static const char *const paths[] = {
    "/proxies",          "/proxies/a",
    "/proxies/a/toxics", "/proxies/a/toxics/t",
    "/populate",         "/reset",
    "/proxies/b/toxics", "/proxies/a/toxics/latency_downstream",
    "/metrics",          "/version",
    "/proxies/",         "/proxies/a/toxics/",
    "//proxies",         "/proxies/a/toxics/t/x",
};
#define N(a) (sizeof a / sizeof a[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_px_options o = {NULL, NULL, true};
    struct fl_err e;
    struct fl_px_server *s = fl_px_server_new(&o, &e);
    size_t off = 0;

    if (!s)
        return 0;
    while (off + 2 <= size) {
        const uint8_t *line = data + off;
        const uint8_t *nl = memchr(line, '\n', size - off);
        size_t len = nl ? (size_t)(nl - line) : size - off;
        char *out = NULL;
        const char *ctype;

        if (len >= 2) {
            char *body = malloc(len - 1);
            if (!body)
                break;
            memcpy(body, line + 2, len - 2);
            body[len - 2] = '\0';
            fl_px_api_handle(s, methods[line[0] % N(methods)], paths[line[1] % N(paths)], body,
                             len - 2, &out, &ctype);
            free(out);
            free(body);
        }
        off += len + 1;
    }
    fl_px_server_free(s);
    return 0;
}
