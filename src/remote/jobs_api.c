/* The agent's jobs over HTTP (jobs.h, docs/agent.md "Jobs"): the checks of
 * a new job's request, a job's status as the API shows it, and the handlers
 * of /api/v1/jobs. The processes themselves are jobs.c's. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remote/agentd_int.h"
#include "remote/jobs_int.h"
#include "util/log.h"
#include "util/time.h"

/* ---- request checks ---------------------------------------------------- */

/* A refusal: the HTTP status in *status, the message in e; returns -code. */
#define bad(status, st, e, code, ...) (*(status) = (st), fl_err_set((e), (code), __VA_ARGS__))

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

/* Variables that steer the dynamic loader or libc into loading or reading
 * files of the caller's choosing (glibc drops these for setuid programs):
 * with commands off, a probe or workload job must not be a way to run code. */
static bool env_unsafe(const char *k)
{
    static const char *const names[] = {
        "GCONV_PATH",  "GETCONF_DIR",  "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN",
        "LOCPATH",     "MALLOC_TRACE", "NIS_PATH",       "NLSPATH",     "RESOLV_HOST_CONF",
        "RES_OPTIONS", "TMPDIR",       "TZDIR",          NULL};

    if (!strncmp(k, "LD_", 3))
        return true;
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(k, names[i]))
            return true;
    return false;
}

static int check_env_args(const json_t *body, bool command, bool guarded, int *status,
                          struct fl_err *e)
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
    json_object_foreach ((json_t *)env, k, v) {
        if (!env_key_ok(k) || !plain_string(v, FL_JOB_ARG_MAX))
            return bad(status, 400, e, FL_EUSAGE,
                       "env '%.128s': a name is letters, digits and '_' (not first a digit), a "
                       "value a string of at most %d bytes without NUL",
                       k, FL_JOB_ARG_MAX);
        if (!strcmp(k, "FAULTLINE_NO_COMMANDS") || !strcmp(k, "FAULTLINE_JOB_ID"))
            return bad(status, 400, e, FL_EUSAGE,
                       "env '%s' is the agent's to set (docs/agent.md, \"Jobs\"); drop it", k);
        if (guarded && env_unsafe(k))
            return bad(status, 403, e, FL_EPERM,
                       "env '%s' steers the dynamic loader or libc, which an agent without "
                       "--allow-commands does not let a job do; drop it, or start the agent with "
                       "--allow-commands",
                       k);
    }
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

    if (!n || n > FL_JOBS_SESSION_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* The fields after kind and session: command or args, env, the ranges. */
static int check_rest(const json_t *body, int k, bool allow_commands, int *status, struct fl_err *e)
{
    json_t *cmd = json_object_get(body, "command"), *ole = json_object_get(body, "on_lease_end"),
           *name = json_object_get(body, "name");
    int r;

    if (k == FL_JOB_COMMAND && (!plain_string(cmd, FL_JOB_COMMAND_MAX) || !json_string_length(cmd)))
        return bad(status, 400, e, FL_EUSAGE,
                   "a command job needs \"command\": a non-empty shell string of at most %d "
                   "bytes without NUL, run by /bin/sh -c",
                   FL_JOB_COMMAND_MAX);
    if (k != FL_JOB_COMMAND && cmd)
        return bad(status, 400, e, FL_EUSAGE,
                   "kind %s runs the agent's own binary: give its arguments in \"args\", not "
                   "\"command\"",
                   fl_jobs_kind_names[k]);
    if ((r = check_env_args(body, k == FL_JOB_COMMAND, !allow_commands, status, e)) ||
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
    int k = fl_jobs_kind_of(kind), r;

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
                   FL_JOBS_SESSION_LEN);
    if (k == FL_JOB_COMMAND && !allow_commands)
        return bad(status, 403, e, FL_EPERM,
                   "this agent does not run shell commands: start it with --allow-commands (they "
                   "run as the agent's user, root; give operator tokens only to whom may run "
                   "them)");
    return check_rest(body, k, allow_commands, status, e);
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

static json_t *status_of(struct fl_jobs *j, const struct fl_job *jb)
{
    int64_t now = fl_now_ms(), end = jb->ended_ms ? jb->ended_ms : now;
    bool started = jb->started_ms != 0;
    json_t *s = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:b,s:o,s:s,s:I}", "id", jb->id, "name",
        jb->name, "kind", fl_jobs_kind_names[jb->kind], "session", jb->session, "state",
        fl_jobs_state_names[jb->state], "host", j->host, "pid", int_or_null(jb->pid, jb->pid > 0),
        "exit", int_or_null(jb->exit_code, jb->exit_code >= 0), "signal",
        int_or_null(jb->sig, jb->sig > 0), "started_ms", int_or_null(jb->started_ms, started),
        "duration_ms", int_or_null(end - jb->started_ms, started), "stdout_bytes",
        (json_int_t)jb->stdout_bytes, "truncated", jb->truncated, "stderr_tail",
        utf8_string(jb->tail, jb->tail_len), "on_lease_end", jb->run_on_lease_end ? "run" : "kill",
        "lease_left_ms",
        (json_int_t)(jb->lease_until > now && !jb->ended_ms ? jb->lease_until - now : 0));

    if (s && jb->error[0])
        json_object_set_new(s, "error", json_string(jb->error));
    return s;
}

static struct fl_job *find(struct fl_jobs *j, const char *id)
{
    for (struct fl_job *jb = j->list; jb; jb = jb->next)
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
static struct fl_job *job_create(struct fl_jobs *j, struct fl_agentd_req *rq,
                                 struct fl_agentd_resp *rs)
{
    json_t *b = rq->body, *v;
    struct fl_job *jb;
    struct fl_err e = {0};
    int k;

    if (j->n >= FL_JOBS_MAX) {
        fl_agentd_fail(rs, 429, FL_EREFUSED, "too_many_jobs",
                       "agent %s holds %d jobs, its limit; DELETE /api/v1/jobs/ID the ended ones "
                       "(ended jobs are forgotten %lld minutes after they end)",
                       j->host, FL_JOBS_MAX, (long long)(FL_JOB_KEEP_MS / 60000));
        return NULL;
    }
    if (!(jb = fl_jobs_job_alloc(NULL)) || !(jb->req = json_object())) {
        free(jb);
        fl_err_set(&e, FL_EFAIL, "out of memory");
        fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "%s", e.msg);
        return NULL;
    }
    k = fl_jobs_kind_of(json_string_value(json_object_get(b, "kind")));
    jb->kind = k < 0 ? FL_JOB_COMMAND : (enum fl_job_kind)k; /* checked: k >= 0 */
    if ((v = json_object_get(b, "command")))
        json_object_set(jb->req, "command", v);
    if ((v = json_object_get(b, "args")))
        json_object_set(jb->req, "args", v);
    if ((v = json_object_get(b, "env")))
        json_object_set(jb->req, "env", v);
    snprintf(jb->name, sizeof jb->name, "%s",
             json_string_value(json_object_get(b, "name")) ?: fl_jobs_kind_names[jb->kind]);
    snprintf(jb->session, sizeof jb->session, "%s",
             json_string_value(json_object_get(b, "session")) ?: "-");
    snprintf(jb->who, sizeof jb->who, "%s", rq->who ? rq->who : "-");
    v = json_object_get(b, "lease_ms");
    jb->lease_ms = v ? json_integer_value(v) : FL_JOBS_DEFAULT_LEASE_MS;
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
    struct fl_job *jb;
    int status = 400;

    pthread_mutex_lock(&j->mu);
    if (fl_jobs_check_request(rq->body, j->allow_commands, &status, &e)) {
        fl_agentd_fail(rs, status, e.code, status == 403 ? "forbidden" : "bad_request", "%s",
                       e.msg);
        goto out;
    }
    if (fl_jobs_io_start(j, &e)) {
        fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "%s", e.msg);
        goto out;
    }
    if (!(jb = job_create(j, rq, rs)))
        goto out;
    jb->next = j->list;
    j->list = jb;
    j->n++;
    if (jb->start_at <= jb->created_ms) {
        fl_jobs_start_job(j, jb);
    } else {
        if (jb->run_on_lease_end)
            fl_jobs_record_write(j, jb); /* a restarted agent starts it */
        fl_info("job %s (%s, %s) for '%s' (session %s) starts in %lld ms", jb->id, jb->name,
                fl_jobs_kind_names[jb->kind], jb->who, jb->session,
                (long long)(jb->start_at - jb->created_ms));
    }
    if (jb->state == FL_JOB_FAILED) {
        fl_agentd_fail(rs, 500, FL_EFAIL, "failed", "agent %s: job %s %s", d->name, jb->id,
                       jb->error);
        fl_jobs_unlink(j, jb);
        fl_jobs_files_remove(j, jb);
        fl_jobs_job_free(jb);
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
    for (struct fl_job *jb = j->list; jb; jb = jb->next)
        if (!jb->deleted)
            json_array_append_new(all, status_of(j, jb));
    pthread_mutex_unlock(&j->mu);
    fl_agentd_ok(rs, 200, json_pack("{s:s,s:o}", "host", d->name, "jobs", all));
}

void fl_jobs_api_get(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    struct fl_job *jb;

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
    struct fl_job *jb;
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
    ended = jb->state != FL_JOB_PENDING && jb->state != FL_JOB_RUNNING && jb->out_fd < 0;
    rs->status = 200;
    rs->raw = buf;
    rs->raw_len = got;
    rs->is_raw = true;
    json_decref(rs->json);
    rs->json = NULL;
    rs->headers = json_pack("{s:s,s:s}", "X-Job-State", fl_jobs_state_names[jb->state], "X-Job-Eof",
                            ended && offset + got >= jb->stdout_bytes ? "1" : "0");
out:
    pthread_mutex_unlock(&j->mu);
}

void fl_jobs_api_delete(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_jobs *j = d->jobs;
    struct fl_job *jb;
    json_t *st;
    char why[160], path[PATH_MAX + 32];

    pthread_mutex_lock(&j->mu);
    if (!(jb = find(j, rq->arg))) {
        not_found(d, rq, rs);
        goto out;
    }
    snprintf(why, sizeof why, "deleted on request of '%s'", rq->who ? rq->who : "-");
    if (jb->state == FL_JOB_PENDING) {
        jb->state = FL_JOB_KILLED;
        jb->ended_ms = fl_now_ms();
    }
    if (jb->state == FL_JOB_RUNNING && !fl_jobs_reap(j, jb))
        fl_jobs_begin_kill(jb, FL_JOB_KILLED, why);
    st = status_of(j, jb);
    if (jb->state == FL_JOB_RUNNING) /* its final state, once the kill lands */
        json_object_set_new(st, "state", json_string(fl_jobs_state_names[jb->end_as]));
    jb->deleted = true; /* the reaper frees it once it has ended */
    fl_jobs_close_fd(&jb->file_fd);
    fl_jobs_path(j, jb, "out", path, sizeof path);
    unlink(path); /* the record stays until the child is reaped */
    if (jb->state != FL_JOB_RUNNING) {
        fl_jobs_files_remove(j, jb);
        fl_jobs_unlink(j, jb);
        fl_jobs_job_free(jb);
    }
    fl_info("job %s %s", rq->arg, why);
    fl_agentd_ok(rs, 200, st);
out:
    pthread_mutex_unlock(&j->mu);
}
