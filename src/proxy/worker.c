/* The data path of one proxy fault (worker.h): its own process running a
 * transparent proxy in the fault's namespace. */
#include "proxy/worker.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "net/netns.h"
#include "net/nft.h"
#include "proxy/intercept.h"
#include "proxy/proxy.h"
#include "util/log.h"
#include "util/time.h"

struct worker {
    json_t *cfg;
    const char *id;
    struct fl_net_peer *targets;
    size_t ntargets;
    struct fl_netns_guard ns;
    bool in_ns;
    struct fl_px_server *srv;
    struct fl_px_intercept ic;
    char table[64];
    int sfd, tfd, stopfd;
};

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
    char buf[FL_ERR_MSG + 64];
    va_list ap;
    int n;

    if (fd < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = (int)sizeof buf - 1;
    if (write(fd, buf, (size_t)n) < 0)
        fl_debug("proxy worker: cannot report: %s", strerror(errno));
}

static int parse_config(struct worker *w, const char *config, struct fl_err *e)
{
    json_error_t je;
    json_t *t, *v;
    size_t i;
    int r;

    if (!(w->cfg = json_loads(config, 0, &je)) || !json_is_object(w->cfg))
        return fl_err_set(e, FL_EUSAGE, "%s: not a JSON object: %s", FL_PX_WORKER_FLAG, je.text);
    w->id = json_string_value(json_object_get(w->cfg, "id"));
    t = json_object_get(w->cfg, "targets");
    if (!w->id || !json_is_array(t) || !json_array_size(t))
        return fl_err_set(e, FL_EUSAGE, "%s: needs \"id\" and \"targets\"", FL_PX_WORKER_FLAG);
    snprintf(w->table, sizeof w->table, FL_NFT_TABLE_PREFIX "%s", w->id);
    if (!(w->targets = calloc(json_array_size(t), sizeof *w->targets)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    json_array_foreach (t, i, v) {
        if (!json_is_string(v))
            return fl_err_set(e, FL_EUSAGE, "%s: targets must be strings", FL_PX_WORKER_FLAG);
        if ((r = fl_net_peer_parse(json_string_value(v), &w->targets[i], e)))
            return r;
        w->ntargets++;
    }
    return 0;
}

/* The stop fd: an epoll set of the stop signals and the deadline timer,
 * readable when either fires. */
static int make_stop_fd(struct worker *w, struct fl_err *e)
{
    int64_t deadline = json_integer_value(json_object_get(w->cfg, "deadline_ms"));
    struct epoll_event ev = {.events = EPOLLIN};
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    w->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    w->tfd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    w->stopfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->sfd < 0 || w->tfd < 0 || w->stopfd < 0)
        return fl_err_set(e, FL_EFAIL, "signalfd/timerfd/epoll: %s", strerror(errno));
    if (deadline > 0) {
        struct itimerspec its = {0};
        its.it_value.tv_sec = deadline / 1000;
        its.it_value.tv_nsec = (deadline % 1000) * 1000000;
        if (timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL))
            return fl_err_set(e, FL_EFAIL, "timerfd: %s", strerror(errno));
    }
    epoll_ctl(w->stopfd, EPOLL_CTL_ADD, w->sfd, &ev);
    epoll_ctl(w->stopfd, EPOLL_CTL_ADD, w->tfd, &ev);
    return 0;
}

/* Listen, add the toxics; returns the listener's port. */
static int start_proxy(struct worker *w, struct fl_err *e)
{
    struct fl_px_options o = {NULL, NULL, false};
    bool v6 = false;
    char path[128];
    json_t *tx;
    size_t i;
    int port;

    for (i = 0; i < w->ntargets; i++)
        v6 |= w->targets[i].family == AF_INET6;
    if (!(w->srv = fl_px_server_new(&o, e)))
        return -e->code;
    if ((port = fl_px_intercept_proxy(w->srv, w->id, v6, e)) < 0)
        return port;
    snprintf(path, sizeof path, "/proxies/%s/toxics", w->id);
    json_array_foreach (json_object_get(w->cfg, "toxics"), i, tx) {
        char *txt = json_dumps(tx, JSON_COMPACT), *res = NULL;
        const char *ctype;
        int st = fl_px_api_handle(w->srv, "POST", path, txt, txt ? strlen(txt) : 0, &res, &ctype);
        free(txt);
        if (st >= 300) {
            json_t *j = res ? json_loads(res, 0, NULL) : NULL;
            fl_err_set(e, FL_EUSAGE, "toxic %zu: %s", i + 1,
                       json_string_value(json_object_get(j, "error"))
                           ? json_string_value(json_object_get(j, "error"))
                           : "refused");
            json_decref(j);
            free(res);
            return -e->code;
        }
        free(res);
    }
    return port;
}

/* Redirect first, proxy second: once the table is gone no new connection
 * reaches the listener, then closing it and the links is safe. */
static void teardown(struct worker *w)
{
    fl_px_intercept_stop(&w->ic);
    fl_px_server_free(w->srv);
    if (w->in_ns)
        fl_netns_leave(&w->ns);
    if (w->sfd >= 0)
        close(w->sfd);
    if (w->tfd >= 0)
        close(w->tfd);
    if (w->stopfd >= 0)
        close(w->stopfd);
    free(w->targets);
    json_decref(w->cfg);
}

int fl_px_worker_main(const char *config, int ready_fd)
{
    struct worker w = {.sfd = -1, .tfd = -1, .stopfd = -1};
    struct fl_netns_scope scope;
    struct fl_err e = {0};
    int r, port = 0;

    signal(SIGPIPE, SIG_IGN);
    /* started as /proc/self/exe: name it for ps and `nft list` (# progname) */
    prctl(PR_SET_NAME, "faultline-proxy");
    if ((r = parse_config(&w, config, &e)) || (r = make_stop_fd(&w, &e)))
        goto fail;
    if ((r = fl_netns_from_json(json_object_get(w.cfg, "scope"), &scope, &e)))
        goto fail;
    if ((r = fl_netns_enter(&scope, &w.ns, &e)))
        goto fail;
    w.in_ns = true;
    if ((port = start_proxy(&w, &e)) < 0) {
        r = port;
        goto fail;
    }
    if ((r = fl_px_intercept_redirect(&w.ic, w.table, w.targets, w.ntargets, port,
                                      json_is_true(json_object_get(w.cfg, "prerouting")), &e)))
        goto fail;
    report(ready_fd, "ok %d\n", port);
    if (ready_fd >= 0)
        close(ready_fd);
    ready_fd = -1;
    r = fl_px_server_run(w.srv, w.stopfd, &e);
    if (r)
        fl_error("proxy worker %s: %s", w.id, e.msg);
    teardown(&w);
    return r ? FL_EFAIL : 0;
fail:
    report(ready_fd, "error %d %s\n", e.code ? e.code : FL_EFAIL, e.msg);
    teardown(&w);
    return e.code ? e.code : FL_EFAIL;
}
