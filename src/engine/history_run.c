/* A run's consistency side (history_run.h): the workload as a child
 * process, then each check on its history. */
#include "engine/history_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/netns.h"
#include "util/time.h"

/* This binary's path (see the guardian: readlink works under loaders). */
static void self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    snprintf(buf + (n > 0 ? n : 0), len - (size_t)(n > 0 ? n : 0), "%s",
             n > 0 ? "" : "/proc/self/exe");
}

/* fork + exec `faultline ARGV...` with stdout/stderr to `log`, optionally
 * inside a named network namespace. */
static pid_t spawn(char *const *argv, const char *log, const char *netns, struct fl_err *e)
{
    char exe[PATH_MAX];
    pid_t pid;

    self_exe(exe, sizeof exe);
    pid = fork();
    if (pid < 0)
        return fl_err_set(e, FL_EFAIL, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int devnull = open("/dev/null", O_RDONLY);
        if (fd < 0 || devnull < 0)
            _exit(126);
        dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        setpgid(0, 0); /* Ctrl-C goes to the engine, which stops us in order */
        if (netns) {
            struct fl_netns_scope s;
            struct fl_netns_guard g;
            json_t *p = json_pack("{s:s}", "netns", netns);
            struct fl_err e2 = {0};
            if (!p || fl_netns_resolve(p, &s, &e2) || fl_netns_enter(&s, &g, &e2)) {
                dprintf(2, "faultline: cannot enter network namespace %s: %s\n", netns, e2.msg);
                _exit(3);
            }
            json_decref(p);
        }
        execv(exe, argv);
        dprintf(2, "faultline: exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    return pid;
}

static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
}

/* Wait for pid up to timeout_ms; then SIGTERM, then SIGKILL after 5 s. */
static int wait_bounded(pid_t pid, int64_t timeout_ms)
{
    int64_t deadline = fl_now_ms() + timeout_ms;
    int st, sig = SIGTERM;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return status_code(st);
        if (r < 0 && errno != EINTR)
            return 255;
        if (fl_now_ms() >= deadline) {
            kill(pid, sig);
            deadline = fl_now_ms() + 5000;
            sig = SIGKILL;
        }
        fl_sleep_ms(20);
    }
}

int64_t fl_workload_duration_ms(const struct fl_spec *s)
{
    return s->duration_ms + (s->has_recovery ? s->recovery_within_ms : 0) + 1000;
}

int fl_workload_child_start(const struct fl_spec_workload *w, uint64_t seed, int64_t duration_ms,
                            struct fl_workload_child *c, struct fl_err *e)
{
    char dur[32], seed_s[32];
    char **argv;
    size_t n = 0;
    pid_t pid;

    memset(c, 0, sizeof *c);
    c->pid = -1;
    snprintf(c->dir, sizeof c->dir, "%s/faultline-workload.XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(c->dir))
        return fl_err_set(e, FL_EFAIL, "workload: cannot create a directory for the history: %s",
                          strerror(errno));
    snprintf(c->history, sizeof c->history, "%s/history.jsonl", c->dir);
    snprintf(c->log, sizeof c->log, "%s/workload.log", c->dir);
    snprintf(dur, sizeof dur, "%lldms", (long long)duration_ms);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    argv = calloc(w->argc + 10, sizeof *argv);
    if (!argv)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    argv[n++] = "faultline";
    argv[n++] = "workload";
    for (size_t i = 0; i < w->argc; i++)
        argv[n++] = w->argv[i];
    argv[n++] = "--duration";
    argv[n++] = dur;
    argv[n++] = "--seed";
    argv[n++] = seed_s;
    argv[n++] = "--out";
    argv[n++] = c->history;
    argv[n] = NULL;
    pid = spawn(argv, c->log, w->netns, e);
    free(argv);
    if (pid < 0) {
        fl_workload_child_cleanup(c);
        return fl_err_prefix(e, "cannot start the workload");
    }
    c->pid = pid;
    return 0;
}

int fl_workload_child_poll(struct fl_workload_child *c)
{
    int st;

    if (c->pid <= 0)
        return 255;
    if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
        c->pid = 0;
        return status_code(st);
    }
    return -1;
}

int fl_workload_child_wait(struct fl_workload_child *c, int64_t timeout_ms)
{
    int r;

    if (c->pid <= 0)
        return 255;
    r = wait_bounded(c->pid, timeout_ms);
    c->pid = 0;
    return r;
}

static void file_tail(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    long size;
    size_t n;

    buf[0] = '\0';
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)len - 1 ? size - (long)len + 1 : 0, SEEK_SET);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
}

static void file_head(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    size_t n = 0;

    if (f) {
        n = fread(buf, 1, len - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
}

void fl_workload_child_tail(const struct fl_workload_child *c, char *buf, size_t len)
{
    file_tail(c->log, buf, len);
}

void fl_workload_child_keep(struct fl_workload_child *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    unlink(c->log);
    c->dir[0] = '\0';
}

void fl_workload_child_cleanup(struct fl_workload_child *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    if (c->dir[0]) {
        unlink(c->history);
        unlink(c->log);
        rmdir(c->dir);
        c->dir[0] = '\0';
    }
}

int fl_check_child_run(const struct fl_spec_check *ck, const char *history, char *out, size_t len)
{
    char log[PATH_MAX], timeout[32];
    char **argv = calloc(ck->argc + 8, sizeof *argv);
    struct fl_err e = {0};
    size_t n = 0;
    pid_t pid;
    int r;

    out[0] = '\0';
    if (!argv)
        return 255;
    snprintf(log, sizeof log, "%s.check.log", history);
    snprintf(timeout, sizeof timeout, "%lldms", (long long)ck->timeout_ms);
    argv[n++] = "faultline";
    argv[n++] = "check";
    for (size_t i = 0; i < ck->argc; i++)
        argv[n++] = ck->argv[i];
    argv[n++] = "--timeout";
    argv[n++] = timeout;
    argv[n++] = (char *)history;
    argv[n] = NULL;
    pid = spawn(argv, log, NULL, &e);
    free(argv);
    if (pid < 0) {
        snprintf(out, len, "%s", e.msg);
        return 255;
    }
    /* The checker answers "unknown" at its own timeout; this is a backstop. */
    r = wait_bounded(pid, ck->timeout_ms + 30000);
    file_head(log, out, len);
    unlink(log);
    return r;
}
