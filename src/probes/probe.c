/* Tolerance judgement and the helpers probe kinds share (the registry is
 * registry.c). */
#include "probes/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/parse.h"
#include "util/time.h"

void fl_tolerance_default(struct fl_tolerance *t)
{
    memset(t, 0, sizeof *t);
    t->success_ratio = 100;
}

bool fl_tolerance_sample_ok(const struct fl_tolerance *t, bool probe_ok, double value)
{
    if (!probe_ok)
        return false;
    if (t->has_min || t->has_max || t->has_equals) {
        if (isnan(value))
            return false;
        if (t->has_min && value < t->min)
            return false;
        if (t->has_max && value > t->max)
            return false;
        if (t->has_equals && value != t->equals)
            return false;
    }
    return true;
}

static void pct_name(double pct, char *buf, size_t len)
{
    if (pct >= 100)
        snprintf(buf, len, "max");
    else
        snprintf(buf, len, "p%g", pct);
}

void fl_tolerance_describe(const struct fl_tolerance *t, char *buf, size_t len)
{
    size_t off = 0;
    char p[16];

    buf[0] = '\0';
    off += (size_t)snprintf(buf + off, len - off, "success ratio >= %g%%", t->success_ratio);
    if (t->percentile > 0 && off < len) {
        pct_name(t->percentile, p, sizeof p);
        off += (size_t)snprintf(buf + off, len - off, ", %s latency <= %gms", p, t->latency_max_ms);
    }
    if (t->has_min && off < len)
        off += (size_t)snprintf(buf + off, len - off, ", value >= %g", t->min);
    if (t->has_max && off < len)
        off += (size_t)snprintf(buf + off, len - off, ", value <= %g", t->max);
    if (t->has_equals && off < len)
        off += (size_t)snprintf(buf + off, len - off, ", value == %g", t->equals);
    if (t->window_ms && off < len)
        snprintf(buf + off, len - off, " over %llds windows", (long long)t->window_ms / 1000);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double fl_probe_percentile(const struct fl_sample *s, size_t n, double pct)
{
    double *lat, r;
    size_t idx;

    if (n == 0)
        return 0;
    lat = malloc(n * sizeof *lat);
    if (!lat)
        return 0;
    for (size_t i = 0; i < n; i++)
        lat[i] = s[i].latency_ms;
    qsort(lat, n, sizeof *lat, cmp_double);
    /* nearest-rank */
    idx = (size_t)ceil(pct / 100.0 * (double)n);
    if (idx > 0)
        idx--;
    if (idx >= n)
        idx = n - 1;
    r = lat[idx];
    free(lat);
    return r;
}

void fl_probe_stats(const struct fl_sample *s, size_t n, struct fl_probe_stats *st)
{
    memset(st, 0, sizeof *st);
    st->n = n;
    for (size_t i = 0; i < n; i++)
        st->failures += !s[i].ok;
    st->availability = n ? 100.0 * (double)(n - st->failures) / (double)n : NAN;
    st->p50 = fl_probe_percentile(s, n, 50);
    st->p95 = fl_probe_percentile(s, n, 95);
    st->p99 = fl_probe_percentile(s, n, 99);
    st->pmax = fl_probe_percentile(s, n, 100);
}

bool fl_tolerance_holds(const struct fl_tolerance *t, const struct fl_sample *s, size_t n,
                        char *why, size_t len)
{
    size_t bad = 0;
    double ratio;

    if (n == 0) {
        snprintf(why, len, "no samples");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        bad += !fl_tolerance_sample_ok(t, s[i].probe_ok, s[i].value);
    ratio = 100.0 * (double)(n - bad) / (double)n;
    if (ratio + 1e-9 < t->success_ratio) {
        snprintf(why, len, "success ratio %.1f%% < %g%% (%zu of %zu samples failed)", ratio,
                 t->success_ratio, bad, n);
        return false;
    }
    if (t->percentile > 0) {
        double p = fl_probe_percentile(s, n, t->percentile);
        if (p > t->latency_max_ms) {
            char pn[16];
            pct_name(t->percentile, pn, sizeof pn);
            snprintf(why, len, "%s latency %.1fms > %gms (over %zu samples)", pn, p,
                     t->latency_max_ms, n);
            return false;
        }
    }
    return true;
}

bool fl_tolerance_holds_phase(const struct fl_tolerance *t, const struct fl_sample *s, size_t n,
                              int64_t from_ms, int64_t to_ms, int64_t *at_ms, char *why, size_t len)
{
    size_t lo = 0, hi;

    while (lo < n && s[lo].t_ms < from_ms)
        lo++;
    hi = lo;
    while (hi < n && s[hi].t_ms <= to_ms)
        hi++;
    if (hi == lo) {
        snprintf(why, len,
                 "no samples (no data is not health: is the interval longer than the "
                 "phase?)");
        *at_ms = from_ms;
        return false;
    }
    if (!t->window_ms) {
        if (fl_tolerance_holds(t, s + lo, hi - lo, why, len))
            return true;
        *at_ms = hi > lo ? s[hi - 1].t_ms : to_ms;
        /* the first failing sample is the more useful "when" */
        for (size_t i = lo; i < hi; i++)
            if (!fl_tolerance_sample_ok(t, s[i].probe_ok, s[i].value)) {
                *at_ms = s[i].t_ms;
                break;
            }
        return false;
    }
    for (size_t end = lo, start = lo; end < hi; end++) {
        while (s[start].t_ms < s[end].t_ms - t->window_ms)
            start++;
        if (s[end].t_ms - from_ms < t->window_ms)
            continue; /* window not yet full */
        if (!fl_tolerance_holds(t, s + start, end - start + 1, why, len)) {
            size_t used = strlen(why);
            char w[32];
            fl_format_duration(t->window_ms, w, sizeof w);
            snprintf(why + used, len - used, " in the %s window ending at that sample", w);
            *at_ms = s[end].t_ms;
            return false;
        }
    }
    /* a phase shorter than one window is judged as a whole */
    if (hi > lo && s[hi - 1].t_ms - from_ms < t->window_ms &&
        !fl_tolerance_holds(t, s + lo, hi - lo, why, len)) {
        *at_ms = s[hi - 1].t_ms;
        return false;
    }
    return true;
}

int fl_probe_run_command(const char *cmd, int64_t timeout_ms, char *out, size_t cap)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    extern char **environ;
    int pfd[2], status = 0, r;
    size_t used = 0;
    pid_t pid;
    int64_t deadline = fl_now_ms() + timeout_ms;
    bool timed_out = false;

    if (cap)
        out[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC))
        return -errno;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    r = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(pfd[1]);
    if (r) {
        close(pfd[0]);
        return -r;
    }
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int64_t left = deadline - fl_now_ms();
        char tmp[512];
        ssize_t got;

        if (left <= 0) {
            timed_out = true;
            break;
        }
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        got = read(pfd[0], tmp, sizeof tmp);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (cap && used < cap - 1) {
            size_t take = (size_t)got < cap - 1 - used ? (size_t)got : cap - 1 - used;
            memcpy(out + used, tmp, take);
            used += take;
            out[used] = '\0';
        }
    }
    close(pfd[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    /* the pipe closed: the command is exiting; bound the wait anyway */
    for (;;) {
        r = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r == 0) {
            if (fl_now_ms() >= deadline) {
                kill(-pid, SIGKILL);
                timed_out = true;
                continue;
            }
            fl_sleep_ms(1);
        }
    }
    if (timed_out)
        return -ETIMEDOUT;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int fl_probe_split_address(const char *addr, char *host, size_t hlen, char *port, size_t plen)
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

int fl_probe_regex(const char *what, const char *rx, regex_t *re, struct fl_err *e)
{
    regex_t local, *into = re ? re : &local;
    int r = regcomp(into, rx, REG_EXTENDED | REG_NOSUB);

    if (r) {
        char msg[128];
        regerror(r, into, msg, sizeof msg);
        return fl_err_set(e, FL_EUSAGE, "%s '%s' does not compile: %s", what, rx, msg);
    }
    if (!re)
        regfree(&local);
    return 0;
}
