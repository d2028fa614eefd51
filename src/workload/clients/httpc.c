/* libcurl under the etcd and http workload clients: one easy handle per
 * worker connection, a per-request deadline, the body in a growing buffer,
 * "no answer" told apart from any HTTP status; and base64 for etcd's JSON
 * gateway. */
#include "workload/clients/httpc.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct fl_httpc *c = arg;
    size_t k = sz * n;
    if (c->len + k + 1 > c->cap) {
        size_t cap = (c->len + k + 1) * 2;
        char *b = realloc(c->body, cap);
        if (!b)
            return 0;
        c->body = b;
        c->cap = cap;
    }
    memcpy(c->body + c->len, p, k);
    c->len += k;
    c->body[c->len] = '\0';
    return k;
}

void fl_httpc_global(bool init)
{
    if (init)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    else
        curl_global_cleanup();
}

int fl_httpc_open(struct fl_httpc *c, const char *target, int64_t timeout_ms, struct fl_err *e)
{
    memset(c, 0, sizeof *c);
    if (strstr(target, "://"))
        c->base = strdup(target);
    else if (asprintf(&c->base, "http://%s", target) < 0)
        c->base = NULL;
    if (!c->base || !(c->curl = curl_easy_init())) {
        fl_httpc_close(c);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    c->timeout_ms = timeout_ms;
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    return 0;
}

void fl_httpc_close(struct fl_httpc *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->body);
    memset(c, 0, sizeof *c);
}

int fl_httpc_request(struct fl_httpc *c, const char *method, const char *path, const json_t *json,
                     const char *text, char *err, size_t errlen)
{
    CURL *h = c->curl;
    char *url = NULL, *body = NULL;
    struct curl_slist *hdr = NULL;

    if (asprintf(&url, "%s%s", c->base, path) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->len = 0;
    if (c->body)
        c->body[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json)
        body = json_dumps(json, JSON_COMPACT);
    else if (text)
        body = strdup(text);
    if (body) {
        hdr = curl_slist_append(NULL, json ? "Content-Type: application/json"
                                           : "Content-Type: text/plain");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    free(body);
    free(url);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s",
                 cc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(cc));
        return -1;
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (!c->body && !(c->body = calloc(1, 1))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return (int)code;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *fl_b64_encode(const char *s, size_t n)
{
    char *o = malloc((n + 2) / 3 * 4 + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        *p++ = b64[v >> 18];
        *p++ = b64[(v >> 12) & 63];
        *p++ = (char)(i + 1 < n ? b64[(v >> 6) & 63] : '=');
        *p++ = (char)(i + 2 < n ? b64[v & 63] : '=');
    }
    *p = '\0';
    return o;
}

char *fl_b64_decode(const char *s, size_t *n)
{
    size_t len = strlen(s);
    char *o = malloc(len / 4 * 3 + 1);
    unsigned v = 0;
    int bits = 0;
    size_t k = 0;

    if (!o)
        return NULL;
    for (size_t i = 0; i < len && s[i] != '='; i++) {
        const char *q = strchr(b64, s[i]);
        if (!q || !s[i]) {
            free(o);
            return NULL;
        }
        v = (v << 6) | (unsigned)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (char)((v >> bits) & 0xff);
        }
    }
    o[k] = '\0';
    *n = k;
    return o;
}
