/* Fuzz the HTTP fault engine (src/proxy/http.c) the way a connection drives
 * it: the input is cut into pieces, each fed from the client or the server
 * side (the first byte of a piece says which and how long), under rules that
 * answer, delay, rewrite and patch; the queued output is drained as a socket
 * would. Checks that the queues stay bounded and every segment's bytes
 * exist. */
#include <stdint.h>
#include <stdlib.h>

#include "proxy/http.h"

static double draw(void)
{
    return 0.25;
}

static struct fl_http_rule *rule(const char *json)
{
    char msg[256];
    struct fl_http_rule *r;
    json_t *a = json_loads(json, 0, NULL);

    if (!a || fl_http_rule_parse(a, &r, msg, sizeof msg))
        abort();
    json_decref(a);
    return r;
}

static void drain(struct fl_http_conn *c)
{
    for (int d = 0; d < 2; d++) {
        struct fl_http_out *o = fl_http_conn_out(c, d);
        size_t sum = 0;
        for (size_t i = 0; i < o->sn; i++)
            sum += o->seg[o->sh + i].len;
        if (sum != o->len || o->len > 4 * FL_HTTP_OUT_MAX)
            abort();
        fl_http_out_consume(o, o->len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fl_http_active rules[4];
    struct fl_http_conn *c;

    if (!rules[0].rule) {
        rules[0] = (struct fl_http_active){
            rule("{\"path\": \"/api/*\", \"status\": 503, \"set_headers\": {\"A\": \"b\"}}"), 1};
        rules[1] = (struct fl_http_active){
            rule("{\"path_regex\": \"^/r\", \"body\": \"new\", \"set_headers\": {\"Content-Type\": "
                 "\"x\"}}"),
            0.5f};
        rules[2] = (struct fl_http_active){
            rule("{\"header\": \"X-A: b*\", \"method\": \"POST\", \"delay\": 5}"), 1};
    }
    if (!rules[3].rule)
        rules[3] = (struct fl_http_active){
            rule("{\"path\": \"/p*\", \"patch\": {\"find\": \"a\", \"replace\": \"xyz\"}}"), 1};
    if (!(c = fl_http_conn_new()))
        return 0;
    while (size) {
        int dir = data[0] & 1;
        size_t n = (size_t)(data[0] >> 1) * 4 + 1, space = fl_http_conn_space(c, dir);
        data++, size--;
        if (n > size)
            n = size;
        if (n > space)
            n = space;
        if (fl_http_conn_feed(c, dir, (const char *)data, n, 1000, rules, 4, draw))
            break;
        data += n, size -= n;
        if (fl_http_conn_space(c, dir) == 0 || (size && data[0] == 0xff))
            drain(c);
    }
    fl_http_conn_eof(c, 1, 2000);
    fl_http_conn_eof(c, 0, 2000);
    drain(c);
    fl_http_conn_free(c);
    return 0;
}
