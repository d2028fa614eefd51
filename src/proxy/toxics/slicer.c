/* slicer: cut data into pieces of `average_size` ± `size_variation` bytes,
 * `delay` microseconds apart (average_size 0 leaves data whole). */
#include <stdlib.h>

#include "proxy/toxic.h"

static void slicer_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    int64_t avg = ti->toxic->attr[0], var = ti->toxic->attr[1];
    int64_t delay = ti->toxic->attr[2] * 1000;
    struct fl_px_segs out = {0};
    int64_t last = 0;

    if (avg <= 0)
        return;
    if (var > avg - 1)
        var = avg - 1;
    out.now = s->now;
    out.close = s->close;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t left = s->v[i].len;
        while (left) {
            int64_t size = avg + fl_px_rand_span(var);
            uint32_t len = size < 1 ? 1 : size > left ? left : (uint32_t)size;
            int64_t at = out.n ? fl_px_sat_add(last, delay) : s->v[i].at;
            if (at < s->v[i].at)
                at = s->v[i].at;
            if (fl_px_segs_push(&out, len, at) < 0)
                goto done;
            last = at;
            left -= len;
        }
    }
done:
    fl_px_segs_swap(s, &out);
    free(out.v);
}

const struct fl_px_toxic_ops fl_px_toxic_slicer = {
    .type = "slicer",
    .attrs = {{"average_size", 0, FL_PX_ATTR_BOUND},
              {"size_variation", 0, FL_PX_ATTR_BOUND},
              {"delay", 0, FL_PX_ATTR_BOUND},
              {NULL, 0, 0}},
    .touches_data = true,
    .data = slicer_data,
};
