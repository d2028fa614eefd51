#include "agent/guardian.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"

/* Set by SIGTERM/SIGINT; the guardian's only global state. */
static volatile sig_atomic_t guardian_stop;

static void on_stop(int sig)
{
    (void)sig;
    guardian_stop = 1;
}

static void lock_path(const struct fl_journal *j, char *buf, size_t len)
{
    snprintf(buf, len, "%s/guardian.lock", j->root);
}

/* Try to take the guardian lock; returns the held fd or -1. */
static int take_lock(const struct fl_journal *j)
{
    char path[PATH_MAX];
    int fd;

    lock_path(j, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        return -1;
    }
    return fd;
}

bool fl_guardian_running(struct fl_journal *j)
{
    char path[PATH_MAX];
    int fd;

    /* Look without creating anything: no lock file, no guardian. */
    lock_path(j, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        return true;
    }
    close(fd);
    return false;
}

int fl_guardian_ensure(struct fl_journal *j, struct fl_err *e)
{
    char exe[4096];
    ssize_t n;
    pid_t pid;
    int status;

    if (fl_guardian_running(j))
        return 0;
    /* The path of this binary, resolved before forking: under valgrind or
     * another loader /proc/self/exe is the loader, while readlink() reports
     * the program. /proc/self/exe remains the fallback (binary replaced). */
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    pid = fork();
    if (pid < 0)
        return fl_err_set(e, FL_EFAIL, "cannot start the guardian: fork: %s", strerror(errno));
    if (pid == 0) {
        /* Double fork + setsid: the guardian is in no terminal's process
         * group (Ctrl-C does not reach it) and is nobody's child. */
        int devnull;
        setsid();
        if (fork() != 0)
            _exit(0);
        devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (devnull > 2)
                close(devnull);
        }
        if (exe[0])
            execl(exe, "faultline", "__guardian", "--state-dir", j->root, (char *)NULL);
        execl("/proc/self/exe", "faultline", "__guardian", "--state-dir", j->root, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < 300; i++) {
        if (fl_guardian_running(j))
            return 0;
        fl_sleep_ms(10);
    }
    return fl_err_set(e, FL_EFAIL,
                      "the guardian did not start within 3s (see %s/guardian.log); refusing "
                      "to inject a fault nobody would revert if this process died",
                      j->root);
}

/* Revert every record whose lease says so. Returns how many records remain. */
static int guardian_pass(struct fl_journal *j)
{
    json_t *all = fl_journal_list(j);
    int64_t now = fl_now_ms();
    size_t i;
    json_t *rec;
    int remaining = 0;

    json_array_foreach(all, i, rec) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        enum fl_lease_verdict v = fl_lease_check(rec, now, fl_journal_owner_alive(rec));
        struct fl_err e = {0};
        bool found;

        if (v == FL_LEASE_KEEP) {
            remaining++;
            continue;
        }
        fl_info("reverting fault %s (%s): %s", id, kind ? kind : "?", fl_lease_verdict_str(v));
        if (fl_journal_revert(j, id, &found, &e)) {
            fl_error("revert of %s failed, will retry: %s", id, e.msg);
            remaining++;
        } else if (found) {
            fl_info("fault %s reverted", id);
        }
    }
    json_decref(all);
    return remaining;
}

int fl_guardian_run(const char *state_dir, int poll_ms, int idle_exit_ms)
{
    struct fl_journal j;
    struct fl_err e = {0};
    char path[PATH_MAX];
    FILE *log;
    int lock_fd;
    int64_t idle_since = 0;
    struct sigaction sa = {.sa_handler = on_stop};

    if (fl_journal_open(&j, state_dir, &e)) {
        fl_error("%s", e.msg);
        return -e.code == 0 ? FL_ESTATE : e.code;
    }
    snprintf(path, sizeof path, "%s/guardian.log", j.root);
    log = fopen(path, "ae");
    if (log)
        fl_log_set_file(log);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    lock_fd = take_lock(&j);
    if (lock_fd < 0) {
        fl_journal_close(&j);
        if (log)
            fclose(log);
        return 0; /* another guardian already watches this journal */
    }
    fl_info("guardian started for %s", j.root);
    while (!guardian_stop) {
        int remaining = guardian_pass(&j);
        int64_t now = fl_now_ms();

        if (remaining > 0) {
            idle_since = 0;
        } else if (!idle_since) {
            idle_since = now;
        } else if (now - idle_since >= idle_exit_ms) {
            /* Exit protocol: release the lock, then look once more. An inject
             * writes its record before checking for a guardian, so either it
             * saw the lock free (and starts a new guardian) or its record is
             * visible to this second look (and we take the lock back). */
            close(lock_fd);
            if (fl_journal_count(&j) == 0)
                break;
            lock_fd = take_lock(&j);
            if (lock_fd < 0)
                break; /* a newer guardian took over */
            idle_since = 0;
            continue;
        }
        fl_sleep_ms(poll_ms);
    }
    if (guardian_stop)
        close(lock_fd);
    fl_info("guardian exiting");
    fl_journal_close(&j);
    fl_log_set_file(NULL);
    if (log)
        fclose(log);
    return 0;
}
