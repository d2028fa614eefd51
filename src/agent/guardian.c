/* The guardian daemon (contract in guardian.h): reverts journaled faults when
 * their owner dies, their lease expires or their duration ends. */
#include "agent/guardian.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/sentinel.h"
#include "util/log.h"
#include "util/parse.h"
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

/* argv of /proc/<pid>/cmdline as a NUL-separated buffer; returns its length. */
static size_t read_cmdline(const char *pid, char *buf, size_t cap)
{
    char path[64];
    int fd;
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

/* The --state-dir of a guardian's argv ("faultline __guardian --state-dir
 * DIR ..."), made absolute; false if `pid` is not a guardian. */
static bool guardian_dir(const char *pid, char *out, size_t len)
{
    char argv[8192], cwd[PATH_MAX], link[64];
    size_t n = read_cmdline(pid, argv, sizeof argv), at = 0;
    const char *args[8] = {0};
    int argc = 0;
    ssize_t c;

    while (at < n && argc < 8) {
        args[argc++] = argv + at;
        at += strlen(argv + at) + 1;
    }
    if (argc < 4 || strcmp(args[1], "__guardian") || strcmp(args[2], "--state-dir"))
        return false;
    if (args[3][0] == '/') {
        snprintf(out, len, "%s", args[3]);
        return true;
    }
    snprintf(link, sizeof link, "/proc/%s/cwd", pid);
    c = readlink(link, cwd, sizeof cwd - 1);
    if (c <= 0)
        return false;
    cwd[c] = '\0';
    snprintf(out, len, "%s/%s", cwd, args[3]);
    return true;
}

json_t *fl_guardian_state_dirs(void)
{
    json_t *out = json_array();
    DIR *d = opendir("/proc");
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char dir[PATH_MAX];
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        if (guardian_dir(de->d_name, dir, sizeof dir))
            json_array_append_new(out, json_string(dir));
    }
    if (d)
        closedir(d);
    return out;
}

/* What the guardian remembers between passes, so a record it cannot
 * revert costs a bounded number of log lines: failing reverts are retried
 * with a doubling delay (1 s up to GUARDIAN_RETRY_MAX_MS) and logged once
 * per try; a damaged record is logged once, when it appears. */
#define GUARDIAN_RETRY_FIRST_MS 1000
#define GUARDIAN_RETRY_MAX_MS 60000

struct guardian_memory {
    json_t *retry;   /* id -> {"at": next try (ms), "delay": ms, "tries": n} */
    json_t *damaged; /* record name -> the problem last logged */
};

/* One revert attempt of a record that is due, with back-off on failure. */
static void guardian_revert(struct fl_journal *j, struct guardian_memory *m, const json_t *rec,
                            enum fl_lease_verdict v, int64_t now, int *remaining)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    char by[256], lease[32];
    json_t *rt = json_object_get(m->retry, id);
    int64_t delay = rt ? json_integer_value(json_object_get(rt, "delay")) : 0;
    json_int_t tries = rt ? json_integer_value(json_object_get(rt, "tries")) : 0;
    struct fl_err e = {0};
    bool found;

    if (rt && now < json_integer_value(json_object_get(rt, "at"))) {
        (*remaining)++;
        return;
    }
    if (!rt)
        fl_info("reverting fault %s (%s): %s", id, kind ? kind : "?", fl_lease_verdict_str(v));
    fl_format_duration(json_integer_value(json_object_get(rec, "lease_ms")), lease, sizeof lease);
    if (v == FL_LEASE_EXPIRED)
        snprintf(by, sizeof by,
                 "the guardian (pid %d): its lease of %s expired, this process did not renew "
                 "it in time (was it stopped, or starved of CPU?)",
                 (int)getpid(), lease);
    else
        snprintf(by, sizeof by, "the guardian (pid %d): %s", (int)getpid(),
                 fl_lease_verdict_str(v));
    /* A dead owner reads no note. */
    if (fl_journal_revert_by(j, id, v == FL_LEASE_OWNER_GONE ? NULL : by, &found, &e) == 0) {
        if (found)
            fl_info("fault %s reverted%s", id, rt ? " at last" : "");
        json_object_del(m->retry, id);
        return;
    }
    delay = delay ? delay * 2 : GUARDIAN_RETRY_FIRST_MS;
    if (delay > GUARDIAN_RETRY_MAX_MS)
        delay = GUARDIAN_RETRY_MAX_MS;
    tries++;
    fl_error("revert of %s failed (try %lld), next try in %llds: %s", id, (long long)tries,
             (long long)(delay / 1000), e.msg);
    json_object_set_new(m->retry, id,
                        json_pack("{s:I, s:I, s:I}", "at", (json_int_t)(now + delay), "delay",
                                  (json_int_t)delay, "tries", tries));
    (*remaining)++;
}

/* Log each damaged record once (again only if its problem changes). */
static void guardian_note_damaged(struct guardian_memory *m, const json_t *bad)
{
    json_t *d, *seen = json_object();
    size_t i;

    json_array_foreach (bad, i, d) {
        const char *name = json_string_value(json_object_get(d, "id"));
        const char *problem = json_string_value(json_object_get(d, "problem"));
        const char *before = json_string_value(json_object_get(m->damaged, name));

        if (!before || strcmp(before, problem))
            fl_warn("journal record %s cannot be reverted: %s. If its fault is still "
                    "applied, remove it by hand; then `faultline recover --forget %s` "
                    "(`faultline status` lists it)",
                    json_string_value(json_object_get(d, "file")), problem, name);
        json_object_set_new(seen, name, json_string(problem));
    }
    json_decref(m->damaged);
    m->damaged = seen;
}

/* Forget the back-off of records that are gone (recover, --forget). */
static void forget_gone(struct guardian_memory *m, const json_t *live)
{
    const char *key;
    json_t *val;
    void *tmp;

    json_object_foreach_safe (m->retry, tmp, key, val) {
        if (!json_object_get(live, key))
            json_object_del(m->retry, key);
    }
}

/* Revert every record whose lease says so. Returns how many records remain. */
static int guardian_pass(struct fl_journal *j, struct guardian_memory *m)
{
    json_t *all = json_array(), *bad = json_array(), *live = json_object();
    int64_t now = fl_now_ms();
    size_t i;
    json_t *rec;
    int remaining = 0;

    fl_journal_scan(j, all, bad);
    json_array_foreach (all, i, rec) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        enum fl_lease_verdict v = fl_lease_check(rec, now, fl_journal_owner_alive(rec));

        json_object_set_new(live, id, json_true());
        if (v == FL_LEASE_KEEP) {
            remaining++;
            continue;
        }
        guardian_revert(j, m, rec, v, now, &remaining);
    }
    forget_gone(m, live);
    guardian_note_damaged(m, bad);
    fl_journal_prune_notes(j, 600);
    json_decref(bad);
    json_decref(live);
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
    struct guardian_memory mem = {0};
    struct fl_sentinel sentinel = {.pidfd = -1};

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
    mem.retry = json_object();
    mem.damaged = json_object();
    fl_sentinel_start(&sentinel, j.root);
    while (!guardian_stop) {
        int remaining = guardian_pass(&j, &mem);
        int64_t now = fl_now_ms();

        fl_sentinel_check(&sentinel, j.root);
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
    if (guardian_stop) {
        fl_sentinel_stop(&sentinel); /* stopping the guardian means stopping both */
        close(lock_fd);
    } else if (sentinel.pidfd >= 0) {
        close(sentinel.pidfd); /* it sees us exit and follows, the journal being empty */
    }
    fl_info("guardian exiting");
    json_decref(mem.retry);
    json_decref(mem.damaged);
    fl_journal_close(&j);
    fl_log_set_file(NULL);
    if (log)
        fclose(log);
    return 0;
}
