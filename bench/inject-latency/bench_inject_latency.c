/* How long applying and reverting a network fault takes, in-process through
 * src/net (libnftables), against the baseline of spawning the nft program
 * for the same rule set, measured in the same run.
 *
 * Everything happens in a scratch network namespace the bench creates
 * (unshare) and that disappears when it exits; no rule ever touches the
 * host. Three ways are timed for a partition (2 IPv4 peers, a port, forward
 * chain: an `ip` table), the same partition with one IPv4 and one IPv6 peer
 * (an `inet` table, whose chains hook both families) and a loss fault (10%,
 * egress, any address: `inet`):
 *   in-process        - what a fault driver does per inject and per revert:
 *                       enter the namespace, run on the thread's context for
 *                       it (fl_nft_shared), leave
 *   ctx per op        - the same with a new libnftables context each time
 *                       (why the drivers keep one: closing it waits for an
 *                       RCU grace period after a table was deleted)
 *   nft CLI           - fork, setns, exec `nft -f -` for apply and
 *                       `nft delete table` for revert
 * Usage: bench-inject-latency [ITERATIONS] (default 300; CLI gets a sixth). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/netns.h"
#include "net/nft.h"
#include "net/peer.h"
#include "util/time.h"

static int scratch_fd = -1;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct stats {
    double median_us, p99_us;
};

static struct stats summarize(int64_t *ns, int n)
{
    struct stats s;
    qsort(ns, (size_t)n, sizeof *ns, cmp_i64);
    s.median_us = (double)ns[n / 2] / 1000.0;
    s.p99_us = (double)ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0;
    return s;
}

static void die(const char *what, struct fl_err *e)
{
    fprintf(stderr, "bench-inject-latency: %s: %s\n", what, e ? e->msg : strerror(errno));
    exit(1);
}

enum kind { PARTITION, PARTITION_MIXED, LOSS };

/* The fault's rule set; *family: its table's family. */
static char *render(const char *table, enum kind kind, const char **family)
{
    static struct fl_net_peer peers[2];
    struct fl_err e = {0};
    char *script;
    struct fl_nft_spec s = {.table = table, .verdict = FL_NFT_DROP, .in = true, .out = true};

    if (kind == LOSS) {
        s.in = false;
        s.loss_per10k = 1000;
    } else {
        fl_net_peer_parse("10.99.0.2", &peers[0], &e);
        fl_net_peer_parse(kind == PARTITION ? "10.99.0.3" : "fd99::/64", &peers[1], &e);
        s.peers = peers;
        s.npeers = 2;
        s.port = 6379;
        s.forward = true;
    }
    if (fl_nft_render(&s, &script, &e))
        die("render", &e);
    *family = fl_nft_family(&s);
    return script;
}

/* apply + revert the way a driver does it: enter the namespace, use the
 * thread's context for it (fl_nft_shared), leave; fresh: a new libnftables
 * context per operation instead. */
static int64_t once_driver(const char *script, const char *family, const char *table, bool fresh)
{
    struct fl_netns_guard g;
    struct fl_err e = {0};
    int64_t t0 = fl_mono_ns();
    struct fl_nft *n;

    if (fl_netns_enter_fd(scratch_fd, &g, &e) ||
        !(n = fresh ? fl_nft_new(&e) : fl_nft_shared(&e)) || fl_nft_run(n, script, &e))
        die("driver apply", &e);
    if (fresh)
        fl_nft_free(n);
    fl_netns_leave(&g);
    if (fl_netns_enter_fd(scratch_fd, &g, &e) ||
        !(n = fresh ? fl_nft_new(&e) : fl_nft_shared(&e)) ||
        fl_nft_delete_table(n, family, table, &e) != 1)
        die("driver revert", &e);
    if (fresh)
        fl_nft_free(n);
    fl_netns_leave(&g);
    return fl_mono_ns() - t0;
}

/* Run `nft ARGS` inside the scratch namespace, feeding stdin_text. */
static void spawn_nft(const char *stdin_text, char *const argv[])
{
    int p[2], st;
    pid_t pid;

    if (pipe(p) < 0)
        die("pipe", NULL);
    pid = fork();
    if (pid < 0)
        die("fork", NULL);
    if (pid == 0) {
        dup2(p[0], 0);
        close(p[0]);
        close(p[1]);
        if (setns(scratch_fd, CLONE_NEWNET) < 0)
            _exit(126);
        execvp("nft", argv);
        _exit(127);
    }
    close(p[0]);
    if (stdin_text && write(p[1], stdin_text, strlen(stdin_text)) < 0)
        die("write", NULL);
    close(p[1]);
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "bench-inject-latency: nft %s failed (status %d)\n", argv[1], st);
        exit(1);
    }
}

static int64_t once_cli(const char *script, const char *family, const char *table)
{
    char *apply[] = {"nft", "-f", "-", NULL};
    char *del[] = {"nft", "delete", "table", (char *)family, (char *)table, NULL};
    int64_t t0 = fl_mono_ns();

    spawn_nft(script, apply);
    spawn_nft(NULL, del);
    return fl_mono_ns() - t0;
}

static void bench(const char *name, enum kind kind, int iters)
{
    int few = iters / 6 > 10 ? iters / 6 : 10;
    int64_t *d = calloc((size_t)iters, sizeof *d), *f = calloc((size_t)few, sizeof *f),
            *x = calloc((size_t)few, sizeof *x);
    struct stats sd, sf, sx;
    const char *family;
    char table[40];

    for (int i = 0; i < iters; i++) {
        snprintf(table, sizeof table, "faultline_d%07x", i);
        char *s = render(table, kind, &family);
        d[i] = once_driver(s, family, table, false);
        free(s);
    }
    for (int i = 0; i < few; i++) {
        snprintf(table, sizeof table, "faultline_f%07x", i);
        char *s = render(table, kind, &family);
        f[i] = once_driver(s, family, table, true);
        free(s);
    }
    for (int i = 0; i < few; i++) {
        snprintf(table, sizeof table, "faultline_x%07x", i);
        char *s = render(table, kind, &family);
        x[i] = once_cli(s, family, table);
        free(s);
    }
    sd = summarize(d, iters);
    sf = summarize(f, few);
    sx = summarize(x, few);
    printf("%-9s  in-process (src/net)     median %7.0f us  p99 %7.0f us  (%d runs)\n", name,
           sd.median_us, sd.p99_us, iters);
    printf("%-9s  in-process, ctx per op   median %7.0f us  p99 %7.0f us  (%d runs)\n", name,
           sf.median_us, sf.p99_us, few);
    printf("%-9s  nft CLI (baseline)       median %7.0f us  p99 %7.0f us  (%d runs)\n", name,
           sx.median_us, sx.p99_us, few);
    printf("%-9s  ratio nft CLI / in-process: %.1fx (medians), %.1fx (p99)\n\n", name,
           sx.median_us / sd.median_us, sx.p99_us / sd.p99_us);
    free(d);
    free(f);
    free(x);
}

/* A base chain on each hook faultline uses, held while `on`, so the hook
 * static keys stay enabled the way any host with a firewall has them. */
static void keepalive(bool on)
{
    struct fl_netns_guard g;
    struct fl_err e = {0};
    struct fl_nft *n;

    if (fl_netns_enter_fd(scratch_fd, &g, &e) || !(n = fl_nft_shared(&e)))
        die("keepalive", &e);
    if (on ? fl_nft_run(n,
                        "table inet bench_keepalive {\n"
                        " chain i { type filter hook input priority 0; }\n"
                        " chain o { type filter hook output priority 0; }\n"
                        " chain f { type filter hook forward priority 0; }\n}\n",
                        &e)
           : fl_nft_delete_table(n, "inet", "bench_keepalive", &e) < 0)
        die("keepalive", &e);
    fl_netns_leave(&g);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 300;
    int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

    if (iters < 10)
        iters = 10;
    if (orig < 0 || unshare(CLONE_NEWNET) < 0)
        die("cannot create a scratch network namespace (run as root)", NULL);
    scratch_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (scratch_fd < 0 || setns(orig, CLONE_NEWNET) < 0)
        die("scratch namespace", NULL);
    close(orig);
    printf("apply+revert of one network fault (nft table with base chains), scratch netns\n");
    printf("\n== cold: no other netfilter hook on the machine; every apply/revert flips the\n"
           "   kernel's hook static keys (text patching + IPIs), as on an idle test box\n\n");
    bench("partition", PARTITION, iters);
    bench("part-mix", PARTITION_MIXED, iters);
    bench("loss", LOSS, iters);
    keepalive(true);
    printf("== warm: a firewall chain already hooks input/output/forward (most hosts)\n\n");
    bench("partition", PARTITION, iters);
    bench("part-mix", PARTITION_MIXED, iters);
    bench("loss", LOSS, iters);
    keepalive(false);
    fl_nft_shared_clear();
    close(scratch_fd); /* the scratch namespace goes with its last reference */
    return 0;
}
