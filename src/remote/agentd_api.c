/* The agent's API (docs/agent.md): the route table, bearer-token roles, and
 * the handlers that apply, list, revert and renew faults through the same
 * drivers, journal and guardian as `faultline inject` (agent/apply.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/apply.h"
#include "faults/fault.h"
#include "fl_config.h"
#include "remote/agentd_int.h"
#include "util/log.h"
#include "util/opts.h"
#include "util/time.h"

#define DEFAULT_LEASE_MS 10000
#define SESSION_MAX 64

typedef void (*handler)(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);

struct route { /* NOLINT(clang-analyzer-optin.performance.Padding): a small static table */
    const char *method, *pattern; /* {} matches one path segment */
    handler fn;
    enum fl_role role; /* the least role that may call it (NONE: anyone) */
    const char *summary;
    unsigned flags; /* FL_AGENTD_ROUTE_*; 0: the handler runs under d->lock */
};

static void api_health(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_list(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_apply(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_get(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_commit(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_revert(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_renew(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_recover(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);
static void api_routes(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs);

static const struct route routes[] = {
    {"GET", "/api/v1/health", api_health, FL_ROLE_NONE,
     "Liveness: version, host name, pid, uptime, faults held (no token needed)",
     FL_AGENTD_ROUTE_LOCKED},
    {"GET", "/api/v1/faults", api_list, FL_ROLE_VIEWER,
     "Every fault the agent holds, with its session and lease left", FL_AGENTD_ROUTE_LOCKED},
    {"POST", "/api/v1/faults", api_apply, FL_ROLE_OPERATOR,
     "Apply a fault: {kind, params, duration_ms, lease_ms, session, seed, prepare, dry_run}",
     FL_AGENTD_ROUTE_OWN_LOCK},
    {"POST", "/api/v1/faults/{}/commit", api_commit, FL_ROLE_OPERATOR,
     "Start (inject) a fault applied with prepare: true", FL_AGENTD_ROUTE_OWN_LOCK},
    {"GET", "/api/v1/faults/{}", api_get, FL_ROLE_VIEWER, "One fault's journal record",
     FL_AGENTD_ROUTE_LOCKED},
    {"DELETE", "/api/v1/faults/{}", api_revert, FL_ROLE_OPERATOR,
     "Revert a fault now (an unknown or reverted one: reverted false)", FL_AGENTD_ROUTE_OWN_LOCK},
    {"POST", "/api/v1/sessions/{}/renew", api_renew, FL_ROLE_OPERATOR,
     "Renew the leases of all of a session's faults: {lease_ms}", FL_AGENTD_ROUTE_OWN_LOCK},
    {"POST", "/api/v1/recover", api_recover, FL_ROLE_OPERATOR,
     "Revert every fault the agent holds and end every job as its lease's end would "
     "(recover --all --hosts)",
     FL_AGENTD_ROUTE_OWN_LOCK},
    {"POST", "/api/v1/jobs", fl_jobs_api_start, FL_ROLE_OPERATOR,
     "Start a job: {kind, command | args, session, lease_ms, timeout_ms, delay_ms, "
     "on_lease_end, name, env}",
     FL_AGENTD_ROUTE_LOCKED},
    {"GET", "/api/v1/jobs", fl_jobs_api_list, FL_ROLE_VIEWER, "Every job the agent holds",
     FL_AGENTD_ROUTE_LOCKED},
    {"GET", "/api/v1/jobs/{}", fl_jobs_api_get, FL_ROLE_VIEWER, "One job's status",
     FL_AGENTD_ROUTE_LOCKED},
    {"GET", "/api/v1/jobs/{}/output", fl_jobs_api_output, FL_ROLE_VIEWER,
     "A job's stdout from ?offset=N, at most ?max=M bytes (raw; X-Job-State, X-Job-Eof)",
     FL_AGENTD_ROUTE_LOCKED},
    {"DELETE", "/api/v1/jobs/{}", fl_jobs_api_delete, FL_ROLE_OPERATOR,
     "Kill a job's process group if it runs, then forget it and remove its files",
     FL_AGENTD_ROUTE_LOCKED},
    {"GET", "/api/v1/routes", api_routes, FL_ROLE_NONE, "This list of endpoints",
     FL_AGENTD_ROUTE_LOCKED},
};

#define fail fl_agentd_fail
#define ok fl_agentd_ok

void fl_agentd_fail(struct fl_agentd_resp *rs, int status, int exit_code, const char *code,
                    const char *fmt, ...)
{
    char msg[FL_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(rs->json);
    rs->status = status;
    rs->json = json_pack("{s:{s:i,s:s,s:s,s:i}}", "error", "status", status, "code", code,
                         "message", msg, "exit", exit_code);
}

/* An fl_err as the reply: its FL_E* code picks the HTTP status and travels
 * as "exit", so a client exits as a local command would. */
static void fail_err(struct fl_agentd_resp *rs, const struct fl_err *e)
{
    static const int status[] = {500, 500, 400, 404, 409, 403, 501, 503};
    static const char *const codes[] = {"failed",  "failed",    "bad_request", "not_found",
                                        "refused", "forbidden", "unsupported", "state_dir"};
    int c = e->code > 0 && e->code <= FL_ESTATE ? e->code : FL_EFAIL;

    fail(rs, status[c], c, codes[c], "%s", e->msg[0] ? e->msg : fl_strerror(c));
}

void fl_agentd_ok(struct fl_agentd_resp *rs, int status, json_t *body)
{
    json_decref(rs->json);
    rs->status = status;
    rs->json = body;
}

void fl_agentd_resp_fini(struct fl_agentd_resp *rs)
{
    json_decref(rs->json);
    json_decref(rs->headers);
    free(rs->raw);
    rs->json = rs->headers = NULL;
    rs->raw = NULL;
}

static bool match(const char *pattern, const char *path, struct fl_agentd_req *rq)
{
    while (*pattern && *path) {
        if (!strncmp(pattern, "{}", 2)) {
            size_t len = strcspn(path, "/");
            if (!len || len >= sizeof rq->arg)
                return false;
            memcpy(rq->arg, path, len);
            rq->arg[len] = '\0';
            path += len;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return !*pattern && !*path;
}

static void authenticate(struct fl_agentd *d, struct fl_agentd_req *rq, const char *h)
{
    rq->who = "-";
    rq->role = FL_ROLE_NONE;
    if (!d->auth) {
        rq->who = "anonymous";
        rq->role = FL_ROLE_ADMIN;
    } else if (h && !strncasecmp(h, "Bearer ", 7)) {
        rq->role = fl_auth_check(d->auth, h + 7, &rq->who);
    }
}

void fl_agentd_dispatch(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs,
                        const char *auth_header)
{
    const struct route *rt = NULL;
    bool known = false;

    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !rt; i++)
        if (match(routes[i].pattern, rq->path, rq)) {
            known = true;
            if (!strcmp(routes[i].method, rq->method))
                rt = &routes[i];
        }
    if (!rt) {
        if (known)
            fail(rs, 405, FL_EUSAGE, "method_not_allowed", "%s is not allowed on %s", rq->method,
                 rq->path);
        else
            fail(rs, 404, FL_EUSAGE, "not_found",
                 "no such endpoint %s on this agent; GET /api/v1/routes lists them", rq->path);
        return;
    }
    authenticate(d, rq, auth_header);
    if (rt->role != FL_ROLE_NONE && rq->role == FL_ROLE_NONE) {
        fail(rs, 401, FL_EPERM, "unauthenticated",
             auth_header ? "agent %s: the bearer token is not in this agent's tokens file "
                           "(--tokens); check the token the controller uses"
                         : "agent %s: a bearer token is required (Authorization: Bearer TOKEN)",
             d->name);
        return;
    }
    if (rq->role < rt->role) {
        fail(rs, 403, FL_EPERM, "forbidden", "%s %s needs the %s role; token '%s' is %s",
             rq->method, rt->pattern, fl_role_name(rt->role), rq->who, fl_role_name(rq->role));
        return;
    }
    if (rt->flags & FL_AGENTD_ROUTE_OWN_LOCK) {
        rt->fn(d, rq, rs);
        return;
    }
    pthread_mutex_lock(&d->lock);
    rt->fn(d, rq, rs);
    pthread_mutex_unlock(&d->lock);
}

int fl_agentd_init(struct fl_agentd *d, const char *state_dir, const char *tokens, const char *name,
                   struct fl_err *e)
{
    int r;

    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    d->started_ms = fl_now_ms();
    if (name)
        snprintf(d->name, sizeof d->name, "%s", name);
    else if (gethostname(d->name, sizeof d->name))
        snprintf(d->name, sizeof d->name, "localhost");
    if (tokens && (r = fl_auth_load(tokens, &d->auth, e)))
        return r;
    if ((r = fl_journal_open(&d->j, state_dir, e))) {
        fl_auth_free(d->auth);
        d->auth = NULL;
        return r;
    }
    if ((r = fl_jobs_new(d->j.root, d->name, &d->jobs, e))) {
        fl_journal_close(&d->j);
        fl_auth_free(d->auth);
        d->auth = NULL;
        return r;
    }
    d->held = json_object();
    return 0;
}

static void pending_free(struct fl_agentd_pending *p)
{
    if (!p)
        return;
    fl_fault_fini(&p->f);
    json_decref(p->rec);
    free(p);
}

/* Unlink and return the prepared fault `id`, or NULL. */
static struct fl_agentd_pending *pending_take(struct fl_agentd *d, const char *id)
{
    for (struct fl_agentd_pending **pp = &d->pending; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->f.id, id)) {
            struct fl_agentd_pending *p = *pp;
            *pp = p->next;
            p->next = NULL;
            return p;
        }
    return NULL;
}

void fl_agentd_fini(struct fl_agentd *d)
{
    fl_jobs_free(d->jobs);
    d->jobs = NULL;
    while (d->pending) {
        struct fl_agentd_pending *p = d->pending;
        d->pending = p->next;
        pending_free(p);
    }
    json_decref(d->held);
    d->held = NULL;
    fl_journal_close(&d->j);
    fl_auth_free(d->auth);
    d->auth = NULL;
    pthread_mutex_destroy(&d->lock);
}

void fl_agentd_handle(struct fl_agentd *d, const char *method, const char *path, const char *body,
                      size_t len, const char *auth_header, struct fl_agentd_resp *rs)
{
    struct fl_agentd_req rq = {.method = method, .path = path};
    const char *q = strchr(path, '?');
    char bare[512];
    json_error_t jerr;

    rs->status = 200;
    if (q) { /* the query goes apart; a path too long to copy matches no route */
        snprintf(bare, sizeof bare, "%.*s", (int)(q - path), path);
        rq.path = bare;
        rq.query = q + 1;
    }
    if (len == (size_t)-1) {
        fail(rs, 413, FL_EUSAGE, "body_too_large", "the request body exceeds %d bytes",
             FL_AGENTD_MAX_BODY);
        return;
    }
    rq.body = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
    if (!json_is_object(rq.body)) {
        fail(rs, 400, FL_EUSAGE, "invalid_json", "the request body must be a JSON object%s%s",
             rq.body ? "" : ": ", rq.body ? "" : jerr.text);
        json_decref(rq.body);
        return;
    }
    fl_agentd_dispatch(d, &rq, rs, auth_header);
    json_decref(rq.body);
}

static void api_health(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    ok(rs, 200,
       json_pack("{s:b,s:s,s:s,s:i,s:I,s:I,s:i,s:b,s:I}", "ok", 1, "version", FL_VERSION, "name",
                 d->name, "pid", (int)getpid(), "uptime_ms",
                 (json_int_t)(fl_now_ms() - d->started_ms), "faults",
                 (json_int_t)json_object_size(d->held), "port", d->port, "commands",
                 fl_jobs_commands_allowed(d->jobs), "jobs", (json_int_t)fl_jobs_count(d->jobs)));
}

static void api_routes(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    json_t *out = json_array();

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:s,s:s}", "method", routes[i].method, "path",
                           routes[i].pattern, "role",
                           routes[i].role == FL_ROLE_NONE ? "anyone" : fl_role_name(routes[i].role),
                           "summary", routes[i].summary));
    ok(rs, 200, json_pack("{s:s,s:o}", "version", FL_VERSION, "routes", out));
}

/* A record as the API shows it: the journal record plus the session that
 * holds it and the lease left on this agent's clock. */
static json_t *view(struct fl_agentd *d, json_t *rec, int64_t now)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    json_t *h = id ? json_object_get(d->held, id) : NULL;
    int64_t until = json_integer_value(json_object_get(rec, "lease_until"));

    json_object_set_new(rec, "host", json_string(d->name));
    json_object_set(rec, "session", h ? json_object_get(h, "session") : json_null());
    json_object_set_new(rec, "lease_left_ms", json_integer(until > now ? until - now : 0));
    return rec;
}

static void api_list(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    json_t *all = fl_journal_list(&d->j), *rec;
    int64_t now = fl_now_ms();
    size_t i;

    json_array_foreach (all, i, rec)
        view(d, rec, now);
    ok(rs, 200, json_pack("{s:s,s:o}", "host", d->name, "faults", all));
}

static void api_get(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_err e = {0};
    json_t *rec = fl_journal_get(&d->j, rq->arg, &e);

    if (!rec) {
        fail(rs, 404, FL_ENOTARGET, "not_found", "agent %s holds no fault %s", d->name, rq->arg);
        return;
    }
    ok(rs, 200, view(d, rec, fl_now_ms()));
}

int fl_agentd_revert(struct fl_agentd *d, const char *id, const char *why, bool keep_on_failure,
                     bool *found, struct fl_err *e)
{
    struct fl_agentd_pending *p;
    json_t *h;
    char note[256];
    int r;

    /* Out of d->held first: a renewal from here on neither renews nor
     * lists it, and a second revert (a DELETE racing the reaper or a
     * recover) finds no entry and waits in the journal for the record lock,
     * then finds no record: the driver reverts it once. */
    pthread_mutex_lock(&d->lock);
    p = pending_take(d, id);
    if ((h = json_object_get(d->held, id))) {
        json_incref(h);
        json_object_del(d->held, id);
    }
    pthread_mutex_unlock(&d->lock);
    r = fl_journal_revert_by(&d->j, id, why, found, e); /* the slow part: unlocked */
    pending_free(p); /* a prepared fault never injected: its revert is a no-op */
    if (r == 0) {
        fl_journal_reverted_by(&d->j, id, note, sizeof note); /* the owner is us: drop the note */
    } else if (h && keep_on_failure) {
        /* the record stays (with last_error): so does the lease */
        pthread_mutex_lock(&d->lock);
        if (!json_object_get(d->held, id))
            json_object_set(d->held, id, h);
        pthread_mutex_unlock(&d->lock);
    }
    json_decref(h);
    return r;
}

static void api_revert(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_err e = {0};
    bool found = false;
    char why[160];

    snprintf(why, sizeof why, "agent %s, on request of '%s'", d->name, rq->who);
    if (fl_agentd_revert(d, rq->arg, why, true, &found, &e)) {
        fail_err(rs, &e);
        return;
    }
    if (found)
        fl_info("fault %s reverted on request of '%s'", rq->arg, rq->who);
    ok(rs, 200, json_pack("{s:s,s:b}", "id", rq->arg, "reverted", found));
}

json_t *fl_agentd_revert_all(struct fl_agentd *d, const char *why)
{
    json_t *all = fl_journal_list(&d->j), *rec, *done = json_array(), *failed = json_array();
    size_t i;

    json_array_foreach (all, i, rec) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        struct fl_err e = {0};
        bool found;
        if (fl_agentd_revert(d, id, why, true, &found, &e))
            json_array_append_new(failed, json_pack("{s:s,s:s}", "id", id, "error", e.msg));
        else if (found)
            json_array_append_new(done, json_string(id));
    }
    json_decref(all);
    return json_pack("{s:o,s:o}", "reverted", done, "failed", failed);
}

static void api_recover(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    char why[160];
    json_t *rep, *jobs;

    snprintf(why, sizeof why, "agent %s: recover --all by '%s'", d->name, rq->who);
    rep = fl_agentd_revert_all(d, why);
    /* and the jobs, as their leases' end would: recover leaves nothing of
     * any controller running, and loses no restart */
    jobs = fl_jobs_end_leases(d->jobs, why);
    json_object_update(rep, jobs);
    json_decref(jobs);
    json_object_set_new(rep, "host", json_string(d->name));
    ok(rs, 200, rep);
}

static bool session_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > SESSION_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* lease_ms from the body (default DEFAULT_LEASE_MS); false + reply if bad. */
static bool lease_of(json_t *body, int64_t *lease_ms, struct fl_agentd_resp *rs)
{
    json_t *v = json_object_get(body, "lease_ms");

    *lease_ms = DEFAULT_LEASE_MS;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < FL_AGENTD_MIN_LEASE_MS ||
        json_integer_value(v) > FL_AGENTD_MAX_LEASE_MS) {
        fail(rs, 400, FL_EUSAGE, "bad_request", "lease_ms must be an integer from %d to %d",
             FL_AGENTD_MIN_LEASE_MS, FL_AGENTD_MAX_LEASE_MS);
        return false;
    }
    *lease_ms = json_integer_value(v);
    return true;
}

static void api_renew(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    json_t *ids = json_array(), *alive = json_array(), *live = json_array(), *h, *x;
    int64_t lease_ms, now = fl_now_ms();
    const char *id;
    size_t i;

    if (!lease_of(rq->body, &lease_ms, rs)) {
        json_decref(ids);
        json_decref(alive);
        json_decref(live);
        return;
    }
    pthread_mutex_lock(&d->lock);
    json_object_foreach (d->held, id, h)
        if (!strcmp(json_string_value(json_object_get(h, "session")), rq->arg))
            json_array_append_new(ids, json_string(id));
    pthread_mutex_unlock(&d->lock);
    /* The records without d->lock: each renewal waits only for its own
     * record's lock (held by a revert of that fault in another process, the
     * guardian or `faultline recover`), never holding up other requests. */
    json_array_foreach (ids, i, x)
        json_array_append_new(alive,
                              json_boolean(fl_fault_renew(&d->j, json_string_value(x), lease_ms)));
    pthread_mutex_lock(&d->lock);
    json_array_foreach (ids, i, x) {
        id = json_string_value(x);
        /* gone meanwhile: a revert took it out, so it is not put back */
        if (!(h = json_object_get(d->held, id)))
            continue;
        if (!json_is_true(json_array_get(alive, i))) {
            json_object_del(d->held, id); /* reverted by recover or the guardian */
            continue;
        }
        json_object_set_new(h, "lease_until", json_integer(now + lease_ms));
        json_object_set_new(h, "lease_ms", json_integer(lease_ms));
        json_array_append_new(live, json_string(id));
    }
    pthread_mutex_unlock(&d->lock);
    json_decref(ids);
    json_decref(alive);
    /* pid and uptime, as health says them: a controller sees a restarted agent */
    ok(rs, 200,
       json_pack("{s:s,s:o,s:I,s:o,s:i,s:I}", "session", rq->arg, "live", live, "lease_ms",
                 (json_int_t)lease_ms, "jobs", fl_jobs_renew(d->jobs, rq->arg, lease_ms), "pid",
                 (int)getpid(), "uptime_ms", (json_int_t)(now - d->started_ms)));
}

/* The kind's params from the request body's "params" object, checked as
 * the command line's are. */
static json_t *parse_params(const struct fl_fault_ops *ops, json_t *in, struct fl_err *e)
{
    const struct fl_opt *const tables[] = {ops->opts, NULL};
    json_t *out = json_object(), *v, *x;
    const char *k;
    size_t i;

    if (in && !json_is_object(in)) {
        fl_err_set(e, FL_EUSAGE, "params must be an object of the kind's options");
        goto bad;
    }
    json_object_foreach (in, k, v) {
        const struct fl_opt *o = fl_opts_find(tables, k);
        if (!o) {
            const char *hint = fl_opts_suggest(tables, k);
            fl_err_set(e, FL_EUSAGE, "%s does not take '%s'%s%s%s; `faultline inject %s --help`",
                       ops->kind, k, hint ? " (did you mean " : "", hint ? hint : "",
                       hint ? "?)" : "", ops->kind);
            goto bad;
        }
        if (json_is_array(v) && (o->flags & FL_OPT_MULTI)) {
            json_array_foreach (v, i, x)
                if (fl_opts_set_json(o, out, x, e))
                    goto bad;
        } else if (fl_opts_set_json(o, out, v, e)) {
            goto bad;
        }
    }
    if (fl_opts_check_required(ops->opts, out, e) || (ops->validate && ops->validate(ops, out, e)))
        goto bad;
    return out;
bad:
    json_decref(out);
    return NULL;
}

/* The request's fault, planned and ready to apply; false + reply if not. */
static bool build_fault(struct fl_agentd_req *rq, struct fl_fault *f, struct fl_agentd_resp *rs)
{
    const char *kind = json_string_value(json_object_get(rq->body, "kind")), *why;
    json_t *dur = json_object_get(rq->body, "duration_ms"),
           *seed = json_object_get(rq->body, "seed");
    const struct fl_fault_ops *ops = kind ? fl_fault_lookup(kind) : NULL;
    struct fl_err e = {0};
    json_t *params;

    if (!ops) {
        why = kind ? fl_fault_unavailable_reason(kind) : NULL;
        if (why)
            fail(rs, 501, FL_EUNSUPPORTED, "unsupported", "%s is not available: %s", kind, why);
        else
            fail(rs, 400, FL_EUSAGE, "bad_request",
                 "kind '%s' is not a fault kind; `faultline inject --help` lists them",
                 kind ? kind : "(missing)");
        return false;
    }
    if (dur && (!json_is_integer(dur) || json_integer_value(dur) < 0)) {
        fail(rs, 400, FL_EUSAGE, "bad_request", "duration_ms must be a non-negative integer");
        return false;
    }
    if ((ops->flags & FL_FAULT_INSTANT) && json_integer_value(dur)) {
        fail(rs, 400, FL_EUSAGE, "bad_request", "%s happens at once: drop duration_ms", kind);
        return false;
    }
    if (!(params = parse_params(ops, json_object_get(rq->body, "params"), &e))) {
        fail_err(rs, &e);
        return false;
    }
    fl_fault_init(f, ops, params);
    f->duration_ms = json_integer_value(dur);
    f->seed = json_is_integer(seed) ? (uint64_t)json_integer_value(seed)
                                    : ((uint64_t)fl_now_ms() * 2654435761u) & ((1ULL << 53) - 1);
    if (ops->plan(f, &e)) {
        fail_err(rs, &e);
        fl_fault_fini(f);
        return false;
    }
    return true;
}

/* Only known fields in a fault request; false + reply if not. */
static bool fields_ok(struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    static const char *const fields[] = {"kind", "params",  "duration_ms", "lease_ms", "session",
                                         "seed", "dry_run", "prepare",     NULL};
    const char *k;
    json_t *v;

    json_object_foreach (rq->body, k, v) {
        size_t i;
        for (i = 0; fields[i] && strcmp(fields[i], k); i++)
            ;
        if (!fields[i]) {
            fail(rs, 400, FL_EUSAGE, "bad_request",
                 "unknown field '%s'; a fault is {kind, params, duration_ms, lease_ms, "
                 "session, seed, prepare, dry_run} (docs/agent.md)",
                 k);
            return false;
        }
    }
    return true;
}

/* Inject a prepared fault (p, taken out of d->pending, freed here) and reply.
 * Called without d->lock: the inject, the slow part, runs unlocked (other
 * requests, renewals above all, go on meanwhile); d->held is updated under
 * d->lock after it. A DELETE, recover or lease end that reverts the fault
 * while it is being injected finds its journal record; commit then finds
 * the record gone (rec NULL), undoes what inject added since and says so. */
static void commit(struct fl_agentd *d, struct fl_agentd_pending *p, struct fl_agentd_resp *rs)
{
    int64_t end_at = p->f.duration_ms ? fl_now_ms() + p->f.duration_ms : 0;
    bool instant = p->f.ops->flags & FL_FAULT_INSTANT;
    struct fl_err e = {0};
    char desc[512];
    json_t *h, *rec = NULL;
    int r = fl_fault_commit_record(&d->j, &p->f, p->rec, instant ? NULL : &rec, &e);

    p->rec = NULL; /* commit took it */
    fl_fault_describe(&p->f, desc, sizeof desc);
    if (r == 0 && instant) {
        int rl = fl_journal_record_lock(&d->j, p->f.id); /* not while a renewal rewrites it */
        fl_journal_remove(&d->j, p->f.id);
        fl_journal_record_unlock(rl);
    }
    pthread_mutex_lock(&d->lock);
    h = json_object_get(d->held, p->f.id);
    if (r) {
        json_object_del(d->held, p->f.id);
        fail_err(rs, &e);
    } else if (instant) {
        json_object_del(d->held, p->f.id);
        ok(rs, 200,
           json_pack("{s:s,s:s,s:s,s:s,s:b}", "id", p->f.id, "kind", p->f.ops->kind, "description",
                     desc, "host", d->name, "instant", 1));
    } else if (!rec || !h) { /* !h: a revert took it out and runs (or ran) */
        json_object_del(d->held, p->f.id);
        fail(rs, 409, FL_EREFUSED, "refused",
             "agent %s: fault %s was reverted while it was being applied (a DELETE, a recover or "
             "the end of its lease); apply it again",
             d->name, p->f.id);
    } else {
        if (h) {
            json_object_set_new(h, "end_at", json_integer(end_at));
            json_object_del(h, "prepared");
        }
        fl_info("fault %s applied for '%s' (session %s): %s", p->f.id,
                json_string_value(json_object_get(h, "who")) ?: "-",
                json_string_value(json_object_get(h, "session")) ?: "-", desc);
        ok(rs, 201, view(d, rec, fl_now_ms()));
    }
    pthread_mutex_unlock(&d->lock);
    pending_free(p);
}

static void api_apply(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    const char *session = json_string_value(json_object_get(rq->body, "session"));
    struct fl_agentd_pending *p;
    struct fl_err e = {0};
    int64_t lease_ms, now, until;
    char desc[512];

    if (!fields_ok(rq, rs))
        return;
    if (!session_ok(session)) {
        fail(rs, 400, FL_EUSAGE, "bad_request",
             "session must be 1-%d letters, digits, '-', '_' or '.' (the controller's "
             "session id, renewed with POST /api/v1/sessions/ID/renew)",
             SESSION_MAX);
        return;
    }
    if (!lease_of(rq->body, &lease_ms, rs) || !(p = calloc(1, sizeof *p)))
        return;
    if (!build_fault(rq, &p->f, rs)) {
        free(p);
        return;
    }
    fl_fault_describe(&p->f, desc, sizeof desc);
    if (json_is_true(json_object_get(rq->body, "dry_run"))) {
        /* planned (targets resolved, undo known), nothing touched */
        ok(rs, 200,
           json_pack("{s:b,s:s,s:s,s:s,s:O}", "dry_run", 1, "host", d->name, "kind", p->f.ops->kind,
                     "description", desc, "undo", p->f.undo));
        pending_free(p);
        return;
    }
    now = fl_now_ms();
    until = now + lease_ms;
    /* unlocked: the journal lock serialises the overlap check and the record */
    if (fl_fault_prepare(&d->j, &p->f, getpid(), lease_ms,
                         p->f.duration_ms ? now + p->f.duration_ms : 0, &p->rec, &e)) {
        pending_free(p);
        fail_err(rs, &e);
        return;
    }
    pthread_mutex_lock(&d->lock);
    json_object_set_new(d->held, p->f.id,
                        json_pack("{s:s,s:I,s:I,s:I,s:s}", "session", session, "lease_ms",
                                  (json_int_t)lease_ms, "lease_until", (json_int_t)until, "end_at",
                                  (json_int_t)0, "who", rq->who));
    if (!json_is_true(json_object_get(rq->body, "prepare"))) {
        pthread_mutex_unlock(&d->lock);
        commit(d, p, rs);
        return;
    }
    json_object_set_new(json_object_get(d->held, p->f.id), "prepared", json_true());
    p->next = d->pending;
    d->pending = p;
    fl_info("fault %s prepared for '%s' (session %s, lease %lld ms): %s", p->f.id, rq->who, session,
            (long long)lease_ms, desc);
    ok(rs, 201,
       json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "id", p->f.id, "state", "prepared", "host", d->name,
                 "kind", p->f.ops->kind, "description", desc, "lease_left_ms",
                 (json_int_t)lease_ms));
    pthread_mutex_unlock(&d->lock); /* p is d->pending's now: a recover may free it */
}

static void api_commit(struct fl_agentd *d, struct fl_agentd_req *rq, struct fl_agentd_resp *rs)
{
    struct fl_agentd_pending *p;

    pthread_mutex_lock(&d->lock);
    p = pending_take(d, rq->arg);
    pthread_mutex_unlock(&d->lock);
    if (!p) {
        fail(rs, 404, FL_ENOTARGET, "not_found",
             "agent %s holds no prepared fault %s (started already, reverted at the end of its "
             "lease, or never prepared)",
             d->name, rq->arg);
        return;
    }
    commit(d, p, rs);
}

/* The faults whose lease or duration ended, as [[id, why, deadline], ...],
 * and the ms until the next deadline. Called with d->lock held. */
static json_t *reap_due(struct fl_agentd *d, int64_t now, int64_t *next)
{
    json_t *due = json_array(), *h;
    const char *key;

    *next = 1000;
    json_object_foreach (d->held, key, h) {
        int64_t until = json_integer_value(json_object_get(h, "lease_until"));
        int64_t end_at = json_integer_value(json_object_get(h, "end_at"));
        int64_t lease = json_integer_value(json_object_get(h, "lease_ms"));
        char why[256];

        if (now < until && (!end_at || now < end_at)) {
            int64_t left = (end_at && end_at < until ? end_at : until) - now;
            *next = left < *next ? left : *next;
            continue;
        }
        if (now >= until)
            snprintf(why, sizeof why,
                     "agent %s: lease expired (no renewal from session %s for %lld ms)", d->name,
                     json_string_value(json_object_get(h, "session")), (long long)lease);
        else
            snprintf(why, sizeof why, "agent %s: duration ended", d->name);
        json_array_append_new(
            due, json_pack("[s,s,I]", key, why, (json_int_t)(now >= until ? until : end_at)));
    }
    return due;
}

int64_t fl_agentd_reap(struct fl_agentd *d)
{
    int64_t next;
    json_t *due, *x;
    size_t i;

    pthread_mutex_lock(&d->lock);
    due = reap_due(d, fl_now_ms(), &next);
    pthread_mutex_unlock(&d->lock);
    /* each revert without d->lock (fl_agentd_revert): renewals, health and
     * the other requests go on while a driver reverts */
    json_array_foreach (due, i, x) {
        const char *id = json_string_value(json_array_get(x, 0));
        const char *why = json_string_value(json_array_get(x, 1));
        struct fl_err e = {0};
        bool found = false;

        if (fl_agentd_revert(d, id, why, false, &found, &e))
            fl_error("revert of %s failed (%s); the guardian keeps retrying", id, e.msg);
        else if (found)
            fl_info("fault %s reverted: %s, %lld ms after the deadline", id, why,
                    (long long)(fl_now_ms() - json_integer_value(json_array_get(x, 2))));
    }
    json_decref(due);
    return next;
}
