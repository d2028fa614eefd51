/* tcp: connect to HOST:PORT within the timeout; ok when the handshake
 * completes. The value is the connect time in ms. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probes/probe.h"
#include "util/time.h"

static const struct fl_opt tcp_opts[] = {
    {"address", FL_OPT_STRING, FL_OPT_REQUIRED, "HOST:PORT",
     "where to connect: 10.0.0.1:6379, [::1]:80, localhost:8080", NULL, 0, 0},
    FL_OPT_END,
};

static int split(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon;

    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || !end[2])
            return -1;
        snprintf(host, hlen, "%.*s", (int)(end - addr - 1), addr + 1);
        snprintf(port, plen, "%s", end + 2);
        return 0;
    }
    colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || strchr(addr, ':') != colon)
        return -1;
    snprintf(host, hlen, "%.*s", (int)(colon - addr), addr);
    snprintf(port, plen, "%s", colon + 1);
    return 0;
}

static int tcp_validate(const json_t *params, struct fl_err *e)
{
    char host[256], port[32];
    const char *a = fl_param_str(params, "address", "");

    if (split(a, host, sizeof host, port, sizeof port))
        return fl_err_set(e, FL_EUSAGE, "address '%s' must be HOST:PORT (or [V6]:PORT)", a);
    return 0;
}

static void tcp_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    char host[256], port[32];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int64_t start = fl_mono_ns(), deadline = fl_now_ms() + p->timeout_ms;
    int fd = -1, rc, err = 0;
    socklen_t elen = sizeof err;

    split(fl_param_str(p->params, "address", ""), host, sizeof host, port, sizeof port);
    if ((rc = getaddrinfo(host, port, &hints, &ai))) {
        snprintf(r->detail, sizeof r->detail, "cannot resolve %.60s: %s", host, gai_strerror(rc));
        return;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(r->detail, sizeof r->detail, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
        snprintf(r->detail, sizeof r->detail, "connect: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int64_t left = deadline - fl_now_ms();
        if (left <= 0) {
            snprintf(r->detail, sizeof r->detail, "connect: timed out");
            goto out;
        }
        rc = poll(&pf, 1, (int)left);
        if (rc > 0)
            break;
        if (rc < 0 && errno != EINTR) {
            snprintf(r->detail, sizeof r->detail, "poll: %s", strerror(errno));
            goto out;
        }
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) {
        snprintf(r->detail, sizeof r->detail, "connect: %s", strerror(err));
        goto out;
    }
    r->ok = true;
    r->has_value = true;
    r->value = (double)(fl_mono_ns() - start) / 1e6;
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
}

const struct fl_probe_ops fl_probe_tcp = {
    .kind = "tcp",
    .summary = "connect to HOST:PORT within the timeout",
    .opts = tcp_opts,
    .validate = tcp_validate,
    .sample = tcp_sample,
};
