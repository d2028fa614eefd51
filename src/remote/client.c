/* The controller's client of `faultline agent` (client.h): JSON over
 * libcurl, one session id per client, and the background lease renewer. */
#include "remote/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "util/log.h"
#include "util/time.h"

#define MAX_REPLY (8 << 20)

#define POOL 4 /* idle curl handles kept (with their connections) per client */

struct fl_agent_client {
    char *url, *token, *name, *cacert;
    /* idle handles, kept between requests so connections stay open
     * (keep-alive); a call takes one (or makes one) and gives it back, so
     * calls from several threads never share a handle */
    pthread_mutex_t lock;
    CURL *pool[POOL];
    size_t idle;
    char session[17];
    int64_t lease_ms, timeout_ms;
};

struct buf {
    char *p;
    size_t len;
};

/* The reply's X-Job-State and X-Job-Eof headers (job output). */
struct job_hdrs {
    char state[16];
    bool eof;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    char *np;

    if (b->len + n > MAX_REPLY || !(np = realloc(b->p, b->len + n + 1)))
        return 0;
    b->p = np;
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* "http(s)://HOST:PORT" from what the user gave (HOST[:PORT] means http://
 * and port 7421; a path is dropped); the host part in host. NULL if none. */
static char *normalize_url(const char *in, char *host, size_t hlen)
{
    const char *sep = strstr(in, "://"), *auth = sep ? sep + 3 : in, *port;
    size_t n = strcspn(auth, "/"), hn;
    char *out = NULL;

    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', n);
        if (!close)
            return NULL;
        port = close + 1 < auth + n && close[1] == ':' ? close + 1 : NULL;
        hn = (size_t)(close - auth - 1);
        snprintf(host, hlen, "%.*s", (int)hn, auth + 1);
    } else {
        port = memchr(auth, ':', n);
        hn = port ? (size_t)(port - auth) : n;
        snprintf(host, hlen, "%.*s", (int)hn, auth);
    }
    if (asprintf(&out, "%.*s%.*s%s", sep ? (int)(auth - in) : 7, sep ? in : "http://", (int)n, auth,
                 port ? "" : ":7421") < 0)
        return NULL;
    return out;
}

int fl_agent_client_new(const struct fl_agent_client_opts *o, struct fl_agent_client **out,
                        struct fl_err *e)
{
    struct fl_agent_client *c = calloc(1, sizeof *c);
    unsigned char rnd[8];
    char host[256];

    *out = NULL;
    if (!c)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    if (!o->url || !*o->url || !(c->url = normalize_url(o->url, host, sizeof host)) ||
        (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)) || !host[0]) {
        fl_agent_client_free(c);
        return fl_err_set(e, FL_EUSAGE,
                          "agent address '%s': expected http(s)://HOST[:PORT] or HOST[:PORT] "
                          "(port %d by default)",
                          o->url ? o->url : "", FL_AGENT_DEFAULT_PORT);
    }
    c->token = o->token && *o->token ? strdup(o->token) : NULL;
    c->name = strdup(o->name && *o->name ? o->name : host);
    c->cacert = o->cacert && *o->cacert ? strdup(o->cacert) : NULL;
    c->lease_ms = o->lease_ms > 0 ? o->lease_ms : FL_AGENT_DEFAULT_LEASE_MS;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
        uint64_t x = (uint64_t)fl_wall_ms() ^ ((uint64_t)fl_now_ms() << 20);
        memcpy(rnd, &x, sizeof rnd);
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(c->session + 2 * i, 3, "%02x", rnd[i]);
    *out = c;
    return 0;
}

void fl_agent_client_free(struct fl_agent_client *c)
{
    if (!c)
        return;
    free(c->url);
    free(c->token);
    free(c->name);
    free(c->cacert);
    for (size_t i = 0; i < c->idle; i++)
        curl_easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *fl_agent_client_name(const struct fl_agent_client *c)
{
    return c->name;
}

const char *fl_agent_client_url(const struct fl_agent_client *c)
{
    return c->url;
}

const char *fl_agent_client_session(const struct fl_agent_client *c)
{
    return c->session;
}

static int api_error(struct fl_agent_client *c, long status, json_t *reply, struct fl_err *e)
{
    json_t *err = json_object_get(reply, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));
    int code = (int)json_integer_value(json_object_get(err, "exit"));

    if (code <= 0 || code > FL_ESTATE)
        code = status == 401 || status == 403  ? FL_EPERM
               : status == 404                 ? FL_ENOTARGET
               : status == 409                 ? FL_EREFUSED
               : status >= 400 && status < 500 ? FL_EUSAGE
                                               : FL_EFAIL;
    if (status == 401)
        return fl_err_set(e, FL_EPERM, "agent %s (%s) refused the token (HTTP 401): %s", c->name,
                          c->url, msg ? msg : "unauthenticated");
    return fl_err_set(e, code, "agent %s: %s (HTTP %ld)", c->name, msg ? msg : "unexpected reply",
                      status);
}

/* An idle handle from the pool, or a new one; NULL on ENOMEM. */
static CURL *handle_take(struct fl_agent_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->idle)
        h = c->pool[--c->idle];
    pthread_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

/* Back to the pool (a handle whose request failed is dropped: a fresh
 * connection next time). */
static void handle_give(struct fl_agent_client *c, CURL *h, bool good)
{
    pthread_mutex_lock(&c->lock);
    if (good && c->idle < POOL) {
        c->pool[c->idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct job_hdrs *jh = ud;
    size_t n = size * nmemb, v;

    if (n > 12 && !strncasecmp(ptr, "X-Job-State:", 12)) {
        v = 12 + strspn(ptr + 12, " \t");
        snprintf(jh->state, sizeof jh->state, "%.*s", (int)strcspn(ptr + v, "\r\n"), ptr + v);
    } else if (n > 10 && !strncasecmp(ptr, "X-Job-Eof:", 10)) {
        v = 10 + strspn(ptr + 10, " \t");
        jh->eof = ptr[v] == '1';
    }
    return n;
}

/* One request; the raw reply body in *b and the HTTP status in *status (jh:
 * the job headers, may be NULL). Fails only when the agent was not reached. */
static int perform(struct fl_agent_client *c, const char *method, const char *path,
                   const json_t *body, struct buf *b, long *status, struct job_hdrs *jh,
                   struct fl_err *e)
{
    struct curl_slist *h = NULL;
    char *url = NULL, *data = NULL, auth[600];
    CURLcode cc;
    CURL *curl = handle_take(c);

    if (asprintf(&url, "%s%s", c->url, path) < 0 || !curl) {
        free(url);
        if (curl)
            curl_easy_cleanup(curl);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L); /* no body left from the last request */
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    if (c->cacert)
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, jh ? on_header : NULL);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, jh);
    if (body) {
        data = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data ? data : "{}");
    }
    cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, NULL);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, NULL);
    handle_give(c, curl, cc == CURLE_OK);
    curl_slist_free_all(h);
    free(data);
    free(url);
    if (cc != CURLE_OK) {
        free(b->p);
        b->p = NULL;
        return fl_err_set(e, FL_EFAIL,
                          "agent %s (%s) cannot be reached: %s; is `faultline agent` running "
                          "there, and the address and port right?",
                          c->name, c->url, curl_easy_strerror(cc));
    }
    return 0;
}

/* One JSON request; on 2xx the parsed reply in *out (may be NULL), else the
 * agent's error reply as an fl_err: its "exit" code (the code a local
 * command would have exited with) and message, prefixed with the host. */
static int request(struct fl_agent_client *c, const char *method, const char *path,
                   const json_t *body, json_t **out, struct fl_err *e)
{
    struct buf b = {0};
    long status = 0;
    json_t *reply;
    int r;

    if (out)
        *out = NULL;
    if ((r = perform(c, method, path, body, &b, &status, NULL, e)))
        return r;
    reply = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    if (status < 200 || status > 299) {
        r = api_error(c, status, reply, e);
        json_decref(reply);
        return r;
    }
    if (!json_is_object(reply)) {
        json_decref(reply);
        return fl_err_set(e, FL_EFAIL, "agent %s (%s): the reply is not JSON (is it an agent?)",
                          c->name, c->url);
    }
    if (out)
        *out = reply;
    else
        json_decref(reply);
    return 0;
}

int fl_agent_client_health(struct fl_agent_client *c, json_t **out, struct fl_err *e)
{
    return request(c, "GET", "/api/v1/health", NULL, out, e);
}

/* POST /api/v1/faults; prepare: only journal and guard it. */
static int post_fault(struct fl_agent_client *c, const char *kind, const json_t *params,
                      int64_t duration_ms, uint64_t seed, bool prepare, char id[FL_FAULT_ID_LEN],
                      json_t **record, struct fl_err *e)
{
    json_t *body = json_pack("{s:s,s:I,s:I,s:s,s:b}", "kind", kind, "duration_ms",
                             (json_int_t)duration_ms, "lease_ms", (json_int_t)c->lease_ms,
                             "session", c->session, "prepare", prepare),
           *rec = NULL;
    int r;

    if (!body)
        return fl_err_set(e, FL_EFAIL, "cannot build the request for agent %s", c->name);
    if (params)
        json_object_set(body, "params", (json_t *)params);
    if (seed)
        json_object_set_new(body, "seed", json_integer((json_int_t)(seed & ((1ULL << 53) - 1))));
    r = request(c, "POST", "/api/v1/faults", body, &rec, e);
    json_decref(body);
    if (r)
        return r;
    snprintf(id, FL_FAULT_ID_LEN, "%s", json_string_value(json_object_get(rec, "id")) ?: "");
    if (record)
        *record = rec;
    else
        json_decref(rec);
    return 0;
}

int fl_agent_client_apply(struct fl_agent_client *c, const char *kind, const json_t *params,
                          int64_t duration_ms, uint64_t seed, char id[FL_FAULT_ID_LEN],
                          json_t **record, struct fl_err *e)
{
    return post_fault(c, kind, params, duration_ms, seed, false, id, record, e);
}

int fl_agent_client_prepare(struct fl_agent_client *c, const char *kind, const json_t *params,
                            int64_t duration_ms, uint64_t seed, char id[FL_FAULT_ID_LEN],
                            struct fl_err *e)
{
    return post_fault(c, kind, params, duration_ms, seed, true, id, NULL, e);
}

int fl_agent_client_commit(struct fl_agent_client *c, const char *id, json_t **record,
                           struct fl_err *e)
{
    char path[128];
    json_t *body;
    int r;

    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return fl_err_set(e, FL_EUSAGE, "'%s' is not a fault id (8 hex digits)", id);
    body = json_object();
    snprintf(path, sizeof path, "/api/v1/faults/%.16s/commit", id);
    r = request(c, "POST", path, body, record, e);
    json_decref(body);
    return r;
}

int fl_agent_client_list(struct fl_agent_client *c, json_t **faults, struct fl_err *e)
{
    json_t *reply, *f;
    size_t i;
    int r = request(c, "GET", "/api/v1/faults", NULL, &reply, e);

    if (r)
        return r;
    *faults = json_incref(json_object_get(reply, "faults"));
    json_decref(reply);
    if (!json_is_array(*faults)) {
        json_decref(*faults);
        *faults = NULL;
        return fl_err_set(e, FL_EFAIL, "agent %s: the fault list is missing from its reply",
                          c->name);
    }
    json_array_foreach (*faults, i, f)
        json_object_set_new(f, "host", json_string(c->name));
    return 0;
}

int fl_agent_client_revert(struct fl_agent_client *c, const char *id, bool *found, struct fl_err *e)
{
    char path[128];
    json_t *reply;
    int r;

    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return fl_err_set(e, FL_EUSAGE, "'%s' is not a fault id (8 hex digits)", id);
    snprintf(path, sizeof path, "/api/v1/faults/%.16s", id);
    if ((r = request(c, "DELETE", path, NULL, &reply, e)))
        return r;
    *found = json_is_true(json_object_get(reply, "reverted"));
    json_decref(reply);
    return 0;
}

int fl_agent_client_recover_all(struct fl_agent_client *c, json_t **report, struct fl_err *e)
{
    json_t *body = json_object();
    int r = request(c, "POST", "/api/v1/recover", body, report, e);

    json_decref(body);
    return r;
}

int fl_agent_client_renew(struct fl_agent_client *c, json_t **live, struct fl_err *e)
{
    json_t *body = json_pack("{s:I}", "lease_ms", (json_int_t)c->lease_ms), *reply = NULL;
    char path[128];
    int r;

    snprintf(path, sizeof path, "/api/v1/sessions/%s/renew", c->session);
    r = request(c, "POST", path, body, &reply, e);
    json_decref(body);
    if (r == 0 && live)
        *live = json_incref(json_object_get(reply, "live"));
    json_decref(reply);
    return r;
}

/* A job id as the agent makes them ("j" + 16 hex); else FL_EUSAGE. */
static int job_id_ok(struct fl_agent_client *c, const char *id, struct fl_err *e)
{
    if (id && id[0] == 'j' && strlen(id) == FL_AGENT_JOB_ID_LEN - 3 &&
        strspn(id + 1, "0123456789abcdef") == FL_AGENT_JOB_ID_LEN - 4)
        return 0;
    return fl_err_set(e, FL_EUSAGE, "agent %s: '%s' is not a job id ('j' and 16 hex digits)",
                      c->name, id ? id : "");
}

int fl_agent_client_job_start(struct fl_agent_client *c, const json_t *req,
                              char id[FL_AGENT_JOB_ID_LEN], struct fl_err *e)
{
    json_t *body = json_is_object(req) ? json_deep_copy(req) : NULL, *reply = NULL;
    const char *got;
    int r;

    id[0] = '\0';
    if (!body)
        return fl_err_set(e, FL_EUSAGE, "agent %s: a job request must be a JSON object", c->name);
    json_object_set_new(body, "session", json_string(c->session));
    json_object_set_new(body, "lease_ms", json_integer((json_int_t)c->lease_ms));
    r = request(c, "POST", "/api/v1/jobs", body, &reply, e);
    json_decref(body);
    if (r)
        return r;
    got = json_string_value(json_object_get(reply, "id"));
    if (!got || job_id_ok(c, got, e)) {
        json_decref(reply);
        return fl_err_set(e, FL_EFAIL, "agent %s: its reply to a new job has no job id", c->name);
    }
    snprintf(id, FL_AGENT_JOB_ID_LEN, "%s", got);
    json_decref(reply);
    return 0;
}

int fl_agent_client_job_status(struct fl_agent_client *c, const char *id, json_t **out,
                               struct fl_err *e)
{
    char path[64];

    *out = NULL;
    if (job_id_ok(c, id, e))
        return -FL_EUSAGE;
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    return request(c, "GET", path, NULL, out, e);
}

int fl_agent_client_job_output(struct fl_agent_client *c, const char *id, uint64_t offset,
                               size_t max, char **buf, size_t *len, bool *eof, struct fl_err *e)
{
    struct job_hdrs jh = {.eof = false};
    struct buf b = {0};
    long status = 0;
    char path[128], *np;
    int r;

    *eof = false;
    if (job_id_ok(c, id, e))
        return -FL_EUSAGE;
    if (!max || max > FL_AGENT_JOB_OUTPUT_MAX)
        max = FL_AGENT_JOB_OUTPUT_MAX;
    snprintf(path, sizeof path, "/api/v1/jobs/%s/output?offset=%llu&max=%zu", id,
             (unsigned long long)offset, max);
    if ((r = perform(c, "GET", path, NULL, &b, &status, &jh, e)))
        return r;
    if (status < 200 || status > 299) {
        json_t *reply = b.p ? json_loads(b.p, 0, NULL) : NULL;
        r = api_error(c, status, reply, e);
        json_decref(reply);
        free(b.p);
        return r;
    }
    if (!jh.state[0]) {
        free(b.p);
        return fl_err_set(e, FL_EFAIL,
                          "agent %s (%s): the job output reply has no X-Job-State "
                          "(is it a faultline agent of this version?)",
                          c->name, c->url);
    }
    if (b.len > max || !(np = realloc(*buf, *len + b.len + 1))) {
        free(b.p);
        return fl_err_set(e, FL_EFAIL, "agent %s: job %s: %s", c->name, id,
                          b.len > max ? "the agent sent more output than asked for"
                                      : "out of memory");
    }
    *buf = np;
    if (b.len)
        memcpy(*buf + *len, b.p, b.len);
    *len += b.len;
    (*buf)[*len] = '\0';
    *eof = jh.eof;
    free(b.p);
    return 0;
}

int fl_agent_client_job_delete(struct fl_agent_client *c, const char *id, json_t **final,
                               struct fl_err *e)
{
    char path[64];
    json_t *reply = NULL;
    int r;

    if (final)
        *final = NULL;
    if (job_id_ok(c, id, e))
        return -FL_EUSAGE;
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    if ((r = request(c, "DELETE", path, NULL, &reply, e)))
        return r;
    if (final)
        *final = reply;
    else
        json_decref(reply);
    return 0;
}

struct fl_agent_renewer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    size_t n;
    struct fl_agent_client **clients;
};

static void *renewer_main(void *arg)
{
    struct fl_agent_renewer *r = arg;
    int64_t *next = calloc(r->n, sizeof *next);

    pthread_mutex_lock(&r->lock);
    while (!r->stop && next) {
        int64_t now = fl_now_ms(), wake = now + 1000;
        for (size_t i = 0; i < r->n; i++) {
            struct fl_agent_client *c = r->clients[i];
            struct fl_err e = {0};
            if (now >= next[i]) {
                pthread_mutex_unlock(&r->lock);
                if (fl_agent_client_renew(c, NULL, &e))
                    fl_warn("lease renewal failed: %s (the agent reverts this session's faults "
                            "if it hears nothing for %lld ms)",
                            e.msg, (long long)c->lease_ms);
                pthread_mutex_lock(&r->lock);
                next[i] = fl_now_ms() + c->lease_ms / 3;
            }
            wake = next[i] < wake ? next[i] : wake;
        }
        if (!r->stop && wake > fl_now_ms()) {
            struct timespec ts;
            int64_t ms = wake - fl_now_ms();
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += ms / 1000;
            ts.tv_nsec += (ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        }
    }
    pthread_mutex_unlock(&r->lock);
    free(next);
    return NULL;
}

int fl_agent_renewer_start(struct fl_agent_client *const *clients, size_t n,
                           struct fl_agent_renewer **out, struct fl_err *e)
{
    struct fl_agent_renewer *r = calloc(1, sizeof *r);
    pthread_condattr_t ca;

    *out = NULL;
    if (!r || !(r->clients = calloc(n ? n : 1, sizeof(struct fl_agent_client *)))) {
        free(r);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    memcpy(r->clients, clients, n * sizeof(struct fl_agent_client *));
    r->n = n;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->thread, NULL, renewer_main, r)) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r->clients);
        free(r);
        return fl_err_set(e, FL_EFAIL, "cannot start the lease renewer thread");
    }
    *out = r;
    return 0;
}

void fl_agent_renewer_stop(struct fl_agent_renewer *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->clients);
    free(r);
}
