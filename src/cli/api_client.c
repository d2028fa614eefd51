/* The HTTP client of `faultline experiment` and `faultline schedule`: one
 * JSON request to the server's API (libcurl), the server's URL from
 * --server / $FAULTLINE_SERVER and a bearer token from --token /
 * $FAULTLINE_TOKEN; $FAULTLINE_CACERT names a CA file to trust for an
 * https:// server with its own certificate. An API error becomes an exit code (docs/server.md). */
#include "cli/api_client.h"

#include <curl/curl.h>
#include <errno.h>
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
    static const char *const names[] = {"--server", "--token", "--token-file"};
    const char **dest[] = {&c->server, &c->token, &c->token_file};
    const char *a = argv[*i];

    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(a, names[k], n) || (a[n] && a[n] != '='))
            continue;
        if (a[n] == '=') {
            *dest[k] = a + n + 1;
            return 1;
        }
        if (*i + 1 >= argc) {
            fprintf(stderr, "faultline: error: %s needs a value\n", a);
            return -1;
        }
        *dest[k] = argv[++*i];
        return 1;
    }
    return 0;
}

const char *fl_cli_server_url(const struct fl_cli_client *c)
{
    const char *server = c->server ? c->server : getenv("FAULTLINE_SERVER");

    return server && *server ? server : FL_CLI_DEFAULT_SERVER;
}

/* The bearer token: --token, --token-file, $FAULTLINE_TOKEN,
 * $FAULTLINE_TOKEN_FILE (a file's first line); NULL for none, and -1 in
 * *bad when a token file cannot be read (message printed). */
static const char *token_of(const struct fl_cli_client *c, char *buf, size_t len, int *bad)
{
    const char *file = c->token_file, *env = getenv("FAULTLINE_TOKEN");
    FILE *f;

    *bad = 0;
    if (c->token)
        return c->token;
    if (!file && env && *env)
        return env;
    if (!file && !(file = getenv("FAULTLINE_TOKEN_FILE")))
        return NULL;
    if (!*file)
        return NULL;
    if (!(f = fopen(file, "re")) || !fgets(buf, (int)len, f)) {
        fprintf(stderr,
                "faultline: error: cannot read the token file %s: %s (--token-file or "
                "FAULTLINE_TOKEN_FILE; its first line is the token)\n",
                file, f ? "it is empty" : strerror(errno));
        if (f)
            fclose(f);
        *bad = -1;
        return NULL;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

/* One request; the reply's text in *out (malloc'd, may be NULL). */
static int perform(struct fl_cli_client *c, const char *method, const char *path, json_t *body,
                   char **out)
{
    const char *server = fl_cli_server_url(c);
    char tokbuf[512];
    int bad;
    const char *token = token_of(c, tokbuf, sizeof tokbuf, &bad);
    struct curl_slist *h = NULL;
    struct buf b = {0};
    char *url = NULL, *data = NULL, auth[1024];
    long status = 0;
    CURLcode cc;
    CURL *curl;

    *out = NULL;
    if (bad)
        return -1;
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

static int api_fail(const char *server, int status, json_t *reply)
{
    json_t *err = json_object_get(reply, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));

    if (status < 0)
        return FL_EFAIL;
    fprintf(stderr, "faultline: error: %s%s%s (HTTP %d)\n", server ? "server " : "",
            server ? server : "", msg ? msg : "unexpected reply", status);
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

int fl_cli_api_fail(int status, json_t *reply)
{
    return api_fail(NULL, status, reply);
}

int fl_cli_api_fail_at(const struct fl_cli_client *c, int status, json_t *reply)
{
    char who[600];

    snprintf(who, sizeof who, "%s: ", fl_cli_server_url(c));
    return api_fail(who, status, reply);
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
