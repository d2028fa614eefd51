/* Fuzz the chart downsampling (src/server/series.c): any range, width and
 * samples (times, latencies including NaN and infinities, ok flags) either
 * is refused by init or gives columns of one length whose counts add up to
 * the samples in range, each time within the range and min <= mean <= max. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/series.h"

static int64_t take64(const uint8_t **d, size_t *n)
{
    int64_t v = 0;

    if (*n >= 8) {
        memcpy(&v, *d, 8);
        *d += 8;
        *n -= 8;
    }
    return v;
}

static void check(const struct fl_series *s, int64_t added)
{
    json_t *j = fl_series_json(s), *t = json_object_get(j, "t");
    size_t len = json_array_size(t), i;
    int64_t n = 0;

    if (!j)
        abort();
    for (i = 0; i < len; i++) {
        int64_t ti = json_integer_value(json_array_get(t, i));
        json_t *mn = json_array_get(json_object_get(j, "min"), i),
               *mx = json_array_get(json_object_get(j, "max"), i),
               *me = json_array_get(json_object_get(j, "mean"), i);
        if (ti < s->t0 || ti > s->t1 || !mn || !mx || !me)
            abort();
        if (json_is_real(mn) != json_is_real(mx) || json_is_real(mn) != json_is_real(me))
            abort(); /* a bucket has all three or none */
        if (json_is_real(me) && !(json_real_value(mn) - 1e-3 <= json_real_value(me) &&
                                  json_real_value(me) <= json_real_value(mx) + 1e-3))
            abort();
        n += json_integer_value(json_array_get(json_object_get(j, "n"), i));
    }
    if (n != added || json_array_size(json_object_get(j, "fail")) != len)
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_series s;
    int64_t t0 = take64(&data, &size), t1 = take64(&data, &size), added = 0;
    size_t width = size ? (size_t)data[0] * 40 : 0;

    if (size) {
        data++;
        size--;
    }
    if (fl_series_init(&s, t0, t1, width))
        return 0;
    while (size >= 17) {
        int64_t t = take64(&data, &size);
        double lat;
        bool ok = data[8] & 1;
        memcpy(&lat, data, 8);
        data += 9;
        size -= 9;
        if (t % 3 == 0 && t1 > t0)
            t = t0 + (int64_t)((uint64_t)t % (uint64_t)(t1 - t0)); /* mostly in range */
        if (t >= t0 && t <= t1)
            added++;
        if (fl_series_add(&s, t, lat, ok))
            abort();
    }
    check(&s, added);
    fl_series_fini(&s);
    return 0;
}
