/* slow_close: hold the end of the stream (FIN) for `delay` ms before passing
 * it on. Data is untouched, so the direction keeps splicing. */
#include "proxy/toxic.h"

static int64_t slow_close_eof_delay(struct fl_px_tinst *ti)
{
    return ti->toxic->attr[0] * FL_PX_MS;
}

const struct fl_px_toxic_ops fl_px_toxic_slow_close = {
    .type = "slow_close",
    .attrs = {{"delay", 0, FL_PX_ATTR_BOUND}, {NULL, 0, 0}},
    .eof_delay = slow_close_eof_delay,
};
