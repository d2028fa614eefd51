/* The HTTP fault engine (src/proxy/http.c) and the http toxic's rules
 * (src/proxy/toxics/http.c), without sockets: each case feeds a client's
 * bytes and a server's bytes (whole, then byte by byte, which must give the
 * same result) and compares what each side would receive. Live traffic is
 * tested in tests/e2e/test_http_fault.py. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http.h"

static double draw_half(void)
{
    return 0.5;
}

struct hcase {
    const char *name, *rules; /* JSON array of rule attributes */
    float toxicity;
    const char *client, *server, *to_server, *to_client;
};

#define ANS(code, reason, len, body)                                                               \
    "HTTP/1.1 " code " " reason "\r\nContent-Type: text/plain\r\nContent-Length: " len             \
    "\r\nX-Faultline: http.fault\r\n\r\n" body

static const struct hcase cases[] = {
    {"no rule matches: bytes unchanged", "[{\"path\": \"/api/*\", \"status\": 503}]", 1,
     "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
    {"answer in its turn among pipelined requests", "[{\"path\": \"/api/*\", \"status\": 503}]", 1,
     "GET /a HTTP/1.1\r\n\r\nPOST /api/x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b "
     "HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB",
     "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA" ANS(
         "503", "Service Unavailable", "29",
         "faultline: injected HTTP 503\n") "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB"},
    {"toxicity drawn per request: 0.5 < 0.6 applies", "[{\"status\": 418, \"body\": \"t\"}]", 0.6f,
     "GET / HTTP/1.1\r\n\r\n", "", "", ANS("418", "Injected", "1", "t")},
    {"toxicity drawn per request: 0.5 >= 0.4 does not", "[{\"status\": 418}]", 0.4f,
     "GET / HTTP/1.1\r\n\r\n", "", "GET / HTTP/1.1\r\n\r\n", ""},
    {"chunked response body replaced, headers set",
     "[{\"method\": \"GET\", \"body\": \"new\", \"set_headers\": {\"x-a\": \"1\"}}]", 1,
     "GET /r HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nX-A: 0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     "GET /r HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 3\r\n\r\nnew"},
    {"body patched, length recomputed", "[{\"patch\": {\"find\": \"b\", \"replace\": \"XY\"}}]", 1,
     "GET /r HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcb",
     "GET /r HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\naXYcXY"},
    {"header match with a value glob", "[{\"header\": \"x-user: t*\", \"status\": 500}]", 1,
     "GET / HTTP/1.1\r\nX-User: alice\r\n\r\nGET / HTTP/1.1\r\nX-User: tom\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET / HTTP/1.1\r\nX-User: alice\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" ANS("500", "Internal Server Error", "29",
                                                        "faultline: injected HTTP 500\n")},
    {"not HTTP: passed unchanged", "[{\"status\": 503}]", 1, "\x16\x03\x01 hello\r\n\r\n",
     "\x16\x03\x03 world", "\x16\x03\x01 hello\r\n\r\n", "\x16\x03\x03 world"},
    {"HEAD response keeps no body", "[{\"body\": \"xyz\"}]", 1, "HEAD / HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD / HTTP/1.1\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"},
};

static char *drain(struct fl_http_conn *c, int dir, char *acc, size_t *len)
{
    struct fl_http_out *o = fl_http_conn_out(c, dir);

    acc = realloc(acc, *len + o->len + 1);
    cr_assert(acc);
    if (o->len)
        memcpy(acc + *len, o->buf + o->off, o->len);
    *len += o->len;
    acc[*len] = 0;
    fl_http_out_consume(o, o->len);
    return acc;
}

static void run(const struct hcase *k, size_t step)
{
    json_t *arr = json_loads(k->rules, 0, NULL), *v;
    struct fl_http_active act[4];
    struct fl_http_conn *c = fl_http_conn_new();
    char *out[2] = {NULL, NULL}, msg[256];
    size_t n = 0, olen[2] = {0, 0}, i;

    cr_assert(arr && c);
    json_array_foreach (arr, i, v) {
        struct fl_http_rule *r;
        cr_assert_eq(fl_http_rule_parse(v, &r, msg, sizeof msg), 0, "%s: %s", k->name, msg);
        act[n++] = (struct fl_http_active){r, k->toxicity};
    }
    for (int side = 0; side < 2; side++) {
        const char *p = side ? k->server : k->client;
        for (size_t off = 0, len = strlen(p); off < len; off += step) {
            size_t m = step < len - off ? step : len - off;
            cr_assert_eq(fl_http_conn_feed(c, side, p + off, m, 0, act, n, draw_half), 0);
        }
        out[0] = drain(c, 0, out[0], &olen[0]);
    }
    cr_assert_eq(fl_http_conn_eof(c, 1, 0), 0);
    out[1] = drain(c, 1, out[1], &olen[1]);
    out[0] = drain(c, 0, out[0], &olen[0]);
    cr_expect_str_eq(out[0], k->to_server, "%s (step %zu): to the server", k->name, step);
    cr_expect_str_eq(out[1], k->to_client, "%s (step %zu): to the client", k->name, step);
    for (i = 0; i < n; i++)
        fl_http_rule_free((struct fl_http_rule *)act[i].rule);
    free(out[0]);
    free(out[1]);
    fl_http_conn_free(c);
    json_decref(arr);
}

Test(http, cases_whole_and_byte_by_byte)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run(&cases[i], 100000);
        run(&cases[i], 1);
    }
}

Test(http, rule_errors_say_what)
{
    static const char *const bad[][2] = {
        {"{\"status\": 99}", "status"},
        {"{\"path_regex\": \"([\"}", "path_regex"},
        {"{\"header\": \"a b\"}", "header"},
        {"{\"set_headers\": {\"X\": \"a\\r\\nB: c\"}}", "set_headers"},
        {"{\"patch\": {\"find\": \"\", \"replace\": \"x\"}}", "patch"},
        {"{\"body\": \"x\", \"patch\": {\"find\": \"a\", \"replace\": \"b\"}}", "exclude"},
        {"{\"colour\": 1}", "no attribute 'colour'"},
        {"{\"delay\": -1}", "delay"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char msg[256] = "";
        struct fl_http_rule *r = (void *)1;
        json_t *a = json_loads(bad[i][0], 0, NULL);
        cr_assert(a);
        cr_expect_eq(fl_http_rule_parse(a, &r, msg, sizeof msg), 400, "%s", bad[i][0]);
        cr_expect_null(r);
        cr_expect(strstr(msg, bad[i][1]), "%s: %s", bad[i][0], msg);
        json_decref(a);
    }
}
