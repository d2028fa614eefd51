/* reset_peer: as in Toxiproxy, the first data in the toxic's direction
 * starts a timer of `timeout` ms (0: at once) and is dropped, as is all
 * that follows; when the timer fires both sides of the link get a TCP RST
 * (SO_LINGER 0), so the peers see "connection reset by peer". A link on
 * which nothing is sent in that direction is never reset. */
#include "proxy/toxic.h"

struct reset_state {
    bool armed;
};

static void reset_peer_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    struct reset_state *st = ti->state;

    if (s->n && !st->armed) {
        st->armed = true;
        fl_px_tinst_arm(ti, ti->toxic->attr[0] * FL_PX_MS);
    }
    s->n = 0;
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
    .timer = reset_peer_timer,
};
