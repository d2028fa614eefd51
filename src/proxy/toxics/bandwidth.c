/* bandwidth: limit a direction to `rate` KB/s (1 KB = 1000 bytes; 0 = no
 * limit). Data leaves in pieces of at most 100 ms worth; each piece waits
 * until the previous one's transmission time has passed. */
#include <stdlib.h>

#include "proxy/toxic.h"

struct bw_state {
    int64_t next; /* when the next piece may leave */
};

static void bandwidth_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    struct bw_state *st = ti->state;
    int64_t rate = ti->toxic->attr[0] * 1000; /* bytes per second */
    int64_t piece = rate / 10;
    struct fl_px_segs out = {0};

    if (rate <= 0)
        return;
    if (piece < 1)
        piece = 1;
    out.now = s->now;
    out.close = s->close;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t left = s->v[i].len;
        while (left) {
            uint32_t len = left < piece ? left : (uint32_t)piece;
            int64_t at = s->v[i].at > st->next ? s->v[i].at : st->next;
            if (fl_px_segs_push(&out, len, at) < 0)
                goto done;
            st->next = at + (int64_t)len * 1000000000LL / rate;
            left -= len;
        }
    }
done:
    fl_px_segs_swap(s, &out);
    free(out.v);
}

const struct fl_px_toxic_ops fl_px_toxic_bandwidth = {
    .type = "bandwidth",
    .attrs = {{"rate", 0, FL_PX_ATTR_BOUND}, {NULL, 0, 0}},
    .touches_data = true,
    .state_size = sizeof(struct bw_state),
    .data = bandwidth_data,
};
