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
#include <sys/stat.h>
#include <unistd.h>

#include "fl_config.h"
#include "proxy/link.h"
#include "proxy/loop.h"
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
    bool changed; /* a failed request that still changed proxies (populate) */
};

/* Success bodies are compact JSON; the one real number (toxicity) is
 * written with 9 significant digits, which prints its float32 shortest form
 * (model.c). */
static int reply_json(struct reply *r, int status, json_t *j)
{
    r->status = status;
    r->ctype = "application/json";
    r->out = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    return status;
}

/* A JSON string of msg, cut before a UTF-8 sequence that snprintf left
 * incomplete (a long name in a message), so an error is never lost. */
static json_t *json_text(const char *msg)
{
    char buf[1024];
    size_t n = strlen(msg);
    json_t *j = json_string(msg);

    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, msg, n);
    for (int cut = 0; !j && cut < 4 && n; cut++) {
        buf[--n] = '\0';
        j = json_string(buf);
    }
    return j ? j : json_string("(an error message that is not UTF-8)");
}

/* Errors as Toxiproxy's apiError writes them (Go's http.Error): the JSON
 * {"error", "status"} as text/plain, ending with a newline. */
static int reply_err(struct reply *r, int status, const char *msg)
{
    json_t *j = json_pack("{s:o, s:i}", "error", json_text(msg), "status", status);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    r->status = status;
    r->ctype = "text/plain; charset=utf-8";
    r->out = NULL;
    if (txt && asprintf(&r->out, "%s\n", txt) < 0)
        r->out = NULL;
    free(txt);
    return status;
}

/* No body and no Content-Type (204, and 405 as gorilla/mux answers it). */
static int reply_empty(struct reply *r, int status)
{
    r->status = status;
    r->out = NULL;
    r->ctype = NULL;
    return status;
}

/* An unknown path, as Go's http.NotFound answers it. */
static int reply_not_found(struct reply *r)
{
    r->status = 404;
    r->out = strdup("404 page not found\n");
    r->ctype = "text/plain; charset=utf-8";
    return 404;
}

static bool is(const char *a, const char *b)
{
    return !strcmp(a, b);
}

static struct fl_px_proxy *proxy_alloc(struct fl_px_server *s, const struct fl_px_spec *sp)
{
    struct fl_px_proxy *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->srv = s;
    p->lfd = -1;
    fl_px_timer_init(&p->retry, NULL, p);
    p->enabled = sp->enabled;
    p->name = strdup(sp->name);
    p->listen = strdup(sp->listen);
    p->upstream = strdup(sp->upstream);
    if (!p->name || !p->listen || !p->upstream) {
        fl_px_proxy_free(p);
        return NULL;
    }
    return p;
}

/* A new proxy appended to the server's list (not started). */
static struct fl_px_proxy *proxy_new(struct fl_px_server *s, const struct fl_px_spec *sp)
{
    struct fl_px_proxy **v = realloc(s->px, (s->npx + 1) * sizeof *v), *p;

    if (!v)
        return NULL;
    s->px = v;
    if (!(p = proxy_alloc(s, sp)))
        return NULL;
    s->px[s->npx++] = p;
    return p;
}

/* Stop p and queue its memory for after the current batch (it may still be
 * on a ready list or in a timer). */
static void proxy_bury(struct fl_px_server *s, struct fl_px_proxy *p)
{
    fl_px_proxy_stop(p);
    p->dnext = s->pgrave;
    s->pgrave = p;
}

/* Remove p from the server. */
static void proxy_delete(struct fl_px_server *s, struct fl_px_proxy *p)
{
    for (size_t i = 0; i < s->npx; i++)
        if (s->px[i] == p) {
            memmove(s->px + i, s->px + i + 1, (s->npx - i - 1) * sizeof *s->px);
            s->npx--;
            break;
        }
    proxy_bury(s, p);
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

/* Whether a spec names another listen address or upstream than p, the way
 * Toxiproxy's Differs decides: the new listen is resolved first, so
 * "localhost:8080" is the running "127.0.0.1:8080". faultline's one
 * addition: port 0 (any port) matches the port p is bound to, so a --config
 * read again at restart keeps the proxies the state file brought back.
 * Returns 1 or 0, or 500 with msg filled when the listen address does not
 * resolve. */
static int proxy_differs(const struct fl_px_proxy *p, const struct fl_px_spec *sp, char *msg,
                         size_t msglen)
{
    char addr[300];
    const char *colon;

    if (!is(p->upstream, sp->upstream))
        return 1;
    if (p->srv->dry || is(p->listen, sp->listen))
        return !is(p->listen, sp->listen);
    if (fl_px_addr_resolve(sp->listen, addr, sizeof addr, msg, msglen))
        return 500;
    colon = strrchr(addr, ':');
    if (colon && is(colon, ":0") && !strncmp(addr, p->listen, (size_t)(colon - addr + 1)))
        return 0;
    return !is(addr, p->listen);
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

static int parse_body(struct reply *r, const char *body, size_t len, json_t **out)
{
    json_error_t je;

    *out = json_loadb(body ? body : "", len, JSON_DECODE_ANY, &je);
    if (!*out) {
        char msg[300];
        snprintf(msg, sizeof msg, "bad request body: %s (at byte %d)", je.text, je.position);
        return reply_err(r, 400, msg);
    }
    return 0;
}

/* POST /populate's answer, as Toxiproxy writes it whatever happened:
 * application/json {"error", "status"} (on failure) and "proxies", the
 * proxies created or kept so far, or null when there are none. */
static int populate_reply(struct reply *r, int status, const char *msg, json_t *proxies)
{
    json_t *j = json_object();

    if (msg) {
        json_object_set_new(j, "error", json_text(msg));
        json_object_set_new(j, "status", json_integer(status));
    }
    if (json_array_size(proxies))
        json_object_set_new(j, "proxies", proxies);
    else {
        json_decref(proxies);
        json_object_set_new(j, "proxies", json_null());
    }
    return reply_json(r, status, j);
}

/* One populate entry: keep an existing proxy with the same listen and
 * upstream as it is (enabled or not, with its toxics and links); otherwise
 * stop the existing one and put a new one in its place, started if the spec
 * is enabled. When the new one cannot start, it is dropped and the old one
 * stays, stopped (as in Toxiproxy). */
static int populate_one(struct fl_px_server *s, const struct fl_px_spec *sp,
                        struct fl_px_proxy **out, char *msg, size_t msglen)
{
    struct fl_px_proxy *old = fl_px_find(s, sp->name), *np;
    int st;

    if (old && (st = proxy_differs(old, sp, msg, msglen)) != 1) {
        *out = old;
        return st == 500 ? st : 0;
    }
    if (old) {
        fl_px_proxy_stop(old);
        old->enabled = false;
    }
    if (!(np = old ? proxy_alloc(s, sp) : proxy_new(s, sp)))
        return snprintf(msg, msglen, "out of memory"), 500;
    if ((st = proxy_apply(np, msg, msglen))) {
        if (old)
            fl_px_proxy_free(np);
        else
            proxy_delete(s, np);
        return st;
    }
    if (old) {
        for (size_t i = 0; i < s->npx; i++)
            if (s->px[i] == old)
                s->px[i] = np;
        proxy_bury(s, old);
    }
    *out = np;
    return 0;
}

/* Create or replace proxies from an array of specs (POST /populate,
 * --config), every entry checked before any is applied. */
static int populate(struct fl_px_server *s, struct reply *r, const json_t *arr)
{
    struct fl_px_spec *specs;
    json_t *out;
    size_t n;
    char msg[600] = "", m[512];

    if (json_is_null(arr)) /* Go decodes null into an empty list */
        return populate_reply(r, 201, NULL, NULL);
    if (!json_is_array(arr)) {
        snprintf(msg, sizeof msg, "bad request body: expected a JSON array of proxies, not %s",
                 json_is_object(arr) ? "an object" : "a single value");
        return populate_reply(r, 400, msg, NULL);
    }
    n = json_array_size(arr);
    if (!(specs = calloc(n ? n : 1, sizeof *specs)))
        return populate_reply(r, 500, "out of memory", NULL);
    for (size_t i = 0; i < n; i++) {
        int st = fl_px_spec_parse(json_array_get(arr, i), NULL, &specs[i], m, sizeof m);
        if (st) {
            free(specs);
            snprintf(msg, sizeof msg, "%s at proxy %zu", m, i + 1);
            return populate_reply(r, st, msg, NULL);
        }
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        struct fl_px_proxy *p;
        int st = populate_one(s, &specs[i], &p, msg, sizeof msg);
        r->changed = true; /* even a failure may have stopped the proxy it replaces */
        if (st) {
            free(specs);
            return populate_reply(r, st, msg, out);
        }
        json_array_append_new(out, fl_px_proxy_json(p));
    }
    free(specs);
    return populate_reply(r, 201, NULL, out);
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

/* ---- the routes: one handler per (path, methods), as Toxiproxy's mux ---- */

/* A matched request: the method, the path's {proxy} and {toxic}, the body. */
struct req {
    const char *m, *body;
    size_t len;
    const char *pname, *tname;
};

static int get_proxy(struct fl_px_server *s, struct reply *r, const struct req *q,
                     struct fl_px_proxy **p)
{
    if (!(*p = fl_px_find(s, q->pname)))
        return reply_err(r, 404, "proxy not found");
    return 0;
}

static int h_proxy_index(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    json_t *o = json_object();
    const char *prev = NULL;

    /* by name, as Go writes a map */
    for (size_t k = 0; k < s->npx; k++) {
        const struct fl_px_proxy *next = NULL;
        for (size_t i = 0; i < s->npx; i++)
            if ((!prev || strcmp(s->px[i]->name, prev) > 0) &&
                (!next || strcmp(s->px[i]->name, next->name) < 0))
                next = s->px[i];
        json_object_set_new(o, next->name, fl_px_proxy_json(next));
        prev = next->name;
    }
    return reply_json(r, 200, o);
}

static int h_proxy_create(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_spec sp;
    struct fl_px_proxy *p;
    char msg[512] = "";
    json_t *in;
    int st;

    if (parse_body(r, q->body, q->len, &in))
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

static int h_populate(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    json_t *in;
    int st;

    if (parse_body(r, q->body, q->len, &in)) {
        char *txt = r->out;
        json_t *e = json_loads(txt, 0, NULL);
        st = populate_reply(r, 400, json_string_value(json_object_get(e, "error")), NULL);
        json_decref(e);
        free(txt);
        return st;
    }
    st = populate(s, r, in);
    json_decref(in);
    return st;
}

/* Toxiproxy starts every proxy (one that cannot start fails the request,
 * 500) and then removes its toxics. */
static int h_reset(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    char msg[512];
    int st;

    for (size_t i = 0; i < s->npx; i++) {
        struct fl_px_proxy *p = s->px[i];
        p->enabled = true;
        if ((st = proxy_apply(p, msg, sizeof msg)))
            return reply_err(r, st, msg);
        while (p->ntoxics)
            toxic_remove(p, p->ntoxics - 1);
    }
    return reply_empty(r, 204);
}

/* Toxiproxy writes this one by hand: a space after the colon, a newline. */
static int h_version(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    r->status = 200;
    r->ctype = "application/json;charset=utf-8";
    if (asprintf(&r->out, "{\"version\": \"%s\"}\n", FL_VERSION) < 0)
        r->out = NULL;
    return 200;
}

static int h_metrics(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    return metrics(s, r);
}

static int h_proxy_show(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;

    if (get_proxy(s, r, q, &p))
        return r->status;
    return reply_json(r, 200, fl_px_proxy_json(p));
}

static int h_proxy_update(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_spec old, sp;
    struct fl_px_proxy *p;
    char msg[512] = "";
    json_t *in;
    int st;

    if (get_proxy(s, r, q, &p) || parse_body(r, q->body, q->len, &in))
        return r->status;
    snprintf(old.name, sizeof old.name, "%s", p->name);
    snprintf(old.listen, sizeof old.listen, "%s", p->listen);
    snprintf(old.upstream, sizeof old.upstream, "%s", p->upstream);
    old.enabled = p->enabled;
    st = fl_px_spec_parse(in, &old, &sp, msg, sizeof msg);
    json_decref(in);
    if (st)
        return reply_err(r, st, msg);
    if ((st = proxy_differs(p, &sp, msg, sizeof msg)) == 500)
        return reply_err(r, st, msg);
    if (st) {
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

static int h_proxy_delete(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;

    if (get_proxy(s, r, q, &p))
        return r->status;
    proxy_delete(s, p);
    return reply_empty(r, 204);
}

static int h_toxic_index(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;

    if (get_proxy(s, r, q, &p))
        return r->status;
    return reply_json(r, 200, fl_px_toxics_json(p));
}

static int h_toxic_create(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;
    struct fl_px_toxic nt;
    char msg[512] = "";
    json_t *in;
    int st;

    if (get_proxy(s, r, q, &p) || parse_body(r, q->body, q->len, &in))
        return r->status;
    st = fl_px_toxic_parse(in, NULL, &nt, msg, sizeof msg);
    json_decref(in);
    if (!st && fl_px_toxic_find(p, nt.name, NULL))
        st = 409, snprintf(msg, sizeof msg, "toxic already exists");
    if (!st && toxic_add(p, &nt))
        st = 500, snprintf(msg, sizeof msg, "out of memory");
    if (st) {
        fl_px_toxic_clear(&nt);
        return reply_err(r, st, msg);
    }
    return reply_json(r, 200, fl_px_toxic_json(p->toxics[p->ntoxics - 1]));
}

static int get_toxic(struct fl_px_server *s, struct reply *r, const struct req *q,
                     struct fl_px_proxy **p, struct fl_px_toxic **t, size_t *idx)
{
    if (get_proxy(s, r, q, p))
        return r->status;
    if (!(*t = fl_px_toxic_find(*p, q->tname, idx)))
        return reply_err(r, 404, "toxic not found");
    return 0;
}

static int h_toxic_show(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;
    struct fl_px_toxic *t;

    if (get_toxic(s, r, q, &p, &t, NULL))
        return r->status;
    return reply_json(r, 200, fl_px_toxic_json(t));
}

static int h_toxic_update(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;
    struct fl_px_toxic *t, nt;
    char msg[512] = "";
    json_t *in;
    int st;

    if (get_toxic(s, r, q, &p, &t, NULL) || parse_body(r, q->body, q->len, &in))
        return r->status;
    st = fl_px_toxic_parse(in, t, &nt, msg, sizeof msg);
    json_decref(in);
    if (st) {
        fl_px_toxic_clear(&nt);
        return reply_err(r, st, msg);
    }
    /* Replace in place: live links restart their instance and draw anew. */
    fl_px_toxic_clear(t);
    *t = nt;
    fl_px_links_toxic_updated(p, t);
    return reply_json(r, 200, fl_px_toxic_json(t));
}

static int h_toxic_delete(struct fl_px_server *s, struct reply *r, const struct req *q)
{
    struct fl_px_proxy *p;
    struct fl_px_toxic *t;
    size_t idx;

    if (get_toxic(s, r, q, &p, &t, &idx))
        return r->status;
    toxic_remove(p, idx);
    return reply_empty(r, 204);
}

typedef int (*handler)(struct fl_px_server *, struct reply *, const struct req *);

/* Toxiproxy's routes (api.go). A pattern segment "*" is a non-empty
 * variable: {proxy} first, {toxic} second. methods NULL: any. */
static const struct route {
    const char *pat[4];
    const char *methods;
    handler fn;
} routes[] = {
    {{"reset"}, "POST", h_reset},
    {{"proxies"}, "GET", h_proxy_index},
    {{"proxies"}, "POST", h_proxy_create},
    {{"populate"}, "POST", h_populate},
    {{"proxies", "*"}, "GET", h_proxy_show},
    {{"proxies", "*"}, "POST PATCH", h_proxy_update},
    {{"proxies", "*"}, "DELETE", h_proxy_delete},
    {{"proxies", "*", "toxics"}, "GET", h_toxic_index},
    {{"proxies", "*", "toxics"}, "POST", h_toxic_create},
    {{"proxies", "*", "toxics", "*"}, "GET", h_toxic_show},
    {{"proxies", "*", "toxics", "*"}, "POST PATCH", h_toxic_update},
    {{"proxies", "*", "toxics", "*"}, "DELETE", h_toxic_delete},
    {{"version"}, "GET", h_version},
    {{"metrics"}, NULL, h_metrics},
};

static bool method_in(const char *m, const char *list)
{
    size_t n = strlen(m);

    for (const char *c = list; c && (c = strstr(c, m)); c += n)
        if ((c == list || c[-1] == ' ') && (c[n] == ' ' || !c[n]))
            return true;
    return !list;
}

/* Match the path's segments against one pattern; fills the variables. */
static bool path_match(const struct route *rt, char *const *seg, size_t nseg, struct req *q)
{
    size_t n = 0, var = 0;

    while (n < 4 && rt->pat[n])
        n++;
    if (n != nseg)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!*seg[i])
            return false;
        if (is(rt->pat[i], "*"))
            *(var++ ? &q->tname : &q->pname) = seg[i];
        else if (!is(rt->pat[i], seg[i]))
            return false;
    }
    return true;
}

/* Like gorilla/mux: an unknown path (a trailing slash included) is Go's
 * "404 page not found", a known path with another method an empty 405. */
static int route(struct fl_px_server *s, struct reply *r, const char *m, const char *path,
                 const char *body, size_t len)
{
    char buf[1024], *seg[5];
    size_t nseg = 0;
    struct req q = {m, body, len, NULL, NULL};
    bool path_known = false;

    if (path[0] != '/' || strlen(path) >= sizeof buf)
        return reply_not_found(r);
    snprintf(buf, sizeof buf, "%s", path + 1);
    for (char *c = buf;; c++) {
        if (nseg == 5)
            return reply_not_found(r);
        seg[nseg++] = c;
        if (!(c = strchr(c, '/')))
            break;
        *c = '\0';
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!path_match(&routes[i], seg, nseg, &q))
            continue;
        path_known = true;
        if (method_in(m, routes[i].methods))
            return routes[i].fn(s, r, &q);
    }
    return path_known ? reply_empty(r, 405) : reply_not_found(r);
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

int fl_px_api_handle(struct fl_px_server *s, const char *method, const char *path, const char *body,
                     size_t len, char **out, const char **ctype)
{
    struct reply r = {0};
    int st = route(s, &r, method, path, body, len);

    if ((st >= 200 && st < 300 && !is(method, "GET")) || r.changed)
        persist(s);
    if (s->dry)
        fl_px_reap(s);
    *out = r.out;
    *ctype = r.ctype; /* NULL: no body */
    return st;
}

/* ---- the HTTP thread ---- */

/* The loop's on_wake hook: run the API requests the HTTP thread queued. */
static void calls_run(struct fl_px_server *s)
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
    if (ctype)
        MHD_add_response_header(resp, "Content-Type", ctype);
    if (ctype && !strcmp(ctype, "text/plain; charset=utf-8")) /* Go's http.Error adds it */
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
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
                          strdup("{\"error\":\"request body too large (the limit is 1 MiB)\","
                                 "\"status\":413}\n"),
                          "text/plain; charset=utf-8");
    /* Like Toxiproxy, refuse browsers so a web page cannot drive the API. */
    ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    if (ua && !strncmp(ua, "Mozilla/", 8))
        return send_reply(conn, 403, strdup("User agent not allowed\n"),
                          "text/plain; charset=utf-8");
    call.method = method;
    call.url = url;
    call.body = u->buf;
    call.len = u->len;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return send_reply(conn, 503, strdup("{\"error\":\"shutting down\",\"status\":503}\n"),
                          "text/plain; charset=utf-8");
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

/* Bind the API's socket here (so a failure says why, which libmicrohttpd
 * would only print as "Failed to bind to port 0") and serve it. */
static int api_start(struct fl_px_server *s, const char *listen_at, struct fl_err *e)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char why[300];
    int fd, one = 1, err;

    if (fl_px_addr_parse(listen_at, &ss, &len, why, sizeof why))
        return fl_err_set(e, FL_EUSAGE, "--listen %s: %s", listen_at, why);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
        err = errno;
        if (fd >= 0)
            close(fd);
        return fl_err_set(e, FL_EFAIL, "--listen %s: cannot serve the API there: %s%s", listen_at,
                          strerror(err),
                          err == EADDRINUSE ? " (another faultline proxy or Toxiproxy runs there? "
                                              "stop it, or choose another port: --listen "
                                              "127.0.0.1:0 picks a free one)"
                          : err == EADDRNOTAVAIL ? " (no interface of this host has that address)"
                          : err == EACCES        ? " (ports below 1024 need root)"
                                                 : "");
    }
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                              on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!s->mhd) {
        close(fd);
        return fl_err_set(e, FL_EFAIL, "--listen %s: cannot start the HTTP server (libmicrohttpd)",
                          listen_at);
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    fl_px_addr_format(&ss, s->api_addr, sizeof s->api_addr);
    return 0;
}

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
    s->on_wake = calls_run;
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
        struct stat st;
        if (!stat(s->state_path, &st) && !S_ISREG(st.st_mode)) {
            fl_err_set(e, FL_EUSAGE,
                       "--state %s: is %s, not a file; give the path of the state file, e.g. "
                       "--state %s%sproxy.json",
                       s->state_path, S_ISDIR(st.st_mode) ? "a directory" : "not a regular file",
                       s->state_path, S_ISDIR(st.st_mode) ? "/" : ".");
            goto fail;
        }
        snprintf(dir, sizeof dir, "%s", s->state_path);
        if (fl_mkdir_p(dirname(dir), 0755, e))
            goto fail;
    }
    if (o->api_listen && api_start(s, o->api_listen, e))
        goto fail;
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
        c->out = strdup("{\"error\":\"shutting down\",\"status\":503}\n");
        c->ctype = "text/plain; charset=utf-8";
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
    json_array_foreach (json_object_get(j, "toxics"), i, tj) {
        struct fl_px_toxic t;
        if (fl_px_toxic_parse(tj, NULL, &t, msg, sizeof msg)) {
            fl_px_toxic_clear(&t);
            fl_warn("proxy %s: state: skipping a toxic: %s", sp.name, msg);
        } else if (fl_px_toxic_find(p, t.name, NULL) || toxic_add(p, &t)) {
            fl_px_toxic_clear(&t);
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
        json_array_foreach (j, i, x)
            load_proxy(s, x);
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
