/* The HTTP client of `faultline experiment` and `faultline schedule`: one
 * JSON request to the server's API (libcurl), the server's URL from
 * --server / $FAULTLINE_SERVER and a bearer token from --token /
 * $FAULTLINE_TOKEN; $FAULTLINE_CACERT names a CA file to trust for an
 * https:// server with its own certificate. An API error becomes an exit code (docs/server.md). */
#include "cli/api_client.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define MAX_REPLY (16 << 20)

struct buf {
    char *p;
    size_t len;
    bool overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    char *np;

    if (b->len + n > MAX_REPLY) {
        b->overflow = true;
        return 0;
    }
    if (!(np = realloc(b->p, b->len + n + 1)))
        return 0;
    b->p = np;
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

int fl_cli_client_opt(struct fl_cli_client *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];

    if (strcmp(a, "--server") && strcmp(a, "--token"))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "faultline: error: %s needs a value\n", a);
        return -1;
    }
    if (!strcmp(a, "--server"))
        c->server = argv[++*i];
    else
        c->token = argv[++*i];
    return 1;
}

/* One request; the reply's text in *out (malloc'd, may be NULL). */
static int perform(struct fl_cli_client *c, const char *method, const char *path, json_t *body,
                   char **out)
{
    const char *server = c->server ? c->server : getenv("FAULTLINE_SERVER");
    const char *token = c->token ? c->token : getenv("FAULTLINE_TOKEN");
    struct curl_slist *h = NULL;
    struct buf b = {0};
    char *url = NULL, *data = NULL, auth[1024];
    long status = 0;
    CURLcode cc;
    CURL *curl;

    *out = NULL;
    if (!server || !*server)
        server = FL_CLI_DEFAULT_SERVER;
    if (asprintf(&url, "%s%s", server, path) < 0 || !(curl = curl_easy_init())) {
        free(url);
        fprintf(stderr, "faultline: error: out of memory\n");
        return -1;
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    if (getenv("FAULTLINE_CACERT") && *getenv("FAULTLINE_CACERT"))
        curl_easy_setopt(curl, CURLOPT_CAINFO, getenv("FAULTLINE_CACERT"));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    if (body) {
        data = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data ? data : "{}");
    }
    cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(h);
    free(data);
    if (cc != CURLE_OK) {
        fprintf(stderr,
                "faultline: error: cannot reach the server at %s: %s (is `faultline server` "
                "running? set --server or FAULTLINE_SERVER)\n",
                server, b.overflow ? "reply larger than 16 MiB" : curl_easy_strerror(cc));
        free(url);
        free(b.p);
        return -1;
    }
    free(url);
    *out = b.p;
    return (int)status;
}

int fl_cli_api(struct fl_cli_client *c, const char *method, const char *path, json_t *body,
               json_t **out)
{
    char *text = NULL;
    int st = perform(c, method, path, body, &text);

    *out = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return st;
}

int fl_cli_api_text(struct fl_cli_client *c, const char *path, char **out)
{
    int st = perform(c, "GET", path, NULL, out);

    if (st >= 0 && st != 200) {
        json_t *reply = *out ? json_loads(*out, 0, NULL) : NULL;
        fl_cli_api_fail(st, reply);
        json_decref(reply);
    }
    return st;
}

char *fl_cli_url_escape(const char *s)
{
    CURL *curl = curl_easy_init();
    char *esc = curl ? curl_easy_escape(curl, s, 0) : NULL, *out = esc ? strdup(esc) : NULL;

    curl_free(esc);
    if (curl)
        curl_easy_cleanup(curl);
    return out;
}

int fl_cli_api_fail(int status, json_t *reply)
{
    json_t *err = json_object_get(reply, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));

    if (status < 0)
        return FL_EFAIL;
    fprintf(stderr, "faultline: error: %s (HTTP %d)\n", msg ? msg : "unexpected reply", status);
    switch (status) {
    case 400:
    case 413:
    case 422:
        return FL_EUSAGE;
    case 404:
        return FL_ENOTARGET;
    case 409:
        return FL_EREFUSED;
    case 401:
    case 403:
        return FL_EPERM;
    default:
        return FL_EFAIL;
    }
}

void fl_cli_format_ms(json_t *ms, char *buf, size_t len)
{
    void fl_cli_format_time(long long ms, char *buf, size_t len);

    if (json_is_integer(ms) && json_integer_value(ms) >= 0)
        fl_cli_format_time(json_integer_value(ms), buf, len);
    else
        snprintf(buf, len, "-");
}

int fl_cli_name_check(const char *what, const char *name)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.')) {
            fprintf(stderr,
                    "faultline: error: %s name '%s': use letters, digits, '-', '_' or '.'\n", what,
                    name);
            return FL_EUSAGE;
        }
    return 0;
}
