/* The agent's jobs as processes (jobs.h, jobs_int.h): starting a child with
 * posix_spawn in its own process group, the thread that copies the
 * children's pipes to the capped output file and the stderr tail, the
 * reaper's turn (exits, timeouts, leases, kills), renewals, the restart
 * sweep and the stop. The requests and replies are jobs_api.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote/jobs_int.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

#define IO_CHUNK (64 << 10)
#define PIPE_LINGER_MS 2000 /* pipes a job's escaped children hold are closed after this */

extern char **environ;

const char *const fl_jobs_kind_names[3] = {"command", "probe", "workload"};
const char *const fl_jobs_state_names[6] = {"pending", "running",   "exited",
                                            "killed",  "timed_out", "failed"};

/* ---- paths, records ---------------------------------------------------- */

void fl_jobs_path(struct fl_jobs *j, const struct fl_job *jb, const char *ext, char *buf,
                  size_t len)
{
    snprintf(buf, len, "%s/%s.%s", j->dir, jb->id, ext);
}

/* STATE_DIR/jobs/ID.json: what the next agent needs to kill the job, or to
 * start a pending "run" one. Written whole (a temporary file renamed). */
void fl_jobs_record_write(struct fl_jobs *j, const struct fl_job *jb)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    _cleanup_json_ json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:i,s:I}", "id", jb->id, "name", jb->name, "kind",
                  fl_jobs_kind_names[jb->kind], "state", fl_jobs_state_names[jb->state],
                  "on_lease_end", jb->run_on_lease_end ? "run" : "kill", "req", jb->req, "pid",
                  (int)jb->pid, "start_time", (json_int_t)jb->start_time);

    fl_jobs_path(j, jb, "json", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!rec || json_dump_file(rec, tmp, JSON_COMPACT) || rename(tmp, path))
        fl_warn("job %s: cannot write %s (%s); a crash of this agent would leave it running",
                jb->id, path, strerror(errno));
}

void fl_jobs_record_remove(struct fl_jobs *j, const struct fl_job *jb)
{
    char path[PATH_MAX + 32];

    fl_jobs_path(j, jb, "json", path, sizeof path);
    unlink(path);
}

void fl_jobs_files_remove(struct fl_jobs *j, const struct fl_job *jb)
{
    char path[PATH_MAX + 32];

    fl_jobs_record_remove(j, jb);
    fl_jobs_path(j, jb, "out", path, sizeof path);
    unlink(path);
}

int fl_jobs_kind_of(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, fl_jobs_kind_names[i]))
            return i;
    return -1;
}

/* ---- the pipe thread --------------------------------------------------- */

void fl_jobs_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* One read from a job's stdout into its file, up to the cap; beyond it the
 * bytes are read and dropped, so the child never blocks on a full pipe. */
static void pump_out(struct fl_jobs *j, struct fl_job *jb, char *buf)
{
    ssize_t n = read(jb->out_fd, buf, IO_CHUNK);
    uint64_t room = jb->stdout_bytes < j->output_max ? j->output_max - jb->stdout_bytes : 0;
    size_t keep;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fl_jobs_close_fd(&jb->out_fd);
        return;
    }
    keep = (uint64_t)n < room ? (size_t)n : (size_t)room;
    if (keep < (size_t)n)
        jb->truncated = true;
    if (keep && jb->file_fd >= 0) {
        ssize_t w = pwrite(jb->file_fd, buf, keep, (off_t)jb->stdout_bytes);
        if (w < 0) {
            fl_warn("job %s: cannot write its output: %s; the rest is dropped", jb->id,
                    strerror(errno));
            fl_jobs_close_fd(&jb->file_fd);
            jb->truncated = true;
            return;
        }
        jb->stdout_bytes += (uint64_t)w;
    }
}

static void pump_err(struct fl_job *jb, char *buf)
{
    ssize_t n = read(jb->err_fd, buf, IO_CHUNK);
    size_t k;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fl_jobs_close_fd(&jb->err_fd);
        return;
    }
    k = (size_t)n;
    if (k >= sizeof jb->tail) {
        memcpy(jb->tail, buf + k - sizeof jb->tail, sizeof jb->tail);
        jb->tail_len = sizeof jb->tail;
        return;
    }
    if (jb->tail_len + k > sizeof jb->tail) {
        size_t drop = jb->tail_len + k - sizeof jb->tail;
        memmove(jb->tail, jb->tail + drop, jb->tail_len - drop);
        jb->tail_len -= drop;
    }
    memcpy(jb->tail + jb->tail_len, buf, k);
    jb->tail_len += k;
}

static bool ready(const struct pollfd *pf, size_t n, int fd)
{
    for (size_t i = 1; i < n; i++)
        if (pf[i].fd == fd)
            return pf[i].revents != 0;
    return false;
}

/* Poll every job's pipes (and the wake pipe, written when a job starts or
 * the agent stops); copy what arrives under j->mu. */
static void *io_main(void *arg)
{
    struct fl_jobs *j = arg;
    struct pollfd pf[1 + 2 * FL_JOBS_MAX];
    char *buf = malloc(IO_CHUNK), drain[64];

    while (buf) {
        size_t n = 0;
        pthread_mutex_lock(&j->mu);
        if (j->io_stop) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        pf[n++] = (struct pollfd){.fd = j->wake[0], .events = POLLIN};
        for (struct fl_job *jb = j->list; jb && n + 2 <= 1 + 2 * FL_JOBS_MAX; jb = jb->next) {
            if (jb->out_fd >= 0)
                pf[n++] = (struct pollfd){.fd = jb->out_fd, .events = POLLIN};
            if (jb->err_fd >= 0)
                pf[n++] = (struct pollfd){.fd = jb->err_fd, .events = POLLIN};
        }
        pthread_mutex_unlock(&j->mu);
        if (poll(pf, n, 1000) <= 0)
            continue;
        if (pf[0].revents && read(j->wake[0], drain, sizeof drain) < 0 && errno != EAGAIN)
            fl_sleep_ms(10);
        pthread_mutex_lock(&j->mu);
        for (struct fl_job *jb = j->list; jb; jb = jb->next) {
            if (jb->out_fd >= 0 && ready(pf, n, jb->out_fd))
                pump_out(j, jb, buf);
            if (jb->err_fd >= 0 && ready(pf, n, jb->err_fd))
                pump_err(jb, buf);
        }
        pthread_mutex_unlock(&j->mu);
    }
    free(buf);
    return NULL;
}

static void wake_io(struct fl_jobs *j)
{
    if (write(j->wake[1], "w", 1) < 0 && errno != EAGAIN)
        fl_warn("jobs: cannot wake the output thread: %s", strerror(errno));
}

/* ---- starting ---------------------------------------------------------- */

/* argv for the job, borrowing the request's strings; NULL on ENOMEM. */
static char **job_argv(struct fl_jobs *j, const struct fl_job *jb)
{
    json_t *args = json_object_get(jb->req, "args"), *v;
    size_t n = json_array_size(args), i;
    char **argv = calloc(n + 4, sizeof *argv);

    if (!argv)
        return NULL;
    if (jb->kind == FL_JOB_COMMAND) {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = (char *)json_string_value(json_object_get(jb->req, "command"));
        return argv;
    }
    argv[0] = j->exe;
    argv[1] = (char *)fl_jobs_kind_names[jb->kind];
    json_array_foreach (args, i, v)
        argv[2 + i] = (char *)json_string_value(v);
    return argv;
}

static void env_free(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

static bool env_overridden(const char *entry, json_t *env)
{
    const char *eq = strchr(entry, '=');
    char key[160];

    if (!eq || (size_t)(eq - entry) >= sizeof key)
        return false;
    snprintf(key, sizeof key, "%.*s", (int)(eq - entry), entry);
    return json_object_get(env, key) || !strcmp(key, "FAULTLINE_NO_COMMANDS") ||
           !strcmp(key, "FAULTLINE_JOB_ID");
}

/* The agent's environment, minus what the job sets, plus the job's env,
 * FAULTLINE_JOB_ID and (probe and workload jobs of an agent without
 * --allow-commands) FAULTLINE_NO_COMMANDS=1. All malloc'd; NULL on ENOMEM. */
static char **job_envp(struct fl_jobs *j, const struct fl_job *jb)
{
    json_t *env = json_object_get(jb->req, "env"), *v;
    size_t n = 0, k = 0;
    const char *key;
    char **envp;

    while (environ[n])
        n++;
    if (!(envp = calloc(n + json_object_size(env) + 3, sizeof *envp)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!env_overridden(environ[i], env) && !(envp[k++] = strdup(environ[i])))
            goto oom;
    json_object_foreach (env, key, v)
        if (asprintf(&envp[k++], "%s=%s", key, json_string_value(v)) < 0)
            goto oom;
    if (asprintf(&envp[k++], "FAULTLINE_JOB_ID=%s", jb->id) < 0)
        goto oom;
    if (jb->kind != FL_JOB_COMMAND && !j->allow_commands &&
        !(envp[k++] = strdup("FAULTLINE_NO_COMMANDS=1")))
        goto oom;
    return envp;
oom:
    envp[k - 1] = NULL;
    env_free(envp);
    return NULL;
}

static int spawn_child(struct fl_job *jb, char **argv, char **envp, int out, int err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    int r;

    sigemptyset(&none);
    sigemptyset(&def);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaddset(&def, s);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    r = posix_spawn(&jb->pid, argv[0], &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

/* Start jb now (under j->mu): the output file, the pipes, the child. On
 * failure the job is "failed" with the reason in jb->error. */
void fl_jobs_start_job(struct fl_jobs *j, struct fl_job *jb)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1}, r = 0;
    char path[PATH_MAX + 32], **argv = job_argv(j, jb), **envp = job_envp(j, jb);

    fl_jobs_path(j, jb, "out", path, sizeof path);
    if (!argv || !envp)
        r = ENOMEM;
    else if ((jb->file_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
             pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        r = errno;
    else
        r = spawn_child(jb, argv, envp, out[1], err[1]);
    fl_jobs_close_fd(&out[1]);
    fl_jobs_close_fd(&err[1]);
    free(argv);
    env_free(envp);
    jb->started_ms = fl_now_ms();
    if (r) {
        fl_jobs_close_fd(&out[0]);
        fl_jobs_close_fd(&err[0]);
        fl_jobs_close_fd(&jb->file_fd);
        jb->pid = 0;
        jb->state = FL_JOB_FAILED;
        jb->ended_ms = jb->started_ms;
        fl_jobs_record_remove(j, jb);
        snprintf(jb->error, sizeof jb->error, "cannot start it: %s", strerror(r));
        fl_warn("job %s (%s) failed to start: %s", jb->id, jb->name, strerror(r));
        return;
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    jb->out_fd = out[0];
    jb->err_fd = err[0];
    jb->state = FL_JOB_RUNNING;
    jb->start_time = fl_proc_start_time(jb->pid);
    fl_jobs_record_write(j, jb);
    wake_io(j);
    fl_info("job %s (%s, %s) started for '%s' (session %s): pid %d", jb->id, jb->name,
            fl_jobs_kind_names[jb->kind], jb->who, jb->session, (int)jb->pid);
}

int fl_jobs_io_start(struct fl_jobs *j, struct fl_err *e)
{
    if (j->io_started)
        return 0;
    if (pthread_create(&j->io, NULL, io_main, j))
        return fl_err_set(e, FL_EFAIL, "cannot start the jobs' output thread");
    j->io_started = true;
    return 0;
}

/* ---- ending ------------------------------------------------------------ */

void fl_jobs_begin_kill(struct fl_job *jb, enum fl_job_state as, const char *why)
{
    if (jb->state != FL_JOB_RUNNING || jb->kill_at)
        return;
    jb->end_as = as;
    jb->kill_at = fl_now_ms() + FL_JOB_KILL_GRACE_MS;
    kill(-jb->pid, SIGTERM);
    fl_info("job %s (%s) pid %d: SIGTERM to its process group: %s", jb->id, jb->name, (int)jb->pid,
            why);
}

/* /proc/PID/stat after "(comm)": " STATE PPID PGRP ..."; 0 when parsed. */
static int stat_state_pgrp(char *p, char *state, int *pgrp)
{
    char *end;
    long v;

    while (*p == ' ')
        p++;
    if (!*p)
        return -1;
    *state = *p++;
    strtol(p, &end, 10); /* ppid */
    if (end == p)
        return -1;
    p = end;
    v = strtol(p, &end, 10);
    if (end == p)
        return -1;
    *pgrp = (int)v;
    return 0;
}

/* Whether a live process other than pgid itself is in process group pgid. */
static bool group_has_others(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    bool found = false;

    while (d && !found && (de = readdir(d))) {
        char path[64], buf[512], *p;
        pid_t pid = (pid_t)strtol(de->d_name, &p, 10);
        int fd, pgrp = 0;
        ssize_t n;
        char state = 0;
        if (*p || pid <= 0 || pid == pgid)
            continue;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* after "(comm)": state, ppid, pgrp */
        if (!(p = strrchr(buf, ')')) || stat_state_pgrp(p + 1, &state, &pgrp))
            continue;
        if (pgrp == pgid && state != 'Z' && state != 'X')
            found = true;
    }
    if (d)
        closedir(d);
    return found;
}

/* waitpid without blocking; true when the child ended (and is reaped). */
bool fl_jobs_reap(struct fl_jobs *j, struct fl_job *jb)
{
    siginfo_t si = {0};
    int st = 0;
    pid_t r;

    /* first look without reaping: while the child is an unreaped zombie its
     * pid (the process group's id) cannot be reused, so the SIGKILL to what
     * it left in its group cannot hit anyone else's */
    if (waitid(P_PID, (id_t)jb->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        int64_t now = fl_now_ms();
        if (si.si_pid == 0)
            return false;
        /* a command that started a server may end a moment before the server
         * (a daemon's fork, `setsid -f`) has left the group: give what is
         * still in the group a grace to leave before killing it (not when the
         * job is being killed anyway) */
        if (!jb->kill_at && group_has_others(jb->pid)) {
            if (!jb->leader_done_ms)
                jb->leader_done_ms = now;
            if (now < jb->leader_done_ms + FL_JOB_DETACH_GRACE_MS)
                return false;
        }
        kill(-jb->pid, SIGKILL);
    } else if (errno == EINTR) {
        return false;
    }
    r = waitpid(jb->pid, &st, 0);
    jb->ended_ms = fl_now_ms();
    if (r > 0 && WIFEXITED(st))
        jb->exit_code = WEXITSTATUS(st);
    else if (r > 0 && WIFSIGNALED(st))
        jb->sig = WTERMSIG(st);
    jb->state = jb->kill_at ? jb->end_as : FL_JOB_EXITED;
    fl_jobs_record_remove(j, jb);
    fl_info("job %s (%s) pid %d %s: %s %d after %lld ms, %llu bytes of output%s", jb->id, jb->name,
            (int)jb->pid, fl_jobs_state_names[jb->state], jb->sig > 0 ? "signal" : "exit",
            jb->sig > 0 ? jb->sig : jb->exit_code, (long long)(jb->ended_ms - jb->started_ms),
            (unsigned long long)jb->stdout_bytes, jb->truncated ? " (truncated)" : "");
    return true;
}

void fl_jobs_job_free(struct fl_job *jb)
{
    fl_jobs_close_fd(&jb->out_fd);
    fl_jobs_close_fd(&jb->err_fd);
    fl_jobs_close_fd(&jb->file_fd);
    json_decref(jb->req);
    free(jb);
}

void fl_jobs_unlink(struct fl_jobs *j, struct fl_job *jb)
{
    for (struct fl_job **pp = &j->list; *pp; pp = &(*pp)->next)
        if (*pp == jb) {
            *pp = jb->next;
            j->n--;
            return;
        }
}

/* A pending job at its lease's end (why: what ended it, NULL for the lease
 * running out): "run" starts it, "kill" drops it. */
static void pending_lease_end(struct fl_jobs *j, struct fl_job *jb, const char *why)
{
    char lapsed[160];

    snprintf(lapsed, sizeof lapsed, "no renewal from session %s for %lld ms", jb->session,
             (long long)jb->lease_ms);
    jb->lease_until = 0;
    if (jb->run_on_lease_end) {
        fl_info("job %s (%s): session %s's lease ended (%s); on_lease_end run starts it now",
                jb->id, jb->name, jb->session, why ? why : lapsed);
        fl_jobs_start_job(j, jb);
        return;
    }
    jb->state = FL_JOB_KILLED;
    jb->ended_ms = fl_now_ms();
    fl_jobs_record_remove(j, jb);
    fl_info("job %s (%s) dropped before it started: %s", jb->id, jb->name, why ? why : lapsed);
}

static void running_turn(struct fl_job *jb, int64_t now)
{
    char why[160];

    if (jb->kill_at && now >= jb->kill_at) {
        kill(-jb->pid, SIGKILL);
        jb->kill_at = now + 1000; /* again, if it is still there */
    } else if (!jb->kill_at && jb->timeout_ms && now >= jb->started_ms + jb->timeout_ms) {
        snprintf(why, sizeof why, "timeout_ms %lld reached", (long long)jb->timeout_ms);
        fl_jobs_begin_kill(jb, FL_JOB_TIMED_OUT, why);
    } else if (jb->lease_until && now >= jb->lease_until) {
        jb->lease_until = 0;
        if (jb->run_on_lease_end)
            return; /* left to finish */
        snprintf(why, sizeof why, "lease expired (no renewal from session %s for %lld ms)",
                 jb->session, (long long)jb->lease_ms);
        fl_jobs_begin_kill(jb, FL_JOB_KILLED, why);
    }
}

/* One job's turn; false when it was freed. */
static bool job_turn(struct fl_jobs *j, struct fl_job *jb, int64_t now, int64_t *next)
{
    if (jb->state == FL_JOB_PENDING) {
        if (jb->lease_until && now >= jb->lease_until)
            pending_lease_end(j, jb, NULL);
        else if (now >= jb->start_at)
            fl_jobs_start_job(j, jb);
        else {
            int64_t due =
                jb->lease_until && jb->lease_until < jb->start_at ? jb->lease_until : jb->start_at;
            *next = due - now < *next ? due - now : *next;
        }
    }
    if (jb->state == FL_JOB_RUNNING && !fl_jobs_reap(j, jb)) {
        running_turn(jb, now);
        *next = *next > 50 ? 50 : *next;
        return true;
    }
    if (jb->ended_ms && now >= jb->ended_ms + PIPE_LINGER_MS) {
        fl_jobs_close_fd(&jb->out_fd); /* held by a process that left the job's group */
        fl_jobs_close_fd(&jb->err_fd);
    }
    if (jb->deleted || (jb->ended_ms && now >= jb->ended_ms + FL_JOB_KEEP_MS)) {
        fl_jobs_files_remove(j, jb);
        fl_jobs_unlink(j, jb);
        fl_jobs_job_free(jb);
        return false;
    }
    if (jb->ended_ms && (jb->out_fd >= 0 || jb->err_fd >= 0))
        *next = *next > 100 ? 100 : *next;
    return true;
}

int64_t fl_jobs_tick(struct fl_jobs *j)
{
    int64_t now = fl_now_ms(), next = 1000;

    pthread_mutex_lock(&j->mu);
    for (struct fl_job *jb = j->list, *nx; jb; jb = nx) {
        nx = jb->next;
        job_turn(j, jb, now, &next);
    }
    pthread_mutex_unlock(&j->mu);
    return next;
}

json_t *fl_jobs_renew(struct fl_jobs *j, const char *session, int64_t lease_ms)
{
    json_t *ids = json_array();
    int64_t now = fl_now_ms();

    pthread_mutex_lock(&j->mu);
    for (struct fl_job *jb = j->list; jb; jb = jb->next)
        if (!jb->deleted && jb->lease_until && !strcmp(jb->session, session) &&
            (jb->state == FL_JOB_PENDING || jb->state == FL_JOB_RUNNING)) {
            jb->lease_until = now + lease_ms;
            jb->lease_ms = lease_ms;
            json_array_append_new(ids, json_string(jb->id));
        }
    pthread_mutex_unlock(&j->mu);
    return ids;
}

json_t *fl_jobs_end_leases(struct fl_jobs *j, const char *why)
{
    json_t *killed = json_array(), *started = json_array();

    pthread_mutex_lock(&j->mu);
    for (struct fl_job *jb = j->list; jb; jb = jb->next) {
        if (jb->deleted || !jb->lease_until)
            continue; /* its lease already ended (or it is being forgotten) */
        if (jb->state == FL_JOB_PENDING) {
            pending_lease_end(j, jb, why); /* "run" starts now, "kill" is dropped */
            json_array_append_new(jb->run_on_lease_end ? started : killed, json_string(jb->id));
        } else if (jb->state == FL_JOB_RUNNING) {
            jb->lease_until = 0;
            if (jb->run_on_lease_end)
                continue;     /* left to finish, as at its lease's end */
            if (!jb->kill_at) /* not already being killed (a timeout) */
                fl_jobs_begin_kill(jb, FL_JOB_KILLED, why);
            json_array_append_new(killed, json_string(jb->id));
        }
    }
    pthread_mutex_unlock(&j->mu);
    return json_pack("{s:o,s:o}", "jobs_killed", killed, "jobs_started", started);
}

/* ---- set-up, sweep, stop ----------------------------------------------- */

int fl_jobs_new(const char *state_dir, const char *host, struct fl_jobs **out, struct fl_err *e)
{
    struct fl_jobs *j = calloc(1, sizeof *j);
    ssize_t n;

    *out = NULL;
    if (!j)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    snprintf(j->dir, sizeof j->dir, "%s/jobs", state_dir);
    snprintf(j->host, sizeof j->host, "%s", host);
    j->output_max = FL_JOB_OUTPUT_MAX_DEFAULT;
    if (mkdir(j->dir, 0700) && errno != EEXIST) {
        fl_err_set(e, FL_ESTATE, "cannot create %s: %s; choose another --state-dir", j->dir,
                   strerror(errno));
        free(j);
        return -FL_ESTATE;
    }
    if ((n = readlink("/proc/self/exe", j->exe, sizeof j->exe - 1)) <= 0) {
        fl_err_set(e, FL_EFAIL, "cannot read /proc/self/exe: %s (is /proc mounted?)",
                   strerror(errno));
        free(j);
        return -FL_EFAIL;
    }
    j->exe[n] = '\0';
    if (pipe2(j->wake, O_CLOEXEC | O_NONBLOCK)) {
        fl_err_set(e, FL_EFAIL, "cannot make a pipe: %s", strerror(errno));
        free(j);
        return -FL_EFAIL;
    }
    pthread_mutex_init(&j->mu, NULL);
    *out = j;
    return 0;
}

void fl_jobs_configure(struct fl_jobs *j, bool allow_commands, uint64_t output_max)
{
    pthread_mutex_lock(&j->mu);
    j->allow_commands = allow_commands;
    j->output_max = output_max ? output_max : FL_JOB_OUTPUT_MAX_DEFAULT;
    pthread_mutex_unlock(&j->mu);
}

bool fl_jobs_commands_allowed(struct fl_jobs *j)
{
    bool r;

    pthread_mutex_lock(&j->mu);
    r = j->allow_commands;
    pthread_mutex_unlock(&j->mu);
    return r;
}

size_t fl_jobs_count(struct fl_jobs *j)
{
    size_t n = 0;

    pthread_mutex_lock(&j->mu);
    for (struct fl_job *jb = j->list; jb; jb = jb->next)
        n += !jb->deleted;
    pthread_mutex_unlock(&j->mu);
    return n;
}

struct fl_job *fl_jobs_job_alloc(const char *id)
{
    struct fl_job *jb = calloc(1, sizeof *jb);
    unsigned char rnd[8];

    if (!jb)
        return NULL;
    jb->out_fd = jb->err_fd = jb->file_fd = -1;
    jb->exit_code = jb->sig = -1;
    jb->created_ms = fl_now_ms();
    if (id) {
        snprintf(jb->id, sizeof jb->id, "%s", id);
        return jb;
    }
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
        uint64_t x = (uint64_t)fl_mono_ns() ^ ((uint64_t)getpid() << 40);
        memcpy(rnd, &x, sizeof rnd);
    }
    jb->id[0] = 'j';
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(jb->id + 1 + 2 * i, 3, "%02x", rnd[i]);
    return jb;
}

/* The job in a record a previous agent left: kill it if it still runs (the
 * same pid and start time), or start it now if it was a pending "run" one. */
static void sweep_one(struct fl_jobs *j, json_t *rec, const char *file)
{
    const char *id = json_string_value(json_object_get(rec, "id")),
               *st = json_string_value(json_object_get(rec, "state"));
    pid_t pid = (pid_t)json_integer_value(json_object_get(rec, "pid"));
    uint64_t start = (uint64_t)json_integer_value(json_object_get(rec, "start_time"));
    struct fl_job *jb;

    unlink(file);
    if (!id || strlen(id) != FL_JOBS_ID_LEN - 3 || id[0] != 'j' ||
        strspn(id + 1, "0123456789abcdef") != FL_JOBS_ID_LEN - 4 || !st)
        return;
    if (pid > 1 && start && fl_proc_alive(pid, start)) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        fl_warn("agent %s: killed job %s (pid %d) left running by the previous agent", j->host, id,
                (int)pid);
    } else if (pid > 1 && !fl_proc_start_time(pid) && !kill(-pid, SIGKILL)) {
        fl_warn("agent %s: killed what job %s left in its process group %d", j->host, id, (int)pid);
    }
    if (strcmp(st, "pending") || !json_is_object(json_object_get(rec, "req")) ||
        j->n >= FL_JOBS_MAX || !(jb = fl_jobs_job_alloc(id)))
        return;
    jb->req = json_incref(json_object_get(rec, "req"));
    jb->kind = (enum fl_job_kind)fl_jobs_kind_of(json_string_value(json_object_get(rec, "kind")));
    if ((int)jb->kind < 0 || (jb->kind == FL_JOB_COMMAND && !j->allow_commands)) {
        fl_warn("agent %s: job %s (a pending on_lease_end run job of the previous agent) is not "
                "started: %s",
                j->host, id, (int)jb->kind < 0 ? "unknown kind" : "commands are not allowed");
        fl_jobs_job_free(jb);
        return;
    }
    snprintf(jb->name, sizeof jb->name, "%s",
             json_string_value(json_object_get(rec, "name")) ?: "");
    snprintf(jb->who, sizeof jb->who, "the previous agent");
    snprintf(jb->session, sizeof jb->session, "-");
    jb->run_on_lease_end = true;
    jb->next = j->list;
    j->list = jb;
    j->n++;
    fl_jobs_start_job(j, jb);
}

void fl_jobs_sweep(struct fl_jobs *j)
{
    DIR *dir = opendir(j->dir);
    struct dirent *de;
    char path[PATH_MAX + 300];
    struct fl_err e = {0};

    if (!dir)
        return;
    pthread_mutex_lock(&j->mu);
    if (fl_jobs_io_start(j, &e))
        fl_warn("agent %s: %s", j->host, e.msg);
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", j->dir, de->d_name);
        if (len > 5 && !strcmp(de->d_name + len - 5, ".json")) {
            _cleanup_json_ json_t *rec = json_load_file(path, 0, NULL);
            sweep_one(j, rec, path);
        } else if (len > 4 && (!strcmp(de->d_name + len - 4, ".out") ||
                               !strcmp(de->d_name + len - 4, ".tmp"))) {
            bool mine = false;
            for (struct fl_job *jb = j->list; jb; jb = jb->next)
                mine |= !strncmp(de->d_name, jb->id, FL_JOBS_ID_LEN - 3);
            if (!mine)
                unlink(path);
        }
    }
    pthread_mutex_unlock(&j->mu);
    closedir(dir);
}

/* Wait up to ms for the running jobs to end; true when none is left. */
static bool wait_all(struct fl_jobs *j, int64_t ms)
{
    int64_t until = fl_now_ms() + ms;

    for (;;) {
        bool left = false;
        for (struct fl_job *jb = j->list; jb; jb = jb->next)
            if (jb->state == FL_JOB_RUNNING && !fl_jobs_reap(j, jb))
                left = true;
        if (!left || fl_now_ms() >= until)
            return !left;
        pthread_mutex_unlock(&j->mu); /* the output thread drains meanwhile */
        fl_sleep_ms(20);
        pthread_mutex_lock(&j->mu);
    }
}

void fl_jobs_free(struct fl_jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    for (struct fl_job *jb = j->list; jb; jb = jb->next)
        fl_jobs_begin_kill(jb, FL_JOB_KILLED, "the agent is stopping");
    if (!wait_all(j, FL_JOB_KILL_GRACE_MS)) {
        for (struct fl_job *jb = j->list; jb; jb = jb->next)
            if (jb->state == FL_JOB_RUNNING)
                kill(-jb->pid, SIGKILL);
        wait_all(j, 10000);
    }
    j->io_stop = true;
    pthread_mutex_unlock(&j->mu);
    if (j->io_started) {
        wake_io(j);
        pthread_join(j->io, NULL);
    }
    while (j->list) {
        struct fl_job *jb = j->list;
        j->list = jb->next;
        if (jb->state == FL_JOB_PENDING && jb->run_on_lease_end && !jb->deleted) {
            fl_jobs_record_write(j, jb); /* the next agent starts it */
            fl_jobs_close_fd(&jb->file_fd);
        } else {
            fl_jobs_files_remove(j, jb);
        }
        fl_jobs_job_free(jb);
    }
    close(j->wake[0]);
    close(j->wake[1]);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
