/* The responder process of a dns.fault (see fl_dns_worker_main in dns.h):
 * UDP queries are read on the main thread, TCP connections get a thread
 * each, and a query that must wait (a delay, a forward to the real resolver)
 * is finished on a thread of its own, at most MAX_JOBS at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dns/dns.h"
#include "faults/fault.h"
#include "faults/worker.h"
#include "net/netns.h"
#include "net/nft.h"
#include "net/peer.h"
#include "net/redirect.h"
#include "util/log.h"
#include "util/rand.h"
#include "util/time.h"

#define MAX_JOBS 256
#define UPSTREAM_TIMEOUT_MS 4000
#define TCP_IDLE_MS 10000

struct responder {
    struct fl_dns_rules rules;
    struct sockaddr_storage upstream;
    socklen_t upstream_len;
    int udp, tcp;
    _Atomic uint64_t rnd;
    atomic_int jobs;
    atomic_long selected, answered;
};

/* One query waiting on a thread: a UDP query (answered with sendto on the
 * shared socket) or a whole TCP connection. */
struct job {
    struct responder *rs;
    bool tcp;
    int fd; /* the UDP socket, or the TCP connection (owned) */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint8_t msg[FL_DNS_MAX_MSG];
    size_t len;
    struct fl_dns_decision d;
};

static int upstream_socket(struct responder *rs, int type)
{
    int fd = socket(rs->upstream.ss_family, type | SOCK_CLOEXEC, 0);
    unsigned mark = FL_DNS_MARK;

    if (fd < 0)
        return -1;
    /* the redirect lets marked packets pass: this query goes where it was going */
    if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};

    return poll(&p, 1, ms) == 1 && (p.revents & events);
}

static bool read_full(int fd, uint8_t *buf, size_t n, int ms)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r;

        if (!wait_fd(fd, POLLIN, ms))
            return false;
        r = read(fd, buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool write_full(int fd, const uint8_t *buf, size_t n)
{
    while (n) {
        ssize_t r = write(fd, buf, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        buf += r;
        n -= (size_t)r;
    }
    return true;
}

/* Ask the real resolver; the answer goes into out. Returns its length, or
 * -1 (no answer: the client sees a timeout, as it would from that resolver). */
static ssize_t forward(struct responder *rs, bool tcp, const uint8_t *q, size_t len, uint8_t *out,
                       size_t cap)
{
    int fd = upstream_socket(rs, tcp ? SOCK_STREAM : SOCK_DGRAM);
    ssize_t n = -1;
    uint8_t hdr[2];

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&rs->upstream, rs->upstream_len) < 0)
        goto out;
    if (!tcp) {
        if (send(fd, q, len, 0) == (ssize_t)len && wait_fd(fd, POLLIN, UPSTREAM_TIMEOUT_MS))
            n = recv(fd, out, cap, 0);
        goto out;
    }
    hdr[0] = (uint8_t)(len >> 8);
    hdr[1] = (uint8_t)len;
    if (write_full(fd, hdr, 2) && write_full(fd, q, len) &&
        read_full(fd, hdr, 2, UPSTREAM_TIMEOUT_MS)) {
        size_t want = (size_t)hdr[0] << 8 | hdr[1];

        if (want <= cap && read_full(fd, out, want, UPSTREAM_TIMEOUT_MS))
            n = (ssize_t)want;
    }
out:
    close(fd);
    return n;
}

/* The reply to one query per its decision, into out; -1 for none. */
static ssize_t respond(struct responder *rs, bool tcp, const uint8_t *q, size_t len,
                       const struct fl_dns_decision *d, uint8_t *out, size_t cap)
{
    uint8_t *wire = NULL;
    size_t wlen = 0;

    if (d->delay_ms > 0)
        fl_sleep_ms(d->delay_ms);
    if (d->action == FL_DNS_TIMEOUT)
        return -1;
    if (d->action == FL_DNS_FORWARD)
        return forward(rs, tcp, q, len, out, cap);
    if (fl_dns_answer(&rs->rules, d->action, q, len, &wire, &wlen) < 0 || wlen > cap) {
        free(wire);
        return -1;
    }
    memcpy(out, wire, wlen);
    free(wire);
    atomic_fetch_add(&rs->answered, 1);
    return (ssize_t)wlen;
}

static void decide(struct responder *rs, const uint8_t *q, size_t len, struct fl_dns_decision *d)
{
    fl_dns_decide(&rs->rules, q, len, fl_rand_unit(&rs->rnd), d);
    if (d->selected) {
        atomic_fetch_add(&rs->selected, 1);
        fl_debug("dns: %s -> action %d, delay %lldms", d->qname, (int)d->action,
                 (long long)d->delay_ms);
    }
}

static void tcp_conn(struct job *j)
{
    uint8_t hdr[2], out[FL_DNS_MAX_MSG];

    while (read_full(j->fd, hdr, 2, TCP_IDLE_MS)) {
        size_t len = (size_t)hdr[0] << 8 | hdr[1];
        ssize_t n;

        if (!len || len > sizeof j->msg || !read_full(j->fd, j->msg, len, TCP_IDLE_MS))
            break;
        decide(j->rs, j->msg, len, &j->d);
        n = respond(j->rs, true, j->msg, len, &j->d, out, sizeof out);
        if (n < 0)
            continue; /* no answer for this one; the client times it out */
        hdr[0] = (uint8_t)(n >> 8);
        hdr[1] = (uint8_t)n;
        if (!write_full(j->fd, hdr, 2) || !write_full(j->fd, out, (size_t)n))
            break;
    }
    close(j->fd);
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    uint8_t out[FL_DNS_MAX_MSG];

    if (j->tcp) {
        tcp_conn(j);
    } else {
        ssize_t n = respond(j->rs, false, j->msg, j->len, &j->d, out, sizeof out);

        if (n > 0)
            sendto(j->fd, out, (size_t)n, 0, (struct sockaddr *)&j->peer, j->peer_len);
    }
    atomic_fetch_sub(&j->rs->jobs, 1);
    free(j);
    return NULL;
}

/* Run job on a detached thread; when MAX_JOBS run already, it is dropped
 * (a UDP query then times out at the client; a TCP connection is closed). */
static void start_job(struct job *j)
{
    pthread_attr_t a;
    pthread_t t;

    if (atomic_fetch_add(&j->rs->jobs, 1) >= MAX_JOBS) {
        atomic_fetch_sub(&j->rs->jobs, 1);
        goto drop;
    }
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, (size_t)256 * 1024);
    if (pthread_create(&t, &a, job_main, j) == 0) {
        pthread_attr_destroy(&a);
        return;
    }
    pthread_attr_destroy(&a);
    atomic_fetch_sub(&j->rs->jobs, 1);
drop:
    fl_warn("dns: %d queries in flight: dropping one", MAX_JOBS);
    if (j->tcp)
        close(j->fd);
    free(j);
}

static void on_udp(struct responder *rs)
{
    struct job *j = calloc(1, sizeof *j);
    uint8_t out[FL_DNS_MAX_MSG];
    ssize_t n;

    if (!j)
        return;
    j->rs = rs;
    j->fd = rs->udp;
    j->peer_len = sizeof j->peer;
    n = recvfrom(rs->udp, j->msg, sizeof j->msg, MSG_DONTWAIT, (struct sockaddr *)&j->peer,
                 &j->peer_len);
    if (n <= 0) {
        free(j);
        return;
    }
    j->len = (size_t)n;
    decide(rs, j->msg, j->len, &j->d);
    if (j->d.action == FL_DNS_TIMEOUT && j->d.delay_ms <= 0) {
        free(j);
        return;
    }
    /* an immediate answer needs no thread */
    if (j->d.action != FL_DNS_FORWARD && j->d.delay_ms <= 0) {
        n = respond(rs, false, j->msg, j->len, &j->d, out, sizeof out);
        if (n > 0)
            sendto(rs->udp, out, (size_t)n, 0, (struct sockaddr *)&j->peer, j->peer_len);
        free(j);
        return;
    }
    start_job(j);
}

static void on_tcp(struct responder *rs)
{
    int fd = accept4(rs->tcp, NULL, NULL, SOCK_CLOEXEC);
    struct job *j;

    if (fd < 0)
        return;
    if (!(j = calloc(1, sizeof *j))) {
        close(fd);
        return;
    }
    j->rs = rs;
    j->tcp = true;
    j->fd = fd;
    start_job(j);
}

/* One port for both protocols, on the wildcard address (dual-stack when
 * the namespace has IPv6). Returns the port. */
static int listen_both(struct responder *rs, struct fl_err *e)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
        struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = INADDR_ANY};
        struct sockaddr_in6 g6 = {0};
        struct sockaddr_in g4 = {0};
        socklen_t gl;
        int off = 0, on = 1, port;
        bool v6 = true;

        rs->udp = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (rs->udp < 0) {
            v6 = false;
            rs->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        }
        if (rs->udp < 0)
            return fl_err_set(e, FL_EFAIL, "socket: %s", strerror(errno));
        if (v6)
            setsockopt(rs->udp, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if ((v6 ? bind(rs->udp, (struct sockaddr *)&a6, sizeof a6)
                : bind(rs->udp, (struct sockaddr *)&a4, sizeof a4)) < 0 ||
            (gl = v6 ? sizeof g6 : sizeof g4,
             getsockname(rs->udp, v6 ? (struct sockaddr *)&g6 : (struct sockaddr *)&g4, &gl)) < 0)
            return fl_err_set(e, FL_EFAIL, "cannot bind a UDP port: %s", strerror(errno));
        port = ntohs(v6 ? g6.sin6_port : g4.sin_port);
        a6.sin6_port = a4.sin_port = htons((uint16_t)port);
        rs->tcp = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (rs->tcp < 0)
            return fl_err_set(e, FL_EFAIL, "socket: %s", strerror(errno));
        setsockopt(rs->tcp, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (v6)
            setsockopt(rs->tcp, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if ((v6 ? bind(rs->tcp, (struct sockaddr *)&a6, sizeof a6)
                : bind(rs->tcp, (struct sockaddr *)&a4, sizeof a4)) == 0 &&
            listen(rs->tcp, 128) == 0)
            return port;
        close(rs->tcp); /* that TCP port is taken: another pair */
        close(rs->udp);
        rs->tcp = rs->udp = -1;
    }
    return fl_err_set(e, FL_EFAIL, "cannot find a free port for both UDP and TCP");
}

static int parse_upstream(struct responder *rs, const char *s, struct fl_err *e)
{
    struct fl_net_peer p;

    if (!s)
        return fl_err_set(e, FL_EUSAGE, "the responder has no upstream resolver");
    if (fl_net_peer_parse(s, &p, e) < 0)
        return fl_err_prefix(e, "upstream");
    memset(&rs->upstream, 0, sizeof rs->upstream);
    if (p.family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&rs->upstream;

        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, p.addr, 4);
        a->sin_port = htons((uint16_t)(p.port ? p.port : 53));
        rs->upstream_len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&rs->upstream;

        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, p.addr, 16);
        a->sin6_port = htons((uint16_t)(p.port ? p.port : 53));
        rs->upstream_len = sizeof *a;
    }
    return 0;
}

/* The owned redirect table: every UDP and TCP packet to port 53 goes to
 * our port, except ours. The nft context owns it: keep it open. */
static int add_redirect(const char *id, int port, struct fl_nft **n, char *table, size_t tlen,
                        struct fl_err *e)
{
    struct fl_net_peer any[2];
    struct fl_redirect_spec spec = {.targets = any,
                                    .ntargets = 2,
                                    .listen_port = port,
                                    .mark = FL_DNS_MARK,
                                    .owner = true,
                                    .prerouting = true,
                                    .udp = true};
    char *script = NULL;
    int r;

    if ((r = fl_net_peer_parse("0.0.0.0/0", &any[0], e)) < 0 ||
        (r = fl_net_peer_parse("::/0", &any[1], e)) < 0)
        return r;
    any[0].port = any[1].port = 53;
    snprintf(table, tlen, FL_NFT_TABLE_PREFIX "%s", id);
    spec.table = table;
    if ((r = fl_redirect_render(&spec, &script, e)) < 0)
        return r;
    if (!(*n = fl_nft_new(e))) {
        free(script);
        return -e->code;
    }
    r = fl_nft_run(*n, script, e);
    free(script);
    return r < 0 ? fl_err_prefix(e, "cannot add the DNS redirect (table inet %s)", table) : 0;
}

/* Readable when SIGTERM/SIGINT/SIGHUP arrive or the deadline passes. */
static int stop_fds(int64_t deadline_ms, int *sfd, int *tfd, struct fl_err *e)
{
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    *sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    *tfd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    if (*sfd < 0 || *tfd < 0)
        return fl_err_set(e, FL_EFAIL, "signalfd/timerfd: %s", strerror(errno));
    if (deadline_ms > 0) {
        struct itimerspec its = {.it_value = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000}};

        if (timerfd_settime(*tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
            return fl_err_set(e, FL_EFAIL, "timerfd: %s", strerror(errno));
    }
    return 0;
}

static void serve(struct responder *rs, int sfd, int tfd)
{
    for (;;) {
        struct pollfd p[4] = {{.fd = sfd, .events = POLLIN},
                              {.fd = tfd, .events = POLLIN},
                              {.fd = rs->udp, .events = POLLIN},
                              {.fd = rs->tcp, .events = POLLIN}};

        if (poll(p, 4, -1) < 0 && errno != EINTR)
            return;
        if (p[0].revents || p[1].revents)
            return;
        if (p[2].revents & POLLIN)
            on_udp(rs);
        if (p[3].revents & POLLIN)
            on_tcp(rs);
    }
}

int fl_dns_worker_main(const char *config, int ready_fd)
{
    static struct responder rs; /* threads may still run while main returns */
    struct fl_err e = {0};
    struct fl_netns_scope scope;
    struct fl_netns_guard g;
    struct fl_nft *nft = NULL;
    json_t *cfg = json_loads(config, 0, NULL);
    const char *id = json_string_value(json_object_get(cfg, "id"));
    char table[96];
    int port = -1, sfd = -1, tfd = -1;

    rs.udp = rs.tcp = -1;
    prctl(PR_SET_NAME, "faultline-dns");
    if (!cfg || !id || strlen(id) >= FL_FAULT_ID_LEN) {
        fl_err_set(&e, FL_EUSAGE,
                   "the DNS responder's configuration is not valid JSON with an "
                   "id");
        goto fail;
    }
    rs.rnd = (uint64_t)json_integer_value(json_object_get(cfg, "seed"));
    if (fl_dns_rules_from_params(json_object_get(cfg, "params"), &rs.rules, &e) < 0 ||
        parse_upstream(&rs, json_string_value(json_object_get(cfg, "upstream")), &e) < 0 ||
        stop_fds(json_integer_value(json_object_get(cfg, "deadline_ms")), &sfd, &tfd, &e) < 0 ||
        fl_netns_from_json(json_object_get(cfg, "scope"), &scope, &e) < 0 ||
        fl_netns_enter(&scope, &g, &e) < 0)
        goto fail;
    if ((port = listen_both(&rs, &e)) < 0 ||
        add_redirect(id, port, &nft, table, sizeof table, &e) < 0)
        goto fail;
    fl_fault_worker_report(ready_fd, 0, NULL, port);
    close(ready_fd);
    fl_info("dns %s: answering on port %d", id, port);
    serve(&rs, sfd, tfd);
    /* The redirect first, so no query reaches a closing responder. */
    if (fl_nft_delete_table(nft, "inet", table, &e) < 0)
        fl_warn("dns %s: %s (the kernel drops the table when this process exits)", id, e.msg);
    fl_info("dns %s: stopping; %ld queries selected, %ld answered by the fault", id,
            atomic_load(&rs.selected), atomic_load(&rs.answered));
    fl_nft_free(nft);
    json_decref(cfg);
    /* Queries still in flight use the rules: give them a moment, and leave
     * the rules to the exit when they do not finish. */
    for (int i = 0; i < 100 && atomic_load(&rs.jobs); i++)
        fl_sleep_ms(10);
    if (!atomic_load(&rs.jobs))
        fl_dns_rules_fini(&rs.rules);
    return 0;
fail:
    fl_fault_worker_report(ready_fd, e.code ? e.code : FL_EFAIL, e.msg, 0);
    fl_nft_free(nft);
    json_decref(cfg);
    fl_dns_rules_fini(&rs.rules);
    return e.code ? e.code : FL_EFAIL;
}
