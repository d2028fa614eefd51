/* timeout: stop all data in the direction (it is read and dropped, as in
 * Toxiproxy), and close the link after `timeout` ms; 0 holds it forever, until
 * the toxic is removed. */
#include "proxy/toxic.h"

static void timeout_start(struct fl_px_tinst *ti)
{
    if (ti->toxic->attr[0] > 0)
        fl_px_tinst_arm(ti, ti->toxic->attr[0] * FL_PX_MS);
}

static void timeout_data(struct fl_px_tinst *ti, struct fl_px_segs *s)
{
    s->n = 0;
}

static void timeout_timer(struct fl_px_tinst *ti)
{
    fl_px_link_abort(ti->link, false);
}

const struct fl_px_toxic_ops fl_px_toxic_timeout = {
    .type = "timeout",
    .attrs = {{"timeout", 0, FL_PX_ATTR_BOUND}, {NULL, 0, 0}},
    .touches_data = true,
    .start = timeout_start,
    .data = timeout_data,
    .timer = timeout_timer,
};
