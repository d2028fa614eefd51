/* The proxy's event loop: one thread, one epoll set over the listeners, the
 * links' sockets (their data path is link.c), the API's wake-up eventfd and
 * the stop fd, and one timer heap. Also the proxies' listeners (start, stop,
 * accept) and the loop's random generator and clock. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "proxy/link.h"
#include "proxy/loop.h"
#include "proxy/px.h"
#include "util/log.h"

/* The loop thread's random generator (xorshift64*), seeded from getrandom.
 * Thread-local: only the loop thread draws toxicity and jitter. */
static _Thread_local uint64_t rng_state;

static uint64_t rng_next(void)
{
    if (!rng_state) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state)
            rng_state = (uint64_t)time(NULL) * 2654435761u + 1;
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

double fl_px_rand(void)
{
    return (rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

int64_t fl_px_rand_span(int64_t span)
{
    if (span <= 0)
        return 0;
    return (int64_t)(rng_next() % (uint64_t)(2 * span + 1)) - span;
}

int64_t fl_px_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void fl_px_reap(struct fl_px_server *s)
{
    while (s->pgrave) {
        struct fl_px_proxy *p = s->pgrave;
        s->pgrave = p->dnext;
        fl_px_proxy_free(p);
    }
    while (s->grave) {
        struct fl_px_link *l = s->grave;
        s->grave = l->next;
        fl_px_link_free(s, l);
    }
    if (s->stopping) {
        /* fl_px_server_free: nothing will reuse the spare pipes */
        while (s->npipes) {
            struct fl_px_pipe *p = &s->pipes[--s->npipes];
            close(p->fd[0]);
            close(p->fd[1]);
        }
    }
}

static void on_listener(struct fl_px_proxy *p)
{
    if (p->lfd < 0)
        return;
    for (int i = 0; i < 256; i++) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the level-triggered listener would spin.
                 * Pause it for 100 ms; pending clients wait in the backlog. */
                fl_warn("proxy %s: accept: %s; pausing the listener 100 ms", p->name,
                        strerror(errno));
                epoll_ctl(p->srv->epfd, EPOLL_CTL_DEL, p->lfd, NULL);
                fl_px_heap_arm(&p->srv->heap, &p->retry, fl_px_now() + 100 * FL_PX_MS);
            } else if (errno != EAGAIN) {
                fl_warn("proxy %s: accept: %s", p->name, strerror(errno));
            }
            return;
        }
        fl_px_link_new(p, fd);
    }
    /* More may wait: the listener is level-triggered, epoll reports it again. */
}

static void listener_resume(struct fl_px_timer *t)
{
    struct fl_px_proxy *p = t->arg;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->ev};

    if (p->lfd >= 0)
        epoll_ctl(p->srv->epfd, EPOLL_CTL_ADD, p->lfd, &ev);
}

/* Why a bind failed, in Go's words ("bind: address already in use") and
 * what to do about it. */
static void bind_error(const struct fl_px_proxy *p, const char *call, int err, char *msg,
                       size_t msglen)
{
    const char *why = strerror(err);
    const char *hint = err == EADDRINUSE      ? "; another process listens there: choose another "
                                                "port, or port 0 for any free one"
                       : err == EADDRNOTAVAIL ? "; no interface here has that address: listen "
                                                "on 127.0.0.1 or an address of this host"
                       : err == EACCES        ? "; ports below 1024 need root or "
                                                "CAP_NET_BIND_SERVICE"
                                              : "";

    snprintf(msg, msglen, "listen tcp %s: %s: %c%s%s", p->listen, call,
             tolower((unsigned char)why[0]), why + 1, hint);
}

/* Resolve the upstream once, now; a name that does not resolve is kept (as
 * Toxiproxy accepts it) and said: here, and for each connection refused. */
static void upstream_resolve(struct fl_px_proxy *p)
{
    char why[300];

    p->uperr[0] = '\0';
    p->transparent = !strcmp(p->upstream, FL_PX_UPSTREAM_TRANSPARENT);
    if (p->transparent) {
        p->uplen = 0;
    } else if (fl_px_addr_parse(p->upstream, &p->up, &p->uplen, why, sizeof why)) {
        p->uplen = 0;
        snprintf(p->uperr, sizeof p->uperr, "upstream %s: %s", p->upstream, why);
        fl_warn("proxy %s: %s; every connection will be closed until the upstream is changed "
                "(PATCH /proxies/%s {\"upstream\": \"HOST:PORT\"})",
                p->name, p->uperr, p->name);
    }
}

int fl_px_proxy_start(struct fl_px_proxy *p, char *msg, size_t msglen)
{
    struct fl_px_server *s = p->srv;
    struct sockaddr_storage ss;
    socklen_t len;
    struct epoll_event ev;
    int one = 1, fd;
    char why[300], *bound;

    if (p->lfd >= 0 || s->dry)
        return 0;
    if (fl_px_addr_parse(p->listen, &ss, &len, why, sizeof why)) {
        snprintf(msg, msglen, "listen tcp %s: %s", p->listen, why);
        return 500;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        bind_error(p, "socket", errno, msg, msglen);
        return 500;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096)) {
        bind_error(p, "bind", errno, msg, msglen);
        close(fd);
        return 500;
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    fl_px_addr_format(&ss, why, sizeof why);
    if (!(bound = strdup(why))) {
        close(fd);
        snprintf(msg, msglen, "out of memory");
        return 500;
    }
    free(p->listen);
    p->listen = bound;
    p->lfd = fd;
    p->ev.kind = FL_PX_LISTENER;
    fl_px_timer_init(&p->retry, listener_resume, p);
    ev.events = EPOLLIN;
    ev.data.ptr = &p->ev;
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
    upstream_resolve(p);
    return 0;
}

void fl_px_proxy_stop(struct fl_px_proxy *p)
{
    fl_px_heap_cancel(&p->srv->heap, &p->retry);
    if (p->lfd >= 0) {
        close(p->lfd);
        p->lfd = -1;
    }
    while (p->links)
        fl_px_link_abort(p->links, false);
}

static void wake_drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) > 0)
        ;
}

static void run_ready(struct fl_px_server *s)
{
    struct fl_px_link *l = s->ready;

    s->ready = NULL;
    while (l) {
        struct fl_px_link *n = l->rnext;
        l->ready = false;
        if (!l->dead)
            fl_px_link_pump(l);
        l = n;
    }
}

int fl_px_server_run(struct fl_px_server *s, int stop_fd, struct fl_err *e)
{
    struct epoll_event evs[256], ev;

    s->stop_ev.kind = FL_PX_STOP;
    ev.events = EPOLLIN;
    ev.data.ptr = &s->stop_ev;
    if (stop_fd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, stop_fd, &ev))
        return fl_err_set(e, FL_EFAIL, "epoll_ctl: %s", strerror(errno));
    for (;;) {
        struct fl_px_timer *t = fl_px_heap_peek(&s->heap);
        int timeout = -1, n;

        if (t) {
            int64_t left = t->when - fl_px_now();
            timeout = left <= 0                       ? 0
                      : left / 1000000 >= INT_MAX - 1 ? INT_MAX
                                                      : (int)((left + 999999) / 1000000);
        }
        if (s->ready)
            timeout = 0;
        n = epoll_wait(s->epfd, evs, 256, timeout);
        if (n < 0 && errno != EINTR)
            return fl_err_set(e, FL_EFAIL, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct fl_px_ev *x = evs[i].data.ptr;
            switch (x->kind) {
            case FL_PX_LISTENER:
                on_listener((struct fl_px_proxy *)x);
                break;
            case FL_PX_SIDE:
                fl_px_link_event((struct fl_px_side *)x, evs[i].events);
                break;
            case FL_PX_WAKE:
                wake_drain(s->wakefd);
                if (s->on_wake)
                    s->on_wake(s);
                break;
            case FL_PX_STOP:
                fl_px_reap(s);
                return 0;
            }
        }
        if (s->heap.n) {
            int64_t now = fl_px_now();
            while ((t = fl_px_heap_pop_due(&s->heap, now)))
                t->fn(t);
        }
        run_ready(s);
        fl_px_reap(s);
    }
}
