/* The proxy's pure parts: toxic attribute parsing and defaults, the API's
 * JSON shapes and status codes (driven without sockets, dry mode), and the
 * timer heap. Live traffic is tested end to end in tests/e2e/test_proxy.py. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fl_config.h"
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
                           "reset_peer", "slicer",    "limit_data", "noop"};
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
        "{\"type\":5}",
        "{\"type\":\"latency\",\"stream\":\"sideways\"}",
        "{\"type\":\"latency\",\"stream\":\"\"}",
        "{\"type\":\"latency\",\"toxicity\":\"x\"}",
        "{\"type\":\"latency\",\"toxicity\":1e300}",
        "{\"type\":\"latency\",\"attributes\":{\"latency\":1.5}}",
        "{\"type\":\"latency\",\"attributes\":{\"latency\":\"5\"}}",
        "{\"type\":\"latency\",\"attributes\":[]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse_toxic(bad[i], &t), 400, "%s", bad[i]);
        free(t.name);
    }
}

/* Issue 9 §2: a misspelled attribute used to be ignored (no latency at all)
 * and 2^63-1 ms overflowed into no delay (UBSan: signed overflow). */
Test(toxic, unknown_and_overflowing_attributes_refused)
{
    struct fl_px_toxic t;
    char msg[256];
    const char *bad[] = {
        "{\"type\":\"latency\",\"attributes\":{\"latencyy\":100}}",
        "{\"type\":\"noop\",\"attributes\":{\"latency\":100}}",
        "{\"type\":\"latency\",\"attributes\":{\"latency\":9223372036854775807}}",
        "{\"type\":\"latency\",\"attributes\":{\"jitter\":-9223372036854775807}}",
        "{\"type\":\"timeout\",\"attributes\":{\"timeout\":1000000000001}}",
        "{\"type\":\"reset_peer\",\"attributes\":{\"timeout\":9223372036854775807}}",
        "{\"type\":\"slicer\",\"attributes\":{\"delay\":9223372036854775807}}",
        "{\"type\":\"bandwidth\",\"attributes\":{\"rate\":9223372036854775807}}",
        "{\"type\":\"slow_close\",\"attributes\":{\"delay\":-1000000000001}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = J(bad[i]);
        cr_assert_eq(fl_px_toxic_parse(j, NULL, &t, msg, sizeof msg), 400, "%s", bad[i]);
        json_decref(j);
        free(t.name);
    }
    cr_assert_eq(parse_toxic("{\"type\":\"latency\",\"attributes\":{\"latencyy\":1}}", &t), 400);
    free(t.name);
    {
        json_t *j = J("{\"type\":\"latency\",\"attributes\":{\"latencyy\":1}}");
        fl_px_toxic_parse(j, NULL, &t, msg, sizeof msg);
        json_decref(j);
        free(t.name);
        cr_assert(strstr(msg, "'latencyy'") && strstr(msg, "latency, jitter"), "%s", msg);
    }
    /* the bound itself is fine, and limit_data's bytes take any int64 */
    cr_assert_eq(
        parse_toxic("{\"type\":\"latency\",\"attributes\":{\"latency\":1000000000000}}", &t), 0);
    free(t.name);
    cr_assert_eq(
        parse_toxic("{\"type\":\"limit_data\",\"attributes\":{\"bytes\":9223372036854775807}}", &t),
        0);
    cr_assert_eq(t.attr[0], INT64_MAX);
    free(t.name);
}

/* Issue 9 §7: what Toxiproxy accepts, faultline accepts. */
Test(toxic, toxiproxy_leniency)
{
    struct fl_px_toxic t;

    cr_assert_eq(parse_toxic("{\"type\":\"latency\",\"stream\":\"UpStream\",\"toxicity\":1.5,"
                             "\"attributes\":{\"latency\":-5,\"jitter\":null}}",
                             &t),
                 0);
    cr_assert_eq(t.stream, 0);
    cr_assert_str_eq(t.stream_name, "UpStream");
    cr_assert_str_eq(t.name, "latency_UpStream");
    cr_assert_float_eq(t.toxicity, 1.5, 1e-6);
    cr_assert_eq(t.attr[0], -5);
    cr_assert_eq(t.attr[1], 0);
    free(t.name);
    cr_assert_eq(
        parse_toxic("{\"type\":\"noop\",\"toxicity\":-1,\"name\":null,\"stream\":null}", &t), 0);
    cr_assert_str_eq(t.name, "noop_downstream");
    cr_assert_float_eq(t.toxicity, -1.0, 1e-6);
    free(t.name);
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

/* The body and Content-Type exactly as the API writes them. */
static int call_raw(const char *m, const char *path, const char *body, char **out, const char **ct)
{
    return fl_px_api_handle(srv, m, path, body, body ? strlen(body) : 0, out, ct);
}

#define ASSERT_RAW(m, path, body, status, ctype, text)                                             \
    do {                                                                                           \
        char *o_ = NULL;                                                                           \
        const char *ct_ = NULL;                                                                    \
        cr_assert_eq(call_raw(m, path, body, &o_, &ct_), status, "%s %s", m, path);                \
        if (ctype)                                                                                 \
            cr_assert_str_eq(ct_ ? ct_ : "(none)", (const char *)(ctype), "%s %s", m, path);       \
        else                                                                                       \
            cr_assert_null(ct_, "%s %s: %s", m, path, ct_);                                        \
        cr_assert_str_eq(o_ ? o_ : "", text, "%s %s", m, path);                                    \
        free(o_);                                                                                  \
    } while (0)

TestSuite(api, .init = setup, .fini = teardown);

#define TEXT "text/plain; charset=utf-8"
#define JSON "application/json"

/* Issue 9 §7: status, Content-Type and body as Toxiproxy 2.x's api.go and
 * gorilla/mux write them. */
Test(api, toxiproxy_status_and_bodies)
{
    json_t *j;

    ASSERT_RAW("GET", "/nope", NULL, 404, TEXT, "404 page not found\n");
    ASSERT_RAW("GET", "/proxies/", NULL, 404, TEXT, "404 page not found\n");
    ASSERT_RAW("GET", "/", NULL, 404, TEXT, "404 page not found\n");
    ASSERT_RAW("DELETE", "/proxies", NULL, 405, NULL, "");
    ASSERT_RAW("GET", "/reset", NULL, 405, NULL, "");
    ASSERT_RAW("GET", "/proxies/p", NULL, 404, TEXT,
               "{\"error\":\"proxy not found\",\"status\":404}\n");
    ASSERT_RAW("PUT", "/proxies/p", "{}", 405, NULL, "");
    ASSERT_RAW("PUT", "/proxies/p/toxics/nope", "{}", 405, NULL, "");
    ASSERT_RAW("POST", "/proxies",
               "{\"name\":\"p\",\"upstream\":\"127.0.0.1:1\","
               "\"listen\":\"127.0.0.1:9\"}",
               201, JSON,
               "{\"name\":\"p\",\"listen\":\"127.0.0.1:9\",\"upstream\":\"127.0.0.1:1\","
               "\"enabled\":true,\"toxics\":[]}");
    ASSERT_RAW("GET", "/proxies/p/", NULL, 404, TEXT, "404 page not found\n");
    ASSERT_RAW("GET", "/proxies/p/toxics/", NULL, 404, TEXT, "404 page not found\n");
    ASSERT_RAW("POST", "/proxies", "{\"name\":\"p\",\"upstream\":\"x:1\"}", 409, TEXT,
               "{\"error\":\"proxy already exists\",\"status\":409}\n");
    cr_assert_eq(
        call("POST", "/proxies", "{\"name\":\"n\",\"upstream\":\"x:1\",\"enabled\":null}", NULL),
        201);
    cr_assert_eq(call("PATCH", "/proxies/n", "{\"enabled\":false}", NULL), 200);
    cr_assert_eq(call("PATCH", "/proxies/n", "{\"enabled\":null,\"listen\":null}", &j), 200);
    cr_assert(json_is_false(json_object_get(j, "enabled")), "null keeps enabled as it was");
    json_decref(j);
    ASSERT_RAW("POST", "/proxies", "{\"upstream\":\"x:1\"}", 400, TEXT,
               "{\"error\":\"missing required field: name\",\"status\":400}\n");
    ASSERT_RAW("GET", "/proxies/p/toxics/nope", NULL, 404, TEXT,
               "{\"error\":\"toxic not found\",\"status\":404}\n");
    ASSERT_RAW("POST", "/proxies/p/toxics", "{\"type\":\"bogus\"}", 400, TEXT,
               "{\"error\":\"invalid toxic type\",\"status\":400}\n");
    ASSERT_RAW("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"stream\":\"x\"}", 400, TEXT,
               "{\"error\":\"stream was invalid, can be either upstream or downstream\","
               "\"status\":400}\n");
    /* numbers as Go writes a float32; attributes first; upstream toxics first */
    ASSERT_RAW("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"toxicity\":0.3}", 200, JSON,
               "{\"attributes\":{\"latency\":0,\"jitter\":0},\"name\":\"latency_downstream\","
               "\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":0.3}");
    ASSERT_RAW("POST", "/proxies/p/toxics", "{\"type\":\"noop\",\"stream\":\"UPSTREAM\"}", 200,
               JSON,
               "{\"attributes\":{},\"name\":\"noop_UPSTREAM\",\"type\":\"noop\","
               "\"stream\":\"UPSTREAM\",\"toxicity\":1}");
    ASSERT_RAW("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"toxicity\":0.1}", 409, TEXT,
               "{\"error\":\"toxic already exists\",\"status\":409}\n");
    ASSERT_RAW("GET", "/proxies/p/toxics", NULL, 200, JSON,
               "[{\"attributes\":{},\"name\":\"noop_UPSTREAM\",\"type\":\"noop\","
               "\"stream\":\"UPSTREAM\",\"toxicity\":1},"
               "{\"attributes\":{\"latency\":0,\"jitter\":0},\"name\":\"latency_downstream\","
               "\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":0.3}]");
    ASSERT_RAW("PATCH", "/proxies/p/toxics/latency_downstream", "{\"toxicity\":0.123456789}", 200,
               JSON,
               "{\"attributes\":{\"latency\":0,\"jitter\":0},\"name\":\"latency_downstream\","
               "\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":0.12345679}");
    ASSERT_RAW("GET", "/version", NULL, 200, "application/json;charset=utf-8",
               "{\"version\": \"" FL_VERSION "\"}\n");
    ASSERT_RAW("DELETE", "/proxies/p/toxics/noop_UPSTREAM", NULL, 204, NULL, "");
}

/* A message cut inside a UTF-8 sequence (a long attribute name) still
 * makes an error body, never an empty one. */
Test(api, long_utf8_names_in_errors)
{
    char body[2048], key[1400] = "";
    json_t *j;

    for (int i = 0; i < 300; i++)
        strcat(key, "\xc3\xa9");
    call("POST", "/proxies", "{\"name\":\"p\",\"upstream\":\"127.0.0.1:1\"}", NULL);
    for (int off = 0; off < 2; off++) {
        snprintf(body, sizeof body, "{\"type\":\"latency\",\"attributes\":{\"%s%s\":1}}",
                 off ? "x" : "", key);
        cr_assert_eq(call("POST", "/proxies/p/toxics", body, &j), 400);
        cr_assert(json_string_value(json_object_get(j, "error")), "no error message (off %d)", off);
        json_decref(j);
    }
}

/* Issue 9 §7: POST /populate as Toxiproxy answers it. */
Test(api, populate_like_toxiproxy)
{
    json_t *j;

    ASSERT_RAW("POST", "/populate", "[]", 201, JSON, "{\"proxies\":null}");
    ASSERT_RAW("POST", "/populate", "null", 201, JSON, "{\"proxies\":null}");
    ASSERT_RAW("POST", "/populate", "{\"proxies\":[]}", 400, JSON,
               "{\"error\":\"bad request body: expected a JSON array of proxies, not an "
               "object\",\"status\":400,\"proxies\":null}");
    ASSERT_RAW("POST", "/populate", "[{\"name\":\"a\",\"upstream\":\"u:1\"},{\"name\":\"b\"}]", 400,
               JSON,
               "{\"error\":\"missing required field: upstream at proxy 2\",\"status\":400,"
               "\"proxies\":null}");
    cr_assert_eq(call("GET", "/proxies", NULL, &j), 200);
    cr_assert_eq(json_object_size(j), 0, "nothing applied when an entry is bad");
    json_decref(j);
    /* an identical proxy is kept as it is: enabled, with its toxics */
    cr_assert_eq(call("POST", "/populate",
                      "[{\"name\":\"a\",\"upstream\":\"u:1\","
                      "\"listen\":\"127.0.0.1:5\"}]",
                      NULL),
                 201);
    cr_assert_eq(call("POST", "/proxies/a/toxics", "{\"type\":\"latency\"}", NULL), 200);
    cr_assert_eq(call("POST", "/populate",
                      "[{\"name\":\"a\",\"upstream\":\"u:1\","
                      "\"listen\":\"127.0.0.1:5\",\"enabled\":false}]",
                      &j),
                 201);
    cr_assert(
        json_is_true(json_object_get(json_array_get(json_object_get(j, "proxies"), 0), "enabled")));
    json_decref(j);
    cr_assert_eq(call("GET", "/proxies/a/toxics", NULL, &j), 200);
    cr_assert_eq(json_array_size(j), 1);
    json_decref(j);
    /* another upstream replaces it (toxics go) */
    cr_assert_eq(call("POST", "/populate",
                      "[{\"name\":\"a\",\"upstream\":\"u:2\","
                      "\"listen\":\"127.0.0.1:5\",\"enabled\":false}]",
                      &j),
                 201);
    json_decref(j);
    cr_assert_eq(call("GET", "/proxies/a", NULL, &j), 200);
    cr_assert_eq(json_array_size(json_object_get(j, "toxics")), 0);
    cr_assert(json_is_false(json_object_get(j, "enabled")));
    json_decref(j);
}

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
    cr_assert_eq(call("POST", "/populate", "{\"proxies\":[]}", NULL), 400);
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
