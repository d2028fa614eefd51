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

/* ---- a workload on an agent host: a job of its agent ---------------------- */

#define FETCH_EVERY_MS 1000
#define FETCH_MAX (1u << 20)
#define UNREACHABLE_GIVE_UP_MS 10000

/* POST the job: `faultline workload ARGV --duration D --seed S --out -`. */
static int remote_start(const struct fl_spec_workload *w, const char *dur, const char *seed,
                        int64_t duration_ms, struct fl_workload_child *c, struct fl_err *e)
{
    const char *tail[] = {"--duration", dur, "--seed", seed, "--out", "-"};
    json_t *args, *req;
    int fd, r;

    if ((fd = open(c->history, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return fl_err_set(e, FL_EFAIL, "workload: cannot create %s: %s", c->history,
                          strerror(errno));
    close(fd);
    args = json_array();
    for (size_t i = 0; args && i < w->argc; i++)
        json_array_append_new(args, json_string(w->argv[i]));
    for (size_t i = 0; args && i < sizeof tail / sizeof *tail; i++)
        json_array_append_new(args, json_string(tail[i]));
    /* the agent kills it past its own time: the run waits 30 s past the end */
    req = json_pack("{s:s,s:o,s:s,s:I}", "kind", "workload", "args", args, "name",
                    w->name ? w->name : "workload", "timeout_ms", (json_int_t)duration_ms + 35000);
    if (!req)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    r = fl_agent_client_job_start(c->agent, req, c->job, e);
    json_decref(req);
    return r;
}

/* Append what the job wrote since the last copy to the history file;
 * *eof: the job has ended and everything is copied. */
static int remote_fetch(struct fl_workload_child *c, bool *eof, struct fl_err *e)
{
    FILE *f = fopen(c->history, "ae");
    int r = 0;

    *eof = false;
    if (!f)
        return fl_err_set(e, FL_EFAIL, "cannot append to %s: %s", c->history, strerror(errno));
    for (;;) {
        char *buf = NULL;
        size_t n = 0;
        r = fl_agent_client_job_output(c->agent, c->job, c->fetched, FETCH_MAX, &buf, &n, eof, e);
        if (!r && n && fwrite(buf, 1, n, f) != n)
            r = fl_err_set(e, FL_EFAIL, "cannot write %s: %s", c->history, strerror(errno));
        free(buf);
        if (r)
            break;
        c->fetched += n;
        if (*eof || n < FETCH_MAX)
            break;
    }
    if (fclose(f) && !r)
        r = fl_err_set(e, FL_EFAIL, "cannot write %s: %s", c->history, strerror(errno));
    return r;
}

/* The job ended (status st): copy the rest, keep its stderr tail as the
 * log, note anything that makes the history incomplete. */
static void remote_ended(struct fl_workload_child *c, const json_t *st)
{
    const char *state = json_string_value(json_object_get(st, "state"));
    const char *tail = json_string_value(json_object_get(st, "stderr_tail"));
    struct fl_err e = {0};
    bool eof = false;
    FILE *f;

    c->ended = true;
    c->status = json_is_integer(json_object_get(st, "signal"))
                    ? 128 + (int)json_integer_value(json_object_get(st, "signal"))
                : json_is_integer(json_object_get(st, "exit"))
                    ? (int)json_integer_value(json_object_get(st, "exit"))
                    : 255;
    for (int i = 0; i < 100 && !eof; i++)
        if (remote_fetch(c, &eof, &e))
            break;
    if (!eof)
        snprintf(c->lost, sizeof c->lost, "its history could not be fetched from host %s: %s",
                 fl_agent_client_name(c->agent), e.msg[0] ? e.msg : "the output did not end");
    else if (json_is_true(json_object_get(st, "truncated")))
        snprintf(c->lost, sizeof c->lost,
                 "its agent on host %s kept only the first %llu bytes of the history (raise the "
                 "agent's --job-output-max)",
                 fl_agent_client_name(c->agent), (unsigned long long)c->fetched);
    else if (strcmp(state, "exited") && strcmp(state, "killed"))
        snprintf(c->lost, sizeof c->lost, "its job on host %s ended %s",
                 fl_agent_client_name(c->agent), state);
    if ((f = fopen(c->log, "we"))) {
        fprintf(f, "%s%s(on host %s, job %s)\n", tail ? tail : "",
                tail && *tail && tail[strlen(tail) - 1] != '\n' ? "\n" : "",
                fl_agent_client_name(c->agent), c->job);
        fclose(f);
    }
}

/* One look at the job: copy new output; -1 while it runs (or the agent
 * did not answer this time), else its exit status. */
static int remote_poll(struct fl_workload_child *c, struct fl_err *e)
{
    json_t *st = NULL;
    bool eof;
    int r;

    if (c->ended)
        return c->status;
    if (fl_agent_client_job_status(c->agent, c->job, &st, e)) {
        if (e->code == FL_ENOTARGET) { /* the agent forgot it: restarted */
            snprintf(c->lost, sizeof c->lost,
                     "its job on host %s is gone (was the agent restarted?)",
                     fl_agent_client_name(c->agent));
            c->ended = true;
            c->status = 255;
            return 255;
        }
        return -1;
    }
    r = json_string_value(json_object_get(st, "state")) &&
        strcmp(json_string_value(json_object_get(st, "state")), "pending") &&
        strcmp(json_string_value(json_object_get(st, "state")), "running");
    if (r)
        remote_ended(c, st);
    else
        remote_fetch(c, &eof, e);
    json_decref(st);
    return c->ended ? c->status : -1;
}

void fl_workload_child_fetch(struct fl_workload_child *c)
{
    struct fl_err e = {0};
    int64_t now = fl_now_ms();

    if (!c->agent || c->ended || now < c->next_fetch_ms)
        return;
    c->next_fetch_ms = now + FETCH_EVERY_MS;
    remote_poll(c, &e);
}

/* Wait for the job up to timeout_ms, copying its output; then kill it. */
static int remote_wait(struct fl_workload_child *c, int64_t timeout_ms)
{
    int64_t deadline = fl_now_ms() + timeout_ms, ok_at = fl_now_ms();
    struct fl_err e = {0};

    for (;;) {
        int r = remote_poll(c, &e);
        if (r >= 0)
            return r;
        if (!e.code)
            ok_at = fl_now_ms();
        if (fl_now_ms() - ok_at > UNREACHABLE_GIVE_UP_MS) {
            snprintf(c->lost, sizeof c->lost, "its history could not be fetched: %s", e.msg);
            c->ended = true;
            c->status = 255;
            return 255;
        }
        if (fl_now_ms() >= deadline) {
            bool eof;
            remote_fetch(c, &eof, &e);
            snprintf(c->lost, sizeof c->lost,
                     "its job on host %s did not end in time and was killed; the history may "
                     "lack its last operations",
                     fl_agent_client_name(c->agent));
            fl_agent_client_job_delete(c->agent, c->job, NULL, &e);
            c->job[0] = '\0';
            c->ended = true;
            c->status = 128 + SIGKILL;
            return c->status;
        }
        e = (struct fl_err){0};
        fl_sleep_ms(200);
    }
}

/* Forget the job on its agent (killing it if it still runs). */
static void remote_drop(struct fl_workload_child *c)
{
    struct fl_err e = {0};

    if (c->agent && c->job[0])
        fl_agent_client_job_delete(c->agent, c->job, NULL, &e);
    c->job[0] = '\0';
}

bool fl_workload_child_complete(const struct fl_workload_child *c)
{
    return !c->lost[0];
}

int fl_workload_child_start(const struct fl_spec_workload *w, struct fl_agent_client *agent,
                            uint64_t seed, int64_t duration_ms, struct fl_workload_child *c,
                            struct fl_err *e)
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
    if (agent) {
        c->agent = agent;
        if (remote_start(w, dur, seed_s, duration_ms, c, e)) {
            c->agent = NULL;
            fl_workload_child_cleanup(c);
            return fl_err_prefix(e, "cannot start the workload on host %s", w->host);
        }
        return 0;
    }
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
    struct fl_err e = {0};
    int st;

    if (c->agent)
        return remote_poll(c, &e);
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

    if (c->agent)
        return remote_wait(c, timeout_ms);
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
    remote_drop(c);
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
    remote_drop(c);
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
