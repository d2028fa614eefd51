/* The guardian's sentinel (see sentinel.h): pidfds both ways, exec to take over. */
#include "agent/sentinel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/guardian.h"
#include "agent/journal.h"
#include "util/log.h"
#include "util/time.h"

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* This binary, as fl_guardian_ensure finds it (under valgrind
 * /proc/self/exe is the loader; readlink reports the program). */
static void self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);

    buf[n > 0 ? n : 0] = '\0';
}

void fl_sentinel_start(struct fl_sentinel *s, const char *state_dir)
{
    char exe[PATH_MAX], gpid[32];
    pid_t pid;

    s->pidfd = -1;
    s->started_ms = fl_now_ms();
    self_exe(exe, sizeof exe);
    snprintf(gpid, sizeof gpid, "%d", (int)getpid());
    pid = fork();
    if (pid < 0) {
        fl_error("cannot start the guardian's sentinel: fork: %s (a SIGKILL of this guardian "
                 "would leave its faults to the next faultline command)",
                 strerror(errno));
        return;
    }
    if (pid == 0) {
        setsid(); /* its own session: a signal to the guardian's group misses it */
        if (exe[0])
            execl(exe, "faultline", "__sentinel", "--state-dir", state_dir, "--guardian", gpid,
                  (char *)NULL);
        execl("/proc/self/exe", "faultline", "__sentinel", "--state-dir", state_dir, "--guardian",
              gpid, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    s->pidfd = pidfd_open_(pid);
    if (s->pidfd < 0)
        fl_error("cannot watch the sentinel %d: pidfd_open: %s", (int)pid, strerror(errno));
}

void fl_sentinel_check(struct fl_sentinel *s, const char *state_dir)
{
    struct pollfd p = {.fd = s->pidfd, .events = POLLIN};

    if (s->pidfd >= 0) {
        if (poll(&p, 1, 0) <= 0)
            return; /* alive */
        waitpid(s->pid, NULL, WNOHANG);
        close(s->pidfd);
        s->pidfd = -1;
        fl_warn("the guardian's sentinel %d died; starting another", (int)s->pid);
    }
    if (fl_now_ms() - s->started_ms >= 1000)
        fl_sentinel_start(s, state_dir);
}

void fl_sentinel_stop(struct fl_sentinel *s)
{
    if (s->pidfd < 0)
        return;
    syscall(SYS_pidfd_send_signal, s->pidfd, SIGTERM, NULL, 0);
    waitpid(s->pid, NULL, 0);
    close(s->pidfd);
    s->pidfd = -1;
}

/* Wait until the process behind pidfd exits (or this one is told to stop). */
static void wait_exit(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};

    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
}

int fl_sentinel_run(const char *state_dir, pid_t guardian)
{
    struct fl_journal j;
    struct fl_err e = {0};
    char path[PATH_MAX], exe[PATH_MAX];
    int pidfd = pidfd_open_(guardian);
    FILE *log;
    int n;

    /* Only the guardian that started us counts: if it died before
     * pidfd_open, the pid may be someone else's already. */
    if (pidfd >= 0 && getppid() == guardian)
        wait_exit(pidfd);
    if (pidfd >= 0)
        close(pidfd);
    if (fl_journal_open_existing(&j, state_dir, &e))
        return FL_ESTATE;
    n = fl_journal_count(&j);
    if (n == 0 || fl_guardian_running(&j)) {
        fl_journal_close(&j);
        return 0; /* it exited with nothing to watch, or another took over */
    }
    snprintf(path, sizeof path, "%s/guardian.log", j.root);
    log = fopen(path, "ae");
    if (log) {
        fl_log_set_file(log);
        fl_warn("guardian %d is gone with %d fault%s journaled (killed?): the sentinel "
                "becomes the guardian",
                (int)guardian, n, n == 1 ? "" : "s");
        fl_log_set_file(NULL);
        fclose(log);
    }
    fl_journal_close(&j);
    self_exe(exe, sizeof exe);
    if (exe[0])
        execl(exe, "faultline", "__guardian", "--state-dir", state_dir, (char *)NULL);
    execl("/proc/self/exe", "faultline", "__guardian", "--state-dir", state_dir, (char *)NULL);
    return FL_EFAIL;
}
