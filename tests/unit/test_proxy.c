/* The proxy's pure parts: toxic attribute parsing and defaults, the API's
 * JSON shapes and status codes (driven without sockets, dry mode), and the
 * timer heap. Live traffic is tested end to end in tests/e2e/test_proxy.py. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/heap.h"
#include "proxy/proxy.h"
#include "proxy/px.h"
#include "proxy/toxic.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    cr_assert(j, "bad test JSON: %s", s);
    return j;
}

static int parse_toxic(const char *s, struct fl_px_toxic *t)
{
    char msg[256];
    json_t *j = J(s);
    int st = fl_px_toxic_parse(j, NULL, t, msg, sizeof msg);
    json_decref(j);
    return st;
}

Test(toxic, defaults)
{
    struct fl_px_toxic t;
    cr_assert_eq(parse_toxic("{\"type\":\"latency\"}", &t), 0);
    cr_assert_str_eq(t.name, "latency_downstream");
    cr_assert_eq(t.stream, 1);
    cr_assert_float_eq(t.toxicity, 1.0, 1e-9);
    cr_assert_eq(t.attr[0], 0);
    cr_assert_eq(t.attr[1], 0);
    free(t.name);

    cr_assert_eq(parse_toxic("{\"type\":\"slicer\",\"stream\":\"upstream\",\"toxicity\":0,"
                             "\"attributes\":{\"average_size\":10,\"delay\":5}}",
                             &t),
                 0);
    cr_assert_str_eq(t.name, "slicer_upstream");
    cr_assert_eq(t.stream, 0);
    cr_assert_float_eq(t.toxicity, 0.0, 1e-9);
    cr_assert_eq(t.attr[0], 10);
    cr_assert_eq(t.attr[1], 0);
    cr_assert_eq(t.attr[2], 5);
    free(t.name);
}

Test(toxic, every_type_registered)
{
    const char *types[] = {"latency",    "bandwidth", "slow_close", "timeout",
                           "reset_peer", "slicer",    "limit_data"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        cr_assert(fl_px_toxic_lookup(types[i]), "%s", types[i]);
    cr_assert_null(fl_px_toxic_lookup("nope"));
    cr_assert_null(fl_px_toxic_lookup(NULL));
}

Test(toxic, bad_input)
{
    struct fl_px_toxic t;
    const char *bad[] = {
        "{}",
        "{\"type\":\"nope\"}",
        "{\"type\":\"latency\",\"stream\":\"sideways\"}",
        "{\"type\":\"latency\",\"toxicity\":1.5}",
        "{\"type\":\"latency\",\"toxicity\":\"x\"}",
        "{\"type\":\"latency\",\"attributes\":{\"latency\":-1}}",
        "{\"type\":\"latency\",\"attributes\":{\"latency\":1.5}}",
        "{\"type\":\"latency\",\"attributes\":[]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse_toxic(bad[i], &t), 400, "%s", bad[i]);
        free(t.name);
    }
}

Test(toxic, update_merges)
{
    struct fl_px_toxic base, t;
    char msg[256];
    json_t *j;

    cr_assert_eq(parse_toxic("{\"type\":\"latency\",\"name\":\"l\",\"toxicity\":0.5,"
                             "\"attributes\":{\"latency\":100,\"jitter\":10}}",
                             &base),
                 0);
    j = J("{\"attributes\":{\"latency\":200}}");
    cr_assert_eq(fl_px_toxic_parse(j, &base, &t, msg, sizeof msg), 0);
    json_decref(j);
    cr_assert_str_eq(t.name, "l");
    cr_assert_eq(t.attr[0], 200);
    cr_assert_eq(t.attr[1], 10);
    cr_assert_float_eq(t.toxicity, 0.5, 1e-9);
    free(t.name);
    free(base.name);
}

/* ---- API, dry mode ---- */

static struct fl_px_server *srv;

static void setup(void)
{
    struct fl_px_options o = {NULL, NULL, true};
    struct fl_err e = {0};
    srv = fl_px_server_new(&o, &e);
    cr_assert(srv);
}

static void teardown(void)
{
    fl_px_server_free(srv);
}

static int call(const char *m, const char *path, const char *body, json_t **out)
{
    char *o = NULL;
    const char *ct;
    int st = fl_px_api_handle(srv, m, path, body, body ? strlen(body) : 0, &o, &ct);
    if (out)
        *out = o ? json_loads(o, JSON_DECODE_ANY, NULL) : NULL;
    free(o);
    return st;
}

TestSuite(api, .init = setup, .fini = teardown);

Test(api, proxy_lifecycle)
{
    json_t *j;

    cr_assert_eq(call("POST", "/proxies", "{\"name\":\"a\",\"upstream\":\"127.0.0.1:1\"}", &j),
                 201);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "a");
    cr_assert(json_is_true(json_object_get(j, "enabled")));
    cr_assert_eq(json_array_size(json_object_get(j, "toxics")), 0);
    cr_assert(json_is_string(json_object_get(j, "listen")));
    json_decref(j);

    cr_assert_eq(call("POST", "/proxies", "{\"name\":\"a\",\"upstream\":\"127.0.0.1:1\"}", &j),
                 409);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 409);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "proxy already exists");
    json_decref(j);

    cr_assert_eq(call("GET", "/proxies/nope", NULL, &j), 404);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "proxy not found");
    json_decref(j);

    cr_assert_eq(call("POST", "/proxies", "{\"name\":\"b\"}", NULL), 400);
    cr_assert_eq(call("POST", "/proxies", "{\"upstream\":\"x:1\"}", NULL), 400);
    cr_assert_eq(call("POST", "/proxies", "not json", NULL), 400);

    cr_assert_eq(call("POST", "/proxies/a", "{\"enabled\":false}", &j), 200);
    cr_assert(json_is_false(json_object_get(j, "enabled")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "upstream")), "127.0.0.1:1");
    json_decref(j);

    cr_assert_eq(call("GET", "/proxies", NULL, &j), 200);
    cr_assert(json_is_object(json_object_get(j, "a")));
    json_decref(j);

    cr_assert_eq(call("DELETE", "/proxies/a", NULL, &j), 204);
    cr_assert_null(j);
    cr_assert_eq(call("DELETE", "/proxies/a", NULL, NULL), 404);
}

Test(api, toxics)
{
    json_t *j;

    call("POST", "/proxies", "{\"name\":\"p\",\"upstream\":\"127.0.0.1:1\"}", NULL);
    cr_assert_eq(call("POST", "/proxies/p/toxics",
                      "{\"type\":\"latency\",\"attributes\":{\"latency\":100}}", &j),
                 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "latency_downstream");
    cr_assert_str_eq(json_string_value(json_object_get(j, "stream")), "downstream");
    cr_assert_float_eq(json_number_value(json_object_get(j, "toxicity")), 1.0, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "attributes"), "jitter")),
                 0);
    json_decref(j);
    cr_assert_eq(call("POST", "/proxies/p/toxics", "{\"type\":\"latency\"}", NULL), 409);
    cr_assert_eq(call("POST", "/proxies/p/toxics", "{\"type\":\"bogus\"}", NULL), 400);
    cr_assert_eq(call("POST", "/proxies/x/toxics", "{\"type\":\"latency\"}", NULL), 404);

    cr_assert_eq(call("PATCH", "/proxies/p/toxics/latency_downstream",
                      "{\"attributes\":{\"jitter\":5}}", &j),
                 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "attributes"), "latency")),
                 100);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "attributes"), "jitter")),
                 5);
    json_decref(j);

    cr_assert_eq(call("GET", "/proxies/p/toxics", NULL, &j), 200);
    cr_assert_eq(json_array_size(j), 1);
    json_decref(j);
    cr_assert_eq(call("GET", "/proxies/p/toxics/nope", NULL, &j), 404);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "toxic not found");
    json_decref(j);

    cr_assert_eq(call("POST", "/reset", NULL, NULL), 204);
    cr_assert_eq(call("GET", "/proxies/p/toxics", NULL, &j), 200);
    cr_assert_eq(json_array_size(j), 0);
    json_decref(j);

    cr_assert_eq(call("POST", "/proxies/p/toxics", "{\"type\":\"timeout\",\"name\":\"t\"}", NULL),
                 200);
    cr_assert_eq(call("DELETE", "/proxies/p/toxics/t", NULL, NULL), 204);
}

Test(api, populate_version_metrics)
{
    json_t *j;

    cr_assert_eq(call("POST", "/populate",
                      "[{\"name\":\"a\",\"upstream\":\"127.0.0.1:1\"},"
                      "{\"name\":\"b\",\"upstream\":\"127.0.0.1:2\",\"enabled\":false}]",
                      &j),
                 201);
    cr_assert_eq(json_array_size(json_object_get(j, "proxies")), 2);
    json_decref(j);
    cr_assert_eq(call("POST", "/populate", "[{\"name\":\"c\"}]", NULL), 400);
    cr_assert_eq(call("POST", "/populate", "{\"name\":\"c\"}", NULL), 400);
    cr_assert_eq(call("GET", "/version", NULL, &j), 200);
    cr_assert(json_is_string(json_object_get(j, "version")));
    json_decref(j);
    cr_assert_eq(call("GET", "/metrics", NULL, NULL), 200);
    cr_assert_eq(call("GET", "/nope", NULL, NULL), 404);
}

/* ---- timer heap ---- */

Test(heap, orders_cancels_rearms)
{
    struct fl_px_heap h;
    struct fl_px_timer t[100];
    int64_t last = -1;
    size_t n = 0;

    fl_px_heap_init(&h);
    srand(7);
    for (int i = 0; i < 100; i++) {
        fl_px_timer_init(&t[i], NULL, NULL);
        cr_assert_eq(fl_px_heap_arm(&h, &t[i], rand() % 1000), 0);
    }
    for (int i = 0; i < 100; i += 3)
        fl_px_heap_cancel(&h, &t[i]);
    fl_px_heap_cancel(&h, &t[0]); /* twice: a no-op */
    for (int i = 1; i < 100; i += 3)
        fl_px_heap_arm(&h, &t[i], rand() % 1000);
    cr_assert_null(fl_px_heap_pop_due(&h, -1));
    for (struct fl_px_timer *x; (x = fl_px_heap_pop_due(&h, 1000));) {
        cr_assert_geq(x->when, last);
        cr_assert(!fl_px_timer_armed(x));
        last = x->when;
        n++;
    }
    cr_assert_eq(n, 100 - 34);
    fl_px_heap_fini(&h);
}
