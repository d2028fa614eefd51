/* The `http` toxic (a faultline extension to Toxiproxy's set): one HTTP/1.1
 * rule per toxic. Its attributes are strings and objects, so it parses them
 * itself (ops->config); the data path is the HTTP engine (proxy/http.h),
 * which reads the proxy's http toxics at every request and draws their
 * toxicity per request. docs/proxy.md lists the attributes. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/http.h"
#include "proxy/toxic.h"

#define BAD(...) (snprintf(msg, msglen, __VA_ARGS__), 400)

void fl_http_rule_free(struct fl_http_rule *r)
{
    if (!r)
        return;
    json_decref(r->attrs);
    free(r->method);
    free(r->path);
    if (r->has_re)
        regfree(&r->re);
    free(r->hname);
    free(r->hvalue);
    free(r->body);
    free(r->find);
    free(r->repl);
    for (size_t i = 0; i < r->nset; i++) {
        free(r->set_names[i]);
        free(r->set_values[i]);
    }
    free(r->set_names);
    free(r->set_values);
    free(r);
}

/* A header name is an HTTP token; a value has no CR, LF or NUL. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

static bool is_value(const char *s)
{
    return !strpbrk(s, "\r\n");
}

static int get_str(const json_t *a, const char *key, char **out, char *msg, size_t msglen)
{
    const json_t *v = json_object_get(a, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return BAD("bad request body: http attribute %s must be a string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return BAD("bad request body: http attribute %s contains a NUL byte", key);
    if (!(*out = strdup(json_string_value(v))))
        return BAD("out of memory");
    return 0;
}

static int parse_match(const json_t *a, struct fl_http_rule *r, char *msg, size_t msglen)
{
    char *re = NULL, *hdr = NULL;
    int st;

    if ((st = get_str(a, "method", &r->method, msg, msglen)) ||
        (st = get_str(a, "path", &r->path, msg, msglen)) ||
        (st = get_str(a, "path_regex", &re, msg, msglen)) ||
        (st = get_str(a, "header", &hdr, msg, msglen)))
        goto out;
    if (r->method && !is_token(r->method))
        st = BAD("bad request body: http attribute method '%s' is not an HTTP method (GET, "
                 "POST, ...)",
                 r->method);
    if (!st && re) {
        int e = regcomp(&r->re, re, REG_EXTENDED | REG_NOSUB);
        if (e) {
            char why[128];
            regerror(e, &r->re, why, sizeof why);
            st = BAD("bad request body: http attribute path_regex '%s': %s (POSIX extended "
                     "regular expression)",
                     re, why);
        } else {
            r->has_re = true;
        }
    }
    if (!st && hdr) {
        char *colon = strchr(hdr, ':');
        if (colon) {
            *colon = 0;
            for (colon++; *colon == ' ' || *colon == '\t'; colon++)
                ;
            r->hvalue = strdup(colon);
        }
        r->hname = strdup(hdr);
        if (!r->hname || (colon && !r->hvalue))
            st = BAD("out of memory");
        else if (!is_token(r->hname) || (r->hvalue && !is_value(r->hvalue)))
            st = BAD("bad request body: http attribute header must be 'Name' or 'Name: "
                     "value-glob' (e.g. 'X-User: test-*')");
    }
out:
    free(re);
    free(hdr);
    return st;
}

static int parse_set_headers(const json_t *v, struct fl_http_rule *r, char *msg, size_t msglen)
{
    const char *k;
    json_t *x;
    size_t n;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return BAD("bad request body: http attribute set_headers must be an object "
                   "({\"Name\": \"value\"})");
    if ((n = json_object_size(v)) > FL_HTTP_SET_HEADERS_MAX)
        return BAD("bad request body: http attribute set_headers has %zu entries, at most %d", n,
                   FL_HTTP_SET_HEADERS_MAX);
    r->set_names = calloc(n + 1, sizeof *r->set_names);
    r->set_values = calloc(n + 1, sizeof *r->set_values);
    if (!r->set_names || !r->set_values)
        return BAD("out of memory");
    json_object_foreach ((json_t *)v, k, x) {
        if (!json_is_string(x) || !is_token(k) || !is_value(json_string_value(x)) ||
            strlen(json_string_value(x)) != json_string_length(x))
            return BAD("bad request body: set_headers entry '%s' needs a token name and a "
                       "string value without CR or LF",
                       k);
        r->set_names[r->nset] = strdup(k);
        r->set_values[r->nset] = strdup(json_string_value(x));
        if (!r->set_names[r->nset++] || !r->set_values[r->nset - 1])
            return BAD("out of memory");
    }
    return 0;
}

/* "patch": {"find": "...", "replace": "..."}: strings without NUL, find not empty. */
static int parse_patch(const json_t *v, struct fl_http_rule *r, char *msg, size_t msglen)
{
    const json_t *f = json_object_get(v, "find"), *t = json_object_get(v, "replace");

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v) || json_object_size(v) != 2 || !json_is_string(f) ||
        !json_is_string(t) || !json_string_length(f) || json_string_length(f) > FL_HTTP_BODY_MAX ||
        json_string_length(t) > FL_HTTP_BODY_MAX)
        return BAD("bad request body: http attribute patch must be {\"find\": \"text\", "
                   "\"replace\": \"text\"} (find not empty, each at most %d bytes)",
                   FL_HTTP_BODY_MAX);
    if (r->has_body && !r->status)
        return BAD("bad request body: http attributes body (a replacement) and patch exclude "
                   "each other");
    r->find_len = json_string_length(f);
    r->repl_len = json_string_length(t);
    if (!(r->find = malloc(r->find_len + 1)) || !(r->repl = malloc(r->repl_len + 1)))
        return BAD("out of memory");
    memcpy(r->find, json_string_value(f), r->find_len + 1);
    memcpy(r->repl, json_string_value(t), r->repl_len + 1);
    return 0;
}

static int parse_actions(const json_t *a, struct fl_http_rule *r, char *msg, size_t msglen)
{
    int st_;

    const json_t *st = json_object_get(a, "status"), *d = json_object_get(a, "delay");
    const json_t *b = json_object_get(a, "body");

    if (st && !json_is_null(st)) {
        if (!json_is_integer(st) || json_integer_value(st) < 100 || json_integer_value(st) > 599)
            return BAD("bad request body: http attribute status must be an HTTP status from 100 "
                       "to 599 (e.g. 503)");
        r->status = (int)json_integer_value(st);
    }
    if (d && !json_is_null(d)) {
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > FL_HTTP_DELAY_MAX_MS)
            return BAD("bad request body: http attribute delay must be milliseconds from 0 to "
                       "%lld",
                       FL_HTTP_DELAY_MAX_MS);
        r->delay_ms = json_integer_value(d);
    }
    if (b && !json_is_null(b)) {
        if (!json_is_string(b))
            return BAD("bad request body: http attribute body must be a string");
        if (json_string_length(b) > FL_HTTP_BODY_MAX)
            return BAD("bad request body: http attribute body is %zu bytes, at most %d",
                       json_string_length(b), FL_HTTP_BODY_MAX);
        r->body_len = json_string_length(b);
        if (!(r->body = malloc(r->body_len + 1)))
            return BAD("out of memory");
        memcpy(r->body, json_string_value(b), r->body_len + 1);
        r->has_body = true;
    }
    if ((st_ = parse_patch(json_object_get(a, "patch"), r, msg, msglen)))
        return st_;
    return parse_set_headers(json_object_get(a, "set_headers"), r, msg, msglen);
}

int fl_http_rule_parse(const json_t *attrs, struct fl_http_rule **out, char *msg, size_t msglen)
{
    static const char *const keys[] = {"method", "path", "path_regex",  "header", "status",
                                       "delay",  "body", "set_headers", "patch",  NULL};
    struct fl_http_rule *r = calloc(1, sizeof *r);
    const char *k;
    json_t *v;
    int st = 0;

    *out = NULL;
    if (!r)
        return BAD("out of memory");
    if (attrs && !json_is_object(attrs))
        st = BAD("bad request body: attributes must be an object");
    json_object_foreach ((json_t *)attrs, k, v) {
        size_t i;
        for (i = 0; keys[i] && strcmp(keys[i], k); i++)
            ;
        if (!keys[i] && !st)
            st = BAD("bad request body: an http toxic has no attribute '%s' (its attributes: "
                     "method, path, path_regex, header, status, delay, body, set_headers, patch)",
                     k);
    }
    if (!st && !(st = parse_match(attrs, r, msg, msglen)))
        st = parse_actions(attrs, r, msg, msglen);
    if (!st && !(r->attrs = attrs ? json_deep_copy(attrs) : json_object()))
        st = BAD("out of memory");
    if (st) {
        fl_http_rule_free(r);
        return st;
    }
    *out = r;
    return 0;
}

/* Is header `name` in the raw head, with a value matching the glob? */
static bool head_has(const char *head, size_t len, const char *name, const char *glob)
{
    const char *p = memchr(head, '\n', len), *e = head + len;
    size_t nl = strlen(name);

    while (p && ++p < e) {
        const char *eol = memchr(p, '\n', (size_t)(e - p));
        size_t ll = eol ? (size_t)(eol - p) : (size_t)(e - p);
        if (ll > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            char val[1024];
            const char *v = p + nl + 1, *ve = p + ll;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (!glob)
                return true;
            if ((size_t)(ve - v) < sizeof val) {
                memcpy(val, v, (size_t)(ve - v));
                val[ve - v] = 0;
                if (!fnmatch(glob, val, 0))
                    return true;
            }
        }
        p = eol;
    }
    return false;
}

bool fl_http_rule_match(const struct fl_http_rule *r, const char *method, const char *path,
                        const char *head, size_t head_len)
{
    if (r->method && strcmp(r->method, method))
        return false;
    if ((r->path || r->has_re) && !path)
        return false; /* a request target past FL_HTTP_URL_MAX */
    if (r->path && fnmatch(r->path, path, 0))
        return false;
    if (r->has_re && regexec(&r->re, path, 0, NULL, 0))
        return false;
    if (r->hname && !head_has(head, head_len, r->hname, r->hvalue))
        return false;
    return true;
}

static int config(const void *attrs, void **cfg, char *msg, size_t msglen)
{
    return fl_http_rule_parse(attrs, (struct fl_http_rule **)cfg, msg, msglen);
}

static void *config_json(const void *cfg)
{
    const struct fl_http_rule *r = cfg;
    return r ? json_deep_copy(r->attrs) : json_object();
}

static void config_free(void *cfg)
{
    fl_http_rule_free(cfg);
}

const struct fl_px_toxic_ops fl_px_toxic_http = {
    .type = "http",
    .attrs = {{NULL, 0, 0}},
    .config = config,
    .config_json = config_json,
    .config_free = config_free,
    .http = true,
};
