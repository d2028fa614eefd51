/* Probe series downsampling (src/server/series.c) and its endpoint
 * GET /api/v1/runs/ID/series on a temporary store with real stored samples:
 * buckets keep every spike (min/max) and every failure, the totals add up,
 * width 0 keeps every sample, bad ranges are refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/series.h"
#include "server/server.h"
#include "store/server_store.h"
#include "store/store.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static json_t *col(json_t *sr, const char *name)
{
    json_t *a = json_object_get(sr, name);
    cr_assert(json_is_array(a), "no column %s", name);
    return a;
}

Test(series, buckets_keep_spikes_and_failures)
{
    struct fl_series s;
    json_t *j;
    int64_t n = 0, fail = 0;
    size_t i;
    json_t *v;

    cr_assert_eq(fl_series_init(&s, 0, 9999, 10), 0);
    for (int t = 0; t < 10000; t += 10)
        cr_assert_eq(fl_series_add(&s, t, t == 4500 ? 900.0 : 5.0, t != 7770), 0);
    cr_assert_eq(fl_series_add(&s, 10000, 1.0, true), 0); /* outside: ignored */
    cr_assert_eq(fl_series_add(&s, -1, 1.0, true), 0);
    cr_assert_eq(s.total, 1000);
    j = fl_series_json(&s);
    cr_assert_eq(json_array_size(col(j, "t")), 10);
    json_array_foreach (col(j, "n"), i, v)
        n += json_integer_value(v);
    json_array_foreach (col(j, "fail"), i, v)
        fail += json_integer_value(v);
    cr_assert_eq(n, 1000);
    cr_assert_eq(fail, 1);
    cr_assert_eq(json_integer_value(json_array_get(col(j, "fail"), 7)), 1);
    cr_assert_float_eq(json_real_value(json_array_get(col(j, "max"), 4)), 900.0, 1e-9);
    cr_assert_float_eq(json_real_value(json_array_get(col(j, "min"), 4)), 5.0, 1e-9);
    cr_assert_float_eq(json_real_value(json_array_get(col(j, "max"), 3)), 5.0, 1e-9);
    /* the bucket's time is the mean time of its samples: 0..990 -> 495 */
    cr_assert_eq(json_integer_value(json_array_get(col(j, "t"), 0)), 495);
    json_decref(j);
    fl_series_fini(&s);
}

Test(series, width_zero_keeps_every_sample_in_order)
{
    struct fl_series s;
    json_t *j;

    cr_assert_eq(fl_series_init(&s, 100, 5000, 0), 0);
    for (int t = 100; t <= 5000; t += 7)
        cr_assert_eq(fl_series_add(&s, t, (double)t / 10, true), 0);
    j = fl_series_json(&s);
    cr_assert_eq((int64_t)json_array_size(col(j, "t")), s.total);
    cr_assert_eq(json_integer_value(json_array_get(col(j, "t"), 1)), 107);
    cr_assert_float_eq(json_real_value(json_array_get(col(j, "mean"), 1)), 10.7, 1e-9);
    json_decref(j);
    fl_series_fini(&s);
}

Test(series, width_zero_refuses_more_than_its_limit)
{
    struct fl_series s;

    cr_assert_eq(fl_series_init(&s, 0, INT64_C(1) << 40, 0), 0);
    for (int i = 0; i < FL_SERIES_MAX_RAW; i++)
        cr_assert_eq(fl_series_add(&s, i, 1.0, true), 0);
    cr_assert_eq(fl_series_add(&s, FL_SERIES_MAX_RAW, 1.0, true), -E2BIG);
    cr_assert_eq(s.total, FL_SERIES_MAX_RAW);
    fl_series_fini(&s);
}

Test(series, empty_buckets_and_non_finite_latencies)
{
    struct fl_series s;
    json_t *j;

    cr_assert_eq(fl_series_init(&s, 0, 999, 100), 0);
    cr_assert_eq(fl_series_add(&s, 500, NAN, false), 0);
    cr_assert_eq(fl_series_add(&s, 999, INFINITY, true), 0);
    j = fl_series_json(&s);
    cr_assert_eq(json_array_size(col(j, "t")), 2); /* empty buckets are left out */
    cr_assert(json_is_null(json_array_get(col(j, "mean"), 0)));
    cr_assert_eq(json_integer_value(json_array_get(col(j, "fail"), 0)), 1);
    {
        char *text = json_dumps(j, 0);
        cr_assert(text, "the columns are valid JSON");
        free(text);
    }
    json_decref(j);
    fl_series_fini(&s);
}

Test(series, refuses_bad_ranges)
{
    struct fl_series s;

    cr_assert_lt(fl_series_init(&s, 10, 5, 10), 0);
    cr_assert_lt(fl_series_init(&s, INT64_MIN, INT64_MAX, 10), 0);
    cr_assert_lt(fl_series_init(&s, 0, 10, FL_SERIES_MAX_WIDTH + 1), 0);
    cr_assert_eq(fl_series_init(&s, INT64_MAX - 5, INT64_MAX, 3), 0);
    cr_assert_eq(fl_series_add(&s, INT64_MAX, 1.0, true), 0);
    cr_assert_eq(s.total, 1);
    fl_series_fini(&s);
    cr_assert_eq(fl_series_init(&s, 7, 7, 1000), 0); /* one instant, many buckets */
    cr_assert_eq(fl_series_add(&s, 7, 1.0, true), 0);
    cr_assert_eq(s.b[0].n, 1);
    fl_series_fini(&s);
}

/* The endpoint, on a store with a run of 20,000 samples stored the way the
 * engine stores them, linked to a server run. */
static char dir[] = "/tmp/test_server_series.XXXXXX";

Test(series, endpoint_downsamples_a_stored_run)
{
    struct fl_server_opts o = {0};
    struct fl_err e = {0};
    struct fl_store *st;
    struct fl_sample *sm = calloc(20000, sizeof *sm);
    struct fl_server *srv;
    char db[96], *text = NULL;
    int64_t hr = 0;
    int lock_fd = -1, status = 0;
    json_t *r, *p;

    cr_assert(sm && mkdtemp(dir));
    snprintf(db, sizeof db, "%s/h.db", dir);
    cr_assert_eq(fl_store_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_store_run_begin(st, "t", "f.yaml", "title: t", "h1", 1000, 1, &hr, &e), 0);
    cr_assert_eq(fl_store_probe_define(st, hr, 0, "web", "http", "steady_state",
                                       "success ratio >= 99%, p99 latency <= 50ms"),
                 0);
    for (int i = 0; i < 20000; i++)
        sm[i] = (struct fl_sample){
            .t_ms = i, .ok = i != 12345, .latency_ms = i == 777 ? 400.0 : 2.0, .value = 1};
    fl_store_begin(st);
    cr_assert_eq(fl_store_samples(st, hr, 0, sm, 20000), 0);
    fl_store_commit(st);
    fl_store_close(st);
    free(sm);
    o.db = db;
    srv = fl_server_new(&o, &lock_fd, &e);
    cr_assert(srv, "%s", e.msg);
    cr_assert_geq(fl_sstore_exec(srv->ss, NULL, &e,
                                 "INSERT INTO srv_runs (experiment, trigger, state, verdict, "
                                 "history_run, created_ms) VALUES ('x', 'api', 'done', 'passed', "
                                 "?, 1)",
                                 "I", hr),
                  0, "%s", e.msg);
    fl_http_handle(srv, "GET", "/api/v1/runs/1/series", NULL, 0, &text, &status);
    cr_assert_eq(status, 200, "%s", text);
    r = json_loads(text, 0, NULL);
    free(text);
    cr_assert_eq(json_integer_value(json_object_get(r, "from")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r, "to")), 19999);
    p = json_array_get(json_object_get(r, "probes"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "name")), "web");
    cr_assert_eq(json_integer_value(json_object_get(p, "samples")), 20000);
    p = json_object_get(p, "series");
    cr_assert_eq(json_array_size(col(p, "t")), 1000); /* the default width */
    /* the spike and the failure survive downsampling, in the right bucket */
    cr_assert_float_eq(json_real_value(json_array_get(col(p, "max"), 777 / 20)), 400.0, 1e-9);
    cr_assert_eq(json_integer_value(json_array_get(col(p, "fail"), 12345 / 20)), 1);
    json_decref(r);
    fl_http_handle(srv, "GET", "/api/v1/runs/2/series", NULL, 0, &text, &status);
    cr_assert_eq(status, 404);
    free(text);
    fl_http_handle(srv, "GET", "/api/v1/runs/x/series", NULL, 0, &text, &status);
    cr_assert_eq(status, 400);
    free(text);
    fl_server_free(srv, lock_fd);
    cr_assert_eq(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}
