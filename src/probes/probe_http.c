/* http: one request with libcurl; ok when the status is the expected one
 * (default: any 2xx) and, if given, the body matches a regex. The value is
 * the HTTP status. One easy handle per probe, reused so connections are
 * kept alive like a real client's. */
#include <curl/curl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/curl.h"
#include "probes/probe.h"

static const struct fl_opt http_opts[] = {
    {"url", FL_OPT_STRING, FL_OPT_REQUIRED, "URL", "http://HOST:PORT/path", NULL, 0, 0},
    {"method", FL_OPT_ENUM, 0, "METHOD", "request method (default GET)",
     "GET|HEAD|POST|PUT|DELETE|PATCH", 0, 0},
    {"header", FL_OPT_STRING, FL_OPT_MULTI, "'NAME: VALUE'", "a request header", NULL, 0, 0},
    {"body", FL_OPT_STRING, 0, "TEXT", "request body", NULL, 0, 0},
    {"status", FL_OPT_INT, FL_OPT_MULTI, "CODE", "expected status (default: any 2xx)", NULL, 100,
     599},
    {"body_regex", FL_OPT_STRING, 0, "REGEX", "ok only when the body matches", NULL, 0, 0},
    FL_OPT_END,
};

struct http_state {
    CURL *curl;
    struct curl_slist *headers;
    bool has_re;
    regex_t re;
    char body[8192];
    size_t used;
};

static int http_validate(const json_t *params, struct fl_err *e)
{
    const char *rx = fl_param_str(params, "body_regex", NULL);
    const char *url = fl_param_str(params, "url", "");

    if (fl_probe_check_url(url, e))
        return -FL_EUSAGE;
    return rx ? fl_probe_regex("body_regex", rx, NULL, e) : 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_state *st = ud;
    size_t n = size * nmemb, room = sizeof st->body - 1 - st->used;

    if (n < room)
        room = n;
    memcpy(st->body + st->used, ptr, room);
    st->used += room;
    st->body[st->used] = '\0';
    return n;
}

static int http_open(struct fl_probe *p, struct fl_err *e)
{
    struct http_state *st = calloc(1, sizeof *st);
    const char *method = fl_param_str(p->params, "method", "GET");
    const char *body = fl_param_str(p->params, "body", NULL);
    const char *rx = fl_param_str(p->params, "body_regex", NULL);
    json_t *h = json_object_get(p->params, "header"), *v;
    size_t i;

    if (!st)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (!(st->curl = fl_probe_curl_new(p, fl_param_str(p->params, "url", ""), on_body, st, e))) {
        free(st);
        return -e->code;
    }
    json_array_foreach (h, i, v)
        st->headers = curl_slist_append(st->headers, json_string_value(v));
    curl_easy_setopt(st->curl, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(st->curl, CURLOPT_NOBODY, 1L);
    if (body)
        curl_easy_setopt(st->curl, CURLOPT_POSTFIELDS, body);
    if (st->headers)
        curl_easy_setopt(st->curl, CURLOPT_HTTPHEADER, st->headers);
    if (rx && fl_probe_regex("body_regex", rx, &st->re, e) == 0)
        st->has_re = true;
    p->state = st;
    return 0;
}

static void http_close(struct fl_probe *p)
{
    struct http_state *st = p->state;

    if (!st)
        return;
    curl_easy_cleanup(st->curl);
    curl_slist_free_all(st->headers);
    if (st->has_re)
        regfree(&st->re);
    free(st);
    p->state = NULL;
}

static void http_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    struct http_state *st = p->state;
    json_t *want = json_object_get(p->params, "status"), *v;
    long code = 0;
    CURLcode cc;
    bool status_ok;
    size_t i;

    st->used = 0;
    st->body[0] = '\0';
    cc = curl_easy_perform(st->curl);
    if (cc != CURLE_OK) {
        snprintf(r->detail, sizeof r->detail, "%s", curl_easy_strerror(cc));
        return;
    }
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    r->has_value = true;
    r->value = (double)code;
    status_ok = json_array_size(want) ? false : code >= 200 && code < 300;
    json_array_foreach (want, i, v)
        if (json_integer_value(v) == code)
            status_ok = true;
    if (!status_ok) {
        snprintf(r->detail, sizeof r->detail, "HTTP status %ld", code);
        return;
    }
    if (st->has_re && regexec(&st->re, st->body, 0, NULL, 0)) {
        snprintf(r->detail, sizeof r->detail, "body does not match: %.100s", st->body);
        return;
    }
    snprintf(r->detail, sizeof r->detail, "HTTP %ld", code);
    r->ok = true;
}

const struct fl_probe_ops fl_probe_http = {
    .kind = "http",
    .summary = "an HTTP request: expected status, optional body regex",
    .opts = http_opts,
    .validate = http_validate,
    .open = http_open,
    .sample = http_sample,
    .close = http_close,
};
