/* fl_shell_run (contract in shell.h): posix_spawn of /bin/sh (or of this
 * binary's `lab exec`) in its own process group, output to an unlinked
 * temporary file of which only the head is read. */
#include "util/shell.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/time.h"

static void self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);

    if (n <= 0)
        snprintf(buf, len, "/proc/self/exe");
    else
        buf[n] = '\0';
}

/* Wait for pid until deadline; then kill its process group. */
static int wait_deadline(pid_t pid, int64_t deadline)
{
    int st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (fl_now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -ETIMEDOUT;
        }
        fl_sleep_ms(10);
    }
}

static void read_head(int fd, char *out, size_t len)
{
    ssize_t n;

    if (!len)
        return;
    n = pread(fd, out, len - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    /* trailing newlines make events ragged */
    for (n = (ssize_t)strlen(out); n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'); n--)
        out[n - 1] = '\0';
}

int fl_shell_run(const struct fl_shell_where *w, const char *cmd, int64_t timeout_ms, char *out,
                 size_t len)
{
    const char *ref = w ? w->lab_ref : NULL, *state_dir = w ? w->state_dir : NULL;
    char exe[PATH_MAX], tmpl[] = "/tmp/faultline-cmd.XXXXXX";
    char *local[] = {"sh", "-c", (char *)cmd, NULL};
    char *remote[11] = {"faultline", "lab", "exec"};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    extern char **environ;
    size_t k = 3;
    int fd, r;
    pid_t pid;

    if (len)
        out[0] = '\0';
    if ((fd = mkostemp(tmpl, O_CLOEXEC)) < 0)
        return -errno;
    unlink(tmpl);
    if (ref) {
        self_exe(exe, sizeof exe);
        if (state_dir) {
            remote[k++] = "--state-dir";
            remote[k++] = (char *)state_dir;
        }
        remote[k++] = (char *)ref;
        remote[k++] = "--";
        remote[k++] = "/bin/sh";
        remote[k++] = "-c";
        remote[k++] = (char *)cmd;
        remote[k] = NULL;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    if (w && w->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, w->cwd);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    r = posix_spawn(&pid, ref ? exe : "/bin/sh", &fa, &attr, ref ? remote : local, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r) {
        close(fd);
        if (w && w->cwd && r == ENOENT && access(w->cwd, X_OK))
            snprintf(out, len, "cannot enter the directory %s", w->cwd);
        return -r;
    }
    r = wait_deadline(pid, fl_now_ms() + timeout_ms);
    read_head(fd, out, len);
    close(fd);
    return r;
}
