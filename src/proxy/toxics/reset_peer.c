/* reset_peer: after `timeout` ms (0: at once) reset both sides of the link
 * with a TCP RST (SO_LINGER 0), so the peers see "connection reset by peer". */
#include "proxy/toxic.h"

static void reset_peer_start(struct fl_px_tinst *ti)
{
    fl_px_tinst_arm(ti, ti->toxic->attr[0] * FL_PX_MS);
}

static void reset_peer_timer(struct fl_px_tinst *ti)
{
    fl_px_link_abort(ti->link, true);
}

const struct fl_px_toxic_ops fl_px_toxic_reset_peer = {
    .type = "reset_peer",
    .attrs = {{"timeout", 0}, {NULL, 0}},
    .start = reset_peer_start,
    .timer = reset_peer_timer,
};
