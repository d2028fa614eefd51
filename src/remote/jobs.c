/* The agent's jobs (jobs.h): request checks, starting a child with
 * posix_spawn in its own process group, the thread that copies the
 * children's pipes to the capped output file and the stderr tail, the
 * reaper's turn (exits, timeouts, leases, kills), the restart sweep, and the
 * HTTP handlers of /api/v1/jobs. */
#include "remote/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote/agentd_int.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

#define JOB_ID_LEN 20
#define SESSION_LEN 64
#define IO_CHUNK (64 << 10)
#define DEFAULT_LEASE_MS 10000
#define PIPE_LINGER_MS 2000 /* pipes a job's escaped children hold are closed after this */

extern char **environ;

enum job_kind { JOB_COMMAND, JOB_PROBE, JOB_WORKLOAD };
enum job_state { JS_PENDING, JS_RUNNING, JS_EXITED, JS_KILLED, JS_TIMED_OUT, JS_FAILED };

static const char *const kind_names[] = {"command", "probe", "workload"};
static const char *const state_names[] = {"pending", "running",   "exited",
                                          "killed",  "timed_out", "failed"};

struct job {
    struct job *next;
    char id[JOB_ID_LEN], name[FL_JOB_NAME_MAX + 1], session[SESSION_LEN + 1], who[64];
    enum job_kind kind;
    enum job_state state, end_as; /* end_as: what a kill under way ends it as */
    json_t *req;                  /* the checked request: command, args, env */
    bool run_on_lease_end, deleted;
    int64_t created_ms, start_at, lease_ms, lease_until; /* lease_until 0: no lease any more */
    int64_t timeout_ms, started_ms, ended_ms, kill_at;   /* kill_at: SIGKILL then (0: none) */
    pid_t pid;
    uint64_t start_time;
    int exit_code, sig; /* -1: none */
    int out_fd, err_fd, file_fd;
    uint64_t stdout_bytes;
    bool truncated;
    char tail[FL_JOB_STDERR_TAIL];
    size_t tail_len;
    char error[256];
};

struct fl_jobs {
    pthread_mutex_t mu;
    struct job *list;
    size_t n;
    char dir[PATH_MAX], exe[PATH_MAX], host[256];
    bool allow_commands, io_started, io_stop;
    uint64_t output_max;
    pthread_t io;
    int wake[2];
};

/* ---- paths, records ---------------------------------------------------- */

static void job_path(struct fl_jobs *j, const struct job *jb, const char *ext, char *buf,
                     size_t len)
{
    snprintf(buf, len, "%s/%s.%s", j->dir, jb->id, ext);
}

/* STATE_DIR/jobs/ID.json: what the next agent needs to kill the job, or to
 * start a pending "run" one. Written whole (a temporary file renamed). */
static void record_write(struct fl_jobs *j, const struct job *jb)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    _cleanup_json_ json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:i,s:I}", "id", jb->id, "name", jb->name, "kind",
                  kind_names[jb->kind], "state", state_names[jb->state], "on_lease_end",
                  jb->run_on_lease_end ? "run" : "kill", "req", jb->req, "pid", (int)jb->pid,
                  "start_time", (json_int_t)jb->start_time);

    job_path(j, jb, "json", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!rec || json_dump_file(rec, tmp, JSON_COMPACT) || rename(tmp, path))
        fl_warn("job %s: cannot write %s (%s); a crash of this agent would leave it running",
                jb->id, path, strerror(errno));
}

static void record_remove(struct fl_jobs *j, const struct job *jb)
{
    char path[PATH_MAX + 32];

    job_path(j, jb, "json", path, sizeof path);
    unlink(path);
}

static void files_remove(struct fl_jobs *j, const struct job *jb)
{
    char path[PATH_MAX + 32];

    record_remove(j, jb);
    job_path(j, jb, "out", path, sizeof path);
    unlink(path);
}

/* ---- request checks ---------------------------------------------------- */

static int bad(int *status, int st, struct fl_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int bad(int *status, int st, struct fl_err *e, int code, const char *fmt, ...)
{
    char msg[FL_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *status = st;
    return fl_err_set(e, code, "%s", msg);
}

static bool plain_string(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

static int check_int(const json_t *body, const char *key, long long min, long long max, int *status,
                     struct fl_err *e)
{
    json_t *v = json_object_get(body, key);

    if (!v || (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max))
        return 0;
    return bad(status, 400, e, FL_EUSAGE, "%s must be an integer from %lld to %lld (milliseconds)",
               key, min, max);
}

static bool env_key_ok(const char *k)
{
    if (!*k || strlen(k) > 128 || (*k >= '0' && *k <= '9'))
        return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_'))
            return false;
    return true;
}

static int check_env_args(const json_t *body, bool command, int *status, struct fl_err *e)
{
    json_t *args = json_object_get(body, "args"), *env = json_object_get(body, "env"), *v;
    const char *k;
    size_t i;

    if (args && command)
        return bad(status, 400, e, FL_EUSAGE,
                   "args belong to kinds probe and workload; a command job gives its whole shell "
                   "command in \"command\"");
    if (args && (!json_is_array(args) || json_array_size(args) > FL_JOB_ARGS_MAX))
        return bad(status, 400, e, FL_EUSAGE,
                   "args must be an array of at most %d strings (the arguments after `faultline "
                   "probe` or `faultline workload`)",
                   FL_JOB_ARGS_MAX);
    json_array_foreach (args, i, v)
        if (!plain_string(v, FL_JOB_ARG_MAX))
            return bad(status, 400, e, FL_EUSAGE,
                       "args[%zu] must be a string of at most %d bytes without NUL", i,
                       FL_JOB_ARG_MAX);
    if (env && (!json_is_object(env) || json_object_size(env) > FL_JOB_ENV_MAX))
        return bad(status, 400, e, FL_EUSAGE,
                   "env must be an object of at most %d NAME: \"value\" pairs", FL_JOB_ENV_MAX);
    json_object_foreach ((json_t *)env, k, v)
        if (!env_key_ok(k) || !plain_string(v, FL_JOB_ARG_MAX))
            return bad(status, 400, e, FL_EUSAGE,
                       "env '%.128s': a name is letters, digits and '_' (not first a digit), a "
                       "value a string of at most %d bytes without NUL",
                       k, FL_JOB_ARG_MAX);
    return 0;
}

static int check_fields(const json_t *body, int *status, struct fl_err *e)
{
    static const char *const fields[] = {"kind",     "command",    "args",     "session",
                                         "lease_ms", "timeout_ms", "delay_ms", "on_lease_end",
                                         "name",     "env",        NULL};
    const char *k;
    json_t *v;

    json_object_foreach ((json_t *)body, k, v) {
        size_t i;
        for (i = 0; fields[i] && strcmp(fields[i], k); i++)
            ;
        if (!fields[i])
            return bad(status, 400, e, FL_EUSAGE,
                       "unknown field '%.64s'; a job is {kind, command | args, session, lease_ms, "
                       "timeout_ms, delay_ms, on_lease_end, name, env} (docs/agent.md, \"Jobs\")",
                       k);
    }
    return 0;
}

static bool session_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > SESSION_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static int kind_of(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, kind_names[i]))
            return i;
    return -1;
}

/* The fields after kind and session: command or args, env, the ranges. */
static int check_rest(const json_t *body, int k, int *status, struct fl_err *e)
{
    json_t *cmd = json_object_get(body, "command"), *ole = json_object_get(body, "on_lease_end"),
           *name = json_object_get(body, "name");
    int r;

    if (k == JOB_COMMAND && (!plain_string(cmd, FL_JOB_COMMAND_MAX) || !json_string_length(cmd)))
        return bad(status, 400, e, FL_EUSAGE,
                   "a command job needs \"command\": a non-empty shell string of at most %d "
                   "bytes without NUL, run by /bin/sh -c",
                   FL_JOB_COMMAND_MAX);
    if (k != JOB_COMMAND && cmd)
        return bad(status, 400, e, FL_EUSAGE,
                   "kind %s runs the agent's own binary: give its arguments in \"args\", not "
                   "\"command\"",
                   kind_names[k]);
    if ((r = check_env_args(body, k == JOB_COMMAND, status, e)) ||
        (r = check_int(body, "lease_ms", FL_AGENTD_MIN_LEASE_MS, FL_AGENTD_MAX_LEASE_MS, status,
                       e)) ||
        (r = check_int(body, "timeout_ms", 0, FL_JOB_TIMEOUT_MAX_MS, status, e)) ||
        (r = check_int(body, "delay_ms", 0, FL_JOB_DELAY_MAX_MS, status, e)))
        return r;
    if (ole && (!json_is_string(ole) ||
                (strcmp(json_string_value(ole), "kill") && strcmp(json_string_value(ole), "run"))))
        return bad(status, 400, e, FL_EUSAGE,
                   "on_lease_end must be \"kill\" (the default) or \"run\"");
    if (name && !plain_string(name, FL_JOB_NAME_MAX))
        return bad(status, 400, e, FL_EUSAGE, "name must be a string of at most %d bytes",
                   FL_JOB_NAME_MAX);
    return 0;
}

int fl_jobs_check_request(const json_t *body, bool allow_commands, int *status, struct fl_err *e)
{
    const char *kind = json_string_value(json_object_get(body, "kind"));
    int k = kind_of(kind), r;

    if (!json_is_object(body))
        return bad(status, 400, e, FL_EUSAGE, "a job is a JSON object");
    if ((r = check_fields(body, status, e)))
        return r;
    if (k < 0)
        return bad(status, 400, e, FL_EUSAGE,
                   "kind '%.64s' is not a job kind; give \"command\", \"probe\" or \"workload\"",
                   kind ? kind : "(missing)");
    if (!session_ok(json_string_value(json_object_get(body, "session"))))
        return bad(status, 400, e, FL_EUSAGE,
                   "session must be 1-%d letters, digits, '-', '_' or '.' (the controller's "
                   "session id, renewed with POST /api/v1/sessions/ID/renew)",
                   SESSION_LEN);
    if (k == JOB_COMMAND && !allow_commands)
        return bad(status, 403, e, FL_EPERM,
                   "this agent does not run shell commands: start it with --allow-commands (they "
                   "run as the agent's user, root; give operator tokens only to whom may run "
                   "them)");
    return check_rest(body, k, status, e);
}

/* ---- the pipe thread --------------------------------------------------- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* One read from a job's stdout into its file, up to the cap; beyond it the
 * bytes are read and dropped, so the child never blocks on a full pipe. */
static void pump_out(struct fl_jobs *j, struct job *jb, char *buf)
{
    ssize_t n = read(jb->out_fd, buf, IO_CHUNK);
    uint64_t room = jb->stdout_bytes < j->output_max ? j->output_max - jb->stdout_bytes : 0;
    size_t keep;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_fd(&jb->out_fd);
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
            close_fd(&jb->file_fd);
            jb->truncated = true;
            return;
        }
        jb->stdout_bytes += (uint64_t)w;
    }
}

static void pump_err(struct job *jb, char *buf)
{
    ssize_t n = read(jb->err_fd, buf, IO_CHUNK);
    size_t k;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_fd(&jb->err_fd);
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
        for (struct job *jb = j->list; jb && n + 2 <= 1 + 2 * FL_JOBS_MAX; jb = jb->next) {
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
        for (struct job *jb = j->list; jb; jb = jb->next) {
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
static char **job_argv(struct fl_jobs *j, const struct job *jb)
{
    json_t *args = json_object_get(jb->req, "args"), *v;
    size_t n = json_array_size(args), i;
    char **argv = calloc(n + 4, sizeof *argv);

    if (!argv)
        return NULL;
    if (jb->kind == JOB_COMMAND) {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = (char *)json_string_value(json_object_get(jb->req, "command"));
        return argv;
    }
    argv[0] = j->exe;
    argv[1] = (char *)kind_names[jb->kind];
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
static char **job_envp(struct fl_jobs *j, const struct job *jb)
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
    if (jb->kind != JOB_COMMAND && !j->allow_commands &&
        !(envp[k++] = strdup("FAULTLINE_NO_COMMANDS=1")))
        goto oom;
    return envp;
oom:
    envp[k - 1] = NULL;
    env_free(envp);
    return NULL;
}

static int spawn_child(struct job *jb, char **argv, char **envp, int out, int err)
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
static void job_start(struct fl_jobs *j, struct job *jb)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1}, r = 0;
    char path[PATH_MAX + 32], **argv = job_argv(j, jb), **envp = job_envp(j, jb);

    job_path(j, jb, "out", path, sizeof path);
    if (!argv || !envp)
        r = ENOMEM;
    else if ((jb->file_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
             pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        r = errno;
    else
        r = spawn_child(jb, argv, envp, out[1], err[1]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    free(argv);
    env_free(envp);
    jb->started_ms = fl_now_ms();
    if (r) {
        close_fd(&out[0]);
        close_fd(&err[0]);
        close_fd(&jb->file_fd);
        jb->pid = 0;
        jb->state = JS_FAILED;
        jb->ended_ms = jb->started_ms;
        record_remove(j, jb);
        snprintf(jb->error, sizeof jb->error, "cannot start it: %s", strerror(r));
        fl_warn("job %s (%s) failed to start: %s", jb->id, jb->name, strerror(r));
        return;
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    jb->out_fd = out[0];
    jb->err_fd = err[0];
    jb->state = JS_RUNNING;
    jb->start_time = fl_proc_start_time(jb->pid);
    record_write(j, jb);
    wake_io(j);
    fl_info("job %s (%s, %s) started for '%s' (session %s): pid %d", jb->id, jb->name,
            kind_names[jb->kind], jb->who, jb->session, (int)jb->pid);
}

static int io_start(struct fl_jobs *j, struct fl_err *e)
{
    if (j->io_started)
        return 0;
    if (pthread_create(&j->io, NULL, io_main, j))
        return fl_err_set(e, FL_EFAIL, "cannot start the jobs' output thread");
    j->io_started = true;
    return 0;
}

/* ---- ending ------------------------------------------------------------ */

static void begin_kill(struct job *jb, enum job_state as, const char *why)
{
    if (jb->state != JS_RUNNING || jb->kill_at)
        return;
    jb->end_as = as;
    jb->kill_at = fl_now_ms() + FL_JOB_KILL_GRACE_MS;
    kill(-jb->pid, SIGTERM);
    fl_info("job %s (%s) pid %d: SIGTERM to its process group: %s", jb->id, jb->name, (int)jb->pid,
            why);
}

/* waitpid without blocking; true when the child ended (and is reaped). */
static bool reap(struct fl_jobs *j, struct job *jb)
{
    siginfo_t si = {0};
    int st = 0;
    pid_t r;

    /* first look without reaping: while the child is an unreaped zombie its
     * pid (the process group's id) cannot be reused, so the SIGKILL to what
     * it left in its group cannot hit anyone else's */
    if (waitid(P_PID, (id_t)jb->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if (si.si_pid == 0)
            return false;
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
    jb->state = jb->kill_at ? jb->end_as : JS_EXITED;
    record_remove(j, jb);
    fl_info("job %s (%s) pid %d %s: %s %d after %lld ms, %llu bytes of output%s", jb->id, jb->name,
            (int)jb->pid, state_names[jb->state], jb->sig > 0 ? "signal" : "exit",
            jb->sig > 0 ? jb->sig : jb->exit_code, (long long)(jb->ended_ms - jb->started_ms),
            (unsigned long long)jb->stdout_bytes, jb->truncated ? " (truncated)" : "");
    return true;
}

static void job_free(struct job *jb)
{
    close_fd(&jb->out_fd);
    close_fd(&jb->err_fd);
    close_fd(&jb->file_fd);
    json_decref(jb->req);
    free(jb);
}

static void unlink_job(struct fl_jobs *j, struct job *jb)
{
    for (struct job **pp = &j->list; *pp; pp = &(*pp)->next)
        if (*pp == jb) {
            *pp = jb->next;
            j->n--;
            return;
        }
}

/* A pending job at its lease's end: "run" starts it, "kill" drops it. */
static void pending_lease_end(struct fl_jobs *j, struct job *jb)
{
    jb->lease_until = 0;
    if (jb->run_on_lease_end) {
        fl_info("job %s (%s): session %s's lease ended; on_lease_end run starts it now", jb->id,
                jb->name, jb->session);
        job_start(j, jb);
        return;
    }
    jb->state = JS_KILLED;
    jb->ended_ms = fl_now_ms();
    record_remove(j, jb);
    fl_info("job %s (%s) dropped before it started: no renewal from session %s for %lld ms", jb->id,
            jb->name, jb->session, (long long)jb->lease_ms);
}

static void running_turn(struct job *jb, int64_t now)
{
    char why[160];

    if (jb->kill_at && now >= jb->kill_at) {
        kill(-jb->pid, SIGKILL);
        jb->kill_at = now + 1000; /* again, if it is still there */
    } else if (!jb->kill_at && jb->timeout_ms && now >= jb->started_ms + jb->timeout_ms) {
        snprintf(why, sizeof why, "timeout_ms %lld reached", (long long)jb->timeout_ms);
        begin_kill(jb, JS_TIMED_OUT, why);
    } else if (jb->lease_until && now >= jb->lease_until) {
        jb->lease_until = 0;
        if (jb->run_on_lease_end)
            return; /* left to finish */
        snprintf(why, sizeof why, "lease expired (no renewal from session %s for %lld ms)",
                 jb->session, (long long)jb->lease_ms);
        begin_kill(jb, JS_KILLED, why);
    }
}

/* One job's turn; false when it was freed. */
static bool job_turn(struct fl_jobs *j, struct job *jb, int64_t now, int64_t *next)
{
    if (jb->state == JS_PENDING) {
        if (jb->lease_until && now >= jb->lease_until)
            pending_lease_end(j, jb);
        else if (now >= jb->start_at)
            job_start(j, jb);
        else {
            int64_t due =
                jb->lease_until && jb->lease_until < jb->start_at ? jb->lease_until : jb->start_at;
            *next = due - now < *next ? due - now : *next;
        }
    }
    if (jb->state == JS_RUNNING && !reap(j, jb)) {
        running_turn(jb, now);
        *next = *next > 50 ? 50 : *next;
        return true;
    }
    if (jb->ended_ms && now >= jb->ended_ms + PIPE_LINGER_MS) {
        close_fd(&jb->out_fd); /* held by a process that left the job's group */
        close_fd(&jb->err_fd);
    }
    if (jb->deleted || (jb->ended_ms && now >= jb->ended_ms + FL_JOB_KEEP_MS)) {
        files_remove(j, jb);
        unlink_job(j, jb);
        job_free(jb);
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
    for (struct job *jb = j->list, *nx; jb; jb = nx) {
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
    for (struct job *jb = j->list; jb; jb = jb->next)
        if (!jb->deleted && jb->lease_until && !strcmp(jb->session, session) &&
            (jb->state == JS_PENDING || jb->state == JS_RUNNING)) {
            jb->lease_until = now + lease_ms;
            jb->lease_ms = lease_ms;
            json_array_append_new(ids, json_string(jb->id));
        }
    pthread_mutex_unlock(&j->mu);
    return ids;
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
    for (struct job *jb = j->list; jb; jb = jb->next)
        n += !jb->deleted;
    pthread_mutex_unlock(&j->mu);
    return n;
}

static struct job *job_alloc(const char *id)
{
    struct job *jb = calloc(1, sizeof *jb);
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
    struct job *jb;

    unlink(file);
    if (!id || strlen(id) != JOB_ID_LEN - 3 || id[0] != 'j' ||
        strspn(id + 1, "0123456789abcdef") != JOB_ID_LEN - 4 || !st)
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
        j->n >= FL_JOBS_MAX || !(jb = job_alloc(id)))
        return;
    jb->req = json_incref(json_object_get(rec, "req"));
    jb->kind = (enum job_kind)kind_of(json_string_value(json_object_get(rec, "kind")));
    if ((int)jb->kind < 0 || (jb->kind == JOB_COMMAND && !j->allow_commands)) {
        fl_warn("agent %s: job %s (a pending on_lease_end run job of the previous agent) is not "
                "started: %s",
                j->host, id, (int)jb->kind < 0 ? "unknown kind" : "commands are not allowed");
        job_free(jb);
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
    job_start(j, jb);
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
    if (io_start(j, &e))
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
            for (struct job *jb = j->list; jb; jb = jb->next)
                mine |= !strncmp(de->d_name, jb->id, JOB_ID_LEN - 3);
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
        for (struct job *jb = j->list; jb; jb = jb->next)
            if (jb->state == JS_RUNNING && !reap(j, jb))
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
    for (struct job *jb = j->list; jb; jb = jb->next)
        begin_kill(jb, JS_KILLED, "the agent is stopping");
    if (!wait_all(j, FL_JOB_KILL_GRACE_MS)) {
        for (struct job *jb = j->list; jb; jb = jb->next)
            if (jb->state == JS_RUNNING)
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
        struct job *jb = j->list;
        j->list = jb->next;
        if (jb->state == JS_PENDING && jb->run_on_lease_end && !jb->deleted) {
            record_write(j, jb); /* the next agent starts it */
            close_fd(&jb->file_fd);
        } else {
            files_remove(j, jb);
        }
        job_free(jb);
    }
    close(j->wake[0]);
    close(j->wake[1]);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* ---- status and the HTTP handlers -------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    uint32_t cp;

    if (!len || len > n)
        return 0;
    cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* s as a JSON string, every byte that is not valid UTF-8 replaced by U+FFFD. */
static json_t *utf8_string(const char *s, size_t n)
{
    unsigned char *out = malloc(3 * n + 1);
    size_t k = 0;
    json_t *str;

    if (!out)
        return json_string("");
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len((const unsigned char *)s + i, n - i);
        if (!len) {
            out[k++] = 0xef;
            out[k++] = 0xbf;
            out[k++] = 0xbd;
            i++;
        }
        for (; len; len--)
            out[k++] = (unsigned char)s[i++];
    }
    out[k] = '\0';
    str = json_stringn((const char *)out, k);
    free(out);
    return str;
}

static json_t *int_or_null(long long v, bool set)
{
    return set ? json_integer(v) : json_null();
}

static json_t *status_of(struct fl_jobs *j, const struct job *jb)
{
    int64_t now = fl_now_ms(), end = jb->ended_ms ? jb->ended_ms : now;
    bool started = jb->started_ms != 0;
    json_t *s = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:b,s:o,s:s,s:I}", "id", jb->id, "name",
        jb->name, "kind", kind_names[jb->kind], "session", jb->session, "state",
        state_names[jb->state], "host", j->host, "pid", int_or_null(jb->pid, jb->pid > 0), "exit",
        int_or_null(jb->exit_code, jb->exit_code >= 0), "signal", int_or_null(jb->sig, jb->sig > 0),
        "started_ms", int_or_null(jb->started_ms, started), "duration_ms",
        int_or_null(end - jb->started_ms, started), "stdout_bytes", (json_int_t)jb->stdout_bytes,
        "truncated", jb->truncated, "stderr_tail", utf8_string(jb->tail, jb->tail_len),
        "on_lease_end", jb->run_on_lease_end ? "run" : "kill", "lease_left_ms",
        (json_int_t)(jb->lease_until > now && !jb->ended_ms ? jb->lease_until - now : 0));

    if (s && jb->error[0])
        json_object_set_new(s, "error", json_string(jb->error));
    return s;
}

static struct job *find(struct fl_jobs *j, const char *id)
{
    for (struct job *jb = j->list; jb; jb = jb->next)
        if (!jb->deleted && !strcmp(jb->id, id))
            return jb;
    return NULL;
}

static void not_found(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    fl_agentd_fail(rs, 404, FL_ENOTARGET, "not_found",
                   "agent %s has no job %s (never started here, deleted, or forgotten %lld "
                   "minutes after it ended); GET /api/v1/jobs lists them",
                   d->name, rq->arg, (long long)(FL_JOB_KEEP_MS / 60000));
}

/* A new job from a checked request (under j->mu); NULL + reply if not. */
static struct job *job_create(struct fl_jobs *j, struct fl_agentd_req *rq,
                              struct fl_agentd_resp *rs)
{
    json_t *b = rq->body, *v;
    struct job *jb;
    struct fl_err e = {0};
    int k;

    if (j->n >= FL_JOBS_MAX) {
        fl_agentd_fail(rs, 429, FL_EREFUSED, "too_many_jobs",
                       "agent %s holds %d jobs, its limit; DELETE /api/v1/jobs/ID the ended ones "
                       "(ended jobs are forgotten %lld minutes after they end)",
                       j->host, FL_JOBS_MAX, (long long)(FL_JOB_KEEP_MS / 60000));
        return NULL;
    }
    if (!(jb = job_alloc(NULL)) || !(jb->req = json_object())) {
        free(jb);
        fl_err_set(&e, FL_EFAIL, "out of memory");
        fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "%s", e.msg);
        return NULL;
    }
    k = kind_of(json_string_value(json_object_get(b, "kind")));
    jb->kind = k < 0 ? JOB_COMMAND : (enum job_kind)k; /* checked: k >= 0 */
    if ((v = json_object_get(b, "command")))
        json_object_set(jb->req, "command", v);
    if ((v = json_object_get(b, "args")))
        json_object_set(jb->req, "args", v);
    if ((v = json_object_get(b, "env")))
        json_object_set(jb->req, "env", v);
    snprintf(jb->name, sizeof jb->name, "%s",
             json_string_value(json_object_get(b, "name")) ?: kind_names[jb->kind]);
    snprintf(jb->session, sizeof jb->session, "%s",
             json_string_value(json_object_get(b, "session")) ?: "-");
    snprintf(jb->who, sizeof jb->who, "%s", rq->who ? rq->who : "-");
    v = json_object_get(b, "lease_ms");
    jb->lease_ms = v ? json_integer_value(v) : DEFAULT_LEASE_MS;
    jb->lease_until = jb->created_ms + jb->lease_ms;
    jb->timeout_ms = json_integer_value(json_object_get(b, "timeout_ms"));
    jb->start_at = jb->created_ms + json_integer_value(json_object_get(b, "delay_ms"));
    jb->run_on_lease_end =
        !strcmp(json_string_value(json_object_get(b, "on_lease_end")) ?: "kill", "run");
    return jb;
}

void fl_jobs_api_start(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    struct fl_err e = {0};
    struct job *jb;
    int status = 400;

    pthread_mutex_lock(&j->mu);
    if (fl_jobs_check_request(rq->body, j->allow_commands, &status, &e)) {
        fl_agentd_fail(rs, status, e.code, status == 403 ? "forbidden" : "bad_request", "%s",
                       e.msg);
        goto out;
    }
    if (io_start(j, &e)) {
        fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "%s", e.msg);
        goto out;
    }
    if (!(jb = job_create(j, rq, rs)))
        goto out;
    jb->next = j->list;
    j->list = jb;
    j->n++;
    if (jb->start_at <= jb->created_ms) {
        job_start(j, jb);
    } else {
        if (jb->run_on_lease_end)
            record_write(j, jb); /* a restarted agent starts it */
        fl_info("job %s (%s, %s) for '%s' (session %s) starts in %lld ms", jb->id, jb->name,
                kind_names[jb->kind], jb->who, jb->session,
                (long long)(jb->start_at - jb->created_ms));
    }
    if (jb->state == JS_FAILED) {
        fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "agent %s: job %s %s", d->name, jb->id,
                       jb->error);
        unlink_job(j, jb);
        files_remove(j, jb);
        job_free(jb);
        goto out;
    }
    fl_agentd_ok(rs, 201, status_of(j, jb));
out:
    pthread_mutex_unlock(&j->mu);
}

void fl_jobs_api_list(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    json_t *all = json_array();

    pthread_mutex_lock(&j->mu);
    for (struct job *jb = j->list; jb; jb = jb->next)
        if (!jb->deleted)
            json_array_append_new(all, status_of(j, jb));
    pthread_mutex_unlock(&j->mu);
    fl_agentd_ok(rs, 200, json_pack("{s:s,s:o}", "host", d->name, "jobs", all));
}

void fl_jobs_api_get(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    struct job *jb;

    pthread_mutex_lock(&j->mu);
    if ((jb = find(j, rq->arg)))
        fl_agentd_ok(rs, 200, status_of(j, jb));
    else
        not_found(d, rq, rs);
    pthread_mutex_unlock(&j->mu);
}

/* offset=N&max=M from the query; false + reply if malformed. */
static bool output_query(const char *q, uint64_t *offset, size_t *max, struct fl_agentd_resp *rs)
{
    *offset = 0;
    *max = FL_JOB_OUTPUT_CHUNK;
    while (q && *q) {
        size_t klen = strcspn(q, "=&");
        const char *v = q[klen] == '=' ? q + klen + 1 : q + klen;
        char *end;
        unsigned long long n;
        bool is_off = klen == 6 && !strncmp(q, "offset", 6),
             is_max = klen == 3 && !strncmp(q, "max", 3);

        errno = 0;
        n = strtoull(v, &end, 10);
        if ((is_off || is_max) && (end == v || (*end && *end != '&') || errno || *v == '-' ||
                                   n > (1ULL << 62) || (is_max && n == 0))) {
            fl_agentd_fail(rs, 400, FL_EUSAGE, "bad_request",
                           "%s must be a whole number%s (output?offset=BYTES&max=BYTES; max "
                           "at most %d)",
                           is_off ? "offset" : "max", is_max ? " above 0" : "",
                           FL_JOB_OUTPUT_CHUNK);
            return false;
        }
        if (is_off)
            *offset = n;
        else if (is_max)
            *max = n < FL_JOB_OUTPUT_CHUNK ? (size_t)n : FL_JOB_OUTPUT_CHUNK;
        q = v + strcspn(v, "&");
        q += *q == '&';
    }
    return true;
}

void fl_jobs_api_output(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    struct job *jb;
    uint64_t offset;
    size_t max, got = 0;
    bool ended;
    char *buf = NULL;

    if (!output_query(rq->query, &offset, &max, rs))
        return;
    pthread_mutex_lock(&j->mu);
    if (!(jb = find(j, rq->arg))) {
        not_found(d, rq, rs);
        goto out;
    }
    if (offset < jb->stdout_bytes) {
        uint64_t left = jb->stdout_bytes - offset;
        size_t want = left < max ? (size_t)left : max;
        ssize_t n = 0;
        if (!(buf = malloc(want)) ||
            (jb->file_fd >= 0 && (n = pread(jb->file_fd, buf, want, (off_t)offset)) < 0)) {
            fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "agent %s: cannot read job %s's output: %s",
                           d->name, jb->id, buf ? strerror(errno) : "out of memory");
            free(buf);
            goto out;
        }
        got = (size_t)n;
    }
    ended = jb->state != JS_PENDING && jb->state != JS_RUNNING && jb->out_fd < 0;
    rs->status = 200;
    rs->raw = buf;
    rs->raw_len = got;
    rs->is_raw = true;
    json_decref(rs->json);
    rs->json = NULL;
    rs->headers = json_pack("{s:s,s:s}", "X-Job-State", state_names[jb->state], "X-Job-Eof",
                            ended && offset + got >= jb->stdout_bytes ? "1" : "0");
out:
    pthread_mutex_unlock(&j->mu);
}

void fl_jobs_api_delete(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    struct job *jb;
    json_t *st;
    char why[160], path[PATH_MAX + 32];

    pthread_mutex_lock(&j->mu);
    if (!(jb = find(j, rq->arg))) {
        not_found(d, rq, rs);
        goto out;
    }
    snprintf(why, sizeof why, "deleted on request of '%s'", rq->who ? rq->who : "-");
    if (jb->state == JS_PENDING) {
        jb->state = JS_KILLED;
        jb->ended_ms = fl_now_ms();
    }
    if (jb->state == JS_RUNNING && !reap(j, jb))
        begin_kill(jb, JS_KILLED, why);
    st = status_of(j, jb);
    if (jb->state == JS_RUNNING) /* its final state, once the kill lands */
        json_object_set_new(st, "state", json_string(state_names[jb->end_as]));
    jb->deleted = true; /* the reaper frees it once it has ended */
    close_fd(&jb->file_fd);
    job_path(j, jb, "out", path, sizeof path);
    unlink(path); /* the record stays until the child is reaped */
    if (jb->state != JS_RUNNING) {
        files_remove(j, jb);
        unlink_job(j, jb);
        job_free(jb);
    }
    fl_info("job %s %s", rq->arg, why);
    fl_agentd_ok(rs, 200, st);
out:
    pthread_mutex_unlock(&j->mu);
}
