/* Runs as processes: each server run is `faultline run FILE --db DB` in its
 * own session, so the server holds no fault; the run's journal and guardian
 * do. The server keeps (pid, process start time) per run; when the process
 * ends its verdict is read back from the history store. After a server
 * restart, a run whose process still lives is adopted (polled until it
 * ends); one whose process is gone without a verdict is `interrupted`. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "server/server.h"
#include "store/db.h"
#include "store/server_store.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/time.h"

#define LOG_TAIL 4096

static void run_path(struct fl_server *s, int64_t id, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s/runs/%lld.%s", s->work_dir, (long long)id, ext);
}

static int write_file(const char *path, const char *text, struct fl_err *e)
{
    FILE *f = fopen(path, "we");

    if (!f || fputs(text, f) < 0 || fclose(f)) {
        int err = errno;
        if (f)
            fclose(f);
        return fl_err_set(e, FL_ESTATE, "cannot write %s: %s (check --work-dir)", path,
                          strerror(err));
    }
    return 0;
}

/* The run's environment: ours, with FAULTLINE_DB set to a PostgreSQL
 * store's URL (kept off the command line, where anyone could read its
 * password). NULL (use ours as it is) for a SQLite store. */
static char **run_env(struct fl_server *s)
{
    extern char **environ;
    size_t n = 0, k = 0;
    char **env;

    if (!fl_db_is_url(s->db))
        return NULL;
    while (environ[n])
        n++;
    if (!(env = calloc(n + 2, sizeof *env)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "FAULTLINE_DB=", 13))
            env[k++] = environ[i];
    if (asprintf(&env[k], "FAULTLINE_DB=%s", s->db) < 0) {
        free(env);
        return NULL;
    }
    return env;
}

static void run_env_free(char **env)
{
    size_t i = 0;

    if (!env)
        return;
    while (env[i] && env[i + 1])
        i++;
    if (env[i])
        free(env[i]); /* the one we made is the last */
    free(env);
}

/* Fork and exec the run; only async-signal-safe calls in the child. */
static pid_t spawn(const char *exe, char *const argv[], char *const envp[], const char *log)
{
    sigset_t all;
    pid_t pid;

    pid = fork();
    if (pid != 0)
        return pid;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    setsid();
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (in < 0 || out < 0)
        _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    if (envp)
        execve(exe, argv, envp);
    else
        execv(exe, argv);
    _exit(127);
}

int fl_runner_start(struct fl_server *s, const char *experiment, const char *schedule,
                    const char *trigger, const char *who, int64_t *id, struct fl_err *e)
{
    char yaml[PATH_MAX + 32], log[PATH_MAX + 32], dir[PATH_MAX + 8];
    json_t *x = fl_sstore_row(s->ss, e, "SELECT content FROM srv_experiments WHERE name = ?", "s",
                              experiment);
    char *argv[10], **env;
    int argc = 0;
    pid_t pid;

    if (!x)
        return e->code ? -e->code
                       : fl_err_set(e, FL_ENOTARGET,
                                    "no experiment '%s'; add it with `faultline experiment add`",
                                    experiment);
    if (fl_sstore_exec(s->ss, id, e,
                       "INSERT INTO srv_runs (experiment, schedule, trigger, state, verdict, who, "
                       "created_ms) VALUES (?, ?, ?, 'starting', 'running', ?, ?)",
                       "ssssI", experiment, schedule, trigger, who, fl_wall_ms()) < 0) {
        json_decref(x);
        return -FL_ESTATE;
    }
    snprintf(dir, sizeof dir, "%s/runs", s->work_dir);
    run_path(s, *id, "yaml", yaml, sizeof yaml);
    run_path(s, *id, "log", log, sizeof log);
    if (fl_mkdir_p(dir, 0750, e) < 0 ||
        write_file(yaml, json_string_value(json_object_get(x, "content")), e) < 0) {
        json_decref(x);
        fl_sstore_exec(s->ss, NULL, &(struct fl_err){0},
                       "UPDATE srv_runs SET state = 'done', verdict = 'error', reason = ?, "
                       "ended_ms = ? WHERE id = ?",
                       "sII", e->msg, fl_wall_ms(), *id);
        return -FL_ESTATE;
    }
    json_decref(x);
    argv[argc++] = "faultline";
    argv[argc++] = "run";
    argv[argc++] = yaml;
    if (!fl_db_is_url(s->db)) {
        argv[argc++] = "--db";
        argv[argc++] = s->db;
    }
    if (s->state_dir[0]) {
        argv[argc++] = "--state-dir";
        argv[argc++] = s->state_dir;
    }
    argv[argc] = NULL;
    env = run_env(s);
    pid = spawn(s->exe, argv, env, log);
    run_env_free(env);
    if (pid < 0) {
        fl_err_set(e, FL_EFAIL, "cannot start the run process: %s", strerror(errno));
        fl_sstore_exec(s->ss, NULL, &(struct fl_err){0},
                       "UPDATE srv_runs SET state = 'done', verdict = 'error', reason = ?, "
                       "ended_ms = ? WHERE id = ?",
                       "sII", e->msg, fl_wall_ms(), *id);
        return -FL_EFAIL;
    }
    s->m.runs_started++;
    fl_sstore_exec(s->ss, NULL, e,
                   "UPDATE srv_runs SET state = 'running', pid = ?, pid_start = ? WHERE id = ?",
                   "III", (int64_t)pid, (int64_t)fl_proc_start_time(pid), *id);
    fl_webhooks_event(s, *id, "run.start");
    return 0;
}

/* A schedule keeps its newest `keep` finished runs (run id is one of them). */
static void prune(struct fl_server *s, int64_t id)
{
    struct fl_err e = {0};
    json_t *r = fl_sstore_row(s->ss, &e,
                              "SELECT c.name, c.keep FROM srv_runs r JOIN srv_schedules c ON "
                              "c.name = r.schedule WHERE r.id = ?",
                              "I", id),
           *old = NULL, *o;
    const char *sched = json_string_value(json_object_get(r, "name"));
    int64_t keep = json_integer_value(json_object_get(r, "keep"));
    char path[PATH_MAX + 32];
    size_t i;

    if (r)
        old = fl_sstore_rows(s->ss, &e,
                             "SELECT id, history_run FROM srv_runs WHERE schedule = ?1 AND state "
                             "= 'done' AND "
                             "id NOT IN (SELECT id FROM srv_runs WHERE schedule = ?1 ORDER BY id "
                             "DESC LIMIT ?2)",
                             "sI", sched, keep);
    /* the run's files and its history store records go with it, so a
     * schedule's disk use stays bounded too */
    json_array_foreach (old, i, o) {
        int64_t gone = json_integer_value(json_object_get(o, "id"));
        int64_t hr = json_integer_value(json_object_get(o, "history_run"));
        if (hr > 0 && fl_store_delete_run(s->hist, hr, &e))
            fprintf(stderr, "faultline server: trimming run %lld of schedule %s: %s\n",
                    (long long)gone, sched, e.msg);
        run_path(s, gone, "yaml", path, sizeof path);
        unlink(path);
        run_path(s, gone, "log", path, sizeof path);
        unlink(path);
        fl_sstore_exec(s->ss, NULL, &e, "DELETE FROM srv_runs WHERE id = ?", "I", gone);
    }
    json_decref(old);
    json_decref(r);
}

int fl_runner_skip(struct fl_server *s, const char *experiment, const char *schedule,
                   const char *reason, int64_t *id)
{
    struct fl_err e = {0};
    int64_t now = fl_wall_ms();
    int r = fl_sstore_exec(s->ss, id, &e,
                           "INSERT INTO srv_runs (experiment, schedule, trigger, state, verdict, "
                           "reason, created_ms, ended_ms) VALUES (?, ?, 'schedule', 'done', "
                           "'skipped', ?, ?, ?)",
                           "sssII", experiment, schedule, reason, now, now);

    if (r >= 0) {
        fl_webhooks_run_ended(s, *id);
        prune(s, *id);
    }
    return r < 0 ? r : 0;
}

int fl_runner_abort(struct fl_server *s, int64_t id, struct fl_err *e)
{
    json_t *r = fl_sstore_row(s->ss, e,
                              "SELECT pid, pid_start FROM srv_runs WHERE id = ? AND state = "
                              "'running'",
                              "I", id);
    pid_t pid;
    uint64_t start;

    if (!r)
        return e->code ? -e->code
                       : fl_err_set(e, FL_ENOTARGET, "run %lld is not running", (long long)id);
    pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
    start = (uint64_t)json_integer_value(json_object_get(r, "pid_start"));
    json_decref(r);
    if (pid <= 1 || !fl_proc_alive(pid, start))
        return fl_err_set(e, FL_ENOTARGET, "run %lld's process has already ended", (long long)id);
    if (kill(pid, SIGTERM))
        return fl_err_set(e, FL_EFAIL, "cannot signal run %lld (pid %d): %s", (long long)id,
                          (int)pid, strerror(errno));
    fl_webhooks_event(s, id, "run.abort");
    return 0;
}

/* The last LOG_TAIL bytes of the run's output, from a line start. */
static char *log_tail(struct fl_server *s, int64_t id)
{
    char path[PATH_MAX + 32], *buf = calloc(1, LOG_TAIL + 1), *p;
    FILE *f;
    long size;
    size_t n;

    run_path(s, id, "log", path, sizeof path);
    if (!buf || !(f = fopen(path, "re")))
        return buf;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > LOG_TAIL ? size - LOG_TAIL : 0, SEEK_SET);
    n = fread(buf, 1, LOG_TAIL, f);
    buf[n] = '\0';
    fclose(f);
    if (size > LOG_TAIL && (p = strchr(buf, '\n')))
        memmove(buf, p + 1, strlen(p + 1) + 1);
    return buf;
}

/* Whether the run printed that its records reached no store (the
 * database was away when it ended): its verdict, exit code and the reason. */
static bool not_stored(struct fl_server *s, int64_t id, char *verdict, size_t vlen, int *exit_code,
                       char *reason, size_t rlen)
{
    char *tail = log_tail(s, id), *p = tail ? strstr(tail, FL_ENGINE_NOT_STORED) : NULL;
    char *end, *v, *rest;
    bool found = false;

    /* " run N verdict V exit X: reason" */
    if (p && !strncmp(p += strlen(FL_ENGINE_NOT_STORED), " run ", 5)) {
        strtoll(p + 5, &end, 10);
        if (!strncmp(end, " verdict ", 9) && (rest = strstr(v = end + 9, " exit ")) &&
            (size_t)(rest - v) < vlen) {
            long code = strtol(rest + 6, &end, 10);
            if (*end == ':') {
                snprintf(verdict, vlen, "%.*s", (int)(rest - v), v);
                *exit_code = (int)code;
                end[1 + strcspn(end + 1, "\n")] = '\0';
                snprintf(reason, rlen, "NOT STORED:%s", end + 1);
                found = true;
            }
        }
    }
    free(tail);
    return found;
}

/* The run ended (exit_code < 0: unknown, it was not our child). */
static void settle(struct fl_server *s, int64_t id, int64_t pid, int64_t start, int exit_code,
                   const char *gone_reason)
{
    int64_t hr = fl_sstore_history_run(s->ss, pid, start);
    struct fl_err e = {0};
    json_t *h = hr ? fl_store_show_run(s->hist, hr, 0, &e) : NULL;
    const char *verdict = json_string_value(json_object_get(h, "verdict"));
    const char *expl = json_string_value(json_object_get(h, "explanation"));
    json_t *ec = json_object_get(h, "exit_code");
    char *tail = NULL, reason[1024], nverdict[32];

    if ((!verdict || !strcmp(verdict, "interrupted")) &&
        not_stored(s, id, nverdict, sizeof nverdict, &exit_code, reason, sizeof reason)) {
        verdict = nverdict;
        expl = reason;
        gone_reason = NULL;
    } else if (!verdict) {
        tail = log_tail(s, id);
        char *last = tail ? strrchr(tail, '\n') : NULL;
        while (last && last > tail && last[1] == '\0') {
            *last = '\0';
            last = strrchr(tail, '\n');
        }
        snprintf(reason, sizeof reason,
                 "the run process exited with code %d before recording "
                 "a run: %s",
                 exit_code, last ? last + 1 : (tail && *tail ? tail : "(no output)"));
        verdict = gone_reason ? "interrupted" : "error";
        expl = gone_reason ? gone_reason : reason;
    } else if (!strcmp(verdict, "interrupted") && gone_reason) {
        expl = gone_reason;
    }
    if (json_is_integer(ec))
        exit_code = (int)json_integer_value(ec);
    fl_sstore_exec(s->ss, NULL, &e,
                   "UPDATE srv_runs SET state = 'done', verdict = ?, reason = ?, exit_code = ?, "
                   "history_run = ?, ended_ms = ? WHERE id = ?",
                   "ssIIII", verdict, expl, (int64_t)exit_code, hr, fl_wall_ms(), id);
    if (!hr)
        fl_sstore_exec(s->ss, NULL, &e, "UPDATE srv_runs SET history_run = NULL WHERE id = ?", "I",
                       id);
    json_decref(h);
    free(tail);
    fl_webhooks_run_ended(s, id);
    prune(s, id);
}

void fl_runner_poll(struct fl_server *s)
{
    struct fl_err e = {0};
    json_t *all = fl_sstore_rows(s->ss, &e,
                                 "SELECT id, pid, pid_start, adopted FROM srv_runs WHERE state = "
                                 "'running'",
                                 NULL),
           *r;
    size_t i;

    json_array_foreach (all, i, r) {
        int64_t id = json_integer_value(json_object_get(r, "id"));
        pid_t pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
        int64_t start = json_integer_value(json_object_get(r, "pid_start"));
        int status = 0;

        if (!json_integer_value(json_object_get(r, "adopted"))) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                settle(s, id, pid, start,
                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), NULL);
            else if (w < 0 && !fl_proc_alive(pid, (uint64_t)start))
                settle(s, id, pid, start, -1, NULL);
        } else if (!fl_proc_alive(pid, (uint64_t)start)) {
            settle(s, id, pid, start, -1, NULL);
        }
    }
    json_decref(all);
}

void fl_runner_recover(struct fl_server *s)
{
    struct fl_err e = {0};
    json_t *all = fl_sstore_rows(s->ss, &e,
                                 "SELECT id, pid, pid_start FROM srv_runs WHERE state IN "
                                 "('running', 'starting')",
                                 NULL),
           *r;
    size_t i;

    json_array_foreach (all, i, r) {
        int64_t id = json_integer_value(json_object_get(r, "id"));
        json_t *jp = json_object_get(r, "pid");
        pid_t pid = (pid_t)json_integer_value(jp);
        int64_t start = json_integer_value(json_object_get(r, "pid_start"));
        char why[512];

        if (json_is_integer(jp) && pid > 1 && fl_proc_alive(pid, (uint64_t)start)) {
            fl_sstore_exec(s->ss, NULL, &e,
                           "UPDATE srv_runs SET adopted = 1, state = 'running' WHERE id = ?", "I",
                           id);
            continue;
        }
        snprintf(why, sizeof why,
                 "the server stopped while this run was going and its process (pid %d) ended "
                 "without a verdict; the guardian reverted its faults",
                 (int)pid);
        settle(s, id, pid, start, -1, why);
    }
    json_decref(all);
}

json_t *fl_runner_get(struct fl_server *s, int64_t id, bool detail, bool samples)
{
    struct fl_err e = {0};
    json_t *r = fl_sstore_row(s->ss, &e,
                              "SELECT id, experiment, schedule, trigger, state, verdict, reason, "
                              "pid, history_run, exit_code, adopted, who, created_ms, ended_ms "
                              "FROM srv_runs WHERE id = ?",
                              "I", id);
    int64_t hr;

    if (!r)
        return NULL;
    /* a run whose records reached no store (the database was away) */
    json_object_set_new(r, "stored",
                        json_boolean(strncmp(json_string_value(json_object_get(r, "reason"))
                                                 ? json_string_value(json_object_get(r, "reason"))
                                                 : "",
                                             "NOT STORED:", 11)));
    json_object_set_new(r, "adopted",
                        json_boolean(json_integer_value(json_object_get(r, "adopted"))));
    hr = json_integer_value(json_object_get(r, "history_run"));
    if (!hr && !strcmp(json_string_value(json_object_get(r, "state")), "running")) {
        json_t *p =
            fl_sstore_row(s->ss, &e, "SELECT pid, pid_start FROM srv_runs WHERE id = ?", "I", id);
        hr = fl_sstore_history_run(s->ss, json_integer_value(json_object_get(p, "pid")),
                                   json_integer_value(json_object_get(p, "pid_start")));
        json_decref(p);
        if (hr)
            json_object_set_new(r, "history_run", json_integer(hr));
    }
    if (detail) {
        char *tail = log_tail(s, id);
        json_object_set_new(r, "run",
                            hr ? fl_store_show_run(s->hist, hr, samples, &e) : json_null());
        if (!json_object_get(r, "run"))
            json_object_set_new(r, "run", json_null());
        json_t *log = json_string(tail ? tail : "");
        for (char *c = tail; !log && c && *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?'; /* not UTF-8: keep it readable */
        json_object_set_new(r, "log", log ? log : json_string(tail ? tail : ""));
        free(tail);
    }
    return r;
}
