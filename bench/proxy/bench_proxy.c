/* bench-proxy: the TCP data path of `faultline proxy` (no toxics) against a
 * direct connection, socat and haproxy (defaults, and tuned with splice), all
 * on loopback and in one run:
 *   - bulk throughput, one connection, client -> sink, with the CPU seconds
 *     per GiB of the proxy and of the whole chain
 *   - request/response latency p50/p99, one connection, 64-byte ping-pong
 *   - RSS of faultline with 10,000 concurrent idle links
 * Each path is measured --rounds times (default 5), interleaved, and the
 * median is printed, with ratios against the direct baseline of the same run.
 * Goals (issue 4): throughput >= 0.9x direct and above socat and haproxy;
 * added p50 <= 25 us; 10k idle links < 64 MiB RSS.
 *
 * usage: bench-proxy [--rounds N] [--only PATH,...] [--no-idle] [--no-rr] [FAULTLINE_BIN]
 * (default binary: the one of this build) */
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

#include "proxy/proxy.h" /* FL_PX_PIPE_CAP, for haproxy-splice's tune.pipesize */

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

static double proc_cpu_s(pid_t pid)
{
    /* utime + stime + cutime + cstime (children a forking proxy reaped) */
    char path[64], buf[1024], *p;
    unsigned long long v[4];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3]) != 4)
        return 0;
    return (double)(v[0] + v[1] + v[2] + v[3]) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { P_DIRECT, P_FAULTLINE, P_SOCAT, P_HAPROXY, P_HAPROXY_SPLICE, NPATH };
#define MAX_ROUNDS 50

struct path {
    const char *name;
    bool on;
    int bulk_port, rr_port;
    pid_t pid; /* the proxy process, for its CPU time; -1 for direct */
    double gbps[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS];
    double cpu_px[MAX_ROUNDS], cpu_all[MAX_ROUNDS]; /* CPU seconds per GiB moved */
    double busy[MAX_ROUNDS];                        /* CPUs the chain kept busy: cpu_all x GiB/s */
    double m_gbps, m_p50, m_p99, m_cpu_px, m_cpu_all, m_busy, min_gbps, max_gbps;
};

/* One bulk transfer with the CPU time the client, the sink and the proxy
 * spent on it. */
static void bulk_round(struct path *p, pid_t be, int k)
{
    double c0 = self_cpu_s(), s0 = proc_cpu_s(be), x0 = p->pid > 0 ? proc_cpu_s(p->pid) : 0;
    double gib = BULK_BYTES / 1073741824.0, px;

    p->gbps[k] = bulk(p->bulk_port);
    /* a forking proxy (socat) accounts its child once it reaped it */
    usleep(p->pid > 0 ? 100000 : 20000);
    px = p->pid > 0 ? proc_cpu_s(p->pid) - x0 : 0;
    p->cpu_px[k] = px / gib;
    p->cpu_all[k] = (self_cpu_s() - c0 + proc_cpu_s(be) - s0 + px) / gib;
    p->busy[k] = p->cpu_all[k] * p->gbps[k] * 1e9 / 8 / 1073741824.0;
}

/* Measure every path `rounds` times, interleaved, and keep each path's
 * median: a busy machine then drifts all paths alike instead of whichever
 * ran last. */
static void measure_all(struct path *ps, int rounds, pid_t be, bool do_rr)
{
    for (int k = 0; k < rounds; k++)
        for (int i = 0; i < NPATH; i++) {
            if (!ps[i].on)
                continue;
            bulk_round(&ps[i], be, k);
            if (do_rr)
                rr(ps[i].rr_port, &ps[i].p50[k], &ps[i].p99[k]);
        }
    for (int i = 0; i < NPATH; i++) {
        struct path *p = &ps[i];
        if (!p->on)
            continue;
        p->m_gbps = median(p->gbps, rounds);
        p->min_gbps = p->gbps[0];
        p->max_gbps = p->gbps[rounds - 1];
        p->m_p50 = median(p->p50, rounds);
        p->m_p99 = median(p->p99, rounds);
        p->m_cpu_px = median(p->cpu_px, rounds);
        p->m_cpu_all = median(p->cpu_all, rounds);
        p->m_busy = median(p->busy, rounds);
    }
}

static void print_load(const char *when)
{
    double la[3] = {-1, -1, -1};
    if (getloadavg(la, 3) < 0)
        la[0] = la[1] = la[2] = -1;
    printf("%s: %ld CPUs online, load average %.2f %.2f %.2f\n", when,
           sysconf(_SC_NPROCESSORS_ONLN), la[0], la[1], la[2]);
}

/* "met"/"MISSED" for faultline above path i, or "n/a" when not measured */
static const char *above(const struct path *ps, int i)
{
    if (!ps[P_FAULTLINE].on || !ps[i].on || ps[i].m_gbps <= 0)
        return "n/a";
    return ps[P_FAULTLINE].m_gbps > ps[i].m_gbps ? "met" : "MISSED";
}

static void print_goals(const struct path *ps, bool do_rr, const char *idle)
{
    const struct path *d = &ps[P_DIRECT], *f = &ps[P_FAULTLINE];
    char ratio[64] = "n/a", lat[64] = "n/a";

    if (f->on && f->m_gbps > 0)
        snprintf(ratio, sizeof ratio, "%s (%.2fx)", f->m_gbps >= 0.9 * d->m_gbps ? "met" : "MISSED",
                 f->m_gbps / d->m_gbps);
    if (f->on && do_rr && f->m_p50 > 0)
        snprintf(lat, sizeof lat, "%s (%.1f us)", f->m_p50 - d->m_p50 <= 25 ? "met" : "MISSED",
                 f->m_p50 - d->m_p50);
    printf("goals: throughput >= 0.9x direct: %s; above socat: %s; above haproxy: %s; above "
           "haproxy-splice: %s; added p50 <= 25 us: %s; 10k idle < 64 MiB: %s\n",
           ratio, above(ps, P_SOCAT), above(ps, P_HAPROXY), above(ps, P_HAPROXY_SPLICE), lat, idle);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-proxy [--rounds N] [--only PATH[,PATH...]] [--no-idle] [--no-rr] "
            "[FAULTLINE_BIN]\n"
            "  PATH: faultline, socat, haproxy, haproxy-splice (direct is always measured)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *bin = FL_BIN, *only = NULL;
    struct rlimit rl = {IDLE_LINKS * 3 + 1000, IDLE_LINKS * 3 + 1000};
    int sink_port = 0, echo_port = 0, sink, echo, rounds = 5;
    struct path ps[NPATH] = {{.name = "direct"},
                             {.name = "faultline"},
                             {.name = "socat"},
                             {.name = "haproxy"},
                             {.name = "haproxy-splice"}};
    pid_t be, so2 = -1;
    char apiarg[64], cfg[] = "/tmp/bench-proxy-haproxy-XXXXXX",
                     cfg2[] = "/tmp/bench-proxy-haproxy-XXXXXX";
    int api;
    long rss0 = 0, rss1 = 0;
    bool idle = true, do_rr = true;
    bool have_haproxy = !system("command -v haproxy >/dev/null 2>&1");
    bool have_socat = !system("command -v socat >/dev/null 2>&1");

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > MAX_ROUNDS)
                usage();
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--no-idle")) {
            idle = false;
        } else if (!strcmp(argv[i], "--no-rr")) {
            do_rr = false;
        } else if (argv[i][0] == '-') {
            usage();
        } else {
            bin = argv[i];
        }
    }
    ps[P_DIRECT].on = true;
    for (int i = 1; i < NPATH; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, ",%s,", ps[i].name);
        if (only) {
            char buf[256];
            snprintf(buf, sizeof buf, ",%s,", only);
            ps[i].on = strstr(buf, pat) != NULL;
        } else {
            ps[i].on = true;
        }
    }
    if (!have_socat)
        ps[P_SOCAT].on = false;
    if (!have_haproxy)
        ps[P_HAPROXY].on = ps[P_HAPROXY_SPLICE].on = false;
    for (int i = 0; i < NPATH; i++)
        ps[i].pid = -1;

    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* children fork off: nothing buffered twice */
    print_load("before");
    sink = listen_on(&sink_port);
    echo = listen_on(&echo_port);
    if ((be = fork()) == 0)
        backend(sink, echo);
    close(sink);
    close(echo);
    ps[P_DIRECT].bulk_port = sink_port;
    ps[P_DIRECT].rr_port = echo_port;

    /* faultline: started even with --only, for the idle measurement */
    api = free_port();
    snprintf(apiarg, sizeof apiarg, "127.0.0.1:%d", api);
    ps[P_FAULTLINE].pid =
        spawn((char *[]){(char *)bin, "proxy", "--listen", apiarg, "--state", "", NULL}, true);
    ps[P_FAULTLINE].bulk_port = fl_proxy(api, "sink", sink_port);
    ps[P_FAULTLINE].rr_port = fl_proxy(api, "echo", echo_port);
    if (ps[P_FAULTLINE].bulk_port < 0 || ps[P_FAULTLINE].rr_port < 0) {
        stop(ps[P_FAULTLINE].pid);
        stop(be);
        return 1;
    }
    /* socat: one process per connection (fork), as usually run; the CPU
     * column counts the parent and the children it reaped */
    if (ps[P_SOCAT].on) {
        char l1[64], u1[64], l2[64], u2[64];
        int ss = free_port(), se = free_port();
        snprintf(l1, sizeof l1, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay", ss);
        snprintf(u1, sizeof u1, "TCP:127.0.0.1:%d,nodelay", sink_port);
        snprintf(l2, sizeof l2, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay", se);
        snprintf(u2, sizeof u2, "TCP:127.0.0.1:%d,nodelay", echo_port);
        ps[P_SOCAT].pid = spawn((char *[]){"socat", l1, u1, NULL}, true);
        so2 = spawn((char *[]){"socat", l2, u2, NULL}, true);
        ps[P_SOCAT].bulk_port = ss;
        ps[P_SOCAT].rr_port = se;
    }
    /* haproxy: mode tcp with its defaults (recv/send through its buffers),
     * and "haproxy-splice" tuned for throughput like faultline: splice in
     * both directions (forced, not the splice-auto heuristic) through pipes of
     * the same size as faultline's (FL_PX_PIPE_CAP). */
    for (int v = 0; v < 2; v++) {
        struct path *p = &ps[v ? P_HAPROXY_SPLICE : P_HAPROXY];
        char *c = v ? cfg2 : cfg;
        int fd, hs = free_port(), he = free_port();
        char pipesize[32];
        FILE *f;

        if (!p->on)
            continue;
        snprintf(pipesize, sizeof pipesize, "%d\n", FL_PX_PIPE_CAP);
        fd = mkstemp(c);
        f = fdopen(fd, "w");
        fprintf(f,
                "global\n  maxconn 4000\n%s%s"
                "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 300s\n"
                "  timeout server 300s\n%s"
                "listen sink\n  bind 127.0.0.1:%d\n  server s 127.0.0.1:%d\n"
                "listen echo\n  bind 127.0.0.1:%d\n  server e 127.0.0.1:%d\n",
                v ? "  tune.pipesize " : "", v ? pipesize : "",
                v ? "  option splice-request\n  option splice-response\n" : "", hs, sink_port, he,
                echo_port);
        fclose(f);
        p->pid = spawn((char *[]){"haproxy", "-db", "-f", c, NULL}, true);
        p->bulk_port = hs;
        p->rr_port = he;
    }

    printf("bench-proxy: loopback, no toxics; per path, median of %d interleaved rounds of "
           "bulk %lld MiB (one connection) and %d x 64-byte request/response\n",
           rounds, BULK_BYTES >> 20, RR_ROUNDS);
    measure_all(ps, rounds, be, do_rr);
    printf("%-14s %8s %15s %8s %8s %8s %8s %9s %9s %5s\n", "path", "Gbit/s", "(min-max)",
           "x direct", "p50 us", "p99 us", "+p50 us", "proxy", "all", "CPUs");
    printf("%-14s %8s %15s %8s %8s %8s %8s %9s %9s %5s\n", "", "", "", "", "", "", "", "CPU s/GiB",
           "CPU s/GiB", "busy");
    for (int i = 0; i < NPATH; i++) {
        struct path *p = &ps[i];
        char mm[32], cpx[16], l50[16] = "-", l99[16] = "-", add[16] = "-";
        if (!p->on) {
            continue;
        }
        if (p->m_gbps <= 0) {
            printf("%-14s (failed)\n", p->name);
            continue;
        }
        snprintf(mm, sizeof mm, "(%.2f-%.2f)", p->min_gbps, p->max_gbps);
        snprintf(cpx, sizeof cpx, i ? "%.2f" : "-", p->m_cpu_px);
        if (do_rr) {
            snprintf(l50, sizeof l50, "%.1f", p->m_p50);
            snprintf(l99, sizeof l99, "%.1f", p->m_p99);
            snprintf(add, sizeof add, "%.1f", p->m_p50 - ps[0].m_p50);
        }
        printf("%-14s %8.2f %15s %8.2f %8s %8s %8s %9s %9.2f %5.2f\n", p->name, p->m_gbps, mm,
               p->m_gbps / ps[0].m_gbps, l50, l99, add, cpx, p->m_cpu_all, p->m_busy);
    }
    printf("CPU s/GiB: CPU seconds (user+sys, including the loopback TCP work done in each "
           "process's system calls) per GiB moved in the bulk test, of the proxy process alone "
           "and of client + proxy + sink together; CPUs busy: how many CPUs that chain kept "
           "busy on average (all x GiB/s).\n");
    if (sysconf(_SC_NPROCESSORS_ONLN) < 4)
        printf("note: only %ld CPUs: the client, the proxy and the sink (and anything else "
               "running, see the load average) compete for them. Direct is two processes and "
               "one loopback TCP connection; a proxy adds a third process, a second TCP "
               "connection and a wake-up hand-off per burst on the same CPUs, so 'x direct' "
               "here mostly measures how much more CPU the proxied chain needs (see CPU s/GiB), "
               "not the proxy's own speed limit, and 0.9x is out of reach for any proxy on "
               "such a machine. Compare the proxies with each other in the same run.\n",
               sysconf(_SC_NPROCESSORS_ONLN));

    /* 10k idle links through faultline */
    if (idle) {
        static int fds[IDLE_LINKS];
        int opened = 0, want = IDLE_LINKS, fe = ps[P_FAULTLINE].rr_port;
        pid_t fl = ps[P_FAULTLINE].pid;
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
    print_load("after");

    print_goals(ps, do_rr, idle ? (rss1 < 64 * 1024 ? "met" : "MISSED") : "n/a");
    for (int i = 1; i < NPATH; i++)
        if (ps[i].pid > 0)
            stop(ps[i].pid);
    stop(so2);
    stop(be);
    if (ps[P_HAPROXY].pid > 0)
        unlink(cfg);
    if (ps[P_HAPROXY_SPLICE].pid > 0)
        unlink(cfg2);
    return 0;
}
