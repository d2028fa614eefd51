/* The Toxiproxy-compatible HTTP API: routing and handlers (run on the loop
 * thread), the libmicrohttpd glue that hands requests over from the HTTP
 * thread, persistence, and the server's life cycle. */
#include <errno.h>
#include <libgen.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fl_config.h"
#include "proxy/px.h"
#include "util/fs.h"
#include "util/log.h"

#define MAX_BODY (1 << 20)

struct fl_px_call {
    const char *method, *url, *body;
    size_t len;
    int status;
    char *out;
    const char *ctype;
    bool done;
    struct fl_px_call *next;
};

struct reply {
    int status;
    char *out;
    const char *ctype;
};

static int reply_json(struct reply *r, int status, json_t *j)
{
    r->status = status;
    r->ctype = "application/json";
    r->out = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return status;
}

static int reply_err(struct reply *r, int status, const char *msg)
{
    return reply_json(r, status, json_pack("{s:s, s:i}", "error", msg, "status", status));
}

static int reply_empty(struct reply *r, int status)
{
    r->status = status;
    r->out = NULL;
    r->ctype = "text/plain";
    return status;
}

static struct fl_px_proxy *proxy_new(struct fl_px_server *s, const struct fl_px_spec *sp)
{
    struct fl_px_proxy *p = calloc(1, sizeof *p);
    struct fl_px_proxy **v = realloc(s->px, (s->npx + 1) * sizeof *v);

    if (v)
        s->px = v;
    if (!p || !v)
        goto fail;
    p->srv = s;
    p->lfd = -1;
    fl_px_timer_init(&p->retry, NULL, p);
    p->enabled = sp->enabled;
    p->name = strdup(sp->name);
    p->listen = strdup(sp->listen);
    p->upstream = strdup(sp->upstream);
    if (!p->name || !p->listen || !p->upstream)
        goto fail;
    s->px[s->npx++] = p;
    return p;
fail:
    fl_px_proxy_free(p);
    return NULL;
}

/* Remove p from the server; its memory is freed after the current batch. */
static void proxy_delete(struct fl_px_server *s, struct fl_px_proxy *p)
{
    fl_px_proxy_stop(p);
    for (size_t i = 0; i < s->npx; i++)
        if (s->px[i] == p) {
            memmove(s->px + i, s->px + i + 1, (s->npx - i - 1) * sizeof *s->px);
            s->npx--;
            break;
        }
    p->dnext = s->pgrave;
    s->pgrave = p;
}

/* Bring p's listener in line with p->enabled; on failure p ends disabled. */
static int proxy_apply(struct fl_px_proxy *p, char *msg, size_t msglen)
{
    int st;

    if (!p->enabled) {
        fl_px_proxy_stop(p);
        return 0;
    }
    st = fl_px_proxy_start(p, msg, msglen);
    if (st)
        p->enabled = false;
    return st;
}

static int toxic_add(struct fl_px_proxy *p, struct fl_px_toxic *t)
{
    struct fl_px_toxic *c = malloc(sizeof *c), **v;

    if (!c)
        return -1;
    *c = *t;
    v = realloc(p->toxics, (p->ntoxics + 1) * sizeof *v);
    if (!v) {
        free(c);
        return -1;
    }
    p->toxics = v;
    p->toxics[p->ntoxics++] = c;
    t->name = NULL; /* moved */
    fl_px_links_toxic_added(p, c);
    return 0;
}

static void toxic_remove(struct fl_px_proxy *p, size_t idx)
{
    struct fl_px_toxic *t = p->toxics[idx];

    fl_px_links_toxic_removed(p, t);
    memmove(p->toxics + idx, p->toxics + idx + 1, (p->ntoxics - idx - 1) * sizeof *p->toxics);
    p->ntoxics--;
    fl_px_toxic_free(t);
    fl_px_links_pump(p);
}

static bool is(const char *a, const char *b)
{
    return !strcmp(a, b);
}

static int parse_body(struct reply *r, const char *body, size_t len, json_t **out)
{
    json_error_t je;

    *out = json_loadb(body ? body : "", len, JSON_DECODE_ANY, &je);
    if (!*out) {
        char msg[300];
        snprintf(msg, sizeof msg, "bad request body: %s", je.text);
        return reply_err(r, 400, msg);
    }
    return 0;
}

/* Create or replace proxies from an array of specs (POST /populate, --config):
 * a proxy whose listen and upstream are unchanged is kept with its toxics. */
static int populate(struct fl_px_server *s, struct reply *r, const json_t *arr)
{
    struct fl_px_spec *specs;
    json_t *out;
    size_t n;
    char msg[512] = "";

    if (json_is_object(arr) && json_is_array(json_object_get(arr, "proxies")))
        arr = json_object_get(arr, "proxies");
    if (!json_is_array(arr))
        return reply_err(r, 400, "bad request body: expected a JSON array of proxies");
    n = json_array_size(arr);
    specs = calloc(n ? n : 1, sizeof *specs);
    if (!specs)
        return reply_err(r, 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int st = fl_px_spec_parse(json_array_get(arr, i), NULL, &specs[i], msg, sizeof msg);
        if (st) {
            free(specs);
            return reply_err(r, st, msg);
        }
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        struct fl_px_proxy *p = fl_px_find(s, specs[i].name);
        int st;

        if (p && (!is(p->upstream, specs[i].upstream) ||
                  (!is(p->listen, specs[i].listen) && !is(specs[i].listen, "127.0.0.1:0")))) {
            proxy_delete(s, p);
            p = NULL;
        }
        if (!p && !(p = proxy_new(s, &specs[i]))) {
            json_decref(out);
            free(specs);
            return reply_err(r, 500, "out of memory");
        }
        p->enabled = specs[i].enabled;
        if ((st = proxy_apply(p, msg, sizeof msg))) {
            json_decref(out);
            free(specs);
            return reply_err(r, st, msg);
        }
        json_array_append_new(out, fl_px_proxy_json(p));
    }
    free(specs);
    return reply_json(r, 201, json_pack("{s:o}", "proxies", out));
}

static void label(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"')
            dst[o++] = '\\', dst[o++] = *s;
        else if (*s == '\n')
            dst[o++] = '\\', dst[o++] = 'n';
        else
            dst[o++] = *s;
    }
    dst[o] = '\0';
}

static int metrics(struct fl_px_server *s, struct reply *r)
{
    char *buf = NULL, name[600];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return reply_err(r, 500, "out of memory");
    fprintf(f, "# HELP faultline_proxy_bytes_total Bytes forwarded by a proxy, by direction.\n"
               "# TYPE faultline_proxy_bytes_total counter\n");
    for (size_t i = 0; i < s->npx; i++) {
        label(name, sizeof name, s->px[i]->name);
        fprintf(f, "faultline_proxy_bytes_total{proxy=\"%s\",direction=\"upstream\"} %llu\n", name,
                (unsigned long long)s->px[i]->bytes[0]);
        fprintf(f, "faultline_proxy_bytes_total{proxy=\"%s\",direction=\"downstream\"} %llu\n",
                name, (unsigned long long)s->px[i]->bytes[1]);
    }
    fprintf(f, "# HELP faultline_proxy_connections_total Connections accepted by a proxy.\n"
               "# TYPE faultline_proxy_connections_total counter\n");
    for (size_t i = 0; i < s->npx; i++) {
        label(name, sizeof name, s->px[i]->name);
        fprintf(f, "faultline_proxy_connections_total{proxy=\"%s\"} %llu\n", name,
                (unsigned long long)s->px[i]->conns_total);
    }
    fprintf(f, "# HELP faultline_proxy_connections Connections open through a proxy.\n"
               "# TYPE faultline_proxy_connections gauge\n");
    for (size_t i = 0; i < s->npx; i++) {
        label(name, sizeof name, s->px[i]->name);
        fprintf(f, "faultline_proxy_connections{proxy=\"%s\"} %llu\n", name,
                (unsigned long long)s->px[i]->conns_active);
    }
    fclose(f);
    r->status = 200;
    r->out = buf;
    r->ctype = "text/plain; version=0.0.4";
    return 200;
}

/* /proxies/{name}[/toxics[/{toxic}]] */
static int route_proxy(struct fl_px_server *s, struct reply *r, const char *m, char *rest,
                       const char *body, size_t len)
{
    char *pname = rest, *sub = strchr(rest, '/'), *tname = NULL, msg[512] = "";
    struct fl_px_proxy *p;
    struct fl_px_toxic *t, nt;
    json_t *in = NULL;
    size_t idx;
    int st;

    if (sub) {
        *sub++ = '\0';
        if (strncmp(sub, "toxics", 6) || (sub[6] && sub[6] != '/'))
            return reply_err(r, 404, "not found");
        if (sub[6] == '/' && sub[7])
            tname = sub + 7;
        if (tname && strchr(tname, '/'))
            return reply_err(r, 404, "not found");
    }
    if (!(p = fl_px_find(s, pname)))
        return reply_err(r, 404, "proxy not found");
    if (!sub) {
        if (is(m, "GET"))
            return reply_json(r, 200, fl_px_proxy_json(p));
        if (is(m, "DELETE")) {
            proxy_delete(s, p);
            return reply_empty(r, 204);
        }
        if (!is(m, "POST") && !is(m, "PATCH"))
            return reply_err(r, 405, "method not allowed");
        if (parse_body(r, body, len, &in))
            return r->status;
        struct fl_px_spec old, sp;
        snprintf(old.name, sizeof old.name, "%s", p->name);
        snprintf(old.listen, sizeof old.listen, "%s", p->listen);
        snprintf(old.upstream, sizeof old.upstream, "%s", p->upstream);
        old.enabled = p->enabled;
        st = fl_px_spec_parse(in, &old, &sp, msg, sizeof msg);
        json_decref(in);
        if (st)
            return reply_err(r, st, msg);
        if (!is(sp.listen, old.listen) || !is(sp.upstream, old.upstream)) {
            char *l = strdup(sp.listen), *u = strdup(sp.upstream);
            if (!l || !u) {
                free(l);
                free(u);
                return reply_err(r, 500, "out of memory");
            }
            fl_px_proxy_stop(p);
            free(p->listen);
            free(p->upstream);
            p->listen = l;
            p->upstream = u;
        }
        p->enabled = sp.enabled;
        if ((st = proxy_apply(p, msg, sizeof msg)))
            return reply_err(r, st, msg);
        return reply_json(r, 200, fl_px_proxy_json(p));
    }
    if (!tname) {
        if (is(m, "GET")) {
            json_t *a = json_array();
            for (size_t i = 0; i < p->ntoxics; i++)
                json_array_append_new(a, fl_px_toxic_json(p->toxics[i]));
            return reply_json(r, 200, a);
        }
        if (!is(m, "POST"))
            return reply_err(r, 405, "method not allowed");
        if (parse_body(r, body, len, &in))
            return r->status;
        st = fl_px_toxic_parse(in, NULL, &nt, msg, sizeof msg);
        json_decref(in);
        if (st) {
            free(nt.name);
            return reply_err(r, st, msg);
        }
        if (fl_px_toxic_find(p, nt.name, NULL)) {
            free(nt.name);
            return reply_err(r, 409, "toxic already exists");
        }
        if (toxic_add(p, &nt)) {
            free(nt.name);
            return reply_err(r, 500, "out of memory");
        }
        return reply_json(r, 200, fl_px_toxic_json(p->toxics[p->ntoxics - 1]));
    }
    if (!(t = fl_px_toxic_find(p, tname, &idx)))
        return reply_err(r, 404, "toxic not found");
    if (is(m, "GET"))
        return reply_json(r, 200, fl_px_toxic_json(t));
    if (is(m, "DELETE")) {
        toxic_remove(p, idx);
        return reply_empty(r, 204);
    }
    if (!is(m, "POST") && !is(m, "PATCH"))
        return reply_err(r, 405, "method not allowed");
    if (parse_body(r, body, len, &in))
        return r->status;
    st = fl_px_toxic_parse(in, t, &nt, msg, sizeof msg);
    json_decref(in);
    if (st) {
        free(nt.name);
        return reply_err(r, st, msg);
    }
    /* Replace in place: live links drop the old instance and draw anew. */
    fl_px_links_toxic_removed(p, t);
    free(t->name);
    *t = nt;
    fl_px_links_toxic_added(p, t);
    return reply_json(r, 200, fl_px_toxic_json(t));
}

static void persist(struct fl_px_server *s)
{
    struct fl_err e = {0};
    json_t *j;

    if (!s->state_path)
        return;
    j = fl_px_state_json(s);
    if (fl_json_write_atomic(s->state_path, j, &e))
        fl_error("proxy: cannot save state: %s", e.msg);
    json_decref(j);
}

static int route(struct fl_px_server *s, struct reply *r, const char *m, const char *path,
                 const char *body, size_t len)
{
    char buf[1024];
    json_t *in = NULL;
    int st;

    snprintf(buf, sizeof buf, "%s", path);
    for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
        buf[n - 1] = '\0';
    if (is(buf, "/proxies")) {
        if (is(m, "GET")) {
            json_t *o = json_object();
            for (size_t i = 0; i < s->npx; i++)
                json_object_set_new(o, s->px[i]->name, fl_px_proxy_json(s->px[i]));
            return reply_json(r, 200, o);
        }
        if (!is(m, "POST"))
            return reply_err(r, 405, "method not allowed");
        struct fl_px_spec sp;
        char msg[512] = "";
        struct fl_px_proxy *p;
        if (parse_body(r, body, len, &in))
            return r->status;
        st = fl_px_spec_parse(in, NULL, &sp, msg, sizeof msg);
        json_decref(in);
        if (st)
            return reply_err(r, st, msg);
        if (fl_px_find(s, sp.name))
            return reply_err(r, 409, "proxy already exists");
        if (!(p = proxy_new(s, &sp)))
            return reply_err(r, 500, "out of memory");
        if ((st = proxy_apply(p, msg, sizeof msg))) {
            proxy_delete(s, p);
            return reply_err(r, st, msg);
        }
        return reply_json(r, 201, fl_px_proxy_json(p));
    }
    if (!strncmp(buf, "/proxies/", 9) && buf[9])
        return route_proxy(s, r, m, buf + 9, body, len);
    if (is(buf, "/populate")) {
        if (!is(m, "POST"))
            return reply_err(r, 405, "method not allowed");
        if (parse_body(r, body, len, &in))
            return r->status;
        st = populate(s, r, in);
        json_decref(in);
        return st;
    }
    if (is(buf, "/reset")) {
        if (!is(m, "POST"))
            return reply_err(r, 405, "method not allowed");
        for (size_t i = 0; i < s->npx; i++) {
            struct fl_px_proxy *p = s->px[i];
            char msg[512];
            while (p->ntoxics)
                toxic_remove(p, p->ntoxics - 1);
            p->enabled = true;
            if ((st = proxy_apply(p, msg, sizeof msg)))
                return reply_err(r, st, msg);
        }
        return reply_empty(r, 204);
    }
    if (is(buf, "/version")) {
        if (!is(m, "GET"))
            return reply_err(r, 405, "method not allowed");
        return reply_json(r, 200, json_pack("{s:s}", "version", FL_VERSION));
    }
    if (is(buf, "/metrics")) {
        if (!is(m, "GET"))
            return reply_err(r, 405, "method not allowed");
        return metrics(s, r);
    }
    return reply_err(r, 404, "not found");
}

int fl_px_api_handle(struct fl_px_server *s, const char *method, const char *path, const char *body,
                     size_t len, char **out, const char **ctype)
{
    struct reply r = {0};
    int st = route(s, &r, method, path, body, len);

    if (st >= 200 && st < 300 && !is(method, "GET"))
        persist(s);
    if (s->dry)
        fl_px_reap(s);
    *out = r.out;
    *ctype = r.ctype ? r.ctype : "application/json";
    return st;
}

/* ---- the HTTP thread ---- */

void fl_px_calls_run(struct fl_px_server *s)
{
    struct fl_px_call *c;

    pthread_mutex_lock(&s->mu);
    c = s->calls;
    s->calls = NULL;
    pthread_mutex_unlock(&s->mu);
    for (struct fl_px_call *x = c; x; x = x->next)
        x->status = fl_px_api_handle(s, x->method, x->url, x->body, x->len, &x->out, &x->ctype);
    pthread_mutex_lock(&s->mu);
    for (; c; c = c->next)
        c->done = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

struct upload {
    char *buf;
    size_t len;
    bool too_big;
};

static enum MHD_Result send_reply(struct MHD_Connection *c, int status, char *out,
                                  const char *ctype)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(out ? strlen(out) : 0, out ? out : (void *)"",
                                           out ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(out);
        return MHD_NO;
    }
    if (status != 204)
        MHD_add_response_header(resp, "Content-Type", ctype);
    ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct fl_px_server *s = cls;
    struct upload *u = *con_cls;
    struct fl_px_call call = {0};
    const char *ua;

    if (!u) {
        if (!(u = calloc(1, sizeof *u)))
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*upload_size) {
        if (u->len + *upload_size > MAX_BODY) {
            u->too_big = true;
        } else {
            char *b = realloc(u->buf, u->len + *upload_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + u->len, upload, *upload_size);
            u->buf = b;
            u->len += *upload_size;
            u->buf[u->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (u->too_big)
        return send_reply(conn, 413,
                          strdup("{\"error\":\"request body too large\",\"status\":413}"),
                          "application/json");
    /* Like Toxiproxy, refuse browsers so a web page cannot drive the API. */
    ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    if (ua && !strncmp(ua, "Mozilla/", 8))
        return send_reply(conn, 403, strdup("User agent not allowed\n"), "text/plain");
    call.method = method;
    call.url = url;
    call.body = u->buf;
    call.len = u->len;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return send_reply(conn, 503, strdup("{\"error\":\"shutting down\",\"status\":503}"),
                          "application/json");
    }
    call.next = s->calls;
    s->calls = &call;
    {
        uint64_t one = 1;
        if (write(s->wakefd, &one, sizeof one) < 0)
            fl_debug("proxy: eventfd write: %s", strerror(errno));
    }
    while (!call.done)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return send_reply(conn, call.status, call.out, call.ctype);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct upload *u = *con_cls;
    if (u) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

/* ---- life cycle ---- */

struct fl_px_server *fl_px_server_new(const struct fl_px_options *o, struct fl_err *e)
{
    struct fl_px_server *s = calloc(1, sizeof *s);
    struct epoll_event ev;

    if (!s) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        return NULL;
    }
    s->epfd = s->wakefd = -1;
    fl_px_heap_init(&s->heap);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->dry = o->dry;
    if (o->state_path && !(s->state_path = strdup(o->state_path)))
        goto oom;
    if (s->dry)
        return s;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epfd < 0 || s->wakefd < 0) {
        fl_err_set(e, FL_EFAIL, "epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    s->wake_ev.kind = FL_PX_WAKE;
    ev.events = EPOLLIN;
    ev.data.ptr = &s->wake_ev;
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev);
    if (s->state_path) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", s->state_path);
        if (fl_mkdir_p(dirname(dir), 0755, e))
            goto fail;
    }
    if (o->api_listen) {
        struct sockaddr_storage ss;
        socklen_t len;
        const union MHD_DaemonInfo *info;
        const char *colon = strrchr(o->api_listen, ':');

        if (fl_px_addr_parse(o->api_listen, &ss, &len)) {
            fl_err_set(e, FL_EUSAGE, "--listen '%s': expected HOST:PORT (e.g. 127.0.0.1:8474)",
                       o->api_listen);
            goto fail;
        }
        s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                      (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                  0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
        if (!s->mhd) {
            fl_err_set(e, FL_EFAIL, "cannot serve the API on %s (address in use?)", o->api_listen);
            goto fail;
        }
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(s->api_addr, sizeof s->api_addr, "%.*s:%u", (int)(colon - o->api_listen),
                 o->api_listen, info ? info->port : 0);
    }
    return s;
oom:
    fl_err_set(e, FL_EFAIL, "out of memory");
fail:
    fl_px_server_free(s);
    return NULL;
}

const char *fl_px_server_api_addr(const struct fl_px_server *s)
{
    return s->api_addr;
}

void fl_px_server_free(struct fl_px_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    for (struct fl_px_call *c = s->calls; c; c = c->next) {
        c->status = 503;
        c->out = strdup("{\"error\":\"shutting down\",\"status\":503}");
        c->ctype = "application/json";
        c->done = true;
    }
    s->calls = NULL;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    while (s->npx)
        proxy_delete(s, s->px[s->npx - 1]);
    fl_px_reap(s);
    free(s->px);
    fl_px_heap_fini(&s->heap);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wakefd >= 0)
        close(s->wakefd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->state_path);
    free(s);
}

/* Recreate one proxy with its toxics from the state file. */
static void load_proxy(struct fl_px_server *s, const json_t *j)
{
    struct fl_px_spec sp;
    struct fl_px_proxy *p;
    const json_t *tj;
    size_t i;
    char msg[512];

    if (fl_px_spec_parse(j, NULL, &sp, msg, sizeof msg)) {
        fl_warn("proxy: state: skipping a proxy: %s", msg);
        return;
    }
    if (fl_px_find(s, sp.name) || !(p = proxy_new(s, &sp)))
        return;
    json_array_foreach(json_object_get(j, "toxics"), i, tj)
    {
        struct fl_px_toxic t;
        if (fl_px_toxic_parse(tj, NULL, &t, msg, sizeof msg)) {
            free(t.name);
            fl_warn("proxy %s: state: skipping a toxic: %s", sp.name, msg);
        } else if (fl_px_toxic_find(p, t.name, NULL) || toxic_add(p, &t)) {
            free(t.name);
        }
    }
    if (proxy_apply(p, msg, sizeof msg))
        fl_warn("proxy %s: %s (left disabled)", sp.name, msg);
}

int fl_px_server_load(struct fl_px_server *s, const char *config, struct fl_err *e)
{
    json_t *j, *x;
    size_t i;

    if (s->state_path) {
        struct fl_err le = {0};
        j = fl_json_load(s->state_path, &le);
        if (!j && le.code != FL_ENOTARGET)
            return fl_err_set(e, FL_ESTATE, "%s (move it away to start empty)", le.msg);
        if (j && !json_is_array(j)) {
            json_decref(j);
            return fl_err_set(e, FL_ESTATE, "%s: expected a JSON array of proxies", s->state_path);
        }
        json_array_foreach(j, i, x) load_proxy(s, x);
        json_decref(j);
    }
    if (config) {
        struct reply r = {0};
        int st;
        if (!(j = fl_json_load(config, e)))
            return -e->code;
        st = populate(s, &r, j);
        json_decref(j);
        if (st != 201) {
            json_t *err = r.out ? json_loads(r.out, 0, NULL) : NULL;
            fl_err_set(e, FL_EUSAGE, "--config %s: %s", config,
                       err ? json_string_value(json_object_get(err, "error")) : "invalid");
            json_decref(err);
            free(r.out);
            return -FL_EUSAGE;
        }
        free(r.out);
    }
    persist(s);
    return 0;
}
