/* `faultline agent` of this build for C tests (agent_start.h). */
#include "agent_start.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t fl_test_agent_start(const char *state, const char *extra, char *url, size_t len, char *why,
                          size_t wlen)
{
    char self[PATH_MAX], bin[PATH_MAX + 32], fdarg[16], line[64] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    int p[2];
    pid_t pid;

    if (n <= 0) {
        snprintf(why, wlen, "cannot read /proc/self/exe");
        return -1;
    }
    self[n] = '\0';
    snprintf(bin, sizeof bin, "%s/../../faultline", dirname(self));
    if (access(bin, X_OK)) {
        snprintf(why, wlen, "no faultline binary at %s (build it first)", bin);
        return -1;
    }
    if (pipe(p)) {
        snprintf(why, wlen, "pipe failed");
        return -1;
    }
    snprintf(fdarg, sizeof fdarg, "%d", p[1]);
    if ((pid = fork()) == 0) {
        close(p[0]);
        if (extra)
            execl(bin, bin, "agent", "--listen", "127.0.0.1:0", "--state-dir", state, extra,
                  "--notify-fd", fdarg, (char *)NULL);
        else
            execl(bin, bin, "agent", "--listen", "127.0.0.1:0", "--state-dir", state, "--notify-fd",
                  fdarg, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], line, sizeof line - 1) <= 0 || strncmp(line, "ready ", 6)) {
        close(p[0]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        snprintf(why, wlen, "%s agent did not start", bin);
        return -1;
    }
    close(p[0]);
    snprintf(url, len, "127.0.0.1:%ld", strtol(line + 6, NULL, 10));
    return pid;
}
