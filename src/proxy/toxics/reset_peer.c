/* reset_peer: as in Toxiproxy, the first data in the toxic's direction -
 * or its end (FIN) - starts a timer of `timeout` ms (0: at once) and is
 * dropped, as is all that follows (a FIN is held); when the timer fires both
 * sides of the link get a TCP RST (SO_LINGER 0), so the peers see
 * "connection reset by peer". A link on which nothing happens in that
 * direction is never reset. */
#include <stdint.h>

#include "proxy/toxic.h"

struct reset_state {
    bool armed;
};

static void reset_peer_arm(struct fl_px_tinst *ti)
{
    struct reset_state *st = ti->state;

    if (!st->armed) {
        st->armed = true;
        fl_px_tinst_arm(ti, ti->toxic->attr[0] * FL_PX_MS);
    }
}

static void reset_peer_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    if (s->n)
        reset_peer_arm(ti);
    s->n = 0;
}

/* The end of the stream counts as the first data: hold it until the reset. */
static int64_t reset_peer_eof_delay(struct fl_px_tinst *ti)
{
    reset_peer_arm(ti);
    return INT64_MAX;
}

static void reset_peer_timer(struct fl_px_tinst *ti)
{
    fl_px_link_abort(ti->link, true);
}

const struct fl_px_toxic_ops fl_px_toxic_reset_peer = {
    .type = "reset_peer",
    .attrs = {{"timeout", 0, FL_PX_ATTR_BOUND}, {NULL, 0, 0}},
    .touches_data = true,
    .state_size = sizeof(struct reset_state),
    .data = reset_peer_data,
    .eof_delay = reset_peer_eof_delay,
    .timer = reset_peer_timer,
};
