/* Probe series downsampled for a chart (docs/api.md, "Series"): the samples
 * of [t0, t1] fall into `width` equal buckets, each keeping the count, the
 * failures, the mean time and the min/max/mean latency of its samples, so a
 * chart of N pixels draws every spike and every failure of a run of any
 * length from at most N points. Width 0 keeps every sample (a bucket each).
 * Pure: no I/O, so it is unit-tested and fuzzed on its own. */
#ifndef FL_SERVER_SERIES_H
#define FL_SERVER_SERIES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_SERIES_MAX_WIDTH 10000
/* Width 0 keeps at most this many samples (about 64 bytes each here and
 * some 60 in the JSON); more is refused rather than allocated. */
#define FL_SERIES_MAX_RAW (1 << 20)
/* t1 - t0 beyond this (about 146 years in ms) is refused: no overflow. */
#define FL_SERIES_MAX_SPAN (INT64_C(1) << 62)

struct fl_series_bucket {
    int64_t n, fail, lat_n; /* samples, failed ones, ones with a finite latency */
    double t_sum;           /* of (t - t0), for the bucket's mean time */
    double min, max;        /* latency_ms over the lat_n samples */
    long double lat_sum;
};

struct fl_series {
    int64_t t0, t1, step; /* each bucket covers step ms */
    size_t width;         /* buckets; 0: every sample kept */
    struct fl_series_bucket *b;
    size_t len, cap; /* width 0: the samples as buckets of one */
    int64_t total;   /* samples within [t0, t1] */
};

/* Prepare s for samples in [t0, t1] into width buckets (0 = keep all).
 * -EINVAL for t0 > t1, a span beyond FL_SERIES_MAX_SPAN or width beyond
 * FL_SERIES_MAX_WIDTH; -ENOMEM. */
int fl_series_init(struct fl_series *s, int64_t t0, int64_t t1, size_t width);
/* Add one sample; samples outside [t0, t1] are ignored; non-finite latencies
 * count as samples without a latency. Samples may come in any order, except
 * with width 0 where the output keeps the order given. With width 0:
 * -ENOMEM, or -E2BIG past FL_SERIES_MAX_RAW samples. */
int fl_series_add(struct fl_series *s, int64_t t_ms, double latency_ms, bool ok);
/* The non-empty buckets as columns:
 * {"t": [ms], "n": [...], "fail": [...], "min": [...], "max": [...], "mean": [...]}
 * (min/max/mean null in a bucket without latencies). NULL on out of memory. */
json_t *fl_series_json(const struct fl_series *s);
void fl_series_fini(struct fl_series *s);

#endif
