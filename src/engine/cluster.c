/* A run's hosts: commands on a host, host addresses, and targets resolved
 * when a fault starts. A command on a lab host runs as `faultline lab exec
 * LAB/hN -- /bin/sh -c CMD` (this binary), so it sees the host's network
 * and /etc/hosts exactly as a user's `lab exec` does; an HTTP or Sentinel
 * query "from" a host runs in a thread that entered the host's network
 * namespace (setns affects only the calling thread). */
#include "engine/cluster.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/lab.h"
#include "util/shell.h"
#include "util/time.h"

#define MAX_HTTP_BODY (1 << 20)

/* ---- commands on hosts -------------------------------------------------- */

int fl_cluster_run(const struct fl_spec *s, const char *host, const char *cmd, int64_t timeout_ms,
                   const char *state_dir, char *out, size_t len)
{
    struct fl_shell_where w = {0};
    char ref[64];

    if (len)
        out[0] = '\0';
    if (fl_cluster_where(s, host, state_dir, &w, ref, sizeof ref, out, len))
        return host && !fl_spec_host_find(s, host) ? -ENOENT : -EOPNOTSUPP;
    return fl_shell_run(&w, cmd, timeout_ms, out, len);
}

int fl_cluster_where(const struct fl_spec *s, const char *host, const char *state_dir,
                     struct fl_shell_where *w, char *ref, size_t rlen, char *why, size_t wlen)
{
    const struct fl_spec_host *h = host ? fl_spec_host_find(s, host) : NULL;

    memset(w, 0, sizeof *w);
    if (host && !h) {
        snprintf(why, wlen, "no host %s in hosts:", host);
        return -ENOENT;
    }
    if (h && !h->lab) {
        snprintf(why, wlen, "host %s is reached through its agent, which runs no commands", host);
        return -EOPNOTSUPP;
    }
    if (h) {
        snprintf(ref, rlen, "%s/%s", h->lab, h->lab_host);
        w->lab_ref = ref;
        w->state_dir = state_dir;
    }
    return 0;
}

/* ---- commands on agent hosts: jobs of their agents ----------------------- */

#define JOB_GRACE_MS 5000 /* past the job's own timeout before we give up on it */

int fl_cluster_job_start(struct fl_agent_client *c, const char *name, const char *cmd,
                         int64_t timeout_ms, int64_t delay_ms, bool at_lease_end,
                         char id[FL_AGENT_JOB_ID_LEN], struct fl_err *e)
{
    json_t *req =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "kind", "command", "command", cmd, "name",
                  name ? name : "command", "timeout_ms", (json_int_t)timeout_ms, "delay_ms",
                  (json_int_t)delay_ms, "on_lease_end", at_lease_end ? "run" : "kill");
    int r;

    if (!req)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    r = fl_agent_client_job_start(c, req, id, e);
    json_decref(req);
    return r;
}

int fl_cluster_job_hurry(struct fl_agent_client *c, char id[FL_AGENT_JOB_ID_LEN], const char *name,
                         const char *cmd, int64_t timeout_ms, bool at_lease_end, struct fl_err *e)
{
    json_t *st = NULL;
    bool pending;
    int r;

    if ((r = fl_agent_client_job_status(c, id, &st, e)))
        return r;
    pending = json_string_value(json_object_get(st, "state")) &&
              !strcmp(json_string_value(json_object_get(st, "state")), "pending");
    json_decref(st);
    st = NULL;
    if (!pending)
        return 0;
    if ((r = fl_agent_client_job_delete(c, id, &st, e)))
        return r;
    /* it may have started between the two calls: then the delete ended it,
     * and it starts again now (a restart must not be lost) */
    json_decref(st);
    if ((r = fl_cluster_job_start(c, name, cmd, timeout_ms, 0, at_lease_end, id, e)))
        return r;
    return 1;
}

/* A job's end state as fl_cluster_run's return value; -1 while it runs. */
static int job_result(const json_t *st, char *why, size_t len)
{
    const char *state = json_string_value(json_object_get(st, "state"));
    json_t *x;

    why[0] = '\0';
    if (!state || !strcmp(state, "pending") || !strcmp(state, "running"))
        return -1;
    if (!strcmp(state, "timed_out"))
        return -ETIMEDOUT;
    /* "exited" (by itself, or by a signal it did not get from the agent) or "killed" */
    if (json_is_integer(x = json_object_get(st, "signal")))
        return 128 + (int)json_integer_value(x);
    if (json_is_integer(x = json_object_get(st, "exit")))
        return (int)json_integer_value(x);
    snprintf(why, len, "the agent reports the job %s", state);
    return -ENOEXEC; /* "failed": it could not start */
}

/* out: the head of the job's stdout, then its stderr's tail (as much as fits). */
static void job_output(struct fl_agent_client *c, const char *id, const json_t *st, char *out,
                       size_t len)
{
    struct fl_err e = {0};
    const char *tail = json_string_value(json_object_get(st, "stderr_tail"));
    char *buf = NULL;
    size_t n = 0, have;
    bool eof;

    if (len < 2)
        return;
    if (fl_agent_client_job_output(c, id, 0, len - 1, &buf, &n, &eof, &e) == 0 && n) {
        memcpy(out, buf, n < len - 1 ? n : len - 1);
        out[n < len - 1 ? n : len - 1] = '\0';
    }
    free(buf);
    have = strlen(out);
    if (tail && *tail && have + 2 < len)
        snprintf(out + have, len - have, "%s%s", have && out[have - 1] != '\n' ? "\n" : "", tail);
    for (n = strlen(out); n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'); n--)
        out[n - 1] = '\0';
}

int fl_cluster_job_wait(struct fl_agent_client *c, const char *id, int64_t deadline_ms, char *out,
                        size_t len)
{
    struct fl_err e = {0};
    int64_t pause = 20;
    json_t *st = NULL;
    char why[128];
    int r = -1;

    if (len)
        out[0] = '\0';
    for (;;) {
        json_decref(st);
        st = NULL;
        if (fl_agent_client_job_status(c, id, &st, &e) == 0) {
            if ((r = job_result(st, why, sizeof why)) != -1)
                break;
        } else if (e.code == FL_ENOTARGET) {
            snprintf(out, len, "job %s is gone from host %s's agent (was the agent restarted?)", id,
                     fl_agent_client_name(c));
            return -ENOENT;
        }
        if (fl_now_ms() >= deadline_ms) {
            struct fl_err ignore = {0};
            json_t *final = NULL;
            if (fl_agent_client_job_delete(c, id, &final, &ignore) == 0)
                job_output(c, id, final, out, len);
            else if (e.msg[0])
                snprintf(out, len, "%s", e.msg);
            json_decref(final);
            return e.msg[0] && !st ? -EHOSTUNREACH : -ETIMEDOUT;
        }
        fl_sleep_ms(pause);
        pause = pause < 200 ? pause * 2 : 200;
    }
    job_output(c, id, st, out, len);
    if (why[0] && strlen(out) + 3 < len) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", n ? "; " : "", why);
    }
    json_decref(st);
    fl_agent_client_job_delete(c, id, NULL, &e);
    return r;
}

int fl_cluster_job_run(struct fl_agent_client *c, const char *name, const char *cmd,
                       int64_t timeout_ms, char *out, size_t len)
{
    char id[FL_AGENT_JOB_ID_LEN];
    struct fl_err e = {0};

    if (len)
        out[0] = '\0';
    if (fl_cluster_job_start(c, name, cmd, timeout_ms, 0, false, id, &e)) {
        snprintf(out, len, "%s", e.msg);
        return e.code == FL_EPERM ? -EPERM : -EHOSTUNREACH;
    }
    return fl_cluster_job_wait(c, id, fl_now_ms() + timeout_ms + JOB_GRACE_MS, out, len);
}

int fl_cluster_exec(const struct fl_spec *s, struct fl_agent_client **agents, const char *host,
                    const char *name, const char *cmd, int64_t timeout_ms, const char *state_dir,
                    char *out, size_t len)
{
    struct fl_agent_client *c = fl_cluster_agent_of(s, agents, host);
    const struct fl_spec_host *h = host ? fl_spec_host_find(s, host) : NULL;

    if (c)
        return fl_cluster_job_run(c, name, cmd, timeout_ms, out, len);
    if (h && h->agent) { /* the run could not reach it at its start */
        snprintf(out, len, "host %s: its agent was not reached when the run started", host);
        return -EHOSTUNREACH;
    }
    return fl_cluster_run(s, host, cmd, timeout_ms, state_dir, out, len);
}

/* ---- addresses ---------------------------------------------------------- */

int fl_cluster_host_addr(const struct fl_spec *s, const char *name, const char *state_dir,
                         char *buf, size_t len, struct fl_err *e)
{
    const struct fl_spec_host *h = fl_spec_host_find(s, name);
    struct fl_lab lab;
    bool ready;

    if (!h)
        return fl_err_set(e, FL_ENOTARGET, "no host '%s' in hosts:", name);
    if (h->address) {
        snprintf(buf, len, "%s", h->address);
        return 0;
    }
    if (h->agent) {
        /* the URL's host: http(s)://HOST[:PORT][/...], [V6] or a bare HOST[:PORT] */
        const char *p = strstr(h->agent, "://") ? strstr(h->agent, "://") + 3 : h->agent;
        size_t n = *p == '[' ? strcspn(++p, "]") : strcspn(p, ":/");
        unsigned char a[16];
        snprintf(buf, len, "%.*s", (int)n, p);
        if (inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1)
            return 0;
        return fl_err_set(e, FL_EUSAGE,
                          "host %s: its agent URL names %s, not an address: give the host's "
                          "address: in hosts:",
                          name, buf);
    }
    if (fl_lab_load(h->lab, state_dir, &lab, &ready, e) < 0)
        return fl_err_prefix(e, "host %s (lab %s/%s)", name, h->lab, h->lab_host);
    for (size_t i = 0; i < lab.n; i++)
        if (!strcmp(lab.hosts[i].name, h->lab_host)) {
            /* no record of the lab in this state directory: its namespaces
             * exist, but not what address each host was given */
            if (!lab.hosts[i].addr.s_addr)
                return fl_err_set(e, FL_ENOTARGET,
                                  "host %s (lab %s/%s): the lab's record, with its hosts' "
                                  "addresses, is not in the state directory %s (the lab was "
                                  "built with another one); run with the FAULTLINE_STATE_DIR "
                                  "(--state-dir) that ran `faultline lab up %s`",
                                  name, h->lab, h->lab_host, state_dir ? state_dir : "(default)",
                                  h->lab);
            inet_ntop(AF_INET, &lab.hosts[i].addr, buf, (socklen_t)len);
            return 0;
        }
    return fl_err_set(e, FL_ENOTARGET,
                      "host %s: lab %s has no host %s (it has %zu; `faultline lab status %s`)",
                      name, h->lab, h->lab_host, lab.n, h->lab);
}

/* ---- queries from inside a host's namespace ----------------------------- */

struct query {
    const struct fl_spec *s;
    const struct fl_spec_resolve *rs;
    const char *netns; /* enter it first, or NULL */
    char *value;
    size_t vlen;
    struct fl_err e;
    int rc;
};

static size_t body_write(char *p, size_t sz, size_t n, void *arg)
{
    struct fl_buf_acc {
        char *d;
        size_t n;
    } *b = arg;
    size_t add = sz * n;
    char *g;

    if (b->n + add > MAX_HTTP_BODY || !(g = realloc(b->d, b->n + add + 1)))
        return 0;
    memcpy(g + b->n, p, add);
    b->d = g;
    b->n += add;
    b->d[b->n] = '\0';
    return add;
}

/* RFC 6901: "/a/0/b~1c" walks objects by key and arrays by index. */
static json_t *json_at(json_t *doc, const char *ptr)
{
    char tok[256];

    while (doc && *ptr == '/') {
        size_t n = 0;
        for (ptr++; *ptr && *ptr != '/' && n < sizeof tok - 1; ptr++) {
            if (ptr[0] == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
                tok[n++] = ptr[1] == '0' ? '~' : '/';
                ptr++;
            } else {
                tok[n++] = *ptr;
            }
        }
        tok[n] = '\0';
        if (json_is_array(doc)) {
            char *end;
            long i = strtol(tok, &end, 10);
            doc = *tok && !*end && i >= 0 ? json_array_get(doc, (size_t)i) : NULL;
        } else {
            doc = json_object_get(doc, tok);
        }
    }
    return *ptr ? NULL : doc;
}

static int query_http(struct query *q)
{
    struct {
        char *d;
        size_t n;
    } b = {0};
    CURL *c = curl_easy_init();
    json_t *doc, *v;
    json_error_t je;
    long status = 0;
    CURLcode cc;

    if (!c)
        return fl_err_set(&q->e, FL_EFAIL, "libcurl could not start");
    curl_easy_setopt(c, CURLOPT_URL, q->rs->url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)q->rs->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK) {
        free(b.d);
        return fl_err_set(&q->e, FL_EFAIL, "GET %s: %s", q->rs->url, curl_easy_strerror(cc));
    }
    if (status < 200 || status > 299) {
        free(b.d);
        return fl_err_set(&q->e, FL_EFAIL, "GET %s answered HTTP %ld", q->rs->url, status);
    }
    doc = b.d ? json_loads(b.d, 0, &je) : NULL;
    free(b.d);
    if (!doc)
        return fl_err_set(&q->e, FL_EFAIL, "GET %s: the answer is not JSON", q->rs->url);
    v = json_at(doc, q->rs->pointer);
    if (json_is_string(v))
        snprintf(q->value, q->vlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(q->value, q->vlen, "%lld", (long long)json_integer_value(v));
    else {
        json_decref(doc);
        return fl_err_set(&q->e, FL_EFAIL, "GET %s: no string or number at %s", q->rs->url,
                          q->rs->pointer);
    }
    json_decref(doc);
    return 0;
}

static int query_sentinel(struct query *q)
{
    char host[256];
    const char *colon = strrchr(q->rs->sentinel, ':');
    struct timeval tv = {.tv_sec = q->rs->timeout_ms / 1000,
                         .tv_usec = (q->rs->timeout_ms % 1000) * 1000};
    redisContext *c;
    redisReply *rep;
    int port = (int)strtol(colon + 1, NULL, 10), r = 0;

    snprintf(host, sizeof host, "%.*s", (int)(colon - q->rs->sentinel), q->rs->sentinel);
    c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        r = fl_err_set(&q->e, FL_EFAIL, "sentinel %s: %s", q->rs->sentinel,
                       c ? c->errstr : "cannot connect");
        if (c)
            redisFree(c);
        return r;
    }
    redisSetTimeout(c, tv);
    rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", q->rs->master);
    if (!rep)
        r = fl_err_set(&q->e, FL_EFAIL, "sentinel %s: %s", q->rs->sentinel, c->errstr);
    else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
             rep->element[0]->type == REDIS_REPLY_STRING &&
             rep->element[1]->type == REDIS_REPLY_STRING)
        snprintf(q->value, q->vlen, "%s:%s", rep->element[0]->str, rep->element[1]->str);
    else
        r = fl_err_set(&q->e, FL_ENOTARGET,
                       "sentinel %s knows no master named %s (SENTINEL get-master-addr-by-name "
                       "answered %s)",
                       q->rs->sentinel, q->rs->master,
                       rep->type == REDIS_REPLY_ERROR ? rep->str : "nothing");
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return r;
}

static void *query_main(void *arg)
{
    struct query *q = arg;

    if (q->netns) {
        char path[320];
        int fd;
        snprintf(path, sizeof path, "/run/netns/%s", q->netns);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET)) {
            q->rc = fl_err_set(&q->e, FL_ENOTARGET, "cannot enter network namespace %s: %s",
                               q->netns, strerror(errno));
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        close(fd);
    }
    q->rc = q->rs->kind == FL_RESOLVE_HTTP ? query_http(q) : query_sentinel(q);
    return NULL;
}

/* ---- resolving a target -------------------------------------------------- */

/* The host that `value` names: a host's name, or its address (":PORT" and
 * "[...]" stripped). */
static const struct fl_spec_host *match_host(const struct fl_spec *s, const char *value,
                                             const char *state_dir)
{
    char addr[128], a[64];
    const char *colon;
    struct fl_err ignore = {0};

    if (fl_spec_host_find(s, value))
        return fl_spec_host_find(s, value);
    snprintf(addr, sizeof addr, "%s", value[0] == '[' ? value + 1 : value);
    if (strchr(addr, ']'))
        *strchr(addr, ']') = '\0';
    else if ((colon = strrchr(addr, ':')) && strchr(addr, ':') == colon)
        addr[colon - addr] = '\0';
    for (size_t i = 0; i < s->nhosts; i++)
        if (fl_cluster_host_addr(s, s->hosts[i].name, state_dir, a, sizeof a, &ignore) == 0 &&
            !strcmp(a, addr))
            return &s->hosts[i];
    return NULL;
}

int fl_cluster_resolve(const struct fl_spec *s, struct fl_agent_client **agents,
                       const struct fl_spec_resolve *rs, const char *state_dir, char *value,
                       size_t vlen, const struct fl_spec_host **host, struct fl_err *e)
{
    const struct fl_spec_host *from = rs->from ? fl_spec_host_find(s, rs->from) : NULL;
    char netns[64] = "";
    int rc;

    value[0] = '\0';
    if (from && from->agent && !fl_cluster_agent_of(s, agents, rs->from))
        return fl_err_set(e, FL_ENOTARGET,
                          "host_from asks from host %s, through its agent, which only a run "
                          "reaches",
                          rs->from);
    if (from && !from->agent)
        snprintf(netns, sizeof netns, "%s-%s", from->lab, from->lab_host);
    if (rs->kind == FL_RESOLVE_COMMAND) {
        char out[1024];
        size_t n;
        /* from an agent host: a job of its agent (the spec allows no other kind there) */
        rc = fl_cluster_exec(s, agents, rs->from, "host_from", rs->command, rs->timeout_ms,
                             state_dir, out, sizeof out);
        if (rc)
            return fl_err_set(e, FL_ENOTARGET, "host_from command `%s` %s %d: %s", rs->command,
                              rc < 0 ? "failed with error" : "exited with status", rc, out);
        n = strcspn(out, "\r\n");
        while (n && (out[n - 1] == ' ' || out[n - 1] == '\t'))
            n--;
        snprintf(value, vlen, "%.*s", (int)n, out + strspn(out, " \t"));
    } else {
        struct query q = {
            .s = s, .rs = rs, .netns = from ? netns : NULL, .value = value, .vlen = vlen};
        pthread_t th;
        if (pthread_create(&th, NULL, query_main, &q))
            return fl_err_set(e, FL_EFAIL, "cannot start a thread for host_from");
        pthread_join(th, NULL);
        if (q.rc) {
            *e = q.e;
            return fl_err_set(e, FL_ENOTARGET, "host_from: %s", q.e.msg);
        }
    }
    if (!value[0])
        return fl_err_set(e, FL_ENOTARGET, "host_from gave an empty value");
    if (!(*host = match_host(s, value, state_dir)))
        return fl_err_set(e, FL_ENOTARGET,
                          "host_from gave '%s', which is neither the name nor the address of a "
                          "host of hosts:",
                          value);
    return 0;
}

json_t *fl_cluster_step_params(const struct fl_spec *s, struct fl_agent_client **agents,
                               const struct fl_spec_action *a, const char *state_dir,
                               const struct fl_spec_host **resolved, char *note, size_t nlen,
                               struct fl_err *e)
{
    json_t *p = json_deep_copy(a->params), *peers;
    const char *self = a->host; /* a host is not cut from itself (peer_hosts:) */
    size_t off = 0;

    note[0] = '\0';
    if (!p) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        return NULL;
    }
    if (a->resolve.kind != FL_RESOLVE_NONE) {
        const struct fl_spec_host *h = NULL;
        char value[256], ns[64];
        if (fl_cluster_resolve(s, agents, &a->resolve, state_dir, value, sizeof value, &h, e) ||
            !h) {
            json_decref(p);
            return NULL;
        }
        if (resolved)
            *resolved = h;
        self = h->name;
        if (h->agent) {
            off += (size_t)snprintf(note, nlen, "host_from gave '%s': host %s (through its agent)",
                                    value, h->name);
        } else {
            snprintf(ns, sizeof ns, "%s-%s", h->lab, h->lab_host);
            json_object_set_new(p, "netns", json_string(ns));
            off += (size_t)snprintf(note, nlen, "host_from gave '%s': host %s (netns %s)", value,
                                    h->name, ns);
        }
        if ((h = a->resolve.from ? fl_spec_host_find(s, a->resolve.from) : NULL) && h->agent &&
            off < nlen)
            off += (size_t)snprintf(note + off, nlen - off, ", asked on host %s by its agent",
                                    h->name);
    }
    if (!a->npeer_hosts)
        return p;
    peers = json_array();
    for (size_t i = 0; i < a->npeer_hosts; i++) {
        char addr[64];
        if (self && !strcmp(a->peer_hosts[i], self))
            continue;
        if (fl_cluster_host_addr(s, a->peer_hosts[i], state_dir, addr, sizeof addr, e)) {
            json_decref(peers);
            json_decref(p);
            return NULL;
        }
        json_array_append_new(peers, json_string(addr));
        if (off < nlen)
            off += (size_t)snprintf(note + off, nlen - off, "%s%s=%s",
                                    json_array_size(peers) > 1 ? ", "
                                    : off                      ? "; peers "
                                                               : "peers ",
                                    a->peer_hosts[i], addr);
    }
    if (!json_array_size(peers)) {
        json_decref(peers);
        json_decref(p);
        fl_err_set(e, FL_EUSAGE, "%s: peer_hosts leaves no peer: it names only the step's host %s",
                   a->name ? a->name : "the step", self);
        return NULL;
    }
    json_object_set_new(p, "peer", peers);
    return p;
}

/* ---- agent hosts -------------------------------------------------------- */

/* The token a host's `token:` points at (env:NAME, file:PATH). */
static int read_token(const struct fl_spec_host *h, char *tok, size_t len, struct fl_err *e)
{
    FILE *f;

    tok[0] = '\0';
    if (!h->token)
        return 0;
    if (!strncmp(h->token, "env:", 4)) {
        const char *v = getenv(h->token + 4);
        if (!v || !*v)
            return fl_err_set(e, FL_EUSAGE,
                              "host %s: its token is in $%s, which is not set; nothing was "
                              "injected",
                              h->name, h->token + 4);
        snprintf(tok, len, "%s", v);
        return 0;
    }
    if (!(f = fopen(h->token + 5, "re")))
        return fl_err_set(e, FL_EUSAGE, "host %s: cannot read its token file %s: %s", h->name,
                          h->token + 5, strerror(errno));
    if (!fgets(tok, (int)len, f))
        tok[0] = '\0';
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    if (!tok[0])
        return fl_err_set(e, FL_EUSAGE, "host %s: its token file %s is empty", h->name,
                          h->token + 5);
    return 0;
}

int fl_cluster_agent_client(const struct fl_spec_host *h, int64_t lease_ms,
                            struct fl_agent_client **c, struct fl_err *e)
{
    struct fl_agent_client_opts o = {.url = h->agent,
                                     .name = h->name,
                                     .lease_ms = lease_ms,
                                     .cacert = getenv("FAULTLINE_CACERT")};
    char tok[512];
    int r;

    *c = NULL;
    if ((r = read_token(h, tok, sizeof tok, e)))
        return r;
    o.token = tok[0] ? tok : NULL;
    return fl_agent_client_new(&o, c, e);
}

int fl_cluster_agents_open(const struct fl_spec *s, int64_t lease_ms, struct fl_agent_client ***out,
                           struct fl_err *e)
{
    struct fl_agent_client **a = calloc(s->nhosts + 1, sizeof(struct fl_agent_client *));

    *out = a;
    if (!a)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (size_t i = 0; i < s->nhosts; i++) {
        json_t *faults = NULL;
        int r;
        if (!s->hosts[i].agent)
            continue;
        if ((r = fl_cluster_agent_client(&s->hosts[i], lease_ms, &a[i], e)))
            return r;
        r = fl_agent_client_list(a[i], &faults, e);
        json_decref(faults);
        if (r)
            return r; /* the client names the host */
    }
    return 0;
}

void fl_cluster_agents_close(const struct fl_spec *s, struct fl_agent_client **a)
{
    for (size_t i = 0; a && i < s->nhosts; i++)
        fl_agent_client_free(a[i]);
    free(a);
}

struct fl_agent_client *fl_cluster_agent_of(const struct fl_spec *s, struct fl_agent_client **a,
                                            const char *name)
{
    const struct fl_spec_host *h = name ? fl_spec_host_find(s, name) : NULL;

    return h && a ? a[h - s->hosts] : NULL;
}
