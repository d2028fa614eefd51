/* Reads /proc for one process: its start time (so a reused pid is told
 * apart), state, parent, name and RSS, whether it is a kernel thread or
 * faultline itself, and the refusals every process fault checks first
 * (pid 1, kernel threads, faultline and its ancestors). */
#include "util/proc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

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
    return p ? *p : 0;
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
