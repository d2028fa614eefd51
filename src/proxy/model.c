/* Proxies and toxics as the API sees them: parsing with Toxiproxy's defaults
 * and error messages, and the JSON shapes its clients expect. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

json_t *fl_px_toxic_json(const struct fl_px_toxic *t)
{
    json_t *attrs = json_object();

    for (int i = 0; t->ops->attrs[i].name; i++)
        json_object_set_new(attrs, t->ops->attrs[i].name, json_integer(t->attr[i]));
    return json_pack("{s:s, s:s, s:s, s:f, s:o}", "name", t->name, "type", t->ops->type, "stream",
                     t->stream ? "downstream" : "upstream", "toxicity", t->toxicity, "attributes",
                     attrs);
}

json_t *fl_px_proxy_json(const struct fl_px_proxy *p)
{
    json_t *toxics = json_array();

    for (size_t i = 0; i < p->ntoxics; i++)
        json_array_append_new(toxics, fl_px_toxic_json(p->toxics[i]));
    return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", p->name, "listen", p->listen, "upstream",
                     p->upstream, "enabled", p->enabled, "toxics", toxics);
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
    free(t->name);
    free(t);
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

int fl_px_toxic_parse(const json_t *in, const struct fl_px_toxic *base, struct fl_px_toxic *out,
                      char *msg, size_t msglen)
{
    const json_t *v, *attrs;
    const char *type = NULL, *name = NULL;

    memset(out, 0, sizeof *out);
    if (!json_is_object(in))
        return BAD(400, "bad request body: expected a JSON object");
    if (base) {
        *out = *base;
        out->name = NULL;
    } else {
        out->stream = 1;
        out->toxicity = 1.0;
    }
    v = json_object_get(in, "type");
    if (v && !json_is_string(v))
        return BAD(400, "bad request body: type must be a string");
    if (!base) {
        type = json_string_value(v);
        if (!(out->ops = fl_px_toxic_lookup(type)))
            return BAD(400, "invalid toxic type");
        for (int i = 0; out->ops->attrs[i].name; i++)
            out->attr[i] = out->ops->attrs[i].def;
    }
    v = json_object_get(in, "stream");
    if (v && !json_is_string(v))
        return BAD(400, "bad request body: stream must be a string");
    if (v && !base) {
        const char *st = json_string_value(v);
        if (!strcmp(st, "upstream"))
            out->stream = 0;
        else if (!strcmp(st, "downstream") || !*st)
            out->stream = 1;
        else
            return BAD(400, "stream was invalid, can be either upstream or downstream");
    }
    v = json_object_get(in, "toxicity");
    if (v && !json_is_number(v))
        return BAD(400, "bad request body: toxicity must be a number");
    if (v) {
        double t = json_number_value(v);
        if (!(t >= 0.0 && t <= 1.0))
            return BAD(400, "toxicity must be between 0 and 1");
        out->toxicity = t;
    }
    attrs = json_object_get(in, "attributes");
    if (attrs && !json_is_object(attrs) && !json_is_null(attrs))
        return BAD(400, "bad request body: attributes must be an object");
    for (int i = 0; attrs && out->ops->attrs[i].name; i++) {
        v = json_object_get(attrs, out->ops->attrs[i].name);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return BAD(400, "bad request body: attribute %s must be a non-negative integer",
                       out->ops->attrs[i].name);
        out->attr[i] = json_integer_value(v);
    }
    v = json_object_get(in, "name");
    if (v && !json_is_string(v) && !json_is_null(v))
        return BAD(400, "bad request body: name must be a string");
    name = json_string_value(v);
    if (base || !name || !*name) {
        char buf[64];
        if (base)
            name = base->name;
        else {
            snprintf(buf, sizeof buf, "%s_%s", out->ops->type,
                     out->stream ? "downstream" : "upstream");
            name = buf;
        }
        out->name = strdup(name);
    } else {
        if (strchr(name, '/'))
            return BAD(400, "toxic name must not contain '/'");
        out->name = strdup(name);
    }
    if (!out->name)
        return BAD(500, "out of memory");
    return 0;
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

int fl_px_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(s, ':'), *port;
    struct addrinfo hints = {0}, *res = NULL;
    size_t hl;

    if (!colon)
        return -1;
    port = colon + 1;
    hl = (size_t)(colon - s);
    if (hl >= sizeof host || !*port)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    for (const char *c = port; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    if (atoi(port) > 65535)
        return -1;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (host[0] ? 0 : AI_PASSIVE);
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
