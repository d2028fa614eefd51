/* A small HTTP/JSON request helper over libcurl for the etcd and http
 * clients: one easy handle per worker connection, a deadline per request,
 * and a clear split between "the server answered" (any status) and "no
 * answer" (timeout, refused, reset: the outcome is unknown). */
#ifndef FL_WORKLOAD_CLIENTS_HTTPC_H
#define FL_WORKLOAD_CLIENTS_HTTPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct fl_httpc {
    void *curl;
    char *base; /* "http://127.0.0.1:2379", no trailing slash */
    char *body; /* last response body */
    size_t len, cap;
    int64_t timeout_ms;
};

/* target: a URL, or HOST:PORT meaning http://HOST:PORT. */
int fl_httpc_open(struct fl_httpc *c, const char *target, int64_t timeout_ms, struct fl_err *e);
void fl_httpc_close(struct fl_httpc *c);

/* Send METHOD base+path with an optional JSON body (NULL: none) or raw text
 * body. Returns the HTTP status (>= 100) with the response in c->body
 * (NUL-terminated), or -1 when nothing came back, with the reason in err
 * ("timeout" for a timeout). */
int fl_httpc_request(struct fl_httpc *c, const char *method, const char *path, const json_t *json,
                     const char *text, char *err, size_t errlen);

/* Base64 for etcd's JSON gateway (keys and values are bytes). The result is
 * malloc'd; NULL on bad input or out of memory. */
char *fl_b64_encode(const char *s, size_t n);
char *fl_b64_decode(const char *s, size_t *n);

void fl_httpc_global(bool init);

#endif
