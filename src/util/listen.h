/* What a listening daemon needs before it listens: a HOST:PORT address
 * (is it loopback? — a daemon without tokens may listen only there) and a
 * PEM file's text for TLS; and, once it listens, a bounded request body as
 * it arrives. Shared by `faultline server` and `faultline agent`. */
#ifndef FL_UTIL_LISTEN_H
#define FL_UTIL_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util/err.h"

/* HOST:PORT or [V6]:PORT (HOST an IP address) into ss; *loopback says whether
 * it is 127/8 or ::1. example is shown in the message for a malformed one. */
int fl_listen_parse(const char *listen, const char *example, struct sockaddr_storage *ss,
                    bool *loopback, struct fl_err *e);
/* A PEM file's text (at most 1 MiB, malloc'd), or NULL with a message naming
 * the option `what` ("--tls-cert") and the file. */
char *fl_pem_read(const char *path, const char *what, struct fl_err *e);

/* A request body as it arrives in pieces (libmicrohttpd's upload calls).
 * Past max bytes the rest is dropped and too_large set (answer 413). */
struct fl_body {
    char *buf; /* NUL-terminated when len > 0 */
    size_t len;
    bool too_large;
};
/* Append n bytes of data; 0, or -1 when out of memory. */
int fl_body_append(struct fl_body *b, const char *data, size_t n, size_t max);

#endif
