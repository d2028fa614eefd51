/* Proxies and toxics as the API sees them: parsing with Toxiproxy's defaults
 * and error messages, and the JSON shapes its clients expect. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/px.h"

struct fl_px_proxy *fl_px_find(struct fl_px_server *s, const char *name)
{
    for (size_t i = 0; i < s->npx; i++)
        if (!strcmp(s->px[i]->name, name))
            return s->px[i];
    return NULL;
}

struct fl_px_toxic *fl_px_toxic_find(struct fl_px_proxy *p, const char *name, size_t *idx)
{
    for (size_t i = 0; i < p->ntoxics; i++)
        if (!strcmp(p->toxics[i]->name, name)) {
            if (idx)
                *idx = i;
            return p->toxics[i];
        }
    return NULL;
}

/* Toxiproxy keeps toxicity in a float32 and Go writes a number in its
 * shortest form ("0.3", "1"): an integral value becomes a JSON integer, any
 * other the double nearest to the float's shortest decimal, which the API
 * writes with JSON_REAL_PRECISION(9) (api.c) and so comes out as that
 * decimal. */
static json_t *toxicity_json(float f)
{
    char buf[32];

    if (f == truncf(f) && fabsf(f) < 1e15f)
        return json_integer((json_int_t)f);
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return json_real(strtod(buf, NULL));
}

/* Toxiproxy's field order: attributes first (the embedded toxic), then
 * name, type, stream and toxicity. */
json_t *fl_px_toxic_json(const struct fl_px_toxic *t)
{
    json_t *attrs = t->ops->config_json ? t->ops->config_json(t->cfg) : json_object();

    for (int i = 0; !t->ops->config_json && t->ops->attrs[i].name; i++)
        json_object_set_new(attrs, t->ops->attrs[i].name, json_integer(t->attr[i]));
    return json_pack("{s:o, s:s, s:s, s:s, s:o}", "attributes", attrs, "name", t->name, "type",
                     t->ops->type, "stream", t->stream_name, "toxicity",
                     toxicity_json(t->toxicity));
}

/* A proxy's toxics as Toxiproxy lists them: the upstream chain, then the
 * downstream one, each in the order the toxics were added. */
json_t *fl_px_toxics_json(const struct fl_px_proxy *p)
{
    json_t *a = json_array();

    for (int dir = 0; dir < 2; dir++)
        for (size_t i = 0; i < p->ntoxics; i++)
            if (p->toxics[i]->stream == dir)
                json_array_append_new(a, fl_px_toxic_json(p->toxics[i]));
    return a;
}

json_t *fl_px_proxy_json(const struct fl_px_proxy *p)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", p->name, "listen", p->listen, "upstream",
                     p->upstream, "enabled", p->enabled, "toxics", fl_px_toxics_json(p));
}

json_t *fl_px_state_json(const struct fl_px_server *s)
{
    json_t *a = json_array();

    for (size_t i = 0; i < s->npx; i++)
        json_array_append_new(a, fl_px_proxy_json(s->px[i]));
    return a;
}

void fl_px_toxic_free(struct fl_px_toxic *t)
{
    if (!t)
        return;
    fl_px_toxic_clear(t);
    free(t);
}

void fl_px_toxic_clear(struct fl_px_toxic *t)
{
    free(t->name);
    t->name = NULL;
    if (t->cfg && t->ops && t->ops->config_free)
        t->ops->config_free(t->cfg);
    t->cfg = NULL;
}

void fl_px_proxy_free(struct fl_px_proxy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ntoxics; i++)
        fl_px_toxic_free(p->toxics[i]);
    free(p->toxics);
    free(p->name);
    free(p->listen);
    free(p->upstream);
    free(p);
}

#define BAD(status, ...) (snprintf(msg, msglen, __VA_ARGS__), (status))

static int attr_index(const struct fl_px_toxic_ops *ops, const char *key)
{
    for (int i = 0; ops->attrs[i].name; i++)
        if (!strcmp(ops->attrs[i].name, key))
            return i;
    return -1;
}

static const char *json_kind(const json_t *v)
{
    static const char *const kinds[] = {"an object",           "an array", "a string", "an integer",
                                        "a fractional number", "true",     "false",    "null"};
    return kinds[json_typeof(v)];
}

/* Attributes as Toxiproxy decodes them into typed integer fields: negative
 * values are taken and null keeps the current value. faultline also refuses
 * a name the type does not have (Toxiproxy ignores it, so a misspelled
 * "latencyy" silently meant no latency) and a value past the attribute's
 * bound (Toxiproxy multiplies it into a wrapped-around duration). */
static int parse_attrs(const json_t *attrs, struct fl_px_toxic *out, char *msg, size_t msglen)
{
    const struct fl_px_toxic_ops *ops = out->ops;
    const char *key;
    json_t *v;

    if (ops->config)
        return ops->config(json_is_null(attrs) ? NULL : attrs, &out->cfg, msg, msglen);
    if (!attrs || json_is_null(attrs))
        return 0;
    if (!json_is_object(attrs))
        return BAD(400,
                   "bad request body: attributes must be an object (e.g. {\"latency\": 100}), "
                   "not %s",
                   json_kind(attrs));
    json_object_foreach ((json_t *)attrs, key, v) {
        int i = attr_index(ops, key);
        int64_t x, b;

        if (i < 0) {
            char known[128] = "";
            for (int k = 0; ops->attrs[k].name; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                         ops->attrs[k].name);
            return BAD(400,
                       "bad request body: a %s toxic has no attribute '%s' (its attributes: %s)",
                       ops->type, key, known[0] ? known : "none");
        }
        if (json_is_null(v))
            continue;
        if (!json_is_integer(v))
            return BAD(400, "bad request body: attribute %s must be an integer, not %s", key,
                       json_kind(v));
        x = json_integer_value(v);
        b = ops->attrs[i].bound;
        if (b && (x > b || x < -b))
            return BAD(400,
                       "bad request body: attribute %s is %lld, outside -%lld..%lld "
                       "(the bound of every time, size and rate attribute; docs/proxy.md)",
                       key, (long long)x, (long long)b, (long long)b);
        out->attr[i] = x;
    }
    return 0;
}

/* Toxiproxy reads toxicity into a float32: any number (outside 0..1 too: a
 * negative one never applies, one above 1 always), null keeps it. */
static int parse_toxicity(const json_t *v, struct fl_px_toxic *out, char *msg, size_t msglen)
{
    double t;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return BAD(400, "bad request body: toxicity must be a number, not %s", json_kind(v));
    t = json_number_value(v);
    if (fabs(t) > FLT_MAX)
        return BAD(400, "bad request body: toxicity %g does not fit a 32-bit float", t);
    out->toxicity = (float)t;
    return 0;
}

/* The fields only a new toxic reads: stream (any letter case, echoed as
 * written), type and name. */
static int parse_new(const json_t *in, struct fl_px_toxic *out, char *msg, size_t msglen)
{
    static const char *const keys[] = {"type", "stream", "name"};
    const char *val[3] = {NULL, "downstream", NULL};
    char buf[300];

    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(in, keys[i]);
        if (v && !json_is_string(v) && !json_is_null(v))
            return BAD(400, "bad request body: %s must be a string, not %s", keys[i], json_kind(v));
        if (json_is_string(v))
            val[i] = json_string_value(v);
    }
    if (!strcasecmp(val[1], "upstream"))
        out->stream = 0;
    else if (!strcasecmp(val[1], "downstream"))
        out->stream = 1;
    else
        return BAD(400, "stream was invalid, can be either upstream or downstream");
    snprintf(out->stream_name, sizeof out->stream_name, "%s", val[1]);
    if (!(out->ops = fl_px_toxic_lookup(val[0])))
        return BAD(400, "invalid toxic type");
    for (int i = 0; out->ops->attrs[i].name; i++)
        out->attr[i] = out->ops->attrs[i].def;
    if (!val[2] || !*val[2]) {
        snprintf(buf, sizeof buf, "%s_%s", out->ops->type, out->stream_name);
        val[2] = buf;
    } else if (strchr(val[2], '/')) {
        return BAD(400, "toxic name must not contain '/'");
    }
    if (!(out->name = strdup(val[2])))
        return BAD(500, "out of memory");
    return 0;
}

int fl_px_toxic_parse(const json_t *in, const struct fl_px_toxic *base, struct fl_px_toxic *out,
                      char *msg, size_t msglen)
{
    int st;

    memset(out, 0, sizeof *out);
    if (!json_is_object(in))
        return BAD(400, "bad request body: expected a JSON object, not %s", json_kind(in));
    if (base) {
        /* An update reads toxicity and attributes only, like Toxiproxy's. */
        *out = *base;
        out->cfg = NULL;
        if (!(out->name = strdup(base->name)))
            return BAD(500, "out of memory");
        if (base->ops->config && !json_object_get(in, "attributes")) {
            /* keep the current attributes: parse a copy of them */
            json_t *cur = base->ops->config_json(base->cfg);
            st = base->ops->config(cur, &out->cfg, msg, msglen);
            json_decref(cur);
            if (st)
                return st;
        }
    } else {
        out->toxicity = 1.0f;
        if ((st = parse_new(in, out, msg, msglen)))
            return st;
    }
    if ((st = parse_toxicity(json_object_get(in, "toxicity"), out, msg, msglen)))
        return st;
    if (base && out->ops->config && !json_object_get(in, "attributes"))
        return 0;
    return parse_attrs(json_object_get(in, "attributes"), out, msg, msglen);
}

int fl_px_spec_parse(const json_t *in, const struct fl_px_spec *base, struct fl_px_spec *out,
                     char *msg, size_t msglen)
{
    static const char *const keys[] = {"name", "listen", "upstream"};
    char *dst[3] = {out->name, out->listen, out->upstream};
    const json_t *v;

    if (!json_is_object(in))
        return BAD(400, "bad request body: expected a JSON object");
    if (base)
        *out = *base;
    else {
        memset(out, 0, sizeof *out);
        out->enabled = true;
    }
    for (int i = 0; i < 3; i++) {
        v = json_object_get(in, keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v))
            return BAD(400, "bad request body: %s must be a string", keys[i]);
        if (json_string_length(v) >= sizeof out->name)
            return BAD(400, "%s is too long", keys[i]);
        if (base && i == 0)
            continue; /* a proxy keeps its name */
        snprintf(dst[i], sizeof out->name, "%s", json_string_value(v));
    }
    v = json_object_get(in, "enabled");
    if (json_is_null(v)) /* Go leaves the field as it was */
        v = NULL;
    if (v && !json_is_boolean(v))
        return BAD(400, "bad request body: enabled must be a boolean");
    if (v)
        out->enabled = json_is_true(v);
    if (!out->name[0])
        return BAD(400, "missing required field: name");
    if (strchr(out->name, '/'))
        return BAD(400, "proxy name must not contain '/'");
    if (!out->upstream[0])
        return BAD(400, "missing required field: upstream");
    if (!out->listen[0])
        snprintf(out->listen, sizeof out->listen, "127.0.0.1:0");
    return 0;
}

int fl_px_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *msg,
                     size_t msglen)
{
    char host[256];
    const char *colon = strrchr(s, ':'), *port;
    struct addrinfo hints = {0}, *res = NULL;
    size_t hl;
    int r;

    if (!colon)
        return BAD(-1, "address %s: missing port in address (write HOST:PORT, e.g. 127.0.0.1:0)",
                   s);
    port = colon + 1;
    hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return BAD(-1, "address %.40s...: host name too long", s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    for (const char *c = port; *c; c++)
        if (*c < '0' || *c > '9' || c - port > 5)
            port = "";
    if (!*port || atoi(port) > 65535)
        return BAD(-1, "address %s: invalid port '%s' (a number 0..65535)", s, colon + 1);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (host[0] ? 0 : AI_PASSIVE);
    if ((r = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) || !res) {
        const char *why = r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r);
        return BAD(-1, "lookup %s: %c%s (use an IP address, or a name /etc/hosts or DNS knows)",
                   host, tolower((unsigned char)why[0]), why + 1);
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void fl_px_addr_format(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, ntohs(a->sin_port));
    }
}

int fl_px_addr_resolve(const char *s, char *out, size_t cap, char *msg, size_t msglen)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (fl_px_addr_parse(s, &ss, &len, msg, msglen))
        return -1;
    fl_px_addr_format(&ss, out, cap);
    return 0;
}
