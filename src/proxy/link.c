/* The link data path: one TCP link (client side, upstream side) and its two
 * directions, moved by the loop (loop.c) whenever epoll reports readiness.
 *
 * Each side of a link remembers the readiness epoll reported and not yet
 * consumed (rd/wr); fl_px_link_pump() moves as many bytes as it can in both
 * directions and clears a flag only when the kernel says EAGAIN, so no
 * readiness is lost and no epoll_ctl is needed per transfer. Back-pressure
 * falls out of it: a direction stops reading when its pipe or ring is full
 * and resumes when the writer drained some (EPOLLOUT-driven), leaving the
 * rest in the kernel's socket buffer and TCP window.
 *
 * Links closed while a batch of events is being handled go to a graveyard
 * (fl_px_link_abort) and are freed by the loop after the batch, so later
 * events in the batch never touch freed memory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy/http.h"
#include "proxy/http_link.h"
#include "proxy/link.h"
#include "proxy/px.h"
#include "util/log.h"

int fl_px_segs_push(struct fl_px_segs *s, uint32_t len, int64_t at)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct fl_px_seg *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].len = len;
    s->v[s->n].at = at;
    s->n++;
    return 0;
}

void fl_px_segs_swap(struct fl_px_segs *a, struct fl_px_segs *b)
{
    struct fl_px_segs t = *a;
    *a = *b;
    *b = t;
}

static struct fl_px_server *server_of(struct fl_px_link *l)
{
    return l->px->srv;
}

void fl_px_tinst_arm(struct fl_px_tinst *ti, int64_t delay_ns)
{
    fl_px_heap_arm(&server_of(ti->link)->heap, &ti->timer, fl_px_sat_add(fl_px_now(), delay_ns));
}

static void tinst_fire(struct fl_px_timer *t)
{
    struct fl_px_tinst *ti = t->arg;
    struct fl_px_link *l = ti->link;

    if (!l->dead && ti->toxic->ops->timer)
        ti->toxic->ops->timer(ti);
    if (!l->dead)
        fl_px_link_pump(l);
}

static void tinst_free(struct fl_px_server *s, struct fl_px_tinst *ti)
{
    if (!ti)
        return;
    fl_px_heap_cancel(&s->heap, &ti->timer);
    free(ti->state);
    free(ti);
}

/* Position of toxic t in its proxy's list: the order of every chain. */
static size_t toxic_rank(const struct fl_px_proxy *p, const struct fl_px_toxic *t)
{
    for (size_t i = 0; i < p->ntoxics; i++)
        if (p->toxics[i] == t)
            return i;
    return p->ntoxics;
}

/* Draw the toxicity for toxic t on link l and, if it applies, insert an
 * instance in the proxy's order into the chain of t's direction. `state`
 * (owned, may be NULL) is the instance's state carried over from before
 * an update; NULL starts from zero. */
static void tinst_add(struct fl_px_link *l, struct fl_px_toxic *t, void *state)
{
    struct fl_px_dir *d = &l->d[t->stream];
    struct fl_px_tinst *ti, **v;
    size_t pos, rank;

    if (!(t->toxicity >= 1.0 || fl_px_rand() < t->toxicity)) {
        free(state);
        return;
    }
    ti = calloc(1, sizeof *ti);
    v = realloc(d->ti, (d->nti + 1) * sizeof *v);
    if (v)
        d->ti = v;
    if (t->ops->state_size && ti && !state)
        state = calloc(1, t->ops->state_size);
    if (!ti || !v || (t->ops->state_size && !state)) {
        free(ti);
        free(state);
        fl_warn("proxy %s: out of memory adding toxic %s to a link", l->px->name, t->name);
        return;
    }
    ti->toxic = t;
    ti->link = l;
    ti->dir = t->stream;
    ti->state = state;
    fl_px_timer_init(&ti->timer, tinst_fire, ti);
    rank = toxic_rank(l->px, t);
    for (pos = d->nti; pos > 0 && toxic_rank(l->px, d->ti[pos - 1]->toxic) > rank; pos--)
        ;
    memmove(d->ti + pos + 1, d->ti + pos, (d->nti - pos) * sizeof *d->ti);
    d->ti[pos] = ti;
    d->nti++;
    if (t->ops->touches_data)
        d->data_toxics++;
    if (t->ops->start)
        t->ops->start(ti);
}

/* Take toxic t's instance out of direction d; with `keep`, its state is
 * handed over instead of freed. */
static void tinst_drop(struct fl_px_server *s, struct fl_px_dir *d, const struct fl_px_toxic *t,
                       void **keep)
{
    size_t k = 0;

    for (size_t i = 0; i < d->nti; i++) {
        if (d->ti[i]->toxic != t) {
            d->ti[k++] = d->ti[i];
            continue;
        }
        if (t->ops->touches_data)
            d->data_toxics--;
        if (keep) {
            *keep = d->ti[i]->state;
            d->ti[i]->state = NULL;
        }
        tinst_free(s, d->ti[i]);
    }
    d->nti = k;
    if (t->ops->eof_delay && d->fin_wait) {
        /* The FIN it held: the remaining toxics decide anew (dir_finish). */
        fl_px_heap_cancel(&s->heap, &d->timer);
        d->fin_wait = false;
    }
}

static void close_fd_rst(int fd, bool rst)
{
    if (fd < 0)
        return;
    if (rst) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
}

void fl_px_link_abort(struct fl_px_link *l, bool rst)
{
    struct fl_px_server *s = server_of(l);
    struct fl_px_proxy *p = l->px;

    if (l->dead)
        return;
    l->dead = true;
    close_fd_rst(l->cli.fd, rst);
    close_fd_rst(l->srv.fd, rst);
    l->cli.fd = l->srv.fd = -1;
    for (int i = 0; i < 2; i++) {
        struct fl_px_dir *d = &l->d[i];
        fl_px_heap_cancel(&s->heap, &d->timer);
        for (size_t k = 0; k < d->nti; k++)
            fl_px_heap_cancel(&s->heap, &d->ti[k]->timer);
    }
    if (l->prev)
        l->prev->next = l->next;
    else
        p->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    p->conns_active--;
    l->next = s->grave;
    l->prev = NULL;
    s->grave = l;
}

/* Give direction d a splice pipe: a spare one from the server's pool, or a
 * new one of FL_PX_PIPE_CAP bytes (or what the kernel grants: an
 * unprivileged user over /proc/sys/fs/pipe-user-pages-soft gets less). */
static int pipe_get(struct fl_px_server *s, struct fl_px_dir *d)
{
    int cap;

    if (s->npipes) {
        struct fl_px_pipe *p = &s->pipes[--s->npipes];
        d->pipe[0] = p->fd[0];
        d->pipe[1] = p->fd[1];
        d->pipe_cap = p->cap;
        return 0;
    }
    if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC)) {
        d->pipe[0] = d->pipe[1] = -1;
        return -1;
    }
    fcntl(d->pipe[0], F_SETPIPE_SZ, FL_PX_PIPE_CAP);
    cap = fcntl(d->pipe[0], F_GETPIPE_SZ);
    d->pipe_cap = cap > 0 ? (size_t)cap : 65536;
    return 0;
}

/* Take d's pipe away: back to the pool when it is empty and the pool has
 * room, else closed (a non-empty pipe's bytes are dropped with it). */
static void pipe_put(struct fl_px_server *s, struct fl_px_dir *d)
{
    if (d->pipe[0] < 0)
        return;
    if (!d->piped && s->npipes < FL_PX_PIPE_POOL && !s->stopping) {
        struct fl_px_pipe *p = &s->pipes[s->npipes++];
        p->fd[0] = d->pipe[0];
        p->fd[1] = d->pipe[1];
        p->cap = d->pipe_cap;
    } else {
        close(d->pipe[0]);
        close(d->pipe[1]);
    }
    d->pipe[0] = d->pipe[1] = -1;
    d->piped = 0;
}

void fl_px_link_free(struct fl_px_server *s, struct fl_px_link *l)
{
    for (int i = 0; i < 2; i++) {
        struct fl_px_dir *d = &l->d[i];
        pipe_put(s, d);
        free(d->ring);
        free(d->q);
        for (size_t k = 0; k < d->nti; k++)
            tinst_free(s, d->ti[k]);
        free(d->ti);
    }
    fl_http_conn_free(l->http);
    free(l);
}

static void dir_timer_fire(struct fl_px_timer *t)
{
    struct fl_px_link *l = t->arg;
    if (!l->dead)
        fl_px_link_pump(l);
}

/* Write queued bytes to dst: the pipe first (it always holds older bytes
 * than the ring), then every due segment. Returns true on progress. */
static bool dir_flush(struct fl_px_link *l, struct fl_px_dir *d, int64_t *now)
{
    bool progress = false;

    if (!l->connected || d->shut)
        return false;
    while (d->piped && d->dst->wr) {
        ssize_t n =
            splice(d->pipe[0], NULL, d->dst->fd, NULL, d->piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            /* A short write means the socket's send buffer is full: the next
             * EPOLLOUT edge says when to go on, no need to hit EAGAIN. */
            if ((size_t)n < d->piped)
                d->dst->wr = false;
            d->piped -= (size_t)n;
            l->px->bytes[d == &l->d[1]] += (uint64_t)n;
            progress = true;
        } else if (n < 0 && errno == EAGAIN) {
            d->dst->wr = false;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            fl_px_link_abort(l, false);
            return false;
        }
    }
    if (d->piped)
        return progress;
    if (d->pipe[0] >= 0 && (!d->bulk || d->data_toxics)) {
        /* The burst is over, or a data-touching toxic now reads into the
         * ring: do not hold the pipe. */
        d->bulk = false;
        pipe_put(l->px->srv, d);
    }
    while (d->qn && d->dst->wr) {
        struct fl_px_seg *sg = &d->q[d->qh];
        struct iovec iov[2];
        int niov = 1;
        ssize_t n;

        if (sg->at > *now) {
            *now = fl_px_now();
            if (sg->at > *now) {
                fl_px_heap_arm(&l->px->srv->heap, &d->timer, sg->at);
                break;
            }
        }
        if (sg->len == 0) {
            d->qh++, d->qn--;
            continue;
        }
        iov[0].iov_base = d->ring + d->head;
        iov[0].iov_len = sg->len;
        if (d->head + sg->len > FL_PX_BUF_CAP) {
            iov[0].iov_len = FL_PX_BUF_CAP - d->head;
            iov[1].iov_base = d->ring;
            iov[1].iov_len = sg->len - iov[0].iov_len;
            niov = 2;
        }
        n = writev(d->dst->fd, iov, niov);
        if (n > 0) {
            sg->len -= (uint32_t)n;
            d->head = (d->head + (size_t)n) % FL_PX_BUF_CAP;
            d->len -= (size_t)n;
            l->px->bytes[d == &l->d[1]] += (uint64_t)n;
            progress = true;
            if (!sg->len)
                d->qh++, d->qn--;
        } else if (n < 0 && errno == EAGAIN) {
            d->dst->wr = false;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            fl_px_link_abort(l, false);
            return false;
        }
    }
    if (!d->qn) {
        d->qh = 0;
        if (!d->len) {
            free(d->ring);
            d->ring = NULL;
            d->head = 0;
        }
    }
    return progress;
}

/* Run the fresh bytes of one read through the direction's toxics and queue
 * what they keep. Returns the number of bytes kept. */
static size_t dir_toxify(struct fl_px_link *l, struct fl_px_dir *d, size_t n, int64_t now)
{
    struct fl_px_segs s = {0};
    size_t kept = 0;

    s.now = now;
    if (fl_px_segs_push(&s, (uint32_t)n, now) < 0) {
        fl_px_link_abort(l, false);
        return 0;
    }
    for (size_t i = 0; i < d->nti; i++)
        if (d->ti[i]->toxic->ops->data)
            d->ti[i]->toxic->ops->data(d->ti[i], &s);
    if (d->qh && d->qh + d->qn + s.n > d->qcap) {
        memmove(d->q, d->q + d->qh, d->qn * sizeof *d->q);
        d->qh = 0;
    }
    if (d->qh + d->qn + s.n > d->qcap) {
        size_t cap = d->qcap ? d->qcap : 8;
        while (cap < d->qh + d->qn + s.n)
            cap *= 2;
        struct fl_px_seg *q = realloc(d->q, cap * sizeof *q);
        if (!q) {
            free(s.v);
            fl_px_link_abort(l, false);
            return 0;
        }
        d->q = q;
        d->qcap = cap;
    }
    for (size_t i = 0; i < s.n; i++) {
        struct fl_px_seg sg = s.v[i];
        if (sg.at < d->last_at)
            sg.at = d->last_at;
        d->last_at = sg.at;
        kept += sg.len;
        d->q[d->qh + d->qn++] = sg;
    }
    if (s.close) {
        d->close_after = true;
        d->eof = true;
    }
    free(s.v);
    return kept;
}

/* Keep bytes the destination did not take (a short write on the fast path)
 * as one segment due now; the ring is empty when this is called. */
static int stash(struct fl_px_link *l, struct fl_px_dir *d, const char *p, size_t n, int64_t *now)
{
    size_t tail, first;

    if (!d->ring && !(d->ring = malloc(FL_PX_BUF_CAP))) {
        fl_px_link_abort(l, false);
        return -1;
    }
    d->dst->wr = false;
    tail = (d->head + d->len) % FL_PX_BUF_CAP;
    first = n < FL_PX_BUF_CAP - tail ? n : FL_PX_BUF_CAP - tail;
    memcpy(d->ring + tail, p, first);
    memcpy(d->ring, p + first, n - first);
    *now = fl_px_now();
    d->len += dir_toxify(l, d, n, *now);
    return l->dead ? -1 : 0;
}

/* Read what src has and the direction can hold. Returns true on progress. */
static bool dir_read(struct fl_px_link *l, struct fl_px_dir *d, int64_t *now)
{
    bool progress = false;

    while (!d->eof && d->src->rd && !l->dead) {
        ssize_t n;

        if (!d->data_toxics && !d->qn && !d->len && !d->piped && !d->bulk && l->connected &&
            d->dst->wr && !d->shut) {
            /* Small-read fast path: read() then write() through a scratch
             * buffer costs two syscalls per message where splice() needs
             * three (in, out, and an EAGAIN that is ambiguous with a full
             * pipe), and a short read() reliably means "drained". A read
             * that fills the buffer switches the direction to splice(). */
            char *buf = l->px->srv->scratch;
            n = read(d->src->fd, buf, sizeof l->px->srv->scratch);
            if (n > 0) {
                ssize_t w;
                if ((size_t)n == sizeof l->px->srv->scratch)
                    d->bulk = true;
                else if (!d->src->rdhup)
                    d->src->rd = false;
                w = write(d->dst->fd, buf, (size_t)n);
                if (w < 0 && (errno == EAGAIN || errno == EINTR))
                    w = 0;
                if (w < 0) {
                    fl_px_link_abort(l, false);
                    return false;
                }
                l->px->bytes[d == &l->d[1]] += (uint64_t)w;
                if (w < n && stash(l, d, buf + w, (size_t)(n - w), now) < 0)
                    return false;
                progress = true;
                continue;
            }
        } else if (!d->data_toxics && !d->qn && !d->len) {
            if (d->pipe[0] < 0 && pipe_get(l->px->srv, d)) {
                fl_warn("proxy %s: pipe: %s", l->px->name, strerror(errno));
                fl_px_link_abort(l, false);
                return false;
            }
            if (d->piped >= d->pipe_cap)
                break;
            n = splice(d->src->fd, NULL, d->pipe[1], NULL, d->pipe_cap - d->piped,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                d->piped += (size_t)n;
                progress = true;
                continue;
            }
            /* EAGAIN with bytes in the pipe may mean the pipe ran out of
             * slots, not that the socket is empty: keep rd and retry after
             * the writer drained the pipe. */
            if (n < 0 && errno == EAGAIN && d->piped)
                break;
            d->bulk = false;
            if (!d->piped)
                pipe_put(l->px->srv, d); /* drained: the next burst takes one again */
        } else {
            struct iovec iov[2];
            int niov = 1;
            size_t tail, space = FL_PX_BUF_CAP - d->len;

            if (!space)
                break;
            if (!d->ring && !(d->ring = malloc(FL_PX_BUF_CAP))) {
                fl_px_link_abort(l, false);
                return false;
            }
            tail = (d->head + d->len) % FL_PX_BUF_CAP;
            iov[0].iov_base = d->ring + tail;
            iov[0].iov_len = tail + space > FL_PX_BUF_CAP ? FL_PX_BUF_CAP - tail : space;
            if (iov[0].iov_len < space) {
                iov[1].iov_base = d->ring;
                iov[1].iov_len = space - iov[0].iov_len;
                niov = 2;
            }
            n = readv(d->src->fd, iov, niov);
            if (n > 0) {
                if ((size_t)n < space && !d->src->rdhup)
                    d->src->rd = false;
                *now = fl_px_now();
                d->len += dir_toxify(l, d, (size_t)n, *now);
                progress = true;
                continue;
            }
        }
        if (n == 0) {
            d->eof = true;
            progress = true;
        } else if (errno == EAGAIN) {
            d->src->rd = false;
        } else if (errno != EINTR) {
            fl_px_link_abort(l, false);
            return false;
        }
    }
    return progress;
}

/* Pass an EOF on once everything before it was delivered. */
static void dir_finish(struct fl_px_link *l, struct fl_px_dir *d)
{
    int64_t delay = 0;

    if (!d->eof || d->shut || d->piped || d->qn || !l->connected)
        return;
    if (d->close_after) {
        fl_px_link_abort(l, false);
        return;
    }
    if (!d->fin_wait) {
        for (size_t i = 0; i < d->nti; i++)
            if (d->ti[i]->toxic->ops->eof_delay)
                delay = fl_px_sat_add(delay, d->ti[i]->toxic->ops->eof_delay(d->ti[i]));
        if (delay > 0) {
            d->fin_wait = true;
            fl_px_heap_arm(&l->px->srv->heap, &d->timer, fl_px_sat_add(fl_px_now(), delay));
            return;
        }
    } else if (fl_px_timer_armed(&d->timer)) {
        return;
    }
    shutdown(d->dst->fd, SHUT_WR);
    d->shut = true;
    if (l->d[0].shut && l->d[1].shut)
        fl_px_link_abort(l, false);
}

void fl_px_link_pump(struct fl_px_link *l)
{
    int64_t now = fl_px_now();
    bool progress = true;

    if (l->http) {
        fl_px_http_pump(l);
        return;
    }
    for (int rounds = 0; progress && !l->dead; rounds++) {
        if (rounds == 16) {
            /* Be fair to other links: finish in the next loop iteration. */
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
            progress |= dir_flush(l, d, &now);
            if (!l->dead)
                progress |= dir_read(l, d, &now);
            if (!l->dead)
                progress |= dir_flush(l, d, &now);
            if (!l->dead)
                dir_finish(l, d);
        }
    }
}

static int set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Transparent mode: where the client meant to go before a `redirect` rule
 * sent it here (the conntrack entry's original destination). Fails for a
 * connection that was not redirected. */
static int original_dst(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_storage me;
    socklen_t ml = sizeof me;

    if (getsockname(fd, (struct sockaddr *)&me, &ml))
        return -1;
    memset(ss, 0, sizeof *ss);
    if (me.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&me)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            /* an IPv4 client on a dual-stack listener: IPv4 conntrack */
            *len = sizeof(struct sockaddr_in);
            return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ss, len);
        }
        *len = sizeof(struct sockaddr_in6);
        return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, ss, len);
    }
    *len = sizeof(struct sockaddr_in);
    return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ss, len);
}

/* True when dst is the address the connection arrived on: a client that
 * connected to the listener directly would otherwise make the proxy
 * connect to itself. */
static bool same_endpoint(int fd, const struct sockaddr_storage *dst)
{
    struct sockaddr_storage me;
    socklen_t ml = sizeof me;

    if (getsockname(fd, (struct sockaddr *)&me, &ml) || me.ss_family != dst->ss_family)
        return false;
    if (me.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&me, *b = (const void *)dst;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *a = (const void *)&me, *b = (const void *)dst;
    return a->sin6_port == b->sin6_port && !memcmp(&a->sin6_addr, &b->sin6_addr, 16);
}

/* "127.0.0.1:40312": the client of fd, for log lines. */
static const char *peer_name(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getpeername(fd, (struct sockaddr *)&ss, &len))
        snprintf(buf, cap, "?");
    else
        fl_px_addr_format(&ss, buf, cap);
    return buf;
}

void fl_px_link_new(struct fl_px_proxy *p, int cfd)
{
    struct fl_px_server *s = p->srv;
    struct fl_px_link *l = calloc(1, sizeof *l);
    struct sockaddr_storage tdst;
    socklen_t tlen = 0;
    const struct sockaddr_storage *up = &p->up;
    socklen_t uplen = p->uplen;
    struct epoll_event ev;
    int sfd;

    if (l && p->transparent) {
        if (original_dst(cfd, &tdst, &tlen) || same_endpoint(cfd, &tdst)) {
            fl_debug("proxy %s: a connection without an original destination (not "
                     "redirected): closed",
                     p->name);
            uplen = 0;
        } else {
            up = &tdst;
            uplen = tlen;
        }
    }
    if (l && !uplen && p->uperr[0]) {
        char peer[80];
        fl_warn("proxy %s: client %s: %s; connection closed", p->name,
                peer_name(cfd, peer, sizeof peer), p->uperr);
    }
    if (!l || !uplen) {
        free(l);
        close(cfd);
        return;
    }
    sfd = socket(up->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sfd < 0) {
        fl_warn("proxy %s: socket: %s", p->name, strerror(errno));
        free(l);
        close(cfd);
        return;
    }
    if (p->transparent) {
        unsigned mark = FL_PX_MARK;
        if (setsockopt(sfd, SOL_SOCKET, SO_MARK, &mark, sizeof mark)) {
            /* Unmarked, the connection would be redirected into the proxy again. */
            fl_warn("proxy %s: cannot mark the upstream socket (SO_MARK needs "
                    "CAP_NET_ADMIN): %s",
                    p->name, strerror(errno));
            close(sfd);
            close(cfd);
            free(l);
            return;
        }
    }
    set_nodelay(cfd);
    set_nodelay(sfd);
    if (connect(sfd, (const struct sockaddr *)up, uplen) && errno != EINPROGRESS) {
        char peer[80], to[80];
        fl_px_addr_format(up, to, sizeof to);
        fl_warn("proxy %s: client %s: cannot connect to upstream %s (%s): %s; connection closed",
                p->name, peer_name(cfd, peer, sizeof peer), p->upstream, to, strerror(errno));
        close(sfd);
        close(cfd);
        free(l);
        return;
    }
    l->px = p;
    l->cli = (struct fl_px_side){.ev = {FL_PX_SIDE}, .fd = cfd, .link = l};
    l->srv = (struct fl_px_side){.ev = {FL_PX_SIDE}, .fd = sfd, .link = l};
    for (int i = 0; i < 2; i++) {
        struct fl_px_dir *d = &l->d[i];
        d->src = i ? &l->srv : &l->cli;
        d->dst = i ? &l->cli : &l->srv;
        d->pipe[0] = d->pipe[1] = -1;
        fl_px_timer_init(&d->timer, dir_timer_fire, l);
    }
    if (fl_px_http_wanted(p) && !(l->http = fl_http_conn_new())) {
        fl_warn("proxy %s: out of memory for the HTTP engine; connection closed", p->name);
        close(sfd);
        close(cfd);
        free(l);
        return;
    }
    l->next = p->links;
    if (p->links)
        p->links->prev = l;
    p->links = l;
    p->conns_total++;
    p->conns_active++;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &l->cli;
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, cfd, &ev);
    ev.data.ptr = &l->srv;
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, sfd, &ev);
    for (size_t i = 0; i < p->ntoxics && !l->dead; i++)
        tinst_add(l, p->toxics[i], NULL);
}

void fl_px_link_event(struct fl_px_side *sd, uint32_t events)
{
    struct fl_px_link *l = sd->link;

    if (l->dead)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        sd->rd = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        sd->rdhup = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        sd->wr = true;
    if (sd == &l->srv && !l->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(sd->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            char peer[80];
            fl_warn("proxy %s: client %s: cannot connect to upstream %s: %s; connection closed",
                    l->px->name, peer_name(l->cli.fd, peer, sizeof peer), l->px->upstream,
                    strerror(err));
            fl_px_link_abort(l, false);
            return;
        }
        l->connected = true;
    }
    fl_px_link_pump(l);
}

void fl_px_links_toxic_added(struct fl_px_proxy *p, struct fl_px_toxic *t)
{
    for (struct fl_px_link *l = p->links; l; l = l->next) {
        tinst_add(l, t, NULL);
    }
    for (struct fl_px_link *l = p->links, *n; l; l = n) {
        n = l->next;
        fl_px_link_pump(l);
    }
}

void fl_px_links_toxic_removed(struct fl_px_proxy *p, struct fl_px_toxic *t)
{
    for (struct fl_px_link *l = p->links; l; l = l->next)
        tinst_drop(p->srv, &l->d[t->stream], t, NULL);
    /* pumping happens after the caller freed t: see fl_px_links_pump */
}

void fl_px_links_toxic_updated(struct fl_px_proxy *p, struct fl_px_toxic *t)
{
    for (struct fl_px_link *l = p->links; l; l = l->next) {
        void *state = NULL;
        tinst_drop(p->srv, &l->d[t->stream], t, t->ops->keep_state ? &state : NULL);
        tinst_add(l, t, state);
    }
    fl_px_links_pump(p);
}

void fl_px_links_pump(struct fl_px_proxy *p)
{
    for (struct fl_px_link *l = p->links, *n; l; l = n) {
        n = l->next;
        fl_px_link_pump(l);
    }
}
