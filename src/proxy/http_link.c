/* The sockets of a link that the HTTP engine (http.h) drives: reads each
 * side into the engine, writes what it queued when its time has come, and
 * passes EOFs on. It replaces link.c's pump for that link (link.c calls
 * fl_px_http_pump); a link is driven this way when the proxy had an http
 * toxic when the connection was accepted. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/http.h"
#include "proxy/http_link.h"
#include "proxy/px.h"
#include "util/log.h"

#define MAX_RULES 64

bool fl_px_http_wanted(const struct fl_px_proxy *p)
{
    for (size_t i = 0; i < p->ntoxics; i++)
        if (p->toxics[i]->ops->http)
            return true;
    return false;
}

/* The proxy's http rules now: toxics added or changed apply to the next request. */
static size_t gather(const struct fl_px_proxy *p, struct fl_http_active *v)
{
    size_t n = 0;

    for (size_t i = 0; i < p->ntoxics && n < MAX_RULES; i++)
        if (p->toxics[i]->ops->http && p->toxics[i]->cfg)
            v[n++] = (struct fl_http_active){p->toxics[i]->cfg, p->toxics[i]->toxicity};
    return n;
}

static bool http_read(struct fl_px_link *l, int dir, int64_t *now)
{
    struct fl_px_side *src = dir ? &l->srv : &l->cli;
    struct fl_px_dir *d = &l->d[dir];
    char *buf = l->px->srv->scratch;
    bool progress = false;

    while (!d->eof && src->rd && !l->dead) {
        size_t space = fl_http_conn_space(l->http, dir);
        struct fl_http_active rules[MAX_RULES];
        ssize_t n;
        int r;

        if (!space)
            break;
        if (space > sizeof l->px->srv->scratch)
            space = sizeof l->px->srv->scratch;
        n = read(src->fd, buf, space);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            src->rd = false;
            break;
        }
        if (n < 0) {
            fl_px_link_abort(l, false);
            return false;
        }
        *now = fl_px_now();
        if (n == 0) {
            d->eof = true;
            r = fl_http_conn_eof(l->http, dir, *now);
        } else {
            r = fl_http_conn_feed(l->http, dir, buf, (size_t)n, *now, rules, gather(l->px, rules),
                                  fl_px_rand);
        }
        if (r) {
            fl_warn("proxy %s: out of memory in the HTTP engine; connection closed", l->px->name);
            fl_px_link_abort(l, false);
            return false;
        }
        progress = true;
    }
    return progress;
}

/* Write the due segments of the queue towards side `to`. */
static bool http_flush(struct fl_px_link *l, int to, int64_t *now)
{
    struct fl_http_out *o = fl_http_conn_out(l->http, to);
    struct fl_px_side *dst = to ? &l->cli : &l->srv;
    struct fl_px_dir *d = &l->d[to];
    bool progress = false;

    if (!l->connected || d->shut)
        return false;
    while (o->sn && dst->wr) {
        struct fl_http_seg *sg = &o->seg[o->sh];
        ssize_t n;
        if (sg->at > *now && (*now = fl_px_now()) < sg->at) {
            fl_px_heap_arm(&l->px->srv->heap, &d->timer, sg->at);
            break;
        }
        n = write(dst->fd, o->buf + o->off, sg->len);
        if (n > 0) {
            fl_http_out_consume(o, (size_t)n);
            l->px->bytes[to] += (uint64_t)n;
            progress = true;
        } else if (n < 0 && errno == EAGAIN) {
            dst->wr = false;
        } else if (!(n < 0 && errno == EINTR)) {
            fl_px_link_abort(l, false);
            return false;
        }
    }
    return progress;
}

void fl_px_http_pump(struct fl_px_link *l)
{
    int64_t now = fl_px_now();
    bool progress = true;

    for (int rounds = 0; progress && !l->dead; rounds++) {
        if (rounds == 16) {
            /* Be fair to other links: the loop's ready list finishes this one. */
            if (!l->ready) {
                l->ready = true;
                l->rnext = l->px->srv->ready;
                l->px->srv->ready = l;
            }
            return;
        }
        progress = false;
        for (int i = 0; i < 2 && !l->dead; i++) {
            struct fl_px_dir *d = &l->d[i];
            progress |= http_read(l, i, &now);
            if (!l->dead)
                progress |= http_flush(l, i, &now);
            if (!l->dead && d->eof && !d->shut && l->connected &&
                !fl_http_conn_out(l->http, i)->len) {
                shutdown(i ? l->cli.fd : l->srv.fd, SHUT_WR);
                d->shut = true;
                if (l->d[0].shut && l->d[1].shut)
                    fl_px_link_abort(l, false);
            }
        }
    }
}
