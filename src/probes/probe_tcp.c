/* tcp: connect to HOST:PORT within the timeout; ok when the handshake
 * completes. The value is the time taken in ms.
 *
 * The kernel completes the handshake for a listening socket even when the
 * server process is frozen (SIGSTOP, a hung event loop), so a bare connect
 * cannot see such an outage. With send: and/or expect: the probe is a
 * request/response exchange: it sends the bytes, then reads until the reply
 * matches the expect regex (or, without expect:, until any reply arrives),
 * all within the same timeout - a frozen server fails it. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <regex.h>
#include <stdbool.h>
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
    {"send", FL_OPT_STRING, 0, "BYTES",
     "send this after connecting (YAML escapes: \"PING\\r\\n\") and wait for a reply", NULL, 0, 0},
    {"expect", FL_OPT_STRING, 0, "REGEX",
     "ok only when the reply (up to 4 KiB) matches this POSIX extended regex", NULL, 0, 0},
    FL_OPT_END,
};

#define TCP_REPLY_MAX 4096

struct tcp_state {
    bool exchange; /* send: or expect: given */
    bool has_re;
    regex_t re;
};

static ssize_t send_all_once(int fd, const char *buf, size_t len)
{
    ssize_t n;

    do
        n = send(fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return 0;
    return n;
}

static int tcp_validate(const json_t *params, struct fl_err *e)
{
    char host[256], port[32];
    const char *a = fl_param_str(params, "address", "");
    const char *rx = fl_param_str(params, "expect", NULL);
    const char *send = fl_param_str(params, "send", NULL);

    if (fl_probe_split_address(a, host, sizeof host, port, sizeof port))
        return fl_err_set(e, FL_EUSAGE, "address '%s' must be HOST:PORT (or [V6]:PORT)", a);
    if (send && !*send)
        return fl_err_set(e, FL_EUSAGE,
                          "send is empty: give the request bytes (e.g. \"PING\\r\\n\") or "
                          "leave send out");
    return rx ? fl_probe_regex("expect regex", rx, NULL, e) : 0;
}

static int tcp_open(struct fl_probe *p, struct fl_err *e)
{
    struct tcp_state *st = calloc(1, sizeof *st);
    const char *rx = fl_param_str(p->params, "expect", NULL);

    if (!st)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    st->exchange = rx || fl_param_str(p->params, "send", NULL);
    if (rx) {
        if (fl_probe_regex("expect regex", rx, &st->re, e)) {
            free(st);
            return -FL_EUSAGE;
        }
        st->has_re = true;
    }
    p->state = st;
    return 0;
}

static void tcp_close(struct fl_probe *p)
{
    struct tcp_state *st = p->state;

    if (st && st->has_re)
        regfree(&st->re);
    free(st);
    p->state = NULL;
}

/* Wait for `events` on fd until the deadline; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = events};
        int64_t left = deadline - fl_now_ms();
        int rc;

        if (left <= 0)
            return 0;
        rc = poll(&pf, 1, (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* The request/response part: send, then read until the reply matches (or
 * any reply, without expect:). Returns true when ok; else fills detail. */
static bool exchange(struct fl_probe *p, int fd, int64_t deadline, struct fl_probe_result *r)
{
    struct tcp_state *st = p->state;
    const char *send = fl_param_str(p->params, "send", NULL);
    size_t sent = 0, slen = send ? strlen(send) : 0, got = 0;
    char reply[TCP_REPLY_MAX + 1];

    while (sent < slen) {
        ssize_t n;
        if (wait_fd(fd, POLLOUT, deadline) <= 0) {
            snprintf(r->detail, sizeof r->detail, "send: timed out after %zu of %zu bytes", sent,
                     slen);
            return false;
        }
        n = send_all_once(fd, send + sent, slen - sent);
        if (n < 0) {
            snprintf(r->detail, sizeof r->detail, "send: %s", strerror(errno));
            return false;
        }
        sent += (size_t)n;
    }
    for (;;) {
        ssize_t n;
        int w = wait_fd(fd, POLLIN, deadline);
        if (w == 0) {
            snprintf(r->detail, sizeof r->detail,
                     "no %s within %lldms (%zu bytes received; the port accepts connections "
                     "but the server does not answer)",
                     st->has_re ? "matching reply" : "reply", (long long)p->timeout_ms, got);
            return false;
        }
        if (w < 0) {
            snprintf(r->detail, sizeof r->detail, "poll: %s", strerror(errno));
            return false;
        }
        n = recv(fd, reply + got, TCP_REPLY_MAX - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            snprintf(r->detail, sizeof r->detail, "recv: %s", strerror(errno));
            return false;
        }
        got += (size_t)n;
        reply[got] = '\0';
        if (got && (!st->has_re || regexec(&st->re, reply, 0, NULL, 0) == 0))
            return true;
        if (n == 0 || got == TCP_REPLY_MAX) {
            snprintf(r->detail, sizeof r->detail, "%s after %zu bytes without a match: %.60s",
                     n == 0 ? "connection closed" : "reply too long", got, reply);
            return false;
        }
    }
}

static void tcp_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    char host[256], port[32];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int64_t start = fl_mono_ns(), deadline = fl_now_ms() + p->timeout_ms;
    int fd = -1, rc, err = 0;
    socklen_t elen = sizeof err;

    fl_probe_split_address(fl_param_str(p->params, "address", ""), host, sizeof host, port,
                           sizeof port);
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
    if (p->state && ((struct tcp_state *)p->state)->exchange && !exchange(p, fd, deadline, r))
        goto out;
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
    .summary = "connect to HOST:PORT within the timeout; with send/expect, a request and its "
               "reply",
    .opts = tcp_opts,
    .validate = tcp_validate,
    .open = tcp_open,
    .sample = tcp_sample,
    .close = tcp_close,
};
