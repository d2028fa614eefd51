/* prometheus: an instant query (GET URL/api/v1/query?query=...); ok when
 * Prometheus answers "success" with at least one sample. The value is the
 * first sample's number, so numeric tolerances (min/max/equals) judge it:
 *
 *   - {name: errors, type: prometheus, url: http://127.0.0.1:9090,
 *      query: 'sum(rate(http_errors_total[30s]))', tolerance: {max: 0.5}} */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/curl.h"
#include "probes/probe.h"

static const struct fl_opt prom_opts[] = {
    {"url", FL_OPT_STRING, FL_OPT_REQUIRED, "URL",
     "the Prometheus server: http://HOST:9090 (the probe adds /api/v1/query)", NULL, 0, 0},
    {"query", FL_OPT_STRING, FL_OPT_REQUIRED, "PROMQL", "an instant query yielding a number", NULL,
     0, 0},
    FL_OPT_END,
};

struct prom_state {
    CURL *curl;
    char *url;
    char body[65536];
    size_t used;
    bool overflow;
};

static int prom_validate(const json_t *params, struct fl_err *e)
{
    return fl_probe_check_url(fl_param_str(params, "url", ""), e);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct prom_state *st = ud;
    size_t n = size * nmemb, room = sizeof st->body - 1 - st->used;

    if (n > room) {
        st->overflow = true;
        n = room;
    }
    memcpy(st->body + st->used, ptr, n);
    st->used += n;
    st->body[st->used] = '\0';
    return size * nmemb;
}

static int prom_open(struct fl_probe *p, struct fl_err *e)
{
    struct prom_state *st = calloc(1, sizeof *st);
    const char *base = fl_param_str(p->params, "url", "");
    size_t blen = strlen(base);
    char *q;

    if (!st)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (!(st->curl = fl_probe_curl_new(p, "", on_body, st, e))) {
        free(st);
        return -e->code;
    }
    q = curl_easy_escape(st->curl, fl_param_str(p->params, "query", ""), 0);
    while (blen && base[blen - 1] == '/')
        blen--;
    if (!q || asprintf(&st->url, "%.*s/api/v1/query?query=%s", (int)blen, base, q) < 0)
        st->url = NULL;
    curl_free(q);
    if (!st->url) {
        curl_easy_cleanup(st->curl);
        free(st);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    curl_easy_setopt(st->curl, CURLOPT_URL, st->url);
    p->state = st;
    return 0;
}

static void prom_close(struct fl_probe *p)
{
    struct prom_state *st = p->state;

    if (!st)
        return;
    curl_easy_cleanup(st->curl);
    free(st->url);
    free(st);
    p->state = NULL;
}

/* The number in a Prometheus [time, "value"] pair. */
static bool pair_value(const json_t *pair, double *out)
{
    const char *s = json_string_value(json_array_get(pair, 1));
    char *end;

    if (!s)
        return false;
    *out = strtod(s, &end); /* also "NaN", "+Inf" */
    return end != s && !*end;
}

/* Parse a /api/v1/query answer; fills r. Pure, for testing. */
void fl_probe_prometheus_parse(const char *body, struct fl_probe_result *r);

void fl_probe_prometheus_parse(const char *body, struct fl_probe_result *r)
{
    json_error_t je;
    json_t *doc = json_loads(body, 0, &je), *data, *res;
    const char *status, *type;
    double v;

    if (!doc) {
        snprintf(r->detail, sizeof r->detail, "not a Prometheus answer: %s", je.text);
        return;
    }
    status = json_string_value(json_object_get(doc, "status"));
    data = json_object_get(doc, "data");
    type = json_string_value(json_object_get(data, "resultType"));
    res = json_object_get(data, "result");
    if (!status || strcmp(status, "success")) {
        snprintf(r->detail, sizeof r->detail, "query failed: %s",
                 json_string_value(json_object_get(doc, "error"))
                     ? json_string_value(json_object_get(doc, "error"))
                     : "no status");
    } else if (type && (!strcmp(type, "scalar") || !strcmp(type, "string"))) {
        if (pair_value(res, &v)) {
            r->ok = r->has_value = true;
            r->value = v;
            snprintf(r->detail, sizeof r->detail, "%g", v);
        } else {
            snprintf(r->detail, sizeof r->detail, "the %s result is not a number", type);
        }
    } else if (type && !strcmp(type, "vector")) {
        if (!json_array_size(res))
            snprintf(r->detail, sizeof r->detail, "the query returned no samples");
        else if (!pair_value(json_object_get(json_array_get(res, 0), "value"), &v))
            snprintf(r->detail, sizeof r->detail, "the first sample is not a number");
        else {
            r->ok = r->has_value = true;
            r->value = v;
            snprintf(r->detail, sizeof r->detail, "%g (%zu series)", v, json_array_size(res));
        }
    } else {
        snprintf(r->detail, sizeof r->detail,
                 "unsupported result type %s: use an instant "
                 "query that yields a vector or scalar",
                 type ? type : "(none)");
    }
    json_decref(doc);
}

static void prom_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    struct prom_state *st = p->state;
    long code = 0;
    CURLcode cc;

    st->used = 0;
    st->overflow = false;
    st->body[0] = '\0';
    cc = curl_easy_perform(st->curl);
    if (cc != CURLE_OK) {
        snprintf(r->detail, sizeof r->detail, "%s", curl_easy_strerror(cc));
        return;
    }
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    if (st->overflow) {
        snprintf(r->detail, sizeof r->detail, "answer larger than 64KiB: aggregate the query");
        return;
    }
    if (code != 200 && code != 400 && code != 422) {
        snprintf(r->detail, sizeof r->detail, "HTTP status %ld", code);
        return;
    }
    fl_probe_prometheus_parse(st->body, r);
}

const struct fl_probe_ops fl_probe_prometheus = {
    .kind = "prometheus",
    .summary = "a Prometheus instant query; the value is its first sample",
    .opts = prom_opts,
    .validate = prom_validate,
    .open = prom_open,
    .sample = prom_sample,
    .close = prom_close,
};
