/* bench-proxy: the TCP data path of `faultline proxy` (no toxics) against a
 * direct connection, socat and haproxy, all on loopback and in one run:
 *   - bulk throughput, one connection, client -> sink
 *   - request/response latency p50/p99, one connection, 64-byte ping-pong
 *   - RSS of faultline with 10,000 concurrent idle links
 * Ratios are printed against the direct baseline measured in the same run.
 * Goals (issue 4): throughput >= 0.9x direct and above socat and haproxy;
 * added p50 <= 25 us; 10k idle links < 64 MiB RSS.
 *
 * usage: bench-proxy [FAULTLINE_BIN] (default: the binary of this build) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BULK_BYTES (512LL * 1024 * 1024)
#define RR_ROUNDS 20000
#define IDLE_LINKS 10000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_on(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a.sin_port = htons((uint16_t)*port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
        perror("bench-proxy: bind");
        exit(1);
    }
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static int free_port(void)
{
    int port = 0, fd = listen_on(&port);
    close(fd);
    return port;
}

static int dial(int port, int tries)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int one = 1;

    for (int i = 0; i < tries; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        if (!connect(fd, (struct sockaddr *)&a, sizeof a)) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        close(fd);
        usleep(20000);
    }
    return -1;
}

/* The backend, in a child process: `sink` reads to EOF then answers one
 * byte; `echo` echoes. One epoll thread, like a typical event-driven server. */
static void backend(int sink, int echo)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN}, evs[256];
    static char buf[1 << 20];

    ev.data.u64 = (uint64_t)sink << 32 | 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, sink, &ev);
    ev.data.u64 = (uint64_t)echo << 32 | 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, echo, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = (int)(evs[i].data.u64 >> 32), kind = (int)(evs[i].data.u64 & 0xff);
            if (kind == 1 || kind == 2) {
                int c = accept(fd, NULL, NULL), one = 1;
                if (c < 0)
                    continue;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                ev.data.u64 = (uint64_t)c << 32 | (kind + 2);
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (kind == 3 && r == 0 && write(fd, "k", 1) != 1)
                    perror("sink");
                close(fd);
            } else if (kind == 4 && write(fd, buf, (size_t)r) != r) {
                close(fd);
            }
        }
    }
}

static double bulk(int port)
{
    static char buf[1 << 20];
    int fd = dial(port, 50);
    long long left = BULK_BYTES;
    double t;
    char k;

    if (fd < 0)
        return 0;
    t = now_s();
    while (left > 0) {
        ssize_t n = write(fd, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf);
        if (n <= 0) {
            close(fd);
            return 0;
        }
        left -= n;
    }
    shutdown(fd, SHUT_WR);
    if (read(fd, &k, 1) != 1) {
        close(fd);
        return 0;
    }
    t = now_s() - t;
    close(fd);
    return BULK_BYTES / t / 1e9 * 8; /* Gbit/s */
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void rr(int port, double *p50, double *p99)
{
    static double lat[RR_ROUNDS];
    char msg[64] = {0}, in[64];
    int fd = dial(port, 50);

    *p50 = *p99 = -1;
    if (fd < 0)
        return;
    for (int i = -1000; i < RR_ROUNDS; i++) {
        double t = now_s();
        size_t got = 0;
        if (write(fd, msg, sizeof msg) != sizeof msg)
            goto out;
        while (got < sizeof in) {
            ssize_t n = read(fd, in, sizeof in - got);
            if (n <= 0)
                goto out;
            got += (size_t)n;
        }
        if (i >= 0)
            lat[i] = (now_s() - t) * 1e6;
    }
    qsort(lat, RR_ROUNDS, sizeof *lat, cmp_d);
    *p50 = lat[RR_ROUNDS / 2];
    *p99 = lat[RR_ROUNDS * 99 / 100];
out:
    close(fd);
}

/* POST a JSON body to faultline's API; returns the response (static). */
static const char *api_post(int api, const char *path, const char *body)
{
    static char resp[8192];
    char req[2048];
    int fd = dial(api, 100), len;
    size_t got = 0;

    if (fd < 0)
        return "";
    len = snprintf(req, sizeof req,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   path, strlen(body), body);
    if (write(fd, req, (size_t)len) != len) {
        close(fd);
        return "";
    }
    for (ssize_t n; got < sizeof resp - 1 && (n = read(fd, resp + got, sizeof resp - 1 - got)) > 0;)
        got += (size_t)n;
    resp[got] = '\0';
    close(fd);
    return resp;
}

static int fl_proxy(int api, const char *name, int upstream)
{
    char body[256];
    const char *r, *l;

    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:%d\"}", name,
             upstream);
    r = api_post(api, "/proxies", body);
    if (!strstr(r, " 201 ") || !(l = strstr(r, "\"listen\":\"127.0.0.1:"))) {
        fprintf(stderr, "bench-proxy: creating proxy %s failed: %s\n", name, r);
        return -1;
    }
    return atoi(l + strlen("\"listen\":\"127.0.0.1:"));
}

static pid_t spawn(char *const argv[], bool quiet)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (quiet) {
            freopen("/dev/null", "w", stdout);
            freopen("/dev/null", "w", stderr);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

struct result {
    const char *name;
    double gbps, p50, p99;
};

/* Measure every path ROUNDS times, interleaved, and keep each path's median:
 * a busy machine then drifts all paths alike instead of whichever ran last. */
#define ROUNDS 3
static void measure_all(struct result *res, int n, const int (*ports)[2])
{
    double g[4][ROUNDS], p50[4][ROUNDS], p99[4][ROUNDS];

    for (int k = 0; k < ROUNDS; k++)
        for (int i = 0; i < n; i++) {
            if (ports[i][0] < 0) {
                g[i][k] = p50[i][k] = p99[i][k] = -1;
                continue;
            }
            g[i][k] = bulk(ports[i][0]);
            rr(ports[i][1], &p50[i][k], &p99[i][k]);
        }
    for (int i = 0; i < n; i++) {
        qsort(g[i], ROUNDS, sizeof(double), cmp_d);
        qsort(p50[i], ROUNDS, sizeof(double), cmp_d);
        qsort(p99[i], ROUNDS, sizeof(double), cmp_d);
        res[i].gbps = g[i][ROUNDS / 2];
        res[i].p50 = p50[i][ROUNDS / 2];
        res[i].p99 = p99[i][ROUNDS / 2];
    }
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : FL_BIN;
    struct rlimit rl = {IDLE_LINKS * 3 + 1000, IDLE_LINKS * 3 + 1000};
    int sink_port = 0, echo_port = 0, sink, echo;
    struct result res[4] = {
        {"direct", 0, 0, 0}, {"faultline", 0, 0, 0}, {"socat", 0, 0, 0}, {"haproxy", 0, 0, 0}};
    pid_t be, fl, so1, so2, hp = -1;
    char apiarg[64], cfg[] = "/tmp/bench-proxy-haproxy-XXXXXX";
    int api, fs, fe, ss, se, hs, he;
    long rss0, rss1;
    bool have_haproxy = !system("command -v haproxy >/dev/null 2>&1");
    bool have_socat = !system("command -v socat >/dev/null 2>&1");

    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    sink = listen_on(&sink_port);
    echo = listen_on(&echo_port);
    if ((be = fork()) == 0)
        backend(sink, echo);
    close(sink);
    close(echo);

    /* faultline */
    api = free_port();
    snprintf(apiarg, sizeof apiarg, "127.0.0.1:%d", api);
    fl = spawn((char *[]){(char *)bin, "proxy", "--listen", apiarg, "--state", "", NULL}, true);
    fs = fl_proxy(api, "sink", sink_port);
    fe = fl_proxy(api, "echo", echo_port);
    if (fs < 0 || fe < 0) {
        stop(fl);
        stop(be);
        return 1;
    }
    /* socat: one process per connection (fork), as usually run */
    ss = free_port();
    se = free_port();
    {
        char l1[64], u1[64], l2[64], u2[64];
        snprintf(l1, sizeof l1, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay", ss);
        snprintf(u1, sizeof u1, "TCP:127.0.0.1:%d,nodelay", sink_port);
        snprintf(l2, sizeof l2, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay", se);
        snprintf(u2, sizeof u2, "TCP:127.0.0.1:%d,nodelay", echo_port);
        so1 = have_socat ? spawn((char *[]){"socat", l1, u1, NULL}, true) : -1;
        so2 = have_socat ? spawn((char *[]){"socat", l2, u2, NULL}, true) : -1;
    }
    /* haproxy: mode tcp, defaults otherwise */
    hs = free_port();
    he = free_port();
    if (have_haproxy) {
        int fd = mkstemp(cfg);
        FILE *f = fdopen(fd, "w");
        fprintf(f,
                "global\n  maxconn 4000\n"
                "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 300s\n"
                "  timeout server 300s\n"
                "listen sink\n  bind 127.0.0.1:%d\n  server s 127.0.0.1:%d\n"
                "listen echo\n  bind 127.0.0.1:%d\n  server e 127.0.0.1:%d\n",
                hs, sink_port, he, echo_port);
        fclose(f);
        hp = spawn((char *[]){"haproxy", "-db", "-f", cfg, NULL}, true);
    }

    printf("bench-proxy: loopback, no toxics; per path, median of %d interleaved rounds of "
           "bulk %lld MiB and %d x 64-byte request/response\n",
           ROUNDS, BULK_BYTES >> 20, RR_ROUNDS);
    {
        const int ports[4][2] = {{sink_port, echo_port},
                                 {fs, fe},
                                 {have_socat ? ss : -1, se},
                                 {have_haproxy ? hs : -1, he}};
        measure_all(res, 4, ports);
    }
    printf("%-10s %10s %8s %10s %10s %12s\n", "path", "Gbit/s", "x direct", "p50 us", "p99 us",
           "added p50 us");
    for (int i = 0; i < 4; i++) {
        if (res[i].gbps <= 0 && i) {
            printf("%-10s (not available)\n", res[i].name);
            continue;
        }
        printf("%-10s %10.2f %8.2f %10.1f %10.1f %12.1f\n", res[i].name, res[i].gbps,
               res[i].gbps / res[0].gbps, res[i].p50, res[i].p99, res[i].p50 - res[0].p50);
    }

    /* 10k idle links through faultline */
    {
        static int fds[IDLE_LINKS];
        int opened = 0, want = IDLE_LINKS;
        /* The proxy needs two descriptors per link; without the privilege to
         * raise the hard limit, measure as many as fit and extrapolate. */
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)IDLE_LINKS * 2 + 64) {
            want = (int)((rl.rlim_cur - 64) / 2);
            printf("idle: RLIMIT_NOFILE %llu allows %d links, not %d (needs CAP_SYS_RESOURCE)\n",
                   (unsigned long long)rl.rlim_cur, want, IDLE_LINKS);
        }
        rss0 = rss_kib(fl);
        for (; opened < want; opened++)
            if ((fds[opened] = dial(fe, 1)) < 0)
                break;
        sleep(1);
        rss1 = rss_kib(fl);
        /* prove they are live links: one round trip on the last one */
        if (opened) {
            char c = 'x';
            ssize_t w = write(fds[opened - 1], &c, 1), r = read(fds[opened - 1], &c, 1);
            if (w != 1 || r != 1)
                printf("idle: the last link did not echo (write %zd, read %zd: %s)\n", w, r,
                       strerror(errno));
        }
        for (int i = 0; i < opened; i++)
            close(fds[i]);
        printf("idle: %d links through faultline: RSS %.1f MiB (%.1f MiB before, %.0f bytes "
               "per link)\n",
               opened, rss1 / 1024.0, rss0 / 1024.0,
               opened ? (rss1 - rss0) * 1024.0 / opened : 0.0);
        if (opened && opened < IDLE_LINKS) {
            rss1 = rss0 + (long)((double)(rss1 - rss0) * IDLE_LINKS / opened);
            printf("idle: extrapolated to %d links: RSS %.1f MiB\n", IDLE_LINKS, rss1 / 1024.0);
        }
    }

    printf("goals: throughput >= 0.9x direct: %s (%.2fx); above socat: %s; above haproxy: %s; "
           "added p50 <= 25 us: %s (%.1f us); 10k idle < 64 MiB: %s\n",
           res[1].gbps >= 0.9 * res[0].gbps ? "met" : "MISSED", res[1].gbps / res[0].gbps,
           !have_socat                 ? "n/a"
           : res[1].gbps > res[2].gbps ? "met"
                                       : "MISSED",
           !have_haproxy               ? "n/a"
           : res[1].gbps > res[3].gbps ? "met"
                                       : "MISSED",
           res[1].p50 - res[0].p50 <= 25 ? "met" : "MISSED", res[1].p50 - res[0].p50,
           rss1 < 64 * 1024 ? "met" : "MISSED");
    stop(hp);
    stop(so1);
    stop(so2);
    stop(fl);
    stop(be);
    if (have_haproxy)
        unlink(cfg);
    return 0;
}
