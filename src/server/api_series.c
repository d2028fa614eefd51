/* GET /api/v1/runs/ID/series: the run's probe samples downsampled for a
 * chart (series.h), so the console draws a run of a million samples from a
 * few thousand numbers. ?width=N buckets (default 1000, 0 = every sample),
 * ?probe=P one probe, ?from=MS&to=MS a window of the run (ms from its start;
 * default: its first to last sample over all probes, so every chart of a
 * run shares one time axis). docs/api.md ("Series"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/series.h"
#include "server/server.h"
#include "store/server_store.h"
#include "util/parse.h"

#define DEFAULT_WIDTH 1000

struct series_query {
    long long width, probe, from, to; /* probe, from, to: -1 when not given */
};

/* ?name= as an integer within [min, max]; -1 with a 400 in rs when malformed. */
static int qint(struct fl_req *rq, struct fl_resp *rs, const char *name, long long min,
                long long max, long long *out)
{
    const char *v = fl_http_query(rq, name);
    struct fl_err e = {0};

    if (v && fl_parse_int(v, min, max, out, &e)) {
        fl_http_error(rs, 400, "invalid_query", "?%s=%.50s: %s", name, v, e.msg);
        return -1;
    }
    return 0;
}

static int parse_query(struct fl_req *rq, struct fl_resp *rs, struct series_query *q)
{
    q->width = DEFAULT_WIDTH;
    q->probe = q->from = q->to = -1;
    if (qint(rq, rs, "width", 0, FL_SERIES_MAX_WIDTH, &q->width) ||
        qint(rq, rs, "probe", 0, 1LL << 31, &q->probe) ||
        qint(rq, rs, "from", 0, FL_SERIES_MAX_SPAN - 1, &q->from) ||
        qint(rq, rs, "to", 0, FL_SERIES_MAX_SPAN - 1, &q->to))
        return -1;
    if (q->from >= 0 && q->to >= 0 && q->from > q->to) {
        fl_http_error(rs, 400, "invalid_query", "?from=%lld is after ?to=%lld", q->from, q->to);
        return -1;
    }
    return 0;
}

struct adding {
    struct fl_series *s;
    int err; /* of fl_series_add, which stops the reading */
};

static int add_sample(void *ctx, int64_t t_ms, int ok, double latency_ms)
{
    struct adding *a = ctx;

    a->err = fl_series_add(a->s, t_ms, latency_ms, ok != 0);
    return a->err;
}

/* The first and last sample time of the run over its probes (each an index
 * lookup), into *from and *to unless the query gave them. */
static int time_range(struct fl_server *s, int64_t hr, const struct series_query *q, int64_t *from,
                      int64_t *to, struct fl_err *e)
{
    json_t *r = fl_sstore_row(s->ss, e,
                              "SELECT MIN(lo) AS lo, MAX(hi) AS hi FROM (SELECT (SELECT MIN(t_ms) "
                              "FROM samples WHERE run_id = p.run_id AND probe_id = p.probe_id) AS "
                              "lo, (SELECT MAX(t_ms) FROM samples WHERE run_id = p.run_id AND "
                              "probe_id = p.probe_id) AS hi FROM probes p WHERE p.run_id = ?)",
                              "I", hr);

    if (!r)
        return e->code ? -FL_ESTATE : 0;
    *from = q->from >= 0 ? q->from : json_integer_value(json_object_get(r, "lo"));
    *to = q->to >= 0 ? q->to : json_integer_value(json_object_get(r, "hi"));
    if (*to < *from)
        *to = *from;
    json_decref(r);
    return 0;
}

/* Each probe of the history run with its series; NULL with a response in rs. */
static json_t *probes_series(struct fl_server *s, struct fl_resp *rs, int64_t hr,
                             const struct series_query *q, int64_t from, int64_t to)
{
    struct fl_err e = {0};
    json_t *probes = fl_sstore_rows(s->ss, &e,
                                    "SELECT probe_id AS id, name, kind, role, tolerance, samples "
                                    "AS judged_samples, failures, availability, time_to_detect_ms, "
                                    "time_to_recover_ms FROM probes WHERE run_id = ? AND (? < 0 OR "
                                    "probe_id = ?) ORDER BY probe_id",
                                    "III", hr, (int64_t)q->probe, (int64_t)q->probe),
           *p;
    size_t i;

    if (!probes) {
        fl_http_error(rs, 500, "store", "%s", e.msg);
        return NULL;
    }
    json_array_foreach (probes, i, p) {
        struct fl_series sr;
        struct adding a = {.s = &sr};
        int64_t id = json_integer_value(json_object_get(p, "id"));
        int r = fl_series_init(&sr, from, to, (size_t)q->width);

        if (!r)
            r = fl_sstore_samples_each(s->ss, hr, id, from, to, add_sample, &a, &e);
        if (!r)
            r = a.err;
        if (r) {
            fl_series_fini(&sr);
            json_decref(probes);
            if (r == -E2BIG)
                fl_http_error(rs, 413, "too_many_samples",
                              "probe %lld has more than %d samples from %lld to %lld ms: width=0 "
                              "sends at most that many; give a width or a narrower from/to",
                              (long long)id, FL_SERIES_MAX_RAW, (long long)from, (long long)to);
            else
                fl_http_error(rs, 500, "series", "probe %lld: %s", (long long)id,
                              e.msg[0] ? e.msg : "out of memory");
            return NULL;
        }
        json_object_set_new(p, "samples", json_integer(sr.total));
        json_object_set_new(p, "series", fl_series_json(&sr));
        fl_series_fini(&sr);
    }
    return probes;
}

int fl_api_runs_series(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct series_query q;
    struct fl_err e = {0};
    long long id;
    int64_t hr, from = 0, to = 0;
    json_t *run, *probes, *body;

    if (fl_parse_int(rq->arg[0], 1, 1LL << 53, &id, &e))
        return fl_http_error(rs, 400, "invalid_id", "run id '%s': %s", rq->arg[0], e.msg);
    if (parse_query(rq, rs, &q))
        return 0;
    if (!(run = fl_runner_get(s, id, false, false)))
        return fl_http_error(rs, 404, "not_found", "no run %lld; GET /api/v1/runs lists them", id);
    hr = json_integer_value(json_object_get(run, "history_run"));
    if (hr && time_range(s, hr, &q, &from, &to, &e)) {
        json_decref(run);
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    }
    probes = hr ? probes_series(s, rs, hr, &q, from, to) : json_array();
    if (!probes) {
        json_decref(run);
        return 0;
    }
    body = json_pack("{s:I,s:I,s:O,s:O,s:I,s:I,s:I,s:o}", "run", (json_int_t)id, "history_run",
                     (json_int_t)hr, "state", json_object_get(run, "state"), "verdict",
                     json_object_get(run, "verdict"), "width", (json_int_t)q.width, "from",
                     (json_int_t)from, "to", (json_int_t)to, "probes", probes);
    json_decref(run);
    if (!body)
        return fl_http_error(rs, 500, "memory", "out of memory");
    return fl_http_ok(rs, 200, body);
}
