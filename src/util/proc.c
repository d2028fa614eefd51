/* Reads /proc for one process: its start time (so a reused pid is told
 * apart), state, parent, name, command line and RSS, whether it is a kernel
 * thread or faultline itself, and the refusals every process fault checks
 * first (pid 1, kernel threads, faultline and its ancestors); where the
 * cgroup2 filesystem is mounted; signal names, and signalling a process
 * by its identity. */
#include "util/proc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"

/* Fields after the ")" that closes comm, so a comm with spaces or parens
 * cannot shift them. Returns pointer to the state field or NULL. */
static const char *stat_after_comm(pid_t pid, char *buf, size_t len)
{
    char path[64];
    char *p;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (fl_read_small(path, buf, len) <= 0)
        return NULL;
    p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p + 2 : NULL;
}

/* Field n (1-based, counting from the pid field) of /proc/PID/stat. */
static int stat_field(pid_t pid, int n, unsigned long long *out)
{
    char buf[1024];
    const char *p = stat_after_comm(pid, buf, sizeof buf);
    int field = 3;

    if (!p)
        return -1;
    while (field < n && *p) {
        if (*p++ == ' ')
            field++;
    }
    if (!*p)
        return -1;
    *out = strtoull(p, NULL, 10);
    return 0;
}

uint64_t fl_proc_start_time(pid_t pid)
{
    unsigned long long v;
    return pid > 0 && stat_field(pid, 22, &v) == 0 ? v : 0;
}

char fl_proc_state(pid_t pid)
{
    char buf[1024];
    const char *p = stat_after_comm(pid, buf, sizeof buf);

    if (!p)
        return '\0';
    return *p;
}

bool fl_proc_alive(pid_t pid, uint64_t start)
{
    char st;

    if (pid <= 0 || fl_proc_start_time(pid) != start)
        return false;
    st = fl_proc_state(pid);
    return st && st != 'Z' && st != 'X';
}

pid_t fl_proc_ppid(pid_t pid)
{
    unsigned long long v;
    return stat_field(pid, 4, &v) == 0 ? (pid_t)v : 0;
}

int fl_proc_comm(pid_t pid, char *buf, size_t len)
{
    char path[64];
    int n;

    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    n = fl_read_small(path, buf, len);
    if (n < 0)
        return n;
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return 0;
}

uint64_t fl_proc_rss(pid_t pid)
{
    unsigned long long pages;
    return stat_field(pid, 24, &pages) == 0 ? pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

bool fl_proc_is_kthread(pid_t pid)
{
    unsigned long long flags;
    /* PF_KTHREAD = 0x00200000 in /proc/PID/stat field 9. */
    return stat_field(pid, 9, &flags) == 0 && (flags & 0x00200000ULL);
}

bool fl_proc_is_faultline(pid_t pid)
{
    char self[PATH_MAX], other[PATH_MAX], path[64];
    ssize_t a, b;
    struct stat sa, sb;

    if (pid == getpid())
        return true;
    /* Compare the executables by inode: robust to paths and "(deleted)". */
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    if (stat("/proc/self/exe", &sa) == 0 && stat(path, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    a = readlink("/proc/self/exe", self, sizeof self - 1);
    b = readlink(path, other, sizeof other - 1);
    if (a <= 0 || b <= 0)
        return false;
    self[a] = other[b] = '\0';
    return strcmp(self, other) == 0;
}

int fl_proc_check_allowed(pid_t pid, struct fl_err *e)
{
    if (pid <= 0)
        return fl_err_set(e, FL_EUSAGE, "pid %d is not a process id", (int)pid);
    if (pid == 1)
        return fl_err_set(e, FL_EREFUSED,
                          "refusing to act on pid 1 (init): faulting it takes down the whole "
                          "host or container; select the service's own process instead");
    if (fl_proc_start_time(pid) == 0)
        return fl_err_set(e, FL_ENOTARGET, "no process with pid %d", (int)pid);
    if (fl_proc_is_kthread(pid))
        return fl_err_set(e, FL_EREFUSED, "refusing to act on pid %d: it is a kernel thread",
                          (int)pid);
    for (pid_t p = getpid(); p > 1; p = fl_proc_ppid(p))
        if (p == pid)
            return fl_err_set(e, FL_EREFUSED,
                              "refusing to act on pid %d: it is faultline itself or the "
                              "shell that runs it",
                              (int)pid);
    if (fl_proc_is_faultline(pid))
        return fl_err_set(e, FL_EREFUSED,
                          "refusing to act on pid %d: it is a faultline process (guardian, "
                          "stressor or another inject); use `faultline recover` instead",
                          (int)pid);
    return 0;
}

void fl_proc_cmdline(pid_t pid, char *buf, size_t len)
{
    char path[64];
    int n;

    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    n = fl_read_small(path, buf, len);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (int i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
}

/* ---- cgroup2 ------------------------------------------------------------- */

static void unescape_mountinfo(const char *in, char *out, size_t len)
{
    size_t o = 0;

    for (const char *p = in; *p && o + 1 < len; p++) {
        if (p[0] == '\\' && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
            isdigit((unsigned char)p[3])) {
            out[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

int fl_proc_cgroup2_mount(char *buf, size_t len, struct fl_err *e)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];

    if (!f)
        return fl_err_set(e, FL_EFAIL, "cannot read /proc/self/mountinfo: %s", strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char *sep = strstr(line, " - "), *mnt, *save = NULL, *fstype;
        int field = 0;

        if (!sep)
            continue;
        fstype = strtok_r(sep + 3, " ", &save);
        if (!fstype || strcmp(fstype, "cgroup2"))
            continue;
        *sep = '\0';
        save = NULL;
        for (mnt = strtok_r(line, " ", &save); mnt && ++field < 5; mnt = strtok_r(NULL, " ", &save))
            ;
        if (!mnt)
            continue;
        unescape_mountinfo(mnt, buf, len);
        return 0;
    }
    return fl_err_set(e, FL_EUNSUPPORTED,
                      "no cgroup2 filesystem is mounted (see /proc/self/mountinfo); mount one, "
                      "e.g. `mount -t cgroup2 none /sys/fs/cgroup/unified`");
}

/* ---- signals -------------------------------------------------------------- */

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

int fl_proc_parse_signal(const char *s, int *sig, struct fl_err *e)
{
    char up[32];
    const char *n;
    size_t i;

    if (!s || !*s)
        return fl_err_set(e, FL_EUSAGE, "--signal is empty; give a name (KILL, TERM) or number");
    if (isdigit((unsigned char)s[0])) {
        long long v;
        if (fl_parse_int(s, 1, SIGRTMAX, &v, e))
            return fl_err_prefix(e, "--signal");
        *sig = (int)v;
        return 0;
    }
    for (i = 0; s[i] && i + 1 < sizeof up; i++)
        up[i] = (char)toupper((unsigned char)s[i]);
    up[i] = '\0';
    n = strncmp(up, "SIG", 3) ? up : up + 3;
    for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (!strcmp(signals[i].name, n)) {
            *sig = signals[i].sig;
            return 0;
        }
    return fl_err_set(e, FL_EUSAGE,
                      "--signal '%s' is not a signal; use a name like KILL, TERM, INT, HUP, "
                      "STOP, USR1 (with or without SIG) or a number 1-%d",
                      s, SIGRTMAX);
}

const char *fl_proc_signal_name(int sig, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (signals[i].sig == sig) {
            snprintf(buf, len, "SIG%s", signals[i].name);
            return buf;
        }
    snprintf(buf, len, "signal %d", sig);
    return buf;
}

int fl_proc_signal(pid_t pid, uint64_t start, int sig)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    int r;

    if (fd < 0) {
        if (errno == ESRCH)
            return 0;
        if (errno != ENOSYS)
            return -errno;
        /* Old kernel: check, then signal (a small pid-reuse window). */
        if (!fl_proc_alive(pid, start))
            return 0;
        return kill(pid, sig) == 0 ? 1 : errno == ESRCH ? 0 : -errno;
    }
    /* The pidfd pins this process: if the start time matches now, the signal
     * cannot reach a recycled pid. */
    if (!fl_proc_alive(pid, start)) {
        close(fd);
        return 0;
    }
    r = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
    r = r == 0 ? 1 : errno == ESRCH ? 0 : -errno;
    close(fd);
    return r;
}

bool fl_proc_next_pid(FILE *f, pid_t *pid)
{
    char line[32], *end;
    long v;

    if (!fgets(line, sizeof line, f))
        return false;
    errno = 0;
    v = strtol(line, &end, 10);
    if (end == line || errno || v <= 0 || v > INT_MAX || (*end && *end != '\n'))
        return false;
    *pid = (pid_t)v;
    return true;
}
