/* Downsampling of probe series into min/max/mean buckets (series.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/series.h"

int fl_series_init(struct fl_series *s, int64_t t0, int64_t t1, size_t width)
{
    memset(s, 0, sizeof *s);
    if (t0 > t1 || (t0 < 0 && t1 > INT64_MAX + t0) || t1 - t0 >= FL_SERIES_MAX_SPAN ||
        width > FL_SERIES_MAX_WIDTH)
        return -EINVAL;
    s->t0 = t0;
    s->t1 = t1;
    s->width = width;
    if (!width)
        return 0;
    /* ceil((t1 - t0 + 1) / width): the last bucket ends at or after t1 */
    s->step = (t1 - t0) / (int64_t)width + 1;
    if (!(s->b = calloc(width, sizeof *s->b)))
        return -ENOMEM;
    return 0;
}

static void put(struct fl_series_bucket *b, int64_t dt, double lat, bool ok)
{
    b->n++;
    b->fail += !ok;
    b->t_sum += (double)dt;
    if (!isfinite(lat))
        return;
    if (!b->lat_n || lat < b->min)
        b->min = lat;
    if (!b->lat_n || lat > b->max)
        b->max = lat;
    b->lat_sum += lat; /* long double: no finite doubles overflow it */
    b->lat_n++;
}

int fl_series_add(struct fl_series *s, int64_t t_ms, double latency_ms, bool ok)
{
    struct fl_series_bucket *b;
    size_t i;

    if (t_ms < s->t0 || t_ms > s->t1)
        return 0;
    if (s->width) {
        i = (size_t)((t_ms - s->t0) / s->step);
        put(&s->b[i < s->width ? i : s->width - 1], t_ms - s->t0, latency_ms, ok);
        s->total++;
        return 0;
    }
    if (s->len == FL_SERIES_MAX_RAW)
        return -E2BIG;
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        if (!(b = realloc(s->b, cap * sizeof *b)))
            return -ENOMEM;
        s->b = b;
        s->cap = cap;
    }
    b = &s->b[s->len++];
    memset(b, 0, sizeof *b);
    put(b, t_ms - s->t0, latency_ms, ok);
    s->total++;
    return 0;
}

/* Round to the microsecond: a chart needs no more, and the JSON stays short. */
static json_t *num(double v)
{
    double r = round(v * 1000.0) / 1000.0;

    if (!isfinite(v))
        return json_null(); /* JSON has no infinity */
    return json_real(isfinite(r) ? r : v);
}

/* The mean time of a bucket's samples, within [t0, t1] despite rounding. */
static int64_t mean_t(const struct fl_series *s, const struct fl_series_bucket *b)
{
    double m = b->t_sum / (double)b->n;

    if (!(m > 0))
        return s->t0;
    if (m >= (double)(s->t1 - s->t0))
        return s->t1;
    return s->t0 + (int64_t)llround(m);
}

json_t *fl_series_json(const struct fl_series *s)
{
    json_t *t = json_array(), *n = json_array(), *fail = json_array(), *mn = json_array(),
           *mx = json_array(), *mean = json_array();
    size_t count = s->width ? s->width : s->len;

    for (size_t i = 0; i < count && t && n && fail && mn && mx && mean; i++) {
        const struct fl_series_bucket *b = &s->b[i];
        if (!b->n)
            continue;
        json_array_append_new(t, json_integer(mean_t(s, b)));
        json_array_append_new(n, json_integer(b->n));
        json_array_append_new(fail, json_integer(b->fail));
        json_array_append_new(mn, b->lat_n ? num(b->min) : json_null());
        json_array_append_new(mx, b->lat_n ? num(b->max) : json_null());
        json_array_append_new(mean, b->lat_n ? num((double)(b->lat_sum / (long double)b->lat_n))
                                             : json_null());
    }
    return json_pack("{s:o*,s:o*,s:o*,s:o*,s:o*,s:o*}", "t", t, "n", n, "fail", fail, "min", mn,
                     "max", mx, "mean", mean);
}

void fl_series_fini(struct fl_series *s)
{
    free(s->b);
    memset(s, 0, sizeof *s);
}
