/* Starting, finding and stopping a fault's helper processes (worker.h). */
#include "faults/worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faults/fault.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/time.h"

#define READY_WAIT_MS 10000
#define TERM_WAIT_MS 5000
#define KILL_WAIT_MS 3000
#define WORKER_FD 3

/* Child side of the spawn: become the worker. Reports errno on errfd when
 * the exec fails; a successful exec closes it. */
static void child_exec(const struct fl_fault_worker_spec *s, const char *cfg, int ready, int errfd)
{
    const char *log = s->log_env ? getenv(s->log_env) : NULL;
    int err, devnull;
    sigset_t all;

    setsid(); /* out of the terminal's process group: Ctrl-C goes to inject */
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    if (errfd == WORKER_FD) { /* errfd may sit on WORKER_FD: move it out of the way */
        int nfd = fcntl(errfd, F_DUPFD_CLOEXEC, WORKER_FD + 1);
        if (nfd < 0)
            _exit(126);
        errfd = nfd;
    }
    if (dup2(ready, WORKER_FD) < 0) {
        err = errno;
        goto fail;
    }
    if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2 && devnull != WORKER_FD)
            close(devnull);
    }
    if (log && *log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            if (fd != WORKER_FD)
                close(fd);
        }
    }
    syscall(SYS_close_range, (unsigned)WORKER_FD + 1, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    if (s->flag)
        execl("/proc/self/exe", "faultline", s->subcommand, s->flag, cfg, "--ready-fd", "3",
              (char *)NULL);
    else
        execl("/proc/self/exe", "faultline", s->subcommand, cfg, "--ready-fd", "3", (char *)NULL);
    err = errno;
fail:
    if (write(errfd, &err, sizeof err) < 0)
        _exit(126);
    _exit(127);
}

/* Read the worker's "ok PORT" / "error CODE MSG" line. */
static int await_ready(const struct fl_fault_worker_spec *s, int fd, pid_t pid, int *port,
                       struct fl_err *e)
{
    char buf[FL_ERR_MSG + 64];
    size_t len = 0;
    int64_t until = fl_now_ms() + READY_WAIT_MS;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = until - fl_now_ms();
        ssize_t n;

        if (left <= 0)
            return fl_err_set(e, FL_EFAIL, "the %s (pid %d) did not start within %ds", s->what,
                              (int)pid, READY_WAIT_MS / 1000);
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return fl_err_set(e, FL_EFAIL, "poll: %s", strerror(errno));
        n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len) || len == sizeof buf - 1)
            break;
    }
    buf[len] = 0;
    if (!strncmp(buf, "ok ", 3)) {
        char *end;
        long v = strtol(buf + 3, &end, 10);

        if (end != buf + 3 && v >= 0 && v <= 65535 && (*end == '\n' || !*end)) {
            *port = (int)v;
            return 0;
        }
    }
    if (!strncmp(buf, "error ", 6)) {
        int code = (int)strtol(buf + 6, NULL, 10);
        char *msg = strchr(buf + 6, ' '), *nl;

        if ((nl = strchr(buf, '\n')))
            *nl = 0;
        return fl_err_set(e, code > 0 ? code : FL_EFAIL, "%s", msg ? msg + 1 : "the worker failed");
    }
    return fl_err_set(e, FL_EFAIL, "the %s (pid %d) exited before it was ready", s->what, (int)pid);
}

int fl_fault_worker_spawn(const struct fl_fault_worker_spec *s, const json_t *cfgj, json_t *undo,
                          int *port, struct fl_err *e)
{
    char *cfg = json_dumps(cfgj, JSON_COMPACT);
    int rp[2] = {-1, -1}, ep[2] = {-1, -1}, err = 0, r;
    ssize_t n;
    pid_t pid;

    if (!cfg)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (pipe2(rp, O_CLOEXEC) || pipe2(ep, O_CLOEXEC)) {
        err = errno;
        for (int i = 0; i < 2; i++) {
            if (rp[i] >= 0)
                close(rp[i]);
            if (ep[i] >= 0)
                close(ep[i]);
        }
        free(cfg);
        return fl_err_set(e, FL_EFAIL, "pipe: %s", strerror(err));
    }
    pid = fork();
    if (pid == 0) {
        close(rp[0]);
        close(ep[0]);
        child_exec(s, cfg, rp[1], ep[1]);
    }
    err = errno;
    free(cfg);
    close(rp[1]);
    close(ep[1]);
    if (pid < 0) {
        close(rp[0]);
        close(ep[0]);
        return fl_err_set(e, FL_EFAIL, "cannot start the %s: fork: %s", s->what, strerror(err));
    }
    json_object_set_new(
        undo, "worker",
        json_pack("{s:i, s:I}", "pid", (int)pid, "start", (json_int_t)fl_proc_start_time(pid)));
    do
        n = read(ep[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n > 0) {
        close(rp[0]);
        waitpid(pid, NULL, 0);
        return fl_err_set(e, fl_code_from_errno(err), "cannot start the %s: %s", s->what,
                          strerror(err));
    }
    r = await_ready(s, rp[0], pid, port, e);
    close(rp[0]);
    return r;
}

static bool gone(pid_t pid, uint64_t start)
{
    waitpid(pid, NULL, WNOHANG); /* our own child (a foreground inject): reap it */
    return !fl_proc_alive(pid, start);
}

int fl_fault_worker_stop(pid_t pid, uint64_t start, const char *what, const char *id,
                         struct fl_err *e)
{
    int64_t until;

    if (!start || gone(pid, start))
        return 0;
    kill(pid, SIGTERM);
    kill(pid, SIGCONT); /* a stopped worker cannot act on SIGTERM */
    for (until = fl_now_ms() + TERM_WAIT_MS; fl_now_ms() < until; fl_sleep_ms(10))
        if (gone(pid, start))
            return 0;
    fl_warn("%s: %s %d did not stop within %ds of SIGTERM: killing it", id, what, (int)pid,
            TERM_WAIT_MS / 1000);
    kill(pid, SIGKILL);
    for (until = fl_now_ms() + KILL_WAIT_MS; fl_now_ms() < until; fl_sleep_ms(10))
        if (gone(pid, start))
            return 0;
    return fl_err_set(e, FL_EFAIL, "%s: %s %d survived SIGKILL for %ds", id, what, (int)pid,
                      KILL_WAIT_MS / 1000);
}

/* The fault id a process serves if it is a worker of this kind, else "". */
static void worker_id(const struct fl_fault_worker_spec *s, pid_t pid, char *id, size_t len)
{
    char path[64], *buf = NULL, *args[4] = {0};
    size_t cap = 0, got;
    FILE *f;
    int k = 0, want = s->flag ? 4 : 3; /* faultline SUBCOMMAND [FLAG] CONFIG */

    id[0] = 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    if (!(f = fopen(path, "re")))
        return;
    do {
        char *nb = realloc(buf, cap + 4096);

        if (!nb)
            break;
        buf = nb;
        got = fread(buf + cap, 1, 4096, f);
        cap += got;
    } while (got == 4096);
    fclose(f);
    for (size_t i = 0; buf && i < cap && k < want; k++) {
        args[k] = buf + i;
        i += strnlen(buf + i, cap - i) + 1;
    }
    if (k == want && !strcmp(args[1], s->subcommand) && (!s->flag || !strcmp(args[2], s->flag)) &&
        args[want - 1][0] == '{' &&
        memchr(args[want - 1], 0, (size_t)(buf + cap - args[want - 1]))) {
        json_t *j = json_loads(args[want - 1], 0, NULL);
        const char *v = json_string_value(json_object_get(j, "id"));

        if (v && fl_proc_is_faultline(pid))
            snprintf(id, len, "%s", v);
        json_decref(j);
    }
    free(buf);
}

size_t fl_fault_worker_find(const struct fl_fault_worker_spec *s, const char *id, pid_t *out,
                            size_t cap)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)) && n < cap) {
        char wid[FL_FAULT_ID_LEN + 8], *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end || pid <= 1 || pid == getpid())
            continue;
        worker_id(s, (pid_t)pid, wid, sizeof wid);
        if (wid[0] && (!id || !strcmp(id, wid)))
            out[n++] = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return n;
}

int fl_fault_worker_stop_all(const struct fl_fault_worker_spec *s, const json_t *undo,
                             const char *id, struct fl_err *e)
{
    const json_t *w = json_object_get(undo, "worker");
    pid_t pid = (pid_t)json_integer_value(json_object_get(w, "pid")), more[16];
    uint64_t start = (uint64_t)json_integer_value(json_object_get(w, "start"));
    size_t n;
    int r;

    if (pid > 1 && (r = fl_fault_worker_stop(pid, start, s->what, id, e)))
        return r;
    /* A worker the record does not name (the owner died between fork and
     * recording it, or its start time was not readable yet). */
    n = fl_fault_worker_find(s, id, more, 16);
    for (size_t i = 0; i < n; i++)
        if ((r = fl_fault_worker_stop(more[i], fl_proc_start_time(more[i]), s->what, id, e)))
            return r;
    return 0;
}

int fl_fault_worker_ready_fd(int argc, char **argv, struct fl_err *e)
{
    struct fl_err ign = {0};
    long long fd;

    if (argc != 4 || strcmp(argv[2], "--ready-fd") || fl_parse_int(argv[3], 0, 1024, &fd, &ign) < 0)
        return fl_err_set(e, FL_EUSAGE,
                          "usage: faultline %s CONFIG --ready-fd N (an internal command: faults "
                          "start it)",
                          argv[0]);
    return (int)fd;
}

void fl_fault_worker_report(int fd, int code, const char *msg, int port)
{
    char buf[FL_ERR_MSG + 64];
    int n = code ? snprintf(buf, sizeof buf, "error %d %s\n", code, msg)
                 : snprintf(buf, sizeof buf, "ok %d\n", port);

    if (fd >= 0 && n > 0 && write(fd, buf, (size_t)n) < 0)
        fl_debug("cannot report to the ready fd: %s", strerror(errno));
}

int fl_fault_worker_sweep(const struct fl_fault_worker_spec *s, struct fl_sweep_report *rep)
{
    pid_t pids[256];
    size_t n = fl_fault_worker_find(s, NULL, pids, 256);

    for (size_t i = 0; i < n; i++) {
        struct fl_err se = {0};
        char id[FL_FAULT_ID_LEN + 8], what[96];

        worker_id(s, pids[i], id, sizeof id);
        snprintf(what, sizeof what, "%s %d", s->what, (int)pids[i]);
        if (fl_sweep_spared(rep, id, what))
            continue; /* a live fault of another state directory */
        rep->found++;
        fl_info("stopping leftover %s (its redirect or mount goes with it)", what);
        if (fl_fault_worker_stop(pids[i], fl_proc_start_time(pids[i]), s->what, "leftover", &se)) {
            fl_error("%s", se.msg);
            rep->failed++;
        } else {
            rep->removed++;
        }
    }
    return 0;
}
