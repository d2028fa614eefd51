/* latency: delay every chunk by `latency` ms plus a uniform ±`jitter` ms
 * (negative values, as Toxiproxy takes them: a negative total is no delay, a
 * negative jitter none). Attributes are bounded (FL_PX_ATTR_BOUND), so the
 * products fit; the sum over a chain of toxics saturates. */
#include "proxy/toxic.h"

static void latency_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    int64_t d = ti->toxic->attr[0] * FL_PX_MS + fl_px_rand_span(ti->toxic->attr[1] * FL_PX_MS);

    if (d < 0)
        d = 0;
    for (size_t i = 0; i < s->n; i++)
        s->v[i].at = fl_px_sat_add(s->v[i].at, d);
}

const struct fl_px_toxic_ops fl_px_toxic_latency = {
    .type = "latency",
    .attrs = {{"latency", 0, FL_PX_ATTR_BOUND}, {"jitter", 0, FL_PX_ATTR_BOUND}, {NULL, 0, 0}},
    .touches_data = true,
    .data = latency_data,
};
