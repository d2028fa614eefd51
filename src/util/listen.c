/* Listen addresses and PEM files for the daemons (listen.h). */
#include "util/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

int fl_listen_parse(const char *listen, const char *example, struct sockaddr_storage *ss,
                    bool *loopback, struct fl_err *e)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    long long port;
    size_t hl;

    memset(ss, 0, sizeof *ss);
    if (!colon || colon == listen)
        return fl_err_set(e, FL_EUSAGE, "--listen '%s': expected HOST:PORT (e.g. %s)", listen,
                          example);
    hl = (size_t)(colon - listen);
    if (listen[0] == '[' && hl >= 2 && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        return fl_err_set(e, FL_EUSAGE, "--listen '%s': host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (fl_parse_int(colon + 1, 0, 65535, &port, e))
        return fl_err_prefix(e, "--listen port");
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    } else {
        return fl_err_set(e, FL_EUSAGE, "--listen '%s': '%s' is not an IP address", listen, host);
    }
    return 0;
}

char *fl_pem_read(const char *path, const char *what, struct fl_err *e)
{
    FILE *f = fopen(path, "re");
    char *buf = calloc(1, (1 << 20) + 1);
    size_t n = 0;

    if (f && buf)
        n = fread(buf, 1, 1 << 20, f);
    if (f)
        fclose(f);
    if (!f || !buf || !n || !strstr(buf, "-----BEGIN ")) {
        free(buf);
        fl_err_set(e, FL_EUSAGE, "%s %s: %s", what, path,
                   !f ? strerror(errno) : "not a PEM file (-----BEGIN ...)");
        return NULL;
    }
    return buf;
}

int fl_body_append(struct fl_body *b, const char *data, size_t n, size_t max)
{
    char *nb;

    if (b->too_large || b->len + n > max) {
        b->too_large = true;
        return 0;
    }
    if (!(nb = realloc(b->buf, b->len + n + 1)))
        return -1;
    b->buf = nb;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}
