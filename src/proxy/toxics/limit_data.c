/* limit_data: let `bytes` bytes through the direction, then close the link.
 * What went through is counted per link across updates of the toxic, as in
 * Toxiproxy (its one stateful toxic). */
#include "proxy/toxic.h"

struct limit_state {
    int64_t passed;
};

static void limit_data_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    struct limit_state *st = ti->state;
    int64_t left = ti->toxic->attr[0] - st->passed;
    size_t i;

    if (left < 0)
        left = 0;
    for (i = 0; i < s->n && left > 0; i++) {
        if (s->v[i].len > left)
            s->v[i].len = (uint32_t)left;
        left -= s->v[i].len;
        st->passed += s->v[i].len;
    }
    s->n = i;
    if (st->passed >= ti->toxic->attr[0])
        s->close = true;
}

const struct fl_px_toxic_ops fl_px_toxic_limit_data = {
    .type = "limit_data",
    .attrs = {{"bytes", 0, 0}, {NULL, 0, 0}},
    .touches_data = true,
    .keep_state = true, /* an update changes the limit, not what already went through */
    .state_size = sizeof(struct limit_state),
    .data = limit_data_data,
};
